//! Poisson byte sampling of allocations, with an adaptive rate and unbiased weights.
//!
//! Each thread counts down the bytes it allocates to the next sample point, drawn from an
//! exponential distribution with mean `T` bytes (as Go's `MemProfileRate`, tcmalloc and
//! jemalloc do). The countdown shares the allocator's one fast-path countdown, so sampling
//! adds nothing to the common path: only the allocation that crosses a sample point takes the
//! slow path. An allocation of `s` bytes is therefore sampled with probability
//! `p = 1 - exp(-s / T)`, and its sample carries the weight `s / p` bytes, which makes the sum
//! of weights an unbiased estimate of the bytes allocated, per scope or in total.
//!
//! Two mechanisms move `T` so the sample rate stays near the target:
//!
//! - The controller ([`adjust`]) runs on the export thread once per collection tick and sets
//!   `T` from the rate achieved in the last window.
//! - The budget holds between ticks, when load starts after idle (idle ticks lower `T` toward
//!   its floor): every sample is charged to a global token bucket (a GCRA: 1.5x the target
//!   per second sustained, half a second's worth of the target at once), and the thread whose
//!   sample finds it spent raises `T` at once (see [`PerThread::sample`]). So no window of one
//!   second holds much more than twice the target, the first second of a burst included. The
//!   bucket is one compare-exchange per sample, never per allocation.
//!
//! A thread picks up the new `T` when it draws its next countdown, and each sample's weight
//! uses the `T` its countdown was drawn with, so estimates stay unbiased while the rate moves.
//!
//! Each thread draws from its own random stream. The streams' seed comes from the OS
//! (`getrandom`) once per process, so two runs sample different allocations; a seed set with
//! `with_sampling_seed` replaces it at install for every thread: the installing thread at once
//! (stream 0, so a run is reproducible on it), every other thread at its next slow path (within
//! 256 KiB of allocation), in the order they get there.
//!
//! Samples travel to the export thread through a bounded lock-free queue; when it is full a
//! sample is dropped and counted (`rtscope.events.dropped`), never waited for.

use crate::sys::{monotonic_nanos, realtime_nanos as now_nanos};
use crossbeam_queue::ArrayQueue;
use once_cell::sync::OnceCell;
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Current mean bytes between samples; 0 while sampling is off.
static MEAN: AtomicU64 = AtomicU64::new(0);
/// Seed of the per-thread random streams: the configured one, else drawn from the OS once
/// per process (0 while not drawn yet, or a configured 0 once [`GENERATION`] is not 0).
static SEED: AtomicU64 = AtomicU64::new(0);
/// Bumped each time a configured seed is applied; a thread whose stream is of an older
/// generation reseeds at its next slow path.
static GENERATION: AtomicU64 = AtomicU64::new(0);
/// Next stream index; 0 is the installing thread's ([`PerThread::restart`]).
static STREAMS: AtomicU64 = AtomicU64::new(1);
/// Nanoseconds between two samples at the target rate (0 = no budget).
static TARGET_NS: AtomicU64 = AtomicU64::new(0);
/// The budget's theoretical arrival time of the next sample (a GCRA), monotonic ns.
static BUDGET_TAT: AtomicU64 = AtomicU64::new(0);
/// Samples dropped because the queue was full.
pub(crate) static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Samples taken (queued or dropped).
pub(crate) static TAKEN: AtomicU64 = AtomicU64::new(0);
/// Weight (estimated bytes) of dropped samples, per scope id: a burst that overflows the
/// queue loses log records, never bytes from the estimates. Ids run from 0 (no scope) to
/// `MAX_SCOPE_NAMES` (the shared `other` id).
static DROPPED_WEIGHT: [AtomicU64; super::attribution::MAX_SCOPE_NAMES + 1] =
    [const { AtomicU64::new(0) }; super::attribution::MAX_SCOPE_NAMES + 1];

/// Capacity of the sample queue: a minute at the default target rate and then some.
const QUEUE_CAPACITY: usize = 16 * 1024;
/// How far a thread counts down while sampling is off before it looks again: the peak-check
/// step, so turning sampling on misses at most this many bytes per thread.
const OFF_RECHECK: u64 = super::shard::PEAK_STEP as u64;
/// The most an allocating thread over budget multiplies the mean by at once.
const MAX_RAISE: f64 = 64.0;
/// The budget's sustained rate, as a multiple of the target.
const BUDGET_RATE: f64 = 1.5;
/// How far the budget may run ahead of the clock: `BUDGET_RATE x target x` this is the
/// most samples it passes at once (half a second's worth of the target).
const BUDGET_TOLERANCE_NS: u64 = 333_333_333;

static QUEUE: OnceCell<ArrayQueue<Sample>> = OnceCell::new();

