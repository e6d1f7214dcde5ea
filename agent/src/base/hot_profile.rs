//! The hot side of heap profiles: a call stack for every sampled allocation, the table of
//! distinct stacks with their estimates, and the in-use set.
//!
//! - **Stacks.** A sample's stack is captured on the allocating thread, in the sample path
//!   (out of line, about 100 times a second): by walking frame pointers when the build keeps
//!   them (`rtscope_frame_pointers`, from `-C force-frame-pointers=yes`), bounded by the
//!   thread's own stack, else with the DWARF unwinder (`backtrace::trace_unsynchronized`,
//!   which allocates nothing). It is interned in a fixed table of [`MAX_STACKS`] entries
//!   (lock-free, open addressing; a stack past the table counts in entry 0). Each entry
//!   holds the estimates Go's heap profile has: objects and bytes allocated, objects and
//!   bytes in use.
//! - **The in-use set.** A sampled block must leave the in-use estimate when it is freed, on
//!   whatever thread, by `realloc` too, after its thread exited. Small sampled blocks (up to
//!   32 KiB) are served from an agent-owned address range, the arena: a free is checked with
//!   one range compare against the arena's base in the thread's own state (a subtraction
//!   and a compare, no global read), and a sampled one goes out of line. The arena has
//!   [`ARENA_SLOTS`] slots per power-of-two size from 16 B to 32 KiB; a slot remembers its
//!   sample (stack and estimates). Larger sampled blocks keep their inner allocator's memory
//!   and are remembered in a table keyed by address, looked up only by frees over 32 KiB,
//!   which are out of line already, and only while it holds any.
//! - Nothing here allocates through the global allocator: the tables are reserved with
//!   `mmap` once ([`crate::sys::reserve`]), zeroed, touched as they fill, never given back.
//!   Where the arena or the address table is full, a sample still counts as allocated but not
//!   in use ([`UNTRACKED`]).

// Without the `profiles` feature only the checks the allocator calls remain (always false).
#![cfg_attr(not(feature = "profiles"), allow(dead_code))]

use super::sync::{AtomicBool, AtomicU64, Ordering::*};
use std::alloc::Layout;
use std::cell::Cell;
use std::sync::Once;
use std::sync::atomic::{AtomicU32, AtomicUsize};

/// Frames kept per stack (deeper stacks keep their innermost frames).
pub(crate) const MAX_FRAMES: usize = 64;
/// Distinct stacks kept; entry 0 counts what does not fit.
pub(crate) const MAX_STACKS: usize = 8192;
/// Slots probed before a stack or an address counts as not fitting.
const PROBES: usize = 64;
/// Fixed-point scale of object estimates (an estimate of 1.5 objects is 98304).
pub(crate) const OBJECT_SCALE: f64 = 65536.0;

/// Arena slots per size (16 B, 32 B, ... 32 KiB): the most sampled small blocks of one size
/// that can be live at once.
pub(crate) const ARENA_SLOTS: usize = 1 << 15;
const SIZES: usize = 12;
const LARGEST: usize = 16 << (SIZES - 1);
/// Bytes of the arena's address range (about 2 GiB, reserved, touched as slots are used).
pub(crate) const ARENA_LEN: usize = ARENA_SLOTS * 16 * ((1 << SIZES) - 1);
/// The arena's base until it is reserved: an address no user block has, so [`in_arena`]
/// reads false without a second test.
pub(crate) const NOWHERE: usize = usize::MAX - ARENA_LEN;
/// Entries of the address table of sampled blocks over 32 KiB.
const LARGE: usize = 1 << 14;

