//! A child process for the tokio histogram test (`tests/tokio_histograms.rs`): known polls on
//! a registered runtime, whose poll-time and schedule-latency histograms exist only when it
//! is built with `--cfg tokio_unstable` (`scripts/test.sh` builds it so, into
//! `target/tokio-unstable`; the workspace's normal build of it has none).
//!
//! - A current-thread runtime, registered with `rtscope::task::register_runtime`, driven by
//!   `block_on` on this thread only, so every poll ends before the `block_on` that ran it
//!   returns and the times this thread measures bound tokio's. Built with the cfg, both
//!   histograms are enabled with 1 ms buckets: the last holds every sample of 5 ms or more.
//! - [`ROUNDS`] rounds, each spawning from outside the runtime and awaiting: usually one task
//!   that returns at once; every [`SLOW_EVERY`]th round a task that busy-spins [`SLOW`] and a
//!   quick one queued behind it, which so waits at least [`SLOW`] to be polled. 40 tasks,
//!   each scheduled once and polled once: 4 polls of at least 5 ms, 4 schedule latencies of
//!   at least 5 ms.
//! - Prints `RUNTIME <id>`; built with the cfg, then `POLL_TIME <counts>` and
//!   `SCHEDULE_LATENCY <counts>` as the runtime itself reads them, and `UNSURE <polls>
//!   <latencies>`: how many other samples this thread cannot bound under 5 ms (a round
//!   descheduled that long; 0 unless the machine is overloaded). Then, after
//!   `RTSCOPE_TEST_HOLD_MS` (default 1000) in which the agent exports, `DONE`.

use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

/// Rounds of spawning and awaiting.
const ROUNDS: u32 = 36;
/// Every this many rounds, one runs a slow task and a quick one behind it: 4 of the 36.
const SLOW_EVERY: u32 = 9;
/// How long a slow task's poll spins.
const SLOW: Duration = Duration::from_millis(5);

#[rtscope::main]
fn main() {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    #[cfg(tokio_unstable)]
    {
        use tokio::runtime::HistogramConfiguration;
        let buckets = || HistogramConfiguration::linear(Duration::from_millis(1), 6);
        builder
            .enable_metrics_poll_time_histogram()
            .metrics_poll_time_histogram_configuration(buckets())
            .enable_metrics_schedule_latency_histogram()
            .metrics_schedule_latency_histogram_configuration(buckets());
    }
    let rt = builder.build().expect("a runtime");
    assert!(rtscope::task::register_runtime(rt.handle()));
    println!("RUNTIME {}", rt.handle().id());

    let (mut unsure_polls, mut unsure_latencies) = (0, 0);
    for round in 0..ROUNDS {
        let start = Instant::now();
        if round % SLOW_EVERY == 0 {
            let slow = rt.spawn(async {
                let polled = Instant::now();
                while polled.elapsed() < SLOW {
                    std::hint::spin_loop();
                }
                (polled, Instant::now())
            });
            let behind = rt.spawn(async {});
            rt.block_on(behind).expect("the queued task");
            let end = Instant::now();
            let (polled, spun) = rt.block_on(slow).expect("the slow task");
            // The slow task waited at most until it ran; the one behind it was polled within
            // the time from the end of the spin to the end of the round.
            unsure_latencies += u32::from(polled - start >= SLOW);
            unsure_polls += u32::from(end - spun >= SLOW);
        } else {
            rt.block_on(rt.spawn(async {})).expect("a task");
            if start.elapsed() >= SLOW {
                unsure_polls += 1;
                unsure_latencies += 1;
            }
        }
    }

    #[cfg(tokio_unstable)]
    {
        let m = rt.metrics();
        let counts = |n: usize, count: &dyn Fn(usize) -> u64| (0..n).map(count).collect();
        let poll = || -> Vec<u64> {
            counts(m.poll_time_histogram_num_buckets(), &|b| {
                m.poll_time_histogram_bucket_count(0, b)
            })
        };
        let latency = || -> Vec<u64> {
            counts(m.schedule_latency_histogram_num_buckets(), &|b| {
                m.schedule_latency_histogram_bucket_count(0, b)
            })
        };
        let text = |c: Vec<u64>| c.iter().map(u64::to_string).collect::<Vec<_>>().join(" ");
        println!("POLL_TIME {}", text(poll()));
        println!("SCHEDULE_LATENCY {}", text(latency()));
        println!("UNSURE {unsure_polls} {unsure_latencies}");
    }
    #[cfg(not(tokio_unstable))]
    let _ = (unsure_polls, unsure_latencies);

    let hold = std::env::var("RTSCOPE_TEST_HOLD_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    std::thread::sleep(Duration::from_millis(hold));
    println!("DONE");
}
