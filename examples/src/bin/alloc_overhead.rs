//! Allocator overhead, side by side in one run: the median ratio to the bare inner allocator
//! of rtscope and of a one-global-`fetch_add` wrapper, over several interleaved rounds, one
//! process per measurement.
//!
//! Three families: System and mimalloc as inner allocators, each allocator in its own worker
//! executable; and `System/1exe`, the three System variants chosen at start inside one
//! executable (`bench_switch`), which takes code placement out of the comparison.
//!
//! Two more columns give the cost of the whole agent (export thread, sampling on) against the
//! bare allocator in a process that already has a second, idle thread, the fair baseline for
//! a service: `agent` installs before the warm-up, `agent new` right before the timed loop.
//!
//! ```text
//! cargo run --release -p rtscope-examples --bin alloc_overhead [-- ROUNDS [WORKLOAD|FAMILY...]]
//! ```
//! The `bench_*` workers are built in the same profile first when this runs under `cargo run`;
//! run directly, it needs them built (`cargo build --release -p rtscope-examples`).

use rtscope_examples::bench::workloads;
use std::path::PathBuf;
use std::process::Command;

/// A worker command line: the `bench_*` binary and its leading arguments.
type Worker = &'static [&'static str];

/// Workers of a family, in this order: bare, rtscope, fetch_add peer; bare with a second
/// thread, the agent installed before the warm-up, the agent installed right before timing,
/// and the agent installed before the warm-up with heap profiles off.
const VARIANTS: usize = 7;

/// (label, workers)
const FAMILIES: [(&str, [Worker; VARIANTS]); 3] = [
    (
        "System",
        [
            &["bench_system"],
            &["bench_rtscope"],
            &["bench_counting"],
            &["bench_system", "--thread"],
            &["bench_rtscope", "--agent"],
            &["bench_rtscope", "--agent-new"],
            &["bench_rtscope", "--agent", "RTSCOPE_HEAP_PROFILE=off"],
        ],
    ),
    (
        "mimalloc",
        [
            &["bench_mimalloc"],
            &["bench_rtscope_mimalloc"],
            &["bench_counting_mimalloc"],
            &["bench_mimalloc", "--thread"],
            &["bench_rtscope_mimalloc", "--agent"],
            &["bench_rtscope_mimalloc", "--agent-new"],
            &[
                "bench_rtscope_mimalloc",
                "--agent",
                "RTSCOPE_HEAP_PROFILE=off",
            ],
        ],
    ),
    // One executable for all (see bench_switch.rs): same code at the same addresses.
    (
        "System/1exe",
        [
            &["bench_switch", "system"],
            &["bench_switch", "rtscope"],
            &["bench_switch", "fetch_add"],
            &["bench_switch", "system", "--thread"],
            &["bench_switch", "rtscope", "--agent"],
            &["bench_switch", "rtscope", "--agent-new"],
            &[
                "bench_switch",
                "rtscope",
                "--agent",
                "RTSCOPE_HEAP_PROFILE=off",
            ],
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

/// Under `cargo run`, builds the workers in the driver's profile first (a no-op when they are
/// up to date), so a fresh checkout works and the driver never times stale workers.
fn build_workers() {
    let Some(cargo) = std::env::var_os("CARGO") else {
        return;
    };
    let exe = std::env::current_exe().expect("current exe");
    let mut build = Command::new(cargo);
    build.args(["build", "-p", "rtscope-examples", "--bins"]);
    if exe.parent().and_then(|d| d.file_name()) == Some("release".as_ref()) {
        build.arg("--release");
    }
    match build.status() {
        Ok(status) if status.success() => {}
        other => {
            eprintln!(
                "building the bench_* workers failed ({other:?}); see the cargo output above"
            );
            std::process::exit(2);
        }
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

fn measure(cmd: Worker, workload: &str) -> f64 {
    // `=off` in a worker's arguments is an environment setting for it, not an argument.
    let (env, args): (Vec<&str>, Vec<&str>) = cmd[1..].iter().partition(|a| a.contains('='));
    let out = Command::new(worker(cmd[0]))
        .envs(env.iter().filter_map(|kv| kv.split_once('=')))
        .args(&args)
        .args([workload, &iterations(workload).to_string()])
        .output()
        .expect("run worker");
    assert!(out.status.success(), "{cmd:?} {workload} failed: {out:?}");
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
    let picked = |name: &str, all: &[&str]| {
        !only.iter().any(|o| all.contains(&o.as_str())) || only.iter().any(|o| o == name)
    };
    let families: Vec<&str> = FAMILIES.iter().map(|f| f.0).collect();
    build_workers();
    println!(
        "rtscope allocator overhead: {rounds} interleaved rounds, one process per measurement"
    );
    println!(
        "ratio = workload time under the wrapper / under the bare allocator, same round; median over rounds"
    );
    println!(
        "agent, agent new = the agent installed (sampling and heap profiles on; before the warm-up, or right before timing) / bare with a second thread"
    );
    println!(
        "no prof = the agent with heap profiles off / bare with a second thread; prof/off = agent / no prof\n"
    );
    println!(
        "{:<12} {:<12} {:>12} {:>12} {:>12} {:>14} {:>14} {:>10} {:>10} {:>10} {:>10}",
        "inner",
        "workload",
        "bare ns/op",
        "rtscope",
        "fetch_add",
        "rtscope ns/op",
        "2-thr ns/op",
        "agent",
        "agent new",
        "no prof",
        "prof/off"
    );
    for (label, workers) in FAMILIES {
        if !picked(label, &families) {
            continue;
        }
        for workload in workloads::WORKLOADS {
            if !picked(workload, &workloads::WORKLOADS) {
                continue;
            }
            let mut times: [Vec<f64>; VARIANTS] = Default::default();
            let mut ratios: [Vec<f64>; VARIANTS] = Default::default();
            let mut prof_vs_off = Vec::new();
            for round in 0..rounds {
                // Rotate the order each round so drift does not favour one variant.
                let mut t = [0.0f64; VARIANTS];
                for k in 0..VARIANTS {
                    let idx = (round + k) % VARIANTS;
                    t[idx] = measure(workers[idx], workload);
                }
                prof_vs_off.push(t[4] / t[6]);
                for (i, &ti) in t.iter().enumerate() {
                    times[i].push(ti);
                    // The agent columns against bare with a second thread, the rest against bare.
                    ratios[i].push(ti / if i >= 4 { t[3] } else { t[0] });
                }
            }
            let [bare, ours, _, bare2, _, _, _] = times.map(median);
            let [_, r_ours, r_peer, _, r_agent, r_agent_new, r_noprof] = ratios.map(median);
            println!(
                "{:<12} {:<12} {:>12.2} {:>11.3}x {:>11.3}x {:>14.2} {:>14.2} {:>9.3}x {:>9.3}x {:>9.3}x {:>9.3}x",
                label,
                workload,
                bare,
                r_ours,
                r_peer,
                ours,
                bare2,
                r_agent,
                r_agent_new,
                r_noprof,
                median(prof_vs_off)
            );
        }
    }
}
