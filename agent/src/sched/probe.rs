//! The runtime probe: a task woken at a fixed period that records how late it is polled.

use super::metrics;
use std::time::Duration;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How often the probe started by [`start_probe`] asks to be woken.
pub const DEFAULT_PROBE_PERIOD: Duration = Duration::from_millis(50);

/// The probe task of one runtime, from [`start_probe`]. Dropping it leaves the probe
/// running until the runtime shuts down; [`stop`](Probe::stop) ends it.
///
/// ```
/// let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
/// let probe = rtscope::task::start_probe(rt.handle());
/// rt.block_on(async { /* the application */ });
/// probe.stop();
/// ```
#[derive(Debug)]
pub struct Probe {
    task: JoinHandle<()>,
}

impl Probe {
    /// Stops the probe.
    pub fn stop(self) {
        self.task.abort();
    }
}

/// Starts the runtime-wide probe on the runtime of `handle`, woken every
/// [`DEFAULT_PROBE_PERIOD`]. Each time, it records how late it was polled after the instant
/// it asked for in `rust.schedule.duration` (kind `probe`): the event-loop-delay technique,
/// which sees a blocked worker or a long run queue without touching the application's
/// tasks. The runtime needs its time driver (`enable_time` or `enable_all`); without it the
/// probe does nothing.
///
/// `#[rtscope::main]` on an `async fn main` starts it; call this when you build the runtime
/// yourself. Tokio's timer wheel has a 1 ms resolution and rounds deadlines up, so values
/// under 1 ms are the wheel's rounding: the tail is what matters.
pub fn start_probe(handle: &Handle) -> Probe {
    start_probe_with_period(handle, DEFAULT_PROBE_PERIOD)
}

/// [`start_probe`] with another period (at least 1 ms).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// let probe = rtscope::task::start_probe_with_period(
///     &tokio::runtime::Handle::current(),
///     Duration::from_millis(10),
/// );
/// tokio::time::sleep(Duration::from_millis(50)).await;
/// assert!(rtscope::task::stats().probe_delay.count >= 1);
/// probe.stop();
/// # }
/// ```
pub fn start_probe_with_period(handle: &Handle, period: Duration) -> Probe {
    let period = period.max(Duration::from_millis(1));
    let task = handle.spawn(async move {
        // No time driver: `sleep` would panic; do nothing instead.
        if std::panic::catch_unwind(|| tokio::time::sleep(Duration::ZERO)).is_err() {
            return;
        }
        let m = metrics();
        let mut deadline = Instant::now() + period;
        loop {
            tokio::time::sleep_until(deadline).await;
            let now = Instant::now();
            m.probe_delay
                .record(now.saturating_duration_since(deadline));
            deadline += period;
            if deadline <= now {
                // Blocked for more than a period: one late poll was recorded; restart the
                // grid rather than record a burst of stale deadlines.
                deadline = now + period;
            }
        }
    });
    Probe { task }
}
