//! Scheduler delay of tasks and threads: how long runnable work waited before it ran.
//!
//! - [`instrument`] wraps any future (any executor): each poll records its delay since the
//!   wake that made the task runnable, and its duration; `spawn` (feature `tokio`) spawns
//!   an instrumented task.
//! - `start_probe` (feature `tokio`) starts a task that asks to be woken at a fixed period
//!   and records how late it is polled: runtime-wide, without touching the application's
//!   tasks. `#[rtscope::main]` starts it on async mains.
//! - [`thread_delays`]: the kernel's run-queue wait of every thread, by thread name.
//! - `register_runtime` (feature `tokio`): a tokio runtime's own metrics as `tokio.*` series
//!   (`runtime.rs`), read on the export thread.
//!
//! ```
//! # #[cfg(feature = "tokio")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let blocker = rtscope::task::spawn(async {
//!     std::thread::sleep(std::time::Duration::from_millis(5)); // blocks the only worker
//! });
//! let behind = rtscope::task::spawn(async {});
//! blocker.await.unwrap();
//! behind.await.unwrap();
//! let s = rtscope::task::stats();
//! assert!(s.task_delay.count_over(std::time::Duration::from_millis(5)) >= 1);
//! # }
//! # #[cfg(not(feature = "tokio"))]
//! # fn main() {}
//! ```
//!
//! # Metrics
//!
//! | name | instrument | unit | attributes | meaning |
//! |---|---|---|---|---|
//! | `rust.schedule.duration` | Histogram (1 µs .. 10 s) | `s` | `rust.schedule.kind` = `task` \| `probe` \| `thread`; `thread.name` for `thread` | time runnable work waited before it ran |
//! | `rust.task.poll.duration` | Histogram (1 µs .. 10 s) | `s` | | duration of each poll of an instrumented task |
//! | `rust.task.slow_polls` | Counter | `{poll}` | | polls longer than [`slow_poll_threshold`] |
//!
//! Thread names are bounded: the first [`MAX_THREAD_NAMES`]` - 1` names seen get their own
//! series, later ones share `thread.name` = [`OTHER`](crate::OTHER). The agent's own export thread is not among them:
//! its wait is self-telemetry, `rtscope.agent.schedule.duration`.
//!
//! # Where each measurement comes from
//!
//! Three sources, one histogram `rust.schedule.duration` told apart by `rust.schedule.kind`:
//!
//! - `task`: futures wrapped by [`instrument`] (or spawned with
//!   [`spawn`]) record, for each poll that follows a wake, the time from
//!   the wake to the start of the poll; their polls' durations go to `rust.task.poll.duration`
//!   and polls over the slow-poll threshold to `rust.task.slow_polls`.
//! - `probe`: a task that asks to be woken at a fixed period records how late it is polled
//!   ([`start_probe`]; started by `#[rtscope::main]` on async mains).
//! - `thread`: the kernel's run-queue wait of every thread of the process, read from
//!   `/proc/self/task/*/schedstat` when metrics are collected, aggregated by thread name.
//!   The agent's export thread is self-telemetry: its wait is exported as
//!   `rtscope.agent.schedule.duration`, not among the application's threads.
//!
//! The task and probe measurements are written to the calling thread's own counters (no
//! lock, no allocation, no shared cache line written), as the allocator counters are.

mod instrument;
mod threads;

pub use instrument::{Instrumented, instrument};
pub use threads::{MAX_THREAD_NAMES, ThreadDelay, thread_delays};

feature! {
    #![feature = "tokio"]
    mod probe;
    mod runtime;
    pub use probe::{DEFAULT_PROBE_PERIOD, Probe, start_probe, start_probe_with_period};
    pub use runtime::{MAX_RUNTIMES, register_runtime, spawn};
    pub(crate) use runtime::SOURCE as RUNTIME_SOURCE;
}

use crate::base::counters::{Counters, DurationHistogram, HistogramSnapshot};
use crate::model::series::{Data, Metric};
use crate::model::{Source, p99};
use std::fmt::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Process-wide task and probe measurements.
#[derive(Debug)]
pub(crate) struct SchedMetrics {
    task_delay: DurationHistogram,
    probe_delay: DurationHistogram,
    poll: DurationHistogram,
    slow: Counters,
}

