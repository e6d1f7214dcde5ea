//! Where requests go: an OTLP collector over gRPC or HTTP/protobuf, or OTLP/JSON lines in a
//! file. Runs only on the export thread, on its own small tokio runtime.
//!
//! Each signal (metrics, logs, profiles) is a request of its own with its own outcome (see
//! [`signals`]): the requests of one export go out at once, each with its retries, its
//! `Retry-After` and its message; a collector that does not take profiles pauses profiles only.
//!
//! Nothing a collector sends is trusted: at most [`BODY_LIMIT`] bytes of any HTTP body and
//! [`GRPC_MESSAGE_LIMIT`] of any gRPC message are read, text from outside is echoed through
//! [`echo`] (control characters escaped, length capped), and no line ever shows a header
//! value, URL userinfo or any form of them a collector may echo ([`redact`]). Retries follow
//! opentelemetry-otlp 0.33 and the OTLP specification (see [`Retry`]) inside the export
//! timeout, and a collector's `Retry-After` / `RetryInfo` is honoured across exports: no
//! request of that signal goes out before the time it asked for.
//!
//! Each transport is its feature's (`export-http`, `export-grpc`, `tls`); the file sink is
//! always built with the export thread. Both collector transports connect through
//! [`resolve`]: at most one name lookup in flight per process, never one queued behind it.
//! No proxy is used (`HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` are not read).

// With the file sink alone, what the collectors share (secrets, echoing) has no user.
#![cfg_attr(
    not(any(feature = "export-http", feature = "export-grpc")),
    allow(dead_code)
)]

mod file;
#[cfg(feature = "export-grpc")]
mod live;
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
mod redact;
#[cfg(feature = "collector")]
mod resolve;
mod signals;
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
mod tls;

use crate::config::Destination;
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
use crate::config::{Compression, OtlpTarget, Protocol, TlsFiles, redact_url};
#[cfg(feature = "export-http")]
use bytes::Bytes;
use file::FileSink;
#[cfg(feature = "export-http")]
use http_body_util::{BodyExt, Full};
#[cfg(feature = "export-http")]
use hyper::client::conn::http1::SendRequest;
#[cfg(feature = "export-http")]
use hyper::header::{self, HeaderName, HeaderValue};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
#[cfg(feature = "export-http")]
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
#[cfg(feature = "export-grpc")]
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
#[cfg(feature = "export-http")]
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
#[cfg(feature = "export-grpc")]
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
use prost::Message;
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
use redact::Secrets;
use signals::Holds;
pub(crate) use signals::{Held, NOT_TAKEN_PAUSE, Signal, names as signal_names};
#[cfg(feature = "export-grpc")]
use std::future::Future;
use std::path::Path;
#[cfg(any(all(feature = "export-http", feature = "tls"), feature = "export-grpc"))]
use std::sync::Arc;
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
use std::time::SystemTime;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
#[cfg(feature = "export-grpc")]
use tonic::codec::CompressionEncoding;
#[cfg(feature = "export-grpc")]
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
#[cfg(feature = "export-grpc")]
use tonic::transport::{Channel, Endpoint};

/// Most bytes of an HTTP response body read, on every path; the rest is never received.
#[cfg(feature = "export-http")]
const BODY_LIMIT: usize = 4 * 1024;
/// Largest gRPC response message decoded (an export answer is a few bytes).
#[cfg(feature = "export-grpc")]
const GRPC_MESSAGE_LIMIT: usize = 64 * 1024;
/// Largest HTTP/2 header list (status, message and details trailers included) accepted.
#[cfg(feature = "export-grpc")]
const GRPC_HEADER_LIMIT: u32 = 16 * 1024;
/// Most characters of text from outside (a body, a status message) echoed in one line.
const ECHO_LIMIT: usize = 200;
/// Longest a connection stays idle to be reused (as reqwest's and hyper-util's pools).
#[cfg(feature = "export-http")]
const HTTP_IDLE_LIMIT: Duration = Duration::from_secs(90);
/// Most idle connections kept: one per signal (the requests of an export go out at once).
#[cfg(feature = "export-http")]
const HTTP_IDLE_CONNECTIONS: usize = 3;
/// Largest buffer hyper reads a response into (status line and headers must fit).
#[cfg(feature = "export-http")]
const HTTP_BUFFER_LIMIT: usize = 64 * 1024;
/// Longest wait a collector can impose (opentelemetry-otlp caps `Retry-After` likewise).
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
const MAX_THROTTLE: Duration = Duration::from_secs(600);

/// One request: a metrics snapshot or a batch of events.
#[derive(Debug)]
pub(crate) enum Payload {
    Metrics(ExportMetricsServiceRequest),
    Logs(ExportLogsServiceRequest),
    /// OTLP Profiles (`v1development`), to the metrics collector.
    #[cfg(feature = "profiles")]
    Profiles(opentelemetry_proto::tonic::collector::profiles::v1development::ExportProfilesServiceRequest),
}

impl Payload {
    pub(crate) fn signal(&self) -> Signal {
        match self {
            Payload::Metrics(_) => Signal::Metrics,
            Payload::Logs(_) => Signal::Logs,
            #[cfg(feature = "profiles")]
            Payload::Profiles(_) => Signal::Profiles,
        }
    }
}

/// One request of an export, and whether sending it twice is harmless (cumulative data):
/// only then is a failure that may have delivered it retried.
#[derive(Debug)]
pub(crate) struct Request {
    pub(crate) payload: Payload,
    pub(crate) resend_safe: bool,
}

/// What became of one [`Request`].
#[derive(Debug)]
pub(crate) struct Delivery {
    pub(crate) signal: Signal,
    pub(crate) result: Result<(), SendError>,
    /// From the start of the send to its outcome, retries included.
    pub(crate) took: Duration,
}

