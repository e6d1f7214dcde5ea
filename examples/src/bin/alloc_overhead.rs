//! Allocator overhead, side by side in one run: the median ratio to the bare inner allocator
//! of rtscope and of a one-global-`fetch_add` wrapper, over several interleaved rounds, one
//! process per measurement.
//!
//! ```text
//! cargo run --release -p rtscope-examples --bin alloc_overhead [-- ROUNDS [WORKLOAD...]]
//! ```
//! The `bench_*` workers must be built in the same profile (`cargo build --release -p
//! rtscope-examples` does it; `cargo run` of this bin builds the whole package).

use rtscope_examples::bench::workloads;
use std::path::PathBuf;
use std::process::Command;

/// (label, workers: bare, rtscope, fetch_add peer)
const FAMILIES: [(&str, [&str; 3]); 2] = [
    (
        "System",
        ["bench_system", "bench_rtscope", "bench_counting"],
    ),
    (
        "mimalloc",
        [
            "bench_mimalloc",
            "bench_rtscope_mimalloc",
            "bench_counting_mimalloc",
        ],
    ),
];

fn iterations(workload: &str) -> u64 {
    match workload {
        "serde" => 20,
        "mixed" => 3_000_000,
        _ => 20_000_000,
    }
}

fn worker(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let path = exe.with_file_name(name);
    if !path.exists() {
        eprintln!(
            "{} is missing: build the workers first with `cargo build --release -p rtscope-examples`",
            path.display()
        );
        std::process::exit(2);
    }
    path
}

fn measure(name: &str, workload: &str) -> f64 {
    let out = Command::new(worker(name))
        .args([workload, &iterations(workload).to_string()])
        .output()
        .expect("run worker");
    assert!(out.status.success(), "{name} {workload} failed: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("ns/op")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let only: Vec<String> = std::env::args().skip(2).collect();
    println!(
        "rtscope allocator overhead: {rounds} interleaved rounds, one process per measurement"
    );
    println!(
        "ratio = workload time under the wrapper / under the bare allocator, same round; median over rounds\n"
    );
    println!(
        "{:<10} {:<12} {:>12} {:>12} {:>12} {:>14}",
        "inner", "workload", "bare ns/op", "rtscope", "fetch_add", "rtscope ns/op"
    );
    for (label, [bare, ours, peer]) in FAMILIES {
        for workload in workloads::WORKLOADS {
            if !only.is_empty() && !only.iter().any(|w| w == workload) {
                continue;
            }
            let (mut ratios_ours, mut ratios_peer, mut bare_ns, mut ours_ns) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            for round in 0..rounds {
                // Rotate the order each round so drift does not favour one variant.
                let order = [[bare, ours, peer], [ours, peer, bare], [peer, bare, ours]][round % 3];
                let mut t = [0.0f64; 3];
                for name in order {
                    let idx = [bare, ours, peer].iter().position(|n| *n == name).unwrap();
                    t[idx] = measure(name, workload);
                }
                ratios_ours.push(t[1] / t[0]);
                ratios_peer.push(t[2] / t[0]);
                bare_ns.push(t[0]);
                ours_ns.push(t[1]);
            }
            println!(
                "{:<10} {:<12} {:>12.2} {:>11.3}x {:>11.3}x {:>14.2}",
                label,
                workload,
                median(bare_ns),
                median(ratios_ours),
                median(ratios_peer),
                median(ours_ns)
            );
        }
    }
}
