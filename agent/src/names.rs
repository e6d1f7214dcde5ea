//! Bounded names: the one intern table behind every name that becomes an attribute value
//! (scopes, latencies, pools, thread names), so names built at run time cannot grow memory
//! or the export without bound.
//!
//! A table of capacity `N` holds at most `N` names, [`OTHER`] included: the first `N - 1`
//! distinct names get an entry of their own, in order of first use (ids `0..N - 1`); every
//! later name, and [`OTHER`] itself, gets the entry named [`OTHER`], always the last id
//! (`N - 1`). Each family keeps its own capacity (`MAX_SCOPE_NAMES`, `MAX_LATENCY_NAMES`,
//! `MAX_POOL_NAMES`, `MAX_THREAD_NAMES`).
//!
//! Reads (name to entry, id to entry) take no lock; only a name never seen before takes the
//! table's lock. Its entry (name and value) is allocated as the agent's own (in
//! `agent_scope`) and never freed, so an entry stays valid for the life of the process and
//! no block of it is ever freed into another account.
//!
//! A new family is one static table; the value is made once per name, on first use:
//!
//! ```ignore
//! static SERIES: Interner<AtomicU64, 100> = Interner::new();
//! let e = SERIES.intern(name, || AtomicU64::new(0)); // &'static, lock-free once known
//! e.value().fetch_add(bytes, Relaxed);
//! for e in SERIES.iter() { /* e.name(), e.value(): own names, then OTHER */ }
//! ```
//!
//! The atomics and the lock come from `crate::base::sync`: `std`'s in the crate, loom's in
//! the model that checks this file (`agent/tests/loom_names.rs`).

use crate::base::agent_scope;
use crate::base::sync::{AtomicPtr, Mutex, Ordering::Acquire, Ordering::Release};
use std::marker::PhantomData;
use std::ptr;
use std::sync::PoisonError;

/// The name shared by every name past a table's capacity: the value of the name attribute
/// (`rust.scope`, `rust.latency.name`, `rust.pool.name`, `thread.name`) of the overflow
/// series. A name given as `"other"` is that same overflow entry.
///
/// ```
/// let late = rtscope::scope::Scope::new(rtscope::OTHER);
/// assert_eq!(late.name(), "other");
/// ```
pub const OTHER: &str = "other";

/// One interned name and its value (a histogram, counters, or nothing).
#[derive(Debug)]
pub(crate) struct Entry<T> {
    name: Box<str>,
    hash: u64,
    id: u32,
    value: T,
}

impl<T> Entry<T> {
    /// The name exported: the name interned, or [`OTHER`].
    pub(crate) fn name(&'static self) -> &'static str {
        &self.name
    }

    /// The id in its table: `0..N`, the last one being [`OTHER`]'s.
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// The value made when the name was interned.
    pub(crate) fn value(&'static self) -> &'static T {
        &self.value
    }
}

/// A bounded, append-only intern table of at most `N` names (see the module docs).
#[derive(Debug)]
pub(crate) struct Interner<T, const N: usize> {
    /// `by_id[id]`: the entry of `id`, null until interned.
    by_id: [AtomicPtr<Entry<T>>; N],
    /// Entries by hash of their name, linear probing over `2 * N` slots (read as one slice),
    /// so a probe always ends at an empty slot.
    by_hash: [[AtomicPtr<Entry<T>>; N]; 2],
    /// Held while interning a new name: the count of own ids (not [`OTHER`]'s) handed out.
    used: Mutex<u32>,
    /// Entries hand out `&T` to every thread: the table is `Sync` only for `T: Sync`.
    _values: PhantomData<T>,
}

/// FNV-1a: short names, no allocation, no per-process key (the table is bounded anyway).
fn hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The entry at `p`, if any.
fn entry<T: 'static>(p: *mut Entry<T>) -> Option<&'static Entry<T>> {
    // SAFETY: every non-null pointer in a table comes from `Box::leak` in `insert` and was
    // published with a release store after the entry was fully written (acquired by the
    // caller's load); entries are never freed or mutated.
    unsafe { p.as_ref() }
}

impl<T: 'static, const N: usize> Interner<T, N> {
    /// An empty table. `N` is at least 1 (the place of [`OTHER`]) and fits a `u32`.
    pub(crate) const fn new() -> Self {
        assert!(N >= 1 && N < u32::MAX as usize);
        Interner {
            by_id: [const { AtomicPtr::new(ptr::null_mut()) }; N],
            by_hash: [const { [const { AtomicPtr::new(ptr::null_mut()) }; N] }; 2],
            used: Mutex::new(0),
            _values: PhantomData,
        }
    }

    /// The entry of `name`, interning it if new with the value `make()` (called at most once
    /// per entry, inside the agent scope, with the table's lock held). Past the capacity the
    /// entry of [`OTHER`] (made with `make` the first time). Lock-free when the name is known.
    #[inline]
    pub(crate) fn intern(&self, name: &str, make: impl FnOnce() -> T) -> &'static Entry<T> {
        let h = hash(name);
        match self.find(name, h) {
            Some(e) => e,
            None => self.intern_new(name, h, make),
        }
    }

