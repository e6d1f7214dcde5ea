//! Pool get+put against a `Mutex<Vec<T>>` pool and fresh allocation, on 1 and 2 threads;
//! and the cost of one measurement (a pool meter hit, a timer lateness record) against a
//! bare shared atomic `fetch_add`, and of one instrumented task poll against a bare poll.
//!
//! `cargo bench -p rtscope --bench pool`

use criterion::{Criterion, criterion_group, criterion_main};
use rtscope::pool::{Pool, PoolMeter};
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Barrier, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

const BUF: usize = 4096;

/// The baseline pool: a vector behind a mutex.
struct MutexPool {
    idle: Mutex<Vec<Vec<u8>>>,
    capacity: usize,
}

struct MutexPooled<'a> {
    pool: &'a MutexPool,
    obj: Vec<u8>,
}

impl MutexPool {
    fn get(&self) -> MutexPooled<'_> {
        let obj = self
            .idle
            .lock()
            .unwrap()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BUF));
        MutexPooled { pool: self, obj }
    }
}

impl Drop for MutexPooled<'_> {
    fn drop(&mut self) {
        let mut obj = std::mem::take(&mut self.obj);
        obj.clear();
        let mut idle = self.pool.idle.lock().unwrap();
        if idle.len() < self.pool.capacity {
            idle.push(obj);
        }
    }
}

/// What each variant does per iteration: take a 4 KiB buffer, write to it, give it back.
#[derive(Clone, Copy)]
enum Variant {
    Rtscope,
    Mutex,
    Fresh,
}

struct Pools {
    rtscope: Pool<Vec<u8>>,
    mutex: MutexPool,
}

fn one_op(p: &Pools, v: Variant) {
    match v {
        Variant::Rtscope => {
            let mut b = p.rtscope.get();
            b.push(1);
            black_box(&*b);
        }
        Variant::Mutex => {
            let mut b = p.pool_mutex().get();
            b.obj.push(1);
            black_box(&b.obj);
        }
        Variant::Fresh => {
            let mut b = Vec::<u8>::with_capacity(BUF);
            b.push(1);
            black_box(&b);
        }
    }
}

impl Pools {
    fn pool_mutex(&self) -> &MutexPool {
        &self.mutex
    }
}

fn pools() -> Pools {
    Pools {
        rtscope: Pool::builder("bench", || Vec::with_capacity(BUF))
            .with_capacity(64)
            .build(),
        mutex: MutexPool {
            idle: Mutex::new(Vec::new()),
            capacity: 64,
        },
    }
}

const VARIANTS: [(&str, Variant); 3] = [
    ("rtscope_pool", Variant::Rtscope),
    ("mutex_vec_pool", Variant::Mutex),
    ("fresh_alloc", Variant::Fresh),
];

fn get_put(c: &mut Criterion) {
    let p = pools();
    let mut g = c.benchmark_group("get_put_1_thread");
    for (name, v) in VARIANTS {
        g.bench_function(name, |b| b.iter(|| one_op(&p, v)));
    }
    g.finish();

    // Two threads doing the same loop at once; the time is per iteration of one thread.
    let mut g = c.benchmark_group("get_put_2_threads");
    for (name, v) in VARIANTS {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Barrier::new(2);
                std::thread::scope(|s| {
                    let other = s.spawn(|| {
                        start.wait();
                        for _ in 0..iters {
                            one_op(&p, v);
                        }
                    });
                    start.wait();
                    let t = Instant::now();
                    for _ in 0..iters {
                        one_op(&p, v);
                    }
                    other.join().unwrap();
                    t.elapsed()
                })
            })
        });
    }
    g.finish();
}

fn measurement_cost(c: &mut Criterion) {
    static SHARED: AtomicU64 = AtomicU64::new(0);
    let meter = PoolMeter::new("bench-meter");
    let mut g = c.benchmark_group("measurement");
    g.bench_function("bare_atomic_fetch_add", |b| {
        b.iter(|| SHARED.fetch_add(black_box(1), Ordering::Relaxed))
    });
    g.bench_function("pool_meter_hit", |b| b.iter(|| black_box(&meter).hit()));
    // One poll of a future that wakes itself each time (so every poll has a wake-to-poll
    // delay to record), bare and instrumented.
    let self_waking = || {
        std::future::poll_fn(|cx: &mut Context<'_>| {
            cx.waker().wake_by_ref();
            Poll::<()>::Pending
        })
    };
    let mut cx = Context::from_waker(Waker::noop());
    let mut bare = pin!(self_waking());
    g.bench_function("bare_poll", |b| {
        b.iter(|| black_box(bare.as_mut().poll(&mut cx)))
    });
    let mut wrapped = pin!(rtscope::task::instrument(self_waking()));
    g.bench_function("instrumented_poll", |b| {
        b.iter(|| black_box(wrapped.as_mut().poll(&mut cx)))
    });
    g.bench_function("timer_lateness_record", |b| {
        b.iter(|| rtscope::time::record_lateness(black_box(Duration::from_micros(37))))
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = get_put, measurement_cost
}
criterion_main!(benches);
