//! The scope current on each thread: what a sample is attributed to. Two thread-local cells
//! the allocator's slow path reads ([`current`], [`on_sample`]) and `crate::scope` and the
//! tracing layer set. The names behind the ids are `crate::scope`'s.

use std::cell::Cell;
use std::ptr;
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
}

/// An OpenTelemetry trace id and span id.
pub(crate) type Trace = ([u8; 16], [u8; 8]);

/// The trace in effect on this thread (see `TRACE`). No allocation, no lock: the allocator's
/// sample path reads it.
#[inline]
pub(crate) fn current_trace() -> Option<Trace> {
    TRACE.try_with(Cell::get).ok().flatten()
}

/// Sets the trace in effect, returning the previous one.
#[inline]
pub(crate) fn replace_trace(trace: Option<Trace>) -> Option<Trace> {
    TRACE.try_with(|c| c.replace(trace)).ok().flatten()
}

/// The ids of the sampled OpenTelemetry span current on this thread, else the trace already
/// in effect (so a scope entered outside any span keeps its caller's). Reads the
/// OpenTelemetry context: called where a scope or span is entered, never in the allocator.
#[inline]
pub(crate) fn entered_trace() -> Option<Trace> {
    #[cfg(feature = "opentelemetry")]
    return opentelemetry::Context::map_current(trace_in);
    #[cfg(not(feature = "opentelemetry"))]
    current_trace()
}

/// The ids of `cx`'s span if it is a sampled one, else the trace already in effect.
#[cfg(feature = "opentelemetry")]
pub(crate) fn trace_in(cx: &opentelemetry::Context) -> Option<Trace> {
    use opentelemetry::trace::TraceContextExt as _;
    let sc = cx.span().span_context().clone();
    let sampled = cx.has_active_span() && sc.is_valid() && sc.is_sampled();
    sampled
        .then(|| (sc.trace_id().to_bytes(), sc.span_id().to_bytes()))
        .or_else(current_trace)
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

/// Credits `bytes` (a sample's weight) to the span entered on this thread, if any: one
/// relaxed atomic add, no allocation, no lock. Called by the sampler, inside the agent scope.
#[inline]
pub(crate) fn on_sample(bytes: u64) {
    let p = SPAN_BYTES.try_with(Cell::get).unwrap_or(ptr::null());
    if !p.is_null() {
        // SAFETY: a non-null `SPAN_BYTES` points into an `Arc<AtomicU64>` held by the top
        // frame of this thread's span stack (the invariant above); only this thread changes
        // `SPAN_BYTES`, and it clears or replaces it before that frame drops its `Arc`.
        unsafe { &*p }.fetch_add(bytes, Relaxed);
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
}