/// One sampled allocation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Sample {
    /// Requested bytes.
    pub(crate) size: u64,
    /// Size class index (`crate::alloc::CLASS_SIZES`).
    pub(crate) class: u16,
    /// Estimated bytes this sample stands for: `size / (1 - exp(-size / mean))`.
    pub(crate) weight: f64,
    pub(crate) time_unix_nano: u64,
    /// Kernel thread id.
    pub(crate) tid: u32,
    /// Scope or span current when it was allocated (`crate::scope`), 0 for none.
    pub(crate) scope: u32,
    /// Its call stack's entry in the heap profile's stack table (`base::profile`), 0 for
    /// none (profiles off, or the table full).
    pub(crate) stack: u32,
    /// The OpenTelemetry trace and span in effect where it was allocated (feature
    /// `opentelemetry`: set where a scope or tracing span is entered).
    pub(crate) trace: Option<super::attribution::Trace>,
}

/// Starts sampling with the configured initial mean and applies a configured seed to every
/// thread's stream (the fields of `config::Sampling`). Called once when the agent installs, in
/// the agent scope (it allocates the queue).
pub(crate) fn enable(enabled: bool, target_per_sec: f64, initial_interval: u64, seed: Option<u64>) {
    if !enabled {
        MEAN.store(0, Relaxed);
        return;
    }
    if let Some(seed) = seed {
        SEED.store(seed, Relaxed);
        STREAMS.store(1, Relaxed);
        GENERATION.fetch_add(1, Relaxed);
    }
    let target = target_per_sec;
    let target_ns = if target > 0.0 { 1e9 / target } else { 0.0 };
    TARGET_NS.store(target_ns.clamp(0.0, u64::MAX as f64) as u64, Relaxed);
    QUEUE.get_or_init(|| ArrayQueue::new(QUEUE_CAPACITY));
    MEAN.store(initial_interval.max(1), Relaxed);
}

/// Stops sampling (agent shut down).
pub(crate) fn disable() {
    MEAN.store(0, Relaxed);
}

/// The mean in force now (0 = off).
pub(crate) fn mean() -> u64 {
    MEAN.load(Relaxed)
}

/// The controller's move from `from` to `to`; a no-op when sampling is off or an allocating
/// thread moved the mean since `from` was read (its reaction to the budget is the newer).
pub(crate) fn set_mean(from: u64, to: u64) {
    if from != 0 {
        let _ = MEAN.compare_exchange(from, to.max(1), Relaxed, Relaxed);
    }
}

/// Raises the mean to at least `to` (an allocating thread over the budget), unless sampling
/// is off.
fn raise_mean(to: u64) {
    let _ = MEAN.fetch_update(Relaxed, Relaxed, |m| (m != 0 && m < to).then_some(to));
}

/// Charges a sample taken at monotonic time `now` to the budget (`BUDGET_RATE x target` per
/// second sustained, half a second's worth of the target at once); true if it was spent.
fn over_budget(now: u64) -> bool {
    let gap = (TARGET_NS.load(Relaxed) as f64 / BUDGET_RATE) as u64;
    if gap == 0 {
        return false;
    }
    let mut over = false;
    let _ = BUDGET_TAT.fetch_update(Relaxed, Relaxed, |tat| {
        let next;
        (next, over) = gcra(tat, now, gap);
        (!over).then_some(next)
    });
    over
}

