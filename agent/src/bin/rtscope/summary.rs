//! `rtscope summary FILE`: the exit summary, recomputed from what the file holds, in the
//! words the agent prints at exit (heap, size classes, pools, timers, scheduler delay,
//! spikes, heap profile, sampling, data, the agent's cost). What only the running process
//! knew (the live bytes of each size class, samples dropped before export) is left out.

use crate::report::{Hist, Run};
use std::fmt::Write as _;
use std::time::Duration;

/// Size classes named before the rest are folded, as at exit.
const TOP_CLASSES: usize = 5;
/// Pools named before the rest are counted, as at exit.
const TOP_POOLS: usize = 3;
/// Scopes listed with their estimated bytes.
const TOP_SCOPES: usize = 5;

/// The summary of `run`, read from `sources` (names as shown).
pub(crate) fn render(run: &Run, sources: &[String]) -> String {
    let mut out = String::new();
    if run.exports == 0 {
        let _ = writeln!(
            out,
            "rtscope summary: no metrics in {} ({} lines, {} skipped): is it an rtscope \
             OTLP/JSON file (RTSCOPE_FILE, default ./rtscope-otlp.jsonl)?",
            sources.join(", "),
            run.lines,
            run.skipped
        );
        return out;
    }
    let _ = write!(
        out,
        "rtscope summary of {} (process {}), {:.1} s of data in {}",
        crate::shown(&run.service),
        crate::shown(&run.pid),
        run.end_ns.saturating_sub(run.start_ns) as f64 / 1e9,
        sources.join(", ")
    );
    if run.other_runs > 0 {
        let _ = write!(out, " ({} earlier run(s) not shown)", run.other_runs);
    }
    out.push('\n');
    heap(&mut out, run);
    classes(&mut out, run);
    pools(&mut out, run);
    timers(&mut out, run);
    schedule(&mut out, run);
    spikes(&mut out, run);
    profile(&mut out, run);
    sampling(&mut out, run);
    let t = |name: &str| total(run, name);
    let failed = match t("rtscope.export.failures") as u64 {
        0 => "none failed".to_owned(),
        n => format!("{n} failed"),
    };
    // As the exit summary counts them: one export a request, each signal's own when there is
    // more than one.
    let exports: usize = run.signal_lines.iter().sum();
    let _ = write!(
        out,
        "  data: {exports} export{} in the file ({failed})",
        if exports == 1 { "" } else { "s" }
    );
    let signals: Vec<String> = ["metrics", "logs", "profiles"]
        .iter()
        .zip(run.signal_lines)
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name} {n}"))
        .collect();
    if signals.len() > 1 {
        let _ = write!(out, ": {}", signals.join(", "));
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "  agent: allocated {} ({} live), export thread CPU {:.1} ms",
        bytes(t("rtscope.agent.memory.allocated")),
        bytes(t("rtscope.agent.memory.used")),
        t("rtscope.agent.cpu.time") * 1e3
    );
    out
}

fn total(run: &Run, name: &str) -> f64 {
    run.totals.get(name).copied().unwrap_or(0.0)
}

fn heap(out: &mut String, run: &Run) {
    let t = |name: &str| total(run, name) as u64;
    let live = t("rust.memory.used");
    let _ = write!(
        out,
        "  heap: live {} in {} objects, peak {}; {} allocations ({}), {} deallocations",
        bytes(live as f64),
        t("rust.memory.objects"),
        bytes(t("rust.memory.used.peak") as f64),
        t("rust.memory.allocations"),
        bytes(t("rust.memory.allocated") as f64),
        t("rust.memory.deallocations"),
    );
    if t("rust.memory.reallocations") > 0 {
        let _ = write!(out, ", {} reallocations", t("rust.memory.reallocations"));
    }
    if t("rust.memory.allocation.failures") > 0 {
        let _ = write!(out, ", {} failures", t("rust.memory.allocation.failures"));
    }
    if let Some(rss) = run.totals.get("process.memory.usage") {
        let _ = write!(
            out,
            "; resident {} (live heap {:.0}% of it)",
            bytes(*rss),
            100.0 * live as f64 / rss.max(1.0)
        );
    }
    out.push('\n');
}

fn classes(out: &mut String, run: &Run) {
    let Some(h) = run.classes.as_ref().filter(|h| h.count() > 0) else {
        return;
    };
    let label = |i: usize| match h.bounds.get(i) {
        Some(b) => format!("<= {}", bytes(*b)),
        None => format!("over {}", bytes(h.bounds.last().copied().unwrap_or(0.0))),
    };
    let mut used: Vec<(usize, u64)> = h
        .counts
        .iter()
        .copied()
        .enumerate()
        .filter(|(_, c)| *c > 0)
        .collect();
    used.sort_by_key(|(i, c)| (std::cmp::Reverse(*c), *i));
    let share = |n: u64| 100.0 * n as f64 / h.count().max(1) as f64;
    let mut parts: Vec<String> = used
        .iter()
        .take(TOP_CLASSES)
        .map(|(i, c)| format!("{} {:.0}%", label(*i), share(*c)))
        .collect();
    let rest = &used[used.len().min(TOP_CLASSES)..];
    if !rest.is_empty() {
        let n: u64 = rest.iter().map(|(_, c)| c).sum();
        parts.push(format!("{} other classes {:.0}%", rest.len(), share(n)));
    }
    let _ = writeln!(out, "  size classes by allocations: {}", parts.join(", "));
}

