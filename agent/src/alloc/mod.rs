//! The accounting global allocator and its statistics.
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOC: rtscope::Alloc = rtscope::Alloc::system();
//!
//! let before = rtscope::alloc::thread_stats(); // this thread's counts: exact for a region
//! let v = vec![0u8; 100];
//! let after = rtscope::alloc::thread_stats();
//! assert_eq!(after.allocations - before.allocations, 1);
//! # drop(v);
//! let process = rtscope::alloc::stats(); // every thread's
//! # drop(process);
//! ```
//!
//! # What is counted, and where
//!
//! Every call into the global allocator is recorded by the size of the request, in the size
//! class that holds it ([`CLASS_SIZES`]: Go's 68 classes up to 32 KiB, then powers of two up to
//! 1 TiB, then an overflow class).
//!
//! - `alloc` and `alloc_zeroed` count one allocation of `layout.size()` bytes.
//! - `dealloc` counts one deallocation.
//! - A successful `realloc` counts a deallocation of the old size, an allocation of the new
//!   size (so live bytes and per-class live objects stay exact) and one reallocation, in place
//!   when the block kept its address, moved otherwise.
//! - **Failures.** Requests up to 32 KiB are counted *before* the inner allocator is called, so
//!   the fast path ends in a jump to it: if such a request fails, it is counted as an
//!   allocation and the failure is not seen (small requests fail only when the process is out
//!   of memory, and then it aborts). Requests over 32 KiB, and every `realloc`, are counted
//!   after the inner allocator answers: a null result is counted in `failures` and nowhere
//!   else. Those are the failures `try_reserve` and friends really meet.
//! - Allocations made by rtscope itself (the export thread, agent code, a thread claiming its
//!   shard) are kept out of these numbers: [`agent_stats`] reports them. See the next section
//!   for which blocks those are.
//! - Allocations made on a thread after its shard was given back (in other thread-local
//!   destructors) are the user's and are counted, in a shared fallback shard.
//!
//! Peak live bytes are checked every 256 KiB a thread allocates and at each [`stats`] call,
//! so the reported peak is at most `threads x 256 KiB` below the true one (plus what is
//! allocated during the walk over the shards, which reads every allocation count before
//! every free count so that a block moving between threads is never counted live twice:
//! the peak never reads above a value the live heap really had).
//!
//! # Memory the allocator holds beyond the live heap
//!
//! The agent exports what the inner allocator holds but does not use ([`HeldMemory`],
//! `rust.memory.allocator.*`) for [`Alloc::system`] on glibc, [`Alloc::jemalloc`] and
//! [`Alloc::mimalloc`] with nothing else to call, and for any inner allocator implementing
//! [`AllocatorStats`] handed to [`report_allocator`]; [`trim`] asks it to give free memory
//! back and counts the bytes that went.
//!
//! # Whose block it is: the application's or the agent's
//!
//! There are two accounts: the user's ([`stats`], [`thread_stats`], `rust.memory.*`) and the
//! agent's ([`agent_stats`], `rtscope.agent.memory.*`). **A block is freed into the account
//! it was allocated from**; otherwise the user's live bytes collapse (frees with no matching
//! allocation) while the agent's climb for memory already freed. So:
//!
//! - A block counts as the agent's only when the agent also frees it: everything on the
//!   export thread, tables that live for the process (interned scope, pool, latency and
//!   thread names, counter groups), the per-thread stack of entered tracing spans (freed, as
//!   the agent's, when the thread exits), temporaries the agent frees before returning.
//!   Agent code does that work inside the agent scope, which sends a thread's allocations
//!   and frees to the agent's account while it runs.
//! - A block whose lifetime the application controls is the application's, even when rtscope
//!   allocates it: the wake cell and waker of an [instrumented](crate::task::instrument)
//!   future, the allocation counter and extension entry of each span under
//!   [`RtscopeLayer`](crate::tracing::RtscopeLayer), the vector
//!   [`thread_delays`](crate::task::thread_delays) returns, the configuration an
//!   [`AgentGuard`](crate::AgentGuard) holds, a [`Pool`](crate::pool::Pool) and its objects.
//!   They are allocated outside the agent scope, so the thread that frees them, whichever
//!   it is, frees them from the user's account too.
//!
//! One exception, fixed in size: the standard library starts the export thread before any
//! agent code runs on it, and there frees its 24-byte start record (allocated by the agent)
//! and allocates a copy of the thread's name (14 bytes, freed as the agent's when the thread
//! exits). About 40 bytes cross between the accounts once per process, never more.

