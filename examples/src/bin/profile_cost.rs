//! What a heap-profile sample costs the allocating thread: the stack capture (frame pointers
//! or the DWARF unwinder, whichever this build uses), interning it, and serving the block from
//! the profile's arena. Every allocation is sampled (mean interval 1 byte) 30 frames below
//! `main`; the median time per allocation + free with heap profiles on, minus with them off,
//! over interleaved rounds, one process per measurement.
//!
//! ```text
//! cargo run --release -p rtscope-examples --bin profile_cost [-- ROUNDS]
//! RUSTFLAGS="-C force-frame-pointers=yes" cargo run --release -p rtscope-examples \
//!     --target-dir target/fp --bin profile_cost
//! ```

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

const ITERATIONS: u64 = 20_000;
const DEPTH: u32 = 30;

#[inline(never)]
fn at_depth(d: u32) -> f64 {
    if d > 0 {
        return black_box(at_depth(black_box(d - 1)));
    }
    let start = Instant::now();
    for i in 0..ITERATIONS {
        drop(black_box(Vec::<u8>::with_capacity(64 + (i as usize & 63))));
    }
    start.elapsed().as_nanos() as f64 / ITERATIONS as f64
}

fn worker() {
    // SAFETY: set before the agent (and any other thread) reads the environment.
    unsafe {
        std::env::set_var("OTEL_METRICS_EXPORTER", "none");
        std::env::set_var("OTEL_LOGS_EXPORTER", "none");
        std::env::set_var("RTSCOPE_SUMMARY", "off");
    }
    let _agent = rtscope::Agent::builder()
        .with_sampling_interval(1)
        .install()
        .expect("install");
    drop(black_box(vec![0u8; 300 * 1024]));
    black_box(at_depth(DEPTH)); // warm-up: every stack interned, symbols untouched
    println!("{}", at_depth(DEPTH));
}

fn run(profile: &str) -> f64 {
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("--worker")
        .env("RTSCOPE_HEAP_PROFILE", profile)
        .output()
        .expect("run worker");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--worker") {
        return worker();
    }
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let (mut on, mut off, mut diff) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (a, b) = if round % 2 == 0 {
            let a = run("on");
            (a, run("off"))
        } else {
            let b = run("off");
            (run("on"), b)
        };
        on.push(a);
        off.push(b);
        diff.push(a - b);
    }
    println!(
        "heap-profile sample cost ({}, {DEPTH} frames deep, every allocation sampled, {rounds} rounds):",
        if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        }
    );
    println!(
        "  per allocation + free: profiles on {:.0} ns, off {:.0} ns; capture + intern + arena {:.2} us (median of differences)",
        median(on),
        median(off),
        median(diff) / 1000.0
    );
}
