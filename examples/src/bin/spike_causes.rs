//! Spike events and what names their cause: injects four kinds of latency spikes into a small
//! service and prints the `rust.spike` events the agent emitted for them.
//!
//! ```text
//! cargo run --release -p rtscope-examples --bin spike_causes
//! ```
//!
//! The "service" handles a request every 5 ms (each reports its duration with
//! `rtscope::latency("request", ..)`), keeps 20 instrumented tasks ticking and runs a 10 ms
//! timer on a second runtime. After 4 s of that baseline (the rolling P99 thresholds need a
//! history), one cause at a time, 2 s apart:
//!
//! 1. **allocation burst**: one request builds a big CSV export in the scope `export-csv`;
//!    the `request` latency spike carries the window's allocation rate, top size classes and
//!    top sampled scope: `export-csv`.
//! 2. **blocking tasks**: tasks call a blocking function (80 ms `thread::sleep`) on every
//!    async worker; spikes in `poll` (their polls), `schedule` (the tasks stuck behind them)
//!    and `request` latency, all in the same window: the poll spike names the cause.
//! 3. **late timer**: a CPU-heavy job in the scope `compress` runs on the timer's runtime, so
//!    the timer fires late; the `timer` spike's top sampled scope is `compress`.
//! 4. **slow downstream**: one request waits 250 ms on "the network"; its `request` spike
//!    comes with a quiet window (no burst, no blocking): the cause is outside the process.
//!
//! The events are read back from the OTLP/JSON file the agent writes when no collector is
//! configured (`RTSCOPE_FILE`, default `./rtscope-otlp.jsonl`); with a collector, look for log
//! records named `rust.spike` there.

use rtscope::config::Destination;
use rtscope::latency::Latency;
use rtscope::scope::ScopeExt;
use rtscope::spike::SpikeSettings;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

const BASELINE: Duration = Duration::from_secs(4);
const GAP: Duration = Duration::from_secs(2);

/// A normal request: about 1 ms of waiting.
async fn normal_request(latency: Latency) {
    let start = Instant::now();
    tokio::time::sleep(Duration::from_millis(1)).await;
    latency.record(start.elapsed());
}

/// Builds a CSV export in memory: half a million rows, each its own `String`.
#[rtscope::scope("export-csv")]
fn build_export() -> usize {
    let rows: Vec<String> = (0..500_000)
        .map(|i| format!("{i},customer-{i},{}.{:02},EUR", i * 7 % 1000, i % 100))
        .collect();
    rows.iter().map(String::len).sum()
}

/// CPU-heavy work that allocates as it goes, for about 80 ms.
#[rtscope::scope("compress")]
fn compress() -> u64 {
    let until = Instant::now() + Duration::from_millis(80);
    let mut acc = 0u64;
    while Instant::now() < until {
        let block: Vec<u64> = (0..4096).map(|i| i * acc.wrapping_add(3)).collect();
        acc = acc.wrapping_add(block.iter().sum::<u64>());
    }
    acc
}

/// The offset the file has now, so that only the events of this run are read.
fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// `rust.spike` log records written to `path` after `offset`.
fn spike_records(path: &Path, offset: u64) -> Vec<Value> {
    let Ok(text) = std::fs::read(path) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(text.get(offset as usize..).unwrap_or_default());
    let mut out = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        for rl in v["resourceLogs"].as_array().into_iter().flatten() {
            for sl in rl["scopeLogs"].as_array().into_iter().flatten() {
                for r in sl["logRecords"].as_array().into_iter().flatten() {
                    if r["eventName"] == "rust.spike" {
                        out.push(r.clone());
                    }
                }
            }
        }
    }
    out
}

fn attr<'a>(r: &'a Value, key: &str) -> Option<&'a Value> {
    r["attributes"]
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| &kv["value"])
}

fn text(r: &Value, key: &str) -> String {
    match attr(r, key) {
        Some(v) => match (&v["stringValue"], &v["intValue"]) {
            (Value::String(s), _) => s.clone(),
            (_, Value::String(s)) => s.clone(),
            (_, Value::Number(n)) => n.to_string(),
            _ => String::new(),
        },
        None => String::new(),
    }
}

fn int(r: &Value, key: &str) -> u64 {
    text(r, key).parse().unwrap_or(0)
}

/// What in the event, and in the other events of the same window, points at the cause.
fn cause(r: &Value, window: &[&Value]) -> String {
    let kind = text(r, "rust.spike.kind");
    let scope = text(r, "rust.scope");
    let rate = int(r, "rust.memory.allocation_rate");
    let blocked = window
        .iter()
        .find(|e| text(e, "rust.spike.kind") == "poll")
        .map(|e| text(e, "rust.spike.max_bucket"));
    let mut s = Vec::new();
    match (kind.as_str(), &blocked) {
        ("poll", _) => s.push(format!(
            "one poll ran for {}: a task blocked its worker",
            text(r, "rust.spike.max_bucket")
        )),
        ("schedule", _) => s.push("runnable tasks waited for a worker".to_owned()),
        (_, Some(b)) => s.push(format!(
            "the same window has a poll of {b}: it waited on a blocked worker"
        )),
        _ => {}
    }
    if !scope.is_empty() && rate > 10 << 20 {
        s.push(format!(
            "{} MiB/s allocated in the window, most of the sampled bytes in scope `{scope}` ({})",
            rate >> 20,
            text(r, "rust.scope.top")
        ));
    }
    if s.is_empty() {
        s.push(
            "a quiet window (no allocation burst, no blocked worker): the time went outside \
             the process"
                .to_owned(),
        );
    }
    s.join("; ")
}

