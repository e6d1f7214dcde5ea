//! What a flood of heap-profile requests costs the application (a measurement, not a test).
//! Installs the agent serving `/debug/pprof` and `/metrics` on 127.0.0.1, fills the
//! profile's stack table (8192 distinct stacks: every allocation sampled, from 13 levels of
//! two functions), then runs a compute workload on as many threads as there are cores, in
//! alternating rounds: quiet, then with clients asking `/debug/pprof/heap` and
//! `/debug/pprof/allocs` at RATE requests a second in all. Prints the median throughput of
//! each kind of round, their ratio, the export thread's CPU per second, the answers, and
//! what one profile build costs (this takes a minute: a costly profile is kept up to 60 s).
//!
//! ```text
//! cargo run --release -p rtscope-examples --bin listener_flood [-- ROUNDS RATE SECONDS]
//! ```

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

/// CPU nanoseconds the export thread has run (Linux schedstat), if it can be read.
fn export_thread_cpu_ns() -> Option<u64> {
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == "rtscope-export" {
            let stat = std::fs::read_to_string(dir.join("schedstat")).ok()?;
            return stat.split_whitespace().next()?.parse().ok();
        }
    }
    None
}

// Two functions, 13 levels: 8192 distinct call stacks, each ending in one allocation. The
// `black_box` after each call keeps it from being a tail call (which would fold the stacks).
#[inline(never)]
fn left(bits: u32, depth: u32) -> usize {
    let r = if depth == 0 {
        black_box(Vec::<u8>::with_capacity(64)).capacity()
    } else if bits & 1 == 0 {
        left(bits >> 1, depth - 1)
    } else {
        right(bits >> 1, depth - 1)
    };
    black_box(r)
}

#[inline(never)]
fn right(bits: u32, depth: u32) -> usize {
    let r = if depth == 0 {
        black_box(Vec::<u8>::with_capacity(64)).capacity()
    } else if bits & 1 == 0 {
        left(bits >> 1, depth - 1)
    } else {
        right(bits >> 1, depth - 1)
    };
    black_box(r)
}

