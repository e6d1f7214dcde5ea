//! What a thread costs in resident memory under rtscope, against the bare system allocator:
//! runs `thread_cost_system` and `thread_cost_rtscope` (build them first:
//! `cargo build --release -p rtscope-examples --bins`) with thousands of threads that only
//! allocate, alive at once, and prints the median per-thread difference, alive and after
//! the threads were joined (shards are kept for the next threads, so that memory stays).
//!
//! `cargo run --release -p rtscope-examples --bin thread_cost [threads] [runs]`

use std::path::PathBuf;
use std::process::Command;

fn worker(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let path = exe.with_file_name(name);
    if !path.exists() {
        eprintln!(
            "{} is missing: build the workers first with `cargo build --release -p rtscope-examples --bins`",
            path.display()
        );
        std::process::exit(2);
    }
    path
}

/// (alive - before, joined - before) in KiB, one run.
fn run(name: &str, threads: usize) -> (i64, i64) {
    let out = Command::new(worker(name))
        .arg(threads.to_string())
        .output()
        .expect("run worker");
    assert!(out.status.success(), "{name} failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<i64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(f.len(), 4, "{name} printed {text:?}");
    (f[2] - f[1], f[3] - f[1])
}

fn median(mut v: Vec<i64>) -> i64 {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4000);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let mut results = Vec::new();
    for name in ["thread_cost_system", "thread_cost_rtscope"] {
        let (alive, joined): (Vec<_>, Vec<_>) = (0..runs).map(|_| run(name, threads)).unzip();
        results.push((name, median(alive), median(joined)));
    }
    println!("{threads} threads alive at once, median of {runs} runs, resident memory:");
    for (name, alive, joined) in &results {
        println!(
            "  {name:<20} alive +{alive} KiB ({:.2} KiB/thread), after join +{joined} KiB ({:.2} KiB/thread)",
            *alive as f64 / threads as f64,
            *joined as f64 / threads as f64
        );
    }
    let (_, sa, sj) = results[0];
    let (_, ra, rj) = results[1];
    println!(
        "rtscope's cost per thread: {:.2} KiB alive, {:.2} KiB kept after join",
        (ra - sa) as f64 / threads as f64,
        (rj - sj) as f64 / threads as f64
    );
}
