//! A child process for the trace-context tests: the application's own OpenTelemetry SDK
//! (every span sampled, exported over OTLP/gRPC to `RTSCOPE_TEST_SDK_ENDPOINT`) and rtscope
//! installed as documented (`with_resource(&resource)`, the SDK's resource), exporting as the
//! `OTEL_*` variables say.
//!
//! Each case allocates 576 blocks (36 MiB) of a size of its own, paced (see
//! `rtscope_integration::sampling::paced_blocks`), inside one SDK span, and prints `CASE <span name> <block size>` (`-` for the case outside any span), so the test
//! finds the case's samples by their `rust.memory.allocation.size` and the span by its name
//! among those the SDK exported:
//!
//! - `async-in-scope`: `async { .. }.in_scope("g3").with_context(cx)`, polled twice (an
//!   `.await` in the middle) on a current-thread runtime;
//! - `async-fn`: a `#[rtscope::scope] async fn` polled `.with_context(cx)` on a
//!   multi-threaded runtime, `cx` a child of a propagated (remote) parent whose ids are
//!   printed as `REMOTE <trace id> <span id>` (hex);
//! - `child`: an SDK span opened inside the scope `nested`, itself inside the span `parent`;
//! - `bare`: an SDK span with no rtscope scope at all;
//! - `-`: no span.
//!
//! Then `DONE`.

use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt as _, TraceFlags, TraceId, TraceState, Tracer as _,
    TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use rtscope::scope::ScopeExt as _;
use rtscope_integration::sampling::{CASE_BLOCKS, paced_blocks};
use std::time::Duration;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

/// The propagated parent of `async-fn`, as a `traceparent` header would give it.
const REMOTE_TRACE: u128 = 0x4bf92f3577b34da6a3ce929d0e0e4736;
const REMOTE_SPAN: u64 = 0x00f067aa0ba902b7;

/// A case's blocks of `size` (> 64 KiB) bytes, paced so that every sample becomes a log
/// record: more than 67.7 samples expected at the default interval, fewer than the test's
/// 32 with probability under 1.3e-7, 7e-7 for the five cases
/// (`rtscope_integration::sampling::CASE_BLOCKS`).
fn burst(size: usize) {
    paced_blocks(size, CASE_BLOCKS);
}

/// Half the case's blocks, an `.await` that suspends the future once, the other half.
async fn two_polls(size: usize) {
    paced_blocks(size, CASE_BLOCKS / 2);
    tokio::task::yield_now().await;
    paced_blocks(size, CASE_BLOCKS - CASE_BLOCKS / 2);
}

#[rtscope::scope]
async fn handle(size: usize) {
    two_polls(size).await;
}

fn case(name: &str, size: usize) -> usize {
    println!("CASE {name} {size}");
    size
}

fn main() {
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("checkout")
        .with_attributes([KeyValue::new("service.version", "1.2.3")])
        .build();
    let guard = rtscope::Agent::builder()
        .with_resource(&resource)
        .install()
        .expect("rtscope installs");
    let endpoint = std::env::var("RTSCOPE_TEST_SDK_ENDPOINT").expect("RTSCOPE_TEST_SDK_ENDPOINT");
    let provider = rtscope_integration::app_sdk::tracer_provider(endpoint, resource);
    let tracer = provider.tracer("app");

    // 1. Async scopes.
    let size = case("async-in-scope", 65_536 + 16);
    let cx = Context::current_with_span(tracer.start("async-in-scope"));
    let current = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    current.block_on(two_polls(size).in_scope("g3").with_context(cx.clone()));
    cx.span().end();

    let size = case("async-fn", 65_536 + 32);
    let remote = Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(REMOTE_TRACE),
        SpanId::from(REMOTE_SPAN),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ));
    println!(
        "REMOTE {} {}",
        TraceId::from(REMOTE_TRACE),
        SpanId::from(REMOTE_SPAN)
    );
    let cx = remote.with_span(tracer.start_with_context("async-fn", &remote));
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("a runtime");
    let task = multi.spawn(handle(size).with_context(cx.clone()));
    multi.block_on(task).expect("the task");
    cx.span().end();

    // 2. The innermost span.
    let size = case("child", 65_536 + 48);
    tracer.in_span("parent", |_| {
        rtscope::scope("nested", || tracer.in_span("child", |_| burst(size)));
    });
    let size = case("bare", 65_536 + 64);
    tracer.in_span("bare", |_| burst(size));

    let size = case("-", 65_536 + 80);
    burst(size);

    drop(multi);
    drop(current);
    provider.shutdown().expect("the SDK's spans exported");
    std::thread::sleep(Duration::from_millis(300));
    drop(guard);
    println!("DONE");
}