static ON: AtomicBool = AtomicBool::new(false);
static ARENA: AtomicUsize = AtomicUsize::new(NOWHERE);
static STACKS: AtomicUsize = AtomicUsize::new(0);
static META: AtomicUsize = AtomicUsize::new(0);
static LARGE_TABLE: AtomicUsize = AtomicUsize::new(0);
/// Sampled blocks over 32 KiB in the address table now.
static LARGE_LIVE: AtomicUsize = AtomicUsize::new(0);
/// Per arena size: the free list's head (a tag in the high half against ABA, slot + 1 in the
/// low half, 0 = empty), and the slots never used yet start at `FRESH`.
static FREE: [AtomicU64; SIZES] = [const { AtomicU64::new(0) }; SIZES];
static FRESH: [AtomicU32; SIZES] = [const { AtomicU32::new(0) }; SIZES];
/// Samples whose block could not be tracked in use (arena or table full, alignment over
/// 32 KiB): counted allocated, never in use.
pub(crate) static UNTRACKED: AtomicU64 = AtomicU64::new(0);

/// Size ranges of the in-use accounting, by requested size: `k < SIZES` holds the sizes in
/// `(8 << k, 16 << k]` (0: up to 16 B), `SIZES` the sizes over 32 KiB. Every power of two is
/// a size-class bound, so a range is a whole number of size classes.
pub(crate) const RANGES: usize = SIZES + 1;

/// Estimates per size range ([`RANGES`]): objects ([`OBJECT_SCALE`]) and bytes.
#[derive(Debug)]
pub(crate) struct RangeEstimates {
    pub(crate) objects: [AtomicU64; RANGES],
    pub(crate) bytes: [AtomicU64; RANGES],
}

impl RangeEstimates {
    const fn new() -> Self {
        RangeEstimates {
            objects: [const { AtomicU64::new(0) }; RANGES],
            bytes: [const { AtomicU64::new(0) }; RANGES],
        }
    }

    fn add(&self, range: usize, objects: u64, bytes: u64) {
        self.objects[range].fetch_add(objects, Relaxed);
        self.bytes[range].fetch_add(bytes, Relaxed);
    }

    fn sub(&self, range: usize, objects: u64, bytes: u64) {
        self.objects[range].fetch_sub(objects, Relaxed);
        self.bytes[range].fetch_sub(bytes, Relaxed);
    }
}

/// The tracked samples' in-use estimates per size range (wrapping sums).
pub(crate) static TRACKED_INUSE: RangeEstimates = RangeEstimates::new();
/// The allocated estimates of the samples that could not be tracked, per size range: the
/// most the blocks past the tables can hold.
pub(crate) static UNTRACKED_ALLOC: RangeEstimates = RangeEstimates::new();

/// The size range of a request of `size` bytes (see [`RANGES`]).
pub(crate) fn range_of(size: u64) -> usize {
    if size > LARGEST as u64 {
        SIZES
    } else {
        size.max(16).next_power_of_two().trailing_zeros() as usize - 4
    }
}

/// One distinct stack and its estimates (all zero until first written).
#[derive(Debug)]
#[repr(C)]
pub(crate) struct Stack {
    /// 0 empty, 1 being written, else the stack's hash (written last, with release).
    state: AtomicU64,
    depth: AtomicU32,
    frames: [AtomicUsize; MAX_FRAMES],
    /// Estimated objects ([`OBJECT_SCALE`] fixed point) and bytes allocated from here.
    pub(crate) alloc_objects: AtomicU64,
    pub(crate) alloc_bytes: AtomicU64,
    /// Estimated objects and bytes allocated from here and not freed (wrapping sums).
    pub(crate) inuse_objects: AtomicU64,
    pub(crate) inuse_bytes: AtomicU64,
}

/// What a live tracked sample remembers, so its free takes back exactly what it added.
#[derive(Debug)]
#[repr(C)]
struct Meta {
    /// Next free slot + 1 (free list), in the arena's slot records.
    next: AtomicU32,
    /// The stack's entry, and the size range in the top byte.
    stack: AtomicU32,
    objects: AtomicU64,
    bytes: AtomicU64,
}

/// An address-table entry: `key` 0 empty, 1 deleted, 2 being written, else the block.
#[derive(Debug)]
#[repr(C)]
struct LargeEntry {
    key: AtomicUsize,
    meta: Meta,
}

/// A sample just taken on this thread, waiting for its block's address (see [`take`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Sampled {
    stack: u32,
    /// Its size range ([`range_of`]).
    range: u8,
    objects: u64,
    bytes: u64,
}

