//! A small but real HTTP service under rtscope, used as a new user would: hyper on tokio with
//! `#[rtscope::main]` on `async fn main`, `tracing` with `fmt` and
//! [`RtscopeLayer`](rtscope::tracing::RtscopeLayer) (the filter on the `fmt` layer only, so
//! every span still reaches rtscope), handlers that allocate, a cache that keeps a known
//! number of bytes live, a [`Pool`], rtscope's timer wrappers, `rtscope::latency` per request
//! and instrumented tasks. `integration/tests/service.rs` drives it and checks what arrives
//! at a real collector.
//!
//! ```text
//! cargo run --release -p rtscope-examples --bin service [-- ADDR [SECONDS]]
//! curl -s 127.0.0.1:8080/cache/fill; curl -s '127.0.0.1:8080/slow?ms=300'; curl -s 127.0.0.1:8080/quit
//! ```
//!
//! `ADDR` (or `SERVICE_ADDR`) defaults to `127.0.0.1:8080`; port 0 picks a free one. The first
//! line on stdout is `listening on http://ADDR`. It runs until `GET /quit`, SIGINT or SIGTERM,
//! or for `SECONDS` (`SERVICE_SECONDS`) when given. The agent is configured by the standard
//! variables (`OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318`, ...); logs go to stderr,
//! filtered by `RUST_LOG` (default `warn,service=info`).
//!
//! | route | what it does |
//! | --- | --- |
//! | `POST /json` | parses the JSON body, answers a JSON summary of it |
//! | `GET /pool` | renders a JSON answer into a buffer taken from a `Pool` |
//! | `GET /timeout?ms=N` | waits on a backend that takes `N` ms, under a 20 ms `rtscope::time::tokio::timeout` (504 when it runs out) |
//! | `GET /cache/fill` | fills the cache: [`CACHE_ENTRIES`] entries of exactly [`CACHE_ENTRY_BYTES`] each (replacing the old ones) |
//! | `GET /cache/stats` | `{"entries":N,"bytes":B}`: the entries and the bytes their values hold |
//! | `GET /cache/get?key=K` | the first bytes of one entry (404 when empty) |
//! | `GET /known` | allocates exactly [`KNOWN_BYTES`] in one block inside `rtscope::scope("known", ..)`; answers `{"bytes":N}` |
//! | `GET /slow?ms=N` | a slow request: `N` ms (at most 5000) of allocating work in the scope `slow-report` on a blocking thread |
//! | `GET /health`, `GET /quit` | `ok`; stop |
//!
//! Every request runs in a span `request` whose `route` field names its scope, and reports its
//! duration with `rtscope::latency("request", ..)`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::hint::black_box;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rtscope::pool::Pool;
use rtscope::tracing::RtscopeLayer;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

/// Entries of the cache once filled.
pub const CACHE_ENTRIES: usize = 256;
/// Bytes of each cache entry's value (one block of exactly this size).
pub const CACHE_ENTRY_BYTES: usize = 64 * 1024;
/// Bytes `GET /known` allocates, in one block, in the scope `known`.
pub const KNOWN_BYTES: usize = 4 << 20;
/// The longest `/slow` request.
const MAX_SLOW: Duration = Duration::from_secs(5);
/// The largest request body read.
const MAX_BODY: usize = 1 << 20;
/// The timeout of `/timeout`'s backend call.
const BACKEND_TIMEOUT: Duration = Duration::from_millis(20);

struct App {
    /// Fixed-size entries: its values hold `entries x CACHE_ENTRY_BYTES` bytes. The table is
    /// allocated at start for every entry, so filling it allocates the values only.
    cache: Mutex<HashMap<u32, Box<[u8]>>>,
    buffers: Pool<Vec<u8>>,
    quit: Notify,
    requests: AtomicU64,
}

type Answer = Response<Full<Bytes>>;

fn answer(status: StatusCode, body: impl Into<Bytes>) -> Answer {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r
}

fn json_answer(v: &Value) -> Answer {
    answer(
        StatusCode::OK,
        serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec()),
    )
}

/// The value of `key` in the query string, as a number.
fn query_u64(req: &Request<Incoming>, key: &str) -> Option<u64> {
    req.uri().query()?.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        if k == key { v.parse().ok() } else { None }
    })
}

