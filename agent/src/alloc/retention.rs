//! Memory the allocator holds beyond the live heap (Go's `HeapIdle` / `HeapReleased`): what
//! an inner allocator says about itself through [`AllocatorStats`], exported as
//! `rust.memory.allocator.*`, and [`trim`], asking it to give free memory back.

use crate::base::shard::agent_scope;
use crate::model::Source;
use crate::model::series::{Data, Metric, Number};
use crate::sys;
use std::alloc::{GlobalAlloc, System};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// What an allocator holds, in bytes, as it accounts for it. Build one from
/// `HeldMemory::default()`, setting what your allocator knows; the figures it does not know
/// are `None` and exported as nothing (never as 0).
///
/// ```
/// use rtscope::alloc::{AllocatorStats, HeldMemory};
///
/// /// An arena allocator that knows its chunks and what it handed out.
/// struct Arena;
///
/// impl AllocatorStats for Arena {
///     fn name(&self) -> &'static str {
///         "arena"
///     }
///     fn held(&self) -> Option<HeldMemory> {
///         let (chunks, handed_out) = (64 << 20, 40 << 20); // from the arena's own counters
///         let mut h = HeldMemory::default();
///         h.mapped = chunks;
///         h.in_use = handed_out;
///         h.free = chunks - handed_out;
///         Some(h) // releasable and retained unknown: not exported
///     }
/// }
/// assert_eq!(Arena.held().unwrap().releasable, None);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeldMemory {
    /// Bytes obtained from the operating system and not returned: heap arenas, spans or
    /// chunks, plus blocks mapped on their own.
    pub mapped: u64,
    /// Of `mapped`, bytes in blocks handed out (live allocations plus the allocator's
    /// per-block overhead and rounding).
    pub in_use: u64,
    /// Of `mapped`, bytes in free blocks the allocator keeps for reuse: held but unused
    /// (caches, fragmentation between live blocks, a heap top not yet trimmed).
    pub free: u64,
    /// Of `free`, what the allocator itself could return right away (glibc: the top
    /// chunk, `keepcost`; jemalloc: its dirty and muzzy pages).
    pub releasable: Option<u64>,
    /// Address space kept but already returned to the operating system (jemalloc's
    /// `retained`), where the allocator tracks it.
    pub retained: Option<u64>,
}

/// An allocator that can say what it holds: implement it for your inner allocator, wrap it
/// in [`Alloc`](crate::Alloc) (which then implements it too) and hand the static to
/// [`report_allocator`]. rtscope implements it for [`std::alloc::System`] on glibc (through
/// `mallinfo2`; elsewhere [`AllocatorStats::held`] is `None`).
///
/// ```no_run
/// #[global_allocator]
/// static ALLOC: rtscope::Alloc = rtscope::Alloc::system();
///
/// fn main() {
///     rtscope::alloc::report_allocator(&ALLOC); // rust.memory.allocator.* from now on
///     // ...
///     let returned = rtscope::alloc::trim(); // Some(bytes) on glibc
/// #   drop(returned);
/// }
/// ```
pub trait AllocatorStats: Sync {
    /// The `rust.allocator.name` attribute of the series, e.g. `glibc`.
    fn name(&self) -> &'static str;

    /// What the allocator holds now, or `None` when it cannot say. Called on the export
    /// thread at each collection: it should be cheap and must not block for long.
    fn held(&self) -> Option<HeldMemory>;

    /// Asks the allocator to give free memory back to the operating system; `false` when it
    /// cannot (the default).
    fn release(&self) -> bool {
        false
    }
}

/// glibc malloc (`mallinfo2`, summed over all arenas; `malloc_trim(0)` to release). On any
/// other C library, and in the fallback build, it knows nothing: `held` is `None` and
/// `release` is `false`.
impl AllocatorStats for System {
    fn name(&self) -> &'static str {
        sys::MALLOC_NAME
    }

    fn held(&self) -> Option<HeldMemory> {
        let m = sys::malloc_info()?;
        Some(HeldMemory {
            mapped: m.heap + m.mmapped,
            in_use: m.in_use + m.mmapped,
            free: m.free,
            releasable: Some(m.top_releasable),
            retained: None,
        })
    }

    fn release(&self) -> bool {
        sys::malloc_trim()
    }
}

