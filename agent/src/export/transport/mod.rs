//! Where requests go: an OTLP collector over gRPC or HTTP/protobuf, or OTLP/JSON lines in a
//! file. Runs only on the export thread, on its own small tokio runtime.
//!
//! Each signal (metrics, logs, profiles) is a request of its own with its own outcome (see
//! [`signals`]): the requests of one export go out at once, each with its retries, its
//! `Retry-After` and its message; a collector that does not take profiles pauses profiles only.
//!
//! Nothing a collector sends is trusted: at most `BODY_LIMIT` ([`http`]) bytes of any HTTP body and
//! `GRPC_MESSAGE_LIMIT` ([`grpc`]) of any gRPC message are read, text from outside is echoed through
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

/// Gates each of its items on a collector transport (`export-http` or `export-grpc`): what
/// the collector sinks share, not built with the file sink alone. One gate for many items,
/// as tokio's `cfg_*!` macros.
mod file;
mod signals;
feature! {
    #![feature = "export-grpc"]
    mod grpc;
    mod live;
}
feature! {
    #![feature = "export-http"]
    mod http;
}
feature! {
    #![feature = "_collector"]
    mod resolve;
    mod redact;
    mod retry;
    mod tls;
}

use crate::config::Destination;
use file::FileSink;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use signals::Holds;
pub(crate) use signals::{Held, NOT_TAKEN_PAUSE, Signal, names as signal_names};
use std::path::Path;
use std::time::{Duration, Instant};
use tokio::runtime::Runtime;
feature! {
    #![feature = "_collector"]
    use crate::config::{OtlpTarget, Protocol};
    use redact::Secrets;
    use retry::{Failure, Retry};
}

/// Most characters of text from outside (a body, a status message) echoed in one line.
const ECHO_LIMIT: usize = 200;

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

// One per sink, made once and never moved on a hot path: its size does not matter.
#[allow(clippy::large_enum_variant)]
enum Kind {
    #[cfg(feature = "export-grpc")]
    Grpc(grpc::GrpcSink),
    #[cfg(feature = "export-http")]
    Http(http::HttpSink),
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
                    Protocol::Grpc => Kind::Grpc(grpc::GrpcSink::new(t, rt)?),
                    #[cfg(feature = "export-http")]
                    Protocol::HttpProtobuf => {
                        let _ = rt;
                        Kind::Http(http::HttpSink::new(t)?)
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
            Kind::Grpc(_) => self.describe_signals(&[Signal::Metrics, Signal::Logs]),
            // HTTP's URLs differ by their path only: the metrics one stands for all.
            _ => self.describe_signals(&[Signal::Metrics]),
        }
    }

    /// Where `signals` go, for log lines: for HTTP each one's URL, for gRPC the endpoints.
    pub(crate) fn describe_signals(&self, signals: &[Signal]) -> String {
        match &self.kind {
            #[cfg(feature = "export-grpc")]
            Kind::Grpc(g) => g.describe(signals),
            #[cfg(feature = "export-http")]
            Kind::Http(h) => h.describe(signals),
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

/// `text` fit for one line: control and bidirectional-formatting characters escaped, cut
/// after [`ECHO_LIMIT`] characters of output.
pub(crate) fn echo(text: &str) -> String {
    crate::base::text::shown(text, ECHO_LIMIT, false)
}

feature! {
    #![feature = "_collector"]
    /// `send`'s outcome and how long it took.
    async fn timed<T>(send: impl std::future::Future<Output = T>) -> (T, Duration) {
        let started = Instant::now();
        let out = send.await;
        (out, started.elapsed())
    }

    /// One request to a collector with its retries (see [`Sink::send`]), on its own deadline.
    async fn deliver(
        kind: &Kind,
        request: &Request,
        secrets: &Secrets,
        now: Instant,
    ) -> Result<(), Failure> {
        match kind {
            #[cfg(feature = "export-grpc")]
            Kind::Grpc(g) => g.send(request, secrets, now).await,
            #[cfg(feature = "export-http")]
            Kind::Http(h) => h.send(request, secrets, now).await,
            // The file sink is written by `Sink::send`.
            Kind::File(_) => Ok(()),
        }
    }

    /// Header values and URL userinfo of `t`, in every form a collector may echo them.
    fn secrets_of(t: &OtlpTarget) -> Secrets {
        Secrets::of(
            t.headers.iter().map(|(_, v)| v.as_str()),
            [t.metrics_endpoint.as_str(), t.logs_endpoint.as_str()],
        )
    }

    /// [`echo`] of text from a collector, with `secrets` removed first (so the length cap never
    /// leaves the start of one behind).
    fn echo_without(text: &str, secrets: &Secrets) -> String {
        echo(&secrets.scrub(text))
    }

    /// A partial success that rejected something is a final failure (retrying cannot help).
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

    /// `text`, then each error of the chain from `e` whose text `text` does not hold yet.
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
}

#[cfg(test)]
mod tests;
