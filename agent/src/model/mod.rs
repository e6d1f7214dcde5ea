//! The data model below the parts: the cumulative series ([`series`]) and the events
//! ([`events`]) every part reports, and the one interface through which a part offers them to
//! the export pipeline ([`Source`]). The parts build on it; the pipeline iterates the list of
//! sources it is given (`crate::agent::SOURCES`) and never names a part.

pub(crate) mod series;

feature! {
    #![feature = "_export"]
    pub(crate) mod events;

    /// Every series of `sources`, in order.
    pub(crate) fn collect(sources: &[Source], out: &mut Vec<Metric>) {
        for s in sources {
            (s.series)(out);
        }
    }
}

use crate::base::counters::HistogramSnapshot;
use series::Metric;
use std::time::Duration;

/// What one part of the agent (the allocator, pools, timers, the scheduler, latencies and
/// spikes, the agent's own account, the tracing layer) offers the export pipeline. Every
/// function runs on the export thread, in the agent scope; series are totals since the
/// process started. A part sets what it has and takes the rest from [`Source::NONE`].
// `summary` and `tick` are read by the export pipeline only (`series` also by
// `__private::series_costs`).
#[cfg_attr(not(feature = "_export"), allow(dead_code))]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Source {
    /// Appends the part's cumulative series.
    pub(crate) series: fn(&mut Vec<Metric>),
    /// Appends the part's lines of the exit summary (each `  name: ...\n`), or nothing when
    /// it has nothing to say. The last source of the pipeline's list is the agent's own
    /// account: it appends the words that open the summary's closing `agent:` line instead
    /// (no name, no line end), which the pipeline ends with its own cost.
    pub(crate) summary: fn(&mut String),
    /// Runs on every collection tick (1 s), before the sampler and the spike detector.
    pub(crate) tick: fn(),
}

impl Source {
    /// A part that offers nothing.
    pub(crate) const NONE: Source = Source {
        series: |_| {},
        summary: |_| {},
        tick: || {},
    };
}

/// `1.5 MiB`, `12 KiB`, `300 B`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `<= 2ms`, `> 10s`: the upper bound of the bucket holding the 99th percentile.
pub(crate) fn p99(h: &HistogramSnapshot) -> String {
    match h.quantile_bound(0.99) {
        Duration::MAX => format!("> {:?}", h.bounds()[h.bounds().len() - 1]),
        d => format!("<= {d:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_bytes() {
        assert_eq!(bytes(300), "300 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 20), "3.0 MiB");
    }
}
