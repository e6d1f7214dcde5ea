//! Object pools that count their hits and misses: [`Pool`], and [`PoolMeter`] for pools
//! you already have.
//!
//! A pool that misses allocates on the request path; a pool that hands back a dirty object
//! corrupts it; a pool that keeps every buffer that ever ballooned holds memory forever.
//! [`Pool`] avoids the last two and measures all three:
//!
//! ```
//! use once_cell::sync::Lazy;
//! use rtscope::pool::Pool;
//!
//! static BUFS: Lazy<Pool<Vec<u8>>> = Lazy::new(|| Pool::new("doc-buffers", || Vec::with_capacity(4096)));
//!
//! let mut buf = BUFS.get(); // a guard: Deref/DerefMut to the Vec, goes back on drop
//! buf.extend_from_slice(b"hello");
//! drop(buf); // cleared and kept
//! assert!(BUFS.get().is_empty()); // never dirty (and back again)
//! let s = BUFS.stats();
//! assert_eq!((s.misses, s.hits, s.stored), (1, 1, 2));
//! ```
//!
//! # Model
//!
//! Like Go's `sync.Pool`: every thread has a private cache of one object, and behind the
//! caches sits a bounded lock-free queue shared by all threads
//! ([`crossbeam_queue::ArrayQueue`]).
//!
//! - **get**: take the calling thread's cached object, else pop the shared queue (a *hit*),
//!   else make a new object (a *miss*).
//! - **put** (the guard dropping): [`Reset`] the object; if it still keeps more than the size
//!   limit ([`PoolBuilder::with_max_retained_bytes`]) drop it (*discarded*); else keep it in
//!   the thread's cache if that is empty, else in the shared queue if it has room (*stored*),
//!   else drop it (*discarded*).
//!
//! The private caches live in the pool, not in thread-locals: an array of
//! [`caches`](Pool::caches) cache-line-sized cells, each holding at most one object, and each
//! thread uses the cell of its thread number modulo their count (twice the CPUs, rounded
//! up to a power of two, at most 64). A thread's get and put are then one atomic swap on a
//! line no other thread touches, unless more threads than cells share one, which is still
//! correct. Nothing leaks across pools or outlives its pool: dropping the pool drops every
//! idle object.
//!
//! So a pool holds at most [`max_idle`](Pool::max_idle) `= capacity + caches` idle objects,
//! and one thread alone sees exact, predictable counts: with capacity `c`, after `n` gets
//! and `n` puts, the next `n` gets hit `min(n, c + 1)` times.
//!
//! # Metrics
//!
//! | name | instrument | unit | attributes |
//! |---|---|---|---|
//! | `rust.pool.gets` | Counter | `{get}` | `rust.pool.name`, `rust.pool.result` = `hit` \| `miss` |
//! | `rust.pool.puts` | Counter | `{put}` | `rust.pool.name`, `rust.pool.result` = `stored` \| `discarded` |
//! | `rust.pool.idle` | UpDownCounter | `{object}` | `rust.pool.name` |
//!
//! Pools and meters with the same name share one set of series.

mod cache;
mod meter;
mod reset;

pub use meter::{MAX_POOL_NAMES, PoolMeter, PoolStats};
pub use reset::Reset;

pub(crate) use meter::SOURCE;
// For a spike's window (the detector, built with an exporter).
#[cfg(feature = "_export")]
pub(crate) use meter::all_stats;

use cache::Cache;
use crossbeam_queue::ArrayQueue;
use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Idle objects the shared queue holds by default.
pub const DEFAULT_CAPACITY: usize = 128;
/// The most per-thread cache cells a pool has.
pub const MAX_CACHES: usize = 64;

type CreateFn<T> = Box<dyn Fn() -> T + Send + Sync>;
type ResetFn<T> = Box<dyn Fn(&mut T) + Send + Sync>;
type SizeFn<T> = Box<dyn Fn(&T) -> usize + Send + Sync>;

