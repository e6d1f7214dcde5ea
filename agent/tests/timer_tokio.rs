//! Tokio timer wrappers: started, fired, cancelled and pending counts, and lateness.
#![cfg(feature = "tokio")]

use rtscope::time::{self, TimerStats, tokio as rtime};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

fn delta(before: &TimerStats, after: &TimerStats) -> (u64, u64, u64, u64) {
    (
        after.started - before.started,
        after.fired - before.fired,
        after.cancelled - before.cancelled,
        after.lateness.since(&before.lateness).count,
    )
}

/// One test, steps in sequence: the timer counters are process-wide.
#[test]
fn tokio_timers() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        sleeps_fire_and_record_lateness().await;
        dropped_sleeps_are_cancelled().await;
        pending_counts_started_timers().await;
        timeouts_fire_or_are_cancelled().await;
        interval_ticks_are_timers().await;
        reset_after_firing_starts_a_new_timer().await;
    });
    blocked_runtime_makes_timers_late();
}

async fn sleeps_fire_and_record_lateness() {
    const N: u64 = 20;
    let before = time::stats();
    for _ in 0..N {
        let t = Instant::now();
        rtime::sleep(Duration::from_millis(1)).await;
        assert!(t.elapsed() >= Duration::from_millis(1));
    }
    let deadline = Instant::now() + Duration::from_millis(2);
    rtime::sleep_until(deadline).await;
    assert!(Instant::now() >= deadline);
    let after = time::stats();
    assert_eq!(delta(&before, &after), (N + 1, N + 1, 0, N + 1));
    assert_eq!(after.pending, 0);
}

async fn dropped_sleeps_are_cancelled() {
    let before = time::stats();
    let s = rtime::sleep(Duration::from_secs(60));
    assert!(!s.is_elapsed());
    drop(s);
    // Polled once, then dropped.
    {
        let mut s = pin!(rtime::sleep(Duration::from_secs(60)));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(s.as_mut().poll(&mut cx).is_pending());
    }
    let after = time::stats();
    assert_eq!(delta(&before, &after), (2, 0, 2, 0));
}

async fn pending_counts_started_timers() {
    let before = time::stats();
    let sleeps: Vec<_> = (0..5)
        .map(|_| rtime::sleep(Duration::from_secs(60)))
        .collect();
    let mid = time::stats();
    assert_eq!(mid.pending - before.pending, 5);
    drop(sleeps);
    let after = time::stats();
    assert_eq!(after.pending, before.pending);
    assert_eq!(delta(&before, &after), (5, 0, 5, 0));
}

async fn timeouts_fire_or_are_cancelled() {
    let before = time::stats();
    // The future wins: the timeout's timer is cancelled.
    assert_eq!(
        rtime::timeout(Duration::from_secs(60), async { 3 })
            .await
            .unwrap(),
        3
    );
    let mid = time::stats();
    assert_eq!(delta(&before, &mid), (1, 0, 1, 0));
    // The timer wins: fired (its lateness recorded); the inner sleep is cancelled.
    let slow = rtime::sleep(Duration::from_secs(60));
    assert!(
        rtime::timeout(Duration::from_millis(2), slow)
            .await
            .is_err()
    );
    let after = time::stats();
    assert_eq!(delta(&mid, &after), (2, 1, 1, 1));
    // `timeout_at`, and `into_inner` drops the timer unfired.
    let t = rtime::timeout_at(Instant::now() + Duration::from_secs(60), async { 1 });
    let inner = t.into_inner();
    assert_eq!(inner.await, 1);
    let last = time::stats();
    assert_eq!(delta(&after, &last), (1, 0, 1, 0));
}

async fn interval_ticks_are_timers() {
    let before = time::stats();
    let mut every = rtime::interval(Duration::from_millis(1));
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    assert_eq!(every.missed_tick_behavior(), MissedTickBehavior::Delay);
    let first = every.tick().await;
    for _ in 0..5 {
        assert!(every.tick().await > first);
    }
    assert_eq!(every.period(), Duration::from_millis(1));
    let after = time::stats();
    assert_eq!(delta(&before, &after), (6, 6, 0, 6));
    // A tick future dropped before completing is a cancelled timer.
    let mut slow = rtime::interval(Duration::from_secs(60));
    slow.tick().await; // the first tick is at once
    {
        let mut tick = pin!(slow.tick());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(tick.as_mut().poll(&mut cx).is_pending());
    }
    let last = time::stats();
    assert_eq!(delta(&after, &last), (2, 1, 1, 1));
}

async fn reset_after_firing_starts_a_new_timer() {
    let before = time::stats();
    let mut s = Box::pin(rtime::sleep(Duration::from_millis(1)));
    s.as_mut().await;
    s.as_mut().reset(Instant::now() + Duration::from_millis(1));
    s.as_mut().await;
    // A reset of a pending sleep is the same timer.
    s.as_mut().reset(Instant::now() + Duration::from_secs(60));
    s.as_mut().reset(Instant::now() + Duration::from_millis(1));
    let waited = std::future::poll_fn(|cx| match s.as_mut().poll(cx) {
        Poll::Ready(()) => Poll::Ready(true),
        Poll::Pending => Poll::Pending,
    });
    assert!(waited.await);
    let after = time::stats();
    assert_eq!(delta(&before, &after), (3, 3, 0, 3));
}

/// A current-thread runtime blocked for 30 ms: a 1 ms sleep fires at least 25 ms late.
fn blocked_runtime_makes_timers_late() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let before = time::stats();
    rt.block_on(async {
        let sleeper = tokio::spawn(rtime::sleep(Duration::from_millis(1)));
        let blocker = tokio::spawn(async { std::thread::sleep(Duration::from_millis(30)) });
        blocker.await.unwrap();
        sleeper.await.unwrap();
    });
    let after = time::stats();
    assert_eq!(delta(&before, &after), (1, 1, 0, 1));
    let late = after.lateness.since(&before.lateness);
    assert_eq!(late.count_over(Duration::from_millis(20)), 1);
}