fn pools(out: &mut String, run: &Run) {
    let mut all: Vec<_> = run
        .pools
        .iter()
        .filter(|(_, p)| p.hits + p.misses + p.stored + p.discarded > 0)
        .collect();
    if all.is_empty() {
        return;
    }
    all.sort_by_key(|(_, p)| std::cmp::Reverse(p.hits + p.misses));
    let mut parts: Vec<String> = all
        .iter()
        .take(TOP_POOLS)
        .map(|(name, p)| {
            format!(
                "{} {} hits, {} misses ({:.1}% hits)",
                crate::shown(name),
                p.hits,
                p.misses,
                100.0 * p.hits as f64 / (p.hits + p.misses).max(1) as f64
            )
        })
        .collect();
    if all.len() > TOP_POOLS {
        parts.push(format!("{} more", all.len() - TOP_POOLS));
    }
    let _ = writeln!(out, "  pools: {}", parts.join("; "));
}

fn timers(out: &mut String, run: &Run) {
    let t = |name: &str| total(run, name) as u64;
    let fired = run.lateness.as_ref().map_or(0, Hist::count);
    if t("rust.timer.started") == 0 && fired == 0 {
        return;
    }
    let _ = writeln!(
        out,
        "  timers: {} fired, {} cancelled, {} pending; p99 lateness {}",
        t("rust.timer.fired"),
        t("rust.timer.cancelled"),
        t("rust.timer.pending"),
        run.lateness.as_ref().map_or_else(String::new, p99)
    );
}

fn schedule(out: &mut String, run: &Run) {
    let mut parts = Vec::new();
    if let Some(h) = run.schedule.get("task").filter(|h| h.count() > 0) {
        parts.push(format!("tasks p99 {} over {} polls", p99(h), h.count()));
    }
    if let Some(h) = run.schedule.get("probe").filter(|h| h.count() > 0) {
        parts.push(format!("runtime probe p99 {}", p99(h)));
    }
    let slow = total(run, "rust.task.slow_polls") as u64;
    if slow > 0 {
        parts.push(format!("{slow} slow polls"));
    }
    if !parts.is_empty() {
        let _ = writeln!(out, "  scheduler delay: {}", parts.join(", "));
    }
}

fn spikes(out: &mut String, run: &Run) {
    let emitted = (total(run, "rtscope.spikes.emitted") as u64).max(run.spikes.len() as u64);
    if emitted == 0 {
        return;
    }
    let _ = write!(out, "  spikes: {emitted} emitted");
    if let Some(first) = run.spikes.first() {
        let _ = write!(out, "; the first:");
        for line in first.sentence.lines() {
            let _ = write!(out, "\n    {}", crate::shown_at_most(line, 2000));
        }
    } else {
        out.push_str(" (their events are not in the file: OTEL_LOGS_EXPORTER)");
    }
    out.push('\n');
}

fn profile(out: &mut String, run: &Run) {
    if run.stacks_allocated.is_empty() {
        return;
    }
    let list = |v: &[(String, u64)]| {
        v.iter()
            .take(3)
            .map(|(f, b)| format!("{} {}", crate::shown(f), bytes(*b as f64)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let holding = if run.stacks_inuse.is_empty() {
        "nothing held when the last profile was taken".to_owned()
    } else {
        list(&run.stacks_inuse)
    };
    let _ = writeln!(
        out,
        "  heap profile: in use by stack (top 3): {holding}; allocated most: {}",
        list(&run.stacks_allocated)
    );
}

fn sampling(out: &mut String, run: &Run) {
    if run.samples == 0 && run.scopes.is_empty() {
        return;
    }
    let _ = write!(out, "  sampling: {} samples in the file", run.samples);
    let mut scopes: Vec<(&String, &u64)> = run.scopes.iter().filter(|(_, b)| **b > 0).collect();
    scopes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    scopes.truncate(TOP_SCOPES);
    if !scopes.is_empty() {
        let all: u64 = run.scopes.values().sum();
        let list: Vec<String> = scopes
            .iter()
            .map(|(name, b)| {
                format!(
                    "{} {} ({:.0}%)",
                    crate::shown(name),
                    bytes(**b as f64),
                    100.0 * **b as f64 / all.max(1) as f64
                )
            })
            .collect();
        let _ = write!(out, "; estimated bytes by scope: {}", list.join(", "));
    }
    out.push('\n');
}

/// `<= 2ms`, `> 10s`: the upper bound of the bucket holding the 99th percentile, as the
/// agent says it.
fn p99(h: &Hist) -> String {
    let rank = ((0.99 * h.count() as f64).ceil() as u64).max(1);
    let mut seen = 0;
    let as_duration = |s: f64| Duration::from_nanos((s * 1e9).round() as u64);
    for (i, c) in h.counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return match h.bounds.get(i) {
                Some(b) => format!("<= {:?}", as_duration(*b)),
                None => break,
            };
        }
    }
    format!(
        "> {:?}",
        as_duration(h.bounds.last().copied().unwrap_or(0.0))
    )
}

/// `300 B`, `1.5 KiB`, `3.0 MiB`, as the agent says it.
fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n.max(0.0);
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_as_the_agent_says_them() {
        assert_eq!(bytes(300.0), "300 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(3.0 * 1024.0 * 1024.0), "3.0 MiB");
        let h = Hist {
            bounds: vec![0.001, 0.02],
            counts: vec![50, 50, 0],
            sum: 0.0,
        };
        assert_eq!(p99(&h), "<= 20ms");
        let over = Hist {
            bounds: vec![0.001, 0.02],
            counts: vec![0, 0, 3],
            sum: 0.0,
        };
        assert_eq!(p99(&over), "> 20ms");
    }

    #[test]
    fn an_empty_file_says_what_it_expected() {
        let run = crate::report::read(vec![Box::new(std::io::Cursor::new(b"x\n".to_vec()))]);
        let text = render(&run, &["f.jsonl".to_owned()]);
        assert!(
            text.starts_with("rtscope summary: no metrics in f.jsonl"),
            "{text}"
        );
    }
}
