//! Reaching other threads' thread-local storage safely: the allocator's class counters live
//! in each thread's own storage (one thread-pointer-relative address on the hot path), and
//! the readers that sum them (`stats()`, the profile's untracked estimate) must never read a
//! block after its thread freed it, nor count a block's counts twice or not at all as its
//! thread exits.
//!
//! - An owner publishes a pointer to its storage in a [`Published`] slot (a release store,
//!   no lock: a new block holds nothing a reader could miss).
//! - A reader takes the lock and reads every published block through the [`Reading`] it is
//!   handed; the references it gets cannot outlive the lock.
//! - An owner about to free its storage (its thread exits) or to move counts out of it
//!   ([`Reach::retire`], [`Reach::exclusive`]) takes the same lock: readers see its counts
//!   either all in its block or all where they were moved, and the block stays valid until
//!   no reader can hold a reference to it.
//!
//! The lock is taken only by readers (on a timer, never per event), by a thread at exit and
//! by a thread every 4 GiB it allocates (the allocator's 32-bit counters fold); never on
//! the hot path. Atomics and the lock come from `super::sync`: `std`'s in the crate, loom's
//! in `agent/tests/loom_reach.rs`, which includes this file.

use super::sync::{AtomicPtr, Mutex, MutexGuard, Ordering};
use std::cell::UnsafeCell;
use std::marker::PhantomData;
use std::ptr;

/// The lock readers and retiring owners share.
#[derive(Debug)]
pub(crate) struct Reach {
    lock: Mutex<()>,
    /// The lock's guard while a `fork` is in progress: taken by the forking thread in
    /// [`Reach::fork_prepare`], dropped by the same thread after the fork, in the parent
    /// ([`Reach::fork_parent`]) and in the child ([`Reach::fork_child`]).
    forking: Forking,
}

/// Where the forking thread keeps the guard across `fork`.
struct Forking(UnsafeCell<Option<MutexGuard<'static, ()>>>);

// SAFETY: only the thread inside `fork` touches it, from the fork handlers, which the C
// library runs one fork at a time (glibc holds its atfork lock from the prepare handlers to
// the parent's or child's), and the guard is dropped by the thread that took it.
unsafe impl Sync for Forking {}
// SAFETY: as above: moved between no threads, only reached through `&Reach`.
unsafe impl Send for Forking {}

impl std::fmt::Debug for Forking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Forking")
    }
}

/// The lock held by the child of a `fork` ([`Reach::fork_child`]): slots of the threads that
/// did not survive the fork are retired through it.
#[derive(Debug)]
pub(crate) struct Orphans<'a> {
    _reach: &'a Reach,
}

impl Orphans<'_> {
    /// Retires a slot whose owner is gone (a thread of the parent, absent from the child):
    /// `fold` runs on its storage, still mapped in the child, then the slot is emptied, so
    /// no reader reaches that storage once the C library gives its memory to a new thread.
    pub(crate) fn retire<T>(&self, slot: &Published<T>, fold: impl FnOnce(&T)) {
        let p = slot.ptr.load(Ordering::Relaxed);
        // SAFETY: the lock is held (taken before the fork, so no retire was in progress);
        // the storage of a thread the fork left out is the parent's copy, mapped in the
        // child and reused by nothing until a new thread starts, after the fork handlers.
        if let Some(storage) = unsafe { p.as_ref() } {
            fold(storage);
        }
        slot.ptr.store(ptr::null_mut(), Ordering::Relaxed);
    }
}

/// Where one owner publishes its storage: null while it has none to offer.
#[derive(Debug)]
pub(crate) struct Published<T> {
    ptr: AtomicPtr<T>,
}

impl<T> Published<T> {
    pub(crate) const fn new() -> Self {
        Published {
            ptr: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Publishes `storage` for readers.
    ///
    /// # Safety
    /// `storage` stays valid (not freed, not moved) until its owner's [`Reach::retire`] of
    /// this slot returns, and only the owner publishes and retires the slot.
    pub(crate) unsafe fn publish(&self, storage: *const T) {
        self.ptr.store(storage.cast_mut(), Ordering::Release);
    }
}

impl Reach {
    pub(crate) const fn new() -> Self {
        Reach {
            lock: Mutex::new(()),
            forking: Forking(UnsafeCell::new(None)),
        }
    }

    /// Before `fork` (a `pthread_atfork` prepare handler): takes the lock, so that neither a
    /// reader nor a retiring owner is half way when the process is copied (in the child
    /// their threads are gone and the lock would stay taken for ever).
    pub(crate) fn fork_prepare(&'static self) {
        let g = self.guard();
        // SAFETY: only the forking thread is here (`Forking`'s invariant).
        unsafe { *self.forking.0.get() = Some(g) };
    }

    /// After `fork`, in the parent: gives the lock back.
    pub(crate) fn fork_parent(&self) {
        // SAFETY: only the forking thread is here (`Forking`'s invariant).
        drop(unsafe { (*self.forking.0.get()).take() });
    }

    /// After `fork`, in the child, where only the forking thread lives: `orphans` retires the
    /// slots of the threads the child does not have, then the lock is given back.
    pub(crate) fn fork_child(&self, orphans: impl FnOnce(&Orphans<'_>)) {
        orphans(&Orphans { _reach: self });
        // SAFETY: only the forking thread is here (`Forking`'s invariant).
        drop(unsafe { (*self.forking.0.get()).take() });
    }

    fn guard(&self) -> MutexGuard<'_, ()> {
        // Nothing the lock guards can be left half done by a panic (it guards no data).
        self.lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The owner takes its storage back: `fold` runs on it (moving its counts where readers
    /// find them after), then the slot is emptied, both while no reader reads. Once this
    /// returns no reader holds or can get a reference to the storage, which may be freed.
    pub(crate) fn retire<T>(&self, slot: &Published<T>, fold: impl FnOnce(&T)) {
        let _g = self.guard();
        let p = slot.ptr.load(Ordering::Relaxed);
        // SAFETY: only the owner publishes this slot, and its storage is valid until this
        // function returns (`publish`'s contract).
        if let Some(storage) = unsafe { p.as_ref() } {
            fold(storage);
        }
        slot.ptr.store(ptr::null_mut(), Ordering::Relaxed);
    }

    /// Runs `f` while no reader reads: an owner moving counts between its storage and another
    /// place readers sum, so that no reading sees them in both or in neither.
    pub(crate) fn exclusive<R>(&self, f: impl FnOnce() -> R) -> R {
        let _g = self.guard();
        f()
    }

    /// Runs `f` with the published storage readable through its [`Reading`].
    pub(crate) fn read<R>(&self, f: impl FnOnce(&Reading<'_>) -> R) -> R {
        let g = self.guard();
        f(&Reading {
            _guard: g,
            _not_send: PhantomData,
        })
    }
}

/// The lock held for reading: published storage can be reached through it.
pub(crate) struct Reading<'a> {
    _guard: MutexGuard<'a, ()>,
    _not_send: PhantomData<*const ()>,
}

impl Reading<'_> {
    /// The storage published in `slot`, if any, valid while this reading lasts.
    pub(crate) fn get<'r, T>(&'r self, slot: &'r Published<T>) -> Option<&'r T> {
        let p = slot.ptr.load(Ordering::Acquire);
        // SAFETY: the lock is held, so the owner cannot be inside `retire` (which alone ends
        // the storage's validity, `publish`'s contract) until the reference's lifetime, tied
        // to this reading, has ended.
        unsafe { p.as_ref() }
    }
}