thread_local! {
    static PENDING: Cell<Option<Sampled>> = const { Cell::new(None) };
    /// This thread's stack bounds for the frame-pointer walk, read when it claims its shard
    /// ([`arena_base`]): (0, 0) not read, (1, 1) unknown.
    static BOUNDS: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
}

/// Turns heap profiles on or off (at install, in the agent's account). Reserves the tables
/// the first time; `false` if they cannot be had, and profiles stay off.
pub(crate) fn enable(on: bool) -> bool {
    if on && STACKS.load(Acquire) == 0 && !reserve_tables() {
        ON.store(false, Relaxed);
        return false;
    }
    ON.store(on, Relaxed);
    on
}

/// Whether heap profiles are on.
pub(crate) fn enabled() -> bool {
    ON.load(Relaxed)
}

/// Reserves the stack and large-block tables the first time (every other caller waits for
/// that answer, as for the arena); whether they exist.
fn reserve_tables() -> bool {
    use crate::sys::reserve;
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let page = 4096;
        if let (Some(stacks), Some(large)) = (
            reserve(MAX_STACKS * size_of::<Stack>(), page),
            reserve(LARGE * size_of::<LargeEntry>(), page),
        ) {
            LARGE_TABLE.store(large as usize, Release);
            STACKS.store(stacks as usize, Release);
        }
    });
    STACKS.load(Acquire) != 0
}

/// The arena's base, reserved (with its slot records) the first time a thread claims its
/// shard, so every thread on the allocation fast path holds it in its own state and the free
/// check reads no global; [`NOWHERE`] where it cannot be had (small samples are then not
/// tracked in use). About 2 GiB of address space and 9 MiB of records, reserved without
/// swap and touched only as sampled blocks use them.
///
/// With frame pointers it also reads the calling thread's stack bounds for the walk
/// (`BOUNDS`), which allocates (glibc reads `/proc/self/maps` for the main thread): it is
/// called only where a thread claims its shard, whose allocations are the agent's, so the
/// read needs no agent scope of its own (and this file names nothing of the shards').
pub(crate) fn arena_base() -> usize {
    #[cfg(feature = "profiles")]
    {
        #[cfg(all(
            rtscope_frame_pointers,
            any(target_arch = "x86_64", target_arch = "aarch64")
        ))]
        let _ = BOUNDS.try_with(|b| b.set(crate::sys::stack_bounds().unwrap_or((1, 1))));
        let base = ARENA.load(Acquire);
        if base != NOWHERE {
            return base;
        }
        reserve_arena()
    }
    #[cfg(not(feature = "profiles"))]
    NOWHERE
}

#[cold]
fn reserve_arena() -> usize {
    // One thread reserves. Every other waits for its answer (one `mmap` away): a thread
    // must never record a base other than the one every arena block comes from. `Once`
    // allocates nothing, waiting or not (a futex, or waiters on their own stacks).
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let records = crate::sys::reserve(SIZES * ARENA_SLOTS * size_of::<Meta>(), 4096);
        let arena = records.and_then(|_| crate::sys::reserve(ARENA_LEN, LARGEST));
        if let (Some(records), Some(arena)) = (records, arena) {
            META.store(records as usize, Release);
            ARENA.store(arena as usize, Release);
        }
    });
    ARENA.load(Acquire)
}

/// The stack table, once reserved.
pub(crate) fn stacks() -> Option<&'static [Stack]> {
    let p = STACKS.load(Acquire);
    // SAFETY: a non-zero `STACKS` is a reserved, zeroed, never-freed mapping of MAX_STACKS
    // `Stack`s (all-zero atomics are valid), published after the reservation.
    (p != 0).then(|| unsafe { std::slice::from_raw_parts(p as *const Stack, MAX_STACKS) })
}

impl Stack {
    /// The frames (return addresses, innermost first), if the entry is written.
    pub(crate) fn frames(&self, out: &mut Vec<usize>) -> bool {
        let state = self.state.load(Acquire);
        if state < 2 {
            return false;
        }
        let depth = (self.depth.load(Relaxed) as usize).min(MAX_FRAMES);
        out.clear();
        out.extend(self.frames[..depth].iter().map(|f| f.load(Relaxed)));
        true
    }

