//! A child process for the trace-id test through `tracing`: the application's tracing
//! subscriber has tracing-opentelemetry's layer (every span an OpenTelemetry span of the
//! SDK's tracer, made current while it is entered) and, added after it, rtscope's layer;
//! with `RTSCOPE_TEST_RTSCOPE_FIRST=1`, rtscope's layer first.
//!
//! In the tracing span `request`, the child span `parse` allocates a paced burst of 36 MiB
//! (576 blocks of 64 KiB) and records `rtscope::latency("request", 9 ms)`; then the same
//! burst in the scope `outside`, in no span. Prints `REQUEST <trace id> <span id>` and
//! `PARSE <trace id> <span id>` (hex) of the two OpenTelemetry spans, waits
//! `RTSCOPE_TEST_HOLD_MS` (default 0), then prints `DONE`.

use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use rtscope_integration::sampling::CASE_BLOCKS;
use std::time::Duration;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::layer::SubscriberExt as _;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

/// 576 blocks of 64 KiB, paced so that every sample becomes a log record: 67.7 samples
/// expected at the default interval, fewer than the test's 32 with probability 1.3e-7
/// (`rtscope_integration::sampling::CASE_BLOCKS`).
fn burst() {
    rtscope_integration::sampling::paced_blocks(64 * 1024, CASE_BLOCKS);
}

fn ids(span: &tracing::Span) -> String {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    format!("{} {}", sc.trace_id(), sc.span_id())
}

fn main() {
    let guard = rtscope::Agent::builder()
        .install()
        .expect("rtscope installs");
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let tracer = provider.tracer("app");
    let rtscope = rtscope::tracing::RtscopeLayer::new;
    let registry = tracing_subscriber::registry;
    let subscriber: Box<dyn tracing::Subscriber + Send + Sync> =
        if std::env::var_os("RTSCOPE_TEST_RTSCOPE_FIRST").is_some() {
            let otel = tracing_opentelemetry::layer().with_tracer(tracer);
            Box::new(registry().with(rtscope()).with(otel))
        } else {
            let otel = tracing_opentelemetry::layer().with_tracer(tracer);
            Box::new(registry().with(otel).with(rtscope()))
        };
    tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!("request");
        request.in_scope(|| {
            let parse = tracing::info_span!("parse");
            parse.in_scope(|| {
                burst();
                rtscope::latency("request", Duration::from_millis(9));
            });
            println!("PARSE {}", ids(&parse));
        });
        println!("REQUEST {}", ids(&request));
        rtscope::scope("outside", burst);
    });
    let hold = std::env::var("RTSCOPE_TEST_HOLD_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    std::thread::sleep(Duration::from_millis(hold));
    drop(guard);
    println!("DONE");
}