    #[cold]
    fn intern_new(&self, name: &str, h: u64, make: impl FnOnce() -> T) -> &'static Entry<T> {
        agent_scope(|| {
            let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
            // Someone may have interned it between the lookup and the lock.
            if let Some(e) = self.find(name, h) {
                return e;
            }
            let other = N as u32 - 1;
            if name != OTHER && *used < other {
                let id = *used;
                *used += 1;
                return self.insert(name, h, id, make);
            }
            // `other` is interned under its own name, so it is found like any other name.
            let oh = hash(OTHER);
            match self.find(OTHER, oh) {
                Some(e) => e,
                None => self.insert(OTHER, oh, other, make),
            }
        })
    }

    /// Looks `name` up without a lock.
    fn find(&self, name: &str, h: u64) -> Option<&'static Entry<T>> {
        let slots = self.by_hash.as_flattened();
        let mut i = (h as usize) % slots.len();
        for _ in 0..slots.len() {
            let e = entry(slots[i].load(Acquire))?;
            if e.hash == h && &*e.name == name {
                return Some(e);
            }
            i = (i + 1) % slots.len();
        }
        None
    }

    /// Publishes a new entry. Called with the lock held, inside the agent scope.
    fn insert(&self, name: &str, h: u64, id: u32, make: impl FnOnce() -> T) -> &'static Entry<T> {
        let e: &'static Entry<T> = Box::leak(Box::new(Entry {
            name: name.into(),
            hash: h,
            id,
            value: make(),
        }));
        // Only ever read through: the tables hand out shared references.
        let p = ptr::from_ref(e).cast_mut();
        if let Some(slot) = self.by_id.get(id as usize) {
            slot.store(p, Release);
        }
        let slots = self.by_hash.as_flattened();
        let mut i = (h as usize) % slots.len();
        // At most N entries in 2 * N slots: an empty slot exists.
        for _ in 0..slots.len() {
            if slots[i].load(Acquire).is_null() {
                slots[i].store(p, Release);
                break;
            }
            i = (i + 1) % slots.len();
        }
        e
    }

    /// The entry of `id`, or `None` for ids never handed out. Lock-free.
    pub(crate) fn get(&self, id: u32) -> Option<&'static Entry<T>> {
        entry(self.by_id.get(id as usize)?.load(Acquire))
    }

    /// Every entry so far: own names in order of first use, then [`OTHER`] if used. Lock-free.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &'static Entry<T>> + '_ {
        self.by_id.iter().filter_map(|p| entry(p.load(Acquire)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_with_one_other() {
        static T: Interner<u32, 4> = Interner::new();
        let mut made = 0;
        let mut make = || {
            made += 1;
            made
        };
        let a = T.intern("a", &mut make);
        assert_eq!((a.name(), a.id(), *a.value()), ("a", 0, 1));
        assert!(std::ptr::eq(T.intern("a", &mut make), a));
        // `other` named early is the overflow entry, and takes no own place.
        let o = T.intern(OTHER, &mut make);
        assert_eq!((o.name(), o.id()), (OTHER, 3));
        let b = T.intern("b", &mut make);
        let c = T.intern("c", &mut make);
        assert_eq!((b.id(), c.id()), (1, 2));
        // Past N - 1 own names: the one `other`.
        assert!(std::ptr::eq(T.intern("d", &mut make), o));
        assert!(std::ptr::eq(T.intern("e", &mut make), o));
        assert_eq!(made, 4);
        let names: Vec<_> = T.iter().map(Entry::name).collect();
        assert_eq!(names, ["a", "b", "c", OTHER]);
        assert!(std::ptr::eq(T.get(2).unwrap(), c));
        assert!(T.get(4).is_none());
    }

    #[test]
    fn capacity_one_is_only_other() {
        static T: Interner<(), 1> = Interner::new();
        assert_eq!(T.intern("x", || ()).name(), OTHER);
        assert_eq!(T.iter().count(), 1);
    }
}
