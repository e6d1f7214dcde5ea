//! A [`tracing_subscriber::Layer`] that makes every entered span an attribution scope.
//!
//! ```
//! use rtscope::tracing::RtscopeLayer;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let subscriber = tracing_subscriber::registry().with(RtscopeLayer::new());
//! tracing::subscriber::with_default(subscriber, || {
//!     let span = tracing::info_span!("checkout");
//!     span.in_scope(|| {
//!         assert_eq!(rtscope::scope::Scope::current().unwrap().name(), "checkout");
//!     });
//!     assert!(rtscope::scope::Scope::current().is_none());
//! });
//! ```
//!
//! # What it does
//!
//! - **Attribution.** While a span is entered on a thread, the current scope of that thread is
//!   the span's: its name, or the value of a field you choose
//!   ([`with_scope_field`](RtscopeLayer::with_scope_field)). On exit the previous scope comes
//!   back. Because tracing enters a span around every poll of a future
//!   [`.instrument(span)`](https://docs.rs/tracing/latest/tracing/trait.Instrument.html)ed
//!   with it, sampled allocations follow the span across `.await` points and worker threads
//!   of a multi-threaded tokio runtime, not the thread.
//! - **Per-span allocation estimate.** Sampled allocations made while a span is entered (on
//!   any thread) add their estimated bytes to the span's total. When the span closes, the
//!   total is recorded into its field [`ALLOC_BYTES_FIELD`] (`alloc.bytes`) if the span
//!   declares it, so layers that report span fields at close (an OpenTelemetry layer, `fmt`
//!   with span close events) show it:
//!
//!   ```
//!   let span = tracing::info_span!("handle", alloc.bytes = tracing::field::Empty);
//!   # drop(span);
//!   ```
//!
//!   Put `RtscopeLayer` before such layers (closer to the registry: `registry().with(
//!   RtscopeLayer::new()).with(other)`), so its value is recorded before they see the close.
//!   Other layers can also read [`SpanAllocation`] from the span's extensions at any time, and
//!   code inside a span can read [`current_span_bytes`].
//! - **Trace ids** (feature `opentelemetry`). Samples taken while a span is entered carry the
//!   ids of the innermost OpenTelemetry span current (tracing-opentelemetry 0.34 makes an
//!   entered span's context current, so its own ids, in either layer order), else those the
//!   layer took when the span was entered: with feature `tracing-opentelemetry` the ids
//!   tracing-opentelemetry gives the span itself, without it the context current then (the
//!   span's own only when tracing-opentelemetry's layer comes first). See
//!   [`crate::scope`](mod@crate::scope#trace-ids-feature-opentelemetry). When samples are
//!   taken in spans for a minute and none carries a trace, the agent says once on stderr that
//!   tracing-opentelemetry's layer is missing or the OpenTelemetry versions differ.
//!
//! The estimate comes from allocation sampling (the global allocator must be
//! [`rtscope::Alloc`](crate::Alloc) and the agent installed); without it the totals stay 0.
//!
//! # With a filter: give it to the other layers, not to the registry
//!
//! A filter added as a layer of its own (`registry().with(EnvFilter::from_default_env())`,
//! or a `LevelFilter`) is global: a span it disables is never created, for any layer, so
//! under `RUST_LOG=warn` no INFO span reaches `RtscopeLayer` and attribution silently
//! stops. Put the filter on the layers that print instead (a per-layer filter), and give
//! `RtscopeLayer` a filter of its own only if you want it to see fewer spans:
//!
//! ```
//! use rtscope::tracing::RtscopeLayer;
//! use tracing_subscriber::filter::LevelFilter;
//! use tracing_subscriber::layer::{Layer, SubscriberExt};
//! # let printing_layer = tracing_subscriber::layer::Identity::new();
//! # let filter = LevelFilter::WARN;
//!
//! // e.g. printing_layer = tracing_subscriber::fmt::layer(), filter = EnvFilter::from_default_env()
//! let subscriber = tracing_subscriber::registry()
//!     .with(RtscopeLayer::new().with_filter(LevelFilter::INFO)) // INFO spans and above
//!     .with(printing_layer.with_filter(filter)); // only what the filter lets through
//! tracing::subscriber::with_default(subscriber, || {
//!     tracing::info_span!("checkout").in_scope(|| {
//!         assert_eq!(rtscope::scope::Scope::current().unwrap().name(), "checkout");
//!     });
//! });
//! ```
//!
//! When the layer is installed but has seen no span for a minute while allocations were
//! sampled, the agent says so once on stderr, naming this setup.
//!
//! # Cost
//!
//! Per span: two small allocations when it is created (its allocation counter and its entry
//! in the span's extensions). They live and die with the span, which the application
//! controls, so they count as the application's allocations, as the span's own data in the
//! registry does (see [`crate::alloc`] for the rule). Per enter and exit: an extension
//! lookup, a reference count and two thread-local writes; the per-thread stack of entered
//! spans is the agent's own memory.