/// One step of the generic cell rate algorithm: a sample at `now` against the theoretical
/// arrival time `tat`, one sample per `gap` ns sustained. Returns the next `tat` and whether the
/// sample was over budget (then `tat` is left as it was: only samples within it spend it).
fn gcra(tat: u64, now: u64, gap: u64) -> (u64, bool) {
    let at = tat.max(now);
    if at - now > BUDGET_TOLERANCE_NS {
        (tat, true)
    } else {
        (at + gap, false)
    }
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

/// A distance drawn from the exponential distribution of mean `mean` bytes, on `rng`.
fn exponential(rng: &Cell<u64>, mean: u64) -> i64 {
    // xorshift64*
    let mut x = rng.get();
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng.set(x);
    let bits = x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
    // Uniform in (0, 1]: never 0, so the log is finite.
    let u = (bits + 1) as f64 / (1u64 << 53) as f64;
    let d = -u.ln() * mean as f64;
    d.min(i64::MAX as f64 / 4.0) as i64
}

/// One thread's sampling state, kept in the allocator's thread-local state and used only from
/// its slow path, on its own thread.
///
/// Each distance is drawn with the mean in force at the draw, and the sample it ends in is
/// weighted with that mean, so a mean that moves between draws (the controller's ticks, or this
/// thread's own reaction to the budget) leaves every estimate unbiased. Reseeding or redrawing
/// a distance that has not run out changes nothing either: the distance is memoryless.
#[derive(Debug)]
pub(crate) struct PerThread {
    rng: Cell<u64>,
    /// [`GENERATION`] the stream was seeded in.
    generation: Cell<u64>,
    /// Mean the current distance was drawn with (0 = sampling was off).
    mean: Cell<u64>,
    /// The current distance, and the monotonic time it was drawn at: the thread's byte rate
    /// when it ends in a sample.
    distance: Cell<u64>,
    drawn_at: Cell<u64>,
}

impl PerThread {
    pub(crate) const fn new() -> Self {
        PerThread {
            rng: Cell::new(1),
            generation: Cell::new(0),
            mean: Cell::new(0),
            distance: Cell::new(0),
            drawn_at: Cell::new(0),
        }
    }

    /// The first distance of a new thread.
    pub(crate) fn start(&self) -> i64 {
        self.reseed(STREAMS.fetch_add(1, Relaxed));
        self.draw(monotonic_nanos())
    }

    /// The installing thread switches to stream 0 of a seed configured at install, at once
    /// (every other thread does at its next slow path). `None` when there is nothing to do.
    pub(crate) fn restart(&self) -> Option<i64> {
        if self.generation.get() == GENERATION.load(Relaxed) {
            return None;
        }
        self.reseed(0);
        Some(self.draw(monotonic_nanos()))
    }

    /// The distance left, `left` bytes, after a slow path that took no sample (a peak check):
    /// `left`, or a fresh distance on a stream of the seed configured since.
    pub(crate) fn carry(&self, left: i64) -> i64 {
        if self.generation.get() == GENERATION.load(Relaxed) {
            return left;
        }
        self.reseed(STREAMS.fetch_add(1, Relaxed));
        self.draw(monotonic_nanos())
    }

    /// The current distance ran out inside an allocation of `size` bytes in class `class`:
    /// records the sample with the weight of the mean the distance was drawn with, charges it
    /// to the budget, and returns the next distance, which starts after this allocation.
    ///
    /// Over budget, the thread raises the mean at once, without waiting for the controller's
    /// next tick: to at least twice the mean it drew with, and to what would give the target
    /// rate for its own allocation rate alone, at most [`MAX_RAISE`] times the mean it drew
    /// with (one huge block right after a draw reads as a huge rate). Threads that drew with
    /// an older, smaller mean take their next sample and then draw with the raised one, so a
    /// burst on many threads raises the mean once per sample, not once per thread.
    pub(crate) fn sample(&self, size: usize, class: usize) -> i64 {
        let mean = self.mean.get();
        let now = monotonic_nanos();
        if mean != 0 {
            record(size, class, mean);
            if over_budget(now) {
                let elapsed = now.saturating_sub(self.drawn_at.get()).max(1);
                let own =
                    self.distance.get() as f64 * TARGET_NS.load(Relaxed) as f64 / elapsed as f64;
                let to = own.max(2.0 * mean as f64).min(MAX_RAISE * mean as f64);
                raise_mean((to as u64).min(MAX_INTERVAL));
            }
        }
        if self.generation.get() != GENERATION.load(Relaxed) {
            self.reseed(STREAMS.fetch_add(1, Relaxed));
        }
        self.draw(now)
    }

    fn reseed(&self, index: u64) {
        self.generation.set(GENERATION.load(Relaxed));
        self.rng.set(stream(index));
    }

    /// Bytes to the next sample point, drawn with the current mean at monotonic time `now`
    /// (sampling off: a re-check interval).
    fn draw(&self, now: u64) -> i64 {
        let mean = MEAN.load(Relaxed);
        self.mean.set(mean);
        let d = if mean == 0 {
            OFF_RECHECK as i64
        } else {
            exponential(&self.rng, mean)
        };
        self.distance.set(d as u64);
        self.drawn_at.set(now);
        d
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

/// Records a sample. Called from the allocator's slow path on the allocating thread: no
/// allocation, no lock; one queue push.
pub(crate) fn record(size: usize, class: usize, mean: u64) {
    if mean == 0 {
        return;
    }
    let Some(queue) = QUEUE.get() else { return };
    TAKEN.fetch_add(1, Relaxed);
    let weight = weight(size as u64, mean);
    super::attribution::on_sample(weight.round() as u64);
    let stack = super::profile::on_sample(size as u64, weight);
    let sample = Sample {
        stack,
        trace: super::attribution::current_trace(),
        size: size as u64,
        class: class as u16,
        weight,
        time_unix_nano: now_nanos(),
        tid: crate::sys::thread_id(),
        scope: super::attribution::current(),
    };
    if queue.push(sample).is_err() {
        DROPPED.fetch_add(1, Relaxed);
        let slot = (sample.scope as usize).min(DROPPED_WEIGHT.len() - 1);
        DROPPED_WEIGHT[slot].fetch_add(weight.round() as u64, Relaxed);
    }
}

/// Takes the weight of the samples dropped since the last call, per scope id (export thread).
pub(crate) fn take_dropped_weight(mut f: impl FnMut(u32, u64)) {
    for (id, w) in DROPPED_WEIGHT.iter().enumerate() {
        if w.load(Relaxed) != 0 {
            f(id as u32, w.swap(0, Relaxed));
        }
    }
}

/// Removes every queued sample (export thread).
pub(crate) fn drain(out: &mut Vec<Sample>) {
    if let Some(q) = QUEUE.get() {
        while let Some(s) = q.pop() {
            out.push(s);
        }
    }
}

/// Samples waiting in the queue.
pub(crate) fn queue_depth() -> usize {
    QUEUE.get().map_or(0, ArrayQueue::len)
}

/// Bounds of the mean interval the controller may pick.
pub(crate) const MIN_INTERVAL: u64 = 4 * 1024;
pub(crate) const MAX_INTERVAL: u64 = 1 << 36;

/// The controller: the mean that would have given `target` samples per second for the bytes
/// allocated in the last window (`achieved` samples per second under `mean`), moved at most
/// 8x per tick and kept within [`MIN_INTERVAL`]..=[`MAX_INTERVAL`]; a mean below
/// [`MIN_INTERVAL`] (configured so) stays as it is.
pub(crate) fn adjust(mean: u64, achieved: f64, target: f64) -> u64 {
    // A mean set below the floor (an initial interval under 4 KiB, down to 1: every
    // allocation sampled) is a fixed choice the controller leaves alone.
    if target <= 0.0 || mean < MIN_INTERVAL {
        return mean;
    }
    // No samples: the rate is too low to measure; halve the interval (within the bounds).
    let factor = if achieved <= 0.0 {
        0.5
    } else {
        achieved / target
    };
    let next = (mean as f64 * factor.clamp(1.0 / 8.0, 8.0)).round() as u64;
    next.clamp(MIN_INTERVAL, MAX_INTERVAL)
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

    /// The allocation rate jumps 100x: the rate is back within +-30 % of the target within
    /// a few ticks, and it converges back when the load drops.
    #[test]
    fn controller_recovers_from_a_100x_jump_within_a_few_ticks() {
        let target = 100.0;
        // Bytes per second of the workload; the achieved rate under mean T is bytes/T.
        let mut mean = 512 * 1024;
        let rate = |bytes_per_sec: f64, mean: u64| bytes_per_sec / mean as f64;
        let base = 100.0 * 512.0 * 1024.0; // exactly on target at the initial mean
        assert!((rate(base, mean) - target).abs() < 1e-9);
        let jump = base * 100.0;
        let mut ticks = 0;
        loop {
            let achieved = rate(jump, mean);
            if (achieved - target).abs() <= 0.3 * target {
                break;
            }
            mean = adjust(mean, achieved, target);
            ticks += 1;
            assert!(ticks <= 4, "not back within 4 ticks: {achieved}/s");
        }
        assert!(ticks >= 1);
        // And back down.
        let mut ticks = 0;
        while (rate(base, mean) - target).abs() > 0.3 * target {
            mean = adjust(mean, rate(base, mean), target);
            ticks += 1;
            assert!(ticks <= 4);
        }
    }

    /// Samples arriving at 100x the target, evenly: within any second the budget passes at
    /// most `BUDGET_RATE` seconds' worth plus its tolerance, about twice the target.
    #[test]
    fn the_budget_passes_at_most_twice_the_target_in_any_second() {
        let target = 100.0;
        let gap = (1e9 / target / BUDGET_RATE) as u64;
        let (mut tat, mut passed) = (0, Vec::new());
        for i in 0..30_000u64 {
            let now = 1_000_000_000 + i * 100_000; // 10 000 per second, for 3 s
            let over;
            (tat, over) = gcra(tat, now, gap);
            if !over {
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
        // And it does pass the sustained rate: 1.5x the target over the 3 s, plus the burst.
        assert!(
            passed.len() as f64 >= 3.0 * BUDGET_RATE * target,
            "{}",
            passed.len()
        );
    }

    #[test]
    fn controller_respects_bounds() {
        assert_eq!(adjust(MIN_INTERVAL, 1.0, 1e9), MIN_INTERVAL);
        assert_eq!(adjust(MAX_INTERVAL, 1e12, 1.0), MAX_INTERVAL);
        assert_eq!(adjust(1 << 20, 0.0, 100.0), 1 << 19);
        // Configured below the floor (every allocation sampled): left alone.
        assert_eq!(adjust(1, 1e6, 100.0), 1);
    }
}
