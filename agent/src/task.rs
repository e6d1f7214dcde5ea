//! Scheduler delay of tasks and threads: how long runnable work waited before it ran.
//!
//! - [`instrument`] wraps any future (any executor): each poll records its delay since the
//!   wake that made the task runnable, and its duration; `spawn` (feature `tokio`) spawns
//!   an instrumented task.
//! - `start_probe` (feature `tokio`) starts a task that asks to be woken at a fixed period
//!   and records how late it is polled: runtime-wide, without touching the application's
//!   tasks. `#[rtscope::main]` starts it on async mains.
//! - [`thread_delays`]: the kernel's run-queue wait of every thread, by thread name.
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

#[cfg(feature = "tokio")]
pub use crate::sched::{DEFAULT_PROBE_PERIOD, Probe, start_probe, start_probe_with_period};
pub use crate::sched::{
    DEFAULT_SLOW_POLL, Instrumented, MAX_THREAD_NAMES, ScheduleStats, ThreadDelay, instrument,
    slow_poll_threshold, stats, thread_delays,
};
// Deprecated for one release: the threshold is `AgentBuilder::with_slow_poll_threshold`.
#[allow(deprecated)]
pub use crate::sched::set_slow_poll_threshold;

/// Spawns `future` on the current tokio runtime, [instrumented](instrument): like
/// [`tokio::spawn`], and its scheduling delay counts from this call.
///
/// # Panics
///
/// Outside a tokio runtime, as [`tokio::spawn`] does.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let answer = rtscope::task::spawn(async { 42 }).await.unwrap();
/// assert_eq!(answer, 42);
/// # }
/// ```
#[cfg(feature = "tokio")]
#[track_caller]
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(instrument(future))
}

/// Reports `handle`'s runtime as `tokio.*` series (workers, alive tasks, global queue depth,
/// and per worker busy time, busy ratio, parks): read from tokio's stable `RuntimeMetrics`
/// on the export thread when the series are collected, never on a worker. The runtime
/// `#[rtscope::main]` builds is registered already.
///
/// Returns `false` when [`MAX_RUNTIMES`] runtimes are registered already (this one is not
/// reported); registering a runtime again is a no-op that returns `true`. A registered
/// runtime is reported for the rest of the process: after it shuts down its series keep
/// their last values.
///
/// ```
/// let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
/// assert!(rtscope::task::register_runtime(rt.handle()));
/// ```
#[cfg(feature = "tokio")]
pub fn register_runtime(handle: &tokio::runtime::Handle) -> bool {
    crate::runtime::register(handle)
}

/// How many runtimes [`register_runtime`] accepts.
#[cfg(feature = "tokio")]
pub const MAX_RUNTIMES: usize = crate::runtime::MAX_RUNTIMES;