/// The route's name (a fixed set, so scope names stay bounded).
fn route_of(method: &Method, path: &str) -> &'static str {
    match (method, path) {
        (&Method::POST, "/json") => "/json",
        (&Method::GET, "/pool") => "/pool",
        (&Method::GET, "/timeout") => "/timeout",
        (&Method::GET, "/cache/fill") => "/cache/fill",
        (&Method::GET, "/cache/stats") => "/cache/stats",
        (&Method::GET, "/cache/get") => "/cache/get",
        (&Method::GET, "/known") => "/known",
        (&Method::GET, "/slow") => "/slow",
        (&Method::GET, "/health") => "/health",
        (&Method::GET, "/quit") => "/quit",
        _ => "unknown",
    }
}

impl App {
    fn cache_stats(&self) -> Value {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let bytes: usize = cache.values().map(|v| v.len()).sum();
        json!({ "entries": cache.len(), "bytes": bytes })
    }

    // Its own frame, so the heap profile names it as the cache's holder.
    #[inline(never)]
    fn fill_cache(&self) -> Value {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        for key in 0..CACHE_ENTRIES as u32 {
            // `vec!` allocates exactly the length; `into_boxed_slice` keeps that block.
            let value = vec![key as u8; CACHE_ENTRY_BYTES].into_boxed_slice();
            cache.insert(key, value);
        }
        drop(cache);
        self.cache_stats()
    }

    async fn handle(&self, req: Request<Incoming>, route: &'static str) -> Answer {
        match route {
            "/json" => {
                let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                    Ok(b) => b.to_bytes(),
                    Err(_) => return answer(StatusCode::PAYLOAD_TOO_LARGE, "body too large\n"),
                };
                let Ok(v) = serde_json::from_slice::<Value>(&body) else {
                    return answer(StatusCode::BAD_REQUEST, "bad JSON\n");
                };
                let items = v["items"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                let sum: f64 = items.iter().filter_map(Value::as_f64).sum();
                let tags: Vec<String> =
                    items.iter().take(16).map(|i| format!("item-{i}")).collect();
                json_answer(&json!({
                    "user": v["user"],
                    "items": items.len(),
                    "sum": sum,
                    "tags": tags,
                    "note_len": v["note"].as_str().map_or(0, str::len),
                }))
            }
            "/pool" => {
                let mut buf = self.buffers.get();
                let n = self.requests.load(Ordering::Relaxed);
                let ok = serde_json::to_writer(
                    &mut *buf,
                    &json!({ "requests": n, "pool": self.buffers.name() }),
                );
                match ok {
                    Ok(()) => answer(StatusCode::OK, Bytes::copy_from_slice(&buf)),
                    Err(_) => answer(StatusCode::INTERNAL_SERVER_ERROR, "render failed\n"),
                }
            }
            "/timeout" => {
                let ms = query_u64(&req, "ms").unwrap_or(1).min(1000);
                let backend = async move {
                    rtscope::time::tokio::sleep(Duration::from_millis(ms)).await;
                    format!("backend answered after {ms} ms\n")
                };
                match rtscope::time::tokio::timeout(BACKEND_TIMEOUT, backend).await {
                    Ok(text) => answer(StatusCode::OK, text),
                    Err(_) => answer(StatusCode::GATEWAY_TIMEOUT, "backend timed out\n"),
                }
            }
            "/cache/fill" => json_answer(&self.fill_cache()),
            "/cache/stats" => json_answer(&self.cache_stats()),
            "/cache/get" => {
                let key = query_u64(&req, "key").unwrap_or(0) % CACHE_ENTRIES as u64;
                let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                match cache.get(&(key as u32)) {
                    Some(v) => answer(StatusCode::OK, Bytes::copy_from_slice(&v[..32])),
                    None => answer(StatusCode::NOT_FOUND, "empty\n"),
                }
            }
            "/known" => {
                let n = rtscope::scope("known", || {
                    // One block of exactly KNOWN_BYTES; `push` stays within the capacity.
                    let mut block = Vec::<u8>::with_capacity(KNOWN_BYTES);
                    block.push(1);
                    black_box(&mut block);
                    block.capacity()
                });
                json_answer(&json!({ "bytes": n }))
            }
            "/slow" => {
                let ms = query_u64(&req, "ms").unwrap_or(300);
                let took = Duration::from_millis(ms).min(MAX_SLOW);
                let rows = tokio::task::spawn_blocking(move || {
                    rtscope::scope("slow-report", || slow_report(took))
                })
                .await
                .unwrap_or(0);
                answer(StatusCode::OK, format!("built {rows} rows\n"))
            }
            "/health" => answer(StatusCode::OK, "ok\n"),
            "/quit" => {
                self.quit.notify_one();
                answer(StatusCode::OK, "bye\n")
            }
            _ => answer(StatusCode::NOT_FOUND, "no such route\n"),
        }
    }
}

