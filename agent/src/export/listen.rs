//! rtscope's own small HTTP/1.1 listener, on the export thread's runtime (never on an
//! application thread): a table of exact paths, each answered by a handler, and one listener
//! per distinct address. `/metrics` (the Prometheus exporter) is one route and
//! `/debug/pprof/*` others; any part of the export side can add its own with [`Routes::add`].
//!
//! Nothing a client sends is trusted, and no client can deny another (see [`Limits`]; the
//! defaults and their measurements are in docs/reliability.md). Each listener (each distinct
//! address) has its own bounds, so clients holding one port never touch another:
//!
//! - **The lobby.** An accepted connection waits in the lobby until its first request head
//!   is whole, read cheaply by rtscope itself (no HTTP machinery yet; a head sent in pieces
//!   is read at most ten times a second). The lobby is bounded: a new connection pushes
//!   out the one that has waited longest, and none stays past the head timeout. So silent
//!   and slowloris clients, however many and however fast they reconnect, only ever push
//!   each other out, while a client that sends its request is taken at once.
//! - **Served connections** (a head read, handed to hyper) are bounded too. At the bound a
//!   new one closes the served connection that has waited longest without a request in
//!   progress (one that never completed a request first, an idle keep-alive next; never one
//!   whose request is being answered). An idle keep-alive is kept at most the head timeout;
//!   a response write that makes no progress for the write timeout closes the connection; a
//!   connection is closed after its lifetime, once its request in progress is answered.
//! - **Accepts are paced** (a token bucket), so clients reconnecting as fast as they are
//!   closed cost a bounded number of accepts a second.
//! - **CPU is bounded**: every poll of the listener's tasks is timed on the thread's CPU
//!   clock and charged to its budget; once the second's share (plus a small burst) is spent,
//!   its tasks wait until it is earned again, and the accept loop stops first (it leaves half
//!   the burst to the connections), so serving comes before taking more. Handlers whose
//!   answers are costly (the heap profiles) cache them as well.
//!
//! Only `GET` and `HEAD` of a listed path are answered (404 for any other path, 405 for
//! another method). Binding only where configured; an IP address or `localhost` is bound
//! before [`Routes::start`] returns, a host name after its lookup (on a thread of its own,
//! at most 5 s, never blocking the export thread); a bind failure is one line naming the
//! settings to fix, and the application goes on.
//!
//! Adding a route is one call in `pipeline::serve`, before the listeners start:
//!
//! ```ignore
//! routes.add(&listen_addr, "/debug/pprof/heap", move |_request| {
//!     Reply::ok("application/octet-stream", heap_profile_bytes())
//! });
//! ```

mod gate;
mod io;

use crate::base::text::{VALUE_CHARS, shown};
use crate::config::Listen;
use bytes::Bytes;
use gate::{Busy, Gate, Metered};
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, StatusCode};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::task::Poll;
use std::time::Duration;
use tokio::runtime::Runtime;

/// Largest request head (request line and headers) read; a longer one is refused (431).
pub(crate) const HEAD_LIMIT: usize = 16 * 1024;
/// Longest a host name to listen on may take to resolve.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);
/// The kernel's queue of connections not yet accepted, per socket.
const BACKLOG: u32 = 1024;
/// Longest any handler's answer may take to come ([`Answer::Later`]; a delta profile waits
/// its seconds): a connection is closed at its lifetime plus this at the latest.
pub(crate) const LONGEST_ANSWER: Duration = Duration::from_secs(330);

/// The listener's bounds, per listener (each distinct address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Most connections served at once (each with a request head read).
    pub(crate) connections: usize,
    /// Most connections waiting for their first whole request head (the lobby).
    pub(crate) lobby: usize,
    /// Connections accepted per second, on average (a burst of `connections` at once).
    pub(crate) accepts_per_second: u32,
    /// CPU time the listener may spend per second (accepting, parsing, handlers).
    pub(crate) cpu_per_second: Duration,
    /// CPU time it may spend at once beyond that, e.g. one heap profile build.
    pub(crate) cpu_burst: Duration,
    /// Longest a client may take to send a request head (and longest a connection is kept
    /// idle between requests).
    pub(crate) head_timeout: Duration,
    /// Longest a response write may make no progress (a client that does not read).
    pub(crate) write_timeout: Duration,
    /// Longest one connection is kept (a scraper keeping its connection opens another).
    pub(crate) lifetime: Duration,
}