    fn matches(&self, frames: &[usize]) -> bool {
        self.depth.load(Relaxed) as usize == frames.len()
            && self
                .frames
                .iter()
                .zip(frames)
                .all(|(a, &b)| a.load(Relaxed) == b)
    }
}

/// The entry of `frames` in the stack table, added if new; 0 when the table is full or
/// not reserved.
fn intern(frames: &[usize]) -> u32 {
    let Some(table) = stacks() else { return 0 };
    let hash = frames
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, &f| {
            (h ^ f as u64).wrapping_mul(0x0000_0100_0000_01b3)
        })
        .max(2);
    let first = (hash >> 17) as usize;
    for i in 0..PROBES {
        let index = 1 + (first.wrapping_add(i)) % (MAX_STACKS - 1);
        let e = &table[index];
        let state = e.state.load(Acquire);
        if state == hash && e.matches(frames) {
            return index as u32;
        }
        if state == 0 && e.state.compare_exchange(0, 1, Acquire, Relaxed).is_ok() {
            for (slot, &f) in e.frames.iter().zip(frames) {
                slot.store(f, Relaxed);
            }
            e.depth.store(frames.len() as u32, Relaxed);
            e.state.store(hash, Release);
            return index as u32;
        }
    }
    0
}

/// Takes this thread's call stack into `out` (innermost first) and returns its depth. Called
/// in the sample path: no allocation through the global allocator (but the first call on a
/// thread walking frame pointers reads the thread's stack bounds in the agent's account).
#[inline(never)]
fn capture(out: &mut [usize; MAX_FRAMES]) -> usize {
    #[cfg(all(
        rtscope_frame_pointers,
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    if let Some(n) = walk_frame_pointers(out) {
        return n;
    }
    unwind(out)
}

#[cfg(feature = "profiles")]
fn unwind(out: &mut [usize; MAX_FRAMES]) -> usize {
    let mut n = 0;
    // SAFETY: `trace_unsynchronized` is unsafe only because it is not synchronized with
    // other users of the unwinder in this process; libgcc's unwinder, which it calls, takes
    // its own locks. The closure only writes into `out`.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            let ip = frame.ip() as usize;
            if ip == 0 {
                return false;
            }
            out[n] = ip;
            n += 1;
            n < MAX_FRAMES
        });
    }
    n
}

#[cfg(not(feature = "profiles"))]
fn unwind(_out: &mut [usize; MAX_FRAMES]) -> usize {
    0
}

/// Walks the frame-pointer chain from here, reading only inside this thread's stack;
/// `None` if the stack's bounds are unknown.
#[cfg(all(
    rtscope_frame_pointers,
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
#[inline(always)]
fn walk_frame_pointers(out: &mut [usize; MAX_FRAMES]) -> Option<usize> {
    // Read at the thread's shard claim ([`arena_base`]); a thread samples only once it has
    // its shard, so (0, 0), never read, does not occur here, and would read as unknown.
    let (mut lo, hi) = BOUNDS.try_with(Cell::get).ok()?;
    if hi <= 1 {
        return None;
    }
    let mut fp: usize;
    // SAFETY: reads the frame-pointer register; no memory is touched.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        std::arch::asm!("mov {}, rbp", out(reg) fp, options(nomem, nostack, preserves_flags));
        #[cfg(target_arch = "aarch64")]
        std::arch::asm!("mov {}, x29", out(reg) fp, options(nomem, nostack, preserves_flags));
    }
    let here = 0u8;
    lo = lo.max(&raw const here as usize);
    let mut n = 0;
    while n < MAX_FRAMES && fp >= lo && fp % align_of::<usize>() == 0 && fp + 16 <= hi {
        // SAFETY: `fp .. fp + 16` lies inside this thread's stack, which is mapped and
        // readable; garbage in a frame without a frame pointer is only read, never followed
        // outside these bounds.
        let (next, ret) = unsafe { (*(fp as *const usize), *((fp + 8) as *const usize)) };
        if ret == 0 {
            break;
        }
        out[n] = ret;
        n += 1;
        if next <= fp {
            break;
        }
        fp = next;
    }
    Some(n)
}

