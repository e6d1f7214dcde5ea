//! Loom models of a pool's per-thread cache cells (`src/pool/cache.rs`, included here with
//! loom's atomics in place of std's: `support/loom_base.rs`), in the case the pool docs call
//! "still correct": more threads than cells, so threads share one. They check what
//! `cache.rs` promises: a cell holds at most one object and never overwrites it, no object is
//! lost or handed out twice (`take` and `offer` racing, `Pool::clear` taking from another
//! thread), and the thread that takes an object sees every write of the thread that stored
//! it.
//!
//! Each model explores every interleaving up to `LOOM_MAX_PREEMPTIONS` preemptions (3 unless
//! set; `cargo test -p rtscope --test loom_pool`).

#[path = "support/loom_base.rs"]
mod base;
#[path = "../src/pool/cache.rs"]
#[allow(dead_code, unreachable_pub)]
mod cache;

use base::model;
use cache::Cache;
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use loom::thread;

/// A pooled object: its id, a plain field its owner writes before putting it back (loom fails
/// the model if the next owner reads it unordered), and a count of drops.
#[derive(Debug)]
struct Obj {
    id: u32,
    data: UnsafeCell<u64>,
    drops: Arc<AtomicUsize>,
}

impl Obj {
    fn new(id: u32, drops: &Arc<AtomicUsize>) -> Box<Obj> {
        Box::new(Obj {
            id,
            data: UnsafeCell::new(0),
            drops: drops.clone(),
        })
    }

    /// What a user does with an object before it goes back: a plain write.
    fn used(self: Box<Self>) -> Box<Self> {
        // SAFETY: we own the object alone (it came from `new` or `take`).
        self.data
            .with_mut(|p| unsafe { *p = u64::from(self.id) + 100 });
        self
    }

    fn check(&self) {
        // SAFETY: we own the object alone; loom checks the write before is ordered before.
        let v = self.data.with(|p| unsafe { *p });
        assert!(
            v == 0 || v == u64::from(self.id) + 100,
            "object {} half-written",
            self.id
        );
    }
}

impl Drop for Obj {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Relaxed);
    }
}

/// A put then a get on `cell`, as `Pool::put` and `Pool::get` do it: the ids this thread ends
/// up holding (what `offer` handed back, what `take` gave).
fn put_then_get(cell: &Cache<Obj>, obj: Box<Obj>) -> Vec<u32> {
    let mut held = Vec::new();
    if let Err(back) = cell.offer(obj.used()) {
        // The cell was full (the pool would try its queue, then drop it).
        held.push(back.id);
    }
    if let Some(obj) = cell.take() {
        obj.check();
        held.push(obj.id);
    }
    held
}

#[test]
fn threads_sharing_a_cell_lose_and_duplicate_nothing() {
    model(|| {
        let cell = Arc::new(Cache::<Obj>::new());
        let drops = Arc::new(AtomicUsize::new(0));
        let other = {
            let (cell, drops) = (cell.clone(), drops.clone());
            thread::spawn(move || put_then_get(&cell, Obj::new(2, &drops)))
        };
        let mut ids = put_then_get(&cell, Obj::new(1, &drops));
        ids.extend(other.join().unwrap());
        if let Some(left) = cell.take() {
            left.check();
            ids.push(left.id);
        }
        ids.sort();
        assert_eq!(ids, [1, 2], "objects lost or handed out twice");
        assert!(cell.take().is_none());
        // Each object was dropped exactly once (when its holder's guard ended), none by the
        // cell.
        assert_eq!(drops.load(Relaxed), 2);
    });
}

#[test]
fn a_full_cell_hands_the_object_back() {
    model(|| {
        let cell = Arc::new(Cache::<Obj>::new());
        let drops = Arc::new(AtomicUsize::new(0));
        assert!(cell.offer(Obj::new(1, &drops).used()).is_ok());
        let other = {
            let (cell, drops) = (cell.clone(), drops.clone());
            thread::spawn(move || cell.offer(Obj::new(2, &drops)).err().map(|o| o.id))
        };
        let taken = cell.take().map(|o| {
            o.check();
            o.id
        });
        let back = other.join().unwrap();
        let left = cell.take().map(|o| o.id);
        // Object 1 is taken (the cell never loses it to a later offer); object 2 is either
        // handed back (the cell was full) or stored after the take.
        assert_eq!(taken, Some(1));
        let mut rest: Vec<_> = back.into_iter().chain(left).collect();
        rest.sort();
        assert_eq!(rest, [2]);
        assert_eq!(drops.load(Relaxed), 2);
    });
}

#[test]
fn clear_from_another_thread_takes_each_object_once() {
    model(|| {
        let cell = Arc::new(Cache::<Obj>::new());
        let drops = Arc::new(AtomicUsize::new(0));
        // The pool's owner clears while a thread puts and gets (`Pool::clear` takes every cell).
        let clearer = {
            let cell = cell.clone();
            thread::spawn(move || {
                cell.take().map(|o| {
                    o.check();
                    o.id
                })
            })
        };
        let mut ids = put_then_get(&cell, Obj::new(1, &drops));
        ids.extend(clearer.join().unwrap());
        ids.extend(cell.take().map(|o| o.id));
        assert_eq!(ids, [1]);
        assert_eq!(drops.load(Relaxed), 1);
    });
}
