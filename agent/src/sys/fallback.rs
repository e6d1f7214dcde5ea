//! Every system but Linux (and Linux built with `--cfg rtscope_fallback`): no per-thread
//! scheduler counts, thread names or resident memory; thread ids are rtscope's own.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// A number for the calling thread, given at its first call: distinct among the threads of
/// the process (until 2³² threads were numbered), never 0. No allocation: a `const`
/// thread-local without destructor.
pub(crate) fn thread_id() -> u32 {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    thread_local! {
        static ID: Cell<u32> = const { Cell::new(0) };
    }
    ID.try_with(|id| {
        if id.get() == 0 {
            let mut n = NEXT.fetch_add(1, Relaxed);
            if n == 0 {
                n = NEXT.fetch_add(1, Relaxed);
            }
            id.set(n);
        }
        id.get()
    })
    .unwrap_or(0)
}

/// [`for_each_thread`] reports nothing here.
pub(crate) const THREAD_SCHEDSTAT: bool = false;

/// No per-thread scheduler counts on this system: `f` is never called.
pub(crate) fn for_each_thread(_f: impl FnMut(u32, &[u8], u64, u64)) {}

/// No thread names by id on this system.
// A sampled thread's name, for the export side's log records.
#[cfg_attr(not(feature = "_export"), allow(dead_code))]
pub(crate) fn thread_name(_tid: u32) -> Option<String> {
    None
}

/// No current resident set size on this system (`getrusage` gives only the peak).
pub(crate) fn resident_bytes() -> Option<u64> {
    None
}

/// 64 random bits from the OS (`getentropy`), or `None` where there is no such call.
/// No allocation.
pub(crate) fn random_u64() -> Option<u64> {
    #[cfg(rtscope_posix)]
    {
        let mut bits = 0u64;
        // SAFETY: `bits` is 8 writable bytes, below getentropy's 256-byte limit.
        let rc = unsafe {
            libc::getentropy(
                (&raw mut bits).cast::<libc::c_void>(),
                std::mem::size_of::<u64>(),
            )
        };
        (rc == 0).then_some(bits)
    }
    #[cfg(not(rtscope_posix))]
    None
}

/// Not known on this system: heap profiles capture stacks with the unwinder only.
#[allow(dead_code)]
pub(crate) fn stack_bounds() -> Option<(usize, usize)> {
    None
}

/// Not listed on this system: profiles carry no mappings.
#[allow(dead_code)]
pub(crate) fn executable_segments() -> Vec<super::Segment> {
    Vec::new()
}
/// No C allocator accounting is read here.
pub(crate) const MALLOC_NAME: &str = "libc";

/// No C allocator accounting on this system.
pub(crate) fn malloc_info() -> Option<super::MallocInfo> {
    None
}

/// Nothing to ask the C allocator on this system.
pub(crate) fn malloc_trim() -> bool {
    false
}

/// No thread count, virtual size or descriptor count on this system.
pub(crate) fn process_details(_s: &mut super::ProcessStats) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_nothing_it_cannot_know() {
        let mut seen = 0;
        for_each_thread(|_, _, _, _| seen += 1);
        assert_eq!(seen, 0);
        assert_eq!(thread_name(thread_id()), None);
        assert_eq!(resident_bytes(), None);
    }

    #[test]
    #[cfg(rtscope_posix)]
    fn draws_random_bits() {
        let a = random_u64().expect("getentropy");
        let b = random_u64().expect("getentropy");
        assert_ne!(a, b);
    }
}
