//! One collection: every series the agent exports, as cumulative values (see `model`).

use super::model::{Data, Metric};
use crate::alloc::{AllocStats, CLASS_SIZES, NUM_CLASSES, agent_stats, stats};
use crate::sys::{resident_bytes, thread_cpu_seconds};

/// Bounds of the allocation size histogram: every class's upper bound but the overflow one,
/// so bucket `i` is exactly size class `i` (the last bucket is the overflow class).
pub(crate) fn size_bounds() -> Vec<f64> {
    CLASS_SIZES[..NUM_CLASSES - 1]
        .iter()
        .map(|&b| b as f64)
        .collect()
}

/// Allocator series from a snapshot.
pub(crate) fn alloc_metrics(s: &AllocStats, out: &mut Vec<Metric>) {
    out.push(Metric::new(
        "rust.memory.allocation.size",
        "By",
        "Requested size of each allocation; buckets are the allocator size classes.",
        Data::Histogram {
            bounds: size_bounds(),
            counts: s.classes.iter().map(|c| c.allocations).collect(),
            count: s.allocations,
            sum: s.allocated_bytes as f64,
        },
    ));
    let counters: [(&'static str, &'static str, &'static str, u64); 5] = [
        (
            "rust.memory.allocated",
            "By",
            "Bytes requested by allocations.",
            s.allocated_bytes,
        ),
        (
            "rust.memory.freed",
            "By",
            "Bytes released by deallocations.",
            s.freed_bytes,
        ),
        (
            "rust.memory.allocations",
            "{allocation}",
            "Allocations.",
            s.allocations,
        ),
        (
            "rust.memory.deallocations",
            "{deallocation}",
            "Deallocations.",
            s.deallocations,
        ),
        (
            "rust.memory.allocation.failures",
            "{failure}",
            "Requests the allocator refused.",
            s.failures,
        ),
    ];
    for (name, unit, desc, v) in counters {
        out.push(Metric::new(name, unit, desc, Data::Counter(v.into())));
    }
    for (kind, v) in [
        ("in_place", s.reallocations_in_place),
        ("moved", s.reallocations_moved),
    ] {
        out.push(
            Metric::new(
                "rust.memory.reallocations",
                "{reallocation}",
                "Successful reallocations, by whether the block kept its address.",
                Data::Counter(v.into()),
            )
            .with_attr("rust.memory.realloc.kind", kind),
        );
    }
    out.push(Metric::new(
        "rust.memory.used",
        "By",
        "Requested bytes allocated and not yet freed (live heap).",
        Data::UpDown(s.live_bytes.into()),
    ));
    out.push(Metric::new(
        "rust.memory.objects",
        "{object}",
        "Allocations not yet freed.",
        Data::UpDown(s.live_objects.into()),
    ));
    out.push(Metric::new(
        "rust.memory.used.peak",
        "By",
        "Highest live heap seen (checked every 256 KiB a thread allocates).",
        Data::Gauge(s.peak_live_bytes.into()),
    ));
    out.push(Metric::new(
        "rust.memory.fragmentation.internal",
        "By",
        "Size-class rounding over live allocations: class size minus requested size.",
        Data::UpDown(s.fragmentation_bytes.into()),
    ));
}

/// OS view of memory: RSS and the share of it the live heap does not explain.
pub(crate) fn process_metrics(live_bytes: u64, out: &mut Vec<Metric>) {
    let Some(rss) = resident_bytes() else { return };
    out.push(Metric::new(
        "process.memory.usage",
        "By",
        "Resident set size of the process.",
        Data::UpDown(rss.into()),
    ));
    let unexplained = rss.saturating_sub(live_bytes);
    let ratio = if rss == 0 {
        0.0
    } else {
        unexplained as f64 / rss as f64
    };
    out.push(Metric::new(
        "rust.memory.fragmentation.external",
        "1",
        "Share of resident memory not explained by the live heap: (RSS - live) / RSS.",
        Data::Gauge(ratio.into()),
    ));
}

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
        let agent = agent_stats();
        out.push(Metric::new(
            "rtscope.agent.memory.allocated",
            "By",
            "Bytes the agent itself allocated (excluded from rust.memory.*).",
            Data::Counter(agent.allocated_bytes.into()),
        ));
        out.push(Metric::new(
            "rtscope.agent.memory.allocations",
            "{allocation}",
            "Allocations the agent itself made.",
            Data::Counter(agent.allocations.into()),
        ));
        out.push(Metric::new(
            "rtscope.agent.memory.used",
            "By",
            "Live bytes allocated by the agent itself.",
            Data::UpDown(agent.live_bytes.into()),
        ));
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

/// Everything, now.
pub(crate) fn collect_all(self_stats: &SelfStats) -> (AllocStats, Vec<Metric>) {
    let s = stats();
    let mut out = Vec::with_capacity(64);
    alloc_metrics(&s, &mut out);
    process_metrics(s.live_bytes, &mut out);
    super::sources::collect(&mut out);
    self_stats.metrics(&mut out);
    (s, out)
}
