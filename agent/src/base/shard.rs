//! The hot path: each thread's class counters in its own thread-local storage, the per-thread
//! shards of the other counters, and the thread-local state that finds them.
//!
//! Every counter has exactly one writer, the thread that owns it, which updates it with a
//! relaxed `load` + `store` (no read-modify-write, no lock, no shared line written). Any
//! thread may read it: a shard directly (shards are never freed), another thread's
//! thread-local counters through [`super::reach`]. Work that is not a plain count (claiming
//! a shard, re-arming the countdowns, checking the peak, allocations made by the agent itself
//! or after the thread's shard was given back) is out of line in `slow_*` functions.
//!
//! Two countdowns gate the fast paths, one of bytes allocated and one of bytes freed, each
//! armed at most [`CAP`] (64 KiB, the largest request the class table holds): a request
//! larger than that always drives its countdown negative, so the fast paths need no size
//! check, and a thread with no counters of its own keeps both negative, so they need no null
//! check either. What the countdowns consumed bounds the 32-bit counters of the fast classes
//! between two folds into 64-bit totals (every 4 GiB a thread allocates, see [`FOLD_AT`]).

use super::classes::{FAST_CLASSES, FAST_MAX, NUM_CLASSES, SMALL_MAX, class_of, fast_class};
use super::reach::{Published, Reach};
use super::registry::{List, Node};
use super::sync::{
    AtomicPtr, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr;
use std::sync::atomic::AtomicU32;

/// Generic counter slots per shard, handed out by [`claim_slots`] to pools, timers and
/// schedulers, so every measurement shares this one per-thread mechanism.
pub(crate) const SLOTS: usize = 2048;
/// Slots per page. A shard gets a page the first time its thread records into one of the
/// page's slots, so a thread that only allocates holds none (1 KiB each).
const PAGE_SLOTS: usize = 128;
const PAGES: usize = SLOTS / PAGE_SLOTS;

/// The most either countdown is armed with: the largest request the fast path counts, so
/// any larger one drives it negative and the fast paths need no size check.
pub(crate) const CAP: i64 = FAST_MAX as i64;
/// The most the free countdown is armed with: 32 KiB, so every free above it takes the slow
/// path, where a heap-profile sample of more than 32 KiB (tracked by address, not in the
/// arena) leaves the in-use set.
pub(crate) const FREE_CAP: i64 = SMALL_MAX as i64;
/// Bytes counted into a thread's 32-bit counters since their last fold after which the next
/// slow path folds them: each countdown period adds at most `CAP` bytes of fast-path requests
/// plus one small request (each counted request is at least 1 byte, so counts stay below
/// bytes), so no 32-bit counter can wrap.
const FOLD_AT: i64 = u32::MAX as i64 - 4 * CAP;

/// Classes above the small ones (powers of two, overflow), counted on the slow path only.
const LARGE_CLASSES: usize = NUM_CLASSES - FAST_CLASSES;

/// The four counts of a class, as indices of [`Totals`] and of a reading.
pub(crate) const ALLOCS: usize = 0;
pub(crate) const ALLOC_BYTES: usize = 1;
pub(crate) const FREES: usize = 2;
pub(crate) const FREE_BYTES: usize = 3;

/// Every class's four counts, one array each (allocations, requested bytes allocated,
/// deallocations, bytes freed), as plain sums.
pub(crate) type ClassCounts = [[u64; NUM_CLASSES]; 4];

/// 64-bit counts of every class: the shared accounts (the agent's, the fallback that also
/// holds exited threads' counts) and a shard's folds of its owners' 32-bit counters.
#[derive(Debug)]
pub(crate) struct Totals([[AtomicU64; NUM_CLASSES]; 4]);

impl Totals {
    pub(crate) const fn new() -> Self {
        Totals([const { [const { AtomicU64::new(0) }; NUM_CLASSES] }; 4])
    }

    /// Adds the counts of `kinds` to `out`, each class's count and bytes read together.
    // One index into two rows of `out` and two of the counters.
    #[allow(clippy::needless_range_loop)]
    fn add_to(&self, [n, b]: [usize; 2], out: &mut ClassCounts) {
        for c in 0..NUM_CLASSES {
            out[n][c] = out[n][c].wrapping_add(self.0[n][c].load(Relaxed));
            out[b][c] = out[b][c].wrapping_add(self.0[b][c].load(Relaxed));
        }
    }

    fn record(&self, kind: [usize; 2], class: usize, size: usize, writer: Writer) {
        bump(at(&self.0[kind[0]], class), 1, writer);
        bump(at(&self.0[kind[1]], class), size as u64, writer);
    }
}

/// One thread's class counters, in its thread-local storage: 32-bit for the classes up to
/// 64 KiB (the fast path's, folded before they could wrap), 64-bit above (slow path only).
#[derive(Debug)]
#[repr(C)]
pub(crate) struct ThreadCounts {
    small: [[AtomicU32; FAST_CLASSES]; 4],
    large: [[AtomicU64; LARGE_CLASSES]; 4],
}

impl ThreadCounts {
    const fn new() -> Self {
        ThreadCounts {
            small: [const { [const { AtomicU32::new(0) }; FAST_CLASSES] }; 4],
            large: [const { [const { AtomicU64::new(0) }; LARGE_CLASSES] }; 4],
        }
    }

    /// Adds the counts of `kinds` to `out`, each class's count and bytes read together.
    // One index into two rows of `out` and two of the counters.
    #[allow(clippy::needless_range_loop)]
    fn add_to(&self, [n, b]: [usize; 2], out: &mut ClassCounts) {
        for c in 0..FAST_CLASSES {
            out[n][c] = out[n][c].wrapping_add(u64::from(self.small[n][c].load(Relaxed)));
            out[b][c] = out[b][c].wrapping_add(u64::from(self.small[b][c].load(Relaxed)));
        }
        for c in 0..LARGE_CLASSES {
            let o = FAST_CLASSES + c;
            out[n][o] = out[n][o].wrapping_add(self.large[n][c].load(Relaxed));
            out[b][o] = out[b][o].wrapping_add(self.large[b][c].load(Relaxed));
        }
    }

    /// Counts a request of a small class; only the owner calls this.
    #[inline(always)]
    fn record_small(&self, kind: [usize; 2], class: usize, size: usize) {
        debug_assert!(class < FAST_CLASSES && size <= FAST_MAX);
        // SAFETY: `class` comes from the class table, whose entries are below FAST_CLASSES
        // (checked at compile time in classes.rs).
        let (n, b) = unsafe {
            (
                self.small[kind[0]].get_unchecked(class),
                self.small[kind[1]].get_unchecked(class),
            )
        };
        // Only the owning thread writes these, so load + store loses nothing; the fold
        // bounds them below u32::MAX.
        n.store(n.load(Relaxed).wrapping_add(1), Relaxed);
        b.store(b.load(Relaxed).wrapping_add(size as u32), Relaxed);
    }

    /// Counts a request of any class; only the owner calls this.
    fn record(&self, kind: [usize; 2], class: usize, size: usize) {
        if class < FAST_CLASSES {
            self.record_small(kind, class, size);
        } else {
            let c = class - FAST_CLASSES;
            bump(&self.large[kind[0]][c], 1, Writer::Owner);
            bump(&self.large[kind[1]][c], size as u64, Writer::Owner);
        }
    }

    /// Moves the small classes' counts of `kind` into `into`, as the owner (under
    /// [`REACH`]'s exclusion, so no reader sees them in both places or in neither).
    fn fold_small(&self, kind: [usize; 2], into: &Totals, writer: Writer) {
        for k in kind {
            for (c, into) in self.small[k].iter().zip(&into.0[k]) {
                let v = c.swap(0, Relaxed);
                if v != 0 {
                    bump(into, u64::from(v), writer);
                }
            }
        }
    }

    /// Moves every count into `into` (a thread giving its counters up).
    fn fold_all(&self, into: &Totals) {
        for kind in [[ALLOCS, ALLOC_BYTES], [FREES, FREE_BYTES]] {
            self.fold_small(kind, into, Writer::Shared);
            for k in kind {
                for (c, into) in self.large[k].iter().zip(&into.0[k][FAST_CLASSES..]) {
                    let v = c.swap(0, Relaxed);
                    if v != 0 {
                        bump(into, v, Writer::Shared);
                    }
                }
            }
        }
    }
}

const ALLOC: [usize; 2] = [ALLOCS, ALLOC_BYTES];
const FREE: [usize; 2] = [FREES, FREE_BYTES];

/// One page of counter slots.
type SlotPage = [AtomicU64; PAGE_SLOTS];

/// The counters of one writer besides its class counts, which live in the writer's
/// thread-local storage ([`ThreadCounts`]) and are reached through `counts`. A shard outlives
/// its threads: given back at exit, it is claimed by the next new thread.
#[derive(Debug)]
#[repr(C, align(128))]
pub(crate) struct Shard {
    pub(crate) reallocs_in_place: AtomicU64,
    pub(crate) reallocs_moved: AtomicU64,
    pub(crate) failures: AtomicU64,
    /// Requested bytes allocated into this shard as of its owner's last slow path, a lower
    /// bound: the owner's countdown holds the bytes since (at most [`CAP`]), so the peak check
    /// reads one counter here instead of every class. Exact while no thread owns the shard.
    allocated: AtomicU64,
    /// Requested bytes freed from this shard plus what the owner's free countdown may still
    /// let through (at most [`CAP`]), an upper bound, so live bytes taken from the two never
    /// read high. Exact while no thread owns the shard.
    freed: AtomicU64,
    /// The owner's thread-local class counters, while it has any.
    counts: Published<ThreadCounts>,
    /// Where the owners' 32-bit counters fold (see [`FOLD_AT`]): null until the first fold,
    /// then zeroed memory from `System`, never freed.
    folded: AtomicPtr<Totals>,
    /// Pages of counter slots, null until first written: zeroed memory from `System`,
    /// published with a release store and never freed (the shard outlives its threads).
    pages: [AtomicPtr<SlotPage>; PAGES],
}

impl Shard {
    pub(crate) const fn new() -> Self {
        Shard {
            reallocs_in_place: AtomicU64::new(0),
            reallocs_moved: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            allocated: AtomicU64::new(0),
            freed: AtomicU64::new(0),
            counts: Published::new(),
            folded: AtomicPtr::new(ptr::null_mut()),
            pages: [const { AtomicPtr::new(ptr::null_mut()) }; PAGES],
        }
    }

    /// Counter slot `slot`, if its page exists (`None` also for a slot out of range).
    #[inline(always)]
    fn slot(&self, slot: usize) -> Option<&AtomicU64> {
        let page = self.pages.get(slot / PAGE_SLOTS)?.load(Acquire);
        // SAFETY: a non-null page pointer was published (release store, acquired above) after
        // the page was allocated zeroed, and pages are never freed.
        let page = unsafe { page.as_ref() }?;
        page.get(slot % PAGE_SLOTS)
    }

    /// Counter slot `slot`, allocating its page if this is the first write to it. `None` for
    /// a slot out of range, or when no memory could be had for the page (the count is lost).
    #[cold]
    #[inline(never)]
    fn slot_or_grow(&self, slot: usize) -> Option<&AtomicU64> {
        if let Some(c) = self.slot(slot) {
            return Some(c);
        }
        let cell = self.pages.get(slot / PAGE_SLOTS)?;
        let fresh = zeroed::<SlotPage>()?;
        // Shared shards have several writers: the first page published wins.
        if let Err(_winner) = cell.compare_exchange(ptr::null_mut(), fresh, Release, Acquire) {
            // SAFETY: `fresh` was allocated by `zeroed` with this layout and never published.
            unsafe { System.dealloc(fresh.cast(), Layout::new::<SlotPage>()) };
        }
        self.slot(slot)
    }

    /// The folds of this shard's owners' counters, if any fold happened.
    fn folded(&self) -> Option<&Totals> {
        // SAFETY: a non-null pointer was published (release store) after the block was
        // allocated zeroed, and it is never freed.
        unsafe { self.folded.load(Acquire).as_ref() }
    }

    /// Storage of this shard beyond the node itself: its slot pages and fold block.
    fn extra_bytes(&self) -> u64 {
        let pages = self
            .pages
            .iter()
            .filter(|p| !p.load(Relaxed).is_null())
            .count();
        let folded = self.folded().map_or(0, |_| size_of::<Totals>());
        (pages * size_of::<SlotPage>() + folded) as u64
    }
}

/// Zeroed memory for one `T` from `System` (never through the global allocator, so nothing
/// recurses into rtscope), or `None`.
fn zeroed<T>() -> Option<*mut T> {
    let layout = Layout::new::<T>();
    // SAFETY: every `T` used here has a non-zero size.
    let p = unsafe { System.alloc_zeroed(layout) }.cast::<T>();
    (!p.is_null()).then_some(p)
}

/// How a counter is written: by its single owner, or by anyone (shared fallback shards).
#[derive(Clone, Copy)]
enum Writer {
    /// The calling thread owns the shard: relaxed load + store.
    Owner,
    /// Several threads may write: atomic add (only off the hot path).
    Shared,
}

#[inline(always)]
fn bump(counter: &AtomicU64, by: u64, writer: Writer) {
    match writer {
        // Only the owning thread writes this counter, so load + store loses nothing.
        Writer::Owner => counter.store(counter.load(Relaxed).wrapping_add(by), Relaxed),
        Writer::Shared => {
            counter.fetch_add(by, Relaxed);
        }
    }
}

/// Counter `class` of `counters`, where `class` comes from `class_of`.
#[inline(always)]
fn at(counters: &[AtomicU64; NUM_CLASSES], class: usize) -> &AtomicU64 {
    debug_assert!(class < NUM_CLASSES);
    // SAFETY: every class index comes from the lookup table, whose entries are checked against
    // FAST_CLASSES < NUM_CLASSES at compile time (classes.rs), or from `large_class`, which
    // returns at most OVERFLOW_CLASS = NUM_CLASSES - 1.
    unsafe { counters.get_unchecked(class) }
}

impl Shard {
    #[inline(always)]
    fn realloc_counter(&self, in_place: bool) -> &AtomicU64 {
        if in_place {
            &self.reallocs_in_place
        } else {
            &self.reallocs_moved
        }
    }
}

/// Every per-thread shard ever created; released shards are reused by new threads.
pub(crate) static SHARDS: List<Shard> = List {
    head: AtomicPtr::new(ptr::null_mut()),
};
/// Readers of other threads' class counters, and threads giving theirs up.
static REACH: Reach = Reach::new();
/// User allocations made on a thread that has no counters of its own: after it gave them
/// back (other thread-local destructors), or when no memory could be had for a shard. Shared,
/// atomic adds. Exited threads' class counts are folded into [`UNOWNED_COUNTS`].
pub(crate) static UNOWNED: Shard = Shard::new();
/// The class counts of [`UNOWNED`], and every exited thread's.
static UNOWNED_COUNTS: Totals = Totals::new();
/// The agent's own allocations (export thread, agent code under [`agent_scope`], shard claims),
/// kept out of the user's numbers and reported as self-telemetry. Shared, atomic adds.
pub(crate) static AGENT: Shard = Shard::new();
/// The class counts of [`AGENT`].
static AGENT_COUNTS: Totals = Totals::new();
/// Highest live byte count seen by any check (see [`PEAK_STEP`]).
pub(crate) static PEAK_LIVE: AtomicU64 = AtomicU64::new(0);

/// Bytes a thread may allocate between two peak checks. The recorded peak is at most
/// `threads * (PEAK_STEP + 2 * CAP)` below the true peak.
pub(crate) const PEAK_STEP: i64 = 256 * 1024;

/// `to_event` outside state ACTIVE: far enough below zero that no re-arming can take it
/// to zero or above (requests are at most `isize::MAX` bytes), so [`refill_alloc`] declines
/// without a state check.
const NO_EVENTS: i64 = i64::MIN / 4;
/// `unfolded_free` outside state ACTIVE: above [`FOLD_AT`], so [`refill_free`] declines
/// without a state check.
const NO_REFILL: i64 = i64::MAX / 4;

const STATE_NEW: u8 = 0;
const STATE_ACTIVE: u8 = 1;
const STATE_AGENT: u8 = 2;
const STATE_EXITED: u8 = 3;

/// Per-thread state. `const`-initialized and without `Drop`, so an access is one
/// thread-pointer-relative address and works at any point of a thread's life (the pthread
/// key destructor that gives the counters back runs after every Rust thread-local
/// destructor, and the storage stays until the thread is gone).
///
/// Invariant: `countdown >= 0` or `free_countdown >= 0` only in state ACTIVE (`shard`
/// non-null, `counts` published); every other state keeps both negative and `shard` null,
/// so the fast paths fall to `slow_*`. Neither is ever set above [`CAP`] (the free one above
/// [`FREE_CAP`]).
struct Local {
    /// Bytes this thread may still allocate before the next out-of-line check.
    countdown: Cell<i64>,
    /// Bytes this thread may still free before the next out-of-line check; armed at
    /// [`FREE_CAP`].
    free_countdown: Cell<i64>,
    /// The heap profile's arena base (`super::hot_profile`), set at claim: a free in
    /// `[arena, arena + ARENA_LEN)` is a sampled block and takes the slow path.
    arena: Cell<usize>,
    /// This thread's class counters (published in its shard's `counts` while ACTIVE).
    counts: ThreadCounts,
    /// The shard the slow paths write to; null outside state ACTIVE.
    shard: Cell<*const Shard>,
    /// The node this thread owns (kept while the agent scope hides `shard`).
    owned: Cell<*const Node<Shard>>,
    state: Cell<u8>,
    /// The value `countdown` was armed with: `armed - countdown` bytes were allocated since.
    armed: Cell<i64>,
    /// Bytes to the next event (the nearest of the peak check, the sample point and the
    /// fold), as of the last arming: each re-arming takes what the countdown consumed off it,
    /// and the event path runs when it would go negative.
    to_event: Cell<i64>,
    /// `to_event` as of the last event path: `event_base - to_event` bytes were allocated
    /// between that and the last arming.
    event_base: Cell<i64>,
    /// Bytes to the next peak check, as of the last event path.
    to_peak: Cell<i64>,
    /// Bytes to the next sample point, as of the last event path (`crate::sampling`).
    to_sample: Cell<i64>,
    /// Bytes allocated into the 32-bit counters since their last fold, as of the last event
    /// path, and bytes freed into them as of the last re-arming of the free countdown.
    unfolded_alloc: Cell<i64>,
    unfolded_free: Cell<i64>,
    /// This thread's random stream and the mean its current sample distance was drawn with.
    sampler: super::hot_sampling::PerThread,
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            countdown: Cell::new(-1),
            free_countdown: Cell::new(-1),
            arena: Cell::new(super::hot_profile::NOWHERE),
            counts: ThreadCounts::new(),
            shard: Cell::new(ptr::null()),
            owned: Cell::new(ptr::null()),
            state: Cell::new(STATE_NEW),
            armed: Cell::new(0),
            to_event: Cell::new(NO_EVENTS),
            event_base: Cell::new(0),
            to_peak: Cell::new(0),
            to_sample: Cell::new(0),
            unfolded_alloc: Cell::new(0),
            unfolded_free: Cell::new(NO_REFILL),
            sampler: super::hot_sampling::PerThread::new(),
        }
    };
}

