//! The scope current on each thread: what a sample is attributed to. Thread-local cells the
//! allocator's slow path reads ([`current`], [`current_trace`], [`on_sample`]) and
//! `crate::scope`, the tracing layer and the OpenTelemetry context observer set. The names
//! behind the ids are `crate::scope`'s.
//!
//! # Which trace a sample carries (feature `opentelemetry`)
//!
//! The sample path cannot read the OpenTelemetry context itself: it is a `RefCell` in a
//! lazily initialised thread-local, found mutably borrowed by an allocation made while a
//! context is attached (its stack grows) and initialised by allocating. So the ids travel
//! through two `Cell`s of our own, read without a borrow, a lock or an allocation:
//!
//! - `OTEL`: the ids of the span of the OpenTelemetry context current on the thread, written
//!   by rtscope's context observer ([`follow_opentelemetry`]) on every attach and detach,
//!   from `Tracer::in_span`, `Context::attach`, `FutureExt::with_context` or
//!   tracing-opentelemetry's activation alike. It is always the innermost span, so it wins.
//! - `TRACE`: the ids a scope or tracing span took where it was entered (the context then,
//!   else its caller's; a tracing span's own from tracing-opentelemetry). It serves when the
//!   current context has no sampled span (a tracing span whose context is not made current)
//!   and when the observer could not be installed (the application has one of its own:
//!   OpenTelemetry keeps one per process).

use std::cell::Cell;
use std::ptr;
#[cfg(feature = "opentelemetry")]
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Distinct scope names with an id of their own, [`OTHER`](crate::OTHER) included: later names all share
/// the id of [`OTHER`](crate::OTHER), so names built at run time cannot grow memory or export without bound.
pub const MAX_SCOPE_NAMES: usize = 1024;

thread_local! {
    /// The scope id in effect on this thread, 0 for none. `const` and without `Drop`: reading
    /// it is one thread-pointer-relative load, valid at any point of the thread's life.
    static CURRENT: Cell<u32> = const { Cell::new(0) };
    /// The allocation counter of the span entered on this thread (set by the tracing layer),
    /// null for none. Invariant: a non-null pointer points into an `Arc` a frame of this
    /// thread's span stack holds (see `crate::tracing`), so it is valid while it is set.
    static SPAN_BYTES: Cell<*const AtomicU64> = const { Cell::new(ptr::null()) };
    /// The trace id and span id of the OpenTelemetry span current when the scope or tracing
    /// span in effect was entered (feature `opentelemetry`), for the samples taken in it.
    static TRACE: Cell<Option<Trace>> = const { Cell::new(None) };
    /// The ids of the sampled span of the OpenTelemetry context current on this thread, as
    /// rtscope's context observer last saw it attached or restored; `None` when that context
    /// has no valid sampled span, or the observer is not following (see the module docs).
    static OTEL: Cell<Option<Trace>> = const { Cell::new(None) };
}

/// Samples taken while a tracing span was entered (under `RtscopeLayer`), and how many of
/// them carried a trace: the tracing layer's check that OpenTelemetry ids reach them.
pub(crate) static SAMPLES_IN_SPANS: AtomicU64 = AtomicU64::new(0);
pub(crate) static TRACED_IN_SPANS: AtomicU64 = AtomicU64::new(0);

/// An OpenTelemetry trace id and span id.
pub(crate) type Trace = ([u8; 16], [u8; 8]);

/// The trace a sample taken now carries: the current OpenTelemetry context's span (`OTEL`,
/// the innermost), else the one the scope or tracing span in effect took at its entry
/// (`TRACE`). Two `Cell` reads: no allocation, no lock, no borrow; the allocator's sample
/// path reads it.
#[inline]
pub(crate) fn current_trace() -> Option<Trace> {
    OTEL.try_with(Cell::get)
        .ok()
        .flatten()
        .or_else(|| TRACE.try_with(Cell::get).ok().flatten())
}

/// Sets the trace in effect, returning the previous one.
#[inline]
pub(crate) fn replace_trace(trace: Option<Trace>) -> Option<Trace> {
    TRACE.try_with(|c| c.replace(trace)).ok().flatten()
}

