//! The OTLP/gRPC sink: tonic clients of the metrics, logs and profiles services on lazily
//! connecting channels, each connection made through [`resolve`] and counted ([`live`]), and
//! what a gRPC status means for a retry.

use super::live;
use super::redact::{self, Secrets};
use super::resolve;
use super::retry::{Failure, Retry, retry_info, with_retries};
use super::signals::Signal;
use super::tls;
use super::{Payload, Request, SendError, chain_after, check_rejected, echo_without};
use crate::config::{Compression, OtlpTarget, TlsFiles, redact_url};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};

/// The gRPC client of OTLP Profiles (nothing without the `profiles` feature).
#[cfg(feature = "profiles")]
type ProfilesClient = Box<
    opentelemetry_proto::tonic::collector::profiles::v1development::profiles_service_client::ProfilesServiceClient<Channel>,
>;
#[cfg(not(feature = "profiles"))]
type ProfilesClient = Box<()>;

/// The gRPC sink: one client per signal, the metadata sent with every request.
pub(super) struct GrpcSink {
    client: Box<MetricsServiceClient<Channel>>,
    logs: Box<LogsServiceClient<Channel>>,
    /// On the metrics channel.
    profiles: ProfilesClient,
    metadata: MetadataMap,
    timeout: Duration,
    /// The metrics endpoint for log lines, userinfo redacted.
    shown: String,
    /// The logs endpoint, when it is another one.
    shown_logs: Option<String>,
    /// The TLS files in use, for the advice of a TLS failure.
    tls: TlsFiles,
    /// The connections of the metrics channel (profiles too) and of the logs channel
    /// (the same when the endpoints are).
    connections: Arc<live::Connections>,
    logs_connections: Arc<live::Connections>,
}

impl GrpcSink {
    /// Where `signals` go, for log lines: the endpoints.
    pub(super) fn describe(&self, signals: &[Signal]) -> String {
        let (shown, shown_logs) = (&self.shown, &self.shown_logs);
        let logs = signals.contains(&Signal::Logs);
        let others = signals.iter().any(|s| *s != Signal::Logs);
        match shown_logs {
            Some(l) if logs && !others => format!("OTLP/gRPC {l}"),
            Some(l) if logs => format!("OTLP/gRPC {shown} (logs {l})"),
            _ => format!("OTLP/gRPC {shown}"),
        }
    }

    /// One request with its retries (see [`Sink::send`](super::Sink::send)), on its own
    /// deadline.
    pub(super) async fn send(
        &self,
        request: &Request,
        secrets: &Secrets,
        now: Instant,
    ) -> Result<(), Failure> {
        let GrpcSink {
            client,
            logs,
            profiles,
            metadata,
            timeout,
            tls,
            connections,
            logs_connections,
            ..
        } = self;
        let resend_safe = request.resend_safe;
        let payload = &request.payload;
        let deadline = now + *timeout;
        // tonic holds a request until its channel has a connection: one that times out
        // with none live as it began and none made since was never sent.
        let connections = match payload.signal() {
            Signal::Logs => logs_connections,
            _ => connections,
        };
        let before = connections.before();
        let could_have_sent = || connections.could_have_sent(before);
        with_retries(deadline, *timeout, resend_safe, could_have_sent, |left| {
            let (client, logs, profiles) = (client.clone(), logs.clone(), profiles.clone());
            grpc_attempt(
                client, logs, profiles, payload, metadata, left, secrets, tls,
            )
        })
        .await
    }
}

/// Largest gRPC response message decoded (an export answer is a few bytes).
const GRPC_MESSAGE_LIMIT: usize = 64 * 1024;
/// Largest HTTP/2 header list (status, message and details trailers included) accepted.
const GRPC_HEADER_LIMIT: u32 = 16 * 1024;

/// `url` without its userinfo (gRPC sends credentials as metadata, never in `:authority`).
fn without_userinfo(url: &str) -> String {
    match (url.split_once("://"), redact::userinfo(url)) {
        (Some((scheme, rest)), Some(info)) => format!("{scheme}://{}", &rest[info.len() + 1..]),
        _ => url.to_owned(),
    }
}

