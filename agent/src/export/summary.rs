//! The report printed at exit: a few lines a person reads at a glance. Heap, the top size
//! classes (the rest folded), pools, timers, scheduler delay, spikes, sampling, where the
//! data went and what the agent cost. The words are the API's: allocations, deallocations,
//! hits, misses, fired, samples, dropped.

use super::self_stats::SelfStats;
use super::transport::Signal;
use crate::alloc::agent_stats;
use crate::base::text::{PATH_CHARS, shown};
use crate::model::{Source, bytes};
use std::fmt::Write;
use std::path::Path;

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
    /// The file the data went to, as one shell word, when it went to a file: the summary
    /// ends with the command that makes its report page.
    pub(crate) report_file: Option<&'a str>,
}

/// Renders the summary (no I/O), so tests can read it: each source's lines in order, then
/// what the pipeline itself knows.
pub(crate) fn render(sources: &[Source], facts: &ExitFacts<'_>) -> String {
    let mut out = String::from("rtscope summary\n");
    for source in sources {
        (source.summary)(&mut out);
    }
    sampling(&mut out, facts);
    agent(&mut out, facts);
    if let Some(file) = facts.report_file {
        let _ = writeln!(out, "  report: rtscope report {file} > rtscope-report.html");
    }
    out
}

/// `path` as one word for a POSIX shell: as it is when plain, else in single quotes (with
/// control characters escaped: shown, never sent to the terminal).
pub(crate) fn shell_word(path: &Path) -> String {
    let text = path.to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.into_owned()
    } else {
        format!(
            "'{}'",
            shown(&text.replace('\'', r"'\''"), PATH_CHARS, false)
        )
    }
}

fn sampling(out: &mut String, facts: &ExitFacts<'_>) {
    use std::sync::atomic::Ordering::Relaxed;
    let taken = crate::base::sampling::TAKEN.load(Relaxed);
    let dropped = crate::base::sampling::DROPPED.load(Relaxed);
    if taken == 0 && dropped == 0 && facts.backlog_dropped == 0 {
        return;
    }
    let _ = write!(out, "  sampling: {taken} samples");
    if dropped + facts.backlog_dropped == 0 {
        let _ = write!(out, ", none dropped");
    } else {
        let _ = write!(
            out,
            ", {dropped} records dropped at the full queue (their bytes still count), {} events dropped from the export backlog",
            facts.backlog_dropped
        );
    }
    // After the counts, which tools read as the line's first three whole numbers.
    let base = crate::base::sampling::base();
    let spent = crate::base::sampling::CPU_NS.load(Relaxed) as f64 / 1e6;
    let _ = write!(out, "; one every {} on average", bytes(base));
    match crate::base::sampling::RAISED.load(Relaxed) {
        0 => {}
        raised => {
            let _ = write!(out, ", raised {raised} times by the CPU budget");
        }
    }
    let _ = write!(out, ", {spent:.1} ms in the sample path");
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
    let (exports, failures) = (st.exports(), st.failures());
    let failed = if failures == 0 {
        "none failed".to_owned()
    } else {
        format!("{failures} failed")
    };
    let _ = write!(
        out,
        "  data: {exports} export{} to {} ({failed})",
        if exports == 1 { "" } else { "s" },
        facts.destination
    );
    // Each signal's own count, when there is more than one.
    let enabled: Vec<Signal> = Signal::ALL
        .into_iter()
        .filter(|s| st.enabled[s.index()])
        .collect();
    if enabled.len() > 1 {
        let parts: Vec<String> = enabled
            .iter()
            .map(|s| {
                let n = &st.signals[s.index()];
                let mut notes = Vec::new();
                if n.failures > 0 {
                    notes.push(format!("{} failed", n.failures));
                }
                if n.held > 0 {
                    notes.push(format!("{} held back", n.held));
                }
                match notes.is_empty() {
                    true => format!("{} {}", s.name(), n.exports),
                    false => format!("{} {} ({})", s.name(), n.exports, notes.join(", ")),
                }
            })
            .collect();
        let _ = write!(out, ": {}", parts.join(", "));
    }
    out.push('\n');
    let _ = writeln!(
        out,
        "  agent: allocated {} ({} live), export thread CPU {:.1} ms",
        bytes(agent.allocated_bytes),
        bytes(agent.live_bytes),
        st.cpu_seconds * 1e3
    );
}
