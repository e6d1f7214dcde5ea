//! The per-thread cache cells of a [`Pool`](super::Pool): each holds at most one idle object,
//! alone on its cache line, moved in and out with one atomic operation.
//!
//! A cell owns the object its slot points to. [`take`](Cache::take) swaps the slot to null
//! (Acquire): whoever gets the non-null pointer owns the object alone and sees every write
//! of the thread that stored it (the Release of [`offer`](Cache::offer)). `offer` stores
//! into an empty slot only (a compare-exchange from null), so an object in a cell is never
//! overwritten, and hands the object back when the cell is full. Threads may share a cell
//! (more threads than cells): each operation is still one atomic step on the slot, so no
//! object is lost, duplicated or seen half-written.
//!
//! The atomics come from `crate::base::sync`: `std`'s in the crate, loom's in the model that
//! checks this file (`agent/tests/loom_pool.rs`).

use crate::base::sync::{AtomicPtr, Ordering};
use std::ptr;

/// One private cache cell: at most one idle object, alone on its cache line. (The pool is
/// `Send + Sync` only for `T: Send`, which makes moving objects between threads sound.)
#[repr(align(128))]
pub(super) struct Cache<T> {
    /// Null, or an object from `Box::into_raw` that this cell owns.
    slot: AtomicPtr<T>,
}

impl<T> Cache<T> {
    /// An empty cell.
    pub(super) fn new() -> Self {
        Cache {
            slot: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// The cell's object, if it holds one; the cell is empty afterwards.
    #[inline]
    pub(super) fn take(&self) -> Option<Box<T>> {
        let p = self.slot.swap(ptr::null_mut(), Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: a non-null slot holds a pointer from `Box::into_raw` that the cell owned;
        // the swap moved that ownership to us alone (Acquire pairs with the Release of the
        // `offer` that stored it, so the object's writes are visible).
        Some(unsafe { Box::from_raw(p) })
    }

    /// Keeps `obj` if the cell is empty, else hands it back.
    #[inline]
    pub(super) fn offer(&self, obj: Box<T>) -> Result<(), Box<T>> {
        let p = Box::into_raw(obj);
        match self
            .slot
            .compare_exchange(ptr::null_mut(), p, Ordering::Release, Ordering::Relaxed)
        {
            Ok(_) => Ok(()),
            // SAFETY: the exchange failed, so the cell did not take `p`: we still own it alone.
            Err(_) => Err(unsafe { Box::from_raw(p) }),
        }
    }
}
