//! The scope name table: a bounded, append-only intern table. Reads (name to id, id to name)
//! take no lock; only interning a name never seen before takes one.
//!
//! Entries are allocated once, as the agent's own allocation, and never freed, so a pointer
//! read from the table stays valid for the life of the process.

use crate::alloc::agent_scope;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering::Acquire, Ordering::Release};
use std::sync::{Arc, Mutex, PoisonError};

/// Distinct scope names with an id of their own, [`OTHER`] included: later names all share
/// the id of [`OTHER`], so names built at run time cannot grow memory or export without bound.
pub const MAX_SCOPE_NAMES: usize = 1024;
/// The name shared by every scope past the first [`MAX_SCOPE_NAMES`]` - 1` names.
pub const OTHER: &str = "other";
/// The id of [`OTHER`]: the last id.
pub(crate) const OTHER_ID: u32 = MAX_SCOPE_NAMES as u32;

/// Open-addressing slots: twice the names, so a probe always ends at an empty slot.
const HASH_SLOTS: usize = 2 * MAX_SCOPE_NAMES;

#[derive(Debug)]
struct Entry {
    name: Arc<str>,
    hash: u64,
    id: u32,
}

/// `BY_ID[id]`: the entry of scope `id` (`1..=MAX_SCOPE_NAMES`), null until interned.
static BY_ID: [AtomicPtr<Entry>; MAX_SCOPE_NAMES + 1] =
    [const { AtomicPtr::new(ptr::null_mut()) }; MAX_SCOPE_NAMES + 1];
/// Entries by hash of their name, linear probing.
static BY_HASH: [AtomicPtr<Entry>; HASH_SLOTS] =
    [const { AtomicPtr::new(ptr::null_mut()) }; HASH_SLOTS];
/// Held while interning a new name: the count of user ids handed out so far.
static INTERN: Mutex<u32> = Mutex::new(0);

/// FNV-1a: short names, no allocation, no per-process key (the table is bounded anyway).
fn hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The entry at `p`, if any.
fn entry(p: *mut Entry) -> Option<&'static Entry> {
    // SAFETY: every non-null pointer in the tables comes from `Box::leak` in `insert` and was
    // published with a release store after the entry was fully written (acquired by the
    // caller's load); entries are never freed or mutated.
    unsafe { p.as_ref() }
}

/// Looks `name` up without a lock: its id, or `None` if it was never interned.
fn find(name: &str, h: u64) -> Option<u32> {
    let mut i = (h as usize) % HASH_SLOTS;
    for _ in 0..HASH_SLOTS {
        let e = entry(BY_HASH[i].load(Acquire))?;
        if e.hash == h && &*e.name == name {
            return Some(e.id);
        }
        i = (i + 1) % HASH_SLOTS;
    }
    None
}

/// The id of `name` (`1..=MAX_SCOPE_NAMES`), interning it if new. Lock-free when the name is
/// known; otherwise takes the table lock and allocates the entry as the agent's own.
pub(crate) fn intern(name: &str) -> u32 {
    let h = hash(name);
    if let Some(id) = find(name, h) {
        return id;
    }
    agent_scope(|| {
        let mut used = INTERN.lock().unwrap_or_else(PoisonError::into_inner);
        // Someone may have interned it between the lookup and the lock.
        if let Some(id) = find(name, h) {
            return id;
        }
        if name == OTHER || *used + 1 >= OTHER_ID {
            // `other` is interned under its own name, so it is found like any other name.
            return match find(OTHER, hash(OTHER)) {
                Some(id) => id,
                None => insert(OTHER, hash(OTHER), OTHER_ID),
            };
        }
        *used += 1;
        insert(name, h, *used)
    })
}

/// Publishes a new entry. Called with the intern lock held, inside the agent scope.
fn insert(name: &str, h: u64, id: u32) -> u32 {
    let e: *mut Entry = Box::leak(Box::new(Entry {
        name: Arc::from(name),
        hash: h,
        id,
    }));
    BY_ID[id as usize].store(e, Release);
    let mut i = (h as usize) % HASH_SLOTS;
    // At most MAX_SCOPE_NAMES entries in 2 * MAX_SCOPE_NAMES slots: an empty slot exists.
    for _ in 0..HASH_SLOTS {
        if BY_HASH[i].load(Acquire).is_null() {
            BY_HASH[i].store(e, Release);
            break;
        }
        i = (i + 1) % HASH_SLOTS;
    }
    id
}

/// The name of scope `id`, or `None` for 0 and ids never handed out.
pub(crate) fn name_of(id: u32) -> Option<&'static Arc<str>> {
    let slot = BY_ID.get(id as usize)?;
    entry(slot.load(Acquire)).map(|e| &e.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_same_id() {
        let a = intern("names-test-a");
        let b = intern("names-test-b");
        assert_ne!(a, b);
        assert_eq!(intern("names-test-a"), a);
        assert_eq!(name_of(a).map(|n| &**n), Some("names-test-a"));
        assert_eq!(name_of(0), None);
        assert_eq!(name_of(OTHER_ID + 1), None);
    }
}
