//! Benchmark: what each fault of the fault suite costs the application, measured side by
//! side. For every case of `rtscope_integration::fault_suite` it runs the `timed_loop`
//! application under the agent while the fault acts, with a run without the agent
//! (`OTEL_SDK_DISABLED=true`) beside it, and prints the ratio of their p99 iteration times
//! by the loop thread's CPU clock (what the application thread executed, which is what the
//! agent could add to) and by the wall clock (which also counts every wait for a core), and
//! the longest iteration. A measurement for docs/reliability.md, never a test: on a shared
//! 2-core machine these ratios move with whatever else runs.
//!
//! ```text
//! cargo build -p rtscope-integration --bins --examples
//! target/debug/examples/fault_ratios [PAIRS]   # default 3 pairs a case
//! ```
//!
//! `RTSCOPE_TIMED_LOOP=<path>` runs another build's `timed_loop` (to compare two versions of
//! the agent on the same machine at the same time).

use rtscope_integration::fault_suite::{self, Timed};

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// Minimum, median and maximum of `v`.
fn spread(v: &mut [f64]) -> String {
    v.sort_by(f64::total_cmp);
    format!(
        "{:.2}x / {:.2}x / {:.2}x",
        v[0],
        v[v.len() / 2],
        v[v.len() - 1]
    )
}

fn main() {
    let pairs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(3)
        .max(1);
    println!("load average at start: {}; {pairs} pair(s) a case", load());
    println!(
        "| fault | p99 by CPU, agent / no agent (min / median / max) | p99 by wall clock | \
         longest iteration |"
    );
    println!("| --- | --- | --- | --- |");
    for case in fault_suite::cases() {
        let (mut cpu, mut wall, mut longest) = (Vec::new(), Vec::new(), 0);
        for _ in 0..pairs {
            let (o, base): (_, Timed) = fault_suite::run_case(&case, fault_suite::baseline);
            cpu.push(o.timed.p99_cpu_ns as f64 / base.p99_cpu_ns.max(1) as f64);
            wall.push(o.timed.p99_ns as f64 / base.p99_ns.max(1) as f64);
            longest = longest.max(o.timed.max_ns);
        }
        println!(
            "| {} | {} | {} | {} us |",
            case.what,
            spread(&mut cpu),
            spread(&mut wall),
            longest / 1000
        );
    }
    println!("load average at end: {}", load());
}