/// A thread-safe object pool with per-thread caches, a bounded shared queue, reset on reuse
/// and exact hit/miss/put/discard counts (see the [module docs](self)).
///
/// ```
/// use rtscope::pool::Pool;
///
/// let pool: Pool<String> = Pool::builder("doc-names", String::new)
///     .with_capacity(16)
///     .with_max_retained_bytes(64 * 1024) // drop strings that grew past 64 KiB
///     .build();
/// let mut s = pool.get();
/// s.push_str("hello");
/// assert_eq!(&*s, "hello");
/// ```
pub struct Pool<T> {
    create: CreateFn<T>,
    reset: ResetFn<T>,
    size: SizeFn<T>,
    max_retained_bytes: usize,
    caches: Box<[Cache<T>]>,
    shared: Option<ArrayQueue<Box<T>>>,
    meter: PoolMeter,
    /// Objects move between threads but are never shared: the pool is `Send + Sync` exactly
    /// when `T: Send`, as a `Mutex<T>` is.
    _owns: PhantomData<Mutex<T>>,
}

impl<T: Reset + 'static> Pool<T> {
    /// A pool named `name` (attribute `rust.pool.name`) of objects made by `create` and
    /// cleaned by [`Reset`], with the default capacity and no size limit.
    ///
    /// ```
    /// use std::collections::HashMap;
    /// let pool: rtscope::pool::Pool<HashMap<u64, u64>> = rtscope::pool::Pool::new("doc-maps", HashMap::new);
    /// pool.get().insert(1, 2);
    /// assert!(pool.get().is_empty());
    /// ```
    pub fn new(name: &str, create: impl Fn() -> T + Send + Sync + 'static) -> Pool<T> {
        Pool::builder(name, create).build()
    }

    /// A builder for a pool of [`Reset`] objects, to set capacity and size limit.
    ///
    /// ```
    /// let pool = rtscope::pool::Pool::builder("doc-vecs", Vec::<u8>::new).with_capacity(4).build();
    /// assert_eq!(pool.capacity(), 4);
    /// ```
    pub fn builder(name: &str, create: impl Fn() -> T + Send + Sync + 'static) -> PoolBuilder<T> {
        PoolBuilder {
            name: name.to_owned(),
            create: Box::new(create),
            reset: Box::new(T::reset),
            size: Box::new(T::retained_bytes),
            capacity: DEFAULT_CAPACITY,
            max_retained_bytes: usize::MAX,
        }
    }
}

impl<T: 'static> Pool<T> {
    /// A builder for a pool of any type, cleaned by `reset` before reuse.
    ///
    /// ```
    /// struct Conn {
    ///     in_tx: bool,
    /// }
    ///
    /// let pool = rtscope::pool::Pool::builder_with_reset(
    ///     "doc-conns",
    ///     || Conn { in_tx: false },
    ///     |c: &mut Conn| c.in_tx = false,
    /// )
    /// .build();
    /// pool.get().in_tx = true;
    /// assert!(!pool.get().in_tx);
    /// ```
    pub fn builder_with_reset(
        name: &str,
        create: impl Fn() -> T + Send + Sync + 'static,
        reset: impl Fn(&mut T) + Send + Sync + 'static,
    ) -> PoolBuilder<T> {
        PoolBuilder {
            name: name.to_owned(),
            create: Box::new(create),
            reset: Box::new(reset),
            size: Box::new(|_: &T| 0),
            capacity: DEFAULT_CAPACITY,
            max_retained_bytes: usize::MAX,
        }
    }
}

