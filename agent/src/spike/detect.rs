//! Per-series detection: the window's new observations from bucket deltas, a threshold
//! (fixed, or a factor over the rolling P99 of recent windows with a floor), and whether the
//! window went over it.

use super::settings::SpikeKind;
use crate::base::counters::{BOUNDS_NS, BUCKETS, HistogramSnapshot};
use std::time::Duration;

/// Weight of the past in the rolling histogram, per window: about the last 30 windows count.
const DECAY: f64 = 1.0 - 1.0 / 30.0;
/// Observations (decayed) the rolling histogram needs before its P99 is trusted. Until then a
/// series without a fixed threshold is not watched.
pub(crate) const MIN_HISTORY: f64 = 100.0;

/// Where a threshold came from (attribute `rust.spike.threshold.source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// Set in code or the environment.
    Fixed,
    /// Derived from the rolling P99 (with the floor).
    P99,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Source::Fixed => "fixed",
            Source::P99 => "p99",
        }
    }
}

/// A window that went over its threshold.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Finding {
    pub(crate) kind: SpikeKind,
    pub(crate) name: String,
    /// Observations in the window.
    pub(crate) count: u64,
    /// Observations in buckets at or above the threshold.
    pub(crate) above: u64,
    /// Index of the highest non-empty bucket in the window.
    pub(crate) max_bucket: usize,
    /// Index of the threshold's bucket bound: buckets after it are over it.
    pub(crate) threshold_bound: usize,
    pub(crate) source: Source,
}

impl Finding {
    /// The threshold: a bucket bound.
    pub(crate) fn threshold(&self) -> Duration {
        Duration::from_nanos(BOUNDS_NS[self.threshold_bound])
    }

    /// The upper bound of the highest bucket observed, `None` for the overflow bucket (over
    /// the last bound).
    pub(crate) fn max_upper(&self) -> Option<Duration> {
        BOUNDS_NS
            .get(self.max_bucket)
            .map(|&b| Duration::from_nanos(b))
    }

    /// The lower bound of the highest bucket observed.
    pub(crate) fn max_lower(&self) -> Duration {
        match self.max_bucket {
            0 => Duration::ZERO,
            i => Duration::from_nanos(BOUNDS_NS[i - 1]),
        }
    }

    /// How far over: max bucket's upper bound over the threshold (for ordering).
    pub(crate) fn severity(&self) -> f64 {
        let max = self.max_upper().unwrap_or(Duration::MAX).as_secs_f64();
        max / self.threshold().as_secs_f64().max(1e-9)
    }
}

/// The first bucket bound at or above `d` (the last bound if `d` is past it).
pub(crate) fn bound_at_or_above(d: Duration) -> usize {
    let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    BOUNDS_NS
        .partition_point(|&b| b < ns)
        .min(BOUNDS_NS.len() - 1)
}

/// The detection state of one series.
#[derive(Debug)]
pub(crate) struct Series {
    pub(crate) kind: SpikeKind,
    pub(crate) name: String,
    prev: HistogramSnapshot,
    /// Exponentially decayed bucket counts of past windows.
    history: [f64; BUCKETS],
}

impl Series {
    /// A series whose totals so far are `baseline` (not a window: not evaluated).
    pub(crate) fn new(kind: SpikeKind, name: &str, baseline: HistogramSnapshot) -> Series {
        Series {
            kind,
            name: name.to_owned(),
            prev: baseline,
            history: [0.0; BUCKETS],
        }
    }

    /// The rolling threshold's bound index, if the history is long enough.
    fn rolling_bound(&self, floor: Duration, factor: f64) -> Option<usize> {
        let total: f64 = self.history.iter().sum();
        if total < MIN_HISTORY {
            return None;
        }
        let rank = 0.99 * total;
        let mut seen = 0.0;
        let mut p99 = BOUNDS_NS.len() - 1;
        for (i, &c) in self.history.iter().enumerate() {
            seen += c;
            if seen >= rank {
                p99 = i.min(BOUNDS_NS.len() - 1);
                break;
            }
        }
        let p99 = Duration::from_nanos(BOUNDS_NS[p99]);
        let t = p99.mul_f64(factor).max(floor);
        Some(bound_at_or_above(t))
    }

