//! [`PoolMeter`]: the counters of one pool name, for [`Pool`](super::Pool) and for pools
//! rtscope does not own.

use crate::base::counters::Counters;
use crate::model::Source;
use crate::model::series::{Data, Metric};
use crate::names::{Entry, Interner};
use std::fmt::Write;

const HITS: usize = 0;
const MISSES: usize = 1;
const STORED: usize = 2;
const DISCARDED: usize = 3;
const EVICTED: usize = 4;
const N: usize = 5;

/// Distinct pool names with their own series, [`OTHER`](crate::OTHER) included: later names
/// share the series named [`OTHER`](crate::OTHER), so a name built at run time cannot grow the
/// export without bound.
pub const MAX_POOL_NAMES: usize = 256;

/// Every pool name ever metered, in order of first use. Entries live for the process.
static NAMES: Interner<Counters, MAX_POOL_NAMES> = Interner::new();

/// Counters of a pool: gets that hit or missed, puts stored or discarded. Meters made with
/// the same name share one set of counters (one series per name).
///
/// Each call is one write to the calling thread's own counter (no lock, no allocation, no
/// shared cache line), the cost of an allocator counter. Use it to meter a pool you already
/// have; [`Pool`](super::Pool) meters itself.
///
/// ```
/// use rtscope::pool::PoolMeter;
/// use std::sync::Mutex;
///
/// struct Conns {
///     idle: Mutex<Vec<u32>>,
///     meter: PoolMeter,
/// }
///
/// impl Conns {
///     fn get(&self) -> u32 {
///         match self.idle.lock().unwrap().pop() {
///             Some(c) => {
///                 self.meter.hit();
///                 c
///             }
///             None => {
///                 self.meter.miss();
///                 42 // open a new connection
///             }
///         }
///     }
///     fn put(&self, c: u32) {
///         let mut idle = self.idle.lock().unwrap();
///         if idle.len() < 8 {
///             idle.push(c);
///             self.meter.put();
///         } else {
///             self.meter.discard();
///         }
///     }
/// }
///
/// let pool = Conns { idle: Mutex::new(Vec::new()), meter: PoolMeter::new("doc-conns") };
/// let c = pool.get();
/// pool.put(c);
/// let c = pool.get();
/// pool.put(c);
/// let s = pool.meter.stats();
/// assert_eq!((s.hits, s.misses, s.stored, s.idle), (1, 1, 2, 1));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct PoolMeter {
    entry: &'static Entry<Counters>,
}

impl PoolMeter {
    /// The meter of pool `name` (exported as attribute `rust.pool.name`), created on first
    /// use. A lock-free lookup unless the name is new (then a lock and an allocation); keep
    /// the meter rather than calling this per operation.
    pub fn new(name: &str) -> PoolMeter {
        PoolMeter {
            entry: NAMES.intern(name, || Counters::claim(N)),
        }
    }

    /// A get served from the pool.
    #[inline]
    pub fn hit(&self) {
        self.entry.value().add(HITS, 1);
    }

    /// A get the pool could not serve (a new object was made).
    #[inline]
    pub fn miss(&self) {
        self.entry.value().add(MISSES, 1);
    }

    /// An object put back and kept for reuse.
    #[inline]
    pub fn put(&self) {
        self.entry.value().add(STORED, 1);
    }

    /// An object put back and dropped (the pool was full, or the object too big).
    #[inline]
    pub fn discard(&self) {
        self.entry.value().add(DISCARDED, 1);
    }

    /// `n` kept objects dropped without being handed out again (the pool was cleared or
    /// dropped), so they no longer count as idle.
    #[inline]
    pub fn evict(&self, n: u64) {
        self.entry.value().add(EVICTED, n);
    }

    /// The name the series is exported under ([`OTHER`](crate::OTHER) past
    /// [`MAX_POOL_NAMES`]` - 1` names).
    pub fn name(&self) -> &'static str {
        self.entry.name()
    }

    /// The totals of this pool name so far (all threads, all meters of the name).
    pub fn stats(&self) -> PoolStats {
        stats_of(self.entry.value())
    }
}

