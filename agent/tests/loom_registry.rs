//! Loom models of the shard registry (`src/base/registry.rs`, included here with loom's
//! atomics in place of std's: `support/loom_base.rs`, which `registry.rs` reaches as
//! `super::sync`). They check that a shard is never held by two threads at once and that a
//! recycled shard's single-writer `load + store` counts are never lost.

#[path = "support/loom_base.rs"]
mod base;
#[path = "../src/base/registry.rs"]
#[allow(dead_code, unreachable_pub)]
mod registry;

use base::{model, sync};
use loom::sync::Arc;
use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use loom::thread;
use registry::{List, Node};

/// A stand-in shard: one single-writer counter and a check that nobody else holds it.
struct Slot {
    count: AtomicU64,
    holders: AtomicUsize,
}

fn new_node() -> *mut Node<Slot> {
    Box::into_raw(Box::new(Node::new(Slot {
        count: AtomicU64::new(0),
        holders: AtomicUsize::new(0),
    })))
}

/// What a thread does with a claimed shard: count like the hot path, then give it back.
fn use_once(list: &List<Slot>) {
    let node = list.claim(new_node).expect("memory for a node");
    assert_eq!(
        node.value.holders.fetch_add(1, Relaxed),
        0,
        "shard held twice"
    );
    let c = &node.value.count;
    c.store(c.load(Relaxed) + 1, Relaxed);
    node.value.holders.fetch_sub(1, Relaxed);
    node.release();
}

fn total(list: &List<Slot>) -> u64 {
    list.iter().map(|n| n.value.count.load(Relaxed)).sum()
}

fn free_all(list: &List<Slot>) {
    let nodes: Vec<_> = list
        .iter()
        .map(|n| n as *const Node<Slot> as *mut Node<Slot>)
        .collect();
    for n in nodes {
        // SAFETY: every node came from `Box::into_raw` in `new_node`; no thread uses them now.
        drop(unsafe { Box::from_raw(n) });
    }
}

#[test]
fn concurrent_claims_never_share_a_shard_and_lose_no_count() {
    model(|| {
        let list = Arc::new(List {
            head: sync::AtomicPtr::new(std::ptr::null_mut()),
        });
        let other = {
            let list = list.clone();
            thread::spawn(move || {
                use_once(&list);
                use_once(&list);
            })
        };
        use_once(&list);
        use_once(&list);
        other.join().unwrap();
        assert_eq!(total(&list), 4);
        // Two threads never need more than two shards: a claim's CAS sees every release
        // that precedes it.
        let len = list.iter().count();
        assert!((1..=2).contains(&len), "{len} nodes for 2 threads");
        free_all(&list);
    });
}

#[test]
fn a_released_shard_is_reused_with_its_counts() {
    model(|| {
        let list = Arc::new(List {
            head: sync::AtomicPtr::new(std::ptr::null_mut()),
        });
        use_once(&list);
        let other = {
            let list = list.clone();
            thread::spawn(move || use_once(&list))
        };
        use_once(&list);
        other.join().unwrap();
        assert_eq!(total(&list), 3);
        free_all(&list);
    });
}