/// Gives the thread's counters back when it exits: a pthread key destructor where there are
/// pthreads (registering it allocates nothing), else a thread-local destructor.
fn release_at_exit() {
    #[cfg(unix)]
    {
        unsafe extern "C" fn on_exit(_: *mut std::ffi::c_void) {
            let _ = LOCAL.try_with(|l| give_back(l, STATE_EXITED));
        }
        if crate::sys::at_thread_exit(on_exit) {
            return;
        }
    }
    struct ReleaseOnExit;
    impl Drop for ReleaseOnExit {
        fn drop(&mut self) {
            let _ = LOCAL.try_with(|l| give_back(l, STATE_EXITED));
        }
    }
    thread_local! {
        static RELEASE: ReleaseOnExit = const { ReleaseOnExit };
    }
    RELEASE.with(|_| {});
}

/// This thread's state. The closure is trivial so `with` inlines to one thread-pointer-relative
/// address; the work happens on the reference outside it.
#[inline(always)]
fn local() -> &'static Local {
    // SAFETY: `LOCAL` is const-initialized and has no destructor, so its storage is valid for
    // the whole life of this thread, and `Local` is `!Sync` (its `Cell`s) so the reference
    // cannot leave the thread; the `'static` lifetime never outlives the thread that uses it.
    unsafe { &*LOCAL.with(|l| l as *const Local) }
}

