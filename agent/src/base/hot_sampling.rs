//! Poisson byte sampling of allocations, with unbiased weights, at a fixed mean.
//!
//! Each thread counts down the bytes it allocates to the next sample point, drawn from an
//! exponential distribution with mean `T` bytes (as Go's `MemProfileRate`, tcmalloc and
//! jemalloc do). The countdown shares the allocator's one fast-path countdown, so sampling
//! adds nothing to the common path: only the allocation that crosses a sample point takes the
//! slow path. An allocation of `s` bytes is therefore sampled with probability
//! `p = 1 - exp(-s / T)`, and its sample carries the weight `s / p` bytes, which makes the sum
//! of weights an unbiased estimate of the bytes allocated, per scope, per stack or in total.
//!
//! Two rates, kept apart:
//!
//! - **The samples** follow bytes: `T` is the configured interval (512 KiB by default), as in
//!   Go, whatever the allocation rate. Every sample feeds the per-scope estimates (added here,
//!   per scope id, [`take_scope_weights`]), the heap profile's stacks and in-use set and the
//!   span counters. Only a **CPU budget** raises `T`: the sample path (stack capture,
//!   interning, the record) is timed with two monotonic clock reads per sample, and the time
//!   is charged to a global bucket ([`over_cpu_budget`]: by default 1 % of one core sustained,
//!   with [`CPU_BURST_SECONDS`] of it at once). A sample that finds the bucket spent doubles
//!   `T` at once (see [`PerThread::sample`]); the export thread brings `T` back toward the
//!   configured interval once the cost allows ([`recover`], at most 8x a second). So a tight
//!   loop allocating 10 GB/s costs at most the budget, and a program that stays within it
//!   samples at exactly the configured interval from its first byte to its last.
//! - **The log records** (`rust.memory.allocation.sample`, one per sample exported) are a
//!   subsample bounded by the target rate: each sample is kept with probability `q` and its
//!   record weighs `weight / q`, so sums over records stay unbiased too. The export thread
//!   sets `q` each tick to what the last window's samples would have needed for the target
//!   ([`keep_for`]); between ticks a kept sample charged to a token bucket (1.5x the target
//!   per second sustained, half a second's worth at once) that finds it spent halves `q`, so
//!   the first second of a burst holds about twice the target at most, and one that finds it
//!   idle for 16 records' worth doubles `q` (the samples came to be fewer, as when the CPU
//!   budget raised the interval).
//!
//! A thread picks up a new `T` when it draws its next countdown, and each sample's weight
//! uses the `T` its countdown was drawn with (and each record the `q` its coin was tossed
//! with), so estimates stay unbiased while either moves.
//!
//! Each thread draws from its own random streams (one for the sample points, one for the
//! records' coins, so the subsample never moves the samples). The streams' seed comes from the
//! OS (`getrandom`) once per process, so two runs sample different allocations; a seed set
//! with `with_sampling_seed` replaces it at install for every thread: the installing thread
//! at once (stream 0), every other thread at its next slow path (within 256 KiB of
//! allocation), in the order they get there. A seeded, deterministic program therefore takes
//! the same samples in every run as long as `T` does not move (the CPU budget is not reached)
//! and its threads reach their first slow path in the same order.
//!
//! Samples travel to the export thread through a bounded lock-free queue; when it is full a
//! record is dropped and counted (`rtscope.events.dropped`), never waited for; its bytes are
//! in the estimates already.