use crate::base::agent_scope;
use crate::scope::{self, Scope};
use ::tracing::Subscriber;
use ::tracing::dispatcher::{Dispatch, WeakDispatch};
use ::tracing::field::{Field, Visit};
use ::tracing::span::{Attributes, Id, Record};
use std::cell::RefCell;
use std::fmt;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// The span field the per-span allocation estimate is recorded into at close, when the span
/// declares it (e.g. `info_span!("handle", alloc.bytes = tracing::field::Empty)`).
pub const ALLOC_BYTES_FIELD: &str = "alloc.bytes";

/// Makes entered spans attribution scopes and keeps a per-span allocation estimate. See the
/// [module docs](self).
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt;
///
/// // Scope by the span's `route` field where it has one, by its name elsewhere.
/// let layer = rtscope::tracing::RtscopeLayer::new().with_scope_field("route");
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info_span!("request", route = "/cart").in_scope(|| {
///         assert_eq!(rtscope::scope::Scope::current().unwrap().name(), "/cart");
///     });
/// });
/// ```
pub struct RtscopeLayer {
    scope_field: Option<&'static str>,
    /// The subscriber this layer is part of, to record `alloc.bytes` into at close.
    dispatch: OnceLock<WeakDispatch>,
}

impl fmt::Debug for RtscopeLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RtscopeLayer")
            .field("scope_field", &self.scope_field)
            .finish_non_exhaustive()
    }
}

impl Default for RtscopeLayer {
    fn default() -> Self {
        RtscopeLayer::new()
    }
}

impl RtscopeLayer {
    /// Scopes named after the spans' names.
    pub fn new() -> RtscopeLayer {
        RtscopeLayer {
            scope_field: None,
            dispatch: OnceLock::new(),
        }
    }

    /// Names a span's scope by the value of its field `field` when it has one (recorded at
    /// creation or later), by the span's name otherwise. Values are bounded like every scope
    /// name: past [`MAX_SCOPE_NAMES`](crate::scope::MAX_SCOPE_NAMES) distinct names they
    /// share the scope `other`, so do not use a field with a value per request (an id).
    pub fn with_scope_field(mut self, field: &'static str) -> RtscopeLayer {
        self.scope_field = Some(field);
        self
    }

    /// Runs `f` with the dispatch this layer is part of: the thread's default one if this
    /// layer is in it (no shared count is touched, unlike upgrading the registered one on
    /// every span enter from every thread), else the one it was registered with (a boxed
    /// subscriber does not pass its registration on to its layers, so there may be none).
    fn with_dispatch<R>(&self, f: impl FnOnce(&Dispatch) -> R) -> Option<R> {
        let mut f = Some(f);
        let done = ::tracing::dispatcher::get_default(|d| {
            let ours = d
                .downcast_ref::<RtscopeLayer>()
                .is_some_and(|l| ptr::eq(l, self));
            f.take_if(|_| ours).map(|f| f(d))
        });
        if done.is_some() {
            return done;
        }
        let d = self.dispatch.get().and_then(WeakDispatch::upgrade)?;
        f.take().map(|f| f(&d))
    }

    /// The scope named by `field`'s value in `values`, if present.
    fn scope_from(&self, visit: impl FnOnce(&mut dyn Visit)) -> Option<Scope> {
        let field = self.scope_field?;
        let mut finder = FieldFinder { field, found: None };
        visit(&mut finder);
        finder.found
    }
}

/// Finds a field's value and interns it as a scope (as the agent's own allocation).
struct FieldFinder {
    field: &'static str,
    found: Option<Scope>,
}

impl Visit for FieldFinder {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == self.field {
            self.found = Some(Scope::new(value));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == self.field {
            self.found = Some(agent_scope(|| Scope::new(&format!("{value:?}"))));
        }
    }
}

