//! Exemplars of `rust.latency` (feature `opentelemetry`): the last measurement of each bucket
//! of each latency name that was made inside a sampled OpenTelemetry span, with its trace id
//! and span id, sent once with the next export; a latency spike event carries the trace of
//! its highest bucket's exemplar. Without the feature there are none.
//!
//! Recording reads the thread's current OpenTelemetry `Context` (a thread-local borrow) and,
//! inside a span, writes the bucket's slot under a `try_lock`: a slot another thread holds is
//! skipped (an exemplar is a sample), so no recording thread ever waits. Nothing allocates.

use crate::model::series::Exemplar;

#[cfg(feature = "opentelemetry")]
mod slots {
    use super::Exemplar;
    use crate::base::counters::{BOUNDS_NS, bucket_of};
    use crate::spike::latency::MAX_LATENCY_NAMES;
    use std::sync::Mutex;
    use std::time::Duration;

    const BUCKETS: usize = BOUNDS_NS.len() + 1;

    /// A bucket's last exemplar, and whether an export took it already.
    type Slot = Mutex<Option<(Exemplar, bool)>>;
    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: Slot = Mutex::new(None);
    static SLOTS: [[Slot; BUCKETS]; MAX_LATENCY_NAMES] =
        [const { [EMPTY; BUCKETS] }; MAX_LATENCY_NAMES];

    /// Keeps `duration` of latency name `id` as its bucket's exemplar when the calling thread
    /// is inside a sampled span.
    pub(crate) fn offer(id: u32, duration: Duration) {
        use opentelemetry::trace::TraceContextExt;
        let Some((trace_id, span_id)) = opentelemetry::Context::map_current(|cx| {
            if !cx.has_active_span() {
                return None;
            }
            let span = cx.span();
            let sc = span.span_context();
            (sc.is_valid() && sc.is_sampled())
                .then(|| (sc.trace_id().to_bytes(), sc.span_id().to_bytes()))
        }) else {
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
            *slot = Some((e, false));
        }
    }

    fn lock(slot: &Slot) -> std::sync::MutexGuard<'_, Option<(Exemplar, bool)>> {
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
                Some((e, sent @ false)) => {
                    *sent = true;
                    Some(*e)
                }
                _ => None,
            })
            .collect()
    }

    /// The last exemplar of bucket `bucket` of latency name `id`, sent or not.
    pub(crate) fn in_bucket(id: u32, bucket: usize) -> Option<Exemplar> {
        let slot = SLOTS.get(id as usize)?.get(bucket)?;
        lock(slot).map(|(e, _)| e)
    }
}

#[cfg(feature = "opentelemetry")]
pub(crate) use slots::{in_bucket, offer, take};

/// Without the `opentelemetry` feature no measurement has a trace: no exemplars.
#[cfg(not(feature = "opentelemetry"))]
pub(crate) fn take(_id: u32) -> Vec<Exemplar> {
    Vec::new()
}

/// Without the `opentelemetry` feature no measurement has a trace.
#[cfg(not(feature = "opentelemetry"))]
pub(crate) fn in_bucket(_id: u32, _bucket: usize) -> Option<Exemplar> {
    None
}
