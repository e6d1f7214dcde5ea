//! The human summary printed at exit: totals, the size-class table and the agent's own cost.

use super::collect::{SelfStats, resident_bytes};
use crate::alloc::{agent_stats, stats};
use crate::spike::context::bytes;
use std::fmt::Write;

fn class_label(size: u64) -> String {
    if size == u64::MAX {
        "overflow".into()
    } else {
        bytes(size)
    }
}

/// Renders the summary (no I/O), so tests can read it.
pub(crate) fn render(
    destination: &str,
    self_stats: &SelfStats,
    top_scopes: &[(String, u64)],
    backlog_dropped: u64,
) -> String {
    let s = stats();
    let agent = agent_stats();
    let mut out = String::new();
    let _ = writeln!(out, "rtscope summary");
    let _ = writeln!(
        out,
        "  heap: {} allocations ({}), {} frees, live {} in {} objects, peak {}",
        s.allocations,
        bytes(s.allocated_bytes),
        s.deallocations,
        bytes(s.live_bytes),
        s.live_objects,
        bytes(s.peak_live_bytes)
    );
    let _ = writeln!(
        out,
        "  reallocations: {} ({} in place, {} moved); failures: {}; internal fragmentation: {}",
        s.reallocations,
        s.reallocations_in_place,
        s.reallocations_moved,
        s.failures,
        bytes(s.fragmentation_bytes)
    );
    if let Some(rss) = resident_bytes() {
        let _ = writeln!(
            out,
            "  resident: {} (live heap explains {:.0}%)",
            bytes(rss),
            100.0 * s.live_bytes as f64 / rss.max(1) as f64
        );
    }
    let _ = writeln!(
        out,
        "  {:>10} {:>12} {:>12} {:>12} {:>12}",
        "class", "allocs", "bytes", "live objs", "live bytes"
    );
    for c in s.classes.iter().filter(|c| c.allocations > 0) {
        let _ = writeln!(
            out,
            "  {:>10} {:>12} {:>12} {:>12} {:>12}",
            class_label(c.size),
            c.allocations,
            bytes(c.allocated_bytes),
            c.live_objects(),
            bytes(c.live_bytes())
        );
    }
    if !top_scopes.is_empty() {
        let total: u64 = top_scopes.iter().map(|(_, b)| b).sum();
        let list: Vec<String> = top_scopes
            .iter()
            .map(|(name, b)| {
                format!(
                    "{name} {} ({:.0}%)",
                    bytes(*b),
                    100.0 * *b as f64 / total.max(1) as f64
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "  sampled allocations by scope (estimated): {}",
            list.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "  events: {} allocation samples taken, {} dropped at the full sample queue, {} dropped from the export backlog",
        crate::sampling::TAKEN.load(std::sync::atomic::Ordering::Relaxed),
        crate::sampling::DROPPED.load(std::sync::atomic::Ordering::Relaxed),
        backlog_dropped
    );
    let _ = writeln!(
        out,
        "  agent: {} exports to {} ({} failed), agent allocated {} ({} live), export thread CPU {:.1} ms",
        self_stats.exports,
        destination,
        self_stats.export_failures,
        bytes(agent.allocated_bytes),
        bytes(agent.live_bytes),
        self_stats.cpu_seconds * 1e3
    );
    out
}