static METRICS: OnceLock<SchedMetrics> = OnceLock::new();

#[inline]
pub(crate) fn metrics() -> &'static SchedMetrics {
    METRICS.get_or_init(|| SchedMetrics {
        task_delay: DurationHistogram::claim(),
        probe_delay: DurationHistogram::claim(),
        poll: DurationHistogram::claim(),
        slow: Counters::claim(1),
    })
}

/// Polls longer than this count as slow (nanoseconds).
static SLOW_POLL_NS: AtomicU64 = AtomicU64::new(1_000_000);

/// The default slow-poll threshold: 1 ms.
pub const DEFAULT_SLOW_POLL: Duration = Duration::from_millis(1);

/// Sets the slow-poll threshold for every instrumented task (default 1 ms): polls longer
/// than it count in `rust.task.slow_polls`.
///
/// Deprecated: the threshold is a setting of the agent's configuration,
/// [`AgentBuilder::with_slow_poll_threshold`](crate::AgentBuilder::with_slow_poll_threshold)
/// (shown in `Config::slow_poll_threshold`). This function still works for one release: a
/// threshold set with it before `install` is what install keeps unless the builder sets one;
/// set after `install`, it replaces the configured one.
///
/// ```
/// # #![allow(deprecated)]
/// use std::time::Duration;
/// rtscope::task::set_slow_poll_threshold(Duration::from_micros(500));
/// assert_eq!(rtscope::task::slow_poll_threshold(), Duration::from_micros(500));
/// # rtscope::task::set_slow_poll_threshold(rtscope::task::DEFAULT_SLOW_POLL);
/// ```
#[deprecated(
    note = "set the threshold in the configuration: `AgentBuilder::with_slow_poll_threshold`"
)]
pub fn set_slow_poll_threshold(threshold: Duration) {
    set_slow_poll(threshold);
}

/// Sets the slow-poll threshold (from the resolved configuration, at install).
pub(crate) fn set_slow_poll(threshold: Duration) {
    SLOW_POLL_NS.store(
        u64::try_from(threshold.as_nanos()).unwrap_or(u64::MAX),
        Relaxed,
    );
}

/// The slow-poll threshold.
///
/// ```
/// assert!(rtscope::task::slow_poll_threshold() > std::time::Duration::ZERO);
/// ```
pub fn slow_poll_threshold() -> Duration {
    Duration::from_nanos(SLOW_POLL_NS.load(Relaxed))
}

impl SchedMetrics {
    /// One poll of an instrumented task that took `ns`.
    #[inline]
    fn poll_done(&self, ns: u64) {
        self.poll.record_ns(ns);
        if ns > SLOW_POLL_NS.load(Relaxed) {
            self.slow.add(0, 1);
        }
    }
}

/// Totals of the task and probe measurements since the process started.
///
/// ```
/// let s = rtscope::task::stats();
/// assert_eq!(s.poll_duration.counts.iter().sum::<u64>(), s.poll_duration.count);
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScheduleStats {
    /// Wake-to-poll delay of instrumented tasks (`rust.schedule.duration`, kind `task`).
    pub task_delay: HistogramSnapshot,
    /// Lateness of the probe's polls (`rust.schedule.duration`, kind `probe`).
    pub probe_delay: HistogramSnapshot,
    /// Duration of instrumented tasks' polls (`rust.task.poll.duration`).
    pub poll_duration: HistogramSnapshot,
    /// Polls longer than the slow-poll threshold (`rust.task.slow_polls`).
    pub slow_polls: u64,
}