mod retention;
mod series;

pub(crate) use retention::SOURCE as RETENTION_SOURCE;
pub use retention::{AllocatorStats, HeldMemory, held_memory, report_allocator, trim};
pub(crate) use series::{AGENT_SOURCE, SOURCE};

pub use crate::base::classes::{CLASS_SIZES, NUM_CLASSES, SMALL_MAX, class_of};
#[allow(unused_imports)]
pub(crate) use crate::base::shard::{check_peak, restart_sampling};

use crate::base::hot_profile as profile;
use crate::base::shard::{
    self as shard, AGENT, PEAK_LIVE, SHARDS, Shard, on_alloc, on_alloc_slow, on_failure, on_free,
    on_free_slow, on_realloc, try_alloc_small, try_free_small,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::Ordering::Relaxed;

/// A global allocator that counts every allocation by size class and forwards it to `A`.
///
/// ```no_run
/// #[global_allocator]
/// static ALLOC: rtscope::Alloc = rtscope::Alloc::system();
/// ```
///
/// [`Alloc::system`], [`Alloc::jemalloc`] and [`Alloc::mimalloc`] also report what their
/// allocator holds beyond the live heap (`rust.memory.allocator.*`, [`held_memory`],
/// [`trim`]) with nothing else to call. Wrap any other allocator with [`Alloc::new`] (and
/// hand it to [`report_allocator`] if it implements [`AllocatorStats`]).
#[derive(Default)]
pub struct Alloc<A: GlobalAlloc = System> {
    inner: A,
    /// What the constructor knows says what the inner allocator holds; offered to
    /// [`retention`] from the slow path, so the series need no call.
    stats: Option<&'static dyn AllocatorStats>,
}

impl<A: GlobalAlloc + std::fmt::Debug> std::fmt::Debug for Alloc<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alloc")
            .field("inner", &self.inner)
            .field("reports", &self.stats.map(AllocatorStats::name))
            .finish()
    }
}

impl Alloc<System> {
    /// Wraps the system allocator. On glibc it also reports what malloc holds
    /// (`mallinfo2`) as `rust.memory.allocator.*`, and [`trim`] calls `malloc_trim`.
    pub const fn system() -> Self {
        Alloc {
            inner: System,
            stats: Some(&System),
        }
    }
}

#[cfg(all(feature = "jemalloc", not(windows)))]
impl Alloc<tikv_jemallocator::Jemalloc> {
    /// Wraps jemalloc (tikv-jemallocator, feature `jemalloc`), reporting its own statistics
    /// as `rust.memory.allocator.*`; [`trim`] purges every arena.
    pub const fn jemalloc() -> Self {
        Alloc {
            inner: tikv_jemallocator::Jemalloc,
            stats: Some(&tikv_jemallocator::Jemalloc),
        }
    }
}

#[cfg(feature = "mimalloc")]
impl Alloc<mimalloc::MiMalloc> {
    /// Wraps mimalloc (feature `mimalloc`), reporting its committed bytes as
    /// `rust.memory.allocator.*`; [`trim`] is `mi_collect(true)`.
    pub const fn mimalloc() -> Self {
        Alloc {
            inner: mimalloc::MiMalloc,
            stats: Some(&mimalloc::MiMalloc),
        }
    }
}

impl<A: GlobalAlloc> Alloc<A> {
    /// Wraps `inner`. Its held memory is not reported unless handed to [`report_allocator`].
    pub const fn new(inner: A) -> Self {
        Alloc { inner, stats: None }
    }

    /// The wrapped allocator.
    pub const fn inner(&self) -> &A {
        &self.inner
    }

    /// Everything but the fast path: requests over 32 KiB (called first, so a failure is
    /// seen and counted as such), and small requests whose thread must claim a shard, check
    /// the peak or take a sample. Out of line, so the fast path saves no registers. A
    /// sampled block is tracked for the heap profile's in-use set: a small one is served
    /// from the profile's arena, a large one is remembered by address.
    #[cold]
    #[inline(never)]
    unsafe fn alloc_slow(&self, layout: Layout, zeroed: bool) -> *mut u8 {
        retention::offer(self.stats);
        let call = || {
            // SAFETY: forwarded from `alloc`/`alloc_zeroed`, whose contract the caller upholds.
            unsafe {
                if zeroed {
                    self.inner.alloc_zeroed(layout)
                } else {
                    self.inner.alloc(layout)
                }
            }
        };
        if layout.size() <= SMALL_MAX {
            on_alloc_slow(layout.size());
            if let Some(s) = profile::take() {
                match profile::arena_alloc(layout, zeroed, s) {
                    Some(p) => return p,
                    None => profile::untracked(s),
                }
            }
            return call();
        }
        let p = call();
        if p.is_null() {
            on_failure();
        } else {
            on_alloc(layout.size());
            if let Some(s) = profile::take() {
                profile::track_large(p, s);
            }
        }
        p
    }

