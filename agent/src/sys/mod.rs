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
//! | [`malloc_info`], [`malloc_trim`] | glibc's `mallinfo2`, `malloc_trim` (none on musl) | none | none |
//! | [`process_stats`]: CPU time, faults, context switches | `getrusage` | `getrusage` | none |
//! | [`process_stats`]: threads, virtual size, open descriptors | `/proc/self/stat`, `/proc/self/fd` | none | none |
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

/// What the C allocator says it holds ([`malloc_info`]), in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MallocInfo {
    /// Heap arenas obtained with `sbrk`/`mmap` (glibc `arena`).
    pub(crate) heap: u64,
    /// Blocks mapped on their own (glibc `hblkhd`), all in use.
    pub(crate) mmapped: u64,
    /// Bytes of heap chunks in use (glibc `uordblks`).
    pub(crate) in_use: u64,
    /// Bytes of free heap chunks the allocator keeps (glibc `fordblks`).
    pub(crate) free: u64,
    /// Of `free`, the top chunk a trim can cut off (glibc `keepcost`).
    pub(crate) top_releasable: u64,
}
/// One executable segment of a loaded object (the program or a shared library).
#[cfg_attr(any(not(feature = "profiles"), not(rtscope_linux)), allow(dead_code))]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Segment {
    /// First and one-past-last address of the segment in this process.
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// Offset of the segment in its file.
    pub(crate) file_offset: u64,
    /// What the object's addresses in its file are moved by in this process.
    pub(crate) bias: u64,
    /// The object's file (the program's own path for the program).
    pub(crate) file: String,
    /// The GNU build id in hex, if the object has one.
    pub(crate) build_id: String,
}

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
// The export thread's (its own cost, the listener's budget): none without an exporter.
#[cfg_attr(not(feature = "_export"), allow(dead_code))]
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

/// What the operating system says about the whole process; `None` where it does not say.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct ProcessStats {
    /// CPU seconds in user and in system mode.
    pub(crate) cpu: Option<(f64, f64)>,
    /// Minor and major page faults.
    pub(crate) faults: Option<(u64, u64)>,
    /// Voluntary and involuntary context switches.
    pub(crate) switches: Option<(u64, u64)>,
    pub(crate) threads: Option<u64>,
    pub(crate) virtual_bytes: Option<u64>,
    pub(crate) open_fds: Option<u64>,
}

/// The process's totals now: `getrusage` where the libc has it, the rest from the system's
/// own sources (see the table above). No allocation.
pub(crate) fn process_stats() -> ProcessStats {
    let mut s = ProcessStats::default();
    #[cfg(any(rtscope_linux, rtscope_posix))]
    {
        // SAFETY: an all-zero `rusage` is a valid value of the plain C struct.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is a valid, writable rusage.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } == 0 {
            let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            let n = |v: libc::c_long| u64::try_from(v).unwrap_or(0);
            s.cpu = Some((secs(ru.ru_utime), secs(ru.ru_stime)));
            s.faults = Some((n(ru.ru_minflt), n(ru.ru_majflt)));
            s.switches = Some((n(ru.ru_nvcsw), n(ru.ru_nivcsw)));
        }
    }
    process_details(&mut s);
    s
}

/// Runs `f` when the process exits normally (`main` returns, or [`std::process::exit`]).
/// An `extern "C" fn` cannot unwind into the C runtime: a panic in it aborts.
// The exporter's flush at exit: none without an exporter.
#[cfg_attr(not(feature = "_export"), allow(dead_code))]
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
// The exporter's fork handler: none without an exporter.
#[cfg_attr(not(feature = "_export"), allow(dead_code))]
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
    fn process_cpu_time_counts_work_and_switches_count_sleeps() {
        let before = process_stats();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        for _ in 0..5 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let after = process_stats();
        let (u0, _) = before.cpu.unwrap();
        assert!(after.cpu.unwrap().0 > u0);
        assert!(after.switches.unwrap().0 >= before.switches.unwrap().0 + 5);
        assert!(after.faults.unwrap().0 >= before.faults.unwrap().0);
    }

    #[test]
    #[cfg(rtscope_linux)]
    fn threads_and_descriptors_are_counted_exactly() {
        let files: Vec<_> = (0..7)
            .map(|_| std::fs::File::open("/dev/null").unwrap())
            .collect();
        let (stop, rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || rx.recv());
        let during = process_stats();
        drop(stop);
        t.join().unwrap().unwrap_err();
        // Other tests' threads and files come and go: compare with what the kernel lists.
        let listed = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64 - 1;
        let now = process_stats();
        assert!(during.threads.unwrap() >= 2);
        assert!(during.open_fds.unwrap() >= 7 + 3, "{during:?}");
        assert!(
            now.open_fds.unwrap().abs_diff(listed) <= 2,
            "{now:?} vs {listed}"
        );
        assert!(now.virtual_bytes.unwrap() > 1 << 20);
        drop(files);
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
