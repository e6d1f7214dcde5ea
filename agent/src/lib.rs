//! # rtscope
//!
//! In-process runtime instrumentation for Rust services: allocations by size class, live and
//! peak heap, reallocations and failures, measured by a global-allocator wrapper whose hot
//! path takes no lock, writes no shared cache line and never allocates.
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOC: rtscope::Alloc = rtscope::Alloc::system();
//!
//! fn main() {
//!     let _v: Vec<u64> = (0..1000).collect();
//!     let s = rtscope::alloc::stats();
//!     println!("{} allocations, {} live bytes", s.allocations, s.live_bytes);
//! }
//! ```
//!
//! ## Names that are more than one thing
//!
//! `rtscope::scope` is three things, told apart by where they are written:
//!
//! - the function [`scope()`](fn@scope), `rtscope::scope("name", || ...)`: a closure run in a
//!   scope, what most code needs;
//! - the attribute `#[rtscope::scope]` / `#[rtscope::scope("name")]`
//!   ([`macro@scope`]): a whole `fn` or `async fn` in a scope;
//! - the module [`scope`](mod@scope): the rest, for code that enters a scope in other ways or
//!   asks which one is current: [`Scope`](scope::Scope) (an interned name, `enter`, `run`,
//!   `current`), [`ScopeExt::in_scope`](scope::ScopeExt::in_scope) and
//!   [`Scoped`](scope::Scoped) for futures, [`ScopeGuard`](scope::ScopeGuard),
//!   [`MAX_SCOPE_NAMES`](scope::MAX_SCOPE_NAMES).
//!
//! `rtscope::latency` likewise is the function [`latency()`](fn@latency) (record one duration
//! by name) and the module [`latency`](mod@latency) (the [`Latency`](latency::Latency) handle
//! that records without a lookup, and the bound on names).
//!
//! ## Feature flags
//!
//! With `default-features = false` rtscope is the allocator, [`alloc::stats`],
//! [`alloc::thread_stats`], pools, timers, scopes and latencies, depending only on libc,
//! crossbeam-queue and once_cell (and its own proc-macro crate). Sampling needs an exporter:
//! the export thread turns it on and drains the samples.
//!
//! - `export-file` (default): the export thread writing OTLP/JSON lines to a file, the
//!   destination when no collector is configured and the fallback of the others
//!   (opentelemetry-proto's messages, prost, serde_json, tokio's current-thread runtime).
//! - `export-http` (default): OTLP/HTTP (protobuf) to a collector, the specification's
//!   default protocol (adds hyper's HTTP/1.1 client and flate2).
//! - `export-grpc`: OTLP/gRPC to a collector (adds tonic and its HTTP/2 stack, about
//!   1.3 MB over the default features).
//! - `export-prometheus`: `OTEL_METRICS_EXPORTER=prometheus` (or
//!   [`AgentBuilder::with_prometheus`]): `GET /metrics` for Prometheus to scrape, in the text
//!   format or OpenMetrics, on rtscope's own small HTTP/1.1 listener (hyper's server side) on
//!   the export thread.
//! - `tls`: `https://` endpoints for the HTTP and gRPC exporters (rustls with ring, the
//!   platform's verifier; about 1.6 MB, so not a default: without it an `https://` endpoint
//!   falls back to the file, saying which feature to add).
//! - `tracing` (default): the `rtscope::tracing` layer, entered spans as attribution scopes.
//! - `tokio`: `#[rtscope::main]` on `async fn main`, the tokio timer wrappers in
//!   [`time`], `task::spawn`, the scheduling-delay probe and the `tokio.*` runtime metrics
//!   ([`task::register_runtime`]).
//! - `opentelemetry` (0.33): [`AgentBuilder::with_resource`], the application's OpenTelemetry
//!   SDK resource on rtscope's data, and the trace and span ids of the innermost current span
//!   on allocation samples, `rust.latency` exemplars and spike events (the `opentelemetry`
//!   and `opentelemetry_sdk` crates, already in the tree of every exporter build; a context
//!   observer, opentelemetry's `experimental_context_observer`, follows the current span).
//!   Give rtscope the SDK's resource: an application on another OpenTelemetry version then
//!   fails to compile instead of losing every id.
//! - `profiles`: heap profiles ([`profile`]): a call stack per sampled allocation, the in-use
//!   set, symbols, gzipped pprof, the `/debug/pprof` endpoint, profile files and OTLP
//!   Profiles (backtrace, object, rustc-demangle, flate2; about 400 KB).
//! - `tracing-opentelemetry`: with `tracing` and `opentelemetry`, the `rtscope::tracing`
//!   layer takes an entered span's OpenTelemetry ids from tracing-opentelemetry 0.34, in
//!   either order of the two layers (adds tracing-opentelemetry without its defaults).
//! - `jemalloc` (Unix), `mimalloc`: [`alloc::AllocatorStats`] for tikv-jemallocator's
//!   `Jemalloc` (jemalloc's own statistics through `mallctl`; jemalloc is built from its C
//!   sources with statistics on) and for mimalloc's `MiMalloc`, and the constructors
//!   `Alloc::jemalloc()` and `Alloc::mimalloc()`, which report their held memory
//!   (`rust.memory.allocator.*`) with nothing else to call; [`alloc::trim`] purges it.
//! - `cli`: the `rtscope` command (`cargo install rtscope --no-default-features --features
//!   cli`, the exporters being of no use to it): `rtscope report
//!   FILE` (a self-contained HTML page of the agent's file), `rtscope summary FILE` (the exit
//!   summary from the file) and `rtscope top URL` (a live terminal view of a service's
//!   `/metrics`, with ratatui). It adds nothing to the library.
//!
//! [`Agent::builder`]'s [`install`](AgentBuilder::install) with a destination whose feature
//! is off writes to the fallback file instead, saying so in one line; without any exporter
//! feature it returns [`InstallError::FeatureDisabled`] naming the feature to enable
//! (`#[rtscope::main]` prints it and runs on without the agent). `OTEL_SDK_DISABLED=true` installs without exporting
//! in every build.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]