/// A delivery that failed, with a message fit for one log line.
#[derive(Debug)]
pub(crate) struct SendError {
    pub(crate) message: String,
    /// The request may have reached the collector: it was sent (or partly sent) and no
    /// answer says it was refused (no answer in time, a reset mid-request, a gateway or
    /// server error). `false`: it certainly was not taken (the connection or name lookup
    /// failed, the collector's `Retry-After` held it back, or the collector answered that it
    /// did not accept it: HTTP 4xx/503, gRPC UNAVAILABLE, RESOURCE_EXHAUSTED and the other
    /// codes a server gives before it processes anything).
    pub(crate) maybe_delivered: bool,
    /// Why later requests of this signal are held back, if they are: the collector asked for
    /// a pause (`Retry-After`, `RetryInfo`), or does not take the signal (profiles: HTTP 404,
    /// gRPC UNIMPLEMENTED) and it waits [`NOT_TAKEN_PAUSE`].
    pub(crate) held: Option<Held>,
    /// What failed, without the collector's words (`HTTP 401 Unauthorized`, a gRPC code), or
    /// the whole message: failures of several signals with one cause are one outage.
    pub(crate) cause: String,
}

impl SendError {
    /// A failure that certainly delivered nothing.
    fn new(message: String) -> SendError {
        SendError {
            cause: message.clone(),
            message,
            maybe_delivered: false,
            held: None,
        }
    }
}

/// Where data goes, plus what every destination shares: the secrets no message may show and,
/// per signal, the earliest time the collector accepts another request.
pub(crate) struct Sink {
    kind: Kind,
    #[cfg(any(feature = "export-http", feature = "export-grpc"))]
    secrets: Secrets,
    holds: Holds,
}

// One per process: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
/// The gRPC client of OTLP Profiles (nothing without the `profiles` feature).
#[cfg(all(feature = "export-grpc", feature = "profiles"))]
type ProfilesClient = Box<
    opentelemetry_proto::tonic::collector::profiles::v1development::profiles_service_client::ProfilesServiceClient<Channel>,
>;
#[cfg(all(feature = "export-grpc", not(feature = "profiles")))]
type ProfilesClient = Box<()>;

// One per sink, made once and never moved on a hot path: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Kind {
    #[cfg(feature = "export-grpc")]
    Grpc {
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
    },
    #[cfg(feature = "export-http")]
    Http {
        client: HttpClient,
        metrics: Route,
        logs: Route,
        /// `/v1development/profiles` of the metrics endpoint's origin.
        profiles: Route,
        headers: Vec<(HeaderName, HeaderValue)>,
        gzip: bool,
        timeout: Duration,
    },
    File(FileSink),
}

impl Sink {
    /// Builds the sink. A collector that is not there yet is not an error: gRPC connects
    /// lazily and HTTP per request, so export starts working whenever it comes up.
    pub(crate) fn new(
        destination: &Destination,
        file_max_bytes: u64,
        rt: &Runtime,
    ) -> Result<Sink, SendError> {
        match destination {
            Destination::File(path) => Ok(Sink::file(path, file_max_bytes)),
            #[cfg(not(any(feature = "export-http", feature = "export-grpc")))]
            Destination::Otlp(_) => {
                let _ = rt;
                Err(SendError::new(
                    "no collector exporter (export-http, export-grpc) in this build".to_owned(),
                ))
            }
            #[cfg(any(feature = "export-http", feature = "export-grpc"))]
            Destination::Otlp(t) => {
                let kind = match t.protocol {
                    #[cfg(feature = "export-grpc")]
                    Protocol::Grpc => grpc(t, rt)?,
                    #[cfg(feature = "export-http")]
                    Protocol::HttpProtobuf => {
                        let _ = rt;
                        http(t)?
                    }
                    #[allow(unreachable_patterns)]
                    _ => {
                        return Err(SendError::new(
                            "this protocol's feature (export-http or export-grpc) is off in \
                             this build"
                                .to_owned(),
                        ));
                    }
                };
                Ok(Sink {
                    kind,
                    secrets: secrets_of(t),
                    holds: Holds::default(),
                })
            }
        }
    }

    /// The OTLP/JSON file sink, capped at `max_bytes` with its rotated predecessor.
    pub(crate) fn file(path: &Path, max_bytes: u64) -> Sink {
        Sink {
            kind: Kind::File(FileSink::new(path, max_bytes)),
            #[cfg(any(feature = "export-http", feature = "export-grpc"))]
            secrets: Secrets::default(),
            holds: Holds::default(),
        }
    }

