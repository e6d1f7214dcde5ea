//! A child process for the Prometheus test: known counts under the agent (configured by the
//! environment, e.g. `OTEL_METRICS_EXPORTER=prometheus`), then, once told to, a steady load
//! touching every series the dashboard draws.
//!
//! Usage: `prom_workload GO_FILE`. Phase one, before anything is served:
//!
//! - pool `prom-pool` (capacity 10): 12 gets held and put back, twice, then 100 get/put
//!   pairs: 111 hits, 13 misses, 122 stored, 2 discarded;
//! - 1000 timer lateness observations: 900 of 5 µs (bucket 2..5 µs) and 100 of 300 µs
//!   (bucket 200..500 µs), so the p99 is 470 µs and the p50 3.67 µs by Prometheus's linear
//!   interpolation.
//!
//! Then it prints `listening on http://ADDR` (ADDR: `OTEL_EXPORTER_PROMETHEUS_HOST:PORT`)
//! and `SNAPSHOT {"allocations":N}` without allocating; nothing of the user's allocates
//! until `GO_FILE` exists. Phase two, for at most 60 s: every 50 ms it allocates (in scope `steady`), uses pool
//! `prom-steady`, sleeps on rtscope timers, records the same lateness mix and a
//! `checkout` latency, and runs instrumented tokio tasks (one poll of 2 ms: a slow poll,
//! and a task that waits for it).

use rtscope::pool::Pool;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

#[rtscope::main]
fn main() {
    let go = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .expect("usage: prom_workload GO_FILE");
    let host = std::env::var("OTEL_EXPORTER_PROMETHEUS_HOST").unwrap_or("127.0.0.1".into());
    let port = std::env::var("OTEL_EXPORTER_PROMETHEUS_PORT").unwrap_or("9464".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let _pool = rtscope_integration::known_pool("prom-pool");
    lateness_mix(900, 100);
    println!("listening on http://{host}:{port}");
    // What the wait below calls, once before the snapshot: a first call may set something up.
    let _ = go.exists();
    std::thread::sleep(Duration::from_millis(1));

    let s = rtscope::alloc::stats();
    let mine = rtscope::alloc::thread_stats().allocations;
    rtscope_integration::print_uncounted(|w| {
        write!(w, r#"SNAPSHOT {{"allocations":{}}}"#, s.allocations)
    });
    // `Path::exists` does not allocate (a small path is made into a C string on the stack).
    // Should a count change all the same, say once whose it was (this thread's or another's),
    // for the test's failure message.
    let mut said = false;
    while !go.exists() {
        let now = rtscope::alloc::stats().allocations;
        if now != s.allocations && !said {
            said = true;
            let main = rtscope::alloc::thread_stats().allocations - mine;
            rtscope_integration::print_uncounted(|w| {
                write!(
                    w,
                    "LATE {} allocations after the snapshot, {main} of them on the main thread",
                    now - s.allocations
                )
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let steady = Pool::new("prom-steady", || Vec::<u8>::with_capacity(256));
    let end = Instant::now() + Duration::from_secs(60);
    while Instant::now() < end {
        rtscope::scope("steady", || {
            let blocks: Vec<Vec<u8>> = (0..50).map(|i| vec![0u8; 64 << (i % 8)]).collect();
            std::hint::black_box(&blocks);
        });
        let held: Vec<_> = (0..4).map(|_| steady.get()).collect();
        drop(held);
        lateness_mix(9, 1);
        rtscope::latency("checkout", Duration::from_millis(3));
        rtscope::time::sleep(Duration::from_millis(1));
        rt.block_on(async {
            let blocker = tokio::spawn(rtscope::task::instrument(async {
                std::thread::sleep(Duration::from_millis(2));
            }));
            let waiter = tokio::spawn(rtscope::task::instrument(async {}));
            let _ = blocker.await;
            let _ = waiter.await;
        });
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `fast` observations of 5 µs and `slow` of 300 µs.
fn lateness_mix(fast: u32, slow: u32) {
    for _ in 0..fast {
        rtscope::time::record_lateness(Duration::from_micros(5));
    }
    for _ in 0..slow {
        rtscope::time::record_lateness(Duration::from_micros(300));
    }
}
