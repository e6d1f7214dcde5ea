//! The OTLP/HTTP sink: hyper's HTTP/1.1 client over [`resolve`] (and rustls), keep-alive
//! connections per origin, bodies read up to [`BODY_LIMIT`], and what an HTTP status means
//! for a retry.

use super::redact::{self, Secrets};
use super::resolve;
use super::retry::{Failure, Retry, RpcStatus, parse_retry_after, with_retries};
use super::signals::Signal;
use super::tls;
use super::{Payload, Request, SendError, chain_after, check_rejected, echo, echo_without};
use crate::config::{Compression, OtlpTarget, TlsFiles, redact_url};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderName, HeaderValue};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use prost::Message;
#[cfg(feature = "tls")]
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Most bytes of an HTTP response body read, on every path; the rest is never received.
const BODY_LIMIT: usize = 4 * 1024;
/// Longest a connection stays idle to be reused (as reqwest's and hyper-util's pools).
const HTTP_IDLE_LIMIT: Duration = Duration::from_secs(90);
/// Most idle connections kept: one per signal (the requests of an export go out at once).
const HTTP_IDLE_CONNECTIONS: usize = 3;
/// Largest buffer hyper reads a response into (status line and headers must fit).
const HTTP_BUFFER_LIMIT: usize = 64 * 1024;

/// The OTLP/HTTP sink: one route per signal, the headers sent with every request.
pub(super) struct HttpSink {
    client: HttpClient,
    metrics: Route,
    logs: Route,
    /// `/v1development/profiles` of the metrics endpoint's origin.
    profiles: Route,
    headers: Vec<(HeaderName, HeaderValue)>,
    gzip: bool,
    timeout: Duration,
}

impl HttpSink {
    /// Where `signals` go, for log lines: each one's URL.
    pub(super) fn describe(&self, signals: &[Signal]) -> String {
        let mut urls: Vec<&str> = Vec::new();
        for s in signals {
            let route = match s {
                Signal::Metrics => &self.metrics,
                Signal::Logs => &self.logs,
                Signal::Profiles => &self.profiles,
            };
            if !urls.contains(&route.shown.as_str()) {
                urls.push(&route.shown);
            }
        }
        format!("OTLP/HTTP {}", urls.join(", "))
    }

    /// One request with its retries (see [`Sink::send`](super::Sink::send)), on its own
    /// deadline.
    pub(super) async fn send(
        &self,
        request: &Request,
        secrets: &Secrets,
        now: Instant,
    ) -> Result<(), Failure> {
        let HttpSink {
            client,
            metrics,
            logs,
            profiles,
            headers,
            gzip,
            timeout,
        } = self;
        let resend_safe = request.resend_safe;
        let payload = &request.payload;
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
}

/// One URL of the HTTP sink, split for hyper's connection-level client.
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
#[derive(Clone, Debug, PartialEq, Eq)]
struct Origin {
    tls: bool,
    /// A name, an IPv4 address or a bracketed IPv6 one.
    host: String,
    port: u16,
}

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
type Idle = (Origin, SendRequest<Full<Bytes>>, Instant);

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
pub(super) fn http_maybe_delivered(status: u16) -> bool {
    !matches!(status, 400..=499 | 503)
}

/// At most [`BODY_LIMIT`] bytes of `body`, and whether that was all of it. The rest is never
/// read: dropping the body and its connection closes the connection.
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

fn gzip_bytes(body: &[u8]) -> Result<Vec<u8>, SendError> {
    use std::io::Write as _;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(body)
        .and_then(|_| enc.finish())
        .map_err(|e| SendError::new(format!("gzip: {e}")))
}

/// "error: cause: cause" so a log line says why, not only that; a cause whose text is
/// already there (layers that repeat their source's text) is said once.
fn error_chain(e: &dyn std::error::Error) -> String {
    echo(&chain_after(String::new(), e))
}
/// [`error_chain`], followed by what to fix when it is a TLS failure ([`tls::advice`]).
fn explained(e: &(dyn std::error::Error + 'static), files: &TlsFiles) -> String {
    let text = error_chain(e);
    match tls::advice(e, files) {
        Some(advice) => format!("{text}; {advice}"),
        None => text,
    }
}

/// Where OTLP/HTTP profiles go: `/v1development/profiles` in place of the metrics URL's
/// `/v1/metrics`, else at the metrics URL's origin.
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

impl HttpSink {
    /// The routes and headers of `t` (connections are made per request).
    pub(super) fn new(t: &OtlpTarget) -> Result<HttpSink, SendError> {
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
        Ok(HttpSink {
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
}