/// Builds report rows until `took` has passed: the allocation-heavy slow path.
fn slow_report(took: Duration) -> u64 {
    let start = Instant::now();
    let mut rows = 0u64;
    while start.elapsed() < took {
        let batch: Vec<String> = (0..1000)
            .map(|i| format!("{rows},{i},customer-{i},{:>64}", i * 7))
            .collect();
        rows += black_box(batch).len() as u64;
    }
    rows
}

async fn serve(app: Arc<App>, req: Request<Incoming>) -> Result<Answer, Infallible> {
    let start = Instant::now();
    let route = route_of(req.method(), req.uri().path());
    let span = tracing::info_span!("request", route, alloc.bytes = tracing::field::Empty);
    let response = app.handle(req, route).instrument(span).await;
    app.requests.fetch_add(1, Ordering::Relaxed);
    tracing::debug!(route, status = response.status().as_u16(), "handled");
    rtscope::latency("request", start.elapsed());
    Ok(response)
}

/// Housekeeping every 100 ms on an instrumented task: a small report, built and dropped.
async fn housekeeping(app: Arc<App>) {
    let mut tick = rtscope::time::tokio::interval(Duration::from_millis(100));
    loop {
        tick.tick().await;
        let line = format!(
            "requests={} cache={}",
            app.requests.load(Ordering::Relaxed),
            app.cache_stats()
        );
        black_box(line);
    }
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn setting(arg: Option<String>, var: &str) -> Option<String> {
    arg.or_else(|| std::env::var(var).ok())
        .filter(|s| !s.trim().is_empty())
}

#[rtscope::main(service_name = "rtscope-service")]
async fn main() -> ExitCode {
    // Per-layer filter: `RUST_LOG` decides what `fmt` prints, and `RtscopeLayer` still sees
    // every span. A global filter (`registry().with(filter)`) would hide the INFO spans from
    // rtscope too, and attribution by span would silently stop.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,service=info"));
    tracing_subscriber::registry()
        .with(RtscopeLayer::new().with_scope_field("route"))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(filter),
        )
        .init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("service: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let addr = setting(args.next(), "SERVICE_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into());
    let addr: SocketAddr = addr.trim().parse().map_err(|e| {
        format!("SERVICE_ADDR or the first argument, {addr:?}, is not IP:PORT ({e})")
    })?;
    let seconds = match setting(args.next(), "SERVICE_SECONDS") {
        Some(s) => Some(s.trim().parse::<u64>().map_err(|e| {
            format!("SERVICE_SECONDS or the second argument, {s:?}, is not whole seconds ({e})")
        })?),
        None => None,
    };

    let app = Arc::new(App {
        cache: Mutex::new(HashMap::with_capacity(CACHE_ENTRIES)),
        buffers: Pool::builder("response-buffers", || Vec::with_capacity(1024))
            .with_capacity(16)
            .with_max_retained_bytes(64 * 1024)
            .build(),
        quit: Notify::new(),
        requests: AtomicU64::new(0),
    });
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| format!("{e}"))?;
    println!("listening on http://{local}");
    tracing::info!(%local, "listening");
    let housekeeper = rtscope::task::spawn(housekeeping(app.clone()));

    let run_for = async {
        match seconds {
            Some(s) => rtscope::time::tokio::sleep(Duration::from_secs(s)).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(run_for);
    let stop = stop_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors and the like: wait a little, go on.
                        tracing::warn!(error = %e, "accept failed");
                        rtscope::time::tokio::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let app = app.clone();
                rtscope::task::spawn(async move {
                    let svc = service_fn(move |req| serve(app.clone(), req));
                    let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = app.quit.notified() => break,
            () = &mut stop => break,
            () = &mut run_for => break,
        }
    }
    housekeeper.abort();
    tracing::info!(requests = app.requests.load(Ordering::Relaxed), "stopping");
    Ok(())
}