/// Whether a request that ended in `status` may have been taken. A status that comes from the
/// connection (it has an error source) delivered nothing when connecting failed
/// (`tonic::ConnectError`: refused, name lookup, TLS), else may have (a reset, a timeout);
/// a status the collector answered means "not accepted" for the codes a server gives
/// before processing anything (UNAVAILABLE, RESOURCE_EXHAUSTED, INVALID_ARGUMENT, ...).
pub(super) fn grpc_maybe_delivered(status: &tonic::Status) -> bool {
    use tonic::Code;
    let mut source = std::error::Error::source(status);
    let from_connection = source.is_some();
    while let Some(e) = source {
        if e.is::<tonic::ConnectError>() {
            return false;
        }
        source = e.source();
    }
    from_connection
        || !matches!(
            status.code(),
            Code::InvalidArgument
                | Code::NotFound
                | Code::AlreadyExists
                | Code::PermissionDenied
                | Code::ResourceExhausted
                | Code::FailedPrecondition
                | Code::OutOfRange
                | Code::Unimplemented
                | Code::Unavailable
                | Code::Unauthenticated
        )
}

pub(super) fn grpc_retry(status: &tonic::Status) -> Retry {
    use tonic::Code;
    let delay = retry_info(status.details());
    match status.code() {
        Code::ResourceExhausted => delay.map_or(Retry::No, Retry::After),
        Code::Unavailable => delay
            .filter(|d| !d.is_zero())
            .map_or(Retry::Backoff, Retry::After),
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::DataLoss => Retry::Backoff,
        _ => Retry::No,
    }
}

/// The failure of a request that ended in `status`: its code and message (the collector's,
/// secrets removed), the errors below it when it came from the connection (tonic says only
/// "transport error"), and what to fix when that was TLS.
fn grpc_failure(status: &tonic::Status, secrets: &Secrets, tls: &TlsFiles) -> Failure {
    let source = std::error::Error::source(status);
    let code = status.code();
    // A status from the connection repeats its source's text ("transport error"): each
    // text is said once.
    let text = match source {
        Some(source) => chain_after(status.message().to_owned(), source),
        None => status.message().to_owned(),
    };
    let mut message = code.to_string();
    if !text.trim().is_empty() {
        message = format!("{message}: {}", echo_without(text.trim(), secrets));
    }
    if let Some(advice) = source.and_then(|s| tls::advice(s, tls)) {
        message = format!("{message}; {advice}");
    }
    Failure {
        message,
        retry: grpc_retry(status),
        maybe_delivered: grpc_maybe_delivered(status),
        not_taken: code == tonic::Code::Unimplemented,
        // A status the collector sent; one from the connection is its message.
        cause: source.is_none().then(|| format!("gRPC {code}")),
    }
}

#[allow(clippy::too_many_arguments)]
async fn grpc_attempt(
    mut client: Box<MetricsServiceClient<Channel>>,
    mut logs: Box<LogsServiceClient<Channel>>,
    #[allow(unused_mut, unused_variables)] mut profiles: ProfilesClient,
    payload: &Payload,
    metadata: &MetadataMap,
    left: Duration,
    secrets: &Secrets,
    tls: &TlsFiles,
) -> Result<(), Failure> {
    let failed = |s: tonic::Status| grpc_failure(&s, secrets, tls);
    let rejected = match payload {
        Payload::Metrics(req) => client
            .export(grpc_request(req.clone(), metadata, left))
            .await
            .map_err(failed)?
            .into_inner()
            .partial_success
            .map(|p| (p.rejected_data_points, "data points", p.error_message)),
        Payload::Logs(req) => logs
            .export(grpc_request(req.clone(), metadata, left))
            .await
            .map_err(failed)?
            .into_inner()
            .partial_success
            .map(|p| (p.rejected_log_records, "log records", p.error_message)),
        #[cfg(feature = "profiles")]
        Payload::Profiles(req) => profiles
            .export(grpc_request(req.clone(), metadata, left))
            .await
            .map_err(failed)?
            .into_inner()
            .partial_success
            .map(|p| (p.rejected_profiles, "profiles", p.error_message)),
    };
    check_rejected(rejected, secrets)
}

fn grpc_request<T>(req: T, metadata: &MetadataMap, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(req);
    *request.metadata_mut() = metadata.clone();
    request.set_timeout(timeout);
    request
}

