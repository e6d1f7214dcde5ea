//! User-reported latencies: one duration histogram per name, in the per-thread counter slots.
//!
//! Names are bounded and looked up without a lock (the crate's one bounded name table); only
//! the first use of a name takes a lock, claims its histogram and allocates, as the agent's
//! own.

use crate::base::counters::{DurationHistogram, HistogramSnapshot};
use crate::names::{Entry, Interner};
use std::time::Duration;

/// Distinct latency names with a histogram of their own, [`OTHER`](crate::OTHER) included:
/// later names share the histogram named [`OTHER`](crate::OTHER). Each name takes 24 of the
/// per-thread counter slots.
pub const MAX_LATENCY_NAMES: usize = 32;

static NAMES: Interner<DurationHistogram, MAX_LATENCY_NAMES> = Interner::new();

/// Records how long one `name` took (a request, a query, a batch): exported as the histogram
/// `rust.latency` (attribute `rust.latency.name`) and watched for spikes.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// // ... handle a request ...
/// rtscope::latency("request", start.elapsed());
///
/// let s = rtscope::spike::Latency::new("request").stats();
/// assert!(s.count >= 1);
/// ```
///
/// The name is looked up in a lock-free table (a [`Latency`] made once skips even that);
/// recording is two writes to the calling thread's own counters. With the `opentelemetry`
/// feature, a duration recorded inside a sampled OpenTelemetry span is also kept as an
/// exemplar of its bucket, with the ids an allocation sample taken there would carry
/// ([`crate::scope`](mod@crate::scope#trace-ids-feature-opentelemetry), docs/metrics.md).
#[inline]
pub fn latency(name: &str, duration: Duration) {
    Latency::new(name).record(duration);
}

/// The latency histogram of one name. Copy it around to record without a lookup.
///
/// ```
/// use std::time::Duration;
///
/// let query = rtscope::spike::Latency::new("db-query");
/// let before = query.stats();
/// query.record(Duration::from_millis(3));
/// assert_eq!(query.stats().since(&before).count, 1);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Latency {
    entry: &'static Entry<DurationHistogram>,
}

impl Latency {
    /// The histogram of `name` (or of [`OTHER`](crate::OTHER) past [`MAX_LATENCY_NAMES`]` - 1`
    /// names).
    pub fn new(name: &str) -> Latency {
        Latency {
            entry: NAMES.intern(name, DurationHistogram::claim),
        }
    }

    /// Records one duration.
    #[inline]
    pub fn record(&self, duration: Duration) {
        self.entry.value().record(duration);
        #[cfg(feature = "opentelemetry")]
        super::exemplar::offer(self.entry.id(), duration);
    }

    /// The name exported.
    pub fn name(&self) -> &'static str {
        self.entry.name()
    }

    /// The totals of this name so far (all threads).
    pub fn stats(&self) -> HistogramSnapshot {
        self.entry.value().snapshot()
    }
}

/// The id of latency name `name`, if it was used.
pub(crate) fn id_of(name: &str) -> Option<u32> {
    NAMES.iter().find(|e| e.name() == name).map(|e| e.id())
}

/// Every latency name so far with its id and totals, in order of first use,
/// [`OTHER`](crate::OTHER) last.
pub(crate) fn all() -> Vec<(u32, &'static str, HistogramSnapshot)> {
    NAMES
        .iter()
        .map(|e| (e.id(), e.name(), e.value().snapshot()))
        .collect()
}
