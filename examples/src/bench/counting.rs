//! The peer design: one global atomic counter pair (as stats_alloc and most tracking
//! allocators do), to compare with rtscope's per-thread shards.

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Bytes allocated, over all threads.
pub static ALLOCATED: AtomicU64 = AtomicU64::new(0);
/// Bytes freed, over all threads.
pub static FREED: AtomicU64 = AtomicU64::new(0);

/// Counts bytes allocated and freed in two global atomics, then forwards to `A`.
#[derive(Debug)]
pub struct Counting<A>(pub A);

// SAFETY: forwards every call to the inner allocator unchanged.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: forwarded contract.
        unsafe { self.0.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        FREED.fetch_add(layout.size() as u64, Relaxed);
        // SAFETY: forwarded contract.
        unsafe { self.0.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        FREED.fetch_add(layout.size() as u64, Relaxed);
        ALLOCATED.fetch_add(new_size as u64, Relaxed);
        // SAFETY: forwarded contract.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }
}