use crate::sys::{monotonic_nanos, realtime_nanos as now_nanos};
use crossbeam_queue::ArrayQueue;
use once_cell::sync::OnceCell;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Current mean bytes between samples; 0 while sampling is off.
static MEAN: AtomicU64 = AtomicU64::new(0);
/// The configured mean, which only the CPU budget raises `MEAN` above.
static BASE: AtomicU64 = AtomicU64::new(0);
/// Seed of the per-thread random streams: the configured one, else drawn from the OS once
/// per process (0 while not drawn yet, or a configured 0 once [`GENERATION`] is not 0).
static SEED: AtomicU64 = AtomicU64::new(0);
/// Bumped each time a configured seed is applied; a thread whose stream is of an older
/// generation reseeds at its next slow path.
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// Next stream index; 0 is the installing thread's ([`PerThread::restart`]).
static STREAMS: AtomicU64 = AtomicU64::new(1);
/// Nanoseconds of wall time one nanosecond of the sample path uses of the CPU budget (100 =
/// 1 % of one core); 0 = no budget.
static CPU_SCALE: AtomicU64 = AtomicU64::new(0);
/// The CPU budget's theoretical arrival time (a GCRA over nanoseconds), monotonic ns.
static CPU_TAT: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds spent in the sample path, as charged to the budget (self-telemetry, and the
/// export side's measure of the cost when it lowers the mean again).
pub(crate) static CPU_NS: AtomicU64 = AtomicU64::new(0);
/// Times the CPU budget raised the mean.
pub(crate) static RAISED: AtomicU64 = AtomicU64::new(0);
/// The probability a sample is kept as a log record (`f64` bits).
static KEEP: AtomicU64 = AtomicU64::new(ONE);
const ONE: u64 = 0x3FF0_0000_0000_0000; // 1.0f64
/// Nanoseconds between two kept records at the log budget's sustained rate (0 = no bound).
static LOG_GAP_NS: AtomicU64 = AtomicU64::new(0);
/// The log budget's theoretical arrival time of the next record (a GCRA), monotonic ns.
static LOG_TAT: AtomicU64 = AtomicU64::new(0);
/// Records dropped because the queue was full.
pub(crate) static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Samples taken (every one, kept as a record or not).
pub(crate) static TAKEN: AtomicU64 = AtomicU64::new(0);
/// Estimated bytes of every sample, per scope id, since the last [`take_scope_weights`]. Ids
/// run from 0 (no scope) to `MAX_SCOPE_NAMES` (the shared `other` id).
static SCOPE_WEIGHT: [AtomicU64; super::attribution::MAX_SCOPE_NAMES + 1] =
    [const { AtomicU64::new(0) }; super::attribution::MAX_SCOPE_NAMES + 1];

/// Capacity of the sample queue: a minute of records at the default target and then some.
const QUEUE_CAPACITY: usize = 16 * 1024;
/// How far a thread counts down while sampling is off before it looks again: the peak-check
/// step, so turning sampling on misses at most this many bytes per thread (`base/mod.rs`
/// holds the two equal at compile time; this file names nothing of the shards).
pub(crate) const OFF_RECHECK: u64 = 256 * 1024;
/// The CPU budget passes this many seconds' worth of itself at once (at 1 % of one core:
/// 20 ms of sample path, about 10 000 samples with DWARF stacks), so a short program's
/// samples are not thinned.
pub(crate) const CPU_BURST_SECONDS: f64 = 2.0;
/// The most one sample is charged: a sample preempted halfway (or the unwinder's first walk
/// in a process) is not a cost the rate should answer.
const MAX_CHARGE_NS: u64 = 100_000;
/// The log budget's sustained rate, as a multiple of the target.
const LOG_RATE: f64 = 1.5;
/// How far the log budget may run ahead of the clock: `LOG_RATE x target x` this is the most
/// records it passes at once (half a second's worth of the target).
const LOG_TOLERANCE_NS: u64 = 333_333_333;
/// The smallest keep probability (one record in about a billion samples).
const MIN_KEEP: f64 = 1.0 / (1u64 << 30) as f64;

static QUEUE: OnceCell<ArrayQueue<Sample>> = OnceCell::new();

/// One sample kept as a log record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Sample {
    /// Requested bytes.
    pub(crate) size: u64,
    /// Size class index (`crate::alloc::CLASS_SIZES`).
    pub(crate) class: u16,
    /// Estimated bytes this record stands for: the sample's weight
    /// `size / (1 - exp(-size / mean))` over the probability it was kept with.
    pub(crate) weight: f64,
    pub(crate) time_unix_nano: u64,
    /// Kernel thread id.
    pub(crate) tid: u32,
    /// Scope or span current when it was allocated (`crate::scope`), 0 for none.
    pub(crate) scope: u32,
    /// Its call stack's entry in the heap profile's stack table (`base::hot_profile`), 0 for
    /// none (profiles off, or the table full).
    pub(crate) stack: u32,
    /// The OpenTelemetry trace and span in effect where it was allocated (feature
    /// `opentelemetry`: set where a scope or tracing span is entered).
    pub(crate) trace: Option<super::attribution::Trace>,
}

