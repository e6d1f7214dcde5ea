//! The peak never reads above what was ever live, also when blocks are allocated on one
//! thread and freed on another while `stats()` walks the shards (the demo's streaming
//! threads once showed a 1 GiB peak in a process of 10 MiB resident).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::sync_channel;
use std::thread;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

const BLOCK: usize = 1 << 20;
const BLOCKS_PER_PAIR: usize = 3000;
const PAIRS: usize = 2;

#[test]
fn a_block_moving_between_threads_is_never_counted_live_twice() {
    let before = rtscope::alloc::stats();
    let done = AtomicBool::new(false);
    let peak = thread::scope(|s| {
        let mut workers = Vec::new();
        for _ in 0..PAIRS {
            // At most 2 blocks wait in the channel, 1 is being made and 1 being dropped.
            let (tx, rx) = sync_channel::<Vec<u8>>(2);
            workers.push(s.spawn(move || {
                for i in 0..BLOCKS_PER_PAIR {
                    let mut v = vec![0u8; BLOCK];
                    v[i % BLOCK] = 1;
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }));
            workers.push(s.spawn(move || {
                for v in rx {
                    drop(std::hint::black_box(v));
                }
            }));
        }
        let reader = s.spawn(|| {
            let mut peak = 0;
            // Bounded: the workers end after a fixed number of blocks.
            while !done.load(Ordering::Relaxed) {
                peak = peak.max(rtscope::alloc::stats().peak_live_bytes);
            }
            peak
        });
        for w in workers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Relaxed);
        reader.join().unwrap()
    });
    let most_ever_live = (PAIRS * 4 * BLOCK) as u64;
    let slack = 16 * BLOCK as u64;
    assert!(
        peak <= before.live_bytes.max(before.peak_live_bytes) + most_ever_live + slack,
        "peak {peak} B, but at most {most_ever_live} B were ever live above the {} B before",
        before.live_bytes
    );
}
