//! A lock-free, grow-only list of per-thread shards that threads claim and release.
//!
//! Nodes are pushed once and never freed, so a `&'static` to one stays valid forever and
//! readers can walk the list at any time without coordination. A thread claims a free node by
//! flipping `in_use` from false to true (Acquire) and gives it back at exit (Release): the
//! pair orders the previous owner's counter writes before the next owner's, so a recycled
//! shard's single-writer `load + store` updates never lose a count and totals never go back.
//!
//! Atomics come from `super::sync`, which is `std` in the crate and `loom` in the model
//! tests (`agent/tests/loom_registry.rs` includes this file).

use super::sync::{AtomicBool, AtomicPtr, Ordering};
use std::ptr;

/// One shard and its ownership flag.
#[derive(Debug)]
pub(crate) struct Node<T> {
    pub(crate) value: T,
    in_use: AtomicBool,
    /// Written once before the node is published, read-only afterwards.
    next: *mut Node<T>,
}

impl<T> Node<T> {
    /// A node owned (claimed) by its creator.
    pub(crate) fn new(value: T) -> Self {
        Node {
            value,
            in_use: AtomicBool::new(true),
            next: ptr::null_mut(),
        }
    }

    /// Gives the node back for another thread to claim. Only its current owner may call this.
    pub(crate) fn release(&self) {
        self.in_use.store(false, Ordering::Release);
    }
}

/// The list head. Construct with a null `head`.
#[derive(Debug)]
pub(crate) struct List<T> {
    pub(crate) head: AtomicPtr<Node<T>>,
}

// SAFETY: nodes are only reached through shared references; `T` is shared between threads by
// design (its fields are atomics), and `next` is immutable once published.
unsafe impl<T: Sync> Sync for List<T> {}
// SAFETY: as above; the list owns no thread-affine state.
unsafe impl<T: Sync> Send for List<T> {}

impl<T> List<T> {
    /// Claims a released node, or publishes `make()` if none is free. `make` returns a node
    /// built with [`Node::new`] in memory that is never freed, or null if it could not get
    /// memory (then `None` is returned).
    pub(crate) fn claim(&self, make: impl FnOnce() -> *mut Node<T>) -> Option<&Node<T>> {
        // A CAS on every node, not a relaxed pre-check: a CAS reads the latest value, so a
        // shard released before the scan reaches it is always found (claims are rare: once
        // per thread, so the extra RMWs cost nothing on the hot path).
        for node in self.iter() {
            if node
                .in_use
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Some(node);
            }
        }
        let node = make();
        if node.is_null() {
            return None;
        }
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: `node` is ours alone until the CAS below publishes it.
            unsafe { (*node).next = head };
            match self
                .head
                .compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed)
            {
                // SAFETY: published nodes are never freed, so the reference stays valid.
                Ok(_) => return Some(unsafe { &*node }),
                Err(now) => head = now,
            }
        }
    }

    /// Every node ever published, claimed or not, newest first.
    pub(crate) fn iter(&self) -> Iter<'_, T> {
        Iter {
            next: self.head.load(Ordering::Acquire),
            _list: self,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Iter<'a, T> {
    next: *mut Node<T>,
    _list: &'a List<T>,
}

impl<'a, T> Iterator for Iter<'a, T> {
    type Item = &'a Node<T>;

    fn next(&mut self) -> Option<&'a Node<T>> {
        if self.next.is_null() {
            return None;
        }
        // SAFETY: `next` came from the Acquire load of the head or from a published node's
        // immutable `next`; published nodes are never freed.
        let node = unsafe { &*self.next };
        self.next = node.next;
        Some(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

    /// A shard stand-in: a single-writer count and a check that nobody else holds it.
    #[derive(Debug, Default)]
    struct Slot {
        count: AtomicU64,
        holders: AtomicUsize,
    }

    /// A new node, its pointer kept in `made` to free it at the end.
    fn new_node(made: &Mutex<Vec<std::sync::atomic::AtomicPtr<Node<Slot>>>>) -> *mut Node<Slot> {
        let p = Box::into_raw(Box::new(Node::new(Slot::default())));
        made.lock().unwrap().push(p.into());
        p
    }

    /// Real threads claiming, counting and releasing (the loom model's workload, for miri's
    /// checks of the raw pointers and data races: scripts/test.sh).
    #[test]
    fn threads_claim_count_and_release() {
        let list = List {
            head: AtomicPtr::new(ptr::null_mut()),
        };
        let made = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..10 {
                        let node = list.claim(|| new_node(&made)).expect("a node");
                        assert_eq!(node.value.holders.fetch_add(1, Relaxed), 0, "held twice");
                        let c = &node.value.count;
                        c.store(c.load(Relaxed) + 1, Relaxed);
                        node.value.holders.fetch_sub(1, Relaxed);
                        node.release();
                    }
                });
            }
        });
        let total: u64 = list.iter().map(|n| n.value.count.load(Relaxed)).sum();
        assert_eq!(total, 30);
        let made = made.into_inner().unwrap();
        assert_eq!(list.iter().count(), made.len());
        assert!(
            (1..=3).contains(&made.len()),
            "{} nodes for 3 threads",
            made.len()
        );
        // A released node is claimed before `make` is called (here it would fail).
        assert!(list.claim(ptr::null_mut).is_some());
        for p in made {
            // SAFETY: every node came from `Box::into_raw` in `new_node`; no thread uses them.
            drop(unsafe { Box::from_raw(p.into_inner()) });
        }
    }

    #[test]
    fn no_memory_no_node() {
        let list: List<Slot> = List {
            head: AtomicPtr::new(ptr::null_mut()),
        };
        assert!(list.claim(ptr::null_mut).is_none());
        assert_eq!(list.iter().count(), 0);
    }
}