/// Starts sampling at the configured mean, with a CPU budget of `cpu_percent` % of one core
/// for the sample path and `target_per_sec` log records a second, and applies a configured
/// seed to every thread's stream (the fields of `config::Sampling`). Called once when the
/// agent installs, in the agent scope (it allocates the queue).
pub(crate) fn enable(
    enabled: bool,
    target_per_sec: f64,
    interval: u64,
    cpu_percent: f64,
    seed: Option<u64>,
) {
    if !enabled {
        MEAN.store(0, Relaxed);
        return;
    }
    if let Some(seed) = seed {
        SEED.store(seed, Relaxed);
        STREAMS.store(1, Relaxed);
        GENERATION.fetch_add(1, Relaxed);
    }
    let gap = if target_per_sec > 0.0 {
        1e9 / target_per_sec / LOG_RATE
    } else {
        0.0
    };
    LOG_GAP_NS.store(gap.clamp(0.0, u64::MAX as f64) as u64, Relaxed);
    // An interval under 4 KiB (down to 1: every allocation sampled) is a choice of
    // precision over cost that the budget leaves alone, as does a budget of a whole core.
    let scale = if cpu_percent > 0.0 && cpu_percent < 100.0 && interval >= MIN_BUDGETED {
        (100.0 / cpu_percent).round().max(1.0)
    } else {
        0.0
    };
    CPU_SCALE.store(scale as u64, Relaxed);
    QUEUE.get_or_init(|| ArrayQueue::new(QUEUE_CAPACITY));
    BASE.store(interval.max(1), Relaxed);
    MEAN.store(interval.max(1), Relaxed);
}

/// Stops sampling (agent shut down).
pub(crate) fn disable() {
    MEAN.store(0, Relaxed);
}

/// The mean in force now (0 = off).
pub(crate) fn mean() -> u64 {
    MEAN.load(Relaxed)
}

/// The configured mean (0 before sampling was enabled).
pub(crate) fn base() -> u64 {
    BASE.load(Relaxed)
}

/// The export side's move from `from` to `to` (back toward the configured mean); a no-op
/// when sampling is off or an allocating thread moved the mean since `from` was read (its
/// reaction to the budget is the newer).
pub(crate) fn set_mean(from: u64, to: u64) {
    if from != 0
        && from != to
        && MEAN
            .compare_exchange(from, to.max(1), Relaxed, Relaxed)
            .is_ok()
    {
        moved(monotonic_nanos());
    }
}

/// The CPU budget's share of one core (0 = no budget).
pub(crate) fn cpu_budget() -> f64 {
    match CPU_SCALE.load(Relaxed) {
        0 => 0.0,
        s => 1.0 / s as f64,
    }
}

/// Charges `cost` ns of sample path, ended at monotonic time `now`, to the CPU budget; true
/// if the budget is spent (the sample was taken all the same: its cost is charged).
fn over_cpu_budget(cost: u64, now: u64) -> bool {
    let cost = cost.min(MAX_CHARGE_NS);
    CPU_NS.fetch_add(cost, Relaxed);
    let scale = CPU_SCALE.load(Relaxed);
    if scale == 0 {
        return false;
    }
    let tolerance = (CPU_BURST_SECONDS * 1e9) as u64;
    let mut over = false;
    let _ = CPU_TAT.fetch_update(Relaxed, Relaxed, |tat| {
        let next;
        (next, over) = charge(tat, now, cost * scale, tolerance);
        Some(next)
    });
    over
}