/// The fast path of an allocation of `size` bytes, any size: one subtraction, one branch, a
/// table load and two counter writes, and no call, so the caller can end in a jump to the
/// inner allocator without saving a register. Returns false, having taken `size` off the
/// countdown and recorded nothing, when the slow path ([`on_alloc_slow`]) must run instead:
/// always for `size > FAST_MAX`.
#[inline(always)]
pub(crate) fn try_alloc_small(size: usize) -> bool {
    let l = local();
    // Stored before the test, so the two compile to one `sub` on memory and a branch on its
    // sign; the slow path knows `size` is already taken off.
    let left = l.countdown.get().wrapping_sub(size as i64);
    l.countdown.set(left);
    if left < 0 {
        return false;
    }
    // SAFETY: the countdown is never armed above CAP = FAST_MAX, so `left >= 0` proves
    // `size <= FAST_MAX`.
    let class = unsafe { fast_class(size) };
    l.counts.record_small(ALLOC, class, size);
    true
}

/// The fast path of a free of the block `ptr` of `size` bytes, any size: false, having taken
/// `size` off the free countdown and recorded nothing, when the slow path ([`on_free_slow`])
/// must run instead: the countdown ran out (always for `size > FAST_MAX`, and on a thread
/// without counters of its own), or the block is a heap-profile sample.
#[inline(always)]
pub(crate) fn try_free_small(ptr: *mut u8, size: usize) -> bool {
    let l = local();
    let left = l.free_countdown.get().wrapping_sub(size as i64);
    l.free_countdown.set(left);
    // Without heap profiles no block is ever in the arena: the check compiles away.
    if left < 0
        || (cfg!(feature = "profiles")
            && (ptr as usize).wrapping_sub(l.arena.get()) < super::hot_profile::ARENA_LEN)
    {
        return false;
    }
    // SAFETY: the free countdown is never armed above FREE_CAP < FAST_MAX, so `left >= 0`
    // proves `size <= FAST_MAX`.
    let class = unsafe { fast_class(size) };
    l.counts.record_small(FREE, class, size);
    true
}

