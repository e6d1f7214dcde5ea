//! The per-thread memory cost worker, shared by `thread_cost_system` and
//! `thread_cost_rtscope` (included with `#[path]`; only the global allocator differs).
//!
//! Starts `threads` threads (argument 1, default 4000) that each allocate and free a few
//! blocks and then wait, all alive at once; prints the process's resident memory before,
//! while they are all alive, and after they were joined, in KiB:
//! `threads rss_before rss_alive rss_joined`.

use std::hint::black_box;
use std::sync::{Arc, Barrier};

/// Resident memory of this process in KiB (`/proc/self/statm`), 0 where unavailable.
fn rss_kib() -> u64 {
    let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
        return 0;
    };
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc_page_size() };
    pages * page / 1024
}

unsafe extern "C" {
    fn sysconf(name: i32) -> i64;
}

/// `sysconf(_SC_PAGESIZE)`; 4096 if it fails.
unsafe fn libc_page_size() -> u64 {
    const SC_PAGESIZE: i32 = 30;
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { sysconf(SC_PAGESIZE) };
    u64::try_from(p).ok().filter(|&p| p > 0).unwrap_or(4096)
}

pub(crate) fn main() {
    let threads: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(4000);
    let ready = Arc::new(Barrier::new(threads + 1));
    let go = Arc::new(Barrier::new(threads + 1));
    let before = rss_kib();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (ready, go) = (Arc::clone(&ready), Arc::clone(&go));
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    // A thread that only allocates: a few blocks of a few sizes.
                    for i in 0..64 {
                        drop(black_box(vec![0u8; 16 + 16 * i]));
                    }
                    ready.wait();
                    go.wait();
                })
                .expect("spawn")
        })
        .collect();
    ready.wait();
    let alive = rss_kib();
    go.wait();
    for h in handles {
        h.join().expect("join");
    }
    let joined = rss_kib();
    println!("{threads} {before} {alive} {joined}");
}