/// What the layer keeps in each span's extensions: its scope and its allocation estimate.
/// Other layers can read it with `span.extensions().get::<SpanAllocation>()`.
#[derive(Debug)]
pub struct SpanAllocation {
    scope: Scope,
    bytes: Arc<AtomicU64>,
    /// The span's `alloc.bytes` field, if it declares one.
    field: Option<Field>,
}

impl SpanAllocation {
    /// Estimated bytes allocated while the span was entered, on every thread, so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Relaxed)
    }

    /// The scope the span's allocations are attributed to.
    pub fn scope(&self) -> Scope {
        self.scope
    }
}

/// The allocation estimate so far of the span entered on this thread (the innermost one), or
/// `None` outside spans (or without [`RtscopeLayer`]). Record it yourself where you like:
///
/// ```
/// let span = tracing::info_span!("batch", alloc.bytes = tracing::field::Empty);
/// let _in = span.enter();
/// // ... work ...
/// if let Some(bytes) = rtscope::tracing::current_span_bytes() {
///     span.record("alloc.bytes", bytes);
/// }
/// ```
pub fn current_span_bytes() -> Option<u64> {
    FRAMES
        .try_with(|f| {
            let frames = f.try_borrow().ok()?;
            let top = frames.0.last()?;
            top.bytes.as_ref().map(|b| b.load(Relaxed))
        })
        .ok()
        .flatten()
}

/// One span entered on this thread: what to restore when it exits.
struct Frame {
    span: Id,
    prev_scope: u32,
    prev_bytes: *const AtomicU64,
    prev_trace: Option<scope::Trace>,
    /// Holds the counter `SPAN_BYTES` points to while this frame is on top.
    bytes: Option<Arc<AtomicU64>>,
}

/// The spans entered on this thread, innermost last.
struct Frames(Vec<Frame>);

impl Drop for Frames {
    fn drop(&mut self) {
        // The counters go away with the frames: stop crediting them first.
        scope::replace_span_bytes(ptr::null());
        // Frames still here (a span entered when the thread exits) hold the spans' counters,
        // the application's blocks; the stack's buffer grew in the agent's account (`on_enter`)
        // and is freed in it.
        self.0.clear();
        let stack = std::mem::take(&mut self.0);
        agent_scope(|| drop(stack));
    }
}

thread_local! {
    static FRAMES: RefCell<Frames> = const { RefCell::new(Frames(Vec::new())) };
}

fn counter_ptr(bytes: &Option<Arc<AtomicU64>>) -> *const AtomicU64 {
    bytes.as_ref().map_or(ptr::null(), Arc::as_ptr)
}