impl<T> Pool<T> {
    /// An object: a clean idle one if there is one (a hit), else a new one (a miss). It
    /// goes back to the pool when the guard drops.
    #[inline]
    pub fn get(&self) -> Pooled<'_, T> {
        let obj = match self.take() {
            Some(obj) => {
                self.meter.hit();
                obj
            }
            None => {
                self.meter.miss();
                Box::new((self.create)())
            }
        };
        Pooled {
            pool: self,
            obj: ManuallyDrop::new(obj),
        }
    }

    #[inline]
    fn take(&self) -> Option<Box<T>> {
        if let Some(obj) = self.cache().take() {
            return Some(obj);
        }
        self.shared.as_ref()?.pop()
    }

    /// Puts an object back: reset, then kept or discarded.
    #[inline]
    fn put(&self, mut obj: Box<T>) {
        (self.reset)(&mut obj);
        if (self.size)(&obj) > self.max_retained_bytes {
            self.meter.discard();
            return;
        }
        let Err(obj) = self.cache().offer(obj) else {
            self.meter.put();
            return;
        };
        match self.shared.as_ref().map(|q| q.push(obj)) {
            Some(Ok(())) => self.meter.put(),
            Some(Err(_)) | None => self.meter.discard(),
        }
    }

    /// The calling thread's cache cell.
    #[inline]
    fn cache(&self) -> &Cache<T> {
        // `caches.len()` is a power of two, at least 1.
        let i = thread_number() & (self.caches.len() - 1);
        &self.caches[i]
    }

    /// Drops every idle object (counted as evicted); objects in use are not affected.
    ///
    /// ```
    /// let pool = rtscope::pool::Pool::new("doc-clear", Vec::<u8>::new);
    /// drop(pool.get());
    /// pool.clear();
    /// assert_eq!(pool.stats().idle, 0);
    /// ```
    pub fn clear(&self) {
        let mut n = 0u64;
        for c in self.caches.iter() {
            if let Some(obj) = c.take() {
                drop(obj);
                n += 1;
            }
        }
        if let Some(q) = &self.shared {
            while let Some(obj) = q.pop() {
                drop(obj);
                n += 1;
            }
        }
        if n > 0 {
            self.meter.evict(n);
        }
    }

    /// The pool's name (its `rust.pool.name`).
    pub fn name(&self) -> &str {
        self.meter.name()
    }

    /// Idle objects the shared queue holds at most.
    pub fn capacity(&self) -> usize {
        self.shared.as_ref().map_or(0, ArrayQueue::capacity)
    }

    /// Per-thread cache cells (each holds at most one idle object).
    pub fn caches(&self) -> usize {
        self.caches.len()
    }

    /// Idle objects the pool holds at most: `capacity() + caches()`.
    pub fn max_idle(&self) -> usize {
        self.capacity() + self.caches()
    }

    /// The pool's meter (shared by every pool and meter of the same name).
    pub fn meter(&self) -> PoolMeter {
        self.meter
    }

    /// The counts of this pool's name so far.
    ///
    /// ```
    /// let pool = rtscope::pool::Pool::new("doc-pool-stats", String::new);
    /// let a = pool.get();
    /// drop(a);
    /// let _b = pool.get();
    /// let s = pool.stats();
    /// assert_eq!((s.misses, s.stored, s.hits, s.idle), (1, 1, 1, 0));
    /// ```
    pub fn stats(&self) -> PoolStats {
        self.meter.stats()
    }
}

impl<T> Drop for Pool<T> {
    fn drop(&mut self) {
        self.clear();
    }
}

impl<T> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("name", &self.name())
            .field("capacity", &self.capacity())
            .field("caches", &self.caches())
            .field("max_retained_bytes", &self.max_retained_bytes)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Settings of a [`Pool`]: from [`Pool::builder`] or [`Pool::builder_with_reset`].
///
/// ```
/// let pool = rtscope::pool::Pool::builder("doc-builder", || Vec::<u8>::with_capacity(1024))
///     .with_capacity(32)
///     .with_max_retained_bytes(1 << 20)
///     .build();
/// assert_eq!(pool.capacity(), 32);
/// ```
#[must_use = "a builder does nothing until `build()`"]
pub struct PoolBuilder<T> {
    name: String,
    create: CreateFn<T>,
    reset: ResetFn<T>,
    size: SizeFn<T>,
    capacity: usize,
    max_retained_bytes: usize,
}

