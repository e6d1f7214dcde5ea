//! Cost of rtscope's accounting per allocation+free, next to the bare system allocator, in
//! one process: `Alloc::system()` is called directly (not as the global allocator), so both
//! cases run the same loop; only the wrapper differs. `alloc_overhead` (examples crate)
//! measures whole workloads with each allocator installed globally.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;

static RTSCOPE: rtscope::Alloc = rtscope::Alloc::system();

fn pair(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_free");
    g.throughput(Throughput::Elements(1));
    for size in [64usize, 4096, 65536] {
        let layout = Layout::from_size_align(size, 8).unwrap();
        g.bench_with_input(BenchmarkId::new("system", size), &layout, |b, &l| {
            // SAFETY: non-zero size; freed with the same layout.
            b.iter(|| unsafe { System.dealloc(black_box(System.alloc(l)), l) })
        });
        g.bench_with_input(BenchmarkId::new("rtscope", size), &layout, |b, &l| {
            // SAFETY: non-zero size; freed with the same layout.
            b.iter(|| unsafe { RTSCOPE.dealloc(black_box(RTSCOPE.alloc(l)), l) })
        });
    }
    g.finish();
}

fn snapshot(c: &mut Criterion) {
    c.bench_function("stats_snapshot", |b| {
        b.iter(|| black_box(rtscope::alloc::stats()))
    });
}

criterion_group!(benches, pair, snapshot);
criterion_main!(benches);