impl<S> Layer<S> for RtscopeLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_layer(&mut self, _: &mut S) {
        REGISTERED.store(true, Relaxed);
    }

    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        // Written only when clear: once per collection tick at most, not per span.
        if !SAW_SPAN.load(Relaxed) {
            SAW_SPAN.store(true, Relaxed);
        }
        let Some(span) = ctx.span(id) else { return };
        let scope = self
            .scope_from(|v| attrs.record(v))
            .unwrap_or_else(|| Scope::new(attrs.metadata().name()));
        let field = attrs.metadata().fields().field(ALLOC_BYTES_FIELD);
        // The application's allocation: the span's extensions are freed when it closes.
        span.extensions_mut().insert(SpanAllocation {
            scope,
            bytes: Arc::new(AtomicU64::new(0)),
            field,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(scope) = self.scope_from(|v| values.record(v))
            && let Some(span) = ctx.span(id)
            && let Some(a) = span.extensions_mut().get_mut::<SpanAllocation>()
        {
            a.scope = scope;
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let (scope_id, bytes) = match ctx.span(id) {
            Some(span) => match span.extensions().get::<SpanAllocation>() {
                Some(a) => (a.scope.id(), Some(Arc::clone(&a.bytes))),
                None => (scope::current(), None),
            },
            None => (scope::current(), None),
        };
        // The span's own OpenTelemetry ids for the samples taken while it is entered: from
        // tracing-opentelemetry, in either order of the two layers, where that feature is
        // on; else the OpenTelemetry span current now (e.g. made current by
        // tracing-opentelemetry's layer, when it is before this one).
        #[cfg(feature = "tracing-opentelemetry")]
        let trace = self
            .with_dispatch(|d| tracing_opentelemetry::get_otel_context(id, d))
            .flatten()
            .map_or_else(scope::entered_trace, |cx| scope::trace_in(&cx));
        #[cfg(not(feature = "tracing-opentelemetry"))]
        let trace = scope::entered_trace();
        let _ = FRAMES.try_with(|f| {
            let Ok(mut frames) = f.try_borrow_mut() else {
                return;
            };
            let new_bytes = counter_ptr(&bytes);
            let frame = Frame {
                span: id.clone(),
                prev_scope: scope::replace(scope_id),
                prev_bytes: scope::replace_span_bytes(new_bytes),
                prev_trace: scope::replace_trace(trace),
                bytes,
            };
            // Growing the stack is the agent's allocation.
            agent_scope(|| frames.0.push(frame));
        });
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        let removed = FRAMES.try_with(|f| {
            let mut frames = f.try_borrow_mut().ok()?;
            let frames = &mut frames.0;
            let i = frames.iter().rposition(|fr| fr.span == *id)?;
            if i + 1 == frames.len() {
                // The innermost span: restore what it replaced.
                let fr = frames.pop()?;
                scope::replace(fr.prev_scope);
                scope::replace_span_bytes(fr.prev_bytes);
                scope::replace_trace(fr.prev_trace);
                Some(fr)
            } else {
                // Exited out of order: the span above it inherits what it replaced, so the
                // chain of restores skips it (and `SPAN_BYTES`, set by the top frame, is kept).
                let fr = frames.remove(i);
                let above = &mut frames[i];
                above.prev_scope = fr.prev_scope;
                above.prev_bytes = fr.prev_bytes;
                above.prev_trace = fr.prev_trace;
                Some(fr)
            }
        });
        // Its counter is dropped here, after `SPAN_BYTES` no longer points to it.
        drop(removed);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let recorded = ctx.span(&id).and_then(|span| {
            let ext = span.extensions();
            let a = ext.get::<SpanAllocation>()?;
            // As an i64: OpenTelemetry has no unsigned integers (tracing-opentelemetry turns a
            // u64 into a string), and no estimate comes near i64::MAX.
            let bytes = i64::try_from(a.bytes()).unwrap_or(i64::MAX);
            Some((a.field.clone()?, bytes, span.metadata()))
        });
        // The extensions are released: other layers may lock them while handling the record.
        let Some((field, bytes, metadata)) = recorded else {
            return;
        };
        let fields = metadata.fields();
        let values = [(&field, Some(&bytes as &dyn ::tracing::Value))];
        let values = fields.value_set(&values);
        self.with_dispatch(|d| d.record(&id, &Record::new(&values)));
    }
}

/// Set once a layer is part of a subscriber.
static REGISTERED: AtomicBool = AtomicBool::new(false);
/// Set by the layers on a new span, cleared by [`check_spans_seen`].
static SAW_SPAN: AtomicBool = AtomicBool::new(false);
/// How long an installed layer may see no span, while allocations are sampled, before the
/// agent says why attribution may be missing.
const QUIET_WARNING_AFTER: Duration = Duration::from_secs(60);

static WATCH: Mutex<SpanWatch> = Mutex::new(SpanWatch {
    quiet_since: None,
    warned: false,
});

/// Whether an installed layer has gone quiet while allocations are sampled.
#[derive(Debug)]
struct SpanWatch {
    /// When the current stretch without spans began, and the samples taken by then.
    quiet_since: Option<(Instant, u64)>,
    warned: bool,
}

impl SpanWatch {
    /// One check at `now`: `saw_span` since the previous one, `samples` taken so far. True
    /// once, the first time no span was seen for `after` while samples were taken.
    fn observe(&mut self, saw_span: bool, samples: u64, now: Instant, after: Duration) -> bool {
        if self.warned {
            return false;
        }
        match self.quiet_since {
            Some((since, at)) if !saw_span => {
                self.warned = now.saturating_duration_since(since) >= after && samples > at;
                self.warned
            }
            _ => {
                self.quiet_since = Some((now, samples));
                false
            }
        }
    }
}

/// The layer as a part: on each collection tick, [`check_spans_seen`]; in the exit summary,
/// [`trace_summary`].
pub(crate) const SOURCE: crate::model::Source = crate::model::Source {
    tick: check_spans_seen,
    #[cfg(feature = "opentelemetry")]
    summary: trace_summary,
    ..crate::model::Source::NONE
};

/// The OpenTelemetry version rtscope's `opentelemetry` feature is built against (and the
/// tracing-opentelemetry of its `tracing-opentelemetry` feature), for the messages below.
#[cfg(feature = "opentelemetry")]
const OPENTELEMETRY_VERSIONS: &str = "opentelemetry 0.33, tracing-opentelemetry 0.34";

/// Whether the samples taken in tracing spans carry a trace (feature `opentelemetry`).
#[cfg(feature = "opentelemetry")]
#[derive(Debug)]
struct TraceWatch {
    /// When the current stretch without a traced sample in a span began, and the samples
    /// in spans and traced ones taken by then.
    since: Option<(Instant, u64, u64)>,
    warned: bool,
}

#[cfg(feature = "opentelemetry")]
impl TraceWatch {
    /// One check at `now` with the counters so far: samples taken in spans, and those of them
    /// that carried a trace. True once, the first time samples were taken in spans for `after`
    /// and none of them carried a trace.
    fn observe(&mut self, in_spans: u64, traced: u64, now: Instant, after: Duration) -> bool {
        if self.warned {
            return false;
        }
        match self.since {
            Some((since, at, traced_at)) if traced == traced_at => {
                self.warned = now.saturating_duration_since(since) >= after && in_spans > at;
                self.warned
            }
            _ => {
                self.since = Some((now, in_spans, traced));
                false
            }
        }
    }
}

#[cfg(feature = "opentelemetry")]
static TRACE_WATCH: Mutex<TraceWatch> = Mutex::new(TraceWatch {
    since: None,
    warned: false,
});

/// Why samples in spans may carry no trace, and what to do: one sentence for the warning and
/// the summary.
#[cfg(feature = "opentelemetry")]
fn untraced_why() -> String {
    format!(
        "either no tracing-opentelemetry layer makes the spans OpenTelemetry spans, or the application's OpenTelemetry is another version than rtscope's ({OPENTELEMETRY_VERSIONS}; `cargo tree -d -i opentelemetry` lists both): give rtscope the SDK's resource with AgentBuilder::with_resource(&resource) and such a skew fails to compile"
    )
}

/// The exit summary's line when samples were taken in tracing spans and none carried a
/// trace, with the `opentelemetry` feature on.
#[cfg(feature = "opentelemetry")]
fn trace_summary(out: &mut String) {
    use crate::base::attribution::{SAMPLES_IN_SPANS, TRACED_IN_SPANS};
    let in_spans = SAMPLES_IN_SPANS.load(Relaxed);
    if in_spans == 0 || TRACED_IN_SPANS.load(Relaxed) > 0 {
        return;
    }
    out.push_str(&format!(
        "  trace context: none of the {in_spans} samples taken in tracing spans carried an OpenTelemetry trace id; {}\n",
        untraced_why()
    ));
}

/// Warns once (one stderr line) if a layer is installed but has seen no span for a minute
/// while allocations were sampled: the sign of a global filter hiding spans from it. Called
/// on the export thread's collection tick; two atomic reads when no layer is installed.
pub(crate) fn check_spans_seen() {
    if !REGISTERED.load(Relaxed) {
        return;
    }
    let saw = SAW_SPAN.swap(false, Relaxed);
    let samples = crate::base::hot_sampling::TAKEN.load(Relaxed);
    let mut watch = WATCH.lock().unwrap_or_else(PoisonError::into_inner);
    if watch.observe(saw, samples, Instant::now(), QUIET_WARNING_AFTER) {
        eprintln!(
            "rtscope: RtscopeLayer is installed but has seen no tracing span for {}s while allocations were sampled, so none is attributed to a span; a filter added to the registry as a layer (registry().with(EnvFilter)) disables spans for every layer: give it to the printing layer instead (fmt::layer().with_filter(filter)), see the docs of rtscope::tracing",
            QUIET_WARNING_AFTER.as_secs()
        );
    }
    drop(watch);
    #[cfg(feature = "opentelemetry")]
    {
        use crate::base::attribution::{SAMPLES_IN_SPANS, TRACED_IN_SPANS};
        let (in_spans, traced) = (
            SAMPLES_IN_SPANS.load(Relaxed),
            TRACED_IN_SPANS.load(Relaxed),
        );
        let mut watch = TRACE_WATCH.lock().unwrap_or_else(PoisonError::into_inner);
        if watch.observe(in_spans, traced, Instant::now(), QUIET_WARNING_AFTER) {
            eprintln!(
                "rtscope: allocation samples were taken in tracing spans for {}s and none carried an OpenTelemetry trace id, although rtscope's feature `opentelemetry` is on; {}",
                QUIET_WARNING_AFTER.as_secs(),
                untraced_why()
            );
        }
    }
}

#[cfg(test)]
#[path = "tracing_layer/tests.rs"]
mod tests;