impl<T> PoolBuilder<T> {
    /// Idle objects the shared queue holds at most (default [`DEFAULT_CAPACITY`]); each
    /// per-thread cache holds one more. Zero: only the per-thread caches.
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Objects that still keep more than `bytes` of heap after their reset (as their
    /// [`Reset::retained_bytes`] or the [`with_size`](Self::with_size) function says) are
    /// dropped on put and counted as discarded. Default: no limit.
    pub fn with_max_retained_bytes(mut self, bytes: usize) -> Self {
        self.max_retained_bytes = bytes;
        self
    }

    /// How to clean an object before reuse (replaces [`Reset::reset`]).
    pub fn with_reset(mut self, reset: impl Fn(&mut T) + Send + Sync + 'static) -> Self {
        self.reset = Box::new(reset);
        self
    }

    /// How many heap bytes an object keeps, for the size limit (replaces
    /// [`Reset::retained_bytes`]).
    pub fn with_size(mut self, size: impl Fn(&T) -> usize + Send + Sync + 'static) -> Self {
        self.size = Box::new(size);
        self
    }

    /// The pool.
    pub fn build(self) -> Pool<T> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let cells = (2 * cpus).next_power_of_two().min(MAX_CACHES);
        Pool {
            create: self.create,
            reset: self.reset,
            size: self.size,
            max_retained_bytes: self.max_retained_bytes,
            caches: (0..cells).map(|_| Cache::new()).collect(),
            shared: (self.capacity > 0).then(|| ArrayQueue::new(self.capacity)),
            meter: PoolMeter::new(&self.name),
            _owns: PhantomData,
        }
    }
}

impl<T> fmt::Debug for PoolBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("name", &self.name)
            .field("capacity", &self.capacity)
            .field("max_retained_bytes", &self.max_retained_bytes)
            .finish_non_exhaustive()
    }
}

/// An object taken from a [`Pool`]: derefs to it, and puts it back when dropped.
///
/// ```
/// let pool = rtscope::pool::Pool::new("doc-guard", Vec::<u32>::new);
/// let mut v = pool.get();
/// v.push(1);
/// let owned: Vec<u32> = rtscope::pool::Pooled::detach(v); // keep it: not put back
/// assert_eq!(owned, [1]);
/// ```
#[must_use = "dropping the guard puts the object straight back"]
pub struct Pooled<'a, T> {
    pool: &'a Pool<T>,
    /// Always initialized until `drop` or `detach` takes it.
    obj: ManuallyDrop<Box<T>>,
}

impl<T> Pooled<'_, T> {
    /// Takes the object out of the pool for good: it is not put back.
    pub fn detach(this: Self) -> T {
        let mut this = ManuallyDrop::new(this);
        // SAFETY: `obj` is initialized (only `drop` and `detach` take it) and `this` is never
        // dropped, so it is taken exactly once.
        let obj = unsafe { ManuallyDrop::take(&mut this.obj) };
        *obj
    }
}

impl<T> Deref for Pooled<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.obj
    }
}

impl<T> DerefMut for Pooled<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.obj
    }
}

impl<T> Drop for Pooled<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `obj` is initialized (`detach` forgets the guard instead of dropping it)
        // and this is the last use of it.
        let obj = unsafe { ManuallyDrop::take(&mut self.obj) };
        self.pool.put(obj);
    }
}

