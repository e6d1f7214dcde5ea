//! Loom models of how readers reach other threads' class counters (`src/base/reach.rs`,
//! included here with loom's atomics and lock: `support/loom_base.rs`). A thread publishes
//! its storage, counts into it with single-writer `load + store`, and exits: it folds its
//! counts into a shared retired total and unpublishes (`Reach::retire`), then frees the
//! storage. A reader sums every published block and the retired total, twice. They check
//! that no reader ever reads a block after it was freed, and that no reading sees a count
//! torn, lost or counted twice: each reading sees at least what had been counted when it
//! began and at most what is counted in all, and readings never go back.

#[path = "support/loom_base.rs"]
mod base;
#[path = "../src/base/reach.rs"]
#[allow(dead_code, unreachable_pub)]
mod reach;

use base::{model, sync};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use loom::thread;
use reach::{Published, Reach};

/// A thread's storage: one single-writer counter and whether it was freed.
struct Block {
    count: AtomicU64,
    freed: AtomicBool,
}

struct World {
    reach: Reach,
    slots: [Published<Block>; 2],
    retired: AtomicU64,
    /// Counts done in all (a test-side total, outside the reader's sum, incremented after
    /// each count): what a reading must at least see.
    done: AtomicU64,
}

impl World {
    fn new() -> Self {
        World {
            reach: Reach::new(),
            slots: [Published::new(), Published::new()],
            retired: AtomicU64::new(0),
            done: AtomicU64::new(0),
        }
    }

    /// A reader's sum: every published block, then the retired total.
    fn read(&self) -> u64 {
        self.reach.read(|reading| {
            let mut sum = 0;
            for slot in &self.slots {
                if let Some(block) = reading.get(slot) {
                    assert!(!block.freed.load(Relaxed), "a freed block was read");
                    sum += block.count.load(Relaxed);
                }
            }
            sum + self.retired.load(Relaxed)
        })
    }
}

/// A thread's life: publish, count `n` times as the hot path does, exit.
fn live(world: &World, slot: usize, n: u64) {
    // Its thread-local storage: on the heap here, so the model can mark it freed.
    let block = Box::into_raw(Box::new(Block {
        count: AtomicU64::new(0),
        freed: AtomicBool::new(false),
    }));
    // SAFETY: the block is freed only after `retire` below returned.
    unsafe { world.slots[slot].publish(block) };
    // SAFETY: `block` is live until freed below, by this thread.
    let b = unsafe { &*block };
    for _ in 0..n {
        b.count.store(b.count.load(Relaxed) + 1, Relaxed);
        world.done.fetch_add(1, SeqCst);
    }
    world.reach.retire(&world.slots[slot], |b| {
        world.retired.fetch_add(b.count.load(Relaxed), Relaxed);
    });
    b.freed.store(true, Relaxed);
    // SAFETY: allocated above by `Box::into_raw`; retired, so no reader holds it.
    drop(unsafe { Box::from_raw(block) });
}

#[test]
fn readers_never_read_a_freed_block_nor_lose_or_double_a_count() {
    model(|| {
        let world = Arc::new(World::new());
        let threads: Vec<_> = (0..2)
            .map(|slot| {
                let world = world.clone();
                thread::spawn(move || live(&world, slot, 2 - slot as u64))
            })
            .collect();
        let before = world.done.load(SeqCst);
        let first = world.read();
        let second = world.read();
        assert!(first >= before, "a reading lost counts: {first} < {before}");
        assert!(second >= first, "readings went back: {first} then {second}");
        // The counts are relaxed, so a reading may run ahead of `done`, never past the total
        // (a block counted both in place and in the retired total would pass it).
        assert!(second <= 3, "a reading doubled counts: {second} > 3");
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(world.read(), 3);
    });
}

#[test]
fn a_thread_exiting_during_a_reading_waits_for_it() {
    model(|| {
        let world = Arc::new(World::new());
        let other = {
            let world = world.clone();
            thread::spawn(move || live(&world, 0, 1))
        };
        let seen = world.read();
        assert!(seen <= 1);
        other.join().unwrap();
        assert_eq!(world.read(), 1);
    });
}
