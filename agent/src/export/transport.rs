//! Where requests go: an OTLP collector over gRPC or HTTP/protobuf, or OTLP/JSON lines in a
//! file. Runs only on the export thread, on its own small tokio runtime.

use crate::config::{Compression, Destination, OtlpTarget, Protocol};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use prost::Message;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;
use tokio::runtime::Runtime;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

/// One request: a metrics snapshot or a batch of events.
#[derive(Debug)]
pub(crate) enum Payload {
    Metrics(ExportMetricsServiceRequest),
    Logs(ExportLogsServiceRequest),
}

/// A delivery that failed, with a message fit for one log line.
#[derive(Debug)]
pub(crate) struct SendError(pub(crate) String);

#[derive(Debug)]
pub(crate) enum Sink {
    Grpc {
        client: Box<MetricsServiceClient<Channel>>,
        logs: Box<LogsServiceClient<Channel>>,
        metadata: MetadataMap,
        timeout: Duration,
        endpoint: String,
    },
    Http {
        client: reqwest::Client,
        url: String,
        logs_url: String,
        headers: Vec<(String, String)>,
        gzip: bool,
        timeout: Duration,
    },
    File {
        path: PathBuf,
    },
}

impl Sink {
    /// Builds the sink. A collector that is not there yet is not an error: gRPC connects
    /// lazily and HTTP per request, so export starts working whenever it comes up.
    pub(crate) fn new(destination: &Destination, rt: &Runtime) -> Result<Sink, SendError> {
        match destination {
            Destination::File(path) => Ok(Sink::File { path: path.clone() }),
            Destination::Otlp(t) => match t.protocol {
                Protocol::Grpc => grpc(t, rt),
                Protocol::HttpProtobuf => {
                    let _enter = rt.enter();
                    http(t)
                }
            },
        }
    }

    /// Where the data goes, for log lines.
    pub(crate) fn describe(&self) -> String {
        match self {
            Sink::Grpc { endpoint, .. } => format!("OTLP/gRPC {endpoint}"),
            Sink::Http { url, .. } => format!("OTLP/HTTP {url}"),
            Sink::File { path } => format!("OTLP/JSON file {}", path.display()),
        }
    }

    pub(crate) fn send(&mut self, rt: &Runtime, payload: Payload) -> Result<(), SendError> {
        match self {
            Sink::Grpc {
                client,
                logs,
                metadata,
                timeout,
                ..
            } => {
                let timeout = *timeout;
                let rejected = match payload {
                    Payload::Metrics(req) => {
                        let call = client.export(grpc_request(req, metadata, timeout));
                        grpc_call(rt, timeout, call)?
                            .partial_success
                            .map(|p| (p.rejected_data_points, "data points", p.error_message))
                    }
                    Payload::Logs(req) => {
                        let call = logs.export(grpc_request(req, metadata, timeout));
                        grpc_call(rt, timeout, call)?
                            .partial_success
                            .map(|p| (p.rejected_log_records, "log records", p.error_message))
                    }
                };
                match rejected {
                    Some((n, what, message)) if n > 0 => Err(SendError(format!(
                        "collector rejected {n} {what}: {message}"
                    ))),
                    _ => Ok(()),
                }
            }
            Sink::Http {
                client,
                url,
                logs_url,
                headers,
                gzip,
                timeout,
            } => {
                let (url, mut body) = match payload {
                    Payload::Metrics(req) => (url.as_str(), req.encode_to_vec()),
                    Payload::Logs(req) => (logs_url.as_str(), req.encode_to_vec()),
                };
                let mut builder = client
                    .post(url)
                    .timeout(*timeout)
                    .header("content-type", "application/x-protobuf");
                if *gzip {
                    let mut enc =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                    enc.write_all(&body)
                        .and_then(|_| enc.finish())
                        .map(|b| body = b)
                        .map_err(|e| SendError(format!("gzip: {e}")))?;
                    builder = builder.header("content-encoding", "gzip");
                }
                for (k, v) in headers.iter() {
                    builder = builder.header(k.as_str(), v.as_str());
                }
                let resp = rt
                    .block_on(async move { builder.body(body).send().await })
                    .map_err(|e| SendError(error_chain(&e)))?;
                let status = resp.status();
                if status.is_success() {
                    Ok(())
                } else {
                    let text = rt.block_on(resp.text()).unwrap_or_default();
                    Err(SendError(format!(
                        "HTTP {status}: {}",
                        text.chars().take(200).collect::<String>()
                    )))
                }
            }
            Sink::File { path } => {
                let line = match &payload {
                    Payload::Metrics(req) => serde_json::to_string(req),
                    Payload::Logs(req) => serde_json::to_string(req),
                }
                .map_err(|e| SendError(format!("encode JSON: {e}")))?;
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&*path)
                    .and_then(|mut f| writeln!(f, "{line}"))
                    .map_err(|e| SendError(format!("write {}: {e}", path.display())))
            }
        }
    }
}

