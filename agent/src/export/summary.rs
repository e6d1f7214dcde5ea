//! The report printed at exit: a few lines a person reads at a glance. Heap, the top size
//! classes (the rest folded), pools, timers, scheduler delay, spikes, sampling, where the
//! data went and what the agent cost. The words are the API's: allocations, deallocations,
//! hits, misses, fired, samples, dropped.

use super::collect::SelfStats;
use crate::alloc::{AllocStats, agent_stats, stats};
use crate::spike::context::bytes;
use crate::sys::resident_bytes;
use crate::time::HistogramSnapshot;
use std::fmt::Write;
use std::time::Duration;

/// Size classes listed by name; the others are folded into one "other classes" entry.
const TOP_CLASSES: usize = 5;
/// Pools listed by name; the others are folded.
const TOP_POOLS: usize = 3;

/// What the export side knows at exit that the shards do not.
#[derive(Debug)]
pub(crate) struct ExitFacts<'a> {
    /// Where the data went, as `Sink::describe` says it.
    pub(crate) destination: &'a str,
    pub(crate) self_stats: &'a SelfStats,
    /// The top sampled scopes with their estimated bytes.
    pub(crate) top_scopes: &'a [(String, u64)],
    /// Events dropped from the export backlog.
    pub(crate) backlog_dropped: u64,
}

/// Renders the summary (no I/O), so tests can read it.
pub(crate) fn render(facts: &ExitFacts<'_>) -> String {
    let s = stats();
    let mut out = String::from("rtscope summary\n");
    heap(&mut out, &s);
    classes(&mut out, &s);
    pools(&mut out);
    timers_and_scheduler(&mut out);
    spikes(&mut out);
    sampling(&mut out, facts);
    agent(&mut out, facts);
    out
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

fn pools(out: &mut String) {
    let mut all = crate::pool::all_stats();
    all.retain(|(_, p)| p.gets() > 0 || p.puts() > 0);
    if all.is_empty() {
        return;
    }
    all.sort_by_key(|(_, p)| std::cmp::Reverse(p.gets()));
    let mut parts: Vec<String> = all
        .iter()
        .take(TOP_POOLS)
        .map(|(name, p)| {
            format!(
                "{name} {} hits, {} misses ({:.1}% hits)",
                p.hits,
                p.misses,
                100.0 * p.hits as f64 / p.gets().max(1) as f64
            )
        })
        .collect();
    if all.len() > TOP_POOLS {
        parts.push(format!("{} more", all.len() - TOP_POOLS));
    }
    let _ = writeln!(out, "  pools: {}", parts.join("; "));
}

/// `<= 2ms`, `> 10s`: the upper bound of the bucket holding the quantile.
fn p99(h: &HistogramSnapshot) -> String {
    match h.quantile_bound(0.99) {
        Duration::MAX => format!("> {:?}", h.bounds()[h.bounds().len() - 1]),
        d => format!("<= {d:?}"),
    }
}

fn timers_and_scheduler(out: &mut String) {
    let t = crate::time::stats();
    if t.started > 0 || t.lateness.count > 0 {
        let _ = writeln!(
            out,
            "  timers: {} fired, {} cancelled, {} pending; p99 lateness {}",
            t.fired,
            t.cancelled,
            t.pending,
            p99(&t.lateness)
        );
    }
    let s = crate::task::stats();
    let mut parts = Vec::new();
    if s.task_delay.count > 0 {
        parts.push(format!(
            "tasks p99 {} over {} polls",
            p99(&s.task_delay),
            s.task_delay.count
        ));
    }
    if s.probe_delay.count > 0 {
        parts.push(format!("runtime probe p99 {}", p99(&s.probe_delay)));
    }
    if s.slow_polls > 0 {
        parts.push(format!("{} slow polls", s.slow_polls));
    }
    if !parts.is_empty() {
        let _ = writeln!(out, "  scheduler delay: {}", parts.join(", "));
    }
}

fn spikes(out: &mut String) {
    let (emitted, first) = crate::spike::emitted();
    if emitted == 0 {
        return;
    }
    let _ = write!(out, "  spikes: {emitted} emitted");
    if let Some(first) = first {
        let _ = write!(out, "; the first: {first}");
    }
    out.push('\n');
}

fn sampling(out: &mut String, facts: &ExitFacts<'_>) {
    use std::sync::atomic::Ordering::Relaxed;
    let taken = crate::sampling::TAKEN.load(Relaxed);
    let dropped = crate::sampling::DROPPED.load(Relaxed);
    if taken == 0 && dropped == 0 && facts.backlog_dropped == 0 {
        return;
    }
    let _ = write!(out, "  sampling: {taken} samples");
    if dropped + facts.backlog_dropped == 0 {
        let _ = write!(out, ", none dropped");
    } else {
        let _ = write!(
            out,
            ", {dropped} dropped at the full queue (their bytes still count), {} events dropped from the export backlog",
            facts.backlog_dropped
        );
    }
    if !facts.top_scopes.is_empty() {
        let total: u64 = facts.top_scopes.iter().map(|(_, b)| b).sum();
        let list: Vec<String> = facts
            .top_scopes
            .iter()
            .map(|(name, b)| {
                format!(
                    "{name} {} ({:.0}%)",
                    bytes(*b),
                    100.0 * *b as f64 / total.max(1) as f64
                )
            })
            .collect();
        let _ = write!(out, "; estimated bytes by scope: {}", list.join(", "));
    }
    out.push('\n');
}

fn agent(out: &mut String, facts: &ExitFacts<'_>) {
    let st = facts.self_stats;
    let agent = agent_stats();
    let failed = if st.export_failures == 0 {
        "none failed".to_owned()
    } else {
        format!("{} failed", st.export_failures)
    };
    let _ = writeln!(
        out,
        "  data: {} export{} to {} ({failed})",
        st.exports,
        if st.exports == 1 { "" } else { "s" },
        facts.destination
    );
    let _ = writeln!(
        out,
        "  agent: allocated {} ({} live), export thread CPU {:.1} ms",
        bytes(agent.allocated_bytes),
        bytes(agent.live_bytes),
        st.cpu_seconds * 1e3
    );
}
