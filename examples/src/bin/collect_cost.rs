//! What each part's collection costs on the export thread: the median time of one call of
//! each part's series (what the pipeline runs at every export), named by its first series,
//! with a tokio runtime of 2 workers registered, glibc's allocator reported, and the heap in
//! two states: after a burst freed again (few large free chunks) and fragmented (every other
//! block of the burst freed: many small free chunks, `mallinfo2`'s worst case). Then one
//! `rtscope::alloc::trim()` of the freed burst. Then what asking jemalloc and mimalloc costs
//! (`AllocatorStats::held`, each used directly with the same fragmented heap). Last, what `rtscope::latency` costs the
//! calling thread outside any span and inside a sampled OpenTelemetry span (which keeps an
//! exemplar), and what `RtscopeLayer` adds to entering and leaving a tracing span beside
//! tracing-opentelemetry's layer (feature `tracing-opentelemetry`: it asks that layer for
//! the span's ids at every enter). Figures in docs/performance.md.
//!
//! ```text
//! cargo run --release -p rtscope-examples --bin collect_cost [-- ROUNDS]
//! ```

use rtscope::alloc::AllocatorStats;
use std::alloc::{GlobalAlloc, Layout};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

const BLOCKS: usize = 200_000;

fn print(state: &str, rounds: usize) {
    println!("{state}:");
    for (name, median) in rtscope::__private::series_costs(rounds) {
        println!("  {name:<40} {:>9.1} µs", median.as_secs_f64() * 1e6);
    }
}

/// The median time of `allocator.held()` with a fragmented heap of its own: `BLOCKS` blocks
/// of 200 B allocated from it directly, every other one freed.
fn held_cost<A: GlobalAlloc + AllocatorStats>(allocator: &A, rounds: usize) {
    let layout = Layout::from_size_align(200, 8).expect("a layout");
    // SAFETY: a non-zero layout; every block is freed once, below, with it.
    let blocks: Vec<*mut u8> = (0..BLOCKS)
        .map(|_| unsafe { allocator.alloc(layout) })
        .collect();
    for &b in blocks.iter().step_by(2) {
        // SAFETY: allocated above with `layout`, freed once.
        unsafe { allocator.dealloc(b, layout) };
    }
    let mut times: Vec<Duration> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(allocator.held());
            start.elapsed()
        })
        .collect();
    times.sort();
    println!(
        "{} held(), fragmented: {:.1} µs",
        allocator.name(),
        times[times.len() / 2].as_secs_f64() * 1e6
    );
    for &b in blocks.iter().skip(1).step_by(2) {
        // SAFETY: allocated above with `layout`, not yet freed, freed once.
        unsafe { allocator.dealloc(b, layout) };
    }
}

fn main() {
    let rounds = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("a runtime");
    rtscope::task::register_runtime(rt.handle());

    let mut blocks: Vec<Box<[u8]>> = (0..BLOCKS)
        .map(|i| vec![i as u8; 200].into_boxed_slice())
        .collect();
    let kept = blocks.pop();
    drop(blocks);
    print(&format!("burst of {BLOCKS} x 200 B freed"), rounds);

    let mut blocks: Vec<Option<Box<[u8]>>> = (0..BLOCKS)
        .map(|i| Some(vec![i as u8; 200].into_boxed_slice()))
        .collect();
    for b in blocks.iter_mut().step_by(2) {
        *b = None;
    }
    let held = rtscope::alloc::held_memory().unwrap_or_default();
    print(
        &format!(
            "fragmented: every other block freed ({} KiB free)",
            held.free >> 10
        ),
        rounds,
    );
    drop(blocks);

    let start = Instant::now();
    let returned = rtscope::alloc::trim();
    let took: Duration = start.elapsed();
    println!(
        "trim: {:.2} ms, returned {} KiB",
        took.as_secs_f64() * 1e3,
        returned.unwrap_or(0) >> 10
    );
    drop(kept);
    rt.shutdown_background();
    held_cost(&tikv_jemallocator::Jemalloc, rounds);
    held_cost(&mimalloc::MiMalloc, rounds);

    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    const CALLS: u32 = 1_000_000;
    let per_call = || {
        let start = Instant::now();
        for i in 0..CALLS {
            rtscope::latency("request", Duration::from_nanos(u64::from(i % 1000) * 1000));
        }
        start.elapsed().as_secs_f64() * 1e9 / f64::from(CALLS)
    };
    let outside = per_call();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let inside = provider.tracer("cost").in_span("request", |_| per_call());
    println!(
        "rtscope::latency: {outside:.1} ns outside a span, {inside:.1} ns inside a sampled span"
    );

    use tracing_subscriber::layer::SubscriberExt as _;
    let enter_exit = |subscriber: Box<dyn tracing::Subscriber + Send + Sync>| {
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request");
            let start = Instant::now();
            for _ in 0..CALLS {
                drop(std::hint::black_box(span.enter()));
            }
            start.elapsed().as_secs_f64() * 1e9 / f64::from(CALLS)
        })
    };
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("cost"));
    let alone = enter_exit(Box::new(tracing_subscriber::registry().with(otel)));
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("cost"));
    let rtscope = rtscope::tracing::RtscopeLayer::new();
    let with = enter_exit(Box::new(
        tracing_subscriber::registry().with(rtscope).with(otel),
    ));
    let own = enter_exit(Box::new(
        tracing_subscriber::registry().with(rtscope::tracing::RtscopeLayer::new()),
    ));
    println!(
        "tracing span enter+exit: {own:.1} ns with RtscopeLayer alone, {alone:.1} ns with \
         tracing-opentelemetry's layer alone, {with:.1} ns with both"
    );
}
