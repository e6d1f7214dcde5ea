//! Allocations made where an allocator wrapper usually breaks: before `main`, while a
//! thread claims its shard, and in thread-local destructors at thread exit. None may
//! deadlock, recurse or vanish: each is counted exactly once, as the user's.

use rtscope::alloc::{class_of, stats};
use std::sync::atomic::{AtomicUsize, Ordering};

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

/// A size in a class nothing else in this binary uses.
const BEFORE_MAIN: usize = 27_000;
const IN_DTOR: usize = 24_000;

static BEFORE_MAIN_PTR: AtomicUsize = AtomicUsize::new(0);

extern "C" fn before_main() {
    // Runs from .init_array, before the Rust runtime and before main.
    let v = vec![7u8; BEFORE_MAIN];
    BEFORE_MAIN_PTR.store(v.as_ptr() as usize, Ordering::Relaxed);
    std::mem::forget(v);
}

#[used]
#[unsafe(link_section = ".init_array")]
static INIT: extern "C" fn() = before_main;

struct AllocatesOnDrop;

impl Drop for AllocatesOnDrop {
    fn drop(&mut self) {
        // Runs among the thread's TLS destructors, before or after rtscope's own.
        drop(std::hint::black_box(vec![1u8; IN_DTOR]));
    }
}

thread_local! {
    static LATE: AllocatesOnDrop = const { AllocatesOnDrop };
}

#[test]
fn before_main_and_thread_exit_allocations_are_counted() {
    assert_ne!(
        BEFORE_MAIN_PTR.load(Ordering::Relaxed),
        0,
        "constructor ran"
    );
    let s = stats();
    assert_eq!(
        s.classes[class_of(BEFORE_MAIN)].allocations,
        1,
        "allocation before main"
    );

    let before = stats().classes[class_of(IN_DTOR)];
    const THREADS: u64 = 50;
    for i in 0..THREADS {
        std::thread::spawn(move || {
            if i % 2 == 0 {
                // Registered as early as the closure allows: destructors run in reverse order
                // of registration, so this order and the other cover both sides of rtscope's
                // own (which releases the shard).
                LATE.with(|_| {});
                drop(vec![0u8; 100]);
            } else {
                drop(vec![0u8; 100]);
                LATE.with(|_| {});
            }
        })
        .join()
        .unwrap();
    }
    let after = stats().classes[class_of(IN_DTOR)];
    assert_eq!(after.allocations - before.allocations, THREADS);
    assert_eq!(after.deallocations - before.deallocations, THREADS);
    assert_eq!(
        after.allocated_bytes - before.allocated_bytes,
        THREADS * IN_DTOR as u64
    );
}