/// One step of a GCRA over spent time: `spend` ns of budget used at `now` against the
/// theoretical arrival time `tat`, which may run at most `tolerance` ahead of the clock.
/// Returns the next `tat` (the spend counted, but never more than twice the tolerance ahead)
/// and whether it ran past the tolerance.
fn charge(tat: u64, now: u64, spend: u64, tolerance: u64) -> (u64, bool) {
    let next = tat.max(now).saturating_add(spend);
    (next.min(now + 2 * tolerance), next - now > tolerance)
}

/// Monotonic time and [`CPU_NS`] when the mean last moved (raised here, or lowered by the
/// export side): the cost rate since then is what a raise answers.
static MOVED_AT: AtomicU64 = AtomicU64::new(0);
static MOVED_CPU_NS: AtomicU64 = AtomicU64::new(0);

/// The sample path ran over the CPU budget at `now` on a distance drawn with `mean`: raises
/// the mean by the factor that brings the cost since the mean last moved to half the budget,
/// at least 2x and at most [`MAX_RAISE`]x, and forgives the budget's debt (the raise answers
/// it), raising the records' keep probability by the same factor. Samples drawn with an
/// older, smaller mean raise nothing (the first one did), so a burst on many threads raises
/// once per sample at the new mean, not once per thread.
fn raise(mean: u64, now: u64) {
    let since = now.saturating_sub(MOVED_AT.load(Relaxed)).max(1_000_000);
    let spent = CPU_NS
        .load(Relaxed)
        .saturating_sub(MOVED_CPU_NS.load(Relaxed));
    let rate = spent as f64 / since as f64;
    let factor = (rate / (0.5 * cpu_budget())).clamp(2.0, MAX_RAISE);
    let to = ((mean as f64 * factor) as u64).min(MAX_INTERVAL);
    if MEAN
        .fetch_update(Relaxed, Relaxed, |m| (m != 0 && m < to).then_some(to))
        .is_ok()
    {
        RAISED.fetch_add(1, Relaxed);
        moved(now);
        CPU_TAT.store(now, Relaxed);
        // Samples now come `to / mean` times more slowly: keep as many more of them as
        // records, or until the next tick a few records would stand for the whole burst.
        let q = keep();
        set_keep(q * to as f64 / mean as f64);
    }
}

/// Notes that the mean moved at `now`.
fn moved(now: u64) {
    MOVED_AT.store(now, Relaxed);
    MOVED_CPU_NS.store(CPU_NS.load(Relaxed), Relaxed);
}

/// The most one raise multiplies the mean by.
const MAX_RAISE: f64 = 64.0;

/// Where a record kept at monotonic time `now` finds the log budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Budget {
    /// Spent: records come faster than the budget passes them.
    Over,
    /// Within it.
    Within,
    /// Idle for more than [`IDLE_GAPS`] records' worth: records come far slower than it
    /// passes them (the keep probability is too small for the samples now).
    Idle,
}

/// Idle this many sustained-rate gaps before a record, the budget counts as unused: at the
/// target rate (1.5 gaps apart on average) that happens with probability `e^-10.7`, about
/// 2e-5, per record.
const IDLE_GAPS: u64 = 16;

/// Charges a record kept at monotonic time `now` to the log budget (the record is exported
/// whatever it finds: its coin was tossed).
fn log_budget(now: u64) -> Budget {
    let gap = LOG_GAP_NS.load(Relaxed);
    if gap == 0 {
        return Budget::Within;
    }
    let mut found = Budget::Within;
    let _ = LOG_TAT.fetch_update(Relaxed, Relaxed, |tat| {
        let next;
        (next, found) = gcra(tat, now, gap);
        (found != Budget::Over).then_some(next)
    });
    found
}

