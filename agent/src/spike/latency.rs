//! User-reported latencies: one duration histogram per name, in the per-thread counter slots.
//!
//! Names are bounded and looked up without a lock (a small open-addressing table); only the
//! first use of a name takes a lock, claims its histogram and allocates, as the agent's own.

use crate::alloc::agent_scope;
use crate::time::HistogramSnapshot;
use crate::time::recorder::DurationHistogram;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering::Acquire, Ordering::Release};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Distinct latency names with a histogram of their own, [`OTHER_LATENCY`] included: later
/// names share the histogram named [`OTHER_LATENCY`]. Each name takes 24 of the per-thread
/// counter slots.
pub const MAX_LATENCY_NAMES: usize = 32;
/// The name shared by latencies past the first [`MAX_LATENCY_NAMES`]` - 1` names.
pub const OTHER_LATENCY: &str = "other";

const HASH_SLOTS: usize = 2 * MAX_LATENCY_NAMES;

#[derive(Debug)]
struct Entry {
    name: Box<str>,
    hash: u64,
    histogram: DurationHistogram,
}

/// Entries in order of first use (for collection).
static ORDER: [AtomicPtr<Entry>; MAX_LATENCY_NAMES] =
    [const { AtomicPtr::new(ptr::null_mut()) }; MAX_LATENCY_NAMES];
/// Entries by hash of their name, linear probing.
static BY_HASH: [AtomicPtr<Entry>; HASH_SLOTS] =
    [const { AtomicPtr::new(ptr::null_mut()) }; HASH_SLOTS];
/// Held while adding a name: the names added so far.
static ADD: Mutex<usize> = Mutex::new(0);

fn hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn entry(p: *mut Entry) -> Option<&'static Entry> {
    // SAFETY: every non-null pointer in the tables comes from `Box::leak` in `add` and was
    // published with a release store after the entry was fully written (acquired by the
    // caller's load); entries are never freed or mutated.
    unsafe { p.as_ref() }
}

fn find(name: &str, h: u64) -> Option<&'static Entry> {
    let mut i = (h as usize) % HASH_SLOTS;
    for _ in 0..HASH_SLOTS {
        let e = entry(BY_HASH[i].load(Acquire))?;
        if e.hash == h && &*e.name == name {
            return Some(e);
        }
        i = (i + 1) % HASH_SLOTS;
    }
    None
}

fn lookup(name: &str) -> &'static Entry {
    let h = hash(name);
    if let Some(e) = find(name, h) {
        return e;
    }
    agent_scope(|| {
        let mut added = ADD.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = find(name, h) {
            return e;
        }
        if name == OTHER_LATENCY || *added + 1 >= MAX_LATENCY_NAMES {
            let oh = hash(OTHER_LATENCY);
            return match find(OTHER_LATENCY, oh) {
                Some(e) => e,
                None => add(&mut added, OTHER_LATENCY, oh),
            };
        }
        add(&mut added, name, h)
    })
}

/// Publishes a new entry. Called with the lock held, inside the agent scope; `added` stays
/// below `MAX_LATENCY_NAMES` (the last place is kept for `other`).
fn add(added: &mut usize, name: &str, h: u64) -> &'static Entry {
    let e: &'static Entry = Box::leak(Box::new(Entry {
        name: name.into(),
        hash: h,
        histogram: DurationHistogram::claim(),
    }));
    // Only ever read through: the tables hand out shared references.
    let p = ptr::from_ref(e).cast_mut();
    if let Some(slot) = ORDER.get(*added) {
        slot.store(p, Release);
        *added += 1;
    }
    let mut i = (h as usize) % HASH_SLOTS;
    for _ in 0..HASH_SLOTS {
        if BY_HASH[i].load(Acquire).is_null() {
            BY_HASH[i].store(p, Release);
            break;
        }
        i = (i + 1) % HASH_SLOTS;
    }
    e
}

/// Records how long one `name` took (a request, a query, a batch): exported as the histogram
/// `rust.latency` (attribute `rust.latency.name`) and watched for spikes.
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// // ... handle a request ...
/// rtscope::latency("request", start.elapsed());
///
/// let s = rtscope::spike::Latency::new("request").stats();
/// assert!(s.count >= 1);
/// ```
///
/// The name is looked up in a lock-free table (a [`Latency`] made once skips even that);
/// recording is two writes to the calling thread's own counters.
#[inline]
pub fn latency(name: &str, duration: Duration) {
    Latency::new(name).record(duration);
}

/// The latency histogram of one name. Copy it around to record without a lookup.
///
/// ```
/// use std::time::Duration;
///
/// let query = rtscope::spike::Latency::new("db-query");
/// let before = query.stats();
/// query.record(Duration::from_millis(3));
/// assert_eq!(query.stats().since(&before).count, 1);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Latency {
    entry: &'static Entry,
}

impl Latency {
    /// The histogram of `name` (or of [`OTHER_LATENCY`] past [`MAX_LATENCY_NAMES`] names).
    pub fn new(name: &str) -> Latency {
        Latency {
            entry: lookup(name),
        }
    }

    /// Records one duration.
    #[inline]
    pub fn record(&self, duration: Duration) {
        self.entry.histogram.record(duration);
    }

    /// The name exported.
    pub fn name(&self) -> &'static str {
        &self.entry.name
    }

    /// The totals of this name so far (all threads).
    pub fn stats(&self) -> HistogramSnapshot {
        self.entry.histogram.snapshot()
    }
}

/// Every latency name so far with its totals, in order of first use.
pub(crate) fn all() -> Vec<(&'static str, HistogramSnapshot)> {
    ORDER
        .iter()
        .map_while(|p| entry(p.load(Acquire)))
        .map(|e| (&*e.name, e.histogram.snapshot()))
        .collect()
}
