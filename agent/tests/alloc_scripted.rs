//! Reallocations in place and moved, failures, and zero-sized requests, over an inner
//! allocator whose behaviour the test decides. Regions are measured with `thread_stats()`, so
//! other threads allocating meanwhile cannot land in the deltas.

use rtscope::alloc::{class_of, thread_stats};
use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;

/// Requests of this many bytes or more fail.
const FAIL_AT: usize = 1 << 30;
/// A small size that fails too, to show the documented blind spot of the fast path.
const SMALL_FAIL: usize = 777;

/// System, except: requests >= `FAIL_AT` and of exactly `SMALL_FAIL` bytes fail; a `realloc`
/// that shrinks stays in place; one that grows always moves.
struct Scripted;

// SAFETY: every block comes from `System` and goes back to it; `realloc` either returns the
// same block (shrinking: the block still holds `new_size` bytes, and `System`'s free ignores
// the size) or a new block holding a copy of the old contents.
unsafe impl GlobalAlloc for Scripted {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() >= FAIL_AT || layout.size() == SMALL_FAIL {
            return ptr::null_mut();
        }
        // SAFETY: forwarded contract; zero sizes are served by malloc(0) in `System`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: the new layout is valid (the caller guarantees new_size fits the align).
        let new =
            unsafe { self.alloc(Layout::from_size_align_unchecked(new_size, layout.align())) };
        if !new.is_null() {
            // SAFETY: both blocks are valid for `layout.size()` bytes and distinct.
            unsafe {
                ptr::copy_nonoverlapping(ptr, new, layout.size());
                System.dealloc(ptr, layout);
            }
        }
        new
    }
}

#[global_allocator]
static ALLOC: rtscope::Alloc<Scripted> = rtscope::Alloc::new(Scripted);

#[test]
fn scripted_sequence() {
    // Grow (moved) then shrink (in place): exact counters and classes.
    let mut v: Vec<u8> = Vec::with_capacity(100);
    let before = thread_stats();
    v.reserve_exact(5000); // 0 -> 5000 capacity: moved.
    let grown = thread_stats();
    assert_eq!(grown.reallocations_moved - before.reallocations_moved, 1);
    assert_eq!(grown.reallocations_in_place, before.reallocations_in_place);
    assert_eq!(
        grown.classes[class_of(100)].deallocations - before.classes[class_of(100)].deallocations,
        1
    );
    assert_eq!(
        grown.classes[class_of(5000)].allocations - before.classes[class_of(5000)].allocations,
        1
    );
    v.extend_from_slice(&[7; 10]);
    v.shrink_to_fit(); // 5000 -> 10: in place.
    let shrunk = thread_stats();
    assert_eq!(
        shrunk.reallocations_in_place - grown.reallocations_in_place,
        1
    );
    assert_eq!(shrunk.reallocations - grown.reallocations, 1);
    assert_eq!(
        (shrunk.allocated_bytes - grown.allocated_bytes) as i64
            - (shrunk.freed_bytes - grown.freed_bytes) as i64,
        10 - 5000
    );
    assert_eq!(v, [7; 10]);

    // A large request the inner allocator refuses: a failure, not an allocation.
    let mut big: Vec<u8> = Vec::new();
    let before = thread_stats();
    assert!(big.try_reserve_exact(FAIL_AT).is_err());
    let after = thread_stats();
    assert_eq!(after.failures - before.failures, 1);
    assert_eq!(after.allocations, before.allocations);
    assert_eq!(after.live_bytes, before.live_bytes);

    // A failed realloc: a failure; the old block stays live and counted once.
    let before = thread_stats();
    assert!(v.try_reserve_exact(FAIL_AT).is_err());
    let after = thread_stats();
    assert_eq!(after.failures - before.failures, 1);
    assert_eq!(after.reallocations, before.reallocations);
    assert_eq!(after.live_bytes, before.live_bytes);
    assert_eq!(v, [7; 10]);

    // The documented blind spot: a small request is counted before the inner allocator runs,
    // so its failure is counted as an allocation and not as a failure.
    let layout = Layout::from_size_align(SMALL_FAIL, 1).unwrap();
    let before = thread_stats();
    // SAFETY: non-zero size; the result is null and not used.
    let p = unsafe { ALLOC.alloc(layout) };
    assert!(p.is_null());
    let after = thread_stats();
    assert_eq!(after.allocations - before.allocations, 1);
    assert_eq!(after.failures, before.failures);

    // Zero-byte requests (allowed by `System`, which the inner allocator forwards to) land in
    // class 0.
    let zero = Layout::from_size_align(0, 1).unwrap();
    let before = thread_stats();
    // SAFETY: `Scripted` forwards zero sizes to `System` (malloc(0)), freed below.
    let p = unsafe { ALLOC.alloc(zero) };
    assert!(!p.is_null());
    // SAFETY: allocated above with `zero`.
    unsafe { ALLOC.dealloc(p, zero) };
    let after = thread_stats();
    assert_eq!(
        after.classes[0].allocations - before.classes[0].allocations,
        1
    );
    assert_eq!(
        after.classes[0].deallocations - before.classes[0].deallocations,
        1
    );
    assert_eq!(after.classes[0].size, 0);
}