/// Records a sample of `size` bytes weighted `weight` bytes: captures its stack, adds it to
/// the stack's allocated estimates, and leaves it pending for the block's address. Returns
/// the stack's entry (0 when profiles are off or the table is full).
pub(crate) fn on_sample(size: u64, weight: f64) -> u32 {
    if !enabled() {
        return 0;
    }
    let mut frames = [0usize; MAX_FRAMES];
    let n = capture(&mut frames);
    let stack = intern(&frames[..n]);
    let objects = (weight / size.max(1) as f64 * OBJECT_SCALE).round() as u64;
    let bytes = weight.round() as u64;
    if let Some(e) = stacks().map(|t| &t[stack as usize]) {
        e.alloc_objects.fetch_add(objects, Relaxed);
        e.alloc_bytes.fetch_add(bytes, Relaxed);
    }
    let _ = PENDING.try_with(|p| {
        p.set(Some(Sampled {
            stack,
            range: range_of(size) as u8,
            objects,
            bytes,
        }))
    });
    stack
}

/// The sample the allocation just counted on this thread took, if it took one: the caller
/// tracks the block with [`arena_alloc`], [`track_large`] or [`untracked`].
#[inline(always)]
pub(crate) fn take() -> Option<Sampled> {
    #[cfg(feature = "profiles")]
    {
        PENDING.try_with(Cell::take).ok().flatten()
    }
    #[cfg(not(feature = "profiles"))]
    None
}

/// A sample whose block cannot be tracked: it stays in its stack's allocated estimates, and
/// its range's untracked estimates say what the blocks past the tables may hold.
pub(crate) fn untracked(s: Sampled) {
    UNTRACKED.fetch_add(1, Relaxed);
    UNTRACKED_ALLOC.add(usize::from(s.range), s.objects, s.bytes);
}

fn add_inuse(s: &Sampled) {
    if let Some(e) = stacks().map(|t| &t[s.stack as usize]) {
        e.inuse_objects.fetch_add(s.objects, Relaxed);
        e.inuse_bytes.fetch_add(s.bytes, Relaxed);
    }
    TRACKED_INUSE.add(usize::from(s.range), s.objects, s.bytes);
}

fn sub_inuse(m: &Meta) {
    let packed = m.stack.load(Relaxed);
    let (stack, range) = ((packed & 0xff_ffff) as usize, (packed >> 24) as usize);
    let (objects, bytes) = (m.objects.load(Relaxed), m.bytes.load(Relaxed));
    if let Some(e) = stacks().and_then(|t| t.get(stack)) {
        e.inuse_objects.fetch_sub(objects, Relaxed);
        e.inuse_bytes.fetch_sub(bytes, Relaxed);
    }
    TRACKED_INUSE.sub(range.min(RANGES - 1), objects, bytes);
}

impl Meta {
    fn set(&self, s: &Sampled) {
        self.stack
            .store(s.stack | u32::from(s.range) << 24, Relaxed);
        self.objects.store(s.objects, Relaxed);
        self.bytes.store(s.bytes, Relaxed);
    }
}

/// Whether `ptr` lies in the arena of sampled small blocks (the slow paths' check, through
/// the global; the free fast path checks the copy in its thread's state).
#[inline(always)]
pub(crate) fn in_arena(ptr: *mut u8) -> bool {
    #[cfg(feature = "profiles")]
    {
        (ptr as usize).wrapping_sub(ARENA.load(Relaxed)) < ARENA_LEN
    }
    #[cfg(not(feature = "profiles"))]
    {
        let _ = ptr;
        false
    }
}

/// The arena size index for `layout`, if it fits one.
fn size_index(layout: Layout) -> Option<usize> {
    let need = layout.size().max(layout.align()).max(16);
    (need <= LARGEST).then(|| need.next_power_of_two().trailing_zeros() as usize - 4)
}

/// First byte of size `k`'s slots, relative to the arena.
fn region(k: usize) -> usize {
    ARENA_SLOTS * 16 * ((1 << k) - 1)
}

