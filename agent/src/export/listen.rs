//! rtscope's own small HTTP/1.1 listener, on the export thread's runtime (never on an
//! application thread): a table of exact paths, each answered by a handler that builds a
//! whole body, and one listener per distinct address. `/metrics` (the Prometheus exporter)
//! is one route; any other part of the export side can add its own with [`Routes::add`].
//!
//! Nothing a client sends is trusted: a request head must fit in [`HEAD_LIMIT`] bytes and
//! arrive within [`HEAD_TIMEOUT`], no request body is ever read, at most [`MAX_CONNECTIONS`]
//! connections are served at once (a further one is closed at once) and each lives at most
//! [`CONNECTION_LIFETIME`]. Only `GET` and `HEAD` of a listed path are answered (404 for any
//! other path, 405 for another method). Binding only where configured; a bind failure is one
//! line naming the setting to fix, and the application goes on.
//!
//! Adding a route is one call in `pipeline::serve`, before the listeners start:
//!
//! ```ignore
//! routes.add(&listen_addr, "/debug/pprof/heap", move |_request| Reply {
//!     content_type: "application/octet-stream",
//!     body: heap_profile_bytes(),
//! });
//! ```

use crate::base::text::{VALUE_CHARS, shown};
use crate::config::Listen;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Method, StatusCode};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::runtime::Runtime;

/// Largest request head (request line and headers) read; a longer one is refused (431).
pub(crate) const HEAD_LIMIT: usize = 16 * 1024;
/// Longest a client may take to send a request head before its connection is closed.
pub(crate) const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// Most connections served at once, over all listeners; a further one is closed at once.
pub(crate) const MAX_CONNECTIONS: usize = 16;
/// Longest one connection is kept (a scraper keeping its connection opens another).
pub(crate) const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// Longest a host name to listen on may take to resolve.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(5);

/// What a handler is told about the request.
#[derive(Debug)]
#[cfg_attr(not(any(test, feature = "export-prometheus")), allow(dead_code))]
pub(crate) struct Request<'a> {
    /// The `Accept` header (empty when absent or not visible ASCII), for content negotiation.
    pub(crate) accept: &'a str,
}

/// A handler's answer: always `200 OK` with this content type and body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) content_type: &'static str,
    pub(crate) body: Vec<u8>,
}

