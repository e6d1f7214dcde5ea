//! Exemplars of `rust.latency` (feature `opentelemetry`): the last measurement of each bucket
//! of each latency name that carried a trace, with its trace id and span id, sent once with
//! the next export; a latency spike event carries the trace of an exemplar recorded over the
//! threshold in the spike's own window. Without the feature there are none.
//!
//! The trace is the one an allocation sample taken at the same point would carry
//! (`scope::entered_trace`: the current OpenTelemetry span, else the one the scope or tracing
//! span in effect took at its entry). Inside a trace, recording writes the bucket's slot
//! under a `try_lock`: a slot another thread holds is skipped (an exemplar is a sample), so no
//! recording thread ever waits. Nothing allocates.

use crate::model::series::Exemplar;

#[cfg(feature = "opentelemetry")]
mod slots {
    use super::Exemplar;
    use crate::base::counters::{BOUNDS_NS, bucket_of};
    use crate::spike::latency::MAX_LATENCY_NAMES;
    use std::ops::RangeInclusive;
    use std::sync::Mutex;
    use std::time::Duration;

    const BUCKETS: usize = BOUNDS_NS.len() + 1;

    /// A bucket's last exemplar, whether an export took it already, and when it was recorded
    /// (monotonic nanoseconds, the clock the spike windows are cut by).
    type Slot = Mutex<Option<(Exemplar, bool, u64)>>;
    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: Slot = Mutex::new(None);
    static SLOTS: [[Slot; BUCKETS]; MAX_LATENCY_NAMES] =
        [const { [EMPTY; BUCKETS] }; MAX_LATENCY_NAMES];

    /// Keeps `duration` of latency name `id` as its bucket's exemplar when the calling thread
    /// is inside a trace.
    pub(crate) fn offer(id: u32, duration: Duration) {
        let Some((trace_id, span_id)) = crate::scope::entered_trace() else {
            return;
        };
        let Some(row) = SLOTS.get(id as usize) else {
            return;
        };
        let ns = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        if let Ok(mut slot) = row[bucket_of(ns)].try_lock() {
            let e = Exemplar {
                trace_id,
                span_id,
                value: duration.as_secs_f64(),
                time_unix_nano: crate::sys::realtime_nanos(),
            };
            *slot = Some((e, false, crate::sys::monotonic_nanos()));
        }
    }

    fn lock(slot: &Slot) -> std::sync::MutexGuard<'_, Option<(Exemplar, bool, u64)>> {
        slot.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The exemplars of latency name `id` kept since the last call (each is sent once).
    pub(crate) fn take(id: u32) -> Vec<Exemplar> {
        let Some(row) = SLOTS.get(id as usize) else {
            return Vec::new();
        };
        row.iter()
            .filter_map(|slot| match &mut *lock(slot) {
                Some((e, sent @ false, _)) => {
                    *sent = true;
                    Some(*e)
                }
                _ => None,
            })
            .collect()
    }

    /// The exemplar of latency name `id` in the highest of `buckets` that was recorded in
    /// `window` (monotonic nanoseconds, `start..end`), sent or not.
    pub(crate) fn in_window(
        id: u32,
        buckets: RangeInclusive<usize>,
        window: std::ops::Range<u64>,
    ) -> Option<Exemplar> {
        let row = SLOTS.get(id as usize)?;
        buckets.rev().find_map(|b| match *lock(row.get(b)?) {
            Some((e, _, at)) if window.contains(&at) => Some(e),
            _ => None,
        })
    }
}

#[cfg(feature = "opentelemetry")]
pub(crate) use slots::{in_window, offer, take};

/// Without the `opentelemetry` feature no measurement has a trace: no exemplars.
#[cfg(not(feature = "opentelemetry"))]
pub(crate) fn take(_id: u32) -> Vec<Exemplar> {
    Vec::new()
}

/// Without the `opentelemetry` feature no measurement has a trace.
#[cfg(not(feature = "opentelemetry"))]
pub(crate) fn in_window(
    _id: u32,
    _buckets: std::ops::RangeInclusive<usize>,
    _window: std::ops::Range<u64>,
) -> Option<Exemplar> {
    None
}
