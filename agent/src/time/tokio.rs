//! Drop-in wrappers of `tokio::time` that measure every timer's lateness (feature `tokio`).
//!
//! Replace `tokio::time::sleep` by `rtscope::time::tokio::sleep` (and `sleep_until`,
//! `interval`, `interval_at`, `timeout`, `timeout_at`): same arguments, same outputs. Each
//! timer is counted as started when created, as fired (with its lateness: the time its task
//! was polled after the deadline, minus the deadline) when it completes, and as cancelled
//! when it is dropped before firing. A [`timeout`] whose future finishes first counts its
//! timer as cancelled.
//!
//! Tokio's timer wheel has a 1 ms resolution and rounds deadlines up, so lateness under 1 ms
//! is the wheel's rounding; what matters is the tail (a worker thread blocked, a run queue
//! too long, thousands of timers expiring in the same tick).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use rtscope::time::tokio as time;
//! use std::time::Duration;
//!
//! let before = rtscope::time::stats();
//! time::sleep(Duration::from_millis(2)).await;
//! let r = time::timeout(Duration::from_secs(1), async { 7 }).await;
//! assert_eq!(r.unwrap(), 7);
//! let after = rtscope::time::stats();
//! assert_eq!(after.fired - before.fired, 1); // the sleep
//! assert_eq!(after.cancelled - before.cancelled, 1); // the timeout's timer
//! # }
//! ```

use super::metrics;
use ::tokio::time::{self as tt, Instant, MissedTickBehavior};
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// The started/fired/cancelled state of one timer; dropping it while armed counts the timer
/// as cancelled.
#[derive(Debug)]
struct Arm {
    armed: bool,
}

impl Arm {
    fn start() -> Arm {
        metrics().started();
        Arm { armed: true }
    }

    /// The timer fired: records its lateness, once.
    fn fire(&mut self, deadline: Instant) {
        if std::mem::replace(&mut self.armed, false) {
            metrics().fired(Instant::now().saturating_duration_since(deadline));
        }
    }

    /// The timer will not fire (its future finished first): counts it as cancelled, once.
    fn cancel(&mut self) {
        if std::mem::replace(&mut self.armed, false) {
            metrics().cancelled();
        }
    }

    /// Arms again after firing or cancelling (a reset): a new timer starts.
    fn rearm(&mut self) {
        if !self.armed {
            metrics().started();
            self.armed = true;
        }
    }
}

impl Drop for Arm {
    fn drop(&mut self) {
        self.cancel();
    }
}

/// Like [`tokio::time::sleep`]: completes `duration` from now, and records its lateness.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// rtscope::time::tokio::sleep(std::time::Duration::from_millis(1)).await;
/// # }
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    Sleep::new(tt::sleep(duration))
}

/// Like [`tokio::time::sleep_until`]: completes at `deadline`, and records its lateness.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tokio::time::Instant;
/// let deadline = Instant::now() + std::time::Duration::from_millis(1);
/// rtscope::time::tokio::sleep_until(deadline).await;
/// assert!(Instant::now() >= deadline);
/// # }
/// ```
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep::new(tt::sleep_until(deadline))
}

/// The future of [`sleep`] and [`sleep_until`]: a [`tokio::time::Sleep`] that counts itself.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
///
/// let s = rtscope::time::tokio::sleep(Duration::from_secs(60));
/// drop(s); // dropped before its deadline: counted as cancelled
/// # }
/// ```
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Sleep {
    inner: tt::Sleep,
    arm: Arm,
}

impl Sleep {
    fn new(inner: tt::Sleep) -> Sleep {
        Sleep {
            inner,
            arm: Arm::start(),
        }
    }

    /// The instant at which the sleep completes.
    pub fn deadline(&self) -> Instant {
        self.inner.deadline()
    }

