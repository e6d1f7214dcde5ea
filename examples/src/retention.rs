//! Memory the allocator keeps after the program freed it, and giving it back: the arena
//! retention story in Rust terms, the same for each allocator rtscope can ask
//! (`--bin retention` on glibc malloc, `retention_jemalloc`, `retention_mimalloc`):
//!
//! 1. a burst of 500 000 small objects (200 bytes each, about 100 MiB), the last one kept,
//! 2. all but that last one freed again: the live heap is back near zero, but the RSS stays
//!    up as long as the allocator keeps the pages, and `rust.memory.allocator.free` shows the
//!    bytes it holds free (glibc: the kept object sits at the top of the heap, so it cannot
//!    shrink on its own; jemalloc: dirty pages wait for their decay; mimalloc purges free
//!    pages on its own after a short delay),
//! 3. `rtscope::alloc::trim()` (glibc `malloc_trim(0)`, a jemalloc purge, `mi_collect`)
//!    returns what is left: the RSS drops, and `rust.memory.allocator.released` counts what
//!    went back.
//!
//! ```text
//! cargo run --release -p rtscope-examples --bin retention
//! ```
//! Point it at a collector with the standard variables (e.g.
//! `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318`) to see the series; it waits
//! `RTSCOPE_HOLD_MS` (default 1500) after freeing so an export sees the held memory. Each
//! step prints one line of `key=value` figures in bytes (`rss` is 0 where the system does
//! not say; `releasable` only where the allocator says).

use std::time::Duration;

const OBJECTS: usize = 500_000;
const SIZE: usize = 200;

fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    pages * u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096)
}

fn report(step: &str) {
    let held = rtscope::alloc::held_memory().unwrap_or_default();
    println!(
        "{step} live={} rss={} mapped={} in_use={} free={}{}",
        rtscope::alloc::stats().live_bytes,
        rss(),
        held.mapped,
        held.in_use,
        held.free,
        held.releasable
            .map(|r| format!(" releasable={r}"))
            .unwrap_or_default()
    );
}

/// Runs the story under the `#[global_allocator]`, whose constructor (`Alloc::system`,
/// `Alloc::jemalloc`, `Alloc::mimalloc`) reports what its allocator holds: nothing else to
/// call.
pub fn run() {
    report("start");

    let mut objects: Vec<Box<[u8]>> = Vec::with_capacity(OBJECTS);
    for i in 0..OBJECTS {
        objects.push(vec![i as u8; SIZE].into_boxed_slice());
    }
    report("burst");

    let kept = objects.pop();
    drop(objects);
    report("freed");
    let hold = std::env::var("RTSCOPE_HOLD_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    std::thread::sleep(Duration::from_millis(hold));
    report("held");

    match rtscope::alloc::trim() {
        Some(returned) => println!("trimmed returned={returned}"),
        None => println!("trimmed returned=none (this allocator cannot give memory back)"),
    }
    report("after");
    drop(kept);
}