/// One step of the generic cell rate algorithm: a record at `now` against the theoretical
/// arrival time `tat`, one record per `gap` ns sustained. Returns the next `tat` and where
/// the record found the budget (over it, `tat` is left as it was: only records within it
/// spend it).
fn gcra(tat: u64, now: u64, gap: u64) -> (u64, Budget) {
    let at = tat.max(now);
    if at - now > LOG_TOLERANCE_NS {
        (tat, Budget::Over)
    } else if tat != 0 && tat < now && now - tat > IDLE_GAPS * gap {
        (at + gap, Budget::Idle)
    } else {
        (at + gap, Budget::Within)
    }
}

/// The keep probability in force.
pub(crate) fn keep() -> f64 {
    f64::from_bits(KEEP.load(Relaxed))
}

/// Sets the keep probability (export thread, each tick).
pub(crate) fn set_keep(q: f64) {
    KEEP.store(q.clamp(MIN_KEEP, 1.0).to_bits(), Relaxed);
}

/// Moves the keep probability from `from` to `to` (a record over the log budget, or finding
/// it idle), unless it moved since.
fn move_keep(from: f64, to: f64) {
    let to = to.clamp(MIN_KEEP, 1.0);
    let _ = KEEP.compare_exchange(from.to_bits(), to.to_bits(), Relaxed, Relaxed);
}

/// The seed of the per-thread streams (see [`SEED`]).
fn seed() -> u64 {
    let s = SEED.load(Relaxed);
    if s != 0 || GENERATION.load(Relaxed) != 0 {
        return s;
    }
    let fresh = entropy() | 1;
    match SEED.compare_exchange(0, fresh, Relaxed, Relaxed) {
        Ok(_) => fresh,
        Err(now) => now,
    }
}

/// 64 random bits from the OS, or from the clock, the process id and an address if it has
/// none to give. Allocates nothing (it runs inside the allocator, before `main`).
fn entropy() -> u64 {
    if let Some(bits) = crate::sys::random_u64() {
        return bits;
    }
    let local = 0u8;
    let here = &raw const local as u64;
    splitmix(now_nanos() ^ u64::from(std::process::id()).rotate_left(32) ^ here)
}

