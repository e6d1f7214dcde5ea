//! Test support for running rtscope against a real OpenTelemetry collector.
//!
//! The collector is [rotel](https://pypi.org/project/rotel/), a Rust OTLP
//! collector that nobody in this project wrote, installed from PyPI into
//! `<workspace>/.venv` by `scripts/install-collector.sh`. [`Collector`]
//! starts it on 127.0.0.1 with free ports and makes it forward everything to
//! `integration/receiver.py`, which decodes each request with the published
//! `opentelemetry-proto` package and appends it as OTLP/JSON to a file. Tests
//! read that file back, so they see exactly what the collector got: bucket
//! counts, sums, temporality, resource attributes.
//!
//! ```no_run
//! use std::time::Duration;
//! use rtscope_integration::{Collector, Temporality};
//!
//! let collector = Collector::start(); // panics: "run `bash scripts/install-collector.sh`"
//! // ... point the program under test at collector.grpc_endpoint() or
//! // collector.http_endpoint() and let it export ...
//! let points = collector.wait_for_metric("process.alloc.size", Duration::from_secs(10));
//! assert_eq!(points[0].resource_str("service.name"), Some("demo"));
//! assert_eq!(points[0].temporality(), Some(Temporality::Delta));
//! assert_eq!(points[0].bucket_counts().iter().sum::<u64>(), points[0].count());
//! ```
//!
//! | item | what it is for |
//! | --- | --- |
//! | [`Collector`] | rotel + receiver; endpoints; read-back; `kill`/`restart`/`freeze`/`thaw` |
//! | [`otlp`] | OTLP/JSON navigation: [`DataPoint`], [`LogRecord`], [`SpanRecord`], 64-bit ints as strings, attributes |
//! | [`app_sdk`] | the application's own SDK tracer provider, exporting its spans to the same collector |
//! | [`cargo_bin`], [`run_bin`], [`run_bounded`] | run a workspace binary with env vars, bounded, output captured |
//! | [`run_exporting`] | run one exporting to a [`Collector`] every 200 ms, bounded, success asserted |
//! | [`hostile`] | a misbehaving collector (slow, 5xx/429 with `Retry-After`, huge or hostile bodies, never reads, resets); [`hostile::run_measured`] adds the child's peak RSS |
//! | [`SlowProxy`] | a collector that answers too late (a delaying proxy in front of rotel) |
//! | [`Gate`] | a proxy in front of rotel that misbehaves like [`hostile`] until opened, then passes through (recovery) |
//! | [`fault_suite`] | every fault against the `timed_loop` application: the cases, one run, a no-agent run beside it |
//! | [`settle`] | wait until a collector stops receiving late requests |
//! | [`tool`] | a system tool a test drives (prometheus, promtool, chromium): skip when missing, fail under `CI=true` |
//! | [`run_watched`], [`build_preload`] | time a child's exit, count its threads; build an `LD_PRELOAD` shim |
//! | [`sampling`] | bounds of a Poisson byte-sampling estimate (Chernoff), its variance |
//! | [`Service`], [`HttpClient`], [`TempDir`] | a long-running child serving HTTP on 127.0.0.1, a client to drive it, a scratch directory |
//! | [`prometheus`] | a real Prometheus scraping one target, queried over its API |
//! | [`swarm`] | hostile clients of a listener (silent, slowloris, idle keep-alive, reconnecting), a bounded probe, another process's thread CPU |
//!
//! Setup: `bash scripts/install-collector.sh` once per machine (idempotent,
//! fast when done). `RTSCOPE_COLLECTOR_VENV` points at another venv;
//! `RTSCOPE_COLLECTOR_DEBUG=1` makes rotel log what it receives and keeps
//! the work directory (it is also kept when a test panics).

pub mod app_sdk;
mod collector;
mod error;
mod exporting;
pub mod fault_suite;
mod gate;
pub mod hostile;
pub mod otlp;
mod process;
pub mod prometheus;
mod proxy;
pub mod sampling;
mod service;
mod settle;
pub mod swarm;
mod tools;
mod uncounted;
mod watch;

pub use collector::{
    Collector, CollectorBuilder, DEBUG_ENV, VENV_ENV, rotel_agent_path, venv_dir, workspace_dir,
};
pub use error::Error;
pub use exporting::run_exporting;
pub use gate::Gate;
pub use otlp::{DataPoint, LogRecord, MetricKind, SpanRecord, Temporality};
pub use process::{
    RunOutput, assert_no_control_chars, cargo_bin, json_line, run_bin, run_bounded,
    target_profile_dir, try_cargo_bin,
};
pub use proxy::SlowProxy;
pub use service::{HttpClient, HttpResponse, LISTENING_PREFIX, Service, TempDir};
pub use settle::settle;
pub use tools::tool;
pub use uncounted::print_uncounted;
pub use watch::{WatchedRun, build_preload, run_watched};

/// The workloads' pool of known counts: pool `name` (capacity 10) of 64-byte buffers, 12
/// gets held and put back, twice, then 100 get/put pairs: 111 hits, 13 misses, 122 stored,
/// 2 discarded. Returned, so its series go on being exported.
pub fn known_pool(name: &'static str) -> rtscope::pool::Pool<Vec<u8>> {
    let pool = rtscope::pool::Pool::builder(name, || Vec::<u8>::with_capacity(64))
        .with_capacity(10)
        .build();
    for _ in 0..2 {
        let held: Vec<_> = (0..12).map(|_| pool.get()).collect();
        drop(held);
    }
    for _ in 0..100 {
        pool.get().push(1);
    }
    pool
}