    #[cold]
    #[inline(never)]
    unsafe fn dealloc_slow(&self, ptr: *mut u8, layout: Layout) {
        if profile::in_arena(ptr) {
            on_free(layout.size());
            return profile::arena_free(ptr);
        }
        on_free_slow(layout.size());
        if layout.size() > SMALL_MAX {
            profile::forget_large(ptr);
        }
        // SAFETY: forwarded from `dealloc`, whose contract the caller upholds.
        unsafe { self.inner.dealloc(ptr, layout) }
    }

    /// `realloc` of a block served from the profile's arena: a new block (counted, and
    /// sampled or not, as any allocation), a copy, and the arena block freed; counted as one
    /// reallocation that moved.
    #[cold]
    #[inline(never)]
    unsafe fn realloc_arena(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return std::ptr::null_mut();
        };
        // SAFETY: `new_layout` has a non-zero size (`realloc`'s contract).
        let p = unsafe { self.alloc(new_layout) };
        if p.is_null() {
            on_failure();
            return p;
        }
        // SAFETY: both blocks are valid for the smaller of the two sizes and distinct (the
        // arena block is still allocated); then the old one is freed, as `realloc` does.
        unsafe {
            std::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        shard::on_realloc_counted();
        p
    }

    /// A sampled `realloc` result of `new_size` bytes, tracked like a sampled allocation: a
    /// small block moves into the arena (copied, the inner block freed), a large one is
    /// remembered by address.
    #[cfg(feature = "profiles")]
    #[cold]
    #[inline(never)]
    unsafe fn track_realloc(&self, p: *mut u8, align: usize, new_size: usize) -> *mut u8 {
        let Some(s) = profile::take() else { return p };
        let Ok(layout) = Layout::from_size_align(new_size, align) else {
            profile::untracked(s);
            return p;
        };
        if new_size > SMALL_MAX {
            profile::track_large(p, s);
            return p;
        }
        match profile::arena_alloc(layout, false, s) {
            Some(q) => {
                // SAFETY: `p` holds `new_size` valid bytes and `q` as many, distinct; `p` was
                // allocated by `inner` with `layout` and is freed once.
                unsafe {
                    std::ptr::copy_nonoverlapping(p, q, new_size);
                    self.inner.dealloc(p, layout);
                }
                q
            }
            None => {
                profile::untracked(s);
                p
            }
        }
    }
}

// SAFETY: every method forwards to `inner` with the caller's arguments unchanged and returns
// its result unchanged, except for sampled blocks of the heap profile, which come from the
// profile's arena (memory rtscope reserved, never handed out twice) or are copied there; the
// accounting around it neither allocates through the global allocator nor touches the
// memory.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Alloc<A> {
    #[inline(always)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() <= SMALL_MAX && try_alloc_small(layout.size()) {
            // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract for `layout`.
            return unsafe { self.inner.alloc(layout) };
        }
        // SAFETY: as above.
        unsafe { self.alloc_slow(layout, false) }
    }

    #[inline(always)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.size() <= SMALL_MAX && try_alloc_small(layout.size()) {
            // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract for `layout`.
            return unsafe { self.inner.alloc_zeroed(layout) };
        }
        // SAFETY: as above.
        unsafe { self.alloc_slow(layout, true) }
    }

    #[inline(always)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if layout.size() <= SMALL_MAX && try_free_small(ptr, layout.size()) {
            // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
            return unsafe { self.inner.dealloc(ptr, layout) };
        }
        // SAFETY: as above.
        unsafe { self.dealloc_slow(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if profile::in_arena(ptr) {
            // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
            return unsafe { self.realloc_arena(ptr, layout, new_size) };
        }
        if layout.size() > SMALL_MAX {
            profile::forget_large(ptr);
        }
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if p.is_null() {
            on_failure();
        } else {
            on_realloc(layout.size(), new_size, p == ptr);
            #[cfg(feature = "profiles")]
            // SAFETY: `p` is the live block of `new_size` bytes `inner` just returned.
            return unsafe { self.track_realloc(p, layout.align(), new_size) };
        }
        p
    }
}

