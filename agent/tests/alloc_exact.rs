//! Exact counts for known single-thread sequences, over the system allocator. Regions are
//! measured with `thread_stats()`, this thread's own counts, so allocations other threads
//! make meanwhile (the test harness's) cannot land in the deltas.

use rtscope::alloc::{AllocStats, CLASS_SIZES, class_of, stats, thread_stats};
use std::alloc::{Layout, alloc, alloc_zeroed, dealloc, realloc};

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

/// One test, run steps in sequence: `agent_stats()` is process-wide.
#[test]
fn exact_counts() {
    blocks_land_in_their_class_and_totals_match();
    zeroed_and_over_aligned_requests_are_counted_by_size();
    realloc_is_a_free_plus_an_allocation();
    snapshots_never_allocate_and_the_agent_s_allocations_are_excluded();
}

fn class_delta(before: &AllocStats, after: &AllocStats, size: usize) -> (u64, u64, u64, u64) {
    let (b, a) = (
        &before.classes[class_of(size)],
        &after.classes[class_of(size)],
    );
    (
        a.allocations - b.allocations,
        a.deallocations - b.deallocations,
        a.allocated_bytes - b.allocated_bytes,
        a.freed_bytes - b.freed_bytes,
    )
}

/// Objects and bytes allocated minus freed between two readings.
fn live_delta(before: &AllocStats, after: &AllocStats) -> (u64, u64) {
    (
        (after.allocations - before.allocations) - (after.deallocations - before.deallocations),
        (after.allocated_bytes - before.allocated_bytes) - (after.freed_bytes - before.freed_bytes),
    )
}

fn blocks_land_in_their_class_and_totals_match() {
    const N: usize = 1000;
    // Sizes that share no class with each other.
    for size in [1usize, 24, 25, 3000, 3072, 20_000, 32_768, 32_769, 1 << 20] {
        let layout = Layout::from_size_align(size, 8).unwrap();
        let before = thread_stats();
        let mut ptrs = [std::ptr::null_mut::<u8>(); N];
        for p in ptrs.iter_mut() {
            // SAFETY: non-zero size; freed below with the same layout.
            *p = unsafe { alloc(layout) };
            assert!(!p.is_null());
        }
        let mid = thread_stats();
        for &p in ptrs.iter() {
            // SAFETY: allocated above with `layout`.
            unsafe { dealloc(p, layout) };
        }
        let after = thread_stats();

        let n = N as u64;
        let bytes = (N * size) as u64;
        assert_eq!(
            class_delta(&before, &mid, size),
            (n, 0, bytes, 0),
            "size {size}"
        );
        assert_eq!(
            class_delta(&mid, &after, size),
            (0, n, 0, bytes),
            "size {size}"
        );
        assert_eq!(mid.allocations - before.allocations, n, "size {size}");
        assert_eq!(mid.allocated_bytes - before.allocated_bytes, bytes);
        // Live counts of one thread are its allocations minus its frees, at least 0: this
        // thread may have freed blocks others allocated, so compare what it did instead.
        assert_eq!(live_delta(&before, &mid), (n, bytes), "size {size}");
        assert_eq!(live_delta(&before, &after), (0, 0), "size {size}");
        let process = stats();
        assert!(process.peak_live_bytes >= process.live_bytes);
        let class_size = CLASS_SIZES[class_of(size)];
        assert!(class_size >= size as u64);
        let c = &before.classes[class_of(size)];
        if c.deallocations <= c.allocations && c.freed_bytes <= c.allocated_bytes {
            // The class's live counts are exact here, so its fragmentation delta is too.
            assert_eq!(
                mid.fragmentation_bytes - before.fragmentation_bytes,
                (class_size - size as u64) * n,
                "size {size}"
            );
        }
    }
}

fn zeroed_and_over_aligned_requests_are_counted_by_size() {
    let before = thread_stats();
    let zeroed = Layout::from_size_align(5000, 16).unwrap();
    let aligned = Layout::from_size_align(100, 4096).unwrap();
    // SAFETY: non-zero sizes; freed below with the same layouts.
    let (z, a) = unsafe { (alloc_zeroed(zeroed), alloc(aligned)) };
    assert!(!z.is_null() && !a.is_null());
    assert_eq!(a as usize % 4096, 0);
    // SAFETY: `z` points to 5000 bytes, just allocated and not yet freed.
    let bytes = unsafe { std::slice::from_raw_parts(z, 5000) };
    assert!(bytes.iter().all(|&b| b == 0));
    let mid = thread_stats();
    assert_eq!(class_delta(&before, &mid, 5000), (1, 0, 5000, 0));
    assert_eq!(class_delta(&before, &mid, 100), (1, 0, 100, 0));
    // SAFETY: allocated above with these layouts.
    unsafe {
        dealloc(z, zeroed);
        dealloc(a, aligned);
    }
    let after = thread_stats();
    assert_eq!(class_delta(&mid, &after, 5000), (0, 1, 0, 5000));
    assert_eq!(class_delta(&mid, &after, 100), (0, 1, 0, 100));
}

fn realloc_is_a_free_plus_an_allocation() {
    let layout = Layout::from_size_align(6000, 8).unwrap();
    // SAFETY: non-zero size.
    let p = unsafe { alloc(layout) };
    let before = thread_stats();
    // SAFETY: `p` was allocated with `layout`; the new size is non-zero.
    let q = unsafe { realloc(p, layout, 300_000) };
    assert!(!q.is_null());
    let after = thread_stats();
    assert_eq!(after.reallocations - before.reallocations, 1);
    assert_eq!(
        (after.reallocations_in_place - before.reallocations_in_place)
            + (after.reallocations_moved - before.reallocations_moved),
        1
    );
    assert_eq!(class_delta(&before, &after, 6000), (0, 1, 0, 6000));
    assert_eq!(class_delta(&before, &after, 300_000), (1, 0, 300_000, 0));
    assert_eq!(live_delta(&before, &after), (0, 300_000 - 6000));
    // SAFETY: `q` holds 300_000 bytes allocated at align 8.
    unsafe { dealloc(q, Layout::from_size_align(300_000, 8).unwrap()) };
}

/// A new scope name is interned by the agent, in its own account (a copy of the name, kept
/// for the process): the calling thread's counts do not see it, the agent's do.
fn snapshots_never_allocate_and_the_agent_s_allocations_are_excluded() {
    let name = "n".repeat(7777);
    let before = thread_stats();
    let process = stats();
    let again = thread_stats();
    assert_eq!(before, again, "neither snapshot allocates");
    assert!(process.allocations >= before.allocations);
    let agent_before = rtscope::alloc::agent_stats();
    let scope = rtscope::scope::Scope::new(&name);
    let after = thread_stats();
    let agent_after = rtscope::alloc::agent_stats();
    assert_eq!(scope.name(), name);
    assert_eq!(class_delta(&before, &after, 7777), (0, 0, 0, 0));
    assert_eq!(
        agent_after.classes[class_of(7777)].allocations
            - agent_before.classes[class_of(7777)].allocations,
        1
    );
    // Back from the agent's code, the same thread records for the user again.
    let w = vec![1u8; 7777];
    let last = thread_stats();
    assert_eq!(class_delta(&after, &last, 7777), (1, 0, 7777, 0));
    drop((name, w));
}
