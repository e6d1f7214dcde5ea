//! A child process for the fault suite: an application loop under the agent that times
//! itself, configured only by the environment (`#[rtscope::main]` without arguments; with
//! `OTEL_SDK_DISABLED=true` no export thread runs, the baseline).
//!
//! Usage: `timed_loop [MILLIS]`. Runs iterations for MILLIS ms (default 3000); each
//! allocates, fills and frees 16 blocks of 1000 B and is timed twice, by the wall clock and by
//! the thread's CPU clock (what the loop itself executed: no wait for a core counted). At the
//! end it prints `LOOP {json}` (the p99 and median of both and the longest iteration, in nanoseconds, and the peak
//! resident memory from `VmHWM`) and last
//! `SNAPSHOT {json}` with the exact allocation count the final export must carry, both
//! printed without allocating so printing them changes nothing.

use std::time::Instant;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

/// CPU time of the calling thread in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) } != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Peak resident memory of this process in bytes (`VmHWM` of `/proc/self/status`).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[rtscope::main]
fn main() {
    let millis: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let end = Instant::now() + std::time::Duration::from_millis(millis);
    // Room for every iteration up front, so the loop's own bookkeeping never reallocates.
    let mut times: Vec<u64> = Vec::with_capacity(1 << 21);
    let mut cpu_times: Vec<u64> = Vec::with_capacity(1 << 21);
    let mut i = 0usize;
    while Instant::now() < end && times.len() < times.capacity() {
        i += 1;
        let started = Instant::now();
        let started_cpu = thread_cpu_ns();
        let blocks: Vec<Vec<u8>> = (0..16).map(|b| vec![(i + b) as u8; 1000]).collect();
        let sum: u64 = blocks.iter().flatten().map(|&x| u64::from(x)).sum();
        std::hint::black_box(sum);
        drop(blocks);
        cpu_times.push(thread_cpu_ns().saturating_sub(started_cpu));
        times.push(started.elapsed().as_nanos() as u64);
    }
    // Read before the snapshot: reading the file allocates.
    let rss = peak_rss();
    let s = rtscope::alloc::stats();
    times.sort_unstable();
    cpu_times.sort_unstable();
    let at = |v: &[u64], q: f64| v[((v.len() - 1) as f64 * q) as usize];
    rtscope_integration::print_uncounted(|w| {
        write!(
            w,
            r#"LOOP {{"iterations":{},"p99_ns":{},"p50_ns":{},"max_ns":{},"p99_cpu_ns":{},"p50_cpu_ns":{},"peak_rss":{}}}"#,
            times.len(),
            at(&times, 0.99),
            at(&times, 0.5),
            at(&times, 1.0),
            at(&cpu_times, 0.99),
            at(&cpu_times, 0.5),
            rss
        )
    });
    rtscope_integration::print_uncounted(|w| {
        write!(w, r#"SNAPSHOT {{"allocations":{}}}"#, s.allocations)
    });
}
