//! Task scheduling delay: a task blocked for 5 ms delays the task queued behind it by at
//! least 5 ms, and the histogram shows it. Current-thread runtimes, for determinism.
#![cfg(feature = "tokio")]

use rtscope::task::{self, ScheduleStats};
use std::time::Duration;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// One test, steps in sequence: the task counters are process-wide.
#[test]
fn task_scheduling() {
    blocked_task_delays_the_spawned_task_behind_it();
    blocked_task_delays_a_woken_task();
    polls_are_measured_and_slow_ones_counted();
    probe_sees_a_blocked_runtime();
    async_main_starts_the_probe();
}

fn since(before: &ScheduleStats) -> ScheduleStats {
    let now = task::stats();
    let mut d = now;
    d.task_delay = now.task_delay.since(&before.task_delay);
    d.probe_delay = now.probe_delay.since(&before.probe_delay);
    d.poll_duration = now.poll_duration.since(&before.poll_duration);
    d.slow_polls = now.slow_polls - before.slow_polls;
    d
}

fn blocked_task_delays_the_spawned_task_behind_it() {
    let before = task::stats();
    runtime().block_on(async {
        let blocker = task::spawn(async { std::thread::sleep(Duration::from_millis(5)) });
        let behind = task::spawn(async {});
        blocker.await.unwrap();
        behind.await.unwrap();
    });
    let d = since(&before);
    // Two first polls, each measured from its spawn.
    assert_eq!(d.task_delay.count, 2);
    // The one behind the blocker waited its 5 ms and more: the buckets over 5 ms. (`>=`: a
    // loaded machine may delay the blocker's own first poll too.)
    assert!(d.task_delay.count_over(Duration::from_millis(5)) >= 1);
    assert!(d.task_delay.sum >= Duration::from_millis(5));
}

fn blocked_task_delays_a_woken_task() {
    let before = task::stats();
    runtime().block_on(async {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let waiter = task::spawn(async move { rx.await.unwrap() });
        tokio::task::yield_now().await; // let the waiter park on the channel
        let waker = task::spawn(async move {
            tx.send(()).unwrap(); // wakes the waiter...
            std::thread::sleep(Duration::from_millis(5)); // ...which waits behind this poll
        });
        waker.await.unwrap();
        waiter.await.unwrap();
    });
    let d = since(&before);
    // waiter: first poll, and the poll after the wake; waker: first poll.
    assert_eq!(d.task_delay.count, 3);
    assert!(d.task_delay.count_over(Duration::from_millis(5)) >= 1);
    assert!(d.task_delay.sum >= Duration::from_millis(5));
}

fn polls_are_measured_and_slow_ones_counted() {
    let before = task::stats();
    runtime().block_on(async {
        task::instrument(async {
            std::thread::sleep(Duration::from_millis(2)); // a slow poll (> 1 ms)
            tokio::task::yield_now().await;
            // a fast poll
        })
        .await;
    });
    let d = since(&before);
    assert_eq!(d.poll_duration.count, 2);
    assert_eq!(d.slow_polls, 1);
    assert_eq!(d.poll_duration.count_over(Duration::from_millis(2)), 1);
    assert_eq!(task::slow_poll_threshold(), task::DEFAULT_SLOW_POLL);
}

fn probe_sees_a_blocked_runtime() {
    let before = task::stats();
    let rt = runtime();
    let probe = task::start_probe_with_period(rt.handle(), Duration::from_millis(5));
    rt.block_on(async {
        // Let the probe run a few periods, then block the only worker for 40 ms.
        tokio::time::sleep(Duration::from_millis(20)).await;
        std::thread::sleep(Duration::from_millis(40));
        tokio::time::sleep(Duration::from_millis(20)).await;
    });
    probe.stop();
    let d = since(&before);
    assert!(
        d.probe_delay.count >= 2,
        "probe polls: {}",
        d.probe_delay.count
    );
    // The deadline fell inside the 40 ms block: polled at least 30 ms late, once.
    assert!(d.probe_delay.count_over(Duration::from_millis(20)) >= 1);
    assert!(d.probe_delay.sum >= Duration::from_millis(30));
}

/// What `#[rtscope::main]` on an `async fn main` runs: the probe is started with the runtime.
fn async_main_starts_the_probe() {
    let before = task::stats();
    rtscope::__private::block_on(async {
        tokio::time::sleep(task::DEFAULT_PROBE_PERIOD * 4).await;
    });
    let d = since(&before);
    assert!(
        d.probe_delay.count >= 2,
        "probe polls: {}",
        d.probe_delay.count
    );
}