/// jemalloc through tikv-jemallocator (feature `jemalloc`, Unix): its own statistics,
/// refreshed by advancing `epoch`. `mapped` is `stats.resident` (the pages it holds, its
/// metadata included), `in_use` is `stats.allocated`, `free` is what lies between them
/// (partly used pages and dirty pages not yet purged: `resident - allocated - metadata`),
/// `releasable` the dirty and muzzy pages of every arena (what a purge returns at once), and
/// `retained` is `stats.retained`. `release` purges every arena (`arena.<all>.purge`).
#[cfg(all(feature = "jemalloc", not(windows)))]
impl AllocatorStats for tikv_jemallocator::Jemalloc {
    fn name(&self) -> &'static str {
        "jemalloc"
    }

    fn held(&self) -> Option<HeldMemory> {
        use tikv_jemalloc_ctl::{epoch, raw, stats};
        epoch::advance().ok()?;
        let (resident, allocated) = (
            stats::resident::read().ok()?,
            stats::allocated::read().ok()?,
        );
        let metadata = stats::metadata::read().ok()?;
        // SAFETY: the page size and the page counts of jemalloc's merged arenas (index
        // MALLCTL_ARENAS_ALL, 4096) are `size_t` values, read as `usize`.
        let (page, unpurged) = unsafe {
            (
                raw::read::<usize>(b"arenas.page\0").ok()?,
                raw::read::<usize>(b"stats.arenas.4096.pdirty\0").ok()?
                    + raw::read::<usize>(b"stats.arenas.4096.pmuzzy\0").ok()?,
            )
        };
        let bytes = |n: usize| n as u64;
        Some(HeldMemory {
            mapped: bytes(resident),
            in_use: bytes(allocated),
            free: bytes(resident.saturating_sub(allocated + metadata)),
            releasable: Some(bytes(unpurged.saturating_mul(page))),
            retained: Some(bytes(stats::retained::read().ok()?)),
        })
    }

    fn release(&self) -> bool {
        // SAFETY: `arena.4096.purge` (MALLCTL_ARENAS_ALL) is a void control: it reads and
        // writes nothing, so both pointers are null and both lengths 0; the name is a
        // NUL-terminated static string.
        let rc = unsafe {
            tikv_jemalloc_sys::mallctl(
                c"arena.4096.purge".as_ptr(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            )
        };
        rc == 0
    }
}

/// mimalloc (feature `mimalloc`). A release build of mimalloc counts the memory it has
/// committed, not its blocks, so `mapped` is its committed bytes (`mi_process_info`) and
/// `in_use` is the live heap as rtscope counts it (the user's and the agent's requested
/// bytes: wrap `MiMalloc` in [`Alloc`](crate::Alloc), or it reads 0); `free` is the rest of
/// the committed memory (partly used pages, pages not yet purged, size-class rounding).
/// `releasable` and `retained` are unknown. `release` is `mi_collect(true)`, which purges
/// the pages that are free.
#[cfg(feature = "mimalloc")]
impl AllocatorStats for mimalloc::MiMalloc {
    fn name(&self) -> &'static str {
        "mimalloc"
    }

    fn held(&self) -> Option<HeldMemory> {
        let mut commit = 0usize;
        let mut unused = [0usize; 7];
        let [elapsed, user, system, rss, peak_rss, peak_commit, faults] = &mut unused;
        // SAFETY: every pointer is to a live, writable `usize` of this frame; mi_process_info
        // only writes through them.
        unsafe {
            libmimalloc_sys::mi_process_info(
                elapsed,
                user,
                system,
                rss,
                peak_rss,
                &mut commit,
                peak_commit,
                faults,
            )
        };
        let mapped = commit as u64;
        let in_use = super::stats().live_bytes + super::agent_stats().live_bytes;
        Some(HeldMemory {
            mapped,
            in_use,
            free: mapped.saturating_sub(in_use),
            ..HeldMemory::default()
        })
    }

    fn release(&self) -> bool {
        // SAFETY: mi_collect has no preconditions; `true` forces freeing and purging.
        unsafe { libmimalloc_sys::mi_collect(true) };
        true
    }
}