/// The task and probe totals so far (all threads).
///
/// ```
/// use std::future::Future;
/// use std::task::{Context, Waker};
///
/// let before = rtscope::task::stats();
/// let mut task = std::pin::pin!(rtscope::task::instrument(async { 1 }));
/// assert!(task.as_mut().poll(&mut Context::from_waker(Waker::noop())).is_ready());
/// let after = rtscope::task::stats();
/// assert_eq!(after.poll_duration.since(&before.poll_duration).count, 1);
/// ```
pub fn stats() -> ScheduleStats {
    let Some(m) = METRICS.get() else {
        return ScheduleStats::default();
    };
    ScheduleStats {
        task_delay: m.task_delay.snapshot(),
        probe_delay: m.probe_delay.snapshot(),
        poll_duration: m.poll.snapshot(),
        slow_polls: m.slow.read(0),
    }
}

const SCHEDULE: &str = "rust.schedule.duration";
const SCHEDULE_DESC: &str = "Time runnable work waited before it ran: wake to poll for tasks, lateness of the runtime probe, run-queue wait for threads.";

/// The scheduler as a part: its series and its line of the exit summary.
pub(crate) const SOURCE: Source = Source {
    series: collect,
    summary,
    ..Source::NONE
};

/// Appends the scheduler series: task and probe (once used) and threads (always, where
/// the kernel reports them).
pub(crate) fn collect(out: &mut Vec<Metric>) {
    if METRICS.get().is_some() {
        let s = stats();
        out.push(
            Metric::new(SCHEDULE, "s", SCHEDULE_DESC, s.task_delay.to_data())
                .with_attr("rust.schedule.kind", "task"),
        );
        out.push(
            Metric::new(SCHEDULE, "s", SCHEDULE_DESC, s.probe_delay.to_data())
                .with_attr("rust.schedule.kind", "probe"),
        );
        out.push(Metric::new(
            "rust.task.poll.duration",
            "s",
            "Duration of the polls of instrumented tasks.",
            s.poll_duration.to_data(),
        ));
        out.push(Metric::new(
            "rust.task.slow_polls",
            "{poll}",
            "Polls of instrumented tasks longer than the slow-poll threshold (default 1 ms).",
            Data::Counter(s.slow_polls.into()),
        ));
    }
    for t in thread_delays() {
        out.push(
            Metric::new(SCHEDULE, "s", SCHEDULE_DESC, t.delay.to_data())
                .with_attr("rust.schedule.kind", "thread")
                .with_attr("thread.name", t.name),
        );
    }
    // Read by `thread_delays` just above.
    if let Some(agent) = threads::agent_delay() {
        out.push(Metric::new(
            AGENT_SCHEDULE,
            "s",
            "Run-queue wait of the agent's own export thread (kept out of rust.schedule.duration).",
            agent.to_data(),
        ));
    }
}

const AGENT_SCHEDULE: &str = "rtscope.agent.schedule.duration";

/// The scheduler-delay line of the exit summary.
fn summary(out: &mut String) {
    let s = stats();
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

#[cfg(all(test, rtscope_linux))]
mod tests {
    use super::*;
    use crate::model::series::Value;

    #[test]
    fn collect_reports_task_and_thread_series() {
        metrics();
        let out = std::thread::Builder::new()
            .name("rts-unit-coll".into())
            .spawn(|| {
                for _ in 0..3 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let mut out = Vec::new();
                collect(&mut out);
                out
            })
            .unwrap()
            .join()
            .unwrap();
        let kind = |k: &str| {
            out.iter()
                .filter(|m| {
                    m.name == SCHEDULE
                        && m.attributes
                            .contains(&("rust.schedule.kind", Value::Str(k.into())))
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(kind("task").len(), 1);
        assert_eq!(kind("probe").len(), 1);
        let threads = kind("thread");
        let mine = threads
            .iter()
            .find(|m| {
                m.attributes
                    .contains(&("thread.name", Value::Str("rts-unit-coll".into())))
            })
            .expect("the collecting thread's series");
        assert_eq!(mine.unit, "s");
        match &mine.data {
            Data::Histogram { count, sum, .. } => assert!(*count > 0 && *sum >= 0.0),
            other => panic!("{other:?}"),
        }
        assert!(threads.len() <= MAX_THREAD_NAMES);
        for name in ["rust.task.poll.duration", "rust.task.slow_polls"] {
            assert_eq!(out.iter().filter(|m| m.name == name).count(), 1, "{name}");
        }
    }
}
