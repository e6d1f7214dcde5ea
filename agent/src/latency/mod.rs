//! User latencies: how long a named thing took (a request, a query, a batch), one duration
//! histogram per name in the per-thread counter slots, exported as `rust.latency` and watched
//! for spikes ([`crate::spike`] reads them as it reads the timers).
//!
//! `rtscope::latency` is a module and a function, as `rtscope::scope` is: the function
//! [`latency()`] records one duration by name; the module holds it, the [`Latency`] handle
//! that records without a lookup, and the bound on names.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! let start = Instant::now();
//! // ... handle a request ...
//! rtscope::latency("request", start.elapsed());
//!
//! let query = rtscope::latency::Latency::new("db-query");
//! query.record(Duration::from_millis(3));
//! assert!(query.stats().count >= 1);
//! ```
//!
//! Names are bounded and looked up without a lock (the crate's one bounded name table); only
//! the first use of a name takes a lock, claims its histogram and allocates, as the agent's
//! own. With the `opentelemetry` feature a duration recorded inside a sampled span is kept as
//! its bucket's exemplar (`exemplar.rs`).

mod exemplar;

use crate::base::counters::{DurationHistogram, HistogramSnapshot};
use crate::model::Source;
use crate::model::series::Metric;
use crate::names::{Entry, Interner};
use exemplar::Exemplars;
use std::time::Duration;

/// Distinct latency names with a histogram of their own, [`OTHER`](crate::OTHER) included:
/// later names share the histogram named [`OTHER`](crate::OTHER). Each name takes 24 of the
/// per-thread counter slots.
pub const MAX_LATENCY_NAMES: usize = 32;

static NAMES: Interner<DurationHistogram, MAX_LATENCY_NAMES> = Interner::new();
/// Each name's exemplars, by its id (empty without the `opentelemetry` feature).
static EXEMPLARS: Exemplars<MAX_LATENCY_NAMES> = Exemplars::new();

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
/// let s = rtscope::latency::Latency::new("request").stats();
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
/// let query = rtscope::latency::Latency::new("db-query");
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
        EXEMPLARS.offer(self.entry.id(), duration);
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

/// Every latency name so far with its id and totals, in order of first use,
/// [`OTHER`](crate::OTHER) last.
pub(crate) fn all() -> Vec<(u32, &'static str, HistogramSnapshot)> {
    NAMES
        .iter()
        .map(|e| (e.id(), e.name(), e.value().snapshot()))
        .collect()
}

feature! {
    #![feature = "_export"]
    /// The id of latency name `name`, if it was used.
    pub(crate) fn id_of(name: &str) -> Option<u32> {
        NAMES.iter().find(|e| e.name() == name).map(|e| e.id())
    }

    /// The exemplar of latency `id` in the highest of `buckets` recorded in `window` (monotonic
    /// nanoseconds), sent or not: what a latency spike's trace is taken from.
    pub(crate) fn exemplar_in(
        id: u32,
        buckets: std::ops::RangeInclusive<usize>,
        window: std::ops::Range<u64>,
    ) -> Option<crate::model::series::Exemplar> {
        EXEMPLARS.in_window(id, buckets, window)
    }
}

/// The latencies as a part: their histograms, each with the exemplars kept since the last
/// export.
pub(crate) const SOURCE: Source = Source {
    series: collect,
    ..Source::NONE
};

/// Appends one `rust.latency` histogram per name.
fn collect(out: &mut Vec<Metric>) {
    for (id, name, h) in all() {
        let mut m = Metric::new(
            "rust.latency",
            "s",
            "Durations reported with rtscope::latency, by name.",
            h.to_data(),
        )
        .with_attr("rust.latency.name", name);
        m.exemplars = EXEMPLARS.take(id);
        out.push(m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::series::Value;

    #[test]
    fn latency_names_are_bounded_and_collected() {
        let l = Latency::new("unit-latency-collected");
        l.record(Duration::from_millis(1));
        let mut out = Vec::new();
        collect(&mut out);
        assert!(out.iter().any(|m| m.name == "rust.latency"
            && m.attributes
                == vec![(
                    "rust.latency.name",
                    Value::Str("unit-latency-collected".into())
                )]));
    }
}