/// Builds the answer to one request of its path. It runs on the export thread (in the
/// agent's account), so it must not block.
pub(crate) type Handler = Arc<dyn Fn(&Request<'_>) -> Reply + Send + Sync>;

/// The routes of every listener: which paths are served at which address.
#[derive(Default)]
pub(crate) struct Routes {
    listeners: Vec<(Listen, Vec<(&'static str, Handler)>)>,
}

impl std::fmt::Debug for Routes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut list = f.debug_list();
        for (at, paths) in &self.listeners {
            let paths: Vec<_> = paths.iter().map(|(p, _)| *p).collect();
            list.entry(&(at, paths));
        }
        list.finish()
    }
}

// With no exporter serving over HTTP in the build, only the tests add a route.
#[cfg_attr(not(any(test, feature = "export-prometheus")), allow(dead_code))]
impl Routes {
    /// Serves `path` (exact, e.g. `/metrics`) at `at`. Routes for the same host and port share
    /// one listener; adding a path twice there keeps the first handler.
    pub(crate) fn add(
        &mut self,
        at: &Listen,
        path: &'static str,
        handler: impl Fn(&Request<'_>) -> Reply + Send + Sync + 'static,
    ) {
        let handler: Handler = Arc::new(handler);
        let same = |l: &Listen| l.host.eq_ignore_ascii_case(&at.host) && l.port == at.port;
        match self.listeners.iter_mut().find(|(l, _)| same(l)) {
            Some((_, paths)) => {
                if !paths.iter().any(|(p, _)| *p == path) {
                    paths.push((path, handler));
                }
            }
            None => self.listeners.push((at.clone(), vec![(path, handler)])),
        }
    }

    /// Whether there is nothing to serve.
    pub(crate) fn is_empty(&self) -> bool {
        self.listeners.is_empty()
    }

    /// Binds every listener and starts serving on `rt`; the connections are served whenever
    /// the export thread runs the runtime (it waits inside it). A listener that cannot bind
    /// is one line of [`Started::problems`] naming what to set instead.
    pub(crate) fn start(self, rt: &Runtime) -> Started {
        let open = Arc::new(AtomicUsize::new(0));
        let (mut bound, mut problems) = (Vec::new(), Vec::new());
        for (at, paths) in self.listeners {
            let table: Arc<[(&'static str, Handler)]> = paths.into();
            let shown_paths = table.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(", ");
            match rt.block_on(bind(&at)) {
                Ok(listeners) => {
                    for listener in listeners {
                        if let Ok(addr) = listener.local_addr() {
                            bound.push((addr, shown_paths.clone()));
                        }
                        rt.spawn(accept(listener, table.clone(), open.clone()));
                    }
                }
                Err(problem) => problems.push(format!(
                    "rtscope: cannot listen on {}:{} for {shown_paths} ({problem}); set {} to \
                     an address this process may bind; not serving it, the application goes on",
                    shown(&at.host, VALUE_CHARS, false),
                    at.port,
                    at.set_by
                )),
            }
        }
        Started { bound, problems }
    }
}

/// What [`Routes::start`] did.
#[derive(Debug, Default)]
pub(crate) struct Started {
    /// Each address listened on, with the paths it serves (`/metrics, /debug/pprof/heap`).
    pub(crate) bound: Vec<(SocketAddr, String)>,
    /// One line per listener that could not bind, naming the setting to fix.
    pub(crate) problems: Vec<String>,
}

impl Started {
    /// Says on stderr where each path is served and what could not be.
    pub(crate) fn report(&self) {
        let mut lines: Vec<String> = self
            .bound
            .iter()
            .map(|(addr, paths)| format!("rtscope: serving {paths} on http://{addr}"))
            .collect();
        lines.extend(self.problems.iter().cloned());
        crate::config::print_warnings(&lines);
    }
}

/// The sockets for `at`: one for an IP address; for `localhost` its IPv4 and (when the
/// system has it) IPv6 loopback; for another name every address it resolves to. Fails
/// unless at least one binds.
async fn bind(at: &Listen) -> Result<Vec<tokio::net::TcpListener>, String> {
    let host = at.host.trim_start_matches('[').trim_end_matches(']');
    let addresses: Vec<SocketAddr> = if let Ok(ip) = host.parse::<IpAddr>() {
        vec![SocketAddr::new(ip, at.port)]
    } else if host.eq_ignore_ascii_case("localhost") {
        vec![
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), at.port),
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), at.port),
        ]
    } else {
        let lookup = tokio::net::lookup_host((host, at.port));
        match tokio::time::timeout(LOOKUP_TIMEOUT, lookup).await {
            Ok(Ok(found)) => found.collect(),
            Ok(Err(e)) => return Err(format!("cannot resolve the host name: {e}")),
            Err(_) => {
                return Err(format!(
                    "the host name did not resolve in {LOOKUP_TIMEOUT:?}"
                ));
            }
        }
    };
    let mut listeners = Vec::new();
    let mut first_error = None;
    for addr in addresses {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => listeners.push(l),
            Err(e) => {
                first_error.get_or_insert(e.to_string());
            }
        }
    }
    if listeners.is_empty() {
        return Err(first_error.unwrap_or_else(|| "the host name has no address".to_owned()));
    }
    Ok(listeners)
}