impl Limits {
    /// The defaults with what the configuration sets (`RTSCOPE_LISTEN_CONNECTIONS`,
    /// `RTSCOPE_LISTEN_CPU`); the lobby holds four times the connections, at least 64.
    pub(crate) fn configured(set: &crate::config::ListenLimits) -> Limits {
        let connections = set.connections.max(1);
        Limits {
            connections,
            lobby: (4 * connections).max(64),
            cpu_per_second: Duration::from_secs_f64(set.cpu_percent / 100.0),
            ..Limits::default()
        }
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connections: 16,
            lobby: 64,
            accepts_per_second: 512,
            cpu_per_second: Duration::from_millis(20),
            cpu_burst: Duration::from_millis(25),
            head_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(5),
            lifetime: Duration::from_secs(60),
        }
    }
}

/// What a handler is told about the request.
#[derive(Debug)]
#[cfg_attr(not(any(test, feature = "export-prometheus")), allow(dead_code))]
pub(crate) struct Request<'a> {
    /// The `Accept` header (empty when absent or not visible ASCII), for content negotiation.
    pub(crate) accept: &'a str,
    /// The query string, without the `?` (empty when there is none).
    #[cfg_attr(not(any(test, feature = "profiles")), allow(dead_code))]
    pub(crate) query: &'a str,
}

impl Request<'_> {
    /// The first value of query parameter `name`, as sent (no percent-decoding: the values
    /// rtscope reads are numbers).
    #[cfg_attr(not(any(test, feature = "profiles")), allow(dead_code))]
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    }
}

/// A handler's answer: a status, a content type, extra headers and a body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) content_type: &'static str,
    pub(crate) headers: Vec<(header::HeaderName, HeaderValue)>,
    pub(crate) body: Bytes,
}

impl Reply {
    /// `200 OK` with `body`.
    pub(crate) fn ok(content_type: &'static str, body: impl Into<Bytes>) -> Reply {
        Reply {
            status: StatusCode::OK,
            content_type,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// `status` with a plain-text body of one line.
    pub(crate) fn text(status: StatusCode, line: impl Into<String>) -> Reply {
        let mut line = line.into();
        line.push('\n');
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            headers: Vec::new(),
            body: line.into(),
        }
    }

    /// Adds a header (a value that is not a valid header value is left out).
    pub(crate) fn with_header(mut self, name: header::HeaderName, value: &str) -> Reply {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.push((name, v));
        }
        self
    }
}

/// A reply ready now, or one that comes later (awaited on the export thread's runtime, so
/// waiting there blocks nothing; the connection is counted as inside a request meanwhile).
pub(crate) enum Answer {
    Now(Reply),
    #[cfg_attr(not(any(test, feature = "profiles")), allow(dead_code))]
    Later(Pin<Box<dyn Future<Output = Reply> + Send>>),
}

impl From<Reply> for Answer {
    fn from(r: Reply) -> Answer {
        Answer::Now(r)
    }
}

