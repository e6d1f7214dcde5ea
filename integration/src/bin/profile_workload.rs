//! A child process for the sampling and profile tests: a deterministic workload under the
//! agent, configured only by the environment (the defaults unless a test sets a variable).
//!
//! - `profile_workload scopes OUT`: allocates and frees 16, 32, 48 and 64 MiB of blocks of
//!   16..=16384 B (a fixed sequence) in the scopes `s16`, `s32`, `s48`, `s64`, then holds
//!   8 MiB of 1 KiB blocks from `hold_eight` while it writes the heap profile to `OUT`. Prints
//!   one line per scope, `SCOPE <name> <bytes> <variance>`: the bytes the scope allocated
//!   (exact, from this thread's counters) and the variance of their sampled estimate at the
//!   default 512 KiB interval.
//! - `profile_workload untracked N OUT`: holds `N` blocks of 96 B from `hold_small` while it
//!   writes the heap profile to `OUT` and through the exit summary; prints
//!   `HELD <bytes> <blocks>`.
//!
//! Everything runs on the thread that installs the agent, so a seeded run
//! (`RTSCOPE_SAMPLING_SEED`) samples the same blocks every time.

use std::alloc::{Layout, alloc, dealloc};
use std::hint::black_box;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

/// The default interval the variance is given for.
const MEAN: f64 = 512.0 * 1024.0;

/// Allocates and frees blocks of 16..=16384 B from the xorshift sequence `seed` until
/// `total` bytes; returns the variance of their estimate at [`MEAN`]. Allocates nothing else.
#[inline(never)]
fn churn(total: u64, mut seed: u64) -> f64 {
    let (mut done, mut variance) = (0, 0.0);
    while done < total {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let size = 16 + (seed % 16_369) as usize;
        let layout = Layout::from_size_align(size, 8).unwrap();
        // SAFETY: non-zero size, freed right away with the same layout.
        unsafe { dealloc(black_box(alloc(layout)), layout) };
        done += size as u64;
        let (s, p) = (size as f64, -(-(size as f64) / MEAN).exp_m1());
        variance += s * s * (1.0 - p) / p;
    }
    variance
}

#[inline(never)]
fn hold_eight() -> Vec<Box<[u8]>> {
    let mut held = Vec::with_capacity(8192);
    for _ in 0..8192 {
        held.push(black_box(vec![0u8; 1024].into_boxed_slice()));
    }
    held
}

#[inline(never)]
fn hold_small(n: usize) -> Vec<Box<[u8]>> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        held.push(black_box(vec![0u8; 96].into_boxed_slice()));
    }
    held
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let guard = rtscope::Agent::builder()
        .with_service_name("profile-workload")
        .install()
        .expect("install rtscope");
    match args.get(1).map(String::as_str) {
        Some("scopes") => {
            let mut lines = Vec::new();
            for (i, mib) in [16u64, 32, 48, 64].into_iter().enumerate() {
                let name = format!("s{mib}");
                let before = rtscope::alloc::thread_stats().allocated_bytes;
                let variance = rtscope::scope(&name, || churn(mib << 20, 0x9E37_79B9 + i as u64));
                let bytes = rtscope::alloc::thread_stats().allocated_bytes - before;
                lines.push(format!("SCOPE {name} {bytes} {variance}"));
            }
            let held = hold_eight();
            std::fs::write(&args[2], rtscope::profile::pprof_heap()).expect("write the profile");
            drop(black_box(held));
            for l in lines {
                println!("{l}");
            }
        }
        Some("untracked") => {
            let n: usize = args[2].parse().expect("a number of blocks");
            let held = hold_small(n);
            std::fs::write(&args[3], rtscope::profile::pprof_heap()).expect("write the profile");
            println!("HELD {} {}", 96 * held.len(), held.len());
            // Held through the exit summary.
            guard.shutdown();
            drop(black_box(held));
            return;
        }
        _ => panic!("usage: profile_workload scopes OUT | untracked N OUT"),
    }
    guard.shutdown();
}