fn meta(k: usize, slot: usize) -> &'static Meta {
    let base = META.load(Acquire) as *const Meta;
    // SAFETY: called only once the arena exists, so META is its reserved, zeroed,
    // never-freed record table of SIZES x ARENA_SLOTS entries, and `slot < ARENA_SLOTS`.
    unsafe { &*base.add(k * ARENA_SLOTS + slot) }
}

/// Serves the sampled block `s` of `layout` from the arena (zeroed if asked), or `None` when
/// the arena has no room for it (the caller then uses the inner allocator).
pub(crate) fn arena_alloc(layout: Layout, zeroed: bool, s: Sampled) -> Option<*mut u8> {
    let base = ARENA.load(Acquire);
    if base == NOWHERE {
        return None;
    }
    let k = size_index(layout)?;
    let slot = pop(k).or_else(|| {
        let fresh = FRESH[k].fetch_add(1, Relaxed) as usize;
        (fresh < ARENA_SLOTS).then_some(fresh)
    })?;
    meta(k, slot).set(&s);
    add_inuse(&s);
    let p = (base + region(k) + (slot << (4 + k))) as *mut u8;
    if zeroed {
        // SAFETY: the slot is `16 << k >= layout.size()` bytes of the arena's mapping, owned
        // by no one until returned.
        unsafe { p.write_bytes(0, layout.size()) };
    }
    Some(p)
}

/// Frees an arena block (its free is already counted): takes its sample out of the in-use
/// estimates and returns the slot.
pub(crate) fn arena_free(ptr: *mut u8) {
    let off = (ptr as usize).wrapping_sub(ARENA.load(Relaxed));
    let k = (usize::BITS - 1 - (off / (ARENA_SLOTS * 16) + 1).leading_zeros()) as usize;
    let slot = (off - region(k)) >> (4 + k);
    let m = meta(k, slot);
    sub_inuse(m);
    push(k, slot);
}

fn pop(k: usize) -> Option<usize> {
    let head = &FREE[k];
    let mut h = head.load(Acquire);
    loop {
        let top = (h & 0xffff_ffff) as usize;
        if top == 0 {
            return None;
        }
        let next = u64::from(meta(k, top - 1).next.load(Relaxed));
        let tag = (h >> 32).wrapping_add(1);
        match head.compare_exchange_weak(h, tag << 32 | next, Acquire, Acquire) {
            Ok(_) => return Some(top - 1),
            Err(now) => h = now,
        }
    }
}

fn push(k: usize, slot: usize) {
    let head = &FREE[k];
    let mut h = head.load(Relaxed);
    loop {
        meta(k, slot).next.store((h & 0xffff_ffff) as u32, Relaxed);
        let tag = (h >> 32).wrapping_add(1);
        match head.compare_exchange_weak(h, tag << 32 | (slot as u64 + 1), Release, Relaxed) {
            Ok(_) => return,
            Err(now) => h = now,
        }
    }
}

fn large_table() -> Option<&'static [LargeEntry]> {
    let p = LARGE_TABLE.load(Acquire);
    // SAFETY: a non-zero LARGE_TABLE is a reserved, zeroed, never-freed mapping of LARGE
    // entries (all-zero atomics are valid).
    (p != 0).then(|| unsafe { std::slice::from_raw_parts(p as *const LargeEntry, LARGE) })
}

