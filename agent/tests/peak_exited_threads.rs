//! The peak check reads each shard's published allocation total rather than every class
//! counter. Threads that allocate less than one peak step and exit never reach a slow path,
//! so their bytes are published only when they give their shard back: the peak a later check
//! records must still include every block they allocated and the main thread holds.

use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::thread;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

const THREADS: usize = 40;
/// 100 blocks of 2000 B per thread: 200 KB, under one peak step (256 KiB).
const BLOCKS: usize = 100;
const BLOCK: usize = 2000;

#[test]
fn blocks_of_exited_threads_count_in_the_next_peak_check() {
    let start = rtscope::alloc::stats().live_bytes;
    // All alive at once (each on its own shard), then all gone: no later thread claims their
    // shards, so nothing but giving them back publishes what they allocated.
    let barrier = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let blocks: Vec<Vec<u8>> = (0..BLOCKS).map(|i| vec![i as u8; BLOCK]).collect();
                barrier.wait();
                blocks
            })
        })
        .collect();
    let held: Vec<Vec<Vec<u8>>> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    let held_bytes = (THREADS * BLOCKS * BLOCK) as u64;
    // Past one peak step on this thread: its slow path runs the peak check while the blocks
    // of the exited threads are still live. (No `stats()` before this: it would record the
    // exact live total as the peak itself.)
    for _ in 0..2 {
        drop(black_box(vec![1u8; 300 * 1024]));
    }
    drop(held);
    let s = rtscope::alloc::stats();
    assert!(
        s.peak_live_bytes + 2 * 256 * 1024 >= start + held_bytes,
        "peak {} B, but {} B of exited threads' blocks were live on top of {start} B",
        s.peak_live_bytes,
        held_bytes
    );
}
