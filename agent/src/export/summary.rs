//! The report printed at exit: a few lines a person reads at a glance. Heap, the top size
//! classes (the rest folded), pools, timers, scheduler delay, spikes, sampling, where the
//! data went and what the agent cost. The words are the API's: allocations, deallocations,
//! hits, misses, fired, samples, dropped.

use super::self_stats::SelfStats;
use super::transport::Signal;
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

/// Renders the summary (no I/O), so tests can read it: each part's lines in order, then
/// what the pipeline itself knows, then the `agent:` line: the words of the last source (the
/// agent's own account, [`Source`]) and the export thread's CPU.
pub(crate) fn render(sources: &[Source], facts: &ExitFacts<'_>) -> String {
    let mut out = String::from("rtscope summary\n");
    let (account, parts) = match sources.split_last() {
        Some((last, parts)) => (Some(last), parts),
        None => (None, sources),
    };
    for source in parts {
        (source.summary)(&mut out);
    }
    sampling(&mut out, facts);
    agent(&mut out, account, facts);
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
    let taken = crate::base::hot_sampling::TAKEN.load(Relaxed);
    let dropped = crate::base::hot_sampling::DROPPED.load(Relaxed);
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
    let base = crate::base::hot_sampling::base();
    let spent = crate::base::hot_sampling::CPU_NS.load(Relaxed) as f64 / 1e6;
    let _ = write!(out, "; one every {} on average", bytes(base));
    match crate::base::hot_sampling::RAISED.load(Relaxed) {
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

fn agent(out: &mut String, account: Option<&Source>, facts: &ExitFacts<'_>) {
    let st = facts.self_stats;
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
    let mut words = String::new();
    if let Some(account) = account {
        (account.summary)(&mut words);
    }
    if !words.is_empty() {
        words.push_str(", ");
    }
    let _ = writeln!(
        out,
        "  agent: {words}export thread CPU {:.1} ms",
        st.cpu_seconds * 1e3
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each part's lines in order, the pipeline's, then the `agent:` line the last source
    /// (the agent's account) opens and the pipeline ends with the export thread's CPU.
    #[test]
    fn the_last_source_opens_the_agent_line() {
        let sources = [
            Source {
                summary: |out| out.push_str("  part: one\n"),
                ..Source::NONE
            },
            Source {
                summary: |out| out.push_str("allocated 1.0 KiB (512 B live)"),
                ..Source::NONE
            },
        ];
        let mut stats = SelfStats::new([true, false, false]);
        stats.cpu_seconds = 0.0125;
        let facts = ExitFacts {
            destination: "file x",
            self_stats: &stats,
            top_scopes: &[],
            backlog_dropped: 0,
            report_file: None,
        };
        let text = render(&sources, &facts);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "rtscope summary");
        assert_eq!(lines[1], "  part: one", "{text}");
        assert!(
            lines[2].starts_with("  data: 0 exports to file x"),
            "{text}"
        );
        assert_eq!(
            lines[3], "  agent: allocated 1.0 KiB (512 B live), export thread CPU 12.5 ms",
            "{text}"
        );
        assert_eq!(lines.len(), 4, "{text}");
        // An account with nothing to say: the line still says what the pipeline cost.
        let text = render(&[sources[0], Source::NONE], &facts);
        assert!(
            text.ends_with("  agent: export thread CPU 12.5 ms\n"),
            "{text}"
        );
    }
}