/// Items built only with a feature, and marked so on docs.rs (`doc(cfg)`): one gate on a
/// group of module lines instead of one on each item, as tracing-subscriber's `feature!`.
/// The features named with a leading `_` (`_export`, `_listen`, `_collector`) are internal:
/// what the user-facing ones share, never to be named by users.
///
/// ```text
/// feature! {
///     #![feature = "tokio"]
///     mod probe;
///     pub use probe::start_probe;
/// }
/// ```
macro_rules! feature {
    (
        #![$meta:meta]
        $($item:item)*
    ) => {
        $(
            #[cfg($meta)]
            #[cfg_attr(docsrs, doc(cfg($meta)))]
            $item
        )*
    };
}

mod agent;
pub mod alloc;
mod base;
pub mod config;
pub mod latency;
mod model;
mod names;
pub mod pool;
mod process;
pub mod scope;
pub mod spike;
mod sys;
// The scheduler part (task and thread delay, tokio runtimes): its files are in `sched/`.
#[path = "sched/mod.rs"]
pub mod task;
pub mod time;

feature! {
    #![feature = "_export"]
    mod export;
    // The export side of sampling: its stage in the pipeline.
    mod sampling;
}

feature! {
    #![feature = "profiles"]
    pub mod profile;
}

feature! {
    #![feature = "tracing"]
    #[path = "tracing_layer.rs"]
    pub mod tracing;
}

pub use agent::{Agent, AgentBuilder, AgentGuard, InstallError};
pub use alloc::Alloc;
pub use latency::latency;
pub use names::OTHER;
pub use rtscope_macros::main;
pub use rtscope_macros::scope;
pub use scope::scope;
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