#[tokio::main]
async fn main() {
    // Room for every event of the demo: the default limit (5, then 6 a minute) would drop some
    // and report them as suppressed.
    let guard = match rtscope::Agent::builder()
        .with_service_name("spike-causes")
        .with_export_interval(Duration::from_secs(1))
        .with_spikes(
            SpikeSettings::builder()
                .with_burst(20)
                .with_rate_per_minute(60.0),
        )
        .install()
    {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("rtscope: {e}");
            return;
        }
    };
    // The runtime-wide scheduling-delay probe (`#[rtscope::main]` starts it on async mains).
    let _probe = rtscope::task::start_probe(&tokio::runtime::Handle::current());
    let file = match &guard.config().destination {
        Destination::File(path) => Some(path.clone()),
        _ => None,
    };
    let offset = file.as_deref().map_or(0, file_len);
    let request = Latency::new("request");

    // The service: requests every 5 ms, 20 ticking instrumented tasks, a timer elsewhere.
    let service = tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(5));
        loop {
            every.tick().await;
            tokio::spawn(normal_request(request));
        }
    });
    let tickers: Vec<_> = (0..20)
        .map(|_| {
            rtscope::task::spawn(async {
                loop {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        })
        .collect();
    let (timer_rt, timer_handle) = {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("timer-runtime".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("timer runtime");
                let _ = tx.send(rt.handle().clone());
                rt.block_on(async {
                    let mut every = rtscope::time::tokio::interval(Duration::from_millis(10));
                    loop {
                        every.tick().await;
                    }
                });
            })
            .expect("timer thread");
        (thread, rx.recv().expect("timer runtime handle"))
    };
    println!("baseline for {BASELINE:?} ...");
    tokio::time::sleep(BASELINE).await;

    println!("1. allocation burst: a request builds a CSV export in scope `export-csv`");
    let start = Instant::now();
    let bytes = build_export();
    request.record(start.elapsed());
    println!("   built {bytes} bytes of CSV in {:?}", start.elapsed());
    tokio::time::sleep(GAP).await;

    // One per worker (the runtime has one per CPU), so that no worker is left to take over.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    println!("2. blocking tasks: 80 ms of thread::sleep on each of the {workers} async workers");
    let blockers: Vec<_> = (0..workers)
        .map(|_| rtscope::task::spawn(async { std::thread::sleep(Duration::from_millis(80)) }))
        .collect();
    for b in blockers {
        b.await.expect("blocking task");
    }
    tokio::time::sleep(GAP).await;

    println!("3. late timer: CPU-heavy `compress` on the timer's runtime");
    timer_handle
        .spawn(async { compress() }.in_scope("compress"))
        .await
        .expect("compress task");
    tokio::time::sleep(GAP).await;

    println!("4. slow downstream: one request waits 250 ms on the network");
    let start = Instant::now();
    tokio::time::sleep(Duration::from_millis(250)).await;
    request.record(start.elapsed());
    // Two export intervals: the last window is evaluated and written.
    tokio::time::sleep(Duration::from_millis(2500)).await;

    service.abort();
    for t in tickers {
        t.abort();
    }
    drop(timer_rt); // detached: it ends with the process

    let Some(path) = file else {
        println!(
            "\nThe agent exports to a collector: look there for log records named `rust.spike`."
        );
        return;
    };
    let spikes = spike_records(&path, offset);
    println!(
        "\n{} rust.spike event(s) in {}:",
        spikes.len(),
        path.display()
    );
    // Events of one window share its timestamp: read them together.
    let mut windows: Vec<(String, Vec<&Value>)> = Vec::new();
    for r in &spikes {
        let t = r["timeUnixNano"].to_string();
        match windows.iter_mut().find(|(w, _)| *w == t) {
            Some((_, v)) => v.push(r),
            None => windows.push((t, vec![r])),
        }
    }
    for (i, (_, events)) in windows.iter().enumerate() {
        println!("\nwindow {}:", i + 1);
        for r in events {
            println!(
                "- kind={} name={} threshold={}us: {} of {} observations over it, max in {}",
                text(r, "rust.spike.kind"),
                text(r, "rust.spike.name"),
                text(r, "rust.spike.threshold_us"),
                text(r, "rust.spike.count_above"),
                text(r, "rust.spike.count"),
                text(r, "rust.spike.max_bucket"),
            );
            println!("  cause: {}", cause(r, events));
            println!(
                "  body:  {}",
                r["body"]["stringValue"].as_str().unwrap_or("")
            );
        }
    }
}