    /// The file written, when this is the file sink.
    pub(crate) fn file_path(&self) -> Option<&Path> {
        match &self.kind {
            Kind::File(f) => Some(&f.path),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    /// Where the data goes, for log lines (never a header value or URL userinfo): the
    /// metrics URL, and for gRPC a logs endpoint of its own.
    pub(crate) fn describe(&self) -> String {
        match &self.kind {
            #[cfg(feature = "export-grpc")]
            Kind::Grpc { .. } => self.describe_signals(&[Signal::Metrics, Signal::Logs]),
            // HTTP's URLs differ by their path only: the metrics one stands for all.
            _ => self.describe_signals(&[Signal::Metrics]),
        }
    }

    /// Where `signals` go, for log lines: for HTTP each one's URL, for gRPC the endpoints.
    pub(crate) fn describe_signals(&self, signals: &[Signal]) -> String {
        match &self.kind {
            #[cfg(feature = "export-grpc")]
            Kind::Grpc {
                shown, shown_logs, ..
            } => {
                let logs = signals.contains(&Signal::Logs);
                let others = signals.iter().any(|s| *s != Signal::Logs);
                match shown_logs {
                    Some(l) if logs && !others => format!("OTLP/gRPC {l}"),
                    Some(l) if logs => format!("OTLP/gRPC {shown} (logs {l})"),
                    _ => format!("OTLP/gRPC {shown}"),
                }
            }
            #[cfg(feature = "export-http")]
            Kind::Http {
                metrics,
                logs,
                profiles,
                ..
            } => {
                let mut urls: Vec<&str> = Vec::new();
                for s in signals {
                    let route = match s {
                        Signal::Metrics => metrics,
                        Signal::Logs => logs,
                        Signal::Profiles => profiles,
                    };
                    if !urls.contains(&route.shown.as_str()) {
                        urls.push(&route.shown);
                    }
                }
                format!("OTLP/HTTP {}", urls.join(", "))
            }
            Kind::File(f) => {
                let _ = signals;
                format!("OTLP/JSON file {}", crate::base::text::path(&f.path))
            }
        }
    }

    /// Why `signal` is held back now, if it is: the collector asked for a pause that is not
    /// over, or does not take the signal. Nothing of it is sent meanwhile.
    pub(crate) fn held(&self, signal: Signal) -> Option<Held> {
        self.holds.at(signal, Instant::now()).map(|(why, _)| why)
    }

    /// Delivers `requests`, at once, each retrying what may succeed later within the export
    /// timeout. A failure that may have delivered a request
    /// ([`SendError::maybe_delivered`]) is retried only when it is
    /// [`resend_safe`](Request::resend_safe) (sending it twice cannot count anything twice:
    /// cumulative data); otherwise it ends that request's attempt at once. The outcomes come
    /// back in the order of `requests`.
    pub(crate) fn send(&mut self, rt: &Runtime, requests: Vec<Request>) -> Vec<Delivery> {
        let now = Instant::now();
        let mut out: Vec<Option<Delivery>> = Vec::with_capacity(requests.len());
        let mut ready = Vec::with_capacity(requests.len());
        for (i, r) in requests.into_iter().enumerate() {
            let signal = r.payload.signal();
            match self.holds.at(signal, now) {
                Some((_, left)) => out.push(Some(Delivery {
                    signal,
                    result: Err(SendError::new(format!(
                        "the collector asked for no request before {left:.1?} from now; not \
                         sending until then"
                    ))),
                    took: Duration::ZERO,
                })),
                None => {
                    out.push(None);
                    ready.push((i, r));
                }
            }
        }
        match &mut self.kind {
            Kind::File(f) => {
                let _ = rt;
                for (i, r) in ready {
                    let started = Instant::now();
                    let result = f.write(&r.payload);
                    out[i] = Some(Delivery {
                        signal: r.payload.signal(),
                        result,
                        took: started.elapsed(),
                    });
                }
            }
            #[cfg(any(feature = "export-http", feature = "export-grpc"))]
            kind => {
                let kind: &Kind = kind;
                let secrets = &self.secrets;
                let sends = ready
                    .iter()
                    .map(|(_, r)| timed(deliver(kind, r, secrets, now)))
                    .collect();
                let results = rt.block_on(signals::join_all(sends));
                for ((i, r), (result, took)) in ready.into_iter().zip(results) {
                    let signal = r.payload.signal();
                    out[i] = Some(Delivery {
                        signal,
                        result: result.map_err(|failure| self.failed(signal, failure)),
                        took,
                    });
                }
            }
        }
        out.into_iter().flatten().collect()
    }

    /// Holds later requests of `signal` back as the collector asked (or for
    /// [`NOT_TAKEN_PAUSE`] when it does not take profiles) and scrubs the message.
    #[cfg(any(feature = "export-http", feature = "export-grpc"))]
    fn failed(&mut self, signal: Signal, mut failure: Failure) -> SendError {
        let mut held = None;
        if failure.not_taken && signal == Signal::Profiles {
            self.holds
                .hold(signal, Instant::now() + NOT_TAKEN_PAUSE, Held::NotTaken);
            held = Some(Held::NotTaken);
        } else if let Retry::After(wait) = failure.retry {
            self.holds.hold(signal, Instant::now() + wait, Held::Asked);
            held = Some(Held::Asked);
            failure.message = format!(
                "{}; the collector asked for a pause of {wait:.1?}: no request before then",
                failure.message
            );
        }
        let message = self.secrets.scrub(&failure.message);
        SendError {
            cause: failure.cause.unwrap_or_else(|| message.clone()),
            message,
            maybe_delivered: failure.maybe_delivered,
            held,
        }
    }
}

/// `send`'s outcome and how long it took.
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
async fn timed<T>(send: impl std::future::Future<Output = T>) -> (T, Duration) {
    let started = Instant::now();
    let out = send.await;
    (out, started.elapsed())
}

/// One request to a collector with its retries (see [`Sink::send`]), on its own deadline.
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
async fn deliver(
    kind: &Kind,
    request: &Request,
    secrets: &Secrets,
    now: Instant,
) -> Result<(), Failure> {
    let resend_safe = request.resend_safe;
    let payload = &request.payload;
    match kind {
        #[cfg(feature = "export-grpc")]
        Kind::Grpc {
            client,
            logs,
            profiles,
            metadata,
            timeout,
            tls,
            connections,
            logs_connections,
            ..
        } => {
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
        #[cfg(feature = "export-http")]
        Kind::Http {
            client,
            metrics,
            logs,
            profiles,
            headers,
            gzip,
            timeout,
        } => {
            let _ = &profiles;
            let (route, body) = match payload {
                Payload::Metrics(req) => (metrics, req.encode_to_vec()),
                Payload::Logs(req) => (logs, req.encode_to_vec()),
                #[cfg(feature = "profiles")]
                Payload::Profiles(req) => (profiles, req.encode_to_vec()),
            };
            let body = if *gzip {
                gzip_bytes(&body).map_err(|e| Failure::not_delivered(e.message, Retry::No))?
            } else {
                body
            };
            let body = Bytes::from(body);
            let deadline = now + *timeout;
            let (gzip, signal) = (*gzip, payload.signal());
            // hyper's client connects within the deadline itself (see `HttpClient::connect`):
            // an attempt cut at the deadline was under way.
            with_retries(
                deadline,
                *timeout,
                resend_safe,
                || true,
                async |_| {
                    let request = || http_request(route, &body, headers, gzip);
                    http_attempt(client, route, request, signal, secrets, deadline).await
                },
            )
            .await
        }
        // The file sink is written by `Sink::send`.
        Kind::File(_) => Ok(()),
    }
}

/// Header values and URL userinfo of `t`, in every form a collector may echo them.
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
fn secrets_of(t: &OtlpTarget) -> Secrets {
    Secrets::of(
        t.headers.iter().map(|(_, v)| v.as_str()),
        [t.metrics_endpoint.as_str(), t.logs_endpoint.as_str()],
    )
}

/// `url` without its userinfo (gRPC sends credentials as metadata, never in `:authority`).
#[cfg(feature = "export-grpc")]
fn without_userinfo(url: &str) -> String {
    match (url.split_once("://"), redact::userinfo(url)) {
        (Some((scheme, rest)), Some(info)) => format!("{scheme}://{}", &rest[info.len() + 1..]),
        _ => url.to_owned(),
    }
}

/// `text` fit for one line: control and bidirectional-formatting characters escaped, cut
/// after [`ECHO_LIMIT`] characters of output.
pub(crate) fn echo(text: &str) -> String {
    crate::base::text::shown(text, ECHO_LIMIT, false)
}

/// [`echo`] of text from a collector, with `secrets` removed first (so the length cap never
/// leaves the start of one behind).
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
fn echo_without(text: &str, secrets: &Secrets) -> String {
    echo(&secrets.scrub(text))
}

// ---------------------------------------------------------------------------------------------
// Retries.
// ---------------------------------------------------------------------------------------------

/// What a failed attempt allows, as opentelemetry-otlp 0.33 classifies it: HTTP 429/503
/// (with `Retry-After`: wait that long), 502, 504 and transport errors; gRPC UNAVAILABLE
/// (with `RetryInfo`: wait that long), RESOURCE_EXHAUSTED only with `RetryInfo`, CANCELLED,
/// DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, DATA_LOSS. Everything else is final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
enum Retry {
    No,
    /// Exponential backoff with jitter.
    Backoff,
    /// The collector asked for this wait (capped at [`MAX_THROTTLE`]).
    After(Duration),
}

/// Retries after backoff (opentelemetry-otlp's recommended policy).
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
const MAX_RETRIES: u32 = 3;
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
const MAX_BACKOFF: Duration = Duration::from_millis(1600);
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
const MAX_JITTER_MS: u64 = 100;

#[derive(Debug)]
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
struct Failure {
    message: String,
    retry: Retry,
    /// See [`SendError::maybe_delivered`].
    maybe_delivered: bool,
    /// The collector has no such endpoint or service (HTTP 404, 405, 501; gRPC
    /// UNIMPLEMENTED): it does not take the signal.
    not_taken: bool,
    /// See [`SendError::cause`]; `None`: the message.
    cause: Option<String>,
}

#[cfg(any(feature = "export-http", feature = "export-grpc"))]
impl Failure {
    /// A failure that certainly delivered nothing.
    fn not_delivered(message: String, retry: Retry) -> Failure {
        Failure {
            message,
            retry,
            maybe_delivered: false,
            not_taken: false,
            cause: None,
        }
    }

    /// A failure after which the request may have arrived.
    fn maybe_delivered(message: String, retry: Retry) -> Failure {
        Failure {
            message,
            retry,
            maybe_delivered: true,
            not_taken: false,
            cause: None,
        }
    }
}

/// Runs `attempt` (given the time left) until it succeeds, fails for good, the retries run
/// out, or the next try would pass `deadline`. A requested wait that does not fit is returned
/// (as [`Retry::After`]) so the caller holds every later request back until it is over. An
/// attempt that may have delivered the request is retried only when `resend_safe`; the
/// result may have delivered it when any attempt may have. An attempt cut at `deadline` may
/// have delivered it unless `could_have_sent` says no connection could have carried it.
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
async fn with_retries(
    deadline: Instant,
    timeout: Duration,
    resend_safe: bool,
    could_have_sent: impl Fn() -> bool,
    mut attempt: impl AsyncFnMut(Duration) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut backoff = INITIAL_BACKOFF;
    let mut retries = 0;
    let mut maybe_delivered = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // At `deadline` itself, which an attempt's connect deadline can equal: the attempt
        // is polled first, so a connection that did not come in time fails as one.
        let at = tokio::time::Instant::from_std(deadline);
        let mut failure = match tokio::time::timeout_at(at, attempt(left)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(f)) => f,
            // The request may be out, and the collector may still take it.
            Err(_) if could_have_sent() => {
                return Err(Failure::maybe_delivered(
                    format!("no answer within {timeout:?}"),
                    Retry::No,
                ));
            }
            Err(_) => {
                return Err(Failure {
                    maybe_delivered,
                    ..Failure::not_delivered(
                        format!("no connection to the collector within {timeout:?}; nothing sent"),
                        Retry::No,
                    )
                });
            }
        };
        maybe_delivered |= failure.maybe_delivered;
        failure.maybe_delivered = maybe_delivered;
        if failure.maybe_delivered && !resend_safe {
            return Err(Failure {
                retry: Retry::No,
                ..failure
            });
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let wait = match failure.retry {
            Retry::No => return Err(failure),
            Retry::After(wait) => {
                if retries == MAX_RETRIES || wait >= left {
                    return Err(failure);
                }
                wait
            }
            Retry::Backoff => {
                let wait = (backoff + Duration::from_millis(jitter_ms())).min(MAX_BACKOFF);
                if retries == MAX_RETRIES || wait >= left {
                    return Err(Failure {
                        retry: Retry::No,
                        ..failure
                    });
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                wait
            }
        };
        retries += 1;
        tokio::time::sleep(wait).await;
    }
}

/// A random number of milliseconds in `0..=MAX_JITTER_MS`.
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
fn jitter_ms() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos(),
    );
    h.finish() % (MAX_JITTER_MS + 1)
}

/// `Retry-After`: delay seconds or an HTTP date (IMF-fixdate), capped at [`MAX_THROTTLE`].
#[cfg(feature = "export-http")]
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds.min(MAX_THROTTLE.as_secs())),
        Err(_) => http_date(value)?
            .duration_since(SystemTime::now())
            .unwrap_or_default(),
    };
    Some(wait.min(MAX_THROTTLE))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 5.6.7).
