//! A small service under the agent: worker threads handle "requests" that parse JSON, build
//! responses, cache results and stream large buffers, so every part of the size-class table
//! fills, each step in a scope (`parse`, `cache`, `render`, `stream`) so the sampled estimates
//! say where the bytes go. With no collector configured, rtscope writes OTLP/JSON lines to
//! `./rtscope-otlp.jsonl` and prints a summary at exit.
//!
//! ```text
//! cargo run --release -p rtscope-examples --bin demo [-- SECONDS]
//! ```
//! Point it at a collector with the standard variables, e.g.
//! `OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318`.

use std::collections::HashMap;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

/// One request: decode, work on it, encode a response.
fn handle(id: u64, cache: &mut HashMap<u64, String>) -> Vec<u8> {
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
    // Every 64th request streams a large payload (64 KiB to 1 MiB).
    if id.is_multiple_of(64) {
        return rtscope::scope("stream", || {
            let mut big = Vec::with_capacity(64 * 1024);
            big.resize((64 * 1024) << (id / 64 % 5), (id & 0xff) as u8);
            big
        });
    }
    rtscope::scope("render", || {
        let mut out = Vec::new();
        serde_json::to_writer(&mut out, &v).expect("serialize");
        out
    })
}

#[rtscope::main(service_name = "rtscope-demo", export_interval_ms = 1000)]
fn main() {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let (tx, rx) = mpsc::channel::<Vec<u8>>();
    let workers: Vec<_> = (0..4u64)
        .map(|w| {
            let tx = tx.clone();
            std::thread::Builder::new()
                .name(format!("worker-{w}"))
                .spawn(move || {
                    let mut cache = HashMap::new();
                    let mut handled = 0u64;
                    let mut id = w;
                    while Instant::now() < deadline {
                        let response = handle(id, &mut cache);
                        // Responses are freed on the writer thread, not here.
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
    let writer = std::thread::spawn(move || rx.into_iter().map(|r| r.len() as u64).sum::<u64>());
    let handled: u64 = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    let written = writer.join().expect("writer");
    let s = rtscope::alloc::stats();
    println!(
        "demo: {handled} requests in {seconds} s, {} MiB of responses; {} allocations, {} MiB live at exit",
        written >> 20,
        s.allocations,
        s.live_bytes >> 20
    );
}