/// Records an allocation the fast path declined (having taken its size off the countdown).
/// True when this slow path did more than re-arm the countdown (a claim, a peak check, a
/// sample): only then may a heap-profile sample be pending.
#[inline(always)]
pub(crate) fn on_alloc_slow(size: usize) -> bool {
    slow_alloc(local(), size)
}

/// Gives back to the countdown the `size` a declined allocation took off it, when the inner
/// allocator refused the request (it is a failure, not an allocation).
pub(crate) fn on_alloc_refused(size: usize) {
    let l = local();
    l.countdown.set(l.countdown.get().wrapping_add(size as i64));
}

/// Records a free the fast path declined (having taken its size off the free countdown).
#[inline(always)]
pub(crate) fn on_free_slow(size: usize) {
    slow_free(local(), size)
}

/// The countdown ran out inside this allocation of `size` bytes (taken off it): if no event
/// is due (peak check, sample, fold) and the request is small, counts it and re-arms the
/// countdown, returning true (the caller goes on as from the fast path). Else false, having
/// changed nothing: the slow path ([`on_alloc_slow`]) runs. A leaf out of line: the common
/// way out of a countdown, once every 64 KiB at most, inlined into the allocator's small
/// out-of-line function that tail-calls the inner allocator.
#[inline(always)]
pub(crate) fn refill_alloc(size: usize) -> bool {
    let l = local();
    if size > FAST_MAX {
        return false;
    }
    // Outside state ACTIVE `to_event` is NO_EVENTS: declined below.
    let consumed = l.armed.get() - l.countdown.get();
    let to_event = l.to_event.get() - consumed;
    if to_event < 0 {
        return false;
    }
    l.to_event.set(to_event);
    arm(l, to_event);
    // SAFETY: size <= FAST_MAX, checked above.
    let class = unsafe { fast_class(size) };
    l.counts.record_small(ALLOC, class, size);
    true
}

/// The free countdown ran out inside this free of the block `ptr` of `size` bytes (taken off
/// it): if the block is small and no heap-profile sample, and no fold is due, counts it and
/// re-arms the countdown, returning true. Else false, having changed nothing: the slow path
/// ([`on_free_slow`]) runs.
#[inline(always)]
pub(crate) fn refill_free(ptr: *mut u8, size: usize) -> bool {
    let l = local();
    // Outside state ACTIVE `unfolded_free` is NO_REFILL: declined below, before the shard
    // (null then) is touched.
    if size > SMALL_MAX
        || (cfg!(feature = "profiles")
            && (ptr as usize).wrapping_sub(l.arena.get()) < super::hot_profile::ARENA_LEN)
    {
        return false;
    }
    // Not in the arena, so the fast path declined because the countdown ran out.
    let consumed = FREE_CAP - l.free_countdown.get();
    let unfolded = l.unfolded_free.get() + consumed;
    if unfolded > FOLD_AT {
        return false;
    }
    l.unfolded_free.set(unfolded);
    // SAFETY: state ACTIVE: `shard` is this thread's claimed, never-freed shard.
    let shard = unsafe { &*l.shard.get() };
    // `freed` was published as the exact total plus FREE_CAP when the countdown was armed: the
    // bytes freed since (this free included) move it to the exact total plus FREE_CAP again.
    bump(&shard.freed, consumed as u64, Writer::Owner);
    l.free_countdown.set(FREE_CAP);
    // SAFETY: size <= FAST_MAX, checked above.
    let class = unsafe { fast_class(size) };
    l.counts.record_small(FREE, class, size);
    true
}

/// Records an allocation of any size, outside the allocator's own fast path.
#[inline]
pub(crate) fn on_alloc(size: usize) {
    if !try_alloc_small(size) {
        alloc_declined(size);
    }
}