impl<A: GlobalAlloc + AllocatorStats> AllocatorStats for super::Alloc<A> {
    fn name(&self) -> &'static str {
        self.inner().name()
    }

    fn held(&self) -> Option<HeldMemory> {
        self.inner().held()
    }

    fn release(&self) -> bool {
        self.inner().release()
    }
}

static REPORTED: OnceLock<&'static dyn AllocatorStats> = OnceLock::new();
/// The allocator a constructor that knows it ([`Alloc::system`](super::Alloc::system), ...)
/// offered from the allocator's slow path: reported when none was reported explicitly.
static OFFERED: OnceLock<&'static dyn AllocatorStats> = OnceLock::new();

/// Offers the global allocator's own statistics, once (the allocator's slow path: one load
/// after the first call; `OnceLock` allocates nothing).
#[inline]
pub(crate) fn offer(stats: Option<&'static dyn AllocatorStats>) {
    if let Some(stats) = stats
        && OFFERED.get().is_none()
    {
        let _ = OFFERED.set(stats);
    }
}

/// The allocator whose held memory is reported: the one handed to [`report_allocator`], else
/// the one the global [`Alloc`](super::Alloc)'s constructor knows.
fn reported() -> Option<&'static dyn AllocatorStats> {
    REPORTED.get().or_else(|| OFFERED.get()).copied()
}
/// Resident bytes [`trim`] gave back, in total.
static RELEASED: AtomicU64 = AtomicU64::new(0);

/// Reports `allocator`'s [`HeldMemory`] as `rust.memory.allocator.*` from now on (pass the
/// `#[global_allocator]` static), for an allocator of one's own: [`Alloc::system`]
/// (glibc), [`Alloc::jemalloc`] and [`Alloc::mimalloc`] are reported without it. The first
/// call wins: `false` if one was reported already.
///
/// [`Alloc::system`]: super::Alloc::system
/// [`Alloc::jemalloc`]: super::Alloc
/// [`Alloc::mimalloc`]: super::Alloc
pub fn report_allocator(allocator: &'static dyn AllocatorStats) -> bool {
    REPORTED.set(allocator).is_ok()
}

/// What the reported allocator holds now (the global [`Alloc`](super::Alloc)'s when its
/// constructor knows it, else the one handed to [`report_allocator`]); `None` when there is
/// none or it cannot say.
pub fn held_memory() -> Option<HeldMemory> {
    reported()?.held()
}

/// Asks the reported allocator (see [`held_memory`]) to give free memory back to the
/// operating system (glibc: `malloc_trim(0)`), and returns the resident bytes that went
/// back: the process's RSS before minus after (0 if it did not drop; other threads'
/// allocations meanwhile count against it), added to `rust.memory.allocator.released`.
/// `None` when no allocator was reported or it cannot release, or the RSS is not known
/// on this system (see docs/metrics.md, Platforms).
///
/// It runs on the calling thread and takes as long as the allocator needs (glibc: it walks
/// every arena under its lock, some milliseconds per GiB of free memory), so call it where a
/// pause is fine: after a burst, from a maintenance task, not per request.
pub fn trim() -> Option<u64> {
    let allocator = reported()?;
    // `resident_bytes` reads a file: the agent's own temporaries.
    agent_scope(|| {
        let before = sys::resident_bytes()?;
        if !allocator.release() {
            return None;
        }
        let returned = before.saturating_sub(sys::resident_bytes()?);
        RELEASED.fetch_add(returned, Relaxed);
        Some(returned)
    })
}

pub(crate) const SOURCE: Source = Source {
    series,
    ..Source::NONE
};