/// Counts of one size class.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassStats {
    /// Upper bound of the class in bytes (`u64::MAX` for the overflow class).
    pub size: u64,
    /// Allocations of a size in this class.
    pub allocations: u64,
    /// Deallocations of a size in this class.
    pub deallocations: u64,
    /// Requested bytes allocated.
    pub allocated_bytes: u64,
    /// Requested bytes freed.
    pub freed_bytes: u64,
}

impl ClassStats {
    /// Allocations not yet freed.
    pub fn live_objects(&self) -> u64 {
        self.allocations.saturating_sub(self.deallocations)
    }

    /// Requested bytes not yet freed.
    pub fn live_bytes(&self) -> u64 {
        self.allocated_bytes.saturating_sub(self.freed_bytes)
    }

    /// Internal fragmentation the class model implies: class size times live objects, minus
    /// live requested bytes. Zero for the overflow class, which has no size to round up to.
    pub fn fragmentation_bytes(&self) -> u64 {
        if self.size == u64::MAX {
            return 0;
        }
        (self.size.saturating_mul(self.live_objects())).saturating_sub(self.live_bytes())
    }
}

/// A snapshot of allocation statistics. All counts are cumulative since the process started.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocStats {
    /// Allocations (`alloc`, `alloc_zeroed`, and the new block of each successful `realloc`).
    pub allocations: u64,
    /// Deallocations (`dealloc`, and the old block of each successful `realloc`).
    pub deallocations: u64,
    /// Successful reallocations.
    pub reallocations: u64,
    /// Reallocations that kept the block's address.
    pub reallocations_in_place: u64,
    /// Reallocations that moved the block.
    pub reallocations_moved: u64,
    /// Requests the inner allocator refused (see the module docs for which are seen).
    pub failures: u64,
    /// Requested bytes allocated.
    pub allocated_bytes: u64,
    /// Requested bytes freed.
    pub freed_bytes: u64,
    /// Requested bytes allocated and not yet freed.
    pub live_bytes: u64,
    /// Allocations not yet freed.
    pub live_objects: u64,
    /// Highest `live_bytes` seen (see the module docs for its precision).
    pub peak_live_bytes: u64,
    /// Internal fragmentation implied by the size classes, over live allocations.
    pub fragmentation_bytes: u64,
    /// Per-thread shards created so far: the most threads that recorded at once.
    pub shards: u64,
    /// Per size class, in increasing size ([`CLASS_SIZES`]).
    pub classes: [ClassStats; NUM_CLASSES],
}

impl AllocStats {
    fn empty() -> Self {
        let mut classes = [ClassStats::default(); NUM_CLASSES];
        for (c, &size) in classes.iter_mut().zip(CLASS_SIZES.iter()) {
            c.size = size;
        }
        AllocStats {
            allocations: 0,
            deallocations: 0,
            reallocations: 0,
            reallocations_in_place: 0,
            reallocations_moved: 0,
            failures: 0,
            allocated_bytes: 0,
            freed_bytes: 0,
            live_bytes: 0,
            live_objects: 0,
            peak_live_bytes: 0,
            fragmentation_bytes: 0,
            shards: 0,
            classes,
        }
    }

    /// Adds the counts of the shards `shards()` yields: every allocation count of every shard first, then every free
    /// count. A block allocated on one thread and freed on another while this walks the
    /// shards is then counted freed only if its allocation was counted too, so live bytes
    /// (and the peak taken from them) never read above what was live: at worst they read
    /// below it by what was allocated during the walk.
    fn add_shards<'a, I: Iterator<Item = &'a Shard>>(&mut self, shards: impl Fn() -> I) {
        for shard in shards() {
            for (i, c) in self.classes.iter_mut().enumerate() {
                c.allocations = c.allocations.wrapping_add(shard.allocs[i].load(Relaxed));
                c.allocated_bytes = c
                    .allocated_bytes
                    .wrapping_add(shard.alloc_bytes[i].load(Relaxed));
            }
        }
        // Frees read after allocations, also on weakly ordered processors.
        std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        for shard in shards() {
            for (i, c) in self.classes.iter_mut().enumerate() {
                c.deallocations = c.deallocations.wrapping_add(shard.frees[i].load(Relaxed));
                c.freed_bytes = c
                    .freed_bytes
                    .wrapping_add(shard.free_bytes[i].load(Relaxed));
            }
            self.add_other_counts(shard);
        }
    }

