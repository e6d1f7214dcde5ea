//! Allocation workloads timed by the `bench_*` binaries, each of which installs a different
//! global allocator and calls [`run`]. `alloc_overhead` drives them, one process per
//! measurement. Usage: `bench_<alloc> [--thread | --agent | --agent-new] <workload>
//! <iterations>`; prints nanoseconds per op.
//!
//! - `--thread`: an idle second thread exists before the workload starts, as in every real
//!   service (glibc's malloc takes a slower path once a process has a second thread).
//! - `--agent`: the rtscope agent is installed (export thread, sampling on) before the
//!   warm-up. With an rtscope allocator this is the full cost of rtscope; with another it is
//!   a process with a second thread.
//! - `--agent-new`: the agent is installed after the warm-up, right before the timed loop,
//!   which then runs while sampling starts up.

use std::alloc::{Layout, alloc, dealloc};
use std::hint::black_box;
use std::time::Instant;

/// Workload names, in the order the driver reports them.
pub const WORKLOADS: [&str; 4] = ["tight64_1t", "tight64_2t", "mixed", "serde"];

fn tight64(iters: u64) {
    let layout = Layout::from_size_align(64, 8).unwrap();
    for _ in 0..iters {
        // SAFETY: non-zero size; freed right away with the same layout.
        unsafe {
            let p = black_box(alloc(layout));
            dealloc(p, layout);
        }
    }
}

fn mixed(iters: u64) {
    let mut slots: Vec<Option<(std::ptr::NonNull<u8>, Layout)>> = vec![None; 1000];
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..iters {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let slot = &mut slots[(rng % 1000) as usize];
        if let Some((p, l)) = slot.take() {
            // SAFETY: allocated below with `l`.
            unsafe { dealloc(p.as_ptr(), l) };
        }
        let size = 8 + ((rng >> 20) % 4089) as usize;
        let l = Layout::from_size_align(size, 8).unwrap();
        // SAFETY: non-zero size.
        let p = unsafe { alloc(l) };
        *slot = std::ptr::NonNull::new(black_box(p)).map(|p| (p, l));
    }
    for (p, l) in slots.into_iter().flatten() {
        // SAFETY: allocated above with `l`.
        unsafe { dealloc(p.as_ptr(), l) };
    }
}

/// A few-MB JSON document of records with nested strings, numbers and arrays.
fn document() -> String {
    let mut s = String::from("[");
    for i in 0..20_000 {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!(
            r#"{{"id":{i},"name":"user-{i}","email":"user{i}@example.com","score":{}.5,"tags":["a{}","b","c{}"],"address":{{"city":"City {}","zip":"{:05}"}}}}"#,
            i % 97,
            i % 7,
            i % 13,
            i % 101,
            i % 99_999
        ));
    }
    s.push(']');
    s
}

/// Runs `workload` for `iters` and returns nanoseconds per operation (per iteration for the
/// loops, per parse+serialize for `serde`).
pub fn run(workload: &str, iters: u64) -> f64 {
    match workload {
        "tight64_1t" => time(iters, || tight64(iters)),
        "tight64_2t" => time(iters, || {
            std::thread::scope(|s| {
                s.spawn(|| tight64(iters));
                tight64(iters);
            })
        }),
        "mixed" => time(iters, || mixed(iters)),
        // The fastest of `iters` parse+serialize rounds: one round is ~40 ms of memory-bound
        // work whose mean swings +-20 % with what else the machine does; the minimum is what
        // the allocator costs.
        "serde" => {
            let doc = document();
            (0..iters)
                .map(|_| {
                    time(1, || {
                        let v: serde_json::Value = serde_json::from_str(black_box(&doc)).unwrap();
                        black_box(serde_json::to_string(&v).unwrap());
                    })
                })
                .fold(f64::INFINITY, f64::min)
        }
        other => panic!("unknown workload {other:?}; one of {WORKLOADS:?}"),
    }
}

/// Nanoseconds per iteration of `f`: wall clock, or with `RTSCOPE_BENCH_CLOCK=cpu` the CPU
/// time of the whole process (every thread, the agent's export thread included), which does
/// not count the time spent waiting for a core on a loaded machine.
fn time(iters: u64, f: impl FnOnce()) -> f64 {
    let cpu = std::env::var_os("RTSCOPE_BENCH_CLOCK").is_some_and(|v| v == "cpu");
    let (start, start_cpu) = (Instant::now(), cpu.then(process_cpu_nanos));
    f();
    let nanos = match start_cpu {
        Some(s) => process_cpu_nanos().saturating_sub(s) as f64,
        None => start.elapsed().as_nanos() as f64,
    };
    nanos / iters as f64
}

fn process_cpu_nanos() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Moves every later heap address by a random amount (0 to 120 KiB, below glibc's mmap
/// threshold) for the life of the process. Where the heap starts changes cache-set and page
/// conflicts, and with them a memory-bound workload's time by several percent; a wrapper that
/// allocates anything at start (rtscope's shard) would otherwise always run on a layout the
/// bare allocator never sees. With a random start per process, the median over rounds
/// compares allocators, not layouts.
fn jitter_heap() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as usize)
        ^ std::process::id() as usize;
    let pad = seed.wrapping_mul(0x9E37_79B9) % (120 * 1024 / 16) * 16;
    std::mem::forget(black_box(Vec::<u8>::with_capacity(pad)));
}

/// Entry point of every `bench_*` binary: `<workload> <iterations>` from the command line.
pub fn main() {
    main_with(std::env::args().skip(1));
}

/// Runs `[option] <workload> <iterations>` from `args` and prints nanoseconds per operation.
pub fn main_with(args: impl Iterator<Item = String>) {
    const USAGE: &str =
        "usage: bench_<alloc> [--thread | --agent | --agent-new] <workload> <iterations>";
    let mut args = args.peekable();
    let option = args.next_if(|a| a.starts_with("--"));
    let workload = args.next().expect(USAGE);
    let iters: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    jitter_heap();
    let mut agent = None;
    match option.as_deref() {
        None | Some("--agent-new") => {}
        Some("--thread") => {
            std::thread::spawn(|| {
                loop {
                    std::thread::park();
                }
            });
        }
        Some("--agent") => agent = Some(Agent::install()),
        Some(other) => panic!("unknown option {other:?}; {USAGE}"),
    }
    // Warm up (page faults, shard claim, lazy statics) before timing.
    run(&workload, (iters / 10).max(1));
    if option.as_deref() == Some("--agent-new") {
        agent = Some(Agent::install());
    }
    println!("{:.3}", run(&workload, iters));
    drop(agent);
}

/// The agent as a service runs it (sampling on, defaults), writing to a temporary file that
/// is removed at the end. `RTSCOPE_BENCH_SUMMARY=on` prints its exit summary to stderr
/// (samples taken, export thread CPU).
struct Agent {
    path: std::path::PathBuf,
    guard: Option<rtscope::AgentGuard>,
}

impl Agent {
    fn install() -> Self {
        let path = std::env::temp_dir().join(format!("rtscope-bench-{}.jsonl", std::process::id()));
        let guard = rtscope::Agent::builder()
            .with_file(&path)
            .with_summary(std::env::var_os("RTSCOPE_BENCH_SUMMARY").is_some_and(|v| v == "on"))
            .install()
            .expect("install the agent");
        Agent {
            path,
            guard: Some(guard),
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(guard) = self.guard.take() {
            guard.shutdown();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}