fn series(out: &mut Vec<Metric>) {
    let Some(allocator) = reported() else {
        return;
    };
    let name = allocator.name();
    let gauge = |metric: &'static str, description: &'static str, bytes: u64| {
        Metric::new(metric, "By", description, Data::UpDown(Number::Int(bytes)))
            .with_attr("rust.allocator.name", name)
    };
    let held = allocator.held();
    // An allocator the constructor offered that cannot say anything (`System` off glibc)
    // has no series at all; one reported explicitly keeps its `released` counter.
    if held.is_none() && REPORTED.get().is_none() {
        return;
    }
    if let Some(h) = held {
        out.push(gauge(
            "rust.memory.allocator.mapped",
            "Bytes the allocator obtained from the operating system and holds",
            h.mapped,
        ));
        out.push(gauge(
            "rust.memory.allocator.in_use",
            "Bytes of the allocator's blocks handed out, overhead included",
            h.in_use,
        ));
        out.push(gauge(
            "rust.memory.allocator.free",
            "Bytes the allocator holds in free blocks: held but unused",
            h.free,
        ));
        if let Some(r) = h.releasable {
            out.push(gauge(
                "rust.memory.allocator.releasable",
                "Bytes of free memory the allocator could return at once",
                r,
            ));
        }
        if let Some(r) = h.retained {
            out.push(gauge(
                "rust.memory.allocator.retained",
                "Address space the allocator keeps but returned to the operating system",
                r,
            ));
        }
    }
    out.push(
        Metric::new(
            "rust.memory.allocator.released",
            "By",
            "Resident bytes rtscope::alloc::trim gave back to the operating system",
            Data::Counter(Number::Int(RELEASED.load(Relaxed))),
        )
        .with_attr("rust.allocator.name", name),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(all(rtscope_linux, target_env = "gnu"))]
    fn glibc_accounts_for_a_burst_freed_again_as_held_but_free() {
        let before = System.held().expect("mallinfo2 on glibc");
        // 20 000 blocks of 1 000 bytes from glibc directly, the last one kept so the heap
        // top cannot shrink on its own.
        let layout = std::alloc::Layout::from_size_align(1000, 8).unwrap();
        // SAFETY: a non-zero layout; each block is freed once below with the same layout.
        let blocks: Vec<*mut u8> = (0..20_000)
            .map(|_| unsafe { System.alloc(layout) })
            .collect();
        // mallinfo2 sums the whole process, where other tests run and free meanwhile: the
        // bounds are what this burst alone makes true (a delta from `before` failed when
        // another test freed megabytes in between).
        let during = System.held().unwrap();
        assert!(during.in_use >= 20_000_000, "{before:?} then {during:?}");
        for &p in &blocks[..blocks.len() - 1] {
            // SAFETY: allocated above with `layout`, freed once.
            unsafe { System.dealloc(p, layout) };
        }
        let after = System.held().unwrap();
        assert!(after.free >= 19_000_000, "{before:?} then {after:?}");
        assert_eq!(
            after.mapped,
            after.in_use + after.free,
            "glibc's arena is used + free"
        );
        // SAFETY: the kept block, freed once.
        unsafe { System.dealloc(blocks[blocks.len() - 1], layout) };
    }

    /// jemalloc used directly (its symbols are prefixed, so it is not this test's global
    /// allocator): its own figures follow a burst, the free pages are releasable, and the
    /// purge returns them.
    #[test]
    #[cfg(all(feature = "jemalloc", not(windows)))]
    fn jemalloc_accounts_for_a_burst_and_the_purge_returns_its_pages() {
        let j = tikv_jemallocator::Jemalloc;
        let before = j.held().expect("jemalloc statistics");
        let layout = std::alloc::Layout::from_size_align(1000, 8).unwrap();
        // SAFETY: a non-zero layout; each block is freed once below with the same layout.
        let blocks: Vec<*mut u8> = (0..20_000).map(|_| unsafe { j.alloc(layout) }).collect();
        let during = j.held().unwrap();
        assert!(during.in_use >= before.in_use + 20_000_000, "{during:?}");
        assert!(during.mapped >= during.in_use, "{during:?}");
        for &p in &blocks {
            // SAFETY: allocated above with `layout`, freed once.
            unsafe { j.dealloc(p, layout) };
        }
        let after = j.held().unwrap();
        assert!(after.free >= before.free + 15_000_000, "{after:?}");
        assert!(after.releasable >= Some(15_000_000), "{after:?}");
        assert!(after.retained.is_some());
        assert!(j.release());
        let purged = j.held().unwrap();
        assert!(purged.releasable < Some(1_000_000), "{purged:?}");
        assert!(
            purged.mapped + 15_000_000 <= after.mapped,
            "{purged:?} {after:?}"
        );
    }

    #[test]
    #[cfg(not(all(rtscope_linux, target_env = "gnu")))]
    fn without_glibc_the_system_allocator_says_nothing() {
        assert_eq!(System.held(), None);
        assert!(!System.release());
    }
}