impl<T: fmt::Debug> fmt::Debug for Pooled<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// A small number per thread, given out in order of first use; picks the cache cell.
#[inline]
fn thread_number() -> usize {
    thread_local! {
        static NUMBER: Cell<usize> = const { Cell::new(usize::MAX) };
    }
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NUMBER
        .try_with(|n| {
            let v = n.get();
            if v != usize::MAX {
                return v;
            }
            let v = NEXT.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1);
            n.set(v);
            v
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::series::{Data, Metric, Value};

    fn series<'a>(out: &'a [Metric], name: &str, pool: &str, result: Option<&str>) -> &'a Data {
        let hit = out.iter().find(|m| {
            m.name == name
                && m.attributes
                    .contains(&("rust.pool.name", Value::Str(pool.into())))
                && result.is_none_or(|r| {
                    m.attributes
                        .contains(&("rust.pool.result", Value::Str(r.into())))
                })
        });
        &hit.unwrap_or_else(|| panic!("no {name} {pool} {result:?}"))
            .data
    }

    #[test]
    fn collect_reports_exact_counts() {
        let pool = Pool::builder("unit-collect", Vec::<u8>::new)
            .with_capacity(10)
            .build();
        let held: Vec<_> = (0..12).map(|_| pool.get()).collect(); // 12 misses
        drop(held); // 11 stored (1 cache + 10 queue), 1 discarded
        let again: Vec<_> = (0..3).map(|_| pool.get()).collect(); // 3 hits
        drop(again);
        let mut out = Vec::new();
        meter::collect(&mut out);
        let gets = |r| series(&out, "rust.pool.gets", "unit-collect", Some(r)).clone();
        let puts = |r| series(&out, "rust.pool.puts", "unit-collect", Some(r)).clone();
        assert_eq!(gets("miss"), Data::Counter(12u64.into()));
        assert_eq!(gets("hit"), Data::Counter(3u64.into()));
        assert_eq!(puts("stored"), Data::Counter(14u64.into()));
        assert_eq!(puts("discarded"), Data::Counter(1u64.into()));
        assert_eq!(
            *series(&out, "rust.pool.idle", "unit-collect", None),
            Data::UpDown(11u64.into())
        );
        let m = out.iter().find(|m| m.name == "rust.pool.gets").unwrap();
        assert_eq!((m.unit, m.attributes.len()), ("{get}", 2));
        drop(pool);
        let mut out = Vec::new();
        meter::collect(&mut out);
        assert_eq!(
            *series(&out, "rust.pool.idle", "unit-collect", None),
            Data::UpDown(0u64.into())
        );
    }

    /// More threads than cache cells, a small queue: every get is a hit or a miss, every put
    /// stored or discarded, objects come back clean, and the pool never holds more than it
    /// may (under miri: its checks of the cells' raw pointers and data races, scripts/test.sh).
    #[test]
    fn threads_sharing_cells_count_every_get_and_put() {
        let pool = Pool::builder("unit-threads", Vec::<u8>::new)
            .with_capacity(2)
            .build();
        let threads = pool.caches() + 2;
        std::thread::scope(|s| {
            for t in 0..threads {
                let pool = &pool;
                s.spawn(move || {
                    for i in 0..10u8 {
                        let mut a = pool.get();
                        assert!(a.is_empty(), "a dirty object");
                        a.push(i);
                        let b = pool.get();
                        drop(a);
                        if t % 2 == 0 {
                            drop(Pooled::detach(b));
                        }
                    }
                });
            }
        });
        let s = pool.stats();
        let gets = 20 * threads as u64;
        // Even threads detach their second object each time: 10 gets each never put back.
        let puts = gets - 10 * threads.div_ceil(2) as u64;
        assert_eq!(s.hits + s.misses, gets);
        assert_eq!(s.stored + s.discarded, puts);
        assert!(s.idle as usize <= pool.max_idle(), "{s:?}");
        drop(pool);
    }

    #[test]
    fn zero_capacity_keeps_only_the_cache() {
        let pool = Pool::builder("unit-zero", String::new)
            .with_capacity(0)
            .build();
        let (a, b) = (pool.get(), pool.get());
        drop(a);
        drop(b);
        let s = pool.stats();
        assert_eq!((s.misses, s.stored, s.discarded, s.idle), (2, 1, 1, 1));
        assert_eq!(pool.max_idle(), pool.caches());
    }
}