/// Totals of one pool name since the process started.
///
/// ```
/// let s = rtscope::pool::PoolMeter::new("doc-stats").stats();
/// assert_eq!(s.gets(), s.hits + s.misses);
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Gets served from the pool.
    pub hits: u64,
    /// Gets that made a new object.
    pub misses: u64,
    /// Objects put back and kept.
    pub stored: u64,
    /// Objects put back and dropped: the pool was full or the object over the size limit.
    pub discarded: u64,
    /// Kept objects dropped without reuse (pool dropped or cleared).
    pub evicted: u64,
    /// Objects waiting in the pool: `stored - hits - evicted`.
    pub idle: u64,
}

impl PoolStats {
    /// All gets.
    pub fn gets(&self) -> u64 {
        self.hits.wrapping_add(self.misses)
    }

    /// All puts.
    pub fn puts(&self) -> u64 {
        self.stored.wrapping_add(self.discarded)
    }
}

fn stats_of(c: &Counters) -> PoolStats {
    // What leaves the pool first: an object that comes and goes between the reads counts
    // as still idle, never as gone before it came.
    let hits = c.read(HITS);
    let evicted = c.read(EVICTED);
    let stored = c.read(STORED);
    PoolStats {
        hits,
        misses: c.read(MISSES),
        stored,
        discarded: c.read(DISCARDED),
        evicted,
        idle: stored.saturating_sub(hits).saturating_sub(evicted),
    }
}

/// The totals of every pool name so far, in order of first use, [`OTHER`](crate::OTHER) last.
pub(crate) fn all_stats() -> Vec<(String, PoolStats)> {
    NAMES
        .iter()
        .map(|e| (e.name().to_owned(), stats_of(e.value())))
        .collect()
}

/// The pools as a part: their series and their line of the exit summary.
pub(crate) const SOURCE: Source = Source {
    series: collect,
    summary,
    ..Source::NONE
};

/// Pools listed by name in the exit summary; the others are folded.
const TOP_POOLS: usize = 3;

/// Appends the series of every pool name.
pub(crate) fn collect(out: &mut Vec<Metric>) {
    for e in NAMES.iter() {
        let s = stats_of(e.value());
        let name = || -> String { e.name().to_owned() };
        for (result, v) in [("hit", s.hits), ("miss", s.misses)] {
            out.push(
                Metric::new(
                    "rust.pool.gets",
                    "{get}",
                    "Gets from the pool, by result.",
                    Data::Counter(v.into()),
                )
                .with_attr("rust.pool.name", name())
                .with_attr("rust.pool.result", result),
            );
        }
        for (result, v) in [("stored", s.stored), ("discarded", s.discarded)] {
            out.push(
                Metric::new(
                    "rust.pool.puts",
                    "{put}",
                    "Objects put back, by result.",
                    Data::Counter(v.into()),
                )
                .with_attr("rust.pool.name", name())
                .with_attr("rust.pool.result", result),
            );
        }
        out.push(
            Metric::new(
                "rust.pool.idle",
                "{object}",
                "Objects waiting in the pool.",
                Data::UpDown(s.idle.into()),
            )
            .with_attr("rust.pool.name", name()),
        );
    }
}

/// The pools line of the exit summary.
fn summary(out: &mut String) {
    let mut all = all_stats();
    all.retain(|(_, p)| p.gets() > 0 || p.puts() > 0);
    if all.is_empty() {
        return;
    }
    all.sort_by_key(|(_, p)| std::cmp::Reverse(p.gets()));
    let mut parts: Vec<String> = all
        .iter()
        .take(TOP_POOLS)
        .map(|(name, p)| {
            format!(
                "{name} {} hits, {} misses ({:.1}% hits)",
                p.hits,
                p.misses,
                100.0 * p.hits as f64 / p.gets().max(1) as f64
            )
        })
        .collect();
    if all.len() > TOP_POOLS {
        parts.push(format!("{} more", all.len() - TOP_POOLS));
    }
    let _ = writeln!(out, "  pools: {}", parts.join("; "));
}
