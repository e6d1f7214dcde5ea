//! Timers that measure their own lateness: how long after its deadline each one really woke.
//!
//! A timer that fires late delays everything waiting on it, and the delay never shows in a
//! CPU profile. These drop-in replacements record, for every timer, the lateness (the time it
//! woke minus its deadline) and whether it was started, fired or cancelled:
//!
//! - threads: [`sleep`], [`sleep_until`] and [`Interval`], over [`std::thread::sleep`];
//! - tokio (feature `tokio`): `tokio::sleep`, `tokio::sleep_until`, `tokio::interval` and
//!   `tokio::timeout` in the `tokio` submodule, wrapping tokio's own.
//!
//! ```
//! use std::time::Duration;
//!
//! let before = rtscope::time::stats();
//! rtscope::time::sleep(Duration::from_millis(1));
//! let after = rtscope::time::stats();
//! assert_eq!(after.fired - before.fired, 1);
//! assert_eq!(after.lateness.since(&before.lateness).count, 1);
//! ```
//!
//! # Metrics
//!
//! | name | instrument | unit | meaning |
//! |---|---|---|---|
//! | `rust.timer.lateness` | Histogram (1 µs .. 10 s) | `s` | time woken minus deadline, per fired timer |
//! | `rust.timer.started` | Counter | `{timer}` | timers started |
//! | `rust.timer.fired` | Counter | `{timer}` | timers that reached their deadline |
//! | `rust.timer.cancelled` | Counter | `{timer}` | timers dropped before firing |
//! | `rust.timer.pending` | UpDownCounter | `{timer}` | started − fired − cancelled |
//!
//! Recording is a few writes to the calling thread's own counters (no lock, no allocation,
//! no shared cache line written), the same mechanism as the allocator counters.

feature! {
    #![feature = "tokio"]
    pub mod tokio;
}

pub use crate::base::counters::HistogramSnapshot;

use crate::base::counters::{Counters, DurationHistogram};
use crate::model::series::{Data, Metric};
use crate::model::{Source, p99};
use std::fmt::Write;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const STARTED: usize = 0;
const FIRED: usize = 1;
const CANCELLED: usize = 2;

/// Every timer's counters, process-wide.
#[derive(Debug)]
pub(crate) struct TimerMetrics {
    counts: Counters,
    lateness: DurationHistogram,
}

static METRICS: OnceLock<TimerMetrics> = OnceLock::new();

/// The timer counters, claimed on first use.
#[inline]
pub(crate) fn metrics() -> &'static TimerMetrics {
    METRICS.get_or_init(|| TimerMetrics {
        counts: Counters::claim(3),
        lateness: DurationHistogram::claim(),
    })
}

impl TimerMetrics {
    /// A timer was armed.
    #[inline]
    pub(crate) fn started(&self) {
        self.counts.add(STARTED, 1);
    }

    /// A timer fired `lateness` after its deadline.
    #[inline]
    pub(crate) fn fired(&self, lateness: Duration) {
        self.counts.add(FIRED, 1);
        self.lateness.record(lateness);
    }

    /// A timer was dropped before it fired.
    #[inline]
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn cancelled(&self) {
        self.counts.add(CANCELLED, 1);
    }
}

/// Totals of every timer since the process started.
///
/// ```
/// let s = rtscope::time::stats();
/// assert_eq!(s.pending, s.started - s.fired - s.cancelled);
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimerStats {
    /// Timers started.
    pub started: u64,
    /// Timers that reached their deadline (each recorded one lateness).
    pub fired: u64,
    /// Timers dropped before their deadline.
    pub cancelled: u64,
    /// Timers started and neither fired nor cancelled yet.
    pub pending: u64,
    /// Lateness of every fired timer (and of every [`record_lateness`]).
    pub lateness: HistogramSnapshot,
}

