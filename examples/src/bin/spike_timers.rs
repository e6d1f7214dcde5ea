//! Timer spikes: thousands of timers registered at once fire late.
//!
//! ```text
//! cargo run --release -p rtscope-examples --bin spike_timers
//! ```
//!
//! First 200 timers spread over time (the baseline), then 20 000 tasks that each arm a
//! timer for the same instant (a retry storm, a cache expiring at once). They all expire in
//! the same tick of tokio's timer wheel, and the tasks they wake queue up behind one
//! another: the last ones run long after their deadline. `rust.timer.lateness` shows the
//! tail move from a millisecond to tens of milliseconds, and `rust.timer.pending` the burst.

use rtscope::time::{HistogramSnapshot, tokio as rtime};
use std::time::Duration;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

const BURST: usize = 20_000;

fn show(what: &str, h: &HistogramSnapshot) {
    println!(
        "  {what}: {} timers, mean lateness {:?}, p50 <= {:?}, p99 <= {:?}, max <= {:?}, over 10 ms: {}",
        h.count,
        h.mean(),
        h.quantile_bound(0.5),
        h.quantile_bound(0.99),
        h.quantile_bound(1.0),
        h.count_over(Duration::from_millis(10)),
    );
}

/// Some work per wake-up, as a handler would do.
fn work() {
    let mut x = 0u64;
    for i in 0..2_000u64 {
        x = x.wrapping_mul(31).wrapping_add(i);
    }
    std::hint::black_box(x);
}

#[rtscope::main(service_name = "spike-timers")]
async fn main() {
    let t0 = rtscope::time::stats();
    for _ in 0..200 {
        rtime::sleep(Duration::from_millis(2)).await;
        work();
    }
    let t1 = rtscope::time::stats();
    println!("Baseline: one timer at a time");
    show("rust.timer.lateness", &t1.lateness.since(&t0.lateness));

    let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
    let tasks: Vec<_> = (0..BURST)
        .map(|_| {
            tokio::spawn(async move {
                rtime::sleep_until(deadline).await;
                work();
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let armed = rtscope::time::stats();
    println!("Burst: {BURST} timers armed for the same instant");
    println!("  rust.timer.pending while they wait: {}", armed.pending);
    for t in tasks {
        t.await.expect("task");
    }
    let t2 = rtscope::time::stats();
    show("rust.timer.lateness", &t2.lateness.since(&t1.lateness));
    println!("  rust.timer.pending after: {}", t2.pending);
    println!(
        "look for: rust.timer.lateness buckets above 10 ms filling during the burst (baseline: \
         none), rust.timer.pending jumping to {BURST} before it, and rust.timer.fired rising by \
         {BURST} at once. Spread the deadlines (jitter) and the tail goes away."
    );
}
