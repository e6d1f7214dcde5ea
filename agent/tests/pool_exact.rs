//! Exact pool counts for known get/put sequences, resets that really happen, size limits.
//!
//! Each test uses its own pool name, and counters are per name, so tests running on
//! concurrent threads do not disturb each other's counts.

use rtscope::pool::{Pool, PoolMeter, PoolStats, Pooled};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

fn counts(s: PoolStats) -> (u64, u64, u64, u64, u64) {
    (s.hits, s.misses, s.stored, s.discarded, s.idle)
}

#[test]
fn sequential_pattern_gives_exact_counts() {
    let pool = Pool::builder("t-seq", || Vec::<u8>::with_capacity(64))
        .with_capacity(10)
        .build();
    // max idle for one thread: the shared queue (10) + its own cache cell (1).
    assert_eq!(pool.capacity(), 10);

    let held: Vec<_> = (0..12).map(|_| pool.get()).collect();
    assert_eq!(counts(pool.stats()), (0, 12, 0, 0, 0));
    drop(held);
    assert_eq!(counts(pool.stats()), (0, 12, 11, 1, 11));

    let held: Vec<_> = (0..12).map(|_| pool.get()).collect();
    assert_eq!(counts(pool.stats()), (11, 13, 11, 1, 0));
    drop(held);
    assert_eq!(counts(pool.stats()), (11, 13, 22, 2, 11));

    // One at a time: always the thread's cached object.
    for _ in 0..100 {
        let mut v = pool.get();
        v.push(1);
    }
    assert_eq!(counts(pool.stats()), (111, 13, 122, 2, 11));
    let s = pool.stats();
    assert_eq!((s.gets(), s.puts()), (124, 124));
}

#[test]
fn no_dirty_object_is_ever_returned() {
    let pool = Arc::new(Pool::new("t-dirty", Vec::<u64>::new));
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let pool = Arc::clone(&pool);
            s.spawn(move || {
                for i in 0..5_000u64 {
                    let mut v = pool.get();
                    assert!(v.is_empty(), "a dirty vector came back");
                    v.extend([t, i, t ^ i]);
                }
            });
        }
    });
    let s = pool.stats();
    assert_eq!(s.gets(), 20_000);
    assert_eq!(s.puts(), 20_000);
    assert_eq!(s.idle, s.stored - s.hits);
    assert!(s.idle as usize <= pool.max_idle());

    let maps: Pool<HashMap<u32, String>> = Pool::new("t-dirty-map", HashMap::new);
    maps.get().insert(1, "x".into());
    assert!(maps.get().is_empty());
    let trees: Pool<BTreeMap<u32, u32>> = Pool::new("t-dirty-tree", BTreeMap::new);
    trees.get().insert(1, 1);
    assert!(trees.get().is_empty());
    let queues: Pool<VecDeque<u8>> = Pool::new("t-dirty-deque", VecDeque::new);
    queues.get().push_back(1);
    assert!(queues.get().is_empty());
    assert_eq!(counts(queues.stats()), (1, 1, 2, 0, 1));
}

#[test]
fn reset_closure_runs_on_every_put() {
    struct Conn {
        in_tx: bool,
        serial: usize,
    }
    let resets = Arc::new(AtomicUsize::new(0));
    let r = Arc::clone(&resets);
    let pool = Pool::builder_with_reset(
        "t-closure",
        || Conn {
            in_tx: false,
            serial: 0,
        },
        move |c: &mut Conn| {
            c.in_tx = false;
            r.fetch_add(1, Ordering::Relaxed);
        },
    )
    .build();
    for i in 0..10 {
        let mut c = pool.get();
        assert!(!c.in_tx);
        c.in_tx = true;
        c.serial = i;
    }
    assert_eq!(resets.load(Ordering::Relaxed), 10);
    assert_eq!(counts(pool.stats()), (9, 1, 10, 0, 1));
}

#[test]
fn ballooned_objects_are_discarded() {
    let pool = Pool::builder("t-balloon", || Vec::<u8>::with_capacity(1024))
        .with_max_retained_bytes(4096)
        .build();
    {
        let mut v = pool.get();
        v.extend_from_slice(&[0; 2000]); // grows within the limit
    }
    assert_eq!(counts(pool.stats()), (0, 1, 1, 0, 1));
    {
        let mut v = pool.get();
        v.reserve(1 << 20); // a buffer that ballooned
    }
    assert_eq!(counts(pool.stats()), (1, 1, 1, 1, 0));
    let v = pool.get();
    assert!(v.capacity() < 4096, "the ballooned buffer was not kept");
    drop(v);
    assert_eq!(counts(pool.stats()), (1, 2, 2, 1, 1));

    let strings = Pool::builder_with_reset("t-balloon-size", String::new, String::clear)
        .with_size(String::capacity)
        .with_max_retained_bytes(8)
        .build();
    strings.get().push_str("longer than eight bytes");
    assert_eq!(counts(strings.stats()), (0, 1, 0, 1, 0));
}

#[test]
fn detached_objects_are_not_put_back() {
    let pool = Pool::new("t-detach", String::new);
    let mut s = pool.get();
    s.push_str("mine");
    let owned: String = Pooled::detach(s);
    assert_eq!(owned, "mine");
    assert_eq!(counts(pool.stats()), (0, 1, 0, 0, 0));
}

#[test]
fn dropping_the_pool_evicts_idle_objects() {
    let pool = Pool::builder("t-evict", Vec::<u8>::new)
        .with_capacity(10)
        .build();
    let held: Vec<_> = (0..5).map(|_| pool.get()).collect();
    drop(held);
    let meter = pool.meter();
    assert_eq!(meter.stats().idle, 5);
    drop(pool);
    let s = meter.stats();
    assert_eq!((s.evicted, s.idle), (5, 0));
}

#[test]
fn meters_count_exactly_and_share_by_name() {
    let a = PoolMeter::new("t-meter");
    let b = PoolMeter::new("t-meter");
    a.miss();
    a.put();
    b.hit();
    b.put();
    a.hit();
    b.discard();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..1000 {
                    a.miss();
                    a.discard();
                }
            });
        }
    });
    assert_eq!(counts(a.stats()), (2, 4001, 2, 4001, 0));
    assert_eq!(a.stats(), b.stats());
    assert_eq!(a.name(), "t-meter");
}

#[test]
fn threads_share_one_pool() {
    let pool = Pool::builder("t-threads", || vec![0u8; 16])
        .with_capacity(64)
        .build();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    let held = [pool.get(), pool.get()];
                    drop(held);
                }
            });
        }
    });
    let s = pool.stats();
    assert_eq!(s.gets(), 80_000);
    assert_eq!(s.puts(), 80_000);
    assert_eq!(
        s.discarded, 0,
        "capacity 64 holds every object of 4 threads x 2"
    );
    assert_eq!(s.misses as usize, s.idle as usize);
    assert!(
        s.misses <= 8 + 4,
        "at most the objects alive at once, plus racing gets"
    );
}