    /// Whether the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        self.inner.is_elapsed()
    }

    /// Moves the deadline, like [`tokio::time::Sleep::reset`]. Resetting a sleep that already
    /// completed starts a new timer.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use tokio::time::{Duration, Instant};
    ///
    /// let mut s = Box::pin(rtscope::time::tokio::sleep(Duration::from_secs(60)));
    /// s.as_mut().reset(Instant::now() + Duration::from_millis(1));
    /// s.await;
    /// # }
    /// ```
    pub fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let (inner, arm) = self.project();
        arm.rearm();
        inner.reset(deadline);
    }

    fn project(self: Pin<&mut Self>) -> (Pin<&mut tt::Sleep>, &mut Arm) {
        // SAFETY: `inner` is structurally pinned: no method of `Sleep` moves it out, and
        // `Sleep` has no `Drop` impl (the `Drop` of `arm` only touches `arm`). `arm` is not
        // pinned: it is `Unpin` and only handed out as `&mut`.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: `this.inner` lives inside the pinned `Sleep` and is never moved (above).
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        (inner, &mut this.arm)
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let (mut inner, arm) = self.project();
        match inner.as_mut().poll(cx) {
            Poll::Ready(()) => {
                arm.fire(inner.deadline());
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Like [`tokio::time::interval`]: ticks now, then every `period`, and records each tick's
/// lateness.
///
/// # Panics
///
/// If `period` is zero, as tokio's does.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut every = rtscope::time::tokio::interval(std::time::Duration::from_millis(1));
/// every.tick().await; // at once
/// every.tick().await; // 1 ms later
/// # }
/// ```
pub fn interval(period: Duration) -> Interval {
    Interval {
        inner: tt::interval(period),
    }
}

/// Like [`tokio::time::interval_at`]: ticks at `start`, then every `period`.
///
/// # Panics
///
/// If `period` is zero, as tokio's does.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tokio::time::{Duration, Instant};
/// let mut every = rtscope::time::tokio::interval_at(Instant::now(), Duration::from_millis(1));
/// every.tick().await;
/// # }
/// ```
pub fn interval_at(start: Instant, period: Duration) -> Interval {
    Interval {
        inner: tt::interval_at(start, period),
    }
}

/// A [`tokio::time::Interval`] whose ticks count as timers and record their lateness
/// against the instant each tick was scheduled for.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tokio::time::MissedTickBehavior;
/// let mut every = rtscope::time::tokio::interval(std::time::Duration::from_millis(1));
/// every.set_missed_tick_behavior(MissedTickBehavior::Skip);
/// let first = every.tick().await;
/// # let _ = first;
/// # }
/// ```
#[derive(Debug)]
pub struct Interval {
    inner: tt::Interval,
}

impl Interval {
    /// Completes at the next tick and returns the instant it was scheduled for, like
    /// [`tokio::time::Interval::tick`]. Cancel safe; a tick future dropped before completing
    /// counts as a cancelled timer.
    pub async fn tick(&mut self) -> Instant {
        let mut arm = Arm::start();
        let scheduled = self.inner.tick().await;
        arm.fire(scheduled);
        scheduled
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.inner.period()
    }

    /// What happens to ticks that were missed.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.inner.missed_tick_behavior()
    }

    /// Sets what happens to ticks that were missed.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.inner.set_missed_tick_behavior(behavior)
    }

    /// Makes the next tick one period from now.
    pub fn reset(&mut self) {
        self.inner.reset()
    }

    /// The tokio interval inside (ticks polled on it directly are not measured).
    pub fn get_mut(&mut self) -> &mut tt::Interval {
        &mut self.inner
    }
}

/// Like [`tokio::time::timeout`]: `future`'s output, or [`tt::error::Elapsed`] if it takes
/// longer than `duration`. The timer counts as fired (with its lateness) when the time runs
/// out, as cancelled when the future finishes first.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// let slow = rtscope::time::tokio::sleep(Duration::from_secs(60));
/// let r = rtscope::time::tokio::timeout(Duration::from_millis(1), slow).await;
/// assert!(r.is_err());
/// # }
/// ```
pub fn timeout<F: IntoFuture>(duration: Duration, future: F) -> Timeout<F::IntoFuture> {
    let deadline = Instant::now().checked_add(duration);
    Timeout {
        inner: tt::timeout(duration, future),
        deadline,
        arm: Arm::start(),
    }
}

/// Like [`tokio::time::timeout_at`]: `future`'s output, or [`tt::error::Elapsed`] at
/// `deadline`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tokio::time::{Duration, Instant};
/// let r = rtscope::time::tokio::timeout_at(Instant::now() + Duration::from_secs(1), async { 1 }).await;
/// assert_eq!(r.unwrap(), 1);
/// # }
/// ```
pub fn timeout_at<F: IntoFuture>(deadline: Instant, future: F) -> Timeout<F::IntoFuture> {
    Timeout {
        inner: tt::timeout_at(deadline, future),
        deadline: Some(deadline),
        arm: Arm::start(),
    }
}

/// The future of [`timeout`] and [`timeout_at`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Timeout<T> {
    inner: tt::Timeout<T>,
    /// `None`: too far to represent, never fires.
    deadline: Option<Instant>,
    arm: Arm,
}

impl<T> Timeout<T> {
    /// The wrapped future.
    pub fn get_ref(&self) -> &T {
        self.inner.get_ref()
    }

    /// The wrapped future.
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }

    /// The wrapped future, dropping the timer (counted as cancelled if it had not fired).
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: Future> Future for Timeout<T> {
    type Output = Result<T::Output, tt::error::Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `inner` is structurally pinned: `Timeout` has no `Drop` impl and no method
        // moves `inner` out of a pinned `Timeout` (`into_inner` takes it by value, unpinned).
        // `deadline` and `arm` are `Unpin` and not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: `this.inner` stays where the pinned `Timeout` is (above).
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        let r = inner.poll(cx);
        match &r {
            Poll::Ready(Ok(_)) => this.arm.cancel(),
            Poll::Ready(Err(_)) => match this.deadline {
                Some(d) => this.arm.fire(d),
                None => this.arm.cancel(),
            },
            Poll::Pending => {}
        }
        r
    }
}