/// Builds the answer to one request of its path. It runs on the export thread (in the
/// agent's account), so it must not block.
pub(crate) type Handler = Arc<dyn Fn(&Request<'_>) -> Answer + Send + Sync>;

type Table = Arc<[(&'static str, Handler)]>;

/// A path and where to put its URL once it is served.
type Watched = (&'static str, Arc<OnceLock<String>>);

/// One listener's address, what set it, and its paths.
struct Planned {
    at: Listen,
    /// Every setting that named this address (shown when it cannot be bound).
    set_by: Vec<&'static str>,
    paths: Vec<(&'static str, Handler)>,
}

/// The routes of every listener: which paths are served at which address.
#[derive(Default)]
pub(crate) struct Routes {
    listeners: Vec<Planned>,
    /// Paths whose URL someone wants once it is served.
    watched: Vec<Watched>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for l in &self.listeners {
            let paths: Vec<_> = l.paths.iter().map(|(p, _)| *p).collect();
            list.entry(&(&l.at, paths));
        }
        list.finish()
    }
}

// With no exporter serving over HTTP in the build, only the tests add a route.
#[cfg_attr(not(any(test, feature = "export-prometheus")), allow(dead_code))]
impl Routes {
    /// Serves `path` (exact, e.g. `/metrics`) at `at`. Routes for the same host and port share
    /// one listener; adding a path twice there keeps the first handler.
    pub(crate) fn add<A: Into<Answer>>(
        &mut self,
        at: &Listen,
        path: &'static str,
        handler: impl Fn(&Request<'_>) -> A + Send + Sync + 'static,
    ) {
        let handler: Handler = Arc::new(move |r: &Request<'_>| handler(r).into());
        let same = |l: &Listen| l.host.eq_ignore_ascii_case(&at.host) && l.port == at.port;
        match self.listeners.iter_mut().find(|l| same(&l.at)) {
            Some(l) => {
                if !l.set_by.contains(&at.set_by) {
                    l.set_by.push(at.set_by);
                }
                if !l.paths.iter().any(|(p, _)| *p == path) {
                    l.paths.push((path, handler));
                }
            }
            None => self.listeners.push(Planned {
                at: at.clone(),
                set_by: vec![at.set_by],
                paths: vec![(path, handler)],
            }),
        }
    }

    /// Where `path` is served, `http://ADDR/path`, set once a listener serving it is bound
    /// (later than [`start`](Self::start) for a host name that is looked up).
    pub(crate) fn url_of(&mut self, path: &'static str) -> Arc<OnceLock<String>> {
        let url = Arc::new(OnceLock::new());
        self.watched.push((path, url.clone()));
        url
    }

    /// Whether there is nothing to serve.
    pub(crate) fn is_empty(&self) -> bool {
        self.listeners.is_empty()
    }

    /// Binds every listener and starts serving on `rt`; the connections are served whenever
    /// the export thread runs the runtime (it waits inside it). Never blocks: a host name is
    /// looked up and bound on the runtime later. Each outcome (where each path is served, or
    /// why it is not, naming the settings to change) is given to `say` once known.
    pub(crate) fn start(self, rt: &Runtime, limits: Limits, say: fn(&[String])) -> Started {
        let started = Started::default();
        let watched: Arc<[_]> = self.watched.into();
        for planned in self.listeners {
            let table: Table = planned.paths.into();
            let gate = Arc::new(Gate::new(limits));
            started
                .gates
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(gate.clone());
            let outcome = Outcome {
                at: planned.at,
                set_by: planned.set_by,
                table,
                gate,
                started: started.clone(),
                watched: watched.clone(),
                say,
            };
            match direct_addresses(&outcome.at) {
                Some(addresses) => {
                    let _entered = rt.enter();
                    outcome.bind(&addresses);
                }
                None => {
                    started.pending.fetch_add(1, Ordering::AcqRel);
                    rt.spawn(async move {
                        let host = outcome.at.host.clone();
                        match lookup(&host, outcome.at.port).await {
                            Ok(addresses) => outcome.bind(&addresses),
                            Err(problem) => outcome.failed(&problem),
                        }
                        outcome.started.pending.fetch_sub(1, Ordering::AcqRel);
                    });
                }
            }
        }
        started
    }
}

/// What [`Routes::start`] did, and is still doing for host names being looked up.
#[derive(Clone, Debug, Default)]
pub(crate) struct Started {
    /// Each address listened on, with the paths it serves (`/metrics, /debug/pprof/heap`).
    bound: Arc<Mutex<Vec<(SocketAddr, String)>>>,
    /// One line per listener that could not bind, naming the setting to fix.
    problems: Arc<Mutex<Vec<String>>>,
    /// Listeners whose host name is still being looked up.
    pending: Arc<AtomicUsize>,
    /// Each listener's gate (its connections, counts and CPU), in the order added.
    gates: Arc<Mutex<Vec<Arc<Gate>>>>,
}

#[cfg_attr(not(test), allow(dead_code))]
impl Started {
    /// Whether any listener serves or may still (its name being looked up).
    pub(crate) fn serving(&self) -> bool {
        self.pending.load(Ordering::Acquire) > 0 || !self.bound().is_empty()
    }

    pub(crate) fn bound(&self) -> Vec<(SocketAddr, String)> {
        self.bound
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn problems(&self) -> Vec<String> {
        self.problems
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether every listener is bound or has failed.
    pub(crate) fn settled(&self) -> bool {
        self.pending.load(Ordering::Acquire) == 0
    }

    /// Listener `i`'s gate (in the order the listeners were added).
    pub(crate) fn gate(&self, i: usize) -> Arc<Gate> {
        self.gates.lock().unwrap_or_else(PoisonError::into_inner)[i].clone()
    }
}

/// One listener being started: binds and records (and says) what happened.
struct Outcome {
    at: Listen,
    set_by: Vec<&'static str>,
    table: Table,
    gate: Arc<Gate>,
    started: Started,
    watched: Arc<[Watched]>,
    say: fn(&[String]),
}

impl Outcome {
    fn paths(&self) -> String {
        self.table
            .iter()
            .map(|(p, _)| *p)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Binds every address (inside the runtime) and starts accepting on each that binds.
    fn bind(&self, addresses: &[SocketAddr]) {
        let mut first_error = None;
        let mut lines = Vec::new();
        for addr in addresses {
            match listen_on(*addr) {
                Ok(listener) => {
                    let local = listener.local_addr().unwrap_or(*addr);
                    let paths = self.paths();
                    lines.push(format!("rtscope: serving {paths} on http://{local}"));
                    for (path, url) in self.watched.iter() {
                        if self.table.iter().any(|(p, _)| p == path) {
                            let _ = url.set(format!("http://{local}{path}"));
                        }
                    }
                    self.started
                        .bound
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((local, paths));
                    let gate = self.gate.clone();
                    let accepting = accept(listener, self.table.clone(), gate.clone());
                    tokio::spawn(Metered::accepting(accepting, gate));
                }
                Err(e) => {
                    first_error.get_or_insert(e.to_string());
                }
            }
        }
        if lines.is_empty() {
            let problem = first_error.unwrap_or_else(|| "the host name has no address".into());
            self.failed(&problem);
        } else {
            (self.say)(&lines);
        }
    }

    fn failed(&self, problem: &str) {
        let line = format!(
            "rtscope: cannot listen on {}:{} for {} ({problem}); set {} to an address this \
             process may bind; not serving it, the application goes on",
            shown(&self.at.host, VALUE_CHARS, false),
            self.at.port,
            self.paths(),
            self.set_by.join(" and ")
        );
        (self.say)(std::slice::from_ref(&line));
        self.started
            .problems
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }
}

/// The addresses of `at` without a lookup: an IP address; for `localhost` its IPv4 and IPv6
/// loopback. `None` for another name.
fn direct_addresses(at: &Listen) -> Option<Vec<SocketAddr>> {
    let host = at.host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        Some(vec![SocketAddr::new(ip, at.port)])
    } else if host.eq_ignore_ascii_case("localhost") {
        Some(vec![
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), at.port),
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), at.port),
        ])
    } else {
        None
    }
}

/// Every address `host` resolves to, from a thread of its own (`getaddrinfo` blocks and
/// cannot be cancelled): waited for at most [`LOOKUP_TIMEOUT`], the thread left to finish by
/// itself when it hangs.
async fn lookup(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    use std::net::ToSocketAddrs as _;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let name = host.to_owned();
    std::thread::Builder::new()
        .name("rtscope-listen-lookup".into())
        .spawn(move || {
            crate::base::shard::enter_agent_thread();
            let found = (name.as_str(), port)
                .to_socket_addrs()
                .map(|a| a.take(8).collect::<Vec<_>>());
            let _ = tx.send(found.map_err(|e| e.to_string()));
        })
        .map_err(|e| format!("cannot start a name lookup thread: {e}"))?;
    match tokio::time::timeout(LOOKUP_TIMEOUT, rx).await {
        Ok(Ok(Ok(found))) => Ok(found),
        Ok(Ok(Err(e))) => Err(format!("cannot resolve the host name: {e}")),
        Ok(Err(_)) => Err("the name lookup ended without an answer".to_owned()),
        Err(_) => Err(format!(
            "the host name did not resolve in {LOOKUP_TIMEOUT:?}"
        )),
    }
}

/// A listening socket on `addr` (inside the runtime), with a backlog of [`BACKLOG`].
fn listen_on(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Accepts connections for ever, as the accept pace allows, each into the lobby on a task of
/// its own.
async fn accept(listener: tokio::net::TcpListener, table: Table, gate: Arc<Gate>) {
    loop {
        gate.accept_token().await;
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors and the like: wait rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let waiting = gate.enter_lobby();
        let arriving = arrive(stream, waiting, table.clone(), gate.clone());
        tokio::spawn(Metered::new(arriving, gate.clone()));
    }
}

/// One connection: in the lobby until its first request head is whole (closed when it is
/// pushed out by newer connections or the head timeout passes), then served.
async fn arrive(
    stream: tokio::net::TcpStream,
    waiting: Arc<gate::Waiting>,
    table: Table,
    gate: Arc<Gate>,
) {
    let limits = gate.limits();
    let mut head = Vec::new();
    let whole = {
        let mut reading = pin!(io::read_head(&stream, &mut head));
        let mut evicted = pin!(waiting.evicted());
        let mut late = pin!(tokio::time::sleep(limits.head_timeout));
        std::future::poll_fn(|cx| {
            if evicted.as_mut().poll(cx).is_ready() || late.as_mut().poll(cx).is_ready() {
                return Poll::Ready(false);
            }
            reading.as_mut().poll(cx)
        })
        .await
    };
    gate.leave_lobby(&waiting, whole);
    if !whole {
        return;
    }
    let Ok(conn) = tokio::time::timeout(limits.head_timeout, gate.admit()).await else {
        return;
    };
    serve(stream, head, table, gate, conn).await;
}

/// Serves one connection (keep-alive allowed) until the client closes it, it breaks a
/// limit, the gate closes it to make room, or it reaches its lifetime. `head`: what the
/// lobby read of it.
async fn serve(
    stream: tokio::net::TcpStream,
    head: Vec<u8>,
    table: Table,
    gate: Arc<Gate>,
    conn: Arc<gate::Conn>,
) {
    let limits = gate.limits();
    let _ = stream.set_nodelay(true);
    let io = io::WriteTimeout::new(stream, head, limits.write_timeout);
    let io = hyper_util::rt::TokioIo::new(io);
    let (g, c) = (gate.clone(), conn.clone());
    let service = hyper::service::service_fn(move |req| {
        let busy = Busy::enter(&g, &c);
        let answer = answer(&table, &req);
        async move {
            let reply = match answer {
                Answer::Now(r) => r,
                Answer::Later(f) => f.await,
            };
            Ok::<_, std::convert::Infallible>(response(reply, busy))
        }
    });
    let mut connection = pin!(
        hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(limits.head_timeout)
            .max_buf_size(HEAD_LIMIT)
            .serve_connection(io, service)
    );
    let mut shed = pin!(conn.shed_signal());
    let mut lifetime = pin!(tokio::time::sleep(limits.lifetime));
    let mut last_call = pin!(tokio::time::sleep(limits.lifetime + LONGEST_ANSWER));
    let mut ending = false;
    std::future::poll_fn(|cx| {
        if shed.as_mut().poll(cx).is_ready() || last_call.as_mut().poll(cx).is_ready() {
            return Poll::Ready(());
        }
        if !ending && lifetime.as_mut().poll(cx).is_ready() {
            // Closes once the request in progress, if any, is answered.
            ending = true;
            connection.as_mut().graceful_shutdown();
        }
        let done = connection.as_mut().poll(cx).map(|_| ());
        conn.polled();
        done
    })
    .await;
    gate.leave(&conn);
}

/// The answer to one request. The body of a request is never read.
fn answer<B>(table: &[(&'static str, Handler)], req: &hyper::Request<B>) -> Answer {
    let path = req.uri().path();
    let Some((_, handler)) = table.iter().find(|(p, _)| *p == path) else {
        let paths = table.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(", ");
        return Reply::text(
            StatusCode::NOT_FOUND,
            format!("not found; this rtscope listener serves {paths}"),
        )
        .into();
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return Reply::text(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served",
        )
        .with_header(header::ALLOW, "GET, HEAD")
        .into();
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let query = req.uri().query().unwrap_or("");
    handler(&Request { accept, query })
}

/// The response for `reply`; the connection counts as inside a request until its body has
/// been handed over (`busy` goes with it).
fn response(reply: Reply, busy: Busy) -> hyper::Response<Whole> {
    let mut r = hyper::Response::new(Whole {
        inner: Full::new(reply.body),
        busy: Some(busy),
    });
    *r.status_mut() = reply.status;
    let headers = r.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    for (name, value) in reply.headers {
        headers.insert(name, value);
    }
    r
}

/// A whole body that ends the connection's request when its last byte is handed over (or
/// when hyper drops it, as for `HEAD`).
struct Whole {
    inner: Full<Bytes>,
    busy: Option<Busy>,
}

impl hyper::body::Body for Whole {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        if hyper::body::Body::is_end_stream(&self.inner) {
            self.busy = None;
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        hyper::body::Body::is_end_stream(&self.inner)
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::Body::size_hint(&self.inner)
    }
}

#[cfg(test)]
mod tests;