/// One unit of the application's work: arithmetic, no allocation.
fn unit(seed: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

/// One GET on a new connection, reading the whole answer into `buf`: whether it was a 200.
fn fetch(addr: SocketAddr, request: &[u8], buf: &mut Vec<u8>) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    if s.write_all(request).is_err() {
        return false;
    }
    buf.clear();
    let _ = s.read_to_end(buf);
    buf.starts_with(b"HTTP/1.1 200")
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let rate: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(50.0);
    let seconds: f64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(2.0);
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
    };
    let (pprof, metrics) = (free(), free());
    let dir = std::env::temp_dir().join(format!("rtscope-listener-flood-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let guard = rtscope::Agent::builder()
        .with_service_name("listener-flood")
        .with_pprof_addr(pprof)
        .with_prometheus("127.0.0.1", metrics.port())
        .with_file(dir.join("out.jsonl"))
        .with_summary(false)
        // Every allocation sampled (no per-second budget), so the table fills; the workload
        // below allocates nothing.
        .with_sampling_interval(1)
        .with_sampling_target(1e9)
        .install()
        .expect("install");

    // On a thread of its own, which starts with the interval set.
    std::thread::spawn(|| {
        for bits in 0..8192 {
            black_box(left(bits, 13));
        }
    })
    .join()
    .expect("fill");
    let heap = b"GET /debug/pprof/heap HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let allocs = b"GET /debug/pprof/allocs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let mut buf = Vec::with_capacity(8 << 20);
    // What a request costs the export thread: the first build (it also reads the symbol
    // tables), a cached answer, and the next build (the agent keeps a costly profile longer
    // than a second: asked every second until one costs more than a millisecond).
    let mut cost = || {
        let c0 = export_thread_cpu_ns();
        assert!(fetch(pprof, heap, &mut buf), "no profile");
        c0.zip(export_thread_cpu_ns())
            .map_or(f64::NAN, |(a, b)| (b - a) as f64 / 1e6)
    };
    let first = cost();
    std::thread::sleep(Duration::from_millis(200));
    let mut cached: Vec<f64> = (0..5).map(|_| cost()).collect();
    let cached = median(&mut cached);
    let mut later = f64::NAN;
    let mut kept = 0;
    for s in 1..=61 {
        std::thread::sleep(Duration::from_secs(1));
        later = cost();
        kept = s;
        if later > 1.0 {
            break;
        }
    }
    let profile_bytes = buf.len();

    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (done, stop) = (done.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seed = t as u64 + 1;
                while !stop.load(Ordering::Relaxed) {
                    seed = black_box(unit(seed));
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();

    let (mut quiet, mut flooded, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cpu_quiet, mut cpu_flood) = (Vec::new(), Vec::new());
    let (mut answered, mut asked) = (0_u64, 0_u64);
    let round = Duration::from_secs_f64(seconds);
    for _ in 0..rounds {
        let mut pair = [0.0; 2];
        for (i, flood) in [false, true].into_iter().enumerate() {
            let flooding = Arc::new(AtomicBool::new(flood));
            let clients: Vec<_> = (0..if flood { 4 } else { 0 })
                .map(|c| {
                    let flooding = flooding.clone();
                    std::thread::spawn(move || {
                        let mut buf = Vec::with_capacity(8 << 20);
                        let every = Duration::from_secs_f64(4.0 / rate);
                        let start = Instant::now();
                        let (mut ok, mut n) = (0, 0);
                        while flooding.load(Ordering::Relaxed) {
                            let request: &[u8] = if (c + n) % 2 == 0 { heap } else { allocs };
                            n += 1;
                            ok += u64::from(fetch(pprof, request, &mut buf));
                            let next = start + every * n as u32;
                            std::thread::sleep(next.saturating_duration_since(Instant::now()));
                        }
                        (ok, n as u64)
                    })
                })
                .collect();
            let (c0, d0, t0) = (
                export_thread_cpu_ns(),
                done.load(Ordering::Relaxed),
                Instant::now(),
            );
            std::thread::sleep(round);
            let (c1, d1, t1) = (
                export_thread_cpu_ns(),
                done.load(Ordering::Relaxed),
                Instant::now(),
            );
            flooding.store(false, Ordering::Relaxed);
            for c in clients {
                let (ok, n) = c.join().unwrap();
                answered += ok;
                asked += n;
            }
            let secs = (t1 - t0).as_secs_f64();
            pair[i] = (d1 - d0) as f64 / secs;
            if let (Some(a), Some(b)) = (c0, c1) {
                let ms = (b - a) as f64 / 1e6 / secs;
                if flood {
                    cpu_flood.push(ms)
                } else {
                    cpu_quiet.push(ms)
                }
            }
        }
        quiet.push(pair[0]);
        flooded.push(pair[1]);
        ratios.push(pair[1] / pair[0]);
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let or_na = |v: &mut Vec<f64>| {
        if v.is_empty() {
            "n/a".to_owned()
        } else {
            format!("{:.1}", median(v))
        }
    };
    println!(
        "profile: {} KiB; export-thread CPU per request: first build {first:.1} ms, cached \
         {cached:.2} ms, next build {later:.1} ms (rebuilt after {kept} s)",
        profile_bytes / 1024,
    );
    println!(
        "throughput ({threads} threads, median of {rounds} rounds of {seconds} s): quiet {:.0} units/s, \
         flooded at {rate} requests/s {:.0} units/s, ratio {:.3} (per round: {})",
        median(&mut quiet),
        median(&mut flooded),
        median(&mut ratios.clone()),
        ratios
            .iter()
            .map(|r| format!("{r:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "export thread CPU: quiet {} ms/s, flooded {} ms/s; {answered} of {asked} requests answered",
        or_na(&mut cpu_quiet),
        or_na(&mut cpu_flood)
    );
    drop(guard);
    let _ = std::fs::remove_dir_all(&dir);
}