#[cold]
#[inline(never)]
fn alloc_declined(size: usize) {
    if !refill_alloc(size) {
        on_alloc_slow(size);
    }
}

/// Records a free of a block of `size` bytes, outside the allocator's own fast path (not a
/// heap-profile sample's: those go through the allocator's slow path).
#[inline]
pub(crate) fn on_free(size: usize) {
    if !try_free_small(ptr::null_mut(), size) {
        free_declined(size);
    }
}

#[cold]
#[inline(never)]
fn free_declined(size: usize) {
    if !refill_free(ptr::null_mut(), size) {
        on_free_slow(size);
    }
}

/// Adds `by` to counter slot `slot` of this thread's shard: a relaxed load + store on a line
/// only this thread writes. `slot` must come from [`claim_slots`].
#[inline(always)]
pub(crate) fn add_to_slot(slot: usize, by: u64) {
    let l = local();
    let shard = l.shard.get();
    if shard.is_null() {
        return add_to_slot_slow(slot, by);
    }
    // SAFETY: a non-null `shard` is this thread's claimed, never-freed shard.
    match unsafe { &*shard }.slot(slot) {
        Some(c) => bump(c, by, Writer::Owner),
        None => add_to_slot_slow(slot, by),
    }
}

/// No shard yet, or the slot's page does not exist yet.
#[cold]
#[inline(never)]
fn add_to_slot_slow(slot: usize, by: u64) {
    with_shard(|shard, writer| {
        if let Some(c) = shard.slot_or_grow(slot) {
            bump(c, by, writer);
        }
    })
}

/// The sum of counter slot `slot` over every user shard (not the agent's).
pub(crate) fn read_slot(slot: usize) -> u64 {
    user_shards()
        .filter_map(|s| s.slot(slot))
        .fold(0u64, |acc, c| acc.wrapping_add(c.load(Relaxed)))
}

static NEXT_SLOT: AtomicU64 = AtomicU64::new(0);

/// Reserves `n` consecutive counter slots for the life of the process and returns the first,
/// or `None` once all [`SLOTS`] are taken (callers then count in a shared atomic instead).
pub(crate) fn claim_slots(n: usize) -> Option<usize> {
    let mut cur = NEXT_SLOT.load(Relaxed);
    loop {
        let end = cur.checked_add(n as u64)?;
        if end > SLOTS as u64 {
            return None;
        }
        match NEXT_SLOT.compare_exchange_weak(cur, end, Relaxed, Relaxed) {
            Ok(_) => return Some(cur as usize),
            Err(now) => cur = now,
        }
    }
}

/// Records a successful reallocation from `old` to `new` bytes: a free of the old block, an
/// allocation of the new one (each through its countdown, as any free and allocation) and one
/// reallocation, in place or moved.
#[inline]
pub(crate) fn on_realloc(old: usize, new: usize, in_place: bool) {
    on_free(old);
    on_alloc(new);
    let l = local();
    let shard = l.shard.get();
    if shard.is_null() {
        return slow_realloc(in_place);
    }
    // SAFETY: a non-null `shard` is this thread's claimed, never-freed shard.
    bump(
        unsafe { &*shard }.realloc_counter(in_place),
        1,
        Writer::Owner,
    );
}

#[cold]
#[inline(never)]
fn slow_realloc(in_place: bool) {
    with_shard(|shard, writer| bump(shard.realloc_counter(in_place), 1, writer))
}

/// Counts one reallocation that moved, whose free and allocation were counted already (a
/// heap-profile sample moved out of the arena).
#[cold]
pub(crate) fn on_realloc_counted() {
    with_shard(|shard, writer| bump(shard.realloc_counter(false), 1, writer))
}

/// Records an allocation or reallocation the inner allocator refused.
#[cold]
pub(crate) fn on_failure() {
    with_shard(|shard, writer| bump(&shard.failures, 1, writer))
}

/// Runs `f` on the shard this thread records into now, claiming one if needed.
#[inline]
fn with_shard(f: impl FnOnce(&Shard, Writer)) {
    let l = local();
    if l.shard.get().is_null() {
        ensure_claimed(l);
    }
    let shard = l.shard.get();
    if shard.is_null() {
        let (target, _) = fallback(l);
        f(target, Writer::Shared)
    } else {
        // SAFETY: a non-null `shard` is this thread's claimed, never-freed shard.
        f(unsafe { &*shard }, Writer::Owner)
    }
}

/// Where a thread without counters of its own records: the agent's account inside the agent
/// scope (and while claiming), else the shared user fallback. Both take atomic adds.
fn fallback(l: &Local) -> (&'static Shard, &'static Totals) {
    if l.state.get() == STATE_AGENT {
        (&AGENT, &AGENT_COUNTS)
    } else {
        (&UNOWNED, &UNOWNED_COUNTS)
    }
}

/// Records a request of `size` bytes of `kind` in a shared account (no countdown there:
/// its byte total moves with every request).
fn record_shared(l: &Local, kind: [usize; 2], size: usize) {
    let (shard, counts) = fallback(l);
    counts.record(kind, class_of(size), size, Writer::Shared);
    let total = if kind == ALLOC {
        &shard.allocated
    } else {
        &shard.freed
    };
    bump(total, size as u64, Writer::Shared);
}

/// The countdown ran out inside this allocation and [`refill_alloc`] declined (an event is
/// due, the request is large, or the thread has no counters yet): count it, bring the event
/// distances up to date, do what is due (a peak check, a sample, a fold) and re-arm. True
/// when more than the re-arming happened (only then may a heap-profile sample be pending).
#[cold]
#[inline(never)]
fn slow_alloc(l: &Local, size: usize) -> bool {
    if l.state.get() != STATE_ACTIVE {
        return slow_alloc_inactive(l, size);
    }
    // SAFETY: state ACTIVE: `shard` is this thread's claimed, never-freed shard.
    let shard = unsafe { &*l.shard.get() };
    l.counts.record(ALLOC, class_of(size), size);
    sync_events(l, shard);
    let mut eventful = false;
    if l.to_peak.get() < 0 {
        check_peak();
        l.to_peak.set(PEAK_STEP);
        eventful = true;
    }
    let to_sample = l.to_sample.get();
    if to_sample < 0 {
        // A sample point fell inside this allocation: it is sampled. The next distance starts
        // after it (memoryless).
        l.to_sample.set(l.sampler.sample(size, class_of(size)));
        eventful = true;
    } else {
        // Or a fresh distance on a stream of a seed configured since.
        l.to_sample.set(l.sampler.carry(to_sample));
    }
    if l.unfolded_alloc.get() > FOLD_AT {
        fold(l, shard, ALLOC);
        l.unfolded_alloc.set(0);
        eventful = true;
    }
    arm_events(l);
    eventful
}

