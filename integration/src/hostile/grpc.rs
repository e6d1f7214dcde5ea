//! A misbehaving OTLP/gRPC collector on 127.0.0.1: HTTP/2 (h2) without TLS, answering each
//! request with what a function of the request decides: success (an empty export response),
//! or a gRPC status with a message and, optionally, a `RetryInfo` delay. The function sees
//! the path and the metadata, so a collector that echoes the token it got is one line.
//!
//! ```no_run
//! use rtscope_integration::hostile::grpc::{GrpcAnswer, GrpcHostile};
//!
//! // UNAUTHENTICATED, echoing the token without its `Bearer ` prefix.
//! let server = GrpcHostile::start(|request| {
//!     let token = request.metadata("authorization").unwrap_or_default();
//!     GrpcAnswer::status(16, format!("bad token {}", token.trim_start_matches("Bearer ")))
//! });
//! // ... point OTEL_EXPORTER_OTLP_ENDPOINT at server.endpoint(), protocol grpc ...
//! assert!(server.requests() >= 1);
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;

/// One request as the server saw it.
#[derive(Debug)]
pub struct GrpcRequest {
    /// `/opentelemetry.proto.collector.metrics.v1.MetricsService/Export` and the like.
    pub path: String,
    /// Every header (gRPC metadata) as received, names lower-case.
    pub headers: Vec<(String, String)>,
}

impl GrpcRequest {
    /// The value of metadata `name`, if sent.
    pub fn metadata(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// Whether it goes to the OTLP service `service` (`metrics`, `logs`, `profiles`).
    pub fn is(&self, service: &str) -> bool {
        self.path.contains(&format!(".{service}."))
    }
}

/// What the server answers.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum GrpcAnswer {
    /// OK, with an empty export response.
    Ok,
    /// A status: `code` (e.g. 16 UNAUTHENTICATED), `message`, and when `retry_after` is set
    /// a `google.rpc.RetryInfo` with that delay in `grpc-status-details-bin`.
    Status {
        /// The gRPC status code.
        code: i32,
        /// `grpc-message`.
        message: String,
        /// `RetryInfo.retry_delay`.
        retry_after: Option<Duration>,
    },
}

impl GrpcAnswer {
    /// Status `code` with `message`.
    pub fn status(code: i32, message: impl Into<String>) -> GrpcAnswer {
        GrpcAnswer::Status {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds a `RetryInfo` delay (a `Status` only).
    pub fn with_retry_after(mut self, delay: Duration) -> GrpcAnswer {
        if let GrpcAnswer::Status { retry_after, .. } = &mut self {
            *retry_after = Some(delay);
        }
        self
    }
}

type Answer = dyn Fn(&GrpcRequest) -> GrpcAnswer + Send + Sync;

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    paths: Mutex<Vec<String>>,
}

/// The running server; stops when dropped.
#[must_use = "the server stops when dropped"]
pub struct GrpcHostile {
    port: u16,
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for GrpcHostile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcHostile")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl GrpcHostile {
    /// Starts the server on a free port of 127.0.0.1, answering each request with
    /// `answer(request)`.
    ///
    /// # Panics
    ///
    /// If no port can be bound or its thread cannot start.
    pub fn start(answer: impl Fn(&GrpcRequest) -> GrpcAnswer + Send + Sync + 'static) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let shared = Arc::new(Shared::default());
        let answer: Arc<Answer> = Arc::new(answer);
        let s = shared.clone();
        let thread = thread::Builder::new()
            .name("hostile-grpc".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                rt.block_on(accept(listener, s, answer));
            })
            .expect("spawn the gRPC server");
        GrpcHostile {
            port,
            shared,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests received whole so far.
    pub fn requests(&self) -> u64 {
        self.shared.paths.lock().unwrap().len() as u64
    }

    /// Requests to the OTLP service `service` (`metrics`, `logs`, `profiles`) so far.
    pub fn requests_to(&self, service: &str) -> u64 {
        let needle = format!(".{service}.");
        let paths = self.shared.paths.lock().unwrap();
        paths.iter().filter(|p| p.contains(&needle)).count() as u64
    }
}

impl Drop for GrpcHostile {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accepts until stopped (checked every 50 ms); each connection is served by a task.
async fn accept(listener: std::net::TcpListener, s: Arc<Shared>, answer: Arc<Answer>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    while !s.stop.load(Ordering::Acquire) {
        let accepted = tokio::time::timeout(Duration::from_millis(50), listener.accept()).await;
        if let Ok(Ok((socket, _))) = accepted {
            tokio::spawn(connection(socket, s.clone(), answer.clone()));
        }
    }
}

async fn connection(socket: tokio::net::TcpStream, s: Arc<Shared>, answer: Arc<Answer>) {
    let Ok(mut conn) = h2::server::handshake(socket).await else {
        return;
    };
    while let Some(Ok((request, respond))) = conn.accept().await {
        tokio::spawn(stream(request, respond, s.clone(), answer.clone()));
    }
}

/// Reads one request whole and answers it.
async fn stream(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    s: Arc<Shared>,
    answer: Arc<Answer>,
) {
    let (parts, mut body) = request.into_parts();
    while let Some(chunk) = body.data().await {
        let Ok(chunk) = chunk else { return };
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let seen = GrpcRequest {
        path: parts.uri.path().to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into(),
                )
            })
            .collect(),
    };
    s.paths.lock().unwrap().push(seen.path.clone());
    let head = |status: Option<(i32, &str, &Option<Duration>)>| {
        let mut b = http::Response::builder()
            .status(200)
            .header("content-type", "application/grpc");
        if let Some((code, message, retry_after)) = status {
            b = b
                .header("grpc-status", code.to_string())
                .header("grpc-message", percent_encode(message));
            if let Some(delay) = retry_after {
                let details = base64::engine::general_purpose::STANDARD_NO_PAD
                    .encode(retry_status(code, message, *delay));
                b = b.header("grpc-status-details-bin", details);
            }
        }
        b.body(()).expect("a response head")
    };
    match answer(&seen) {
        GrpcAnswer::Ok => {
            let Ok(mut send) = respond.send_response(head(None), false) else {
                return;
            };
            // An empty message: not compressed, length 0.
            let _ = send.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), false);
            let mut trailers = http::HeaderMap::new();
            trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
            let _ = send.send_trailers(trailers);
        }
        // Trailers-only: the status in the one header block.
        GrpcAnswer::Status {
            code,
            message,
            retry_after,
        } => {
            let _ = respond.send_response(head(Some((code, &message, &retry_after))), true);
        }
    }
}

/// `grpc-message` encoding: bytes outside printable ASCII, and `%`, as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A `google.rpc.Status` carrying a `google.rpc.RetryInfo` of `delay`, protobuf-encoded.
fn retry_status(code: i32, message: &str, delay: Duration) -> Vec<u8> {
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }
    fn field(tag: u64, bytes: &[u8], out: &mut Vec<u8>) {
        varint(tag << 3 | 2, out);
        varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }
    let mut duration = Vec::new();
    varint(1 << 3, &mut duration);
    varint(delay.as_secs(), &mut duration);
    let mut info = Vec::new();
    field(1, &duration, &mut info);
    let mut any = Vec::new();
    field(1, b"type.googleapis.com/google.rpc.RetryInfo", &mut any);
    field(2, &info, &mut any);
    let mut status = Vec::new();
    varint(1 << 3, &mut status);
    varint(u64::from(code.unsigned_abs()), &mut status);
    field(2, message.as_bytes(), &mut status);
    field(3, &any, &mut status);
    status
}