/// The ids of the sampled OpenTelemetry span current on this thread, else the trace already
/// in effect (so a scope entered outside any span keeps its caller's): what a scope, a
/// tracing span or a poll of a scoped future takes at its entry, and what an exemplar
/// carries. While the observer follows the context this is [`current_trace`]; else it reads
/// the OpenTelemetry context (a `RefCell` borrow), so it is never called in the allocator.
#[inline]
pub(crate) fn entered_trace() -> Option<Trace> {
    #[cfg(feature = "opentelemetry")]
    if !FOLLOWING.load(Relaxed) {
        return opentelemetry::Context::map_current(trace_in);
    }
    current_trace()
}

/// The ids of `cx`'s span if it is a sampled one, else the trace already in effect.
#[cfg(feature = "opentelemetry")]
pub(crate) fn trace_in(cx: &opentelemetry::Context) -> Option<Trace> {
    ids_of(cx).or_else(current_trace)
}

/// The ids of `cx`'s span if it is a valid, sampled one. Reads the span's immutable
/// context in place: no clone (its trace state may hold a heap buffer), no lock.
#[cfg(feature = "opentelemetry")]
fn ids_of(cx: &opentelemetry::Context) -> Option<Trace> {
    use opentelemetry::trace::TraceContextExt as _;
    if !cx.has_active_span() {
        return None;
    }
    let span = cx.span();
    let sc = span.span_context();
    (sc.is_valid() && sc.is_sampled()).then(|| (sc.trace_id().to_bytes(), sc.span_id().to_bytes()))
}

/// Set once rtscope's context observer is installed and seen to follow attaches.
#[cfg(feature = "opentelemetry")]
static FOLLOWING: AtomicBool = AtomicBool::new(false);

/// Keeps `OTEL` equal to the ids of the current context's span on every change of the
/// current context. Called by OpenTelemetry while its thread-local is mutably borrowed, so
/// it only reads the two contexts it is given and writes our own cell: it never calls back
/// into the context API and allocates nothing.
#[cfg(feature = "opentelemetry")]
struct Follow;

#[cfg(feature = "opentelemetry")]
impl opentelemetry::context::ContextObserver for Follow {
    fn on_context_enter(&self, _from: &opentelemetry::Context, to: &opentelemetry::Context) {
        let _ = OTEL.try_with(|c| c.set(ids_of(to)));
    }

    fn on_context_exit(&self, _from: &opentelemetry::Context, to: &opentelemetry::Context) {
        let _ = OTEL.try_with(|c| c.set(ids_of(to)));
    }
}

/// Installs rtscope's OpenTelemetry context observer (once per process; OpenTelemetry keeps
/// one) and checks that it follows: a context with a probe span attached on this thread
/// must show in `OTEL`. False when another observer was installed first: then samples fall
/// back to the ids scopes and tracing spans take at their entry. Allocates (the observer,
/// the probe's context): call it in the agent's account.
#[cfg(feature = "opentelemetry")]
pub(crate) fn follow_opentelemetry() -> bool {
    use opentelemetry::Context;
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    };
    if FOLLOWING.load(Relaxed) {
        return true;
    }
    opentelemetry::context::GlobalContextObserver::set(std::sync::Arc::new(Follow));
    let probe = SpanContext::new(
        TraceId::from(0x7274_7363_6f70_6500_0000_0000_0000_0001),
        SpanId::from(0x7274_7363_6f70_6501),
        TraceFlags::SAMPLED,
        true,
        TraceState::NONE,
    );
    let want = Some((probe.trace_id().to_bytes(), probe.span_id().to_bytes()));
    let seen = {
        let _probe = Context::new().with_remote_span_context(probe).attach();
        OTEL.try_with(Cell::get).ok().flatten()
    };
    let following = seen == want;
    if following {
        // The contexts already current on other threads show from their next change.
        let _ = Context::map_current(|cx| OTEL.try_with(|c| c.set(ids_of(cx))));
        FOLLOWING.store(true, Relaxed);
    }
    following
}

/// The current scope id on this thread, 0 for none. No allocation, no lock.
#[inline]
pub(crate) fn current() -> u32 {
    CURRENT.try_with(Cell::get).unwrap_or(0)
}

/// Sets the current scope id, returning the previous one.
#[inline]
pub(crate) fn replace(id: u32) -> u32 {
    CURRENT.try_with(|c| c.replace(id)).unwrap_or(0)
}

