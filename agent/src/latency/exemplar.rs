//! Exemplars of `rust.latency` (feature `opentelemetry`): the last measurement of each bucket
//! of each latency name that carried a trace, with its trace id and span id, sent once with
//! the next export; a latency spike event carries the trace of an exemplar recorded over the
//! threshold in the spike's own window. Without the feature there are none: [`Exemplars`]
//! holds nothing and every call is a no-op.
//!
//! The trace is the one an allocation sample taken at the same point would carry
//! (`scope::entered_trace`: the current OpenTelemetry span, else the one the scope or tracing
//! span in effect took at its entry). Inside a trace, recording writes the bucket's slot
//! under a `try_lock`: a slot another thread holds is skipped (an exemplar is a sample), so no
//! recording thread ever waits. Nothing allocates.
//!
//! The table is sized by its owner (`ROWS` names, one row each), so this file names nothing
//! of the latencies it serves.

use crate::model::series::Exemplar;
use std::time::Duration;

#[cfg(feature = "opentelemetry")]
pub(crate) use slots::Exemplars;

#[cfg(not(feature = "opentelemetry"))]
pub(crate) use none::Exemplars;

#[cfg(feature = "opentelemetry")]
mod slots {
    use super::{Duration, Exemplar};
    use crate::base::counters::{BOUNDS_NS, bucket_of};
    use std::sync::Mutex;

    const BUCKETS: usize = BOUNDS_NS.len() + 1;

    /// A bucket's last exemplar, whether an export took it already, and when it was recorded
    /// (monotonic nanoseconds, the clock the spike windows are cut by).
    type Slot = Mutex<Option<(Exemplar, bool, u64)>>;
    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: Slot = Mutex::new(None);

    /// One row of bucket slots per id, `ROWS` ids.
    #[derive(Debug)]
    pub(crate) struct Exemplars<const ROWS: usize> {
        slots: [[Slot; BUCKETS]; ROWS],
    }

    impl<const ROWS: usize> Exemplars<ROWS> {
        pub(crate) const fn new() -> Self {
            Exemplars {
                slots: [const { [EMPTY; BUCKETS] }; ROWS],
            }
        }

        /// Keeps `duration` of id `id` as its bucket's exemplar when the calling thread is
        /// inside a trace.
        pub(crate) fn offer(&self, id: u32, duration: Duration) {
            let Some((trace_id, span_id)) = crate::scope::entered_trace() else {
                return;
            };
            let Some(row) = self.slots.get(id as usize) else {
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

        /// The exemplars of id `id` kept since the last call (each is sent once).
        pub(crate) fn take(&self, id: u32) -> Vec<Exemplar> {
            let Some(row) = self.slots.get(id as usize) else {
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

        /// The exemplar of id `id` in the highest of `buckets` that was recorded in `window`
        /// (monotonic nanoseconds, `start..end`), sent or not.
        #[cfg(feature = "_export")]
        pub(crate) fn in_window(
            &self,
            id: u32,
            buckets: std::ops::RangeInclusive<usize>,
            window: std::ops::Range<u64>,
        ) -> Option<Exemplar> {
            let row = self.slots.get(id as usize)?;
            buckets.rev().find_map(|b| match *lock(row.get(b)?) {
                Some((e, _, at)) if window.contains(&at) => Some(e),
                _ => None,
            })
        }
    }

    fn lock(slot: &Slot) -> std::sync::MutexGuard<'_, Option<(Exemplar, bool, u64)>> {
        slot.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Without the `opentelemetry` feature no measurement has a trace: no exemplars.
#[cfg(not(feature = "opentelemetry"))]
mod none {
    use super::{Duration, Exemplar};

    /// Holds nothing: no measurement has a trace.
    #[derive(Debug)]
    pub(crate) struct Exemplars<const ROWS: usize>;

    impl<const ROWS: usize> Exemplars<ROWS> {
        pub(crate) const fn new() -> Self {
            Exemplars
        }

        #[inline]
        pub(crate) fn offer(&self, _id: u32, _duration: Duration) {}

        pub(crate) fn take(&self, _id: u32) -> Vec<Exemplar> {
            Vec::new()
        }

        #[cfg(feature = "_export")]
        pub(crate) fn in_window(
            &self,
            _id: u32,
            _buckets: std::ops::RangeInclusive<usize>,
            _window: std::ops::Range<u64>,
        ) -> Option<Exemplar> {
            None
        }
    }
}
