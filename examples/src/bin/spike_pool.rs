//! Pool spikes: buffers that balloon and objects that are never reset.
//!
//! ```text
//! cargo run --release -p rtscope-examples --bin spike_pool
//! ```
//!
//! Part 1: request handlers take a 4 KiB buffer from an `rtscope::pool::Pool`; one request
//! in 50 builds a 1 MiB response, so its buffer balloons. The pool's size limit drops those
//! on put (`rust.pool.puts{rust.pool.result="discarded"}`), and each drop turns a later get
//! into a miss (`rust.pool.gets{rust.pool.result="miss"}`): an allocation on the request path.
//! Without the limit the pool would keep every ballooned buffer for ever.
//!
//! Part 2: a hand-rolled `Mutex<Vec<Vec<u8>>>` pool that neither resets nor bounds its
//! objects, metered with `rtscope::pool::PoolMeter`: its gets hit, but hand back dirty
//! buffers, and the memory it keeps idle only grows (`rust.pool.idle` and live heap).

use rtscope::pool::{Pool, PoolMeter, PoolStats};
use std::sync::Mutex;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

const REQUESTS: u64 = 200_000;

fn show(what: &str, s: &PoolStats) {
    println!(
        "  {what}: gets {} (hit {}, miss {}), puts {} (stored {}, discarded {}), idle {}",
        s.gets(),
        s.hits,
        s.misses,
        s.puts(),
        s.stored,
        s.discarded,
        s.idle
    );
}

/// A response: usually small, one in 50 huge.
fn respond(id: u64, buf: &mut Vec<u8>) {
    let len = if id.is_multiple_of(50) {
        1 << 20
    } else {
        200 + (id % 1800) as usize
    };
    buf.resize(len, b'x');
    std::hint::black_box(&buf[..]);
}

fn well_behaved() {
    let pool = Pool::builder("spike-buffers", || Vec::with_capacity(4096))
        .with_capacity(64)
        .with_max_retained_bytes(64 * 1024)
        .build();
    let heap_before = rtscope::alloc::stats();
    std::thread::scope(|s| {
        for t in 0..4 {
            let pool = &pool;
            s.spawn(move || {
                for i in 0..REQUESTS / 4 {
                    let mut buf = pool.get();
                    respond(t * REQUESTS + i, &mut buf);
                }
            });
        }
    });
    let heap = rtscope::alloc::stats();
    println!("Part 1: Pool with a 64 KiB size limit, {REQUESTS} requests on 4 threads");
    show("pool \"spike-buffers\"", &pool.stats());
    println!(
        "  allocations on the request path: {} ({} of them ballooned buffers re-made)",
        heap.allocations - heap_before.allocations,
        pool.stats().discarded
    );
    println!(
        "  look for: rust.pool.puts{{rust.pool.name=\"spike-buffers\",rust.pool.result=\"discarded\"}} \
         = {} ~ one in 50 requests, and the same number of extra misses in \
         rust.pool.gets{{rust.pool.result=\"miss\"}}: each one is an allocation (and a 1 MiB one \
         when the next big request comes).",
        pool.stats().discarded
    );
}

fn hand_rolled() {
    let meter = PoolMeter::new("spike-naive");
    let idle: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
    let mut dirty = 0u64;
    let live_before = rtscope::alloc::stats().live_bytes;
    for i in 0..REQUESTS / 4 {
        let got = idle.lock().unwrap().pop();
        let mut buf = match got {
            Some(b) => {
                meter.hit();
                b
            }
            None => {
                meter.miss();
                Vec::with_capacity(4096)
            }
        };
        if !buf.is_empty() {
            dirty += 1; // the previous request's bytes are still there
        }
        respond(i, &mut buf);
        idle.lock().unwrap().push(buf); // never reset, never too big
        meter.put();
    }
    let retained: usize = idle.lock().unwrap().iter().map(Vec::capacity).sum();
    println!(
        "Part 2: a Mutex<Vec<Vec<u8>>> pool without reset or limit, {} requests",
        REQUESTS / 4
    );
    show("pool \"spike-naive\"", &meter.stats());
    println!("  gets that handed back a dirty buffer: {dirty} (every hit)");
    println!(
        "  heap kept by the pool: {} KiB (live heap grew by {} KiB)",
        retained / 1024,
        rtscope::alloc::stats()
            .live_bytes
            .saturating_sub(live_before)
            / 1024
    );
    println!(
        "  look for: a perfect hit ratio in rust.pool.gets with no discarded puts, while the live \
         heap holds the ballooned buffers: a pool without reset and size limit \
         hides both problems. rtscope::pool::Pool resets on put and drops what is over its limit."
    );
}

#[rtscope::main(service_name = "spike-pool")]
fn main() {
    well_behaved();
    println!();
    hand_rolled();
}
