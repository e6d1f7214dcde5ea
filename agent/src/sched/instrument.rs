//! [`instrument`]: a future wrapper that measures wake-to-poll delay and poll duration.

use super::metrics;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Instant;

/// Nanoseconds since the first timestamp taken, plus one (zero means "no wake").
#[inline]
fn stamp() -> u64 {
    stamp_of(Instant::now())
}

/// [`stamp`] of the instant `t`.
#[inline]
fn stamp_of(t: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(|| t);
    u64::try_from(t.saturating_duration_since(epoch).as_nanos())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

/// The earliest wake not yet followed by a poll, shared by every waker of one task.
#[derive(Debug)]
struct WakeCell {
    /// `stamp()` of that wake, or 0.
    woken_at: AtomicU64,
}

impl WakeCell {
    /// Keeps the first wake since the last poll: later ones do not move it.
    #[inline]
    fn mark(&self) {
        if self.woken_at.load(Relaxed) == 0 {
            let _ = self.woken_at.compare_exchange(0, stamp(), Relaxed, Relaxed);
        }
    }
}

/// The waker an instrumented future's inner future sees: timestamps, then wakes the task.
#[derive(Debug)]
struct WakeWrap {
    cell: Arc<WakeCell>,
    inner: Waker,
}

impl Wake for WakeWrap {
    fn wake(self: Arc<Self>) {
        self.cell.mark();
        match Arc::try_unwrap(self) {
            Ok(w) => w.inner.wake(),
            Err(w) => w.inner.wake_by_ref(),
        }
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.cell.mark();
        self.inner.wake_by_ref();
    }
}

/// Wraps `future` so each of its polls records:
///
/// - the delay from the wake that made it runnable to the start of the poll, in
///   `rust.schedule.duration` (kind `task`); the first poll's delay counts from this call,
///   so call it where the task is spawned (as `rtscope::task::spawn` does);
/// - the poll's duration in `rust.task.poll.duration`, and in `rust.task.slow_polls` when it
///   exceeds the [slow-poll threshold](crate::task::slow_poll_threshold).
///
/// Works on any executor. Polls without a wake before them (a `join!` polling its other
/// branches, say) record a duration but no delay. Per poll it costs two clock reads, one
/// atomic swap and a few writes to the thread's own counters, and per wake one clock read and
/// one compare-exchange (about 125 ns per poll-and-wake in all where a clock read costs 22 ns;
/// see `docs/performance.md`). It allocates twice per task (its wake cell, and its waker
/// wrapper, made again only if the executor hands it a different waker). Those blocks live
/// as long as the future and the wakers the application keeps, so they count as the
/// application's allocations (in [`rtscope::alloc::stats`](crate::alloc::stats)), not the
/// agent's: each block is freed into the account it was allocated from.
///
/// ```
/// # #[cfg(feature = "tokio")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let handle = tokio::spawn(rtscope::task::instrument(async {
///     tokio::task::yield_now().await;
///     7
/// }));
/// assert_eq!(handle.await.unwrap(), 7);
/// let s = rtscope::task::stats();
/// assert!(s.task_delay.count >= 2); // the first poll, and the poll after the yield's wake
/// # }
/// # #[cfg(not(feature = "tokio"))]
/// # fn main() {}
/// ```
pub fn instrument<F: Future>(future: F) -> Instrumented<F> {
    let cell = Arc::new(WakeCell {
        woken_at: AtomicU64::new(stamp()),
    });
    Instrumented {
        inner: future,
        cell,
        waker: None,
    }
}

/// The future returned by [`instrument`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Instrumented<F> {
    inner: F,
    cell: Arc<WakeCell>,
    /// The executor's waker last seen, and the wrapper handed to `inner` for it.
    waker: Option<(Waker, Waker)>,
}

impl<F> Instrumented<F> {
    /// The wrapped future.
    pub fn get_ref(&self) -> &F {
        &self.inner
    }

    /// The wrapped future.
    pub fn into_inner(self) -> F {
        self.inner
    }
}

/// The wrapper for `outer`, made again only when the executor's waker changes.
fn wrapped<'a>(
    slot: &'a mut Option<(Waker, Waker)>,
    cell: &Arc<WakeCell>,
    outer: &'a Waker,
) -> &'a Waker {
    let fresh = !matches!(slot, Some((seen, _)) if seen.will_wake(outer));
    if fresh {
        let wrap = Arc::new(WakeWrap {
            cell: Arc::clone(cell),
            inner: outer.clone(),
        });
        *slot = Some((outer.clone(), Waker::from(wrap)));
    }
    match slot {
        Some((_, w)) => w,
        // Just filled above when it was not `Some`.
        None => outer,
    }
}

impl<F: Future> Future for Instrumented<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `inner` is structurally pinned: `Instrumented` has no `Drop` impl and no
        // method moves `inner` out of a pinned `Instrumented` (`into_inner` takes `self` by
        // value, unpinned). The other fields are not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let m = metrics();
        let start = Instant::now();
        let woken_at = this.cell.woken_at.swap(0, Relaxed);
        if woken_at != 0 {
            m.task_delay
                .record_ns(stamp_of(start).saturating_sub(woken_at));
        }
        let waker = wrapped(&mut this.waker, &this.cell, cx.waker());
        let mut cx = Context::from_waker(waker);
        // SAFETY: `this.inner` stays where the pinned `Instrumented` is (above).
        let inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        let r = inner.poll(&mut cx);
        m.poll_done(u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    #[test]
    fn delay_is_measured_from_the_wake() {
        let m = metrics();
        let before = (m.task_delay.snapshot(), m.poll.snapshot());
        let waker_seen = std::sync::Mutex::new(None::<Waker>);
        let mut polls = 0;
        let fut = std::future::poll_fn(|cx| {
            polls += 1;
            if polls < 3 {
                *waker_seen.lock().unwrap() = Some(cx.waker().clone());
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        });
        let mut fut = std::pin::pin!(instrument(fut));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        // A poll without a wake: a duration, no delay.
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        let delay = m.task_delay.snapshot().since(&before.0);
        assert_eq!(
            delay.count, 1,
            "only the first poll (from creation) has a delay"
        );
        let w = waker_seen.lock().unwrap().take().unwrap();
        w.wake();
        std::thread::sleep(std::time::Duration::from_millis(3));
        assert!(fut.as_mut().poll(&mut cx).is_ready());
        let delay = m.task_delay.snapshot().since(&before.0);
        assert_eq!(delay.count, 2);
        assert_eq!(delay.count_over(std::time::Duration::from_millis(2)), 1);
        assert_eq!(m.poll.snapshot().since(&before.1).count, 3);
    }
}