    /// Takes the window that ends at `now` (cumulative totals), returns a finding if it went
    /// over the threshold, and folds the window into the history.
    pub(crate) fn observe(
        &mut self,
        now: HistogramSnapshot,
        fixed: Option<Duration>,
        floor: Duration,
        factor: f64,
    ) -> Option<Finding> {
        let window = now.since(&self.prev);
        self.prev = now;
        let threshold = match fixed {
            Some(t) => Some((bound_at_or_above(t), Source::Fixed)),
            None => self.rolling_bound(floor, factor).map(|b| (b, Source::P99)),
        };
        for (h, &c) in self.history.iter_mut().zip(window.counts.iter()) {
            *h = *h * DECAY + c as f64;
        }
        let (bound, source) = threshold?;
        let above: u64 = window.counts.iter().skip(bound + 1).sum();
        if above == 0 {
            return None;
        }
        let max_bucket = window.counts.iter().rposition(|&c| c > 0)?;
        Some(Finding {
            kind: self.kind,
            name: self.name.clone(),
            count: window.count,
            above,
            max_bucket,
            threshold_bound: bound,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::counters::DurationHistogram;

    const MS: u64 = 1_000_000;

    #[test]
    fn thresholds_round_up_to_bounds() {
        assert_eq!(
            BOUNDS_NS[bound_at_or_above(Duration::from_millis(10))],
            10 * MS
        );
        assert_eq!(
            BOUNDS_NS[bound_at_or_above(Duration::from_millis(11))],
            20 * MS
        );
        assert_eq!(
            bound_at_or_above(Duration::from_secs(100)),
            BOUNDS_NS.len() - 1
        );
    }

    #[test]
    fn fixed_threshold_counts_buckets_above() {
        let h = DurationHistogram::claim();
        let mut s = Series::new(SpikeKind::Latency, "t", h.snapshot());
        for ns in [MS, 3 * MS, 15 * MS, 40 * MS] {
            h.record_ns(ns);
        }
        let f = s
            .observe(
                h.snapshot(),
                Some(Duration::from_millis(10)),
                Duration::ZERO,
                2.0,
            )
            .expect("two over 10 ms");
        assert_eq!((f.count, f.above), (4, 2));
        assert_eq!(f.threshold(), Duration::from_millis(10));
        assert_eq!(f.max_upper(), Some(Duration::from_millis(50)));
        assert_eq!(f.max_lower(), Duration::from_millis(20));
        assert_eq!(f.source, Source::Fixed);
        // Nothing new: no finding.
        assert_eq!(
            s.observe(
                h.snapshot(),
                Some(Duration::from_millis(10)),
                Duration::ZERO,
                2.0
            ),
            None
        );
    }

    #[test]
    fn rolling_p99_needs_history_then_flags_outliers() {
        let h = DurationHistogram::claim();
        let mut s = Series::new(SpikeKind::Schedule, "t", h.snapshot());
        let floor = Duration::from_micros(100);
        // Quiet windows around 40 µs: builds the history, never flagged.
        for _ in 0..5 {
            for _ in 0..50 {
                h.record_ns(40_000);
            }
            assert_eq!(s.observe(h.snapshot(), None, floor, 2.0), None);
        }
        // P99 bound 50 µs x 2 = 100 µs, at the floor: 150 µs is a spike, 90 µs is not.
        h.record_ns(90_000);
        assert_eq!(s.observe(h.snapshot(), None, floor, 2.0), None);
        h.record_ns(150_000);
        let f = s.observe(h.snapshot(), None, floor, 2.0).unwrap();
        assert_eq!(f.threshold(), Duration::from_micros(100));
        assert_eq!(f.source, Source::P99);
        assert_eq!(f.above, 1);
        // A higher floor wins over the P99.
        h.record_ns(150_000);
        assert_eq!(
            s.observe(h.snapshot(), None, Duration::from_millis(1), 2.0),
            None
        );
    }
}