/// Runs one gRPC export call to its answer or `timeout`, whatever the collector does.
fn grpc_call<R>(
    rt: &Runtime,
    timeout: Duration,
    call: impl std::future::Future<Output = Result<tonic::Response<R>, tonic::Status>>,
) -> Result<R, SendError> {
    rt.block_on(async { tokio::time::timeout(timeout, call).await })
        .map_err(|_| SendError(format!("no answer within {timeout:?}")))?
        .map(tonic::Response::into_inner)
        .map_err(|s| SendError(format!("{}: {}", s.code(), s.message())))
}

fn grpc_request<T>(req: T, metadata: &MetadataMap, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(req);
    *request.metadata_mut() = metadata.clone();
    request.set_timeout(timeout);
    request
}

/// "error: cause: cause" so a log line says why, not only that.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn grpc(t: &OtlpTarget, rt: &Runtime) -> Result<Sink, SendError> {
    let mut endpoint = Endpoint::from_shared(t.metrics_endpoint.clone())
        .map_err(|e| SendError(format!("endpoint {:?}: {e}", t.metrics_endpoint)))?
        .connect_timeout(t.timeout)
        .timeout(t.timeout);
    if t.metrics_endpoint.starts_with("https://") {
        endpoint = endpoint
            .tls_config(ClientTlsConfig::new().with_native_roots())
            .map_err(|e| SendError(format!("TLS: {e}")))?;
    }
    let channel = {
        let _enter = rt.enter();
        endpoint.connect_lazy()
    };
    let mut client = MetricsServiceClient::new(channel.clone());
    let mut logs = LogsServiceClient::new(channel);
    if t.compression == Compression::Gzip {
        client = client.send_compressed(CompressionEncoding::Gzip);
        logs = logs.send_compressed(CompressionEncoding::Gzip);
    }
    let mut metadata = MetadataMap::new();
    for (k, v) in &t.headers {
        let key = MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|_| SendError(format!("header name {k:?} is not valid gRPC metadata")))?;
        let value = MetadataValue::try_from(v.as_str()).map_err(|_| {
            SendError(format!(
                "header {k:?} has a value that is not valid gRPC metadata"
            ))
        })?;
        metadata.insert(key, value);
    }
    Ok(Sink::Grpc {
        client: Box::new(client),
        logs: Box::new(logs),
        metadata,
        timeout: t.timeout,
        endpoint: t.metrics_endpoint.clone(),
    })
}

fn http(t: &OtlpTarget) -> Result<Sink, SendError> {
    // reqwest is built without a bundled crypto provider; use ring, once per process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .connect_timeout(t.timeout)
        .build()
        .map_err(|e| SendError(format!("HTTP client: {}", error_chain(&e))))?;
    Ok(Sink::Http {
        client,
        url: t.metrics_endpoint.clone(),
        logs_url: t.logs_endpoint.clone(),
        headers: t.headers.clone(),
        gzip: t.compression == Compression::Gzip,
        timeout: t.timeout,
    })
}
