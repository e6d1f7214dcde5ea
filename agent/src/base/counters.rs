//! The recording primitives shared by pools, timers and the scheduler probes: groups of
//! counters and duration histograms living in the allocator's per-thread counter slots.
//!
//! A [`Counters`] group claims `n` consecutive slots from [`super::shard::claim_slots`] for the
//! life of the process. Recording is [`super::shard::add_to_slot`]: a relaxed load + store on a
//! line only the calling thread writes (no lock, no allocation, no read-modify-write). Once the
//! 2048 slots are all taken, a group falls back to shared atomics (`fetch_add`), which is
//! correct but contended; groups are claimed per pool name, not per pool, so this takes
//! hundreds of distinct names.

use super::shard::{add_to_slot, agent_scope, claim_slots, read_slot};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// `n` cumulative counters, recorded per thread and summed on read.
#[derive(Debug)]
pub(crate) struct Counters {
    place: Place,
}

#[derive(Debug)]
enum Place {
    /// Slots `base..base + n` of every shard.
    Slots(usize),
    /// No slots left: shared atomics, kept for the life of the process.
    Shared(&'static [AtomicU64]),
}

impl Counters {
    /// Claims `n` counters for the life of the process. Off the hot path (may allocate, as
    /// the agent's own allocation).
    pub(crate) fn claim(n: usize) -> Counters {
        let place = match claim_slots(n) {
            Some(base) => Place::Slots(base),
            None => Place::Shared(agent_scope(|| {
                let v: Vec<AtomicU64> = (0..n).map(|_| AtomicU64::new(0)).collect();
                &*Box::leak(v.into_boxed_slice())
            })),
        };
        Counters { place }
    }

    /// Adds `by` to counter `i` (`i < n`; an index out of range is ignored).
    #[inline(always)]
    pub(crate) fn add(&self, i: usize, by: u64) {
        match self.place {
            Place::Slots(base) => add_to_slot(base + i, by),
            Place::Shared(c) => {
                if let Some(c) = c.get(i) {
                    c.fetch_add(by, Relaxed);
                }
            }
        }
    }

    /// The total of counter `i` over every thread.
    pub(crate) fn read(&self, i: usize) -> u64 {
        match self.place {
            Place::Slots(base) => read_slot(base + i),
            Place::Shared(c) => c.get(i).map_or(0, |c| c.load(Relaxed)),
        }
    }
}

/// Bucket upper bounds in nanoseconds: 1-2-5 steps from 1 µs to 10 s.
pub(crate) const BOUNDS_NS: [u64; 22] = [
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
    200_000_000,
    500_000_000,
    1_000_000_000,
    2_000_000_000,
    5_000_000_000,
    10_000_000_000,
];
/// Buckets: one per bound plus the overflow bucket (over 10 s).
pub(crate) const BUCKETS: usize = BOUNDS_NS.len() + 1;
/// Slot of the sum (nanoseconds), after the buckets. The count is the sum of the buckets, so
/// a snapshot's count always matches its buckets.
const SUM: usize = BUCKETS;

/// The bucket of a duration of `ns` nanoseconds: bucket `i` holds `(BOUNDS_NS[i-1], BOUNDS_NS[i]]`.
#[inline(always)]
pub(crate) fn bucket_of(ns: u64) -> usize {
    BOUNDS_NS.partition_point(|&b| b < ns)
}

/// A histogram of durations, in the per-thread slots: `BUCKETS` bucket counters and the sum
/// in nanoseconds. Recording is two slot writes.
#[derive(Debug)]
pub(crate) struct DurationHistogram {
    counters: Counters,
}

impl DurationHistogram {
    /// Claims the histogram's counters for the life of the process.
    pub(crate) fn claim() -> DurationHistogram {
        DurationHistogram {
            counters: Counters::claim(BUCKETS + 1),
        }
    }

    /// Records one duration of `ns` nanoseconds.
    #[inline(always)]
    pub(crate) fn record_ns(&self, ns: u64) {
        self.counters.add(bucket_of(ns), 1);
        self.counters.add(SUM, ns);
    }

    /// Records one duration.
    #[inline(always)]
    pub(crate) fn record(&self, d: Duration) {
        self.record_ns(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// The totals so far.
    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        let mut counts = [0u64; BUCKETS];
        for (i, c) in counts.iter_mut().enumerate() {
            *c = self.counters.read(i);
        }
        let sum_ns = self.counters.read(SUM);
        HistogramSnapshot::from_parts(counts, sum_ns)
    }
}

/// Cumulative totals of a duration histogram: bucket `i` counts durations in
/// `(bounds[i-1], bounds[i]]`, the last bucket those over 10 s.
///
/// ```
/// let h = rtscope::time::stats().lateness;
/// assert_eq!(h.counts.len(), h.bounds().len() + 1);
/// assert_eq!(h.counts.iter().sum::<u64>(), h.count);
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Observations per bucket.
    pub counts: [u64; BUCKETS],
    /// Observations in all (the sum of `counts`).
    pub count: u64,
    /// Sum of all observations.
    pub sum: Duration,
}

impl HistogramSnapshot {
    fn from_parts(counts: [u64; BUCKETS], sum_ns: u64) -> Self {
        HistogramSnapshot {
            counts,
            count: counts.iter().fold(0u64, |a, &c| a.wrapping_add(c)),
            sum: Duration::from_nanos(sum_ns),
        }
    }

