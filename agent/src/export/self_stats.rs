//! The export pipeline's own telemetry: per signal, its exports, their failures and
//! durations; and the CPU time of the export thread.

use super::transport::Signal;
use crate::model::series::{Data, Metric};
use crate::sys::thread_cpu_seconds;

/// The agent's own cost (self-telemetry), kept apart from the user's numbers.
#[derive(Clone, Debug, Default)]
pub(crate) struct SelfStats {
    /// Which signals are exported (the summary counts these).
    pub(crate) enabled: [bool; 3],
    /// Per signal, by [`Signal::index`].
    pub(crate) signals: [SignalStats; 3],
    /// CPU time of the export thread at the end of the last export, in seconds.
    pub(crate) cpu_seconds: f64,
}

/// The exports of one signal.
#[derive(Clone, Debug, Default)]
pub(crate) struct SignalStats {
    /// Requests sent (or written), each with its retries.
    pub(crate) exports: u64,
    pub(crate) failures: u64,
    /// Exports not made: the collector asked for a pause that was not over, or does not take
    /// the signal.
    pub(crate) held: u64,
    /// Export durations, bucketed by `EXPORT_BOUNDS_S`.
    pub(crate) counts: [u64; EXPORT_BOUNDS_S.len() + 1],
    pub(crate) sum_s: f64,
}

/// Export-duration histogram bounds in seconds.
pub(crate) const EXPORT_BOUNDS_S: [f64; 10] =
    [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0, 5.0];

impl SelfStats {
    /// No export yet, of the signals `enabled` (by [`Signal::index`]).
    pub(crate) fn new(enabled: [bool; 3]) -> SelfStats {
        SelfStats {
            enabled,
            ..SelfStats::default()
        }
    }

    /// One export of `signal`: encoding and sending took `seconds`.
    pub(crate) fn record_export(&mut self, signal: Signal, seconds: f64, ok: bool) {
        let s = &mut self.signals[signal.index()];
        let bucket = EXPORT_BOUNDS_S
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(EXPORT_BOUNDS_S.len());
        s.counts[bucket] += 1;
        s.sum_s += seconds;
        s.exports += 1;
        if !ok {
            s.failures += 1;
        }
    }

    /// An export of `signal` not made: the collector holds it back.
    pub(crate) fn record_held(&mut self, signal: Signal) {
        self.signals[signal.index()].held += 1;
    }

    /// The export thread's CPU time now (called on the export thread).
    pub(crate) fn refresh_cpu(&mut self) {
        self.cpu_seconds = thread_cpu_seconds().unwrap_or(self.cpu_seconds);
    }

    /// Exports of every signal.
    pub(crate) fn exports(&self) -> u64 {
        self.signals.iter().map(|s| s.exports).sum()
    }

    /// Failed exports of every signal.
    pub(crate) fn failures(&self) -> u64 {
        self.signals.iter().map(|s| s.failures).sum()
    }

    /// Counts one more export, not finished, as failed: of the first signal exported.
    pub(crate) fn count_unfinished(&mut self) {
        let first = Signal::ALL
            .into_iter()
            .find(|s| self.enabled[s.index()])
            .unwrap_or(Signal::Metrics);
        let s = &mut self.signals[first.index()];
        s.exports += 1;
        s.failures += 1;
    }

    pub(crate) fn metrics(&self, out: &mut Vec<Metric>) {
        if let Some(cpu) = thread_cpu_seconds() {
            out.push(Metric::new(
                "rtscope.agent.cpu.time",
                "s",
                "CPU time of the export thread.",
                Data::Counter(cpu.into()),
            ));
        }
        // Every signal, exported or not, so a dashboard has a series from the start.
        for signal in Signal::ALL {
            let s = &self.signals[signal.index()];
            out.push(
                Metric::new(
                    "rtscope.export.failures",
                    "{export}",
                    "Exports that did not reach the destination, per signal.",
                    Data::Counter(s.failures.into()),
                )
                .with_attr("rtscope.signal", signal.name()),
            );
            out.push(
                Metric::new(
                    "rtscope.export.duration",
                    "s",
                    "Time one export of a signal took, encoding and sending.",
                    Data::Histogram {
                        bounds: EXPORT_BOUNDS_S.to_vec(),
                        counts: s.counts.to_vec(),
                        count: s.exports,
                        sum: s.sum_s,
                    },
                )
                .with_attr("rtscope.signal", signal.name()),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_signal_has_its_own_counts_and_series() {
        let mut st = SelfStats::new([true, false, true]);
        st.record_export(Signal::Metrics, 0.003, true);
        st.record_export(Signal::Profiles, 0.3, false);
        st.record_held(Signal::Profiles);
        assert_eq!((st.exports(), st.failures()), (2, 1));
        let mut out = Vec::new();
        st.metrics(&mut out);
        let failures: Vec<_> = out
            .iter()
            .filter(|m| m.name == "rtscope.export.failures")
            .map(|m| (m.attributes[0].1.clone(), m.data.clone()))
            .collect();
        assert_eq!(
            failures,
            [
                ("metrics".into(), Data::Counter(0.into())),
                ("logs".into(), Data::Counter(0.into())),
                ("profiles".into(), Data::Counter(1.into()))
            ]
        );
        st.count_unfinished();
        assert_eq!(st.signals[0].exports, 2);
    }
}