/// Takes the bytes allocated since the last event path (this allocation included, which the
/// fast path took off the countdown before declining) off the event distances, and publishes
/// them in the shard's `allocated`. The countdown must be re-armed after ([`arm_events`]).
fn sync_events(l: &Local, shard: &Shard) {
    let since = (l.event_base.get() - l.to_event.get()) + (l.armed.get() - l.countdown.get());
    bump(&shard.allocated, since as u64, Writer::Owner);
    l.to_peak.set(l.to_peak.get() - since);
    l.to_sample.set(l.to_sample.get() - since);
    l.unfolded_alloc.set(l.unfolded_alloc.get() + since);
    l.event_base.set(l.to_event.get());
    l.armed.set(l.countdown.get());
}

/// Arms the event distance at the nearest event and the countdown at it or [`CAP`].
fn arm_events(l: &Local) {
    let to_event = l
        .to_peak
        .get()
        .min(l.to_sample.get())
        .min(FOLD_AT - l.unfolded_alloc.get())
        .max(0);
    l.to_event.set(to_event);
    l.event_base.set(to_event);
    arm(l, to_event);
}

/// A thread in any state but ACTIVE allocates: a new thread claims its counters first.
fn slow_alloc_inactive(l: &Local, size: usize) -> bool {
    // The fast path keeps subtracting from a negative countdown: keep it far from wrapping.
    l.countdown.set(-1);
    if l.state.get() == STATE_NEW {
        ensure_claimed(l);
        if l.state.get() == STATE_ACTIVE {
            // SAFETY: just claimed: this thread's never-freed shard.
            let shard = unsafe { &*l.shard.get() };
            l.counts.record(ALLOC, class_of(size), size);
            // Not in the countdown, which was armed after this allocation began.
            bump(&shard.allocated, size as u64, Writer::Owner);
            return true;
        }
    }
    record_shared(l, ALLOC, size);
    false
}

/// Moves this thread's 32-bit counts of `kind` into its shard's fold block (created at the
/// first fold), out of every reader's sight.
#[cold]
#[inline(never)]
fn fold(l: &Local, shard: &Shard, kind: [usize; 2]) {
    if shard.folded().is_none() {
        match zeroed::<Totals>() {
            Some(p) => shard.folded.store(p, Release),
            // No memory: counted on, the counters wrap (the next slow path tries again).
            None => return,
        }
    }
    if let Some(into) = shard.folded() {
        REACH.exclusive(|| l.counts.fold_small(kind, into, Writer::Owner));
    }
}

/// Switches the calling thread to the sampling stream of a seed configured at install, at
/// once rather than at its next slow path. Called by `Agent::install` outside the agent scope,
/// on the installing thread.
pub(crate) fn restart_sampling() {
    let l = local();
    if l.state.get() != STATE_ACTIVE {
        return;
    }
    if let Some(distance) = l.sampler.restart() {
        // SAFETY: state ACTIVE: `shard` is this thread's claimed, never-freed shard.
        sync_events(l, unsafe { &*l.shard.get() });
        l.to_sample.set(distance);
        arm_events(l);
    }
}

/// Sets the fast-path countdown to `to_event` (at least 0) or [`CAP`], whichever is nearer.
#[inline(always)]
fn arm(l: &Local, to_event: i64) {
    let c = to_event.min(CAP);
    l.armed.set(c);
    l.countdown.set(c);
}

/// The free countdown ran out inside this free (or the thread has no counters, or the block
/// is a heap-profile sample): count it and, if the countdown ran out, re-arm it.
#[cold]
#[inline(never)]
fn slow_free(l: &Local, size: usize) {
    if l.state.get() != STATE_ACTIVE {
        l.free_countdown.set(-1);
        ensure_claimed(l);
        if l.state.get() != STATE_ACTIVE {
            return record_shared(l, FREE, size);
        }
        // Just claimed, the countdown armed: count this free as the fast path would have.
        l.free_countdown.set(l.free_countdown.get() - size as i64);
    }
    l.counts.record(FREE, class_of(size), size);
    let left = l.free_countdown.get();
    if left >= 0 {
        // A heap-profile sample, the countdown not run out.
        return;
    }
    // SAFETY: state ACTIVE: `shard` is this thread's claimed, never-freed shard.
    let shard = unsafe { &*l.shard.get() };
    // `freed` was published as the exact total plus FREE_CAP when the countdown was armed: the
    // bytes freed since (this free included) move it to the exact total plus FREE_CAP again.
    let consumed = FREE_CAP - left;
    bump(&shard.freed, consumed as u64, Writer::Owner);
    l.free_countdown.set(FREE_CAP);
    let unfolded = l.unfolded_free.get() + consumed;
    if unfolded > FOLD_AT {
        fold(l, shard, FREE);
        l.unfolded_free.set(0);
    } else {
        l.unfolded_free.set(unfolded);
    }
}

/// A new thread claims a shard and publishes its counters. Allocations made while claiming
/// are the agent's and go to [`AGENT`], so nothing recurses.
#[cold]
#[inline(never)]
fn ensure_claimed(l: &Local) {
    if l.state.get() != STATE_NEW {
        return;
    }
    l.state.set(STATE_AGENT);
    let node = SHARDS.claim(new_node);
    match node {
        Some(node) => {
            l.owned.set(node);
            l.arena.set(super::hot_profile::arena_base());
            // Registers what gives the counters back at thread exit, and (once) what keeps
            // readers and exits whole across a fork.
            release_at_exit();
            reach_across_forks();
            let shard = &node.value;
            // SAFETY: `l.counts` lives in this thread's storage, valid until the thread is
            // gone; `give_back` retires it first (at exit, or when the thread becomes an
            // agent thread), and only this thread publishes and retires the slot.
            unsafe { shard.counts.publish(&l.counts) };
            // The free countdown's bound is published before it is armed.
            bump(&shard.freed, FREE_CAP as u64, Writer::Owner);
            l.unfolded_free.set(0);
            l.free_countdown.set(FREE_CAP);
            l.shard.set(shard);
            l.to_sample.set(l.sampler.start());
            l.to_peak.set(PEAK_STEP);
            arm_events(l);
            l.state.set(STATE_ACTIVE);
        }
        // No memory for a shard: record into the shared fallback for the rest of the thread.
        None => l.state.set(STATE_EXITED),
    }
}

