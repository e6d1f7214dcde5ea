//! A child process for the OpenTelemetry SDK test: the application's own SDK
//! `MeterProvider` and rtscope share one `Resource` (`AgentBuilder::with_resource`) and
//! export to the same collector, the SDK over OTLP/gRPC to `RTSCOPE_TEST_SDK_ENDPOINT`
//! (a minimal push exporter: the SDK's data converted by opentelemetry-proto, sent by
//! tonic), rtscope as the `OTEL_*` variables say. The SDK counter `app.requests` is 7.
//!
//! Inside one span of the SDK's tracer, `rtscope::latency("request", 7 ms)` and a paced
//! burst of 36 MiB (576 blocks of 64 KiB) in the scope `traced-burst`; outside any span,
//! `rtscope::latency("request", 200 µs)` and the same burst in `untraced-burst`. Prints
//! `TRACE <trace id> <span id>` (hex) of that span, waits `RTSCOPE_TEST_HOLD_MS` (default 0:
//! spike detection runs every second), then prints `DONE`.

use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use rtscope_integration::sampling::CASE_BLOCKS;
use std::time::Duration;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

struct Grpc {
    endpoint: String,
}

impl PushMetricExporter for Grpc {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let request = ExportMetricsServiceRequest::from(metrics);
        let failed = |e: String| OTelSdkError::InternalFailure(e);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| failed(e.to_string()))?;
        rt.block_on(async {
            let mut client = MetricsServiceClient::connect(self.endpoint.clone())
                .await
                .map_err(|e| failed(e.to_string()))?;
            client
                .export(request)
                .await
                .map(|_| ())
                .map_err(|e| failed(e.to_string()))
        })
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

/// 576 blocks of 64 KiB, paced so that every sample becomes a log record: 67.7 samples
/// expected at the default interval, fewer than the test's 32 with probability 1.3e-7
/// (`rtscope_integration::sampling::CASE_BLOCKS`).
fn burst() {
    rtscope_integration::sampling::paced_blocks(64 * 1024, CASE_BLOCKS);
}

fn main() {
    let resource = Resource::builder()
        .with_service_name("checkout")
        .with_attributes([
            KeyValue::new("service.version", "1.2.3"),
            KeyValue::new("deployment.environment.name", "staging"),
            KeyValue::new("service.instance.number", 42_i64),
        ])
        .build();
    let guard = rtscope::Agent::builder()
        .with_resource(&resource)
        .install()
        .expect("rtscope installs");
    let exporter = Grpc {
        endpoint: std::env::var("RTSCOPE_TEST_SDK_ENDPOINT").expect("RTSCOPE_TEST_SDK_ENDPOINT"),
    };
    let provider = SdkMeterProvider::builder()
        .with_resource(resource)
        .with_reader(PeriodicReader::builder(exporter).build())
        .build();
    provider
        .meter("app")
        .u64_counter("app.requests")
        .build()
        .add(7, &[]);
    let tracer_provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    tracer_provider.tracer("app").in_span("request", |cx| {
        let sc = cx.span().span_context().clone();
        rtscope::latency("request", Duration::from_millis(7));
        // Allocations in a scope entered inside the span: their samples carry its ids.
        rtscope::scope("traced-burst", burst);
        println!("TRACE {} {}", sc.trace_id(), sc.span_id());
    });
    // Outside any span: samples without a trace.
    rtscope::scope("untraced-burst", burst);
    rtscope::latency("request", Duration::from_micros(200));
    let hold = std::env::var("RTSCOPE_TEST_HOLD_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    std::thread::sleep(Duration::from_millis(hold));
    provider.shutdown().expect("the SDK's final export");
    drop(guard);
    println!("DONE");
}
