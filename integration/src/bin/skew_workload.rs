//! A child process for the version-skew test: an application on OpenTelemetry 0.32 (its SDK,
//! and tracing-opentelemetry 0.33 made for it) with rtscope built on 0.33. Its tracing
//! subscriber has tracing-opentelemetry's layer (every span an SDK 0.32 span, exported over
//! OTLP/gRPC to `RTSCOPE_TEST_SDK_ENDPOINT`) and rtscope's. rtscope is installed without
//! `with_resource`: with it, this program would not compile (the 0.32 SDK's `Resource` is
//! not the one rtscope takes).
//!
//! In the tracing span `request`, 576 blocks of 65 632 bytes (paced); prints
//! `CASE request 65632`, then `DONE`.

use opentelemetry_0_32::trace::TracerProvider as _;
use opentelemetry_sdk_0_32::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk_0_32::trace::{SdkTracerProvider, SpanData, SpanExporter};
use rtscope_integration::sampling::CASE_BLOCKS;
use std::time::{Duration, UNIX_EPOCH};
use tracing_subscriber::layer::SubscriberExt as _;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

const SIZE: usize = 65_632;

/// The 0.32 SDK's spans as OTLP (the fields the test reads), sent over gRPC.
#[derive(Debug)]
struct Grpc {
    endpoint: String,
}

fn nanos(t: std::time::SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl SpanExporter for Grpc {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        let spans = batch
            .iter()
            .map(|s| Span {
                trace_id: s.span_context.trace_id().to_bytes().to_vec(),
                span_id: s.span_context.span_id().to_bytes().to_vec(),
                parent_span_id: s.parent_span_id.to_bytes().to_vec(),
                name: s.name.to_string(),
                start_time_unix_nano: nanos(s.start_time),
                end_time_unix_nano: nanos(s.end_time),
                ..Span::default()
            })
            .collect();
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        let failed = |e: String| OTelSdkError::InternalFailure(e);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| failed(e.to_string()))?;
        rt.block_on(async {
            let mut client = TraceServiceClient::connect(self.endpoint.clone())
                .await
                .map_err(|e| failed(e.to_string()))?;
            client
                .export(request)
                .await
                .map(|_| ())
                .map_err(|e| failed(e.to_string()))
        })
    }
}

fn main() {
    let guard = rtscope::Agent::builder()
        .install()
        .expect("rtscope installs");
    let endpoint = std::env::var("RTSCOPE_TEST_SDK_ENDPOINT").expect("RTSCOPE_TEST_SDK_ENDPOINT");
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(Grpc { endpoint })
        .build();
    let otel = tracing_opentelemetry_0_33::layer().with_tracer(provider.tracer("app"));
    let subscriber = tracing_subscriber::registry()
        .with(otel)
        .with(rtscope::tracing::RtscopeLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("request").in_scope(|| {
            // Paced so that every sample becomes a log record: more than 67.7 samples
            // expected at the default interval, fewer than the test's 32 with probability
            // under 1.3e-7 (`rtscope_integration::sampling::CASE_BLOCKS`).
            rtscope_integration::sampling::paced_blocks(SIZE, CASE_BLOCKS);
        });
    });
    println!("CASE request {SIZE}");
    provider.shutdown().expect("the SDK's spans exported");
    std::thread::sleep(Duration::from_millis(300));
    drop(guard);
    println!("DONE");
}