/// Registers, once, the fork handlers of [`REACH`]: the lock is taken before `fork` and
/// given back after it, and the child retires the counters of every thread it does not have
/// (their storage is the C library's to give to the child's new threads; a reader must not
/// find it published, nor find the lock held by a thread that is gone).
fn reach_across_forks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    extern "C" fn prepare() {
        REACH.fork_prepare();
    }
    extern "C" fn parent() {
        REACH.fork_parent();
    }
    extern "C" fn child() {
        let mine = LOCAL.try_with(|l| l.owned.get()).unwrap_or(ptr::null());
        REACH.fork_child(|orphans| {
            for node in SHARDS.iter() {
                if !ptr::eq(node, mine) {
                    orphans.retire(&node.value.counts, |c| c.fold_all(&UNOWNED_COUNTS));
                }
            }
        });
    }
    // SAFETY: `child` stores to atomics and gives back the lock `prepare` took on this very
    // thread; it allocates nothing.
    ONCE.call_once(|| unsafe { crate::sys::at_fork(prepare, parent, child) });
}

fn new_node() -> *mut Node<Shard> {
    let layout = Layout::new::<Node<Shard>>();
    // SAFETY: the layout has a non-zero size. `System` is called directly, not through the
    // global allocator, so this cannot recurse into rtscope.
    let p = unsafe { System.alloc(layout) }.cast::<Node<Shard>>();
    if !p.is_null() {
        // SAFETY: `p` is fresh, aligned memory for one node; the node is never freed.
        unsafe { p.write(Node::new(Shard::new())) };
    }
    p
}

/// Sums live bytes over every user shard and raises the recorded peak to it.
#[cold]
pub(crate) fn check_peak() -> u64 {
    // Every allocation first, then every free (see `read_user_counts`): a block that moves
    // between threads during the walk is never counted live twice. Allocations as each owner
    // last published them, frees as each owner's free countdown bounds them (each at most
    // `CAP` off per thread, so the sum can only read low).
    let allocated = user_shards().fold(0u64, |acc, shard| {
        acc.wrapping_add(shard.allocated.load(Relaxed))
    });
    std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
    let freed = user_shards().fold(0u64, |acc, shard| {
        acc.wrapping_add(shard.freed.load(Relaxed))
    });
    let live = allocated.saturating_sub(freed);
    PEAK_LIVE.fetch_max(live, Relaxed);
    live
}

/// The shard the calling thread owns, claimed first if the thread has none yet (as its first
/// allocation would), or `None` if it records into no shard of its own: an agent thread, a
/// thread past its shard's release, or one that could get no memory for a shard. Kept while
/// [`agent_scope`] hides the shard from the fast path.
pub(crate) fn own_shard() -> Option<&'static Shard> {
    let l = local();
    ensure_claimed(l);
    // SAFETY: `owned` is null or a published node this thread claimed; nodes are never freed.
    unsafe { l.owned.get().as_ref() }.map(|node| &node.value)
}

/// Every shard holding user counts: the per-thread ones and the shared fallback.
pub(crate) fn user_shards() -> impl Iterator<Item = &'static Shard> {
    SHARDS
        .iter()
        .map(|node| &node.value)
        .chain(std::iter::once(&UNOWNED))
}

/// The user's class counts: every thread's counters (through [`REACH`]), every shard's folds
/// and the shared fallback with the exited threads' counts. Every allocation count of every
/// thread first, then every free count: a block allocated on one thread and freed on
/// another while this reads is then counted freed only if its allocation was counted too,
/// so live counts never read above what was live (at worst below it, by what was allocated
/// during the reading). Never allocates.
pub(crate) fn read_user_counts() -> ClassCounts {
    let mut out = [[0u64; NUM_CLASSES]; 4];
    REACH.read(|reading| {
        for kind in [ALLOC, FREE] {
            for shard in SHARDS.iter().map(|node| &node.value) {
                if let Some(counts) = reading.get(&shard.counts) {
                    counts.add_to(kind, &mut out);
                }
                if let Some(folded) = shard.folded() {
                    folded.add_to(kind, &mut out);
                }
            }
            UNOWNED_COUNTS.add_to(kind, &mut out);
            // Frees read after allocations, also on weakly ordered processors.
            std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
        }
    });
    out
}

/// The calling thread's own class counts (its counters and its shard's folds; zeros for a
/// thread with no shard of its own). Never allocates, takes no lock.
pub(crate) fn read_thread_counts() -> ClassCounts {
    let mut out = [[0u64; NUM_CLASSES]; 4];
    let l = local();
    if let Some(shard) = own_shard() {
        for kind in [ALLOC, FREE] {
            l.counts.add_to(kind, &mut out);
            if let Some(folded) = shard.folded() {
                folded.add_to(kind, &mut out);
            }
        }
    }
    out
}

/// The agent's class counts.
pub(crate) fn read_agent_counts() -> ClassCounts {
    let mut out = [[0u64; NUM_CLASSES]; 4];
    for kind in [ALLOC, FREE] {
        AGENT_COUNTS.add_to(kind, &mut out);
    }
    out
}

/// Bytes of the agent's per-thread storage: every shard (taken from `System` directly, never
/// freed, reused by later threads) with its slot pages and fold block, and the thread-local
/// state of each thread that holds one now. Self-telemetry (`rtscope.agent.memory.shards`).
pub(crate) fn shard_storage_bytes() -> u64 {
    SHARDS.iter().fold(0u64, |acc, node| {
        acc + (size_of::<Node<Shard>>() as u64) + node.value.extra_bytes()
    }) + REACH.read(|reading| {
        SHARDS
            .iter()
            .filter(|node| reading.get(&node.value.counts).is_some())
            .count() as u64
            * size_of::<Local>() as u64
    })
}

/// Runs `f` with this thread's allocations and frees counted as the agent's own, not the
/// user's. Nested calls are fine. Used around agent code whose blocks the agent also frees
/// (inside an agent scope or on the export thread): a block allocated inside and freed
/// outside, or the reverse, would move bytes between the two accounts (see the
/// [`crate::alloc`] docs, "Whose block it is").
pub(crate) fn agent_scope<R>(f: impl FnOnce() -> R) -> R {
    /// What the scope hides: the countdowns, the refills' gates, the shard, the state.
    type Saved = (i64, i64, i64, i64, *const Shard, u8);
    struct Restore(Option<Saved>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some((countdown, free_countdown, to_event, unfolded_free, shard, state)) = self.0
            {
                let _ = LOCAL.try_with(|l| {
                    // Do not resurrect a shard released by a destructor inside the scope.
                    if l.state.get() == STATE_AGENT {
                        l.countdown.set(countdown);
                        l.free_countdown.set(free_countdown);
                        l.to_event.set(to_event);
                        l.unfolded_free.set(unfolded_free);
                        l.shard.set(shard);
                        l.state.set(state);
                    }
                });
            }
        }
    }
    let saved = LOCAL.try_with(|l| {
        let state = l.state.get();
        if state == STATE_AGENT {
            return None;
        }
        let saved = (
            l.countdown.get(),
            l.free_countdown.get(),
            l.to_event.replace(NO_EVENTS),
            l.unfolded_free.replace(NO_REFILL),
            l.shard.get(),
            state,
        );
        l.countdown.set(-1);
        l.free_countdown.set(-1);
        l.shard.set(ptr::null());
        l.state.set(STATE_AGENT);
        Some(saved)
    });
    let _restore = Restore(saved.ok().flatten());
    f()
}

