//! What the operating system gives the agent, in one place: the rest of the crate never
//! asks which system it runs on. `linux.rs` reads `/proc` and calls Linux-only functions;
//! `fallback.rs` serves every other system (and Linux built with
//! `RUSTFLAGS="--cfg rtscope_fallback"`, or `rtscope_fallback="bare"` for what Windows runs,
//! which is how CI keeps it compiling and tested).
//! `build.rs` sets the cfgs: `rtscope_linux` picks `linux.rs`, `rtscope_posix` marks a libc
//! with `CLOCK_THREAD_CPUTIME_ID` and `getentropy`.
//!
//! | | Linux | macOS, BSDs, illumos (`rtscope_posix`) | Windows, other |
//! |---|---|---|---|
//! | [`thread_id`] | kernel tid (`gettid`) | rtscope's own thread number | same |
//! | [`for_each_thread`] (thread run-queue delay) | `/proc/self/task/*/schedstat` | none | none |
//! | [`thread_name`] (of a sampled thread) | `/proc/self/task/<tid>/comm` | none | none |
//! | [`resident_bytes`] | `/proc/self/statm` | none | none |
//! | [`thread_cpu_seconds`] | `CLOCK_THREAD_CPUTIME_ID` | `CLOCK_THREAD_CPUTIME_ID` | none |
//! | [`random_u64`] | `getrandom` | `getentropy` | none (the caller mixes clock, pid, address) |
//! | [`at_exit`] | `atexit` | `atexit` | `atexit` |
//! | [`at_fork_child`] | `pthread_atfork` | `pthread_atfork` (unix) | nothing (Windows has no fork) |
//!
//! Everything here allocates nothing unless its doc says so: [`thread_id`],
//! [`realtime_nanos`], [`monotonic_nanos`] and [`random_u64`] run inside the allocator.

#[cfg(not(rtscope_linux))]
mod fallback;
#[cfg(rtscope_linux)]
mod linux;

#[cfg(not(rtscope_linux))]
pub(crate) use fallback::*;
#[cfg(rtscope_linux)]
pub(crate) use linux::*;

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch (0 before it).
pub(crate) fn realtime_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Nanoseconds on a clock that never goes back, from the first call in the process.
pub(crate) fn monotonic_nanos() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// CPU time of the calling thread, in seconds; `None` where the system does not say.
pub(crate) fn thread_cpu_seconds() -> Option<f64> {
    #[cfg(any(rtscope_linux, rtscope_posix))]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        (rc == 0).then(|| ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9)
    }
    #[cfg(not(any(rtscope_linux, rtscope_posix)))]
    None
}

/// Runs `f` when the process exits normally (`main` returns, or [`std::process::exit`]).
/// An `extern "C" fn` cannot unwind into the C runtime: a panic in it aborts.
pub(crate) fn at_exit(f: extern "C" fn()) {
    #[cfg(any(unix, windows))]
    {
        // SAFETY: `f` is a plain function with no captured state, valid for the life of the
        // process, as `atexit` requires.
        let _ = unsafe { libc::atexit(f) };
    }
    #[cfg(not(any(unix, windows)))]
    let _ = f;
}

/// Runs `f` in the child right after every `fork` (nothing where there is no `fork`).
///
/// # Safety
/// `f` must only do what is async-signal-safe (atomic stores, no allocation, no lock): the
/// child of a multithreaded process runs it with every other thread gone mid-work.
pub(crate) unsafe fn at_fork_child(f: extern "C" fn()) {
    #[cfg(unix)]
    {
        // SAFETY: `f` is valid for the life of the process and, per this function's
        // contract, async-signal-safe; no prepare or parent handler is needed.
        let _ = unsafe { libc::pthread_atfork(None, None, Some(f)) };
    }
    #[cfg(not(unix))]
    let _ = f;
}

/// `len` bytes of zeroed, readable and writable memory that is never given back, reserved
/// without committing swap (pages are backed as they are first touched), at an address
/// aligned to `align` (a power of two no larger than 1 GiB). `None` where the system has no
/// such call or refuses. No allocation: it runs inside the allocator.
pub(crate) fn reserve(len: usize, align: usize) -> Option<*mut u8> {
    #[cfg(all(unix, not(rtscope_fallback = "bare")))]
    {
        let total = len.checked_add(align)?;
        #[cfg(target_os = "linux")]
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        #[cfg(not(target_os = "linux"))]
        let flags = libc::MAP_PRIVATE | libc::MAP_ANON;
        // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches
        // no existing memory.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                total,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        let start = p as usize;
        let aligned = start.checked_add(align - 1)? & !(align - 1);
        // The unaligned head and the tail beyond `len` are given back at once.
        // SAFETY: both ranges lie inside the mapping just made, which nothing else uses.
        unsafe {
            if aligned > start {
                libc::munmap(p, aligned - start);
            }
            let end = aligned + len;
            if start + total > end {
                libc::munmap(end as *mut libc::c_void, start + total - end);
            }
        }
        Some(aligned as *mut u8)
    }
    #[cfg(not(all(unix, not(rtscope_fallback = "bare"))))]
    {
        let _ = (len, align);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_move_forward() {
        let (m, r) = (monotonic_nanos(), realtime_nanos());
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(monotonic_nanos() >= m + 1_000_000);
        // 2020-01-01 in ns: the wall clock is a real date.
        assert!(r > 1_577_836_800_000_000_000);
    }

    #[test]
    fn thread_ids_differ_between_live_threads_and_are_never_zero() {
        let here = thread_id();
        assert_ne!(here, 0);
        assert_eq!(thread_id(), here, "stable on one thread");
        let there = std::thread::spawn(thread_id).join().unwrap();
        assert_ne!(there, 0);
        assert_ne!(there, here);
    }

    #[test]
    #[cfg(any(rtscope_linux, rtscope_posix))]
    fn thread_cpu_time_counts_work() {
        let before = thread_cpu_seconds().expect("a thread CPU clock");
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        assert!(thread_cpu_seconds().unwrap() > before);
    }

    #[test]
    #[cfg(not(any(rtscope_linux, rtscope_posix)))]
    fn no_thread_cpu_time_without_a_clock() {
        assert_eq!(thread_cpu_seconds(), None);
    }

    #[test]
    #[cfg(all(unix, not(rtscope_fallback = "bare")))]
    fn reserves_aligned_zeroed_memory() {
        let p = super::reserve(1 << 20, 1 << 16).expect("mmap");
        assert_eq!(p as usize % (1 << 16), 0);
        // SAFETY: the reservation is 1 MiB of readable, writable, zeroed memory.
        let bytes = unsafe { std::slice::from_raw_parts_mut(p, 1 << 20) };
        assert!(bytes.iter().all(|&b| b == 0));
        bytes[(1 << 20) - 1] = 7;
    }
}
