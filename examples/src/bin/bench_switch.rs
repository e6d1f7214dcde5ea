//! Overhead benchmark worker with the allocator chosen at start: `bench_switch
//! <system|rtscope|fetch_add> <workload> <iterations>`. Run by `alloc_overhead`.
//!
//! The separate `bench_*` workers are the real thing (each installs one allocator), but they
//! are different executables: the same workload code sits at different addresses in each,
//! which on its own moves a memory-bound workload like serde by a few percent. Here all three
//! run one executable, so the only difference is the allocator path taken. The price is one
//! predictable branch on every call, paid by all three alike.

use rtscope_examples::bench::counting::Counting;
use rtscope_examples::bench::workloads;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

const SYSTEM: u8 = 0;
const RTSCOPE: u8 = 1;
const FETCH_ADD: u8 = 2;

/// Which allocator serves calls; set once, first thing in `main`. Blocks allocated before that
/// (by the runtime) come from `System` under every mode, and all three modes free into `System`,
/// so a block may cross modes safely.
static MODE: AtomicU8 = AtomicU8::new(SYSTEM);
static OURS: rtscope::Alloc = rtscope::Alloc::system();
static PEER: Counting<System> = Counting(System);

struct Switch;

impl Switch {
    #[inline(always)]
    fn with<R>(&self, f: impl FnOnce(&dyn GlobalAlloc) -> R) -> R {
        match MODE.load(Relaxed) {
            RTSCOPE => f(&OURS),
            FETCH_ADD => f(&PEER),
            _ => f(&System),
        }
    }
}

// SAFETY: every call is forwarded unchanged to one of three allocators that all hand out and
// take back `System` blocks, so a block may be freed under another mode than it was allocated.
unsafe impl GlobalAlloc for Switch {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        self.with(|a| unsafe { a.alloc(layout) })
    }
    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        self.with(|a| unsafe { a.alloc_zeroed(layout) })
    }
    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        self.with(|a| unsafe { a.dealloc(ptr, layout) })
    }
    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        self.with(|a| unsafe { a.realloc(ptr, layout, new_size) })
    }
}

#[global_allocator]
static ALLOC: Switch = Switch;

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = match args.next().as_deref() {
        Some("system") => SYSTEM,
        Some("rtscope") => RTSCOPE,
        Some("fetch_add") => FETCH_ADD,
        other => {
            eprintln!(
                "usage: bench_switch <system|rtscope|fetch_add> <workload> <iterations> (got {other:?})"
            );
            std::process::exit(2);
        }
    };
    MODE.store(mode, Relaxed);
    workloads::main_with(args);
}
