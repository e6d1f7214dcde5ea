//! Thread timers: N sleeps give N lateness observations, all started and fired.
//!
//! One test running steps in sequence: the timer counters are process-wide.

use rtscope::time::{self, Interval, TimerStats};
use std::time::{Duration, Instant};

fn delta(before: &TimerStats, after: &TimerStats) -> (u64, u64, u64, u64) {
    (
        after.started - before.started,
        after.fired - before.fired,
        after.cancelled - before.cancelled,
        after.lateness.since(&before.lateness).count,
    )
}

#[test]
fn thread_timers() {
    n_sleeps_give_n_observations();
    sleep_until_a_past_deadline_fires_at_once();
    interval_ticks_are_timers();
    lateness_is_what_the_clock_says();
}

fn n_sleeps_give_n_observations() {
    const N: u64 = 50;
    let before = time::stats();
    for _ in 0..N {
        let t = Instant::now();
        time::sleep(Duration::from_micros(300));
        assert!(t.elapsed() >= Duration::from_micros(300));
    }
    let after = time::stats();
    assert_eq!(delta(&before, &after), (N, N, 0, N));
    assert_eq!(after.pending, 0);
    let late = after.lateness.since(&before.lateness);
    assert_eq!(late.counts.iter().sum::<u64>(), N);
    // Lateness is never negative: every observation is in a bucket, none is lost, and the
    // mean is a non-negative duration by construction; a sleep never returns early.
    assert!(late.mean() < Duration::from_secs(1));
}

fn sleep_until_a_past_deadline_fires_at_once() {
    let before = time::stats();
    let deadline = Instant::now();
    std::thread::sleep(Duration::from_millis(3));
    time::sleep_until(deadline);
    let after = time::stats();
    assert_eq!(delta(&before, &after), (1, 1, 0, 1));
    // Three milliseconds late at least: the bucket above 2 ms.
    let late = after.lateness.since(&before.lateness);
    assert_eq!(late.count_over(Duration::from_millis(2)), 1);
    assert!(late.sum >= Duration::from_millis(3));
}

fn interval_ticks_are_timers() {
    let before = time::stats();
    let mut every = Interval::new(Duration::from_millis(1));
    let first = every.tick();
    for k in 1..=10u32 {
        let tick = every.tick();
        assert!(tick >= first + Duration::from_millis(1) * k);
    }
    let after = time::stats();
    assert_eq!(delta(&before, &after), (11, 11, 0, 11));
    assert_eq!(every.period(), Duration::from_millis(1));
}

fn lateness_is_what_the_clock_says() {
    // A timer on a thread that wakes late because its deadline passed while it was busy.
    let before = time::stats();
    let deadline = Instant::now() + Duration::from_millis(1);
    while Instant::now() < deadline + Duration::from_millis(12) {
        std::hint::spin_loop();
    }
    time::sleep_until(deadline);
    let late = time::stats().lateness.since(&before.lateness);
    assert_eq!(late.count, 1);
    assert_eq!(late.count_over(Duration::from_millis(10)), 1);
    assert!(late.sum >= Duration::from_millis(12));
}