#[cfg(feature = "export-http")]
fn http_date(s: &str) -> Option<SystemTime> {
    let (_, rest) = s.split_once(", ")?;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month)? as u64 + 1;
    let year: u64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), from 1970-01-01.
    let (y, mo) = if month <= 2 {
        (year.checked_sub(1)?, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y % 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    let secs = days.checked_mul(86_400)? + h * 3600 + m * 60 + sec;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

// ---------------------------------------------------------------------------------------------
// gRPC.
// ---------------------------------------------------------------------------------------------

/// `google.rpc.Status`, the payload of `grpc-status-details-bin` and of an OTLP/HTTP error.
#[derive(Clone, PartialEq, prost::Message)]
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
struct Any {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
#[cfg(feature = "export-grpc")]
struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    retry_delay: Option<PbDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
#[cfg(feature = "export-grpc")]
struct PbDuration {
    #[prost(int64, tag = "1")]
    seconds: i64,
    #[prost(int32, tag = "2")]
    nanos: i32,
}

/// The delay of a `google.rpc.RetryInfo` in a status's details, capped at [`MAX_THROTTLE`].
#[cfg(feature = "export-grpc")]
fn retry_info(details: &[u8]) -> Option<Duration> {
    let status = RpcStatus::decode(details).ok()?;
    let info = status
        .details
        .iter()
        .find(|a| a.type_url.ends_with("/google.rpc.RetryInfo"))?;
    let delay = RetryInfo::decode(info.value.as_slice()).ok()?.retry_delay?;
    let seconds = u64::try_from(delay.seconds).ok()?;
    let nanos = u32::try_from(delay.nanos).unwrap_or(0).min(999_999_999);
    Some(Duration::new(seconds.min(MAX_THROTTLE.as_secs()), nanos).min(MAX_THROTTLE))
}

/// Whether a request that ended in `status` may have been taken. A status that comes from the
/// connection (it has an error source) delivered nothing when connecting failed
/// (`tonic::ConnectError`: refused, name lookup, TLS), else may have (a reset, a timeout);
/// a status the collector answered means "not accepted" for the codes a server gives
/// before processing anything (UNAVAILABLE, RESOURCE_EXHAUSTED, INVALID_ARGUMENT, ...).
#[cfg(feature = "export-grpc")]
fn grpc_maybe_delivered(status: &tonic::Status) -> bool {
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

#[cfg(feature = "export-grpc")]
fn grpc_retry(status: &tonic::Status) -> Retry {
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
#[cfg(feature = "export-grpc")]
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

#[cfg(feature = "export-grpc")]
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

/// A partial success that rejected something is a final failure (retrying cannot help).
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
fn check_rejected(rejected: Option<(i64, &str, String)>, secrets: &Secrets) -> Result<(), Failure> {
    match rejected {
        // The rest was accepted: not a request to send again.
        Some((n, what, message)) if n > 0 => Err(Failure::maybe_delivered(
            format!(
                "collector rejected {n} {what}: {}",
                echo_without(&message, secrets)
            ),
            Retry::No,
        )),
        _ => Ok(()),
    }
}

#[cfg(feature = "export-grpc")]
fn grpc_request<T>(req: T, metadata: &MetadataMap, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(req);
    *request.metadata_mut() = metadata.clone();
    request.set_timeout(timeout);
    request
}

/// A lazily connecting channel to `url`, its answers bounded, connecting through
/// [`resolve`] (tonic adds TLS for `https://`), and the count of its connections.
#[cfg(feature = "export-grpc")]
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
#[cfg(feature = "export-grpc")]
#[derive(Clone)]
struct GrpcConnector {
    connect_timeout: Duration,
    connections: Arc<live::Connections>,
}

#[cfg(feature = "export-grpc")]
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

#[cfg(feature = "export-grpc")]
fn grpc(t: &OtlpTarget, rt: &Runtime) -> Result<Kind, SendError> {
    let (channel, connections) = grpc_channel(&t.metrics_endpoint, t, rt)?;
    // The logs endpoint gets its own channel when it is another address.
    let (logs_channel, logs_connections) = if t.logs_endpoint == t.metrics_endpoint {
        (channel.clone(), connections.clone())
    } else {
        grpc_channel(&t.logs_endpoint, t, rt)?
    };
    let mut client =
        MetricsServiceClient::new(channel.clone()).max_decoding_message_size(GRPC_MESSAGE_LIMIT);
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
        let key = MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|_| SendError::new(format!("header name {k:?} is not valid gRPC metadata")))?;
        let value = MetadataValue::try_from(v.as_str()).map_err(|_| {
            SendError::new(format!(
                "header {k:?} has a value that is not valid gRPC metadata"
            ))
        })?;
        metadata.insert(key, value);
    }
    Ok(Kind::Grpc {
        client: Box::new(client),
        logs: Box::new(logs),
        profiles,
        metadata,
        timeout: t.timeout,
        shown: redact_url(&t.metrics_endpoint),
        shown_logs: (t.logs_endpoint != t.metrics_endpoint).then(|| redact_url(&t.logs_endpoint)),
        tls: t.tls.clone(),
        connections,
        logs_connections,
    })
}

// ---------------------------------------------------------------------------------------------
// HTTP.
// ---------------------------------------------------------------------------------------------

/// One URL of the HTTP sink, split for hyper's connection-level client.
#[cfg(feature = "export-http")]
struct Route {
    /// The URL for log lines, userinfo and query redacted.
    shown: String,
    origin: Origin,
    /// The `Host` header: the URL's authority without its userinfo.
    host: HeaderValue,
    /// The request target (path and query).
    target: hyper::Uri,
    /// `Basic ...` from the URL's userinfo, as reqwest and curl send it.
    authorization: Option<HeaderValue>,
}

/// Where a connection goes; connections are reused per origin.
#[cfg(feature = "export-http")]
#[derive(Clone, Debug, PartialEq, Eq)]
struct Origin {
    tls: bool,
    /// A name, an IPv4 address or a bracketed IPv6 one.
    host: String,
    port: u16,
}

#[cfg(feature = "export-http")]
impl Route {
    fn new(url: &str) -> Result<Route, SendError> {
        let bad = |why: &str| SendError::new(format!("endpoint {}: {why}", redact_url(url)));
        let uri: hyper::Uri = url.parse().map_err(|_| bad("not a valid URL"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(bad("the scheme must be http or https")),
        };
        if tls && !cfg!(feature = "tls") {
            return Err(bad(
                "https needs rtscope's `tls` feature, which is off in this build",
            ));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        let origin = Origin {
            tls,
            host: authority.host().to_owned(),
            port: authority.port_u16().unwrap_or(if tls { 443 } else { 80 }),
        };
        let host = authority
            .as_str()
            .rsplit_once('@')
            .map_or(authority.as_str(), |(_, host)| host);
        let authorization = redact::userinfo(url)
            .map(|info| {
                use base64::Engine;
                let pair = redact::basic_pair(info);
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                HeaderValue::try_from(format!("Basic {encoded}")).map(|mut v| {
                    v.set_sensitive(true);
                    v
                })
            })
            .transpose()
            .map_err(|_| bad("the userinfo is not valid"))?;
        Ok(Route {
            shown: redact_url(url),
            origin,
            host: HeaderValue::try_from(host).map_err(|_| bad("the host is not valid"))?,
            target: uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .parse()
                .map_err(|_| bad("not a valid URL"))?,
            authorization,
        })
    }
}

/// hyper's HTTP/1.1 client over tokio (and rustls): keep-alive connections (one per request
/// under way: the signals of an export go out at once), reused across exports and replaced
/// after any error. Redirects are never followed (a
/// redirect would carry the headers, credentials among them, elsewhere; OTLP has none) and no
/// proxy is used.
#[cfg(feature = "export-http")]
struct HttpClient {
    connect_timeout: Duration,
    #[cfg(feature = "tls")]
    tls: Option<tokio_rustls::TlsConnector>,
    /// The TLS files in use, for the advice of a TLS failure.
    files: TlsFiles,
    /// Idle connections, at most [`HTTP_IDLE_CONNECTIONS`], with when they became idle. Only
    /// the export thread's runtime touches them, never across an await.
    idle: std::cell::RefCell<Vec<Idle>>,
}

/// An idle connection: where it goes, and since when it is idle.
#[cfg(feature = "export-http")]
type Idle = (Origin, SendRequest<Full<Bytes>>, Instant);

#[cfg(feature = "export-http")]
impl HttpClient {
    /// Sends `request()` on an idle connection to `origin`, or on a new one when there is
    /// none or the idle one certainly did not send it (closed meanwhile by the collector).
    /// Returns the answer and the connection, to be kept once the answer is read.
    async fn send(
        &self,
        origin: &Origin,
        request: impl Fn() -> hyper::Request<Full<Bytes>>,
        deadline: Instant,
    ) -> Result<
        (
            hyper::Response<hyper::body::Incoming>,
            SendRequest<Full<Bytes>>,
        ),
        Failure,
    > {
        let idle = {
            let mut idle = self.idle.borrow_mut();
            let found = idle.iter().position(|(o, ..)| o == origin);
            found.map(|i| idle.swap_remove(i))
        };
        if let Some((_, mut sender, since)) = idle {
            // Nothing polled the connection since its last answer (this runtime runs only
            // while the sink sends). The first yield lets tokio poll the I/O driver, the
            // second lets the connection's task read what arrived meanwhile, so a close the
            // collector sent long ago is seen here, before anything is written to the dead
            // connection.
            for _ in 0..2 {
                tokio::task::yield_now().await;
            }
            if since.elapsed() < HTTP_IDLE_LIMIT
                && !sender.is_closed()
                && sender.ready().await.is_ok()
            {
                match sender.try_send_request(request()).await {
                    Ok(response) => return Ok((response, sender)),
                    Err(mut e) => {
                        if e.take_message().is_none() {
                            return Err(Failure::maybe_delivered(
                                self.text(&e.into_error()),
                                Retry::Backoff,
                            ));
                        }
                    }
                }
            }
        }
        let mut sender = self.connect(origin, deadline).await?;
        let unsent = |e: hyper::Error| Failure::not_delivered(self.text(&e), Retry::Backoff);
        sender.ready().await.map_err(unsent)?;
        match sender.try_send_request(request()).await {
            Ok(response) => Ok((response, sender)),
            Err(mut e) => {
                let sent = e.take_message().is_none();
                let message = self.text(&e.into_error());
                Err(if sent {
                    Failure::maybe_delivered(message, Retry::Backoff)
                } else {
                    Failure::not_delivered(message, Retry::Backoff)
                })
            }
        }
    }

    /// [`explained`] with the TLS files of this client.
    fn text(&self, e: &(dyn std::error::Error + 'static)) -> String {
        explained(e, &self.files)
    }

    /// Keeps `connection`, whose last answer was read whole, for the next request to
    /// `origin`; beyond [`HTTP_IDLE_CONNECTIONS`] dropping it closes it.
    fn keep(&self, origin: &Origin, connection: SendRequest<Full<Bytes>>) {
        let mut idle = self.idle.borrow_mut();
        if idle.len() < HTTP_IDLE_CONNECTIONS {
            idle.push((origin.clone(), connection, Instant::now()));
        }
    }

    /// A new connection (name lookup, TCP, TLS, HTTP/1.1 handshake) within the connect
    /// timeout and `deadline`; every failure here sent nothing.
    async fn connect(
        &self,
        origin: &Origin,
        deadline: Instant,
    ) -> Result<SendRequest<Full<Bytes>>, Failure> {
        let failed = |message: String| Failure::not_delivered(message, Retry::Backoff);
        let deadline = deadline.min(Instant::now() + self.connect_timeout);
        let tcp = resolve::connect(&origin.host, origin.port, deadline)
            .await
            .map_err(failed)?;
        #[cfg(feature = "tls")]
        if origin.tls {
            let tls = self
                .tls
                .as_ref()
                .ok_or_else(|| failed("TLS is not set up".into()))?;
            let host = origin.host.trim_start_matches('[').trim_end_matches(']');
            let name = rustls::pki_types::ServerName::try_from(host.to_owned())
                .map_err(|e| failed(format!("TLS: {e}")))?;
            let handshake = tls.connect(name, tcp);
            let io = tokio::time::timeout_at(deadline.into(), handshake)
                .await
                .map_err(|_| failed(format!("TLS handshake with {host}: no answer in time")))?
                .map_err(|e| failed(format!("TLS handshake with {host}: {}", self.text(&e))))?;
            return http1(io).await;
        }
        http1(tcp).await
    }
}

/// The HTTP/1.1 handshake over `io`; the connection is driven by a task of the runtime.
#[cfg(feature = "export-http")]
async fn http1<T>(io: T) -> Result<SendRequest<Full<Bytes>>, Failure>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::Builder::new()
        .max_buf_size(HTTP_BUFFER_LIMIT)
        .handshake(hyper_util::rt::TokioIo::new(io))
        .await
        .map_err(|e| Failure::not_delivered(error_chain(&e), Retry::Backoff))?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// The POST of `body` to `route`.
#[cfg(feature = "export-http")]
fn http_request(
    route: &Route,
    body: &Bytes,
    headers: &[(HeaderName, HeaderValue)],
    gzip: bool,
) -> hyper::Request<Full<Bytes>> {
    let mut request = hyper::Request::new(Full::new(body.clone()));
    *request.method_mut() = hyper::Method::POST;
    *request.uri_mut() = route.target.clone();
    let h = request.headers_mut();
    h.insert(header::HOST, route.host.clone());
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-protobuf"),
    );
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    if let Some(auth) = &route.authorization {
        h.insert(header::AUTHORIZATION, auth.clone());
    }
    for (k, v) in headers {
        h.insert(k.clone(), v.clone());
    }
    request
}

#[cfg(feature = "export-http")]
async fn http_attempt(
    client: &HttpClient,
    route: &Route,
    request: impl Fn() -> hyper::Request<Full<Bytes>>,
    signal: Signal,
    secrets: &Secrets,
    deadline: Instant,
) -> Result<(), Failure> {
    let (resp, connection) = client.send(&route.origin, request, deadline).await?;
    let status = resp.status();
    let header = |name| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let retry_after = header(header::RETRY_AFTER)
        .as_deref()
        .and_then(parse_retry_after);
    let protobuf =
        header(header::CONTENT_TYPE).is_some_and(|t| t.starts_with("application/x-protobuf"));
    let (body, complete) = read_capped(resp.into_body()).await;
    // A connection whose answer was read whole is reused; otherwise dropping it closes it.
    if complete {
        client.keep(&route.origin, connection);
    }
    if status.is_success() {
        // A body cut at the limit is not decoded; an export answer is a few bytes.
        if !complete {
            return Ok(());
        }
        let rejected = match signal {
            Signal::Metrics => ExportMetricsServiceResponse::decode(body.as_slice())
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| (p.rejected_data_points, "data points", p.error_message)),
            Signal::Logs => ExportLogsServiceResponse::decode(body.as_slice())
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| (p.rejected_log_records, "log records", p.error_message)),
            #[cfg(feature = "profiles")]
            Signal::Profiles => opentelemetry_proto::tonic::collector::profiles::v1development::ExportProfilesServiceResponse::decode(body.as_slice())
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| (p.rejected_profiles, "profiles", p.error_message)),
            #[cfg(not(feature = "profiles"))]
            Signal::Profiles => None,
        };
        return check_rejected(rejected, secrets);
    }
    let text = protobuf
        .then(|| RpcStatus::decode(body.as_slice()).ok().map(|s| s.message))
        .flatten()
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    let retry = match status.as_u16() {
        429 | 503 => retry_after.map_or(Retry::Backoff, Retry::After),
        502 | 504 => Retry::Backoff,
        _ => Retry::No,
    };
    let mut message = format!("HTTP {status}");
    if !text.trim().is_empty() {
        message = format!("{message}: {}", echo_without(text.trim(), secrets));
    }
    Err(Failure {
        message,
        retry,
        maybe_delivered: http_maybe_delivered(status.as_u16()),
        not_taken: matches!(status.as_u16(), 404 | 405 | 501),
        cause: Some(format!("HTTP {status}")),
    })
}

/// Whether a request answered with HTTP `status` (not 2xx) may have been taken: a 4xx, a 503
/// or a 429 says the collector did not accept it; another 5xx (a server or gateway error)
/// may come after the data was processed.
#[cfg(feature = "export-http")]
fn http_maybe_delivered(status: u16) -> bool {
    !matches!(status, 400..=499 | 503)
}

/// At most [`BODY_LIMIT`] bytes of `body`, and whether that was all of it. The rest is never
/// read: dropping the body and its connection closes the connection.
#[cfg(feature = "export-http")]
async fn read_capped(mut body: hyper::body::Incoming) -> (Vec<u8>, bool) {
    let mut buf = Vec::new();
    loop {
        match body.frame().await {
            Some(Ok(frame)) => {
                let Ok(chunk) = frame.into_data() else {
                    continue;
                };
                let take = chunk.len().min(BODY_LIMIT - buf.len());
                buf.extend_from_slice(&chunk[..take]);
                if take < chunk.len() || buf.len() == BODY_LIMIT {
                    return (buf, false);
                }
            }
            None => return (buf, true),
            Some(Err(_)) => return (buf, false),
        }
    }
}

#[cfg(feature = "export-http")]
fn gzip_bytes(body: &[u8]) -> Result<Vec<u8>, SendError> {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(body)
        .and_then(|_| enc.finish())
        .map_err(|e| SendError::new(format!("gzip: {e}")))
}

/// "error: cause: cause" so a log line says why, not only that; a cause whose text is
/// already there (layers that repeat their source's text) is said once.
#[cfg(feature = "export-http")]
fn error_chain(e: &dyn std::error::Error) -> String {
    echo(&chain_after(String::new(), e))
}

/// `text`, then each error of the chain from `e` whose text `text` does not hold yet.
#[cfg(any(feature = "export-http", feature = "export-grpc"))]
fn chain_after(mut text: String, e: &dyn std::error::Error) -> String {
    let mut cur = Some(e);
    while let Some(c) = cur {
        let link = c.to_string();
        if !link.is_empty() && !text.contains(&link) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&link);
        }
        cur = c.source();
    }
    text
}

