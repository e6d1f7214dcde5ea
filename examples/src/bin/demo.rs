//! A small service under the agent: worker threads handle "requests" that parse JSON, build
//! responses into pooled buffers, cache results and stream large buffers, so every part of
//! the size-class table fills, each step in a scope (`parse`, `cache`, `render`, `stream`,
//! `downstream`) so the sampled estimates say where the bytes go. Each request's latency is
//! reported (`rtscope::latency("request", ..)`); every 256th request waits on a short timer
//! (backpressure) and every 10000th on a slow downstream (15 ms), whose latency spikes are
//! explained by `rust.spike` events. With no collector configured, rtscope writes OTLP/JSON
//! lines to `./rtscope-otlp.jsonl` and prints a summary at exit, ending with the command that
//! turns the file into a report page (`rtscope report`).
//!
//! ```text
//! cargo run --release -p rtscope-examples --bin demo [-- SECONDS]
//! ```
//! Point it at a collector with the standard variables, e.g.
//! `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318`.

use rtscope::pool::{Pool, Pooled};
use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

/// A response: a pooled buffer, or a large one of its own.
enum Response<'p> {
    Pooled(Pooled<'p, Vec<u8>>),
    Owned(Vec<u8>),
}

impl Response<'_> {
    fn len(&self) -> usize {
        match self {
            Response::Pooled(b) => b.len(),
            Response::Owned(b) => b.len(),
        }
    }
}

/// One request: decode, work on it, encode a response.
fn handle<'p>(
    id: u64,
    cache: &mut HashMap<u64, String>,
    buffers: &'p Pool<Vec<u8>>,
) -> Response<'p> {
    let body = format!(
        r#"{{"id":{id},"user":"user-{}","items":[{}],"note":"{}"}}"#,
        id % 1000,
        (0..(id % 40))
            .map(|i| (i * 7).to_string())
            .collect::<Vec<_>>()
            .join(","),
        "x".repeat((id % 300) as usize)
    );
    let v: serde_json::Value =
        rtscope::scope("parse", || serde_json::from_str(&body).expect("valid JSON"));
    let items = v["items"].as_array().map_or(0, Vec::len);
    // A cache that grows and is trimmed: reallocations and frees of many sizes.
    rtscope::scope("cache", || {
        cache.insert(id % 5000, format!("{}:{}", v["user"], items));
        if cache.len() > 4000 {
            cache.retain(|k, _| k % 2 == 0);
        }
    });
    // Backpressure: a short timer now and then; a slow downstream call rarely.
    if id.is_multiple_of(256) {
        rtscope::time::sleep(Duration::from_micros(200));
    }
    if id.is_multiple_of(10_000) {
        rtscope::scope("downstream", || {
            rtscope::time::sleep(Duration::from_millis(15))
        });
    }
    // Every 64th request streams a large payload (64 KiB to 1 MiB).
    if id.is_multiple_of(64) {
        return rtscope::scope("stream", || {
            let mut big = Vec::with_capacity(64 * 1024);
            big.resize((64 * 1024) << (id / 64 % 5), (id & 0xff) as u8);
            Response::Owned(big)
        });
    }
    rtscope::scope("render", || {
        let mut out = buffers.get();
        serde_json::to_writer(&mut *out, &v).expect("serialize");
        Response::Pooled(out)
    })
}

fn main() {
    let guard = rtscope::Agent::builder()
        .with_service_name("rtscope-demo")
        .with_export_interval(Duration::from_secs(1))
        // Heap profiles into the file too, for the report's top stacks.
        .with_profiles(cfg!(feature = "profiles"))
        .install()
        .map_err(|e| eprintln!("running without rtscope: {e}"))
        .ok();
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    // Response buffers, put back by the writer thread once written: room for every buffer
    // in flight (the channel's 256 and one per worker).
    let buffers = Pool::builder("responses", Vec::new)
        .with_capacity(512)
        .build();
    let (handled, written) = std::thread::scope(|s| {
        // Bounded: a writer that falls behind slows the workers instead of queueing memory.
        let (tx, rx) = mpsc::sync_channel::<Response<'_>>(256);
        let workers: Vec<_> = (0..4u64)
            .map(|w| {
                let tx = tx.clone();
                let buffers = &buffers;
                std::thread::Builder::new()
                    .name(format!("worker-{w}"))
                    .spawn_scoped(s, move || {
                        let mut cache = HashMap::new();
                        let mut handled = 0u64;
                        let mut id = w;
                        while Instant::now() < deadline {
                            let started = Instant::now();
                            let response = handle(id, &mut cache, buffers);
                            rtscope::latency("request", started.elapsed());
                            // Responses are freed (or put back) on the writer thread.
                            if tx.send(response).is_err() {
                                break;
                            }
                            id += 4;
                            handled += 1;
                        }
                        handled
                    })
                    .expect("spawn worker")
            })
            .collect();
        drop(tx);
        let writer = s.spawn(move || rx.into_iter().map(|r| r.len() as u64).sum::<u64>());
        let handled: u64 = workers.into_iter().map(|w| w.join().expect("worker")).sum();
        (handled, writer.join().expect("writer"))
    });
    let st = rtscope::alloc::stats();
    println!(
        "demo: {handled} requests in {seconds} s, {} MiB of responses; {} allocations, {} MiB live at exit",
        written >> 20,
        st.allocations,
        st.live_bytes >> 20
    );
    drop(buffers);
    let Some(guard) = guard else { return };
    let to_file = matches!(
        guard.config().destination,
        rtscope::config::Destination::File(_)
    ) && guard.config().signals.any();
    // The summary prints here, on stderr; when the data went to a file it ends with the
    // command that makes the report page.
    guard.shutdown();
    if to_file {
        eprintln!(
            "demo: the rtscope command installs with \
             `cargo install --path agent --no-default-features --features cli`"
        );
    }
}