/// A lazily connecting channel to `url`, its answers bounded, connecting through
/// [`resolve`] (tonic adds TLS for `https://`), and the count of its connections.
fn grpc_channel(
    url: &str,
    t: &OtlpTarget,
    rt: &Runtime,
) -> Result<(Channel, Arc<live::Connections>), SendError> {
    #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
    let mut endpoint = Endpoint::from_shared(without_userinfo(url))
        .map_err(|e| SendError::new(format!("endpoint {}: {e}", redact_url(url))))?
        .timeout(t.timeout)
        .http2_max_header_list_size(GRPC_HEADER_LIMIT);
    // Without TLS tonic would connect in plaintext to an https:// endpoint.
    #[cfg(not(feature = "tls"))]
    if url.starts_with("https://") {
        return Err(SendError::new(format!(
            "endpoint {}: https needs rtscope's `tls` feature, which is off in this build",
            redact_url(url)
        )));
    }
    #[cfg(feature = "tls")]
    if url.starts_with("https://") {
        // tonic uses ring here (or a provider the application installed); it installs none.
        endpoint = endpoint
            .tls_config(tls::tonic_config(&t.tls)?)
            .map_err(|e| SendError::new(format!("TLS: {e}")))?;
    }
    let _enter = rt.enter();
    // The connect timeout is the connector's (tonic's own would not mark its failure as a
    // connection's), a little under the request's so a connection that fails says so.
    let connections = Arc::new(live::Connections::default());
    let channel = endpoint.connect_with_connector_lazy(GrpcConnector {
        connect_timeout: t.timeout.mul_f64(0.9),
        connections: connections.clone(),
    });
    Ok((channel, connections))
}

/// tonic's connector: [`resolve::connect`] within `connect_timeout`, each connection
/// counted in `connections`.
#[derive(Clone)]
struct GrpcConnector {
    connect_timeout: Duration,
    connections: Arc<live::Connections>,
}

impl tonic::codegen::Service<tonic::codegen::http::Uri> for GrpcConnector {
    type Response = hyper_util::rt::TokioIo<live::Counted<tokio::net::TcpStream>>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: tonic::codegen::http::Uri) -> Self::Future {
        let deadline = Instant::now() + self.connect_timeout;
        let connections = self.connections.clone();
        Box::pin(async move {
            let host = uri.host().unwrap_or_default();
            let tls = uri.scheme_str() == Some("https");
            let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
            resolve::connect(host, port, deadline)
                .await
                .map(|tcp| hyper_util::rt::TokioIo::new(connections.count(tcp)))
                .map_err(std::io::Error::other)
        })
    }
}

impl GrpcSink {
    /// The clients of `t`'s endpoints, connecting lazily on `rt`.
    pub(super) fn new(t: &OtlpTarget, rt: &Runtime) -> Result<GrpcSink, SendError> {
        let (channel, connections) = grpc_channel(&t.metrics_endpoint, t, rt)?;
        // The logs endpoint gets its own channel when it is another address.
        let (logs_channel, logs_connections) = if t.logs_endpoint == t.metrics_endpoint {
            (channel.clone(), connections.clone())
        } else {
            grpc_channel(&t.logs_endpoint, t, rt)?
        };
        let mut client = MetricsServiceClient::new(channel.clone())
            .max_decoding_message_size(GRPC_MESSAGE_LIMIT);
        let mut logs =
            LogsServiceClient::new(logs_channel).max_decoding_message_size(GRPC_MESSAGE_LIMIT);
        #[cfg(feature = "profiles")]
    let mut profiles = Box::new(
        opentelemetry_proto::tonic::collector::profiles::v1development::profiles_service_client::ProfilesServiceClient::new(
            channel.clone(),
        )
        .max_decoding_message_size(GRPC_MESSAGE_LIMIT),
    );
        #[cfg(not(feature = "profiles"))]
        let profiles = Box::new(());
        if t.compression == Compression::Gzip {
            client = client.send_compressed(CompressionEncoding::Gzip);
            logs = logs.send_compressed(CompressionEncoding::Gzip);
            #[cfg(feature = "profiles")]
            {
                profiles = Box::new(profiles.send_compressed(CompressionEncoding::Gzip));
            }
        }
        let mut metadata = MetadataMap::new();
        for (k, v) in &t.headers {
            let key = MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes()).map_err(|_| {
                SendError::new(format!("header name {k:?} is not valid gRPC metadata"))
            })?;
            let value = MetadataValue::try_from(v.as_str()).map_err(|_| {
                SendError::new(format!(
                    "header {k:?} has a value that is not valid gRPC metadata"
                ))
            })?;
            metadata.insert(key, value);
        }
        Ok(GrpcSink {
            client: Box::new(client),
            logs: Box::new(logs),
            profiles,
            metadata,
            timeout: t.timeout,
            shown: redact_url(&t.metrics_endpoint),
            shown_logs: (t.logs_endpoint != t.metrics_endpoint)
                .then(|| redact_url(&t.logs_endpoint)),
            tls: t.tls.clone(),
            connections,
            logs_connections,
        })
    }
}
