//! The application's own OpenTelemetry SDK in the tests: a tracer provider whose spans go
//! over OTLP/gRPC to the collector rtscope exports to (the SDK's spans converted by
//! opentelemetry-proto, sent by tonic), so a test matches the ids on rtscope's samples,
//! exemplars and spike events with the spans the SDK itself exported, both read back from
//! the collector.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};

/// Sends each batch of the SDK's spans to an OTLP/gRPC endpoint (a new connection per
/// batch: tests end few spans).
#[derive(Debug)]
pub struct GrpcSpans {
    endpoint: String,
    resource: ResourceAttributesWithSchema,
}

impl GrpcSpans {
    /// An exporter to `endpoint` (`http://127.0.0.1:<port>`).
    pub fn new(endpoint: impl Into<String>) -> GrpcSpans {
        GrpcSpans {
            endpoint: endpoint.into(),
            resource: ResourceAttributesWithSchema::default(),
        }
    }
}

impl SpanExporter for GrpcSpans {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(batch, &self.resource),
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

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = resource.into();
    }
}

/// The application's tracer provider: every span sampled, batched to `endpoint` over
/// OTLP/gRPC under `resource`. Its `shutdown` exports what is left.
pub fn tracer_provider(endpoint: impl Into<String>, resource: Resource) -> SdkTracerProvider {
    SdkTracerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(GrpcSpans::new(endpoint))
        .build()
}