/// [`error_chain`], followed by what to fix when it is a TLS failure ([`tls::advice`]).
#[cfg(feature = "export-http")]
fn explained(e: &(dyn std::error::Error + 'static), files: &TlsFiles) -> String {
    let text = error_chain(e);
    match tls::advice(e, files) {
        Some(advice) => format!("{text}; {advice}"),
        None => text,
    }
}

/// Where OTLP/HTTP profiles go: `/v1development/profiles` in place of the metrics URL's
/// `/v1/metrics`, else at the metrics URL's origin.
#[cfg(feature = "export-http")]
fn profiles_url(metrics: &str) -> String {
    const PATH: &str = "/v1development/profiles";
    if let Some(base) = metrics.strip_suffix("/v1/metrics") {
        return format!("{base}{PATH}");
    }
    let after_scheme = metrics.find("://").map_or(0, |i| i + 3);
    let origin_end = metrics[after_scheme..]
        .find('/')
        .map_or(metrics.len(), |i| after_scheme + i);
    format!("{}{PATH}", &metrics[..origin_end])
}

#[cfg(feature = "export-http")]
fn http(t: &OtlpTarget) -> Result<Kind, SendError> {
    let metrics = Route::new(&t.metrics_endpoint)?;
    let logs = Route::new(&t.logs_endpoint)?;
    let profiles = Route::new(&profiles_url(&t.metrics_endpoint))?;
    let mut headers = Vec::with_capacity(t.headers.len());
    for (k, v) in &t.headers {
        let name = HeaderName::try_from(k.as_str())
            .map_err(|_| SendError::new(format!("header name {k:?} is not valid HTTP")))?;
        let mut value = HeaderValue::try_from(v.as_str()).map_err(|_| {
            SendError::new(format!("header {k:?} has a value that is not valid HTTP"))
        })?;
        value.set_sensitive(true);
        headers.push((name, value));
    }
    #[cfg(feature = "tls")]
    let tls = if metrics.origin.tls || logs.origin.tls {
        Some(tokio_rustls::TlsConnector::from(Arc::new(
            tls::rustls_config(&t.tls)?,
        )))
    } else {
        None
    };
    Ok(Kind::Http {
        client: HttpClient {
            connect_timeout: t.timeout,
            #[cfg(feature = "tls")]
            tls,
            files: t.tls.clone(),
            idle: std::cell::RefCell::new(Vec::with_capacity(HTTP_IDLE_CONNECTIONS)),
        },
        metrics,
        logs,
        profiles,
        headers,
        gzip: t.compression == Compression::Gzip,
        timeout: t.timeout,
    })
}

#[cfg(all(
    test,
    feature = "export-http",
    feature = "export-grpc",
    feature = "tls"
))]
mod tests;
