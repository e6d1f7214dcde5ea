//! The export pipeline's own telemetry: exports, their failures and durations, and the CPU
//! time of the export thread.

use crate::model::series::{Data, Metric};
use crate::sys::thread_cpu_seconds;

/// The agent's own cost (self-telemetry), kept apart from the user's numbers.
#[derive(Clone, Debug, Default)]
pub(crate) struct SelfStats {
    pub(crate) exports: u64,
    pub(crate) export_failures: u64,
    /// Export durations in nanoseconds, bucketed by `EXPORT_BOUNDS_S`.
    pub(crate) export_counts: [u64; EXPORT_BOUNDS_S.len() + 1],
    pub(crate) export_sum_s: f64,
    /// CPU time of the export thread at the end of the last export, in seconds.
    pub(crate) cpu_seconds: f64,
}

/// Export-duration histogram bounds in seconds.
pub(crate) const EXPORT_BOUNDS_S: [f64; 10] =
    [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1.0, 5.0];

impl SelfStats {
    pub(crate) fn record_export(&mut self, seconds: f64, ok: bool) {
        let bucket = EXPORT_BOUNDS_S
            .iter()
            .position(|&b| seconds <= b)
            .unwrap_or(EXPORT_BOUNDS_S.len());
        self.export_counts[bucket] += 1;
        self.export_sum_s += seconds;
        self.exports += 1;
        if !ok {
            self.export_failures += 1;
        }
        // Called on the export thread.
        self.cpu_seconds = thread_cpu_seconds().unwrap_or(self.cpu_seconds);
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
        out.push(Metric::new(
            "rtscope.export.failures",
            "{export}",
            "Exports that did not reach the destination.",
            Data::Counter(self.export_failures.into()),
        ));
        let counts = self.export_counts.to_vec();
        out.push(Metric::new(
            "rtscope.export.duration",
            "s",
            "Time one export took, encoding and sending.",
            Data::Histogram {
                bounds: EXPORT_BOUNDS_S.to_vec(),
                counts,
                count: self.exports,
                sum: self.export_sum_s,
            },
        ));
    }
}