/// Credits `bytes` (a sample's weight) to the span entered on this thread, if any, and
/// counts the sample in [`SAMPLES_IN_SPANS`] (and [`TRACED_IN_SPANS`] if it carries a
/// trace): relaxed atomic adds, no allocation, no lock. Called by the sampler, inside the
/// agent scope.
#[inline]
pub(crate) fn on_sample(bytes: u64) {
    let p = SPAN_BYTES.try_with(Cell::get).unwrap_or(ptr::null());
    if !p.is_null() {
        // SAFETY: a non-null `SPAN_BYTES` points into an `Arc<AtomicU64>` held by the top
        // frame of this thread's span stack (the invariant above); only this thread changes
        // `SPAN_BYTES`, and it clears or replaces it before that frame drops its `Arc`.
        unsafe { &*p }.fetch_add(bytes, Relaxed);
        SAMPLES_IN_SPANS.fetch_add(1, Relaxed);
        if current_trace().is_some() {
            TRACED_IN_SPANS.fetch_add(1, Relaxed);
        }
    }
}

/// Sets the span allocation counter of this thread, returning the previous pointer. The
/// caller keeps the invariant of `SPAN_BYTES`.
#[cfg(any(feature = "tracing", test))]
#[inline]
pub(crate) fn replace_span_bytes(p: *const AtomicU64) -> *const AtomicU64 {
    SPAN_BYTES.try_with(|c| c.replace(p)).unwrap_or(ptr::null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn span_bytes_credit_only_when_set() {
        on_sample(10); // nothing set: a no-op
        let counter = Arc::new(AtomicU64::new(0));
        let prev = replace_span_bytes(Arc::as_ptr(&counter));
        on_sample(100);
        on_sample(20);
        replace_span_bytes(prev);
        on_sample(5);
        assert_eq!(counter.load(Relaxed), 120);
    }

    /// A context with a sampled span of ids `(t, s)`, as an SDK span or a propagated parent
    /// gives it.
    #[cfg(feature = "opentelemetry")]
    fn context(t: u128, s: u64) -> opentelemetry::Context {
        use opentelemetry::trace::{SpanContext, TraceContextExt as _, TraceFlags, TraceState};
        let sc = SpanContext::new(
            t.into(),
            s.into(),
            TraceFlags::SAMPLED,
            true,
            TraceState::NONE,
        );
        opentelemetry::Context::new().with_remote_span_context(sc)
    }

    #[cfg(feature = "opentelemetry")]
    fn ids(t: u128, s: u64) -> Option<Trace> {
        Some((t.to_be_bytes(), s.to_be_bytes()))
    }

    /// With the observer, the sample path's trace is the innermost span made current, however
    /// it was made current and whatever scope was entered before it; detaching restores the
    /// outer one, also out of order.
    #[test]
    #[cfg(feature = "opentelemetry")]
    fn the_observer_makes_the_innermost_current_span_the_samples_trace() {
        assert!(
            follow_opentelemetry(),
            "no other observer in this test binary"
        );
        assert_eq!(current_trace(), None);
        let parent = context(1, 1).attach();
        assert_eq!(current_trace(), ids(1, 1));
        // A scope entered in the parent takes its ids; a child span made current inside the
        // scope wins over them.
        let scope = replace_trace(entered_trace());
        let child = context(1, 2).attach();
        assert_eq!(current_trace(), ids(1, 2));
        // A context without a span inside: the scope's ids again.
        let empty = opentelemetry::Context::new().attach();
        assert_eq!(current_trace(), ids(1, 1));
        drop(empty);
        assert_eq!(current_trace(), ids(1, 2));
        // Out of order: the parent's guard first, then the child's.
        drop(parent);
        assert_eq!(current_trace(), ids(1, 2));
        drop(child);
        replace_trace(scope);
        assert_eq!(current_trace(), None);
        // Not sampled: no ids.
        use opentelemetry::trace::{SpanContext, TraceContextExt as _, TraceFlags, TraceState};
        let unsampled = SpanContext::new(
            3u128.into(),
            3u64.into(),
            TraceFlags::default(),
            true,
            TraceState::NONE,
        );
        let _g = opentelemetry::Context::new()
            .with_remote_span_context(unsampled)
            .attach();
        assert_eq!(current_trace(), None);
    }
}