/// The random stream number `index` of the current seed.
fn stream(index: u64) -> u64 {
    splitmix(seed() ^ index.wrapping_mul(0xA076_1D64_78BD_642F)) | 1
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform in (0, 1] from `rng` (xorshift64*): never 0, so a log of it is finite.
fn uniform(rng: &Cell<u64>) -> f64 {
    let mut x = rng.get();
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng.set(x);
    let bits = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
    (bits + 1) as f64 / (1u64 << 53) as f64
}

/// A distance drawn from the exponential distribution of mean `mean` bytes, on `rng`.
fn exponential(rng: &Cell<u64>, mean: u64) -> i64 {
    let d = -uniform(rng).ln() * mean as f64;
    d.min(i64::MAX as f64 / 4.0) as i64
}

/// One thread's sampling state, kept in the allocator's thread-local state and used only from
/// its slow path, on its own thread.
///
/// Each distance is drawn with the mean in force at the draw, and the sample it ends in is
/// weighted with that mean, so a mean that moves between draws leaves every estimate
/// unbiased. Reseeding or redrawing a distance that has not run out changes nothing either:
/// the distance is memoryless.
#[derive(Debug)]
pub(crate) struct PerThread {
    /// The stream of sample points.
    rng: Cell<u64>,
    /// The stream of the records' coins (apart, so the subsample never moves the samples).
    coins: Cell<u64>,
    /// [`GENERATION`] the streams were seeded in.
    generation: Cell<u64>,
    /// Mean the current distance was drawn with (0 = sampling was off).
    mean: Cell<u64>,
}

impl PerThread {
    pub(crate) const fn new() -> Self {
        PerThread {
            rng: Cell::new(1),
            coins: Cell::new(1),
            generation: Cell::new(0),
            mean: Cell::new(0),
        }
    }

    /// The first distance of a new thread.
    pub(crate) fn start(&self) -> i64 {
        self.reseed(STREAMS.fetch_add(1, Relaxed));
        self.draw()
    }

    /// At install, on the installing thread: switches to stream 0 of a seed configured at
    /// install, and draws a distance with the mean just enabled where the current one was
    /// drawn while sampling was off (a re-check interval, not a sample point), so sampling
    /// starts at the first byte allocated after install. `None` when there is nothing to do.
    pub(crate) fn restart(&self) -> Option<i64> {
        let seeded = self.generation.get() != GENERATION.load(Relaxed);
        if seeded {
            self.reseed(0);
        } else if self.mean.get() != 0 || MEAN.load(Relaxed) == 0 {
            return None;
        }
        Some(self.draw())
    }

    /// The distance left, `left` bytes, after a slow path that took no sample (a peak check):
    /// `left`, or a fresh distance on a stream of the seed configured since.
    pub(crate) fn carry(&self, left: i64) -> i64 {
        if self.generation.get() == GENERATION.load(Relaxed) {
            return left;
        }
        self.reseed(STREAMS.fetch_add(1, Relaxed));
        self.draw()
    }

    /// The current distance ran out inside an allocation of `size` bytes in class `class`:
    /// records the sample with the weight of the mean the distance was drawn with, times the
    /// sample path against the CPU budget (raising the mean when it is spent, see [`raise`]),
    /// and returns the next distance, which starts after this allocation.
    pub(crate) fn sample(&self, size: usize, class: usize) -> i64 {
        let mean = self.mean.get();
        if mean != 0 {
            let start = monotonic_nanos();
            record(size, class, mean, &self.coins, start);
            let now = monotonic_nanos();
            if over_cpu_budget(now.saturating_sub(start), now) {
                raise(mean, now);
            }
        }
        if self.generation.get() != GENERATION.load(Relaxed) {
            self.reseed(STREAMS.fetch_add(1, Relaxed));
        }
        self.draw()
    }

    fn reseed(&self, index: u64) {
        self.generation.set(GENERATION.load(Relaxed));
        let s = stream(index);
        self.rng.set(s);
        self.coins.set(splitmix(s ^ 0x5DEE_CE66_D1CE_5EED) | 1);
    }

    /// Bytes to the next sample point, drawn with the current mean (sampling off: a
    /// re-check interval).
    fn draw(&self) -> i64 {
        let mean = MEAN.load(Relaxed);
        self.mean.set(mean);
        if mean == 0 {
            OFF_RECHECK as i64
        } else {
            exponential(&self.rng, mean)
        }
    }
}

/// The weight of a sampled allocation of `size` bytes under `mean`: `size / p`.
pub(crate) fn weight(size: u64, mean: u64) -> f64 {
    let p = -(-(size as f64) / mean as f64).exp_m1();
    if p > 0.0 {
        size as f64 / p
    } else {
        mean as f64
    }
}

/// Records a sample taken at monotonic time `now`: its weight to its scope, its span and its
/// stack (the heap profile), and, when its coin (from `coins`) keeps it, a log record on the
/// queue. Called from the allocator's slow path on the allocating thread: no allocation, no
/// lock.
fn record(size: usize, class: usize, mean: u64, coins: &Cell<u64>, now: u64) {
    let Some(queue) = QUEUE.get() else { return };
    TAKEN.fetch_add(1, Relaxed);
    let weight = weight(size as u64, mean);
    let bytes = weight.round() as u64;
    super::attribution::on_sample(bytes);
    let scope = super::attribution::current();
    SCOPE_WEIGHT[(scope as usize).min(SCOPE_WEIGHT.len() - 1)].fetch_add(bytes, Relaxed);
    let stack = super::hot_profile::on_sample(size as u64, weight);
    let q = keep();
    if q < 1.0 && uniform(coins) > q {
        return;
    }
    let sample = Sample {
        stack,
        trace: super::attribution::current_trace(),
        size: size as u64,
        class: class as u16,
        weight: weight / q,
        time_unix_nano: now_nanos(),
        tid: crate::sys::thread_id(),
        scope,
    };
    if queue.push(sample).is_err() {
        DROPPED.fetch_add(1, Relaxed);
    }
    match log_budget(now) {
        Budget::Over => move_keep(q, q / 2.0),
        Budget::Idle if q < 1.0 => move_keep(q, q * 2.0),
        _ => {}
    }
}

/// Takes the estimated bytes of every sample since the last call, per scope id (export
/// thread).
pub(crate) fn take_scope_weights(mut f: impl FnMut(u32, u64)) {
    for (id, w) in SCOPE_WEIGHT.iter().enumerate() {
        if w.load(Relaxed) != 0 {
            f(id as u32, w.swap(0, Relaxed));
        }
    }
}

/// Removes every queued record (export thread).
pub(crate) fn drain(out: &mut Vec<Sample>) {
    if let Some(q) = QUEUE.get() {
        while let Some(s) = q.pop() {
            out.push(s);
        }
    }
}

/// Records waiting in the queue.
pub(crate) fn queue_depth() -> usize {
    QUEUE.get().map_or(0, ArrayQueue::len)
}

/// The smallest configured interval the CPU budget raises: below it, the interval is fixed.
pub(crate) const MIN_BUDGETED: u64 = 4096;
/// The largest mean the CPU budget raises to.
pub(crate) const MAX_INTERVAL: u64 = 1 << 36;

/// The export side's step back toward the configured mean `base`, once per tick: the sample
/// path cost `cost` of one core over the last window at mean `mean`; the cost grows as the
/// mean shrinks, so the mean goes down to where the cost would be half of `budget` (at most
/// 8x per tick, never below `base`, never up: raising is the allocating threads' part).
pub(crate) fn recover(mean: u64, base: u64, cost: f64, budget: f64) -> u64 {
    if mean <= base || budget <= 0.0 {
        return mean;
    }
    let want = mean as f64 * cost / (0.5 * budget);
    (want.round() as u64).clamp(base.max(mean / 8), mean)
}

/// The keep probability that turns `achieved` samples a second into `target` records a
/// second (1 when there are no more samples than that).
pub(crate) fn keep_for(achieved: f64, target: f64) -> f64 {
    if target <= 0.0 || achieved <= target {
        1.0
    } else {
        (target / achieved).max(MIN_KEEP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_is_size_over_probability() {
        // A block 10x the mean is sampled with p = 1 - e^-10: weight barely above its size.
        let w = weight(10_000, 1000);
        assert!((w - 10_000.0 / (1.0 - (-10.0f64).exp())).abs() < 1e-6);
        // A tiny block: p ~ s/T, weight ~ T + s/2.
        let w = weight(8, 1 << 20);
        assert!((w - ((1 << 20) as f64 + 4.0)).abs() < 1.0, "{w}");
    }

    #[test]
    fn distances_are_exponential_with_the_mean() {
        let rng = Cell::new(12345);
        let n = 200_000;
        let draws: Vec<i64> = (0..n).map(|_| exponential(&rng, 1000)).collect();
        let avg = draws.iter().sum::<i64>() as f64 / n as f64;
        assert!((avg - 1000.0).abs() < 15.0, "mean {avg}");
        // P(X > mean) = 1/e for an exponential.
        let above = draws.iter().filter(|&&d| d > 1000).count() as f64 / n as f64;
        assert!((above - (-1.0f64).exp()).abs() < 0.01, "{above}");
    }

    /// The CPU budget at 1 % of one core: a sample path costing 6 % of a core runs within
    /// the burst for its first 0.4 s, then is over; one costing 0.5 % never is.
    #[test]
    fn the_cpu_budget_passes_its_burst_then_holds_the_rate() {
        let (scale, tolerance) = (100, (CPU_BURST_SECONDS * 1e9) as u64);
        let run = |cost_per_ms: u64, ms: u64| {
            let mut tat = 0;
            for t in 1..=ms {
                let over;
                (tat, over) = charge(tat, t * 1_000_000, cost_per_ms * scale, tolerance);
                if over {
                    return Some(t);
                }
            }
            None
        };
        // 60 us of sample path per ms: 20 ms of burst plus 1 %, spent after 400 ms.
        let first = run(60_000, 5000).expect("over budget");
        assert!((395..=405).contains(&first), "over at {first} ms");
        assert_eq!(run(5_000, 60_000), None, "0.5 % of a core is within 1 %");
    }

    /// After an overload the export side brings the mean back to the configured one: down
    /// to where the cost would be half the budget, at most 8x per tick, never below the base.
    #[test]
    fn recovery_steps_back_to_the_configured_mean() {
        let base = 512 * 1024;
        // Idle at a raised mean: 8x per tick down to the base.
        assert_eq!(recover(base * 64, base, 0.0, 0.01), base * 8);
        assert_eq!(recover(base * 8, base, 0.0, 0.01), base);
        assert_eq!(recover(base, base, 0.0, 0.01), base);
        // A cost of a quarter of the budget at 4x: the mean halves (cost to half the budget).
        assert_eq!(recover(base * 4, base, 0.0025, 0.01), base * 2);
        // At or over the budget: stays (raising is the allocating threads' part).
        assert_eq!(recover(base * 4, base, 0.01, 0.01), base * 4);
        assert_eq!(recover(base * 4, base, 0.5, 0.01), base * 4);
    }

    #[test]
    fn the_keep_probability_turns_the_sample_rate_into_the_target() {
        assert_eq!(keep_for(50.0, 100.0), 1.0);
        assert_eq!(keep_for(0.0, 100.0), 1.0);
        assert!((keep_for(20_000.0, 100.0) - 0.005).abs() < 1e-12);
        assert_eq!(keep_for(1e300, 100.0), MIN_KEEP);
    }

    /// Records kept at 100x the target, evenly: within any second the log budget passes at
    /// most `LOG_RATE` seconds' worth plus its tolerance, about twice the target.
    #[test]
    fn the_log_budget_passes_at_most_twice_the_target_in_any_second() {
        let target = 100.0;
        let gap = (1e9 / target / LOG_RATE) as u64;
        let (mut tat, mut passed) = (0, Vec::new());
        for i in 0..30_000u64 {
            let now = 1_000_000_000 + i * 100_000; // 10 000 per second, for 3 s
            let found;
            (tat, found) = gcra(tat, now, gap);
            if found != Budget::Over {
                passed.push(now);
            }
        }
        let most = (0..passed.len())
            .map(|i| {
                passed[i..]
                    .iter()
                    .take_while(|&&t| t - passed[i] < 1_000_000_000)
                    .count()
            })
            .max()
            .unwrap();
        assert!(most as f64 <= 2.0 * target + 1.0, "{most} in one second");
        assert!(
            passed.len() as f64 >= 3.0 * LOG_RATE * target,
            "{}",
            passed.len()
        );
    }

    /// A record after 16 sustained-rate gaps without one finds the budget idle; one at the
    /// sustained rate does not.
    #[test]
    fn the_log_budget_tells_idle_from_used() {
        let gap = 1_000_000;
        let (tat, found) = gcra(0, 5_000_000_000, gap);
        assert_eq!(found, Budget::Within, "the first record");
        let (tat, found) = gcra(tat, 5_000_000_000 + gap, gap);
        assert_eq!(found, Budget::Within);
        let (_, found) = gcra(tat, 5_000_000_000 + 20 * gap, gap);
        assert_eq!(found, Budget::Idle);
    }

    /// The records' coins: a sample kept with probability q weighs w/q, so the kept weights
    /// sum to the samples' weights. 10^6 samples of weight 1 at q = 1/100: the sum is
    /// 10^6 +- 10^4 (one sd, binomial); 6 sd is a failure once in 10^9 runs.
    #[test]
    fn kept_records_weigh_the_samples_they_stand_for() {
        let coins = Cell::new(0xDEAD_BEEF);
        let q = 0.01;
        let n = 1_000_000;
        let kept = (0..n).filter(|_| uniform(&coins) <= q).count() as f64;
        let sum = kept / q;
        let sd = (n as f64 * (1.0 - q) / q).sqrt();
        assert!((sum - n as f64).abs() < 6.0 * sd, "{sum} for {n}");
    }
}
