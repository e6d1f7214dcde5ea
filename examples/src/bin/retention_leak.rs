//! A retention leak, found with the heap profile: a response cache that never evicts keeps
//! every rendered response, while the rest of each request's memory is freed again. The live
//! heap grows; the in-use profile names the cache's insert as the stack holding it, and the
//! allocated profile shows the request work that comes and goes.
//!
//! ```text
//! cargo run --release -p rtscope-examples --bin retention_leak [-- REQUESTS]
//! go tool pprof -top -sample_index=inuse_space retention-leak.pb.gz
//! ```
//!
//! It runs at the default sampling settings (one sample every 512 KiB on average, as Go's
//! heap profile): the cache's in-use estimate is within about `sqrt(512 KiB / held)` of what
//! it holds (about 8 % for the 79 MiB of the default 50 000 requests).

use std::collections::HashMap;
use std::hint::black_box;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

/// The leak: every response is kept, keyed by request id, and nothing ever evicts.
struct ResponseCache {
    entries: HashMap<u64, Vec<u8>>,
}

impl ResponseCache {
    #[inline(never)]
    fn remember(&mut self, id: u64, response: &[u8]) {
        self.entries.insert(id, response.to_vec());
    }

    /// Bytes of the kept responses (each allocated at exactly its length).
    fn response_bytes(&self) -> usize {
        self.entries.values().map(Vec::capacity).sum()
    }
}

/// A request's work: parse, render; all of it freed when the request ends.
#[inline(never)]
fn handle(id: u64) -> Vec<u8> {
    let request: Vec<String> = (0..20).map(|i| format!("field-{id}-{i}")).collect();
    let mut response = Vec::with_capacity(2048);
    for f in &request {
        response.extend_from_slice(f.as_bytes());
        response.extend_from_slice(&[b' '; 64]);
    }
    black_box(response)
}

fn main() {
    let requests: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(50_000);
    let _agent = rtscope::Agent::builder()
        .with_service_name("retention-leak")
        .install()
        .expect("install rtscope");
    let mut cache = ResponseCache {
        entries: HashMap::new(),
    };
    for id in 0..requests {
        let response = handle(id);
        cache.remember(id, &response);
    }
    let live = rtscope::alloc::stats().live_bytes;
    std::fs::write("retention-leak.pb.gz", rtscope::profile::pprof_heap())
        .expect("write retention-leak.pb.gz");
    println!(
        "{requests} requests; live heap {:.1} MiB ({live} bytes), held by the cache's {} entries ({} bytes of responses)",
        live as f64 / (1 << 20) as f64,
        cache.entries.len(),
        cache.response_bytes()
    );
    println!(
        "wrote retention-leak.pb.gz: go tool pprof -top -sample_index=inuse_space retention-leak.pb.gz"
    );
}