/// The timer totals so far (all threads).
///
/// ```
/// use std::time::Duration;
///
/// let before = rtscope::time::stats();
/// for _ in 0..3 {
///     rtscope::time::sleep(Duration::from_micros(100));
/// }
/// let late = rtscope::time::stats().lateness.since(&before.lateness);
/// assert_eq!(late.count, 3);
/// println!("mean lateness {:?}", late.mean());
/// ```
pub fn stats() -> TimerStats {
    let Some(m) = METRICS.get() else {
        return TimerStats::default();
    };
    // Fired and cancelled first: a timer that ends between the reads is then counted as
    // started and still pending, never as ended without being started.
    let fired = m.counts.read(FIRED);
    let cancelled = m.counts.read(CANCELLED);
    let started = m.counts.read(STARTED);
    TimerStats {
        started,
        fired,
        cancelled,
        pending: started.saturating_sub(fired).saturating_sub(cancelled),
        lateness: m.lateness.snapshot(),
    }
}

/// Records the lateness of a timer rtscope does not wrap (your own timer wheel, say) into
/// `rust.timer.lateness`. It is not counted as started or fired.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let deadline = Instant::now();
/// // ... your timer fires ...
/// rtscope::time::record_lateness(Instant::now().saturating_duration_since(deadline));
/// ```
#[inline]
pub fn record_lateness(lateness: Duration) {
    metrics().lateness.record(lateness);
}

/// Sleeps the current thread for at least `duration`, like [`std::thread::sleep`], and records
/// how late it woke.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let t = Instant::now();
/// rtscope::time::sleep(Duration::from_millis(2));
/// assert!(t.elapsed() >= Duration::from_millis(2));
/// ```
pub fn sleep(duration: Duration) {
    match Instant::now().checked_add(duration) {
        Some(deadline) => sleep_until(deadline),
        // A deadline past what `Instant` can hold never comes: sleep, never fire.
        None => {
            metrics().started();
            loop {
                std::thread::sleep(duration);
            }
        }
    }
}

/// Sleeps the current thread until `deadline` and records how late it woke. Returns at once
/// (lateness counted from the deadline) if the deadline has passed.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let deadline = Instant::now() + Duration::from_millis(1);
/// rtscope::time::sleep_until(deadline);
/// assert!(Instant::now() >= deadline);
/// ```
pub fn sleep_until(deadline: Instant) {
    let m = metrics();
    m.started();
    let woke = sleep_until_raw(deadline);
    m.fired(woke.saturating_duration_since(deadline));
}

/// Sleeps until `deadline` (`thread::sleep` may wake early on some platforms: sleep again).
fn sleep_until_raw(deadline: Instant) -> Instant {
    loop {
        let now = Instant::now();
        if now >= deadline {
            return now;
        }
        std::thread::sleep(deadline - now);
    }
}

/// A thread timer that ticks every `period` and records each tick's lateness.
///
/// Ticks stay on the grid `start + k * period`: a tick that comes more than a period late
/// skips the grid points it missed ([`missed_ticks`](Interval::missed_ticks) counts them)
/// instead of firing a burst to catch up.
///
/// ```
/// use std::time::Duration;
///
/// let mut every = rtscope::time::Interval::new(Duration::from_millis(1));
/// let first = every.tick(); // the first tick is now
/// let second = every.tick();
/// assert_eq!(second - first, Duration::from_millis(1));
/// ```
#[derive(Debug)]
pub struct Interval {
    next: Instant,
    period: Duration,
    missed: u64,
}

impl Interval {
    /// Ticks now, then every `period` (a zero period is taken as 1 ns).
    pub fn new(period: Duration) -> Interval {
        Interval::starting_at(Instant::now(), period)
    }

    /// Ticks at `start`, then every `period` (a zero period is taken as 1 ns).
    pub fn starting_at(start: Instant, period: Duration) -> Interval {
        Interval {
            next: start,
            period: period.max(Duration::from_nanos(1)),
            missed: 0,
        }
    }

