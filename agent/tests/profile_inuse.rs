//! The heap profile's in-use set stays exact against an independent count of what the test
//! holds: blocks freed on another thread, grown and shrunk by `realloc` (in the arena of
//! small samples, past the 32 KiB line, and back), and allocated by a thread that exited.
//!
//! With a mean sampling interval of 1 byte every allocation of 64 B or more is sampled with
//! weight exactly its size, so each stack's in-use estimate must equal the bytes the test
//! keeps from it, read back from `pprof_heap()` as `go tool pprof` would decode it.

#[path = "support/pprof.rs"]
mod pprof;

use std::hint::black_box;
use std::sync::mpsc;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

/// Sizes on both sides of the arena's 32 KiB line.
const SIZES: [usize; 6] = [64, 200, 5000, 32 * 1024, 40_000, 100_000];
/// Names every test stack goes through.
const MARKER: &str = "profile_inuse::marked_";
const INUSE_OBJECTS: usize = 2;
const INUSE_SPACE: usize = 3;

#[inline(never)]
fn marked_alloc(size: usize) -> Vec<u8> {
    black_box(Vec::with_capacity(size))
}

#[inline(never)]
fn marked_grow(v: &mut Vec<u8>, to: usize) {
    v.reserve_exact(to - v.len());
    black_box(v.as_ptr());
}

#[inline(never)]
fn marked_shrink(v: &mut Vec<u8>, to: usize) {
    v.shrink_to(to);
    black_box(v.as_ptr());
}

/// (bytes, objects) the profile says the marked stacks hold.
fn profiled() -> (i64, i64) {
    let p = pprof::decode(&rtscope::profile::pprof_heap());
    (
        p.sum_where(MARKER, INUSE_SPACE),
        p.sum_where(MARKER, INUSE_OBJECTS),
    )
}

fn held(blocks: &[Vec<u8>]) -> (i64, i64) {
    (
        blocks.iter().map(|b| b.capacity() as i64).sum(),
        blocks.len() as i64,
    )
}

#[test]
fn in_use_is_exact_across_threads_realloc_and_thread_exit() {
    // SAFETY: set before any other thread of this test binary reads the environment.
    unsafe {
        std::env::set_var("OTEL_METRICS_EXPORTER", "none");
        std::env::set_var("OTEL_LOGS_EXPORTER", "none");
        std::env::set_var("RTSCOPE_SUMMARY", "off");
    }
    let _agent = rtscope::Agent::builder()
        .with_sampling_interval(1)
        .install()
        .expect("install");
    // A thread that existed before install draws its first sample point within one
    // peak step (256 KiB) of it: past that, every allocation here is sampled.
    drop(black_box(Vec::<u8>::with_capacity(300 * 1024)));

    let p = pprof::decode(&rtscope::profile::pprof_heap());
    assert_eq!(
        p.types(),
        [
            "alloc_objects/count",
            "alloc_space/bytes",
            "inuse_objects/count",
            "inuse_space/bytes"
        ]
    );
    assert_eq!(
        p.string_table[p.default_sample_type as usize],
        "inuse_space"
    );

    // Building the profile (symbols, encoding) is the agent's: this thread's account gains
    // exactly the one block of bytes handed back.
    let before = rtscope::alloc::thread_stats();
    let bytes = rtscope::profile::pprof_heap();
    let after = rtscope::alloc::thread_stats();
    assert_eq!(after.allocations - before.allocations, 1);
    assert_eq!(
        after.allocated_bytes - before.allocated_bytes,
        bytes.len() as u64
    );
    assert_eq!(after.deallocations, before.deallocations);
    drop(bytes);

    let mut blocks: Vec<Vec<u8>> = Vec::with_capacity(1000);
    for round in 0..10 {
        for &s in &SIZES {
            blocks.push(marked_alloc(s + round));
        }
    }
    assert_eq!(profiled(), held(&blocks), "after allocating");

    // Half freed on another thread.
    let (tx, rx) = mpsc::channel::<Vec<Vec<u8>>>();
    let freer = std::thread::spawn(move || drop(rx.recv().unwrap()));
    let moved: Vec<Vec<u8>> = blocks.drain(..blocks.len() / 2).collect();
    tx.send(moved).unwrap();
    freer.join().unwrap();
    assert_eq!(profiled(), held(&blocks), "after frees on another thread");

    // Grown past the 32 KiB line and back, in place or moved: each new block is the
    // realloc's sample, the old one leaves.
    for (i, b) in blocks.iter_mut().enumerate().take(20) {
        let to = b.capacity() + if i % 2 == 0 { 50_000 } else { 100 };
        marked_grow(b, to);
    }
    assert_eq!(profiled(), held(&blocks), "after growing");
    for b in blocks.iter_mut().take(10) {
        marked_shrink(b, 100);
    }
    assert_eq!(profiled(), held(&blocks), "after shrinking");

    // Allocated by a thread that exits; some freed here afterwards.
    let mut theirs = std::thread::spawn(|| (0..30).map(|i| marked_alloc(SIZES[i % 6])).collect())
        .join()
        .unwrap();
    blocks.append(&mut theirs);
    assert_eq!(
        profiled(),
        held(&blocks),
        "after the allocating thread exited"
    );
    blocks.truncate(blocks.len() - 10);
    assert_eq!(profiled(), held(&blocks), "after freeing its blocks here");

    drop(blocks);
    assert_eq!(profiled(), (0, 0), "after freeing everything");
}
