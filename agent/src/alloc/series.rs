//! The allocator as a part: its series (the user's heap, the process's resident memory and
//! the agent's own account) and its lines of the exit summary, offered to the export
//! pipeline through [`SOURCE`] and [`AGENT_SOURCE`].

use super::{AllocStats, CLASS_SIZES, NUM_CLASSES, agent_stats, check_peak, stats};
use crate::model::series::{Data, Metric};
use crate::model::{Source, bytes};
use crate::sys::resident_bytes;
use std::fmt::Write;

/// The user's heap and the process's resident memory.
pub(crate) const SOURCE: Source = Source {
    series: |out| {
        let s = stats();
        alloc_metrics(&s, out);
        process_metrics(s.live_bytes, out);
    },
    summary,
    // Raises the recorded peak to the live total now, between exports.
    tick: || {
        check_peak();
    },
};

/// The agent's own allocations (self-telemetry, `rtscope.agent.memory.*`): the agent's
/// account, last in the pipeline's list, so its words lead the summary's closing `agent:` line.
pub(crate) const AGENT_SOURCE: Source = Source {
    series: agent_metrics,
    summary: agent_words,
    ..Source::NONE
};

/// The agent's account in the exit summary's `agent:` line: `allocated 1.2 MiB (300 KiB
/// live)`, without the line's name or end (the pipeline adds its own cost after it).
fn agent_words(out: &mut String) {
    let agent = agent_stats();
    let _ = write!(
        out,
        "allocated {} ({} live)",
        bytes(agent.allocated_bytes),
        bytes(agent.live_bytes)
    );
}

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

/// The agent's own account.
fn agent_metrics(out: &mut Vec<Metric>) {
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
}

/// Size classes listed by name in the exit summary; the others are folded into one "other
/// classes" entry.
const TOP_CLASSES: usize = 5;

/// The heap line and the size-class line of the exit summary.
fn summary(out: &mut String) {
    let s = stats();
    heap(out, &s);
    classes(out, &s);
}

fn heap(out: &mut String, s: &AllocStats) {
    let _ = write!(
        out,
        "  heap: live {} in {} objects, peak {}; {} allocations ({}), {} deallocations",
        bytes(s.live_bytes),
        s.live_objects,
        bytes(s.peak_live_bytes),
        s.allocations,
        bytes(s.allocated_bytes),
        s.deallocations,
    );
    if s.reallocations > 0 {
        let _ = write!(out, ", {} reallocations", s.reallocations);
    }
    if s.failures > 0 {
        let _ = write!(out, ", {} failures", s.failures);
    }
    if let Some(rss) = resident_bytes() {
        let _ = write!(
            out,
            "; resident {} (live heap {:.0}% of it)",
            bytes(rss),
            100.0 * s.live_bytes as f64 / rss.max(1) as f64
        );
    }
    out.push('\n');
}

fn class_label(size: u64) -> String {
    if size == u64::MAX {
        "over 1 TiB".into()
    } else {
        format!("<= {}", bytes(size))
    }
}

/// The classes with the most allocations, each with its share of all allocations and its
/// live bytes; the rest in one entry.
fn classes(out: &mut String, s: &AllocStats) {
    let mut used: Vec<_> = s.classes.iter().filter(|c| c.allocations > 0).collect();
    if used.is_empty() {
        return;
    }
    used.sort_by_key(|c| std::cmp::Reverse(c.allocations));
    let share = |n: u64| 100.0 * n as f64 / s.allocations.max(1) as f64;
    let mut parts: Vec<String> = used
        .iter()
        .take(TOP_CLASSES)
        .map(|c| {
            format!(
                "{} {:.0}% ({} live)",
                class_label(c.size),
                share(c.allocations),
                bytes(c.live_bytes())
            )
        })
        .collect();
    let rest = &used[used.len().min(TOP_CLASSES)..];
    if !rest.is_empty() {
        let allocations: u64 = rest.iter().map(|c| c.allocations).sum();
        let live: u64 = rest.iter().map(|c| c.live_bytes()).sum();
        parts.push(format!(
            "{} other classes {:.0}% ({} live)",
            rest.len(),
            share(allocations),
            bytes(live)
        ));
    }
    let _ = writeln!(out, "  size classes by allocations: {}", parts.join(", "));
}