    /// The buckets' upper bounds: 1-2-5 steps from 1 µs to 10 s.
    pub fn bounds(&self) -> [Duration; BUCKETS - 1] {
        BOUNDS_NS.map(Duration::from_nanos)
    }

    /// The mean observation, or zero without observations.
    pub fn mean(&self) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos((self.sum.as_nanos() / u128::from(self.count)) as u64)
    }

    /// Observations over `d`, counting whole buckets: those in buckets whose lower bound is
    /// at least `d` (so `d` should be one of [`bounds`](Self::bounds)).
    pub fn count_over(&self, d: Duration) -> u64 {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let first = BOUNDS_NS.partition_point(|&b| b < ns) + 1;
        self.counts.iter().skip(first).sum()
    }

    /// An upper bound of the `q` quantile (`0.0..=1.0`): the upper bound of the bucket that
    /// holds it (`Duration::MAX` for the overflow bucket, zero without observations).
    pub fn quantile_bound(&self, q: f64) -> Duration {
        if self.count == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return BOUNDS_NS
                    .get(i)
                    .map_or(Duration::MAX, |&b| Duration::from_nanos(b));
            }
        }
        Duration::MAX
    }

    /// The difference `self - earlier`, for measuring one stretch of a program.
    pub fn since(&self, earlier: &HistogramSnapshot) -> HistogramSnapshot {
        let mut counts = [0u64; BUCKETS];
        for (i, c) in counts.iter_mut().enumerate() {
            *c = self.counts[i].wrapping_sub(earlier.counts[i]);
        }
        let sum = self.sum.saturating_sub(earlier.sum);
        HistogramSnapshot::from_parts(counts, u64::try_from(sum.as_nanos()).unwrap_or(u64::MAX))
    }
}

impl Default for HistogramSnapshot {
    fn default() -> Self {
        HistogramSnapshot::from_parts([0; BUCKETS], 0)
    }
}

/// Cumulative histogram kept outside the slots (for values read from the kernel on collect).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PlainHistogram {
    counts: [u64; BUCKETS],
    sum_ns: u64,
}

impl PlainHistogram {
    pub(crate) const fn new() -> Self {
        PlainHistogram {
            counts: [0; BUCKETS],
            sum_ns: 0,
        }
    }

    /// Records `n` observations that share the bucket of `ns` nanoseconds and add up to
    /// `sum_ns`.
    pub(crate) fn record_n(&mut self, ns: u64, n: u64, sum_ns: u64) {
        let b = bucket_of(ns);
        self.counts[b] = self.counts[b].wrapping_add(n);
        self.sum_ns = self.sum_ns.wrapping_add(sum_ns);
    }

    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot::from_parts(self.counts, self.sum_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_upper_bounds() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(1_000), 0);
        assert_eq!(bucket_of(1_001), 1);
        assert_eq!(bucket_of(5_000_000), 11);
        assert_eq!(bucket_of(10_000_000_000), BUCKETS - 2);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn histogram_counts_and_sums_exactly() {
        let h = DurationHistogram::claim();
        let before = h.snapshot();
        for ns in [500, 1_500, 1_500, 7_000_000, 20_000_000_000] {
            h.record_ns(ns);
        }
        let s = h.snapshot().since(&before);
        assert_eq!(s.count, 5);
        assert_eq!(s.counts[0], 1);
        assert_eq!(s.counts[1], 2);
        assert_eq!(s.counts[bucket_of(7_000_000)], 1);
        assert_eq!(s.counts[BUCKETS - 1], 1);
        assert_eq!(
            s.sum,
            Duration::from_nanos(500 + 3_000 + 7_000_000 + 20_000_000_000)
        );
        assert_eq!(s.count_over(Duration::from_millis(5)), 2);
        assert_eq!(s.quantile_bound(0.5), Duration::from_micros(2));
        assert_eq!(s.quantile_bound(1.0), Duration::MAX);
    }

    #[test]
    fn counters_sum_over_threads() {
        let c = Counters::claim(2);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        c.add(1, 1);
                    }
                });
            }
        });
        assert_eq!(c.read(0), 0);
        assert_eq!(c.read(1), 4000);
    }
}