    fn add_other_counts(&mut self, shard: &Shard) {
        self.reallocations_in_place = self
            .reallocations_in_place
            .wrapping_add(shard.reallocs_in_place.load(Relaxed));
        self.reallocations_moved = self
            .reallocations_moved
            .wrapping_add(shard.reallocs_moved.load(Relaxed));
        self.failures = self.failures.wrapping_add(shard.failures.load(Relaxed));
    }

    /// Derives the totals from the per-class counts.
    fn finish(&mut self) {
        for c in &self.classes {
            self.allocations = self.allocations.wrapping_add(c.allocations);
            self.deallocations = self.deallocations.wrapping_add(c.deallocations);
            self.allocated_bytes = self.allocated_bytes.wrapping_add(c.allocated_bytes);
            self.freed_bytes = self.freed_bytes.wrapping_add(c.freed_bytes);
            self.fragmentation_bytes = self
                .fragmentation_bytes
                .wrapping_add(c.fragmentation_bytes());
        }
        self.reallocations = self
            .reallocations_in_place
            .wrapping_add(self.reallocations_moved);
        self.live_bytes = self.allocated_bytes.saturating_sub(self.freed_bytes);
        self.live_objects = self.allocations.saturating_sub(self.deallocations);
    }
}

/// Reads the user's allocation statistics: the sum of every thread's shard. Never allocates.
/// The difference of two snapshots includes what every other thread did meanwhile: to
/// measure a region of code, use [`thread_stats`]. Costs a walk over all shards: call it on a
/// timer, not per event.
pub fn stats() -> AllocStats {
    let mut s = AllocStats::empty();
    s.add_shards(shard::user_shards);
    s.shards = SHARDS.iter().count() as u64;
    s.finish();
    PEAK_LIVE.fetch_max(s.live_bytes, Relaxed);
    s.peak_live_bytes = PEAK_LIVE.load(Relaxed).max(s.live_bytes);
    s
}

/// Reads the calling thread's own counts: the shard only this thread writes, so the
/// difference of two readings around a piece of code is exact for what that code did on this
/// thread, whatever other threads allocate meanwhile (use it to measure a region of code).
/// Never allocates.
///
/// ```
/// #[global_allocator]
/// static ALLOC: rtscope::Alloc = rtscope::Alloc::system();
///
/// let before = rtscope::alloc::thread_stats();
/// let v = std::hint::black_box(vec![0u8; 100]);
/// let after = rtscope::alloc::thread_stats();
/// assert_eq!(after.allocations - before.allocations, 1);
/// assert_eq!(after.allocated_bytes - before.allocated_bytes, 100);
/// # drop(v);
/// ```
///
/// - The counts are cumulative for the shard, and a shard given back by an exited thread is
///   reused by the next new one, so a reading may include an earlier thread's counts: use
///   differences, as with [`stats`].
/// - `live_bytes` and `live_objects` (and the `fragmentation_bytes` derived from them) are
///   this thread's allocations minus its frees, at least 0, so they under-read when it frees
///   blocks other threads allocated; compare `allocated_bytes` and `freed_bytes`
///   differences instead. `peak_live_bytes` is
///   process-wide only and reads 0 here; `shards` is 1.
/// - A thread that has not allocated yet claims its shard on the first call (as its first
///   allocation would, in the agent's account), so that first reading is already a baseline.
/// - A thread that records into no shard of its own reads all zeros: an agent thread (its
///   allocations are in [`agent_stats`]), a thread in its thread-local destructors after its
///   shard was given back, or one that could get no memory for a shard (both record into a
///   shared fallback that [`stats`] counts).
pub fn thread_stats() -> AllocStats {
    let mut s = AllocStats::empty();
    if let Some(shard) = shard::own_shard() {
        s.add_shards(|| std::iter::once(shard));
        s.shards = 1;
    }
    s.finish();
    s
}

/// The agent's own allocations (self-telemetry): what rtscope allocated to do its work.
/// `peak_live_bytes` and `shards` are not tracked here and read 0.
pub fn agent_stats() -> AllocStats {
    let mut s = AllocStats::empty();
    s.add_shards(|| std::iter::once(&AGENT));
    s.finish();
    s
}