fn home(ptr: usize) -> usize {
    ((ptr as u64 >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize
}

/// Remembers the sampled block `ptr` kept in the inner allocator (over 32 KiB).
pub(crate) fn track_large(ptr: *mut u8, s: Sampled) {
    let Some(table) = large_table() else {
        return untracked(s);
    };
    let key = ptr as usize;
    let first = home(key);
    for i in 0..PROBES {
        let e = &table[(first + i) % LARGE];
        let k = e.key.load(Relaxed);
        if (k == 0 || k == 1) && e.key.compare_exchange(k, 2, Acquire, Relaxed).is_ok() {
            e.meta.set(&s);
            add_inuse(&s);
            LARGE_LIVE.fetch_add(1, Relaxed);
            e.key.store(key, Release);
            return;
        }
    }
    untracked(s)
}

/// A free (or `realloc`) of a block over 32 KiB: if it is a tracked sample, takes it out of
/// the in-use estimates and forgets it. One load while no large sample is live.
#[inline]
pub(crate) fn forget_large(ptr: *mut u8) {
    #[cfg(feature = "profiles")]
    if LARGE_LIVE.load(Relaxed) != 0 {
        forget_large_slow(ptr as usize);
    }
    #[cfg(not(feature = "profiles"))]
    let _ = ptr;
}

#[cold]
fn forget_large_slow(key: usize) {
    let Some(table) = large_table() else { return };
    let first = home(key);
    for i in 0..PROBES {
        let e = &table[(first + i) % LARGE];
        let k = e.key.load(Acquire);
        if k == 0 {
            return;
        }
        if k == key {
            sub_inuse(&e.meta);
            e.key.store(1, Release);
            LARGE_LIVE.fetch_sub(1, Relaxed);
            return;
        }
    }
}

#[cfg(all(test, feature = "profiles"))]
mod tests {
    use super::*;

    /// What a thread's shard claim calls reads its stack bounds, and the walk then follows
    /// its frame pointers inside them (not the unwinder's fallback for unknown bounds).
    #[test]
    #[cfg(all(
        rtscope_frame_pointers,
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    fn the_claim_reads_the_stack_bounds_the_walk_follows() {
        std::thread::spawn(|| {
            let _ = arena_base();
            let (lo, hi) = BOUNDS.with(Cell::get);
            assert!(lo > 1 && hi > lo, "bounds {lo:#x}..{hi:#x}");
            let mut out = [0usize; MAX_FRAMES];
            let n = walk_frame_pointers(&mut out).expect("known bounds: a walk");
            assert!(n >= 2, "{n} frames");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn arena_sizes_and_slots_round_trip() {
        assert_eq!(size_index(Layout::from_size_align(1, 1).unwrap()), Some(0));
        assert_eq!(size_index(Layout::from_size_align(17, 8).unwrap()), Some(1));
        assert_eq!(size_index(Layout::from_size_align(8, 64).unwrap()), Some(2));
        assert_eq!(
            size_index(Layout::from_size_align(32768, 8).unwrap()),
            Some(11)
        );
        assert_eq!(size_index(Layout::from_size_align(32769, 8).unwrap()), None);
        // The slot of every size sits where `arena_free` finds it again.
        for k in 0..SIZES {
            for slot in [0, 1, ARENA_SLOTS - 1] {
                let off = region(k) + (slot << (4 + k));
                let found =
                    (usize::BITS - 1 - (off / (ARENA_SLOTS * 16) + 1).leading_zeros()) as usize;
                assert_eq!(found, k, "size {k} slot {slot}");
                assert_eq!((off - region(k)) >> (4 + k), slot);
                assert_eq!(off % (16 << k), 0, "slots are aligned to their size");
            }
        }
        assert!(region(SIZES) == ARENA_LEN);
    }

    /// A size range is a whole number of size classes: every size falls in the range of its
    /// class's bound, so the exact per-class counters give each range's live heap.
    #[test]
    fn size_ranges_are_unions_of_size_classes() {
        use crate::base::classes::{CLASS_SIZES, class_of};
        for size in (1..=70_000u64).chain([1 << 20, (1 << 20) + 1, 5 << 30]) {
            let class = CLASS_SIZES[class_of(size as usize)];
            assert_eq!(
                range_of(size),
                range_of(class),
                "size {size}, class {class}"
            );
        }
        assert_eq!(range_of(16), 0);
        assert_eq!(range_of(17), 1);
        assert_eq!(range_of(32768), SIZES - 1);
        assert_eq!(range_of(32769), SIZES);
    }

    #[test]
    fn nowhere_is_in_no_arena() {
        for p in [1usize, 4096, 0x5555_5555_0000, 0x7fff_ffff_f000] {
            assert!(p.wrapping_sub(NOWHERE) >= ARENA_LEN);
        }
    }
}
