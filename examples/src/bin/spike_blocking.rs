//! Scheduler spikes: a task that blocks its worker thread delays every task behind it.
//!
//! ```text
//! cargo run --release -p rtscope-examples --bin spike_blocking
//! ```
//!
//! 50 instrumented tasks tick every millisecond on the runtime `#[rtscope::main]` builds
//! (which also starts the runtime probe). Phase 1 is the baseline. In phase 2 "requests"
//! arrive that call a blocking function (30 ms of `std::thread::sleep`, standing for
//! synchronous I/O or a heavy computation) right on the async worker threads; in phase 3
//! the same requests run it with `tokio::task::spawn_blocking`. Look at
//! `rust.schedule.duration` (`rust.schedule.kind` = `task` and `probe`) and
//! `rust.task.slow_polls`: phase 2 moves their tail from microseconds to tens of
//! milliseconds, phase 3 brings it back.

use rtscope::task::{self, ScheduleStats};
use std::time::Duration;
use tokio::time::Instant;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

const PHASE: Duration = Duration::from_millis(1500);

fn blocking_call() {
    std::thread::sleep(Duration::from_millis(30));
}

fn show(phase: &str, before: &ScheduleStats, after: &ScheduleStats) {
    let tasks = after.task_delay.since(&before.task_delay);
    let probe = after.probe_delay.since(&before.probe_delay);
    println!("{phase}");
    println!(
        "  task wake->poll delay: {} polls, mean {:?}, p99 <= {:?}, max <= {:?}, over 10 ms: {}",
        tasks.count,
        tasks.mean(),
        tasks.quantile_bound(0.99),
        tasks.quantile_bound(1.0),
        tasks.count_over(Duration::from_millis(10))
    );
    println!(
        "  probe lateness: {} polls, max <= {:?}, over 10 ms: {}; slow polls (> 1 ms): {}",
        probe.count,
        probe.quantile_bound(1.0),
        probe.count_over(Duration::from_millis(10)),
        after.slow_polls - before.slow_polls
    );
}

/// Requests every 100 ms, four at a time (more than the 2 workers of a 2-CPU machine), each
/// running `blocking_call`.
async fn requests(offload: bool) {
    let end = Instant::now() + PHASE;
    while Instant::now() < end {
        for _ in 0..4 {
            task::spawn(async move {
                if offload {
                    tokio::task::spawn_blocking(blocking_call)
                        .await
                        .expect("blocking task");
                } else {
                    blocking_call();
                }
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[rtscope::main(service_name = "spike-blocking")]
async fn main() {
    for _ in 0..50 {
        task::spawn(async {
            loop {
                tokio::time::sleep(Duration::from_millis(1)).await;
                std::hint::black_box((0..200u64).sum::<u64>());
            }
        });
    }
    let s0 = task::stats();
    tokio::time::sleep(PHASE).await;
    let s1 = task::stats();
    show("Phase 1, baseline:", &s0, &s1);
    requests(false).await;
    let s2 = task::stats();
    show("Phase 2, requests block their worker for 30 ms:", &s1, &s2);
    requests(true).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let s3 = task::stats();
    show("Phase 3, the same requests with spawn_blocking:", &s2, &s3);
    for t in task::thread_delays() {
        println!(
            "  thread {:?}: waited for a CPU {:?} over {} runs",
            t.name, t.delay.sum, t.delay.count
        );
    }
    println!(
        "look for: rust.schedule.duration{{rust.schedule.kind=\"task\"}} and {{kind=\"probe\"}} \
         buckets over 10 ms filling only in phase 2, with rust.task.slow_polls counting the \
         blocking polls; thread series (kind=\"thread\") stay low: the threads were not waiting \
         for a CPU, the tasks were waiting for a thread."
    );
}