/// Marks the calling thread as an agent thread for the rest of its life: every allocation
/// it makes, and its run-queue wait, is self-telemetry. Called first thing on the export
/// thread.
#[cfg(feature = "_export")]
pub(crate) fn enter_agent_thread() {
    super::agent_threads::mark_agent_thread();
    let _ = LOCAL.try_with(|l| give_back(l, STATE_AGENT));
}

/// The thread gives its counters and shard back for good (it exits, or becomes an agent
/// thread) and moves to `state`, where it records into the shared fallback.
fn give_back(l: &Local, state: u8) {
    let was_active = l.state.get() == STATE_ACTIVE;
    let (countdown, free_countdown) = (l.countdown.get(), l.free_countdown.get());
    let node = l.owned.replace(ptr::null());
    let (to_event, event_base) = (l.to_event.replace(NO_EVENTS), l.event_base.get());
    l.unfolded_free.set(NO_REFILL);
    l.shard.set(ptr::null());
    l.countdown.set(-1);
    l.free_countdown.set(-1);
    l.state.set(state);
    if node.is_null() {
        return;
    }
    // SAFETY: `owned` is a published node (never freed) that this thread claimed.
    let node = unsafe { &*node };
    let shard = &node.value;
    if was_active {
        // The shard's totals made exact for the next owner: the bytes allocated since the
        // last event path, and the free countdown's unused bound taken back.
        let since = (event_base - to_event) + (l.armed.get() - countdown);
        bump(&shard.allocated, since as u64, Writer::Owner);
        bump(
            &shard.freed,
            (free_countdown.max(0) as u64).wrapping_neg(),
            Writer::Owner,
        );
    }
    // Every class count moves to the exited threads' total before the storage goes.
    REACH.retire(&shard.counts, |counts| counts.fold_all(&UNOWNED_COUNTS));
    node.release();
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_thread_state_is_small() {
        // A thread that only allocates holds its thread-local state (countdowns, 32-bit
        // class counters; the class table is shared) and a shard without slot pages.
        let node = size_of::<Node<Shard>>();
        let local = size_of::<Local>();
        assert!(node <= 512, "shard node {node} B");
        assert!(local <= 2560, "thread-local state {local} B"); // now about 2 KiB
    }

    #[test]
    fn a_thread_s_counts_survive_its_exit_exactly() {
        let before = read_user_counts();
        // The lib's tests run without rtscope as the global allocator: record as it would.
        std::thread::spawn(|| {
            for size in [1, 64, 4000, 32 * 1024, 40_000, 1 << 20] {
                on_alloc(size);
                on_free(size);
            }
        })
        .join()
        .unwrap();
        let after = read_user_counts();
        // Each request's class gained at least its allocation and its free (other tests
        // allocate beside this one), none went back.
        for size in [1usize, 64, 4000, 32 * 1024, 40_000, 1 << 20] {
            let c = class_of(size);
            for k in [ALLOCS, FREES] {
                assert!(after[k][c] > before[k][c], "class of {size}, kind {k}");
            }
        }
        for k in 0..4 {
            for c in 0..NUM_CLASSES {
                assert!(after[k][c] >= before[k][c], "kind {k} class {c} went back");
            }
        }
    }

    #[test]
    fn thirty_two_bit_counters_fold_before_they_wrap() {
        std::thread::spawn(|| {
            let l = local();
            drop(std::hint::black_box(vec![0u8; 100]));
            let shard = own_shard().expect("a shard of its own");
            let class = class_of(32 * 1024);
            let base = read_thread_counts();
            // 5 GiB in 32 KiB blocks: the bytes counter of the class would wrap once.
            let n: u64 = 5 * (1 << 30) / (32 * 1024);
            for _ in 0..n {
                let layout = Layout::from_size_align(32 * 1024, 8).unwrap();
                if !try_alloc_small(layout.size()) {
                    on_alloc_slow(layout.size());
                }
                if !try_free_small(ptr::null_mut(), layout.size()) {
                    on_free_slow(layout.size());
                }
            }
            let now = read_thread_counts();
            assert_eq!(now[ALLOCS][class] - base[ALLOCS][class], n);
            assert_eq!(
                now[ALLOC_BYTES][class] - base[ALLOC_BYTES][class],
                n * 32 * 1024
            );
            assert_eq!(
                now[FREE_BYTES][class] - base[FREE_BYTES][class],
                n * 32 * 1024
            );
            assert!(shard.folded().is_some(), "no fold in 5 GiB");
            assert!(l.unfolded_alloc.get() <= FOLD_AT);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn slot_pages_come_on_first_write() {
        let Some(base) = claim_slots(PAGE_SLOTS + 1) else {
            return; // every slot taken by other tests: nothing to check
        };
        std::thread::spawn(move || {
            drop(std::hint::black_box(vec![0u8; 100]));
            let shard = own_shard().expect("a shard of its own");
            let pages = |s: &Shard| {
                s.pages
                    .iter()
                    .filter(|p| !p.load(Relaxed).is_null())
                    .count()
            };
            let had = pages(shard);
            add_to_slot(base, 5);
            add_to_slot(base, 2);
            add_to_slot(base + PAGE_SLOTS, 1);
            // At most the two pages these slots live in were added, and only to this shard.
            assert!(pages(shard) <= had + 2);
            assert!(shard.slot(base).is_some() && shard.slot(base + PAGE_SLOTS).is_some());
            assert_eq!(read_slot(base), 7);
            assert_eq!(read_slot(base + PAGE_SLOTS), 1);
            assert_eq!(read_slot(base + 1), 0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_shared_shard_grows_a_page_once_under_concurrent_writers() {
        static SHARED: Shard = Shard::new();
        let slot = SLOTS - 1;
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        if let Some(c) = SHARED.slot_or_grow(slot) {
                            bump(c, 1, Writer::Shared);
                        }
                    }
                });
            }
        });
        assert_eq!(SHARED.slot(slot).map(|c| c.load(Relaxed)), Some(4000));
        assert!(SHARED.slot(SLOTS).is_none(), "out of range");
    }
}
