//! Lateness of `rtscope::time` thread timers, to compare with `cyclictest` (rt-tests).
//!
//! ```text
//! cargo run --release -p rtscope-examples --bin spike_sleep_lateness -- [interval|sleep] [SECONDS] [INTERVAL_US]
//! cyclictest -t1 -i1000 -D10 -q        # absolute deadlines, like `interval`
//! cyclictest -t1 -i1000 -D10 -q -r     # relative sleeps, like `sleep`
//! ```
//!
//! `interval` ticks an `rtscope::time::Interval` (absolute deadlines on a grid, as cyclictest
//! does by default); `sleep` calls `rtscope::time::sleep` in a loop (relative, as
//! `cyclictest -r`). Both at normal priority (cyclictest without `-p`). Prints what
//! `rust.timer.lateness` recorded.

use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

#[rtscope::main(service_name = "spike-sleep-lateness")]
fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "interval".into());
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let us: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let period = Duration::from_micros(us);
    let before = rtscope::time::stats();
    let end = Instant::now() + Duration::from_secs(secs);
    match mode.as_str() {
        "sleep" => {
            while Instant::now() < end {
                rtscope::time::sleep(period);
            }
        }
        _ => {
            let mut every = rtscope::time::Interval::new(period);
            while Instant::now() < end {
                every.tick();
            }
        }
    }
    let h = rtscope::time::stats().lateness.since(&before.lateness);
    println!(
        "rtscope::time {mode}, {us} us for {secs} s: {} timers, mean lateness {:.1} us, p50 <= {:?}, p99 <= {:?}, p99.9 <= {:?}, max <= {:?}",
        h.count,
        h.mean().as_nanos() as f64 / 1000.0,
        h.quantile_bound(0.5),
        h.quantile_bound(0.99),
        h.quantile_bound(0.999),
        h.quantile_bound(1.0)
    );
    let bounds = h.bounds();
    let mut line = String::from("buckets (upper bound: count):");
    for (i, c) in h.counts.iter().enumerate().filter(|(_, c)| **c > 0) {
        match bounds.get(i) {
            Some(b) => line += &format!(" {b:?}: {c}"),
            None => line += &format!(" >10s: {c}"),
        }
    }
    println!("{line}");
}
