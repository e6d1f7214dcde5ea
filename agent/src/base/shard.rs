//! The hot path: per-thread shards of counters and the thread-local state that finds them.
//!
//! Every counter in a claimed shard has exactly one writer, the thread that claimed it, which
//! updates it with a relaxed `load` + `store` (no read-modify-write, no lock, no shared line
//! written). Any thread may read it. Work that is not a plain count (claiming a shard,
//! checking the peak, allocations made by the agent itself or after the thread's shard was
//! given back) is out of line in `slow_*` functions.

use super::classes::{NUM_CLASSES, SIZE_TO_CLASS, SmallTable, class_of, small_class_in};
use super::registry::{List, Node};
use super::sync::{
    AtomicPtr, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ptr;

/// Generic counter slots per shard, handed out by [`claim_slots`] to pools, timers and
/// schedulers, so every measurement shares this one per-thread mechanism.
pub(crate) const SLOTS: usize = 2048;
/// Slots per page. A shard gets a page the first time its thread records into one of the
/// page's slots, so a thread that only allocates holds none (1 KiB each).
const PAGE_SLOTS: usize = 128;
const PAGES: usize = SLOTS / PAGE_SLOTS;

/// One counter per size class.
pub(crate) type ByClass = [AtomicU64; NUM_CLASSES];
/// One page of counter slots.
type SlotPage = [AtomicU64; PAGE_SLOTS];

/// All counters of one writer. Each kind of class counter is an array indexed by class
/// (struct of arrays), so the fast path addresses a counter as `base + class * 8` straight
/// from the class-table byte, and the peak check sums two contiguous arrays.
#[derive(Debug)]
#[repr(C, align(128))]
pub(crate) struct Shard {
    pub(crate) allocs: ByClass,
    pub(crate) alloc_bytes: ByClass,
    pub(crate) frees: ByClass,
    pub(crate) free_bytes: ByClass,
    pub(crate) reallocs_in_place: AtomicU64,
    pub(crate) reallocs_moved: AtomicU64,
    pub(crate) failures: AtomicU64,
    /// Requested bytes allocated into this shard, the sum of `alloc_bytes`, as of its owner's
    /// last slow path: the owner's countdown holds the bytes since (always less than
    /// [`PEAK_STEP`]), so the peak check reads one counter here instead of every class.
    /// Written by the owner at each slow path and when it gives the shard back (exactly:
    /// the next owner starts from it); on shared shards, with every allocation.
    allocated: AtomicU64,
    /// Pages of counter slots, null until first written: zeroed memory from `System`,
    /// published with a release store and never freed (the shard outlives its threads).
    pages: [AtomicPtr<SlotPage>; PAGES],
}

impl Shard {
    pub(crate) const fn new() -> Self {
        Shard {
            allocs: [const { AtomicU64::new(0) }; NUM_CLASSES],
            alloc_bytes: [const { AtomicU64::new(0) }; NUM_CLASSES],
            frees: [const { AtomicU64::new(0) }; NUM_CLASSES],
            free_bytes: [const { AtomicU64::new(0) }; NUM_CLASSES],
            reallocs_in_place: AtomicU64::new(0),
            reallocs_moved: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            allocated: AtomicU64::new(0),
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
        let layout = Layout::new::<SlotPage>();
        // SAFETY: the layout has a non-zero size. `System` is called directly, not through
        // the global allocator, so this cannot recurse into rtscope. Zeroed memory is a valid
        // array of `AtomicU64` zeros.
        let fresh = unsafe { System.alloc_zeroed(layout) }.cast::<SlotPage>();
        if fresh.is_null() {
            return None;
        }
        // Shared shards have several writers: the first page published wins.
        if let Err(_winner) = cell.compare_exchange(ptr::null_mut(), fresh, Release, Acquire) {
            // SAFETY: `fresh` was allocated above with `layout` and never published.
            unsafe { System.dealloc(fresh.cast(), layout) };
        }
        self.slot(slot)
    }
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

/// The sum of `counters` over every class.
fn total(counters: &ByClass) -> u64 {
    counters
        .iter()
        .fold(0u64, |acc, c| acc.wrapping_add(c.load(Relaxed)))
}

/// Counter `class` of `counters`, where `class` comes from `small_class_in`/`class_of`.
#[inline(always)]
fn at(counters: &ByClass, class: usize) -> &AtomicU64 {
    debug_assert!(class < NUM_CLASSES);
    // SAFETY: every class index comes from the lookup table, whose entries are checked against
    // NUM_CLASSES at compile time (classes.rs), or from `large_class`, which returns at most
    // OVERFLOW_CLASS = NUM_CLASSES - 1.
    unsafe { counters.get_unchecked(class) }
}

impl Shard {
    /// Counts an allocation. An owner's allocations reach `allocated` through its countdown
    /// (see [`Shard::publish`]); shared shards have no countdown and add to it here.
    #[inline(always)]
    fn record_alloc(&self, class: usize, size: usize, writer: Writer) {
        bump(at(&self.allocs, class), 1, writer);
        bump(at(&self.alloc_bytes, class), size as u64, writer);
        if let Writer::Shared = writer {
            bump(&self.allocated, size as u64, writer);
        }
    }

    /// The owner adds the bytes its countdown consumed since it was last armed to
    /// `allocated`, before re-arming it.
    #[inline(always)]
    fn publish(&self, consumed: i64) {
        bump(&self.allocated, consumed as u64, Writer::Owner);
    }

    /// The owner sets `allocated` to the exact sum of its class counters when it gives the
    /// shard back (whatever its countdown held then), so a shard's total never drifts from
    /// one owner to the next.
    fn resync(&self) {
        self.allocated.store(total(&self.alloc_bytes), Relaxed);
    }

    #[inline(always)]
    fn record_free(&self, class: usize, size: usize, writer: Writer) {
        bump(at(&self.frees, class), 1, writer);
        bump(at(&self.free_bytes, class), size as u64, writer);
    }

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
/// User allocations made on a thread that has no shard: after its shard was released (other
/// thread-local destructors), or when no memory could be had for one. Shared, atomic adds.
pub(crate) static UNOWNED: Shard = Shard::new();
/// The agent's own allocations (export thread, agent code under [`agent_scope`], shard claims),
/// kept out of the user's numbers and reported as self-telemetry. Shared, atomic adds.
pub(crate) static AGENT: Shard = Shard::new();
/// Highest live byte count seen by any check (see [`PEAK_STEP`]).
pub(crate) static PEAK_LIVE: AtomicU64 = AtomicU64::new(0);

/// Bytes a thread may allocate between two peak checks. The recorded peak is at most
/// `threads * PEAK_STEP` below the true peak.
pub(crate) const PEAK_STEP: i64 = 256 * 1024;

const STATE_NEW: u8 = 0;
const STATE_ACTIVE: u8 = 1;
const STATE_AGENT: u8 = 2;
const STATE_EXITED: u8 = 3;

/// Per-thread state. `const`-initialized and without `Drop`, so an access is one
/// thread-pointer-relative address and works at any point of a thread's life.
///
/// Invariant: `countdown >= 0` only while `shard` is non-null (state ACTIVE); every other
/// state keeps `countdown` negative and `shard` null so the fast paths fall to `slow_*`.
struct Local {
    /// Bytes this thread may still allocate before the next out-of-line check.
    countdown: Cell<i64>,
    /// The shard the fast path writes to; null outside state ACTIVE.
    shard: Cell<*const Shard>,
    /// The node this thread owns (kept while the agent scope hides `shard`).
    owned: Cell<*const Node<Shard>>,
    state: Cell<u8>,
    /// The value `countdown` was armed with: `armed - countdown` bytes were allocated since.
    armed: Cell<i64>,
    /// Bytes to the next peak check, as of the last arming.
    to_peak: Cell<i64>,
    /// Bytes to the next sample point, as of the last arming (`crate::sampling`).
    to_sample: Cell<i64>,
    /// This thread's random stream and the mean its current sample distance was drawn with.
    sampler: super::hot_sampling::PerThread,
    /// This thread's copy of the class table, addressed off the thread pointer the fast path
    /// already holds instead of through a global's address.
    classes: SmallTable,
    /// The heap profile's arena base (`super::hot_profile`), set at claim: a free in
    /// `[arena, arena + ARENA_LEN)` is a sampled block and takes the slow path.
    arena: Cell<usize>,
}

thread_local! {
    static LOCAL: Local = const {
        Local {
            countdown: Cell::new(-1),
            shard: Cell::new(ptr::null()),
            owned: Cell::new(ptr::null()),
            state: Cell::new(STATE_NEW),
            armed: Cell::new(0),
            to_peak: Cell::new(0),
            to_sample: Cell::new(0),
            sampler: super::hot_sampling::PerThread::new(),
            classes: SIZE_TO_CLASS,
            arena: Cell::new(super::hot_profile::NOWHERE),
        }
    };
    /// Its destructor gives the shard back when the thread exits. Touched once, at claim.
    static RELEASE: ReleaseOnExit = const { ReleaseOnExit };
}

struct ReleaseOnExit;

impl Drop for ReleaseOnExit {
    fn drop(&mut self) {
        let _ = LOCAL.try_with(|l| give_back(l, STATE_EXITED));
    }
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

/// The fast path of an allocation of `size <= SMALL_MAX` bytes: one subtraction, one branch,
/// two counter writes, and no call, so the caller can end in a jump to the inner allocator
/// without saving a register. Returns false, having recorded nothing, when the slow path
/// ([`on_alloc_slow`]) must run instead.
#[inline(always)]
pub(crate) fn try_alloc_small(size: usize) -> bool {
    try_alloc(size, |l, size| small_class_in(&l.classes, size))
}

/// The allocation fast path, with the class lookup of the caller's size range (run only
/// once the countdown allows the fast path).
#[inline(always)]
fn try_alloc(size: usize, class: impl Fn(&Local, usize) -> usize) -> bool {
    let l = local();
    // Stored before the test, so the two compile to one `sub` on memory and a branch on its
    // sign; the slow path knows `size` is already taken off.
    let left = l.countdown.get().wrapping_sub(size as i64);
    l.countdown.set(left);
    if left < 0 {
        return false;
    }
    // SAFETY: `countdown >= 0` implies state ACTIVE, where `shard` points to the claimed,
    // never-freed shard this thread alone writes.
    let shard = unsafe { &*l.shard.get() };
    shard.record_alloc(class(l, size), size, Writer::Owner);
    true
}

/// The fast path of a free of the block `ptr` of `size <= SMALL_MAX` bytes: false, having
/// recorded nothing, when the thread has no usable shard or the block is a heap-profile
/// sample, and the slow path must run instead.
#[inline(always)]
pub(crate) fn try_free_small(ptr: *mut u8, size: usize) -> bool {
    try_free(ptr, size, |l, size| small_class_in(&l.classes, size))
}

/// The free fast path, with the class lookup of the caller's size range.
#[inline(always)]
fn try_free(ptr: *mut u8, size: usize, class: impl Fn(&Local, usize) -> usize) -> bool {
    let l = local();
    let shard = l.shard.get();
    // Without heap profiles no block is ever in the arena: the check compiles away.
    if shard.is_null()
        || (cfg!(feature = "profiles")
            && (ptr as usize).wrapping_sub(l.arena.get()) < super::hot_profile::ARENA_LEN)
    {
        return false;
    }
    // SAFETY: a non-null `shard` is this thread's claimed, never-freed shard.
    unsafe { &*shard }.record_free(class(l, size), size, Writer::Owner);
    true
}

/// Records an allocation the fast path declined (having taken its size off the countdown).
#[inline(always)]
pub(crate) fn on_alloc_slow(size: usize) {
    slow_alloc(local(), size)
}

/// Records a free the fast path declined.
#[inline(always)]
pub(crate) fn on_free_slow(size: usize) {
    slow_free(local(), size)
}

/// Records an allocation of any size (out of the small fast path).
#[inline]
pub(crate) fn on_alloc(size: usize) {
    if !try_alloc(size, |_, size| class_of(size)) {
        on_alloc_slow(size);
    }
}

/// Records a free of a block of `size` bytes (not a heap-profile sample's: those go through
/// the allocator's slow path, which counts them here as freed).
#[inline(always)]
pub(crate) fn on_free(size: usize) {
    if !try_free(ptr::null_mut(), size, |_, size| class_of(size)) {
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
/// allocation of the new one and one reallocation, in place or moved. One thread-local access
/// on the fast path, which the countdown gates exactly as for an allocation.
#[inline]
pub(crate) fn on_realloc(old: usize, new: usize, in_place: bool) {
    let l = local();
    let left = l.countdown.get() - new as i64;
    if left < 0 {
        return slow_realloc(old, new, in_place);
    }
    l.countdown.set(left);
    // SAFETY: `countdown >= 0` implies state ACTIVE, where `shard` points to the claimed,
    // never-freed shard this thread alone writes.
    let shard = unsafe { &*l.shard.get() };
    shard.record_free(class_of(old), old, Writer::Owner);
    shard.record_alloc(class_of(new), new, Writer::Owner);
    bump(shard.realloc_counter(in_place), 1, Writer::Owner);
}

#[cold]
#[inline(never)]
fn slow_realloc(old: usize, new: usize, in_place: bool) {
    on_free(old);
    on_alloc(new);
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
        let (target, writer) = fallback(l);
        f(target, writer)
    } else {
        // SAFETY: a non-null `shard` is this thread's claimed, never-freed shard.
        f(unsafe { &*shard }, Writer::Owner)
    }
}

/// Where a thread without a usable shard records: the agent's own shard inside the agent
/// scope (and while claiming), else the shared user fallback.
fn fallback(l: &Local) -> (&'static Shard, Writer) {
    if l.state.get() == STATE_AGENT {
        (&AGENT, Writer::Shared)
    } else {
        (&UNOWNED, Writer::Shared)
    }
}

/// The countdown ran out inside this allocation (or the thread has no shard yet): count it,
/// then do whatever is due, a peak check and/or a sample, and re-arm the countdown to the
/// nearer of the two.
#[cold]
#[inline(never)]
fn slow_alloc(l: &Local, size: usize) {
    let class = class_of(size);
    let shard = l.shard.get();
    if shard.is_null() {
        // The fast path keeps subtracting from a negative countdown: keep it far from wrapping.
        l.countdown.set(-1);
        if l.state.get() == STATE_NEW {
            ensure_claimed(l);
            let shard = l.shard.get();
            if !shard.is_null() {
                // SAFETY: just claimed: this thread's never-freed shard.
                let shard = unsafe { &*shard };
                shard.record_alloc(class, size, Writer::Owner);
                // Not in the countdown, which was armed after this allocation began.
                return shard.publish(size as i64);
            }
        }
        let (target, writer) = fallback(l);
        return target.record_alloc(class, size, writer);
    }
    // SAFETY: a non-null `shard` is this thread's claimed, never-freed shard.
    let shard = unsafe { &*shard };
    shard.record_alloc(class, size, Writer::Owner);
    // Bytes allocated since the countdown was armed, this allocation included (the fast path
    // took it off the countdown before declining).
    let consumed = l.armed.get() - l.countdown.get();
    shard.publish(consumed);
    let to_peak = l.to_peak.get() - consumed;
    if to_peak < 0 {
        check_peak();
        l.to_peak.set(PEAK_STEP);
    } else {
        l.to_peak.set(to_peak);
    }
    let to_sample = l.to_sample.get() - consumed;
    l.to_sample.set(if to_sample < 0 {
        // A sample point fell inside this allocation: it is sampled. The next distance starts
        // after it (memoryless).
        l.sampler.sample(size, class)
    } else {
        l.sampler.carry(to_sample)
    });
    arm(l);
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
        // Bytes allocated since the countdown was armed, not yet taken off `to_peak`.
        let consumed = l.armed.get() - l.countdown.get();
        // SAFETY: state ACTIVE: `shard` is this thread's claimed, never-freed shard.
        unsafe { &*l.shard.get() }.publish(consumed);
        l.to_peak.set(l.to_peak.get() - consumed);
        l.to_sample.set(distance);
        arm(l);
    }
}

/// Sets the fast-path countdown to the nearer of the next peak check and sample point.
fn arm(l: &Local) {
    let c = l.to_peak.get().min(l.to_sample.get()).max(0);
    l.armed.set(c);
    l.countdown.set(c);
}

#[cold]
#[inline(never)]
fn slow_free(l: &Local, size: usize) {
    ensure_claimed(l);
    let shard = l.shard.get();
    if shard.is_null() {
        let (target, writer) = fallback(l);
        return target.record_free(class_of(size), size, writer);
    }
    // SAFETY: a non-null `shard` is this thread's claimed, never-freed shard.
    unsafe { &*shard }.record_free(class_of(size), size, Writer::Owner);
}

/// A new thread claims a shard. Allocations made while claiming (the thread-local destructor
/// registration may allocate) are the agent's and go to [`AGENT`], so nothing recurses.
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
            // Registers the destructor that releases the shard at thread exit.
            RELEASE.with(|_| {});
            l.shard.set(&node.value);
            l.to_sample.set(l.sampler.start());
            l.to_peak.set(PEAK_STEP);
            arm(l);
            l.state.set(STATE_ACTIVE);
        }
        // No memory for a shard: record into the shared fallback for the rest of the thread.
        None => l.state.set(STATE_EXITED),
    }
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
    // Every allocation first, then every free (see `read_allocs_then_frees`): a block that
    // moves between threads during the walk is never counted live twice. Allocations as each
    // owner last published them (at most `PEAK_STEP` behind per thread, so the sum can only
    // read low), frees exactly.
    let allocated = user_shards().fold(0u64, |acc, shard| {
        acc.wrapping_add(shard.allocated.load(Relaxed))
    });
    std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
    let freed = user_shards().fold(0u64, |acc, shard| {
        acc.wrapping_add(total(&shard.free_bytes))
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

/// Every shard holding user allocations: the per-thread ones and the shared fallback.
pub(crate) fn user_shards() -> impl Iterator<Item = &'static Shard> {
    SHARDS
        .iter()
        .map(|node| &node.value)
        .chain(std::iter::once(&UNOWNED))
}

/// Runs `f` with this thread's allocations and frees counted as the agent's own, not the
/// user's. Nested calls are fine. Used around agent code whose blocks the agent also frees
/// (inside an agent scope or on the export thread): a block allocated inside and freed
/// outside, or the reverse, would move bytes between the two accounts (see the
/// [`crate::alloc`] docs, "Whose block it is").
pub(crate) fn agent_scope<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(Option<(i64, *const Shard, u8)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some((countdown, shard, state)) = self.0 {
                let _ = LOCAL.try_with(|l| {
                    // Do not resurrect a shard released by a destructor inside the scope.
                    if l.state.get() == STATE_AGENT {
                        l.countdown.set(countdown);
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
        let saved = (l.countdown.get(), l.shard.get(), state);
        l.countdown.set(-1);
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

/// The thread gives its shard back for good (it exits, or becomes an agent thread) and moves
/// to `state`, where it records into the shared fallback shards.
fn give_back(l: &Local, state: u8) {
    let node = l.owned.replace(ptr::null());
    l.shard.set(ptr::null());
    l.countdown.set(-1);
    l.state.set(state);
    if !node.is_null() {
        // SAFETY: `owned` is a published node (never freed) that this thread claimed.
        let node = unsafe { &*node };
        node.value.resync();
        node.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_without_slot_pages_is_small() {
        // The counters of a thread that only allocates: the class counters, no slot pages
        // (with all 2048 slots inline it was 19 KiB).
        assert!(
            std::mem::size_of::<Node<Shard>>() <= 3584, // now 3328
            "{} B",
            std::mem::size_of::<Node<Shard>>()
        );
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