    /// Sleeps until the next tick and returns its deadline.
    pub fn tick(&mut self) -> Instant {
        let deadline = self.next;
        let m = metrics();
        m.started();
        let woke = sleep_until_raw(deadline);
        m.fired(woke.saturating_duration_since(deadline));
        let mut next = deadline + self.period;
        if next <= woke {
            let behind = woke.duration_since(next).as_nanos() / self.period.as_nanos() + 1;
            let behind = u32::try_from(behind).unwrap_or(u32::MAX);
            next += self.period.saturating_mul(behind);
            self.missed = self.missed.saturating_add(u64::from(behind));
        }
        self.next = next;
        deadline
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Grid points skipped because a tick came more than a period late.
    pub fn missed_ticks(&self) -> u64 {
        self.missed
    }
}

/// The timers as a part: their series and their line of the exit summary.
pub(crate) const SOURCE: Source = Source {
    series: collect,
    summary,
    ..Source::NONE
};

/// Appends the timer series (none until a timer was used).
pub(crate) fn collect(out: &mut Vec<Metric>) {
    if METRICS.get().is_none() {
        return;
    }
    let s = stats();
    out.push(Metric::new(
        "rust.timer.lateness",
        "s",
        "Time a timer woke minus its deadline.",
        s.lateness.to_data(),
    ));
    out.push(Metric::new(
        "rust.timer.started",
        "{timer}",
        "Timers started.",
        Data::Counter(s.started.into()),
    ));
    out.push(Metric::new(
        "rust.timer.fired",
        "{timer}",
        "Timers that reached their deadline.",
        Data::Counter(s.fired.into()),
    ));
    out.push(Metric::new(
        "rust.timer.cancelled",
        "{timer}",
        "Timers dropped before their deadline.",
        Data::Counter(s.cancelled.into()),
    ));
    out.push(Metric::new(
        "rust.timer.pending",
        "{timer}",
        "Timers started and neither fired nor cancelled.",
        Data::UpDown(s.pending.into()),
    ));
}

/// The timers line of the exit summary.
fn summary(out: &mut String) {
    let t = stats();
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::series::{Data, Number};

    fn counter(out: &[Metric], name: &str) -> u64 {
        match out.iter().find(|m| m.name == name).map(|m| &m.data) {
            Some(Data::Counter(Number::Int(v))) | Some(Data::UpDown(Number::Int(v))) => *v,
            other => panic!("{name}: {other:?}"),
        }
    }

    fn lateness_count(out: &[Metric]) -> u64 {
        match out.iter().find(|m| m.name == "rust.timer.lateness") {
            Some(Metric {
                unit: "s",
                data:
                    Data::Histogram {
                        count,
                        counts,
                        bounds,
                        ..
                    },
                ..
            }) => {
                assert_eq!(counts.len(), bounds.len() + 1);
                *count
            }
            other => panic!("lateness: {other:?}"),
        }
    }

    /// The only unit test that runs timers (steps in sequence), so the deltas are exact.
    #[test]
    fn timers() {
        collect_reports_every_timer();
        interval_skips_missed_ticks();
    }

    fn collect_reports_every_timer() {
        metrics();
        let mut before = Vec::new();
        collect(&mut before);
        for _ in 0..3 {
            sleep(Duration::from_micros(200));
        }
        let mut every = Interval::new(Duration::from_micros(500));
        every.tick();
        every.tick();
        let mut after = Vec::new();
        collect(&mut after);
        let d = |name| counter(&after, name) - counter(&before, name);
        assert_eq!(d("rust.timer.started"), 5);
        assert_eq!(d("rust.timer.fired"), 5);
        assert_eq!(d("rust.timer.cancelled"), 0);
        assert_eq!(counter(&after, "rust.timer.pending"), 0);
        assert_eq!(lateness_count(&after) - lateness_count(&before), 5);
    }

    fn interval_skips_missed_ticks() {
        let start = Instant::now();
        let mut every = Interval::starting_at(start, Duration::from_millis(1));
        assert_eq!(every.tick(), start);
        std::thread::sleep(Duration::from_millis(5));
        // The tick at +1 ms is 4 ms late; the grid points it passed are skipped.
        assert_eq!(every.tick(), start + Duration::from_millis(1));
        assert!(every.missed_ticks() >= 3);
        let next = every.tick();
        assert!(next >= start + Duration::from_millis(5));
        assert_eq!((next - start).as_nanos() % 1_000_000, 0);
    }
}
