//! What one Prometheus scrape of `/metrics` costs (a measurement, not a test): installs the
//! agent with the Prometheus exporter on 127.0.0.1, fills a service-like set of series (8
//! pools, 4 latencies, 32 scopes, timers, the allocator's classes), then scrapes it over one
//! keep-alive connection, in rounds, and prints the medians: wall time per scrape as the
//! client sees it, CPU time of the export thread per scrape (from its schedstat), the
//! agent's allocations per scrape, and the bytes of one page in each format.
//!
//! `cargo run --release -p rtscope-examples --bin scrape_cost [ROUNDS] [SCRAPES_PER_ROUND]`

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
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

/// One keep-alive GET; the body's length.
fn scrape(conn: &mut BufReader<TcpStream>, accept: &str) -> usize {
    write!(
        conn.get_mut(),
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\n\r\n"
    )
    .expect("write");
    let mut length = 0;
    let mut line = String::new();
    loop {
        line.clear();
        conn.read_line(&mut line).expect("read head");
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().expect("length");
        }
    }
    let mut body = vec![0; length];
    conn.read_exact(&mut body).expect("read body");
    length
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(15);
    let per_round: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let dir = std::env::temp_dir().join(format!("rtscope-scrape-cost-{}", std::process::id()));
    let guard = rtscope::Agent::builder()
        .with_service_name("scrape-cost")
        .with_prometheus("127.0.0.1", port)
        .with_file(dir.join("logs.jsonl"))
        .with_summary(false)
        .install()
        .expect("install");

    // A service's worth of series.
    let pools: Vec<_> = (0..8)
        .map(|i| rtscope::pool::Pool::new(&format!("pool-{i}"), Vec::<u8>::new))
        .collect();
    for p in &pools {
        let held: Vec<_> = (0..20).map(|_| p.get()).collect();
        drop(held);
    }
    for i in 0..4 {
        for us in [50, 500, 5000] {
            rtscope::latency(&format!("op-{i}"), Duration::from_micros(us));
        }
    }
    for i in 0..32 {
        rtscope::scope(&format!("scope-{i}"), || {
            let v: Vec<Vec<u8>> = (0..2000).map(|j| vec![0; 16 << (j % 12)]).collect();
            std::hint::black_box(v);
        });
    }
    for _ in 0..10 {
        rtscope::time::sleep(Duration::from_micros(100));
    }
    // Two ticks, so the sampler's per-scope series are in the page.
    std::thread::sleep(Duration::from_millis(2100));

    let stream = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    };
    stream.set_nodelay(true).expect("nodelay");
    let mut conn = BufReader::new(stream);
    let text = "text/plain;version=0.0.4";
    let om = "application/openmetrics-text;version=1.0.0";
    let text_bytes = scrape(&mut conn, text);
    let om_bytes = scrape(&mut conn, om);

    let (mut wall, mut cpu, mut allocs, mut agent_bytes) = (vec![], vec![], vec![], vec![]);
    for _ in 0..rounds {
        let cpu0 = export_thread_cpu_ns();
        let a0 = rtscope::alloc::agent_stats();
        let t0 = Instant::now();
        for _ in 0..per_round {
            scrape(&mut conn, om);
        }
        let elapsed = t0.elapsed().as_secs_f64() / per_round as f64;
        let a1 = rtscope::alloc::agent_stats();
        wall.push(elapsed * 1e6);
        if let (Some(c0), Some(c1)) = (cpu0, export_thread_cpu_ns()) {
            cpu.push((c1 - c0) as f64 / per_round as f64 / 1e3);
        }
        allocs.push((a1.allocations - a0.allocations) as f64 / per_round as f64);
        agent_bytes.push((a1.allocated_bytes - a0.allocated_bytes) as f64 / per_round as f64);
    }
    let lines = scrape_lines(&mut BufReader::new(
        TcpStream::connect(("127.0.0.1", port)).expect("connect"),
    ));
    println!(
        "page: {text_bytes} bytes (text 0.0.4), {om_bytes} bytes (OpenMetrics 1.0), {lines} sample lines"
    );
    println!(
        "per scrape (median of {rounds} rounds of {per_round}, OpenMetrics): wall {:.0} us, \
         export thread CPU {}, agent allocations {:.0} ({:.0} KiB)",
        median(&mut wall),
        if cpu.is_empty() {
            "n/a".to_owned()
        } else {
            format!("{:.0} us", median(&mut cpu))
        },
        median(&mut allocs),
        median(&mut agent_bytes) / 1024.0
    );
    drop(guard);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The number of sample lines of one text page.
fn scrape_lines(conn: &mut BufReader<TcpStream>) -> usize {
    write!(
        conn.get_mut(),
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut all = String::new();
    conn.read_to_string(&mut all).expect("read");
    let body = all.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    body.lines().filter(|l| !l.starts_with('#')).count()
}