/// Accepts connections for ever, serving each on its own task while fewer than
/// [`MAX_CONNECTIONS`] are open.
async fn accept(
    listener: tokio::net::TcpListener,
    table: Arc<[(&'static str, Handler)]>,
    open: Arc<AtomicUsize>,
) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors and the like: wait rather than spin.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if open.fetch_add(1, Ordering::Relaxed) >= MAX_CONNECTIONS {
            open.fetch_sub(1, Ordering::Relaxed);
            drop(stream);
            continue;
        }
        let table = table.clone();
        let open = open.clone();
        tokio::spawn(async move {
            serve(stream, table).await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// Serves one connection (keep-alive allowed) until the client closes it, it breaks a
/// limit or it reaches [`CONNECTION_LIFETIME`].
async fn serve(stream: tokio::net::TcpStream, table: Arc<[(&'static str, Handler)]>) {
    let service = hyper::service::service_fn(move |req| {
        let reply = answer(&table, &req);
        async move { Ok::<_, std::convert::Infallible>(reply) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(HEAD_LIMIT)
        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
}

/// The response to one request. The body of a request is never read.
fn answer<B>(table: &[(&'static str, Handler)], req: &hyper::Request<B>) -> Response {
    let path = req.uri().path();
    let Some((_, handler)) = table.iter().find(|(p, _)| *p == path) else {
        let paths = table.iter().map(|(p, _)| *p).collect::<Vec<_>>().join(", ");
        return plain(
            StatusCode::NOT_FOUND,
            format!("not found; this rtscope listener serves {paths}\n"),
        );
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "only GET and HEAD are served\n".to_owned(),
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let reply = handler(&Request { accept });
    let mut r = Response::new(Full::new(Bytes::from(reply.body)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    r
}

type Response = hyper::Response<Full<Bytes>>;

fn plain(status: StatusCode, text: String) -> Response {
    let mut r = Response::new(Full::new(Bytes::from(text)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn local(port: u16) -> Listen {
        Listen {
            host: "127.0.0.1".to_owned(),
            port,
            set_by: "TEST_PORT",
        }
    }

    /// A runtime served by its own thread (as the export thread does while it waits), with
    /// `routes` started on it; the thread ends when the runtime is dropped.
    fn running(routes: Routes) -> (Vec<SocketAddr>, Runtime) {
        let (started, rt) = start(routes);
        assert!(started.problems.is_empty(), "{:?}", started.problems);
        (started.bound.iter().map(|(a, _)| *a).collect(), rt)
    }

    fn start(routes: Routes) -> (Started, Runtime) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        (routes.start(&rt), rt)
    }

    /// Sends `request` as is and reads the answer until the server closes (each request here
    /// says `Connection: close`), for at most 5 s.
    fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn get(addr: SocketAddr, path: &str, accept: &str) -> String {
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
        );
        exchange(addr, req.as_bytes())
    }

    fn hello_routes() -> Routes {
        let mut routes = Routes::default();
        routes.add(&local(0), "/hello", |req: &Request<'_>| Reply {
            content_type: "text/plain; version=0.0.4",
            body: format!("hello, you accept {}\n", req.accept).into_bytes(),
        });
        routes
    }

    #[test]
    fn a_route_is_answered_and_every_other_path_is_404() {
        let (bound, _rt) = running(hello_routes());
        assert_eq!(bound.len(), 1);
        let ok = get(bound[0], "/hello", "text/plain");
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.contains("content-type: text/plain; version=0.0.4\r\n"),
            "{ok}"
        );
        assert!(ok.ends_with("hello, you accept text/plain\n"), "{ok}");
        for path in ["/", "/hello/", "/hellox", "/metrics", "/debug/pprof/heap"] {
            let r = get(bound[0], path, "*/*");
            assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{path}: {r}");
            assert!(r.ends_with("serves /hello\n"), "{r}");
        }
        let head = exchange(
            bound[0],
            b"HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.ends_with("\r\n\r\n"), "a body came with HEAD: {head}");
        let post = exchange(
            bound[0],
            b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
        );
        assert!(
            post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{post}"
        );
        assert!(post.contains("allow: GET, HEAD\r\n"), "{post}");
    }

    #[test]
    fn routes_at_one_address_share_a_listener_and_others_get_their_own() {
        let mut routes = hello_routes();
        let reply = |body: &'static str| {
            move |_: &Request<'_>| Reply {
                content_type: "text/plain",
                body: body.as_bytes().to_vec(),
            }
        };
        routes.add(&local(0), "/second", reply("second"));
        routes.add(&local(0), "/second", reply("not this one"));
        let mut other = local(0);
        other.host = "::1".to_owned();
        routes.add(&other, "/third", reply("third"));
        let (started, _rt) = start(routes);
        let bound: Vec<_> = started.bound.iter().map(|(a, _)| *a).collect();
        assert_eq!(started.bound[0].1, "/hello, /second");
        // Without IPv6 on this machine the second listener is a problem and the first serves.
        assert_eq!(bound.len() + started.problems.len(), 2, "{started:?}");
        let v4 = bound[0];
        assert!(get(v4, "/second", "").ends_with("second"));
        assert!(get(v4, "/third", "").starts_with("HTTP/1.1 404"));
        if let Some(v6) = bound.get(1) {
            assert!(get(*v6, "/third", "").ends_with("third"));
            assert!(get(*v6, "/hello", "").starts_with("HTTP/1.1 404"));
        }
    }

    #[test]
    fn a_request_head_over_the_limit_is_refused_and_the_listener_serves_on() {
        let (bound, _rt) = running(hello_routes());
        let big = format!(
            "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(HEAD_LIMIT)
        );
        let r = exchange(bound[0], big.as_bytes());
        assert!(
            r.is_empty() || r.starts_with("HTTP/1.1 431"),
            "an oversized head was answered: {r:.100}"
        );
        assert!(!r.contains("hello, you accept"), "{r:.100}");
        assert!(get(bound[0], "/hello", "").starts_with("HTTP/1.1 200"));
    }

    #[test]
    fn connections_beyond_the_bound_are_closed_at_once() {
        let (bound, _rt) = running(hello_routes());
        // Open connections that send nothing hold their slots (until the head timeout).
        let idle: Vec<_> = (0..MAX_CONNECTIONS)
            .map(|_| std::net::TcpStream::connect(bound[0]).unwrap())
            .collect();
        // Each accepted in turn: once the last idle one is counted, the next is refused.
        let mut refused = false;
        for _ in 0..50 {
            let r = get(bound[0], "/hello", "");
            if r.is_empty() {
                refused = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            refused,
            "a connection past {MAX_CONNECTIONS} open ones was served"
        );
        drop(idle);
        // The slots come back when the idle clients leave.
        let mut served = false;
        for _ in 0..100 {
            if get(bound[0], "/hello", "").starts_with("HTTP/1.1 200") {
                served = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            served,
            "the listener did not serve again after the idle clients left"
        );
    }

    #[test]
    fn an_address_in_use_is_not_bound_and_nothing_panics() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let mut routes = Routes::default();
        routes.add(&local(port), "/hello", |_: &Request<'_>| Reply {
            content_type: "text/plain",
            body: Vec::new(),
        });
        let (started, _rt) = start(routes);
        assert!(started.bound.is_empty());
        // The system's own words for it (they differ between systems).
        let in_use = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap_err();
        assert_eq!(
            started.problems,
            [format!(
                "rtscope: cannot listen on 127.0.0.1:{port} for /hello ({in_use}); set \
                 TEST_PORT to an address this process may bind; not serving it, the \
                 application goes on"
            )]
        );
        let mut unresolvable = Routes::default();
        let mut at = local(0);
        at.host = "no-such-host.invalid".to_owned();
        unresolvable.add(&at, "/hello", |_: &Request<'_>| Reply {
            content_type: "text/plain",
            body: Vec::new(),
        });
        let (started, _rt) = start(unresolvable);
        assert!(started.bound.is_empty());
        assert_eq!(started.problems.len(), 1);
        assert!(
            started.problems[0].starts_with(
                "rtscope: cannot listen on no-such-host.invalid:0 for /hello (cannot resolve"
            ),
            "{:?}",
            started.problems
        );
    }
}
