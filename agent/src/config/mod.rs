//! Resolved agent configuration: builder settings over `OTEL_*` / `RTSCOPE_*` environment
//! variables over defaults. See `docs/configuration.md`.
//!
//! Resolution never fails and never panics: a value that cannot be used is reported as one
//! warning line on stderr (naming the variable, the bad value and what is used instead) and
//! the application runs on. A value shown is escaped and cut after 64 characters; header
//! values never appear, nor the userinfo or query of an endpoint URL.
//!
//! ```no_run
//! let config = rtscope::config::Config::from_env();
//! println!("exporting every {:?} to {:?}", config.export_interval, config.destination);
//! ```

use crate::base::text::quoted;
use crate::spike::{SpikeBuilder, SpikeKind, SpikeSettings};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Environment variable names.
// ---------------------------------------------------------------------------------------------

/// `true` disables the agent: nothing is recorded to any destination. Default `false`.
pub const OTEL_SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
/// The `service.name` resource attribute. Default `unknown_service:<executable name>`.
pub const OTEL_SERVICE_NAME: &str = "OTEL_SERVICE_NAME";
/// Resource attributes as `key=value,key2=value2` (values percent-decoded).
pub const OTEL_RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";
/// Milliseconds between two exports. Default 60000.
pub const OTEL_METRIC_EXPORT_INTERVAL: &str = "OTEL_METRIC_EXPORT_INTERVAL";
/// `otlp` (default), `prometheus`, `otlp,prometheus` or `none`: whether metrics are exported
/// over OTLP ([`Signals::metrics`]) and whether they are served for Prometheus to scrape
/// ([`Config::prometheus`]).
pub const OTEL_METRICS_EXPORTER: &str = "OTEL_METRICS_EXPORTER";
/// Host (an IP address or a name) the Prometheus exporter's `/metrics` listens on. Default
/// `localhost` (its IPv4 and IPv6 loopback).
pub const OTEL_EXPORTER_PROMETHEUS_HOST: &str = "OTEL_EXPORTER_PROMETHEUS_HOST";
/// Port the Prometheus exporter's `/metrics` listens on. Default 9464.
pub const OTEL_EXPORTER_PROMETHEUS_PORT: &str = "OTEL_EXPORTER_PROMETHEUS_PORT";
/// `otlp` (default) or `none`: whether log records (samples, spikes) are exported
/// ([`Signals::logs`]).
pub const OTEL_LOGS_EXPORTER: &str = "OTEL_LOGS_EXPORTER";
/// OTLP transport for all signals: `grpc` or `http/protobuf` (default).
pub const OTEL_EXPORTER_OTLP_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
/// OTLP transport for metrics; wins over [`OTEL_EXPORTER_OTLP_PROTOCOL`].
pub const OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL";
/// Base URL of the collector; for HTTP `/v1/metrics` and `/v1/logs` are appended.
pub const OTEL_EXPORTER_OTLP_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// Full URL metrics are sent to, used as is.
pub const OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT";
/// Full URL logs are sent to, used as is.
pub const OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT";
/// `true`: a gRPC endpoint written without a scheme is plaintext (`http://`) instead of TLS.
pub const OTEL_EXPORTER_OTLP_INSECURE: &str = "OTEL_EXPORTER_OTLP_INSECURE";
/// Metrics variant of [`OTEL_EXPORTER_OTLP_INSECURE`]; wins over it for the metrics endpoint.
pub const OTEL_EXPORTER_OTLP_METRICS_INSECURE: &str = "OTEL_EXPORTER_OTLP_METRICS_INSECURE";
/// Logs variant of [`OTEL_EXPORTER_OTLP_INSECURE`]; wins over it for the logs endpoint.
pub const OTEL_EXPORTER_OTLP_LOGS_INSECURE: &str = "OTEL_EXPORTER_OTLP_LOGS_INSECURE";
/// Request headers as `key=value,key2=value2` (values percent-decoded).
pub const OTEL_EXPORTER_OTLP_HEADERS: &str = "OTEL_EXPORTER_OTLP_HEADERS";
/// Metrics request headers; when set, used instead of [`OTEL_EXPORTER_OTLP_HEADERS`].
pub const OTEL_EXPORTER_OTLP_METRICS_HEADERS: &str = "OTEL_EXPORTER_OTLP_METRICS_HEADERS";
/// Milliseconds one export request may take. Default 10000.
pub const OTEL_EXPORTER_OTLP_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_TIMEOUT";
/// Metrics variant of [`OTEL_EXPORTER_OTLP_TIMEOUT`]; wins over it.
pub const OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT";
/// PEM file of the CA certificates an `https://` collector's certificate is verified against,
/// instead of the system's trust store.
pub const OTEL_EXPORTER_OTLP_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CERTIFICATE";
/// Metrics variant of [`OTEL_EXPORTER_OTLP_CERTIFICATE`]; wins over it.
pub const OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE";
/// PEM file of the client certificate (chain) sent to the collector (mutual TLS); needs
/// [`OTEL_EXPORTER_OTLP_CLIENT_KEY`].
pub const OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE";
/// Metrics variant of [`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`]; wins over it.
pub const OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE: &str =
    "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE";
/// PEM file of the private key of [`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`] (PKCS#8, PKCS#1
/// or SEC1).
pub const OTEL_EXPORTER_OTLP_CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_CLIENT_KEY";
/// Metrics variant of [`OTEL_EXPORTER_OTLP_CLIENT_KEY`]; wins over it.
pub const OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY";
/// Milliseconds one export may take: caps [`OtlpTarget::timeout`] (the lower of the two
/// bounds each request). Default: no cap beyond [`OTEL_EXPORTER_OTLP_TIMEOUT`].
pub const OTEL_METRIC_EXPORT_TIMEOUT: &str = "OTEL_METRIC_EXPORT_TIMEOUT";
/// Payload compression: `gzip` or `none` (default).
pub const OTEL_EXPORTER_OTLP_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_COMPRESSION";
/// Metrics variant of [`OTEL_EXPORTER_OTLP_COMPRESSION`]; wins over it.
pub const OTEL_EXPORTER_OTLP_METRICS_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION";
/// `cumulative` (default), `delta` or `lowmemory` (treated as `delta`, see [`Temporality`]).
pub const OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE: &str =
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
/// Path of the OTLP/JSON-lines file written when no OTLP endpoint is configured (any bytes
/// the platform allows in a path, UTF-8 or not).
pub const RTSCOPE_FILE: &str = "RTSCOPE_FILE";
/// Most bytes the file and its one rotated predecessor `<file>.1` hold together. Default
/// 67108864 (64 MiB).
pub const RTSCOPE_FILE_MAX_BYTES: &str = "RTSCOPE_FILE_MAX_BYTES";
/// `on` (default) or `off`: print a human summary to stderr at exit.
pub const RTSCOPE_SUMMARY: &str = "RTSCOPE_SUMMARY";
/// Milliseconds the final flush at shutdown may take. Default 2000.
pub const RTSCOPE_SHUTDOWN_TIMEOUT: &str = "RTSCOPE_SHUTDOWN_TIMEOUT";
/// `on` | `off`: Poisson byte sampling of allocations. Default on.
pub const RTSCOPE_SAMPLING: &str = "RTSCOPE_SAMPLING";
/// Allocation samples exported one by one as log records, per second: a subsample with
/// unbiased weights (every sample still feeds the estimates and the heap profile). Default
/// 100.
pub const RTSCOPE_SAMPLING_TARGET: &str = "RTSCOPE_SAMPLING_TARGET";
/// Mean number of bytes between two samples, as Go's `MemProfileRate`. Default 524288
/// (512 KiB).
pub const RTSCOPE_SAMPLING_INTERVAL: &str = "RTSCOPE_SAMPLING_INTERVAL";
/// Percent of one core the sample path (stack capture, interning, the record) may take; past
/// it the interval is raised until the cost fits, and lowered back once it does. Default 1.
pub const RTSCOPE_SAMPLING_CPU: &str = "RTSCOPE_SAMPLING_CPU";
/// A fixed seed of the sampler's random streams (a whole number), so a run can be reproduced.
/// Default: random per process.
pub const RTSCOPE_SAMPLING_SEED: &str = "RTSCOPE_SAMPLING_SEED";
/// `on` (default with the `profiles` feature) or `off`: heap profiles, a call stack for every
/// sampled allocation and the in-use set (`rtscope::profile`). Needs sampling on.
pub const RTSCOPE_HEAP_PROFILE: &str = "RTSCOPE_HEAP_PROFILE";
/// `host:port` to serve `GET /debug/pprof/heap` and `/debug/pprof/allocs` on, as Go's
/// `net/http/pprof` does. Off by default.
pub const RTSCOPE_PPROF_ADDR: &str = "RTSCOPE_PPROF_ADDR";
/// Connections rtscope's own listener (`/metrics`, `/debug/pprof`) serves at once, per
/// address (1 to 1024). Default 16.
pub const RTSCOPE_LISTEN_CONNECTIONS: &str = "RTSCOPE_LISTEN_CONNECTIONS";
/// CPU rtscope's own listener may spend per address, in percent of one core (0.1 to 100):
/// accepting, reading requests, building answers. Default 2.
pub const RTSCOPE_LISTEN_CPU: &str = "RTSCOPE_LISTEN_CPU";
/// Directory to write a gzipped pprof heap profile into every export interval and at exit
/// (the newest 10 are kept). Off by default.
pub const RTSCOPE_PPROF_DIR: &str = "RTSCOPE_PPROF_DIR";
/// `otlp` or `none` (default): heap profiles pushed to the collector as OTLP Profiles (the
/// in-development `v1development` signal) every export interval, to the metrics collector
/// (over HTTP at `/v1development/profiles` of the metrics endpoint's origin). Needs the
/// `profiles` feature.
pub const OTEL_PROFILES_EXPORTER: &str = "OTEL_PROFILES_EXPORTER";
/// `on` (default) or `off`: watch latencies for spikes and emit `rust.spike` events.
pub const RTSCOPE_SPIKES: &str = "RTSCOPE_SPIKES";
/// Milliseconds: one fixed spike threshold for every kind, instead of the rolling P99.
pub const RTSCOPE_SPIKE_THRESHOLD_MS: &str = "RTSCOPE_SPIKE_THRESHOLD_MS";
/// Milliseconds: fixed spike threshold for scheduler delay (kind `schedule`); wins over
/// [`RTSCOPE_SPIKE_THRESHOLD_MS`], as do the three below for their kinds.
pub const RTSCOPE_SPIKE_SCHEDULE_THRESHOLD_MS: &str = "RTSCOPE_SPIKE_SCHEDULE_THRESHOLD_MS";
/// Milliseconds: fixed spike threshold for task poll duration (kind `poll`).
pub const RTSCOPE_SPIKE_POLL_THRESHOLD_MS: &str = "RTSCOPE_SPIKE_POLL_THRESHOLD_MS";
/// Milliseconds: fixed spike threshold for timer lateness (kind `timer`).
pub const RTSCOPE_SPIKE_TIMER_THRESHOLD_MS: &str = "RTSCOPE_SPIKE_TIMER_THRESHOLD_MS";
/// Milliseconds: fixed spike threshold for latencies reported with
/// [`latency`](fn@crate::latency) (kind `latency`).
pub const RTSCOPE_SPIKE_LATENCY_THRESHOLD_MS: &str = "RTSCOPE_SPIKE_LATENCY_THRESHOLD_MS";
/// Milliseconds: the lowest spike threshold the rolling P99 may give. Default 5.
pub const RTSCOPE_SPIKE_FLOOR_MS: &str = "RTSCOPE_SPIKE_FLOOR_MS";
/// Spike events that may be emitted back to back before the rate limit applies. Default 5.
pub const RTSCOPE_SPIKE_BURST: &str = "RTSCOPE_SPIKE_BURST";
/// Spike events per minute in the long run, when there is no storm. Default 6.
pub const RTSCOPE_SPIKE_RATE_PER_MIN: &str = "RTSCOPE_SPIKE_RATE_PER_MIN";
/// Default of [`RTSCOPE_SAMPLING_TARGET`].
pub const DEFAULT_SAMPLING_TARGET: f64 = 100.0;
/// Default of [`RTSCOPE_SAMPLING_INTERVAL`].
pub const DEFAULT_SAMPLING_INTERVAL: u64 = 512 * 1024;
/// Default of [`RTSCOPE_SAMPLING_CPU`] (percent of one core).
pub const DEFAULT_SAMPLING_CPU: f64 = 1.0;

// ---------------------------------------------------------------------------------------------
// Defaults.
// ---------------------------------------------------------------------------------------------

/// Default of [`Config::export_interval`] (the OpenTelemetry default, 60 s).
pub const DEFAULT_EXPORT_INTERVAL: Duration = Duration::from_millis(60_000);
/// Default of [`OtlpTarget::timeout`] (the OpenTelemetry default, 10 s).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(10_000);
/// Default of [`Config::shutdown_timeout`] (2 s).
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(2_000);
/// Default path of the [`Destination::File`] output.
pub const DEFAULT_FILE: &str = "./rtscope-otlp.jsonl";
/// Default of [`Config::file_max_bytes`] (64 MiB).
pub const DEFAULT_FILE_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Collector base URL used for a signal with no endpoint of its own over OTLP/HTTP.
pub const DEFAULT_HTTP_ENDPOINT: &str = "http://localhost:4318";
/// Default of [`OTEL_EXPORTER_PROMETHEUS_HOST`].
pub const DEFAULT_PROMETHEUS_HOST: &str = "localhost";
/// Default of [`OTEL_EXPORTER_PROMETHEUS_PORT`].
pub const DEFAULT_PROMETHEUS_PORT: u16 = 9464;
/// Default of [`RTSCOPE_LISTEN_CONNECTIONS`].
pub const DEFAULT_LISTEN_CONNECTIONS: usize = 16;
/// Default of [`RTSCOPE_LISTEN_CPU`] (percent of one core).
pub const DEFAULT_LISTEN_CPU_PERCENT: f64 = 2.0;
/// Collector URL used for a signal with no endpoint of its own over OTLP/gRPC.
pub const DEFAULT_GRPC_ENDPOINT: &str = "http://localhost:4317";

// ---------------------------------------------------------------------------------------------
// The resolved configuration.
// ---------------------------------------------------------------------------------------------

/// Everything the export pipeline needs, fully resolved and validated.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// `OTEL_SDK_DISABLED=true`: record nothing to any destination.
    pub disabled: bool,
    /// `service.name` resource attribute.
    pub service_name: String,
    /// Extra resource attributes (`OTEL_RESOURCE_ATTRIBUTES` plus builder ones).
    pub resource_attributes: Vec<(String, String)>,
    /// How often metrics are shipped (`OTEL_METRIC_EXPORT_INTERVAL`).
    pub export_interval: Duration,
    /// Cumulative (default) or delta sums and histograms.
    pub temporality: Temporality,
    /// Upper bound of the final flush at shutdown.
    pub shutdown_timeout: Duration,
    /// Where the exported signals go (nowhere when [`signals`](Config::signals) has none).
    pub destination: Destination,
    /// Which signals are exported (`OTEL_METRICS_EXPORTER`, `OTEL_LOGS_EXPORTER`).
    pub signals: Signals,
    /// Where metrics are served for Prometheus to scrape (`GET /metrics`), if anywhere:
    /// `OTEL_METRICS_EXPORTER` naming `prometheus`, or
    /// [`AgentBuilder::with_prometheus`](crate::AgentBuilder::with_prometheus).
    pub prometheus: Option<Listen>,
    /// The bounds of rtscope's own listener, per address (`RTSCOPE_LISTEN_CONNECTIONS`,
    /// `RTSCOPE_LISTEN_CPU`).
    pub(crate) listen: ListenLimits,
    /// Most bytes a [`Destination::File`] and its rotated predecessor `<file>.1` hold together
    /// (`RTSCOPE_FILE_MAX_BYTES`); also bounds the fallback file.
    pub file_max_bytes: u64,
    /// The file written instead when the collector's sink cannot be built: the configured
    /// file (`with_file`, `RTSCOPE_FILE`, else the default), whatever the destination.
    pub(crate) fallback_file: PathBuf,
    /// Print a human summary to stderr at shutdown.
    pub summary_at_exit: bool,
    /// Poisson byte sampling of allocations.
    pub sampling: Sampling,
    /// Spike detection (`RTSCOPE_SPIKE*`,
    /// [`AgentBuilder::with_spikes`](crate::AgentBuilder::with_spikes)).
    pub spikes: SpikeSettings,
    /// Heap profiles (`RTSCOPE_HEAP_PROFILE`, `RTSCOPE_PPROF_ADDR`, `RTSCOPE_PPROF_DIR`).
    pub profiles: Profiles,
    /// The application's own resource
    /// ([`AgentBuilder::with_resource`](crate::AgentBuilder::with_resource)): when set, every
    /// request carries exactly it, instead of the resource rtscope makes.
    #[cfg(feature = "opentelemetry")]
    pub resource: Option<opentelemetry_sdk::Resource>,
}

/// Heap profile settings (see `rtscope::profile`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Profiles {
    /// `RTSCOPE_HEAP_PROFILE`: a stack per sample and the in-use set (needs sampling on, and
    /// the `profiles` feature).
    pub enabled: bool,
    /// `RTSCOPE_PPROF_ADDR`: where `/debug/pprof/heap` and `/debug/pprof/allocs` are served.
    pub pprof_addr: Option<std::net::SocketAddr>,
    /// `RTSCOPE_PPROF_DIR`: where a profile file is written every export interval and at exit.
    pub dir: Option<PathBuf>,
    /// `OTEL_PROFILES_EXPORTER=otlp`: profiles are pushed to the collector (experimental).
    pub otlp: bool,
}

/// Which signals are exported over OTLP (or to the file): `OTEL_METRICS_EXPORTER` /
/// `OTEL_LOGS_EXPORTER` set to `none` turns one off, and so does `OTEL_METRICS_EXPORTER`
/// naming only `prometheus` for metrics ([`Config::prometheus`]). With both off nothing is exported anywhere (no request, no file); the summary
/// at exit (`RTSCOPE_SUMMARY`) is not an export and still prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Signals {
    /// Metrics (every `rust.*` and `rtscope.*` series) are exported over OTLP or to the file.
    pub metrics: bool,
    /// Log records (allocation samples, spike events) are exported.
    pub logs: bool,
}

impl Signals {
    /// Whether anything is exported at all.
    pub fn any(self) -> bool {
        self.metrics || self.logs
    }
}

impl Default for Signals {
    fn default() -> Self {
        Signals {
            metrics: true,
            logs: true,
        }
    }
}

/// Allocation sampling settings (see `rtscope::sampling` in the docs).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct Sampling {
    /// `RTSCOPE_SAMPLING`: whether allocations are sampled at all.
    pub enabled: bool,
    /// `RTSCOPE_SAMPLING_TARGET`: samples exported as log records per second (a subsample).
    pub target_per_sec: f64,
    /// `RTSCOPE_SAMPLING_INTERVAL`: mean bytes between samples.
    pub interval: u64,
    /// `RTSCOPE_SAMPLING_CPU`: percent of one core the sample path may take before the
    /// interval is raised.
    pub cpu_percent: f64,
    /// `RTSCOPE_SAMPLING_SEED`: fixed seed of the per-thread random streams; `None`: random
    /// per process.
    pub seed: Option<u64>,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            enabled: true,
            target_per_sec: DEFAULT_SAMPLING_TARGET,
            interval: DEFAULT_SAMPLING_INTERVAL,
            cpu_percent: DEFAULT_SAMPLING_CPU,
            seed: None,
        }
    }
}

/// Where exported data goes. Its `Debug` never shows header values or URL userinfo.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Destination {
    /// An OTLP collector.
    Otlp(OtlpTarget),
    /// OTLP/JSON lines appended to a file (the OpenTelemetry file exporter format).
    File(PathBuf),
}

/// The bounds of rtscope's own listener that can be set, per address.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ListenLimits {
    /// Connections served at once.
    pub(crate) connections: usize,
    /// CPU it may spend, in percent of one core.
    pub(crate) cpu_percent: f64,
}

impl Default for ListenLimits {
    fn default() -> ListenLimits {
        ListenLimits {
            connections: DEFAULT_LISTEN_CONNECTIONS,
            cpu_percent: DEFAULT_LISTEN_CPU_PERCENT,
        }
    }
}

/// An address rtscope's own HTTP listener binds (the Prometheus exporter's `/metrics`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Listen {
    /// An IP address, `localhost` (its IPv4 and IPv6 loopback) or a host name.
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// What to change when it cannot be bound (the variables or the builder method).
    pub(crate) set_by: &'static str,
}

/// A resolved OTLP collector target. Its `Debug` shows header names but never their values,
/// and URLs without their userinfo (both often hold credentials).
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct OtlpTarget {
    /// Transport used for both signals.
    pub protocol: Protocol,
    /// Full URL metrics are sent to (for HTTP it includes `/v1/metrics`).
    pub metrics_endpoint: String,
    /// Full URL logs are sent to (for HTTP it includes `/v1/logs`).
    pub logs_endpoint: String,
    /// Request headers (gRPC metadata), names validated as HTTP tokens, values percent-decoded.
    pub headers: Vec<(String, String)>,
    /// Upper bound of one export request.
    pub timeout: Duration,
    /// Payload compression.
    pub compression: Compression,
    /// The TLS files of `https://` endpoints (the system's trust store and no client
    /// certificate when none is set).
    pub tls: TlsFiles,
}

/// The files of `OTEL_EXPORTER_OTLP_{,METRICS_}{CERTIFICATE,CLIENT_CERTIFICATE,CLIENT_KEY}`,
/// each with the variable it came from (an error names the one to fix). The client
/// certificate and key are both set or both `None`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsFiles {
    /// The CA certificates the collector's certificate is verified against.
    pub certificate: Option<TlsFile>,
    /// The client certificate chain sent to the collector.
    pub client_certificate: Option<TlsFile>,
    /// The private key of `client_certificate`.
    pub client_key: Option<TlsFile>,
}

/// One TLS file and the variable that named it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsFile {
    /// The path, as given.
    pub path: PathBuf,
    /// The variable it came from, e.g. `OTEL_EXPORTER_OTLP_CERTIFICATE`.
    pub var: &'static str,
}

impl std::fmt::Debug for OtlpTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpTarget")
            .field("protocol", &self.protocol)
            .field("metrics_endpoint", &redact_url(&self.metrics_endpoint))
            .field("logs_endpoint", &redact_url(&self.logs_endpoint))
            .field("headers", &redacted_headers(&self.headers))
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("tls", &self.tls)
            .finish()
    }
}

/// Header names with their values replaced, for `Debug`.
fn redacted_headers(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(k, _)| (k.as_str(), "[redacted]"))
        .collect()
}

/// OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `grpc`
    Grpc,
    /// `http/protobuf`
    HttpProtobuf,
}

/// Payload compression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// `none`: payloads are sent as they are (the default).
    None,
    /// `gzip`
    Gzip,
}

/// Aggregation temporality of sums and histograms.
///
/// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE=lowmemory` resolves to [`Delta`]: the
/// specification's `lowmemory` differs from `delta` only for asynchronous counters, which it
/// keeps cumulative so an SDK need not remember the previous observation. rtscope keeps
/// cumulative totals internally whatever the preference, so there is no memory to save, and
/// a backend asking for `lowmemory` is a delta backend. Up/down counters and gauges (live bytes,
/// live objects) are cumulative under every preference, as the specification says.
///
/// [`Delta`]: Temporality::Delta
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Temporality {
    /// Every export carries the total since the start (the default).
    Cumulative,
    /// Every export carries what happened since the previous export.
    Delta,
}

impl Protocol {
    /// The value's spelling in `OTEL_EXPORTER_OTLP_PROTOCOL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http/protobuf",
        }
    }
}

impl Compression {
    /// The value's spelling in `OTEL_EXPORTER_OTLP_COMPRESSION`.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
        }
    }
}

impl Temporality {
    /// The value's spelling in `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Temporality::Cumulative => "cumulative",
            Temporality::Delta => "delta",
        }
    }
}

impl Config {
    /// Resolves the configuration from the process environment and defaults alone (no
    /// builder settings), printing each warning about an unusable value as one line on stderr.
    ///
    /// [`Agent::builder`](crate::Agent::builder) does the same with its settings on top; this
    /// is for inspecting what the environment asks for.
    ///
    /// ```no_run
    /// use rtscope::config::{Config, Destination};
    ///
    /// let config = Config::from_env();
    /// if let Destination::File(path) = &config.destination {
    ///     println!("no collector configured, writing to {}", path.display());
    /// }
    /// ```
    pub fn from_env() -> Config {
        resolve_from_process_env(&Overrides::default())
    }
}

// ---------------------------------------------------------------------------------------------
// Settings made in code.
// ---------------------------------------------------------------------------------------------

/// Settings made in code (the [`AgentBuilder`](crate::AgentBuilder) or `#[rtscope::main]`
/// arguments). Every one that is set wins over its environment variables.
#[derive(Clone, Default, PartialEq)]
pub(crate) struct Overrides {
    pub(crate) service_name: Option<String>,
    /// Applied in order after the environment's; a later key replaces an earlier one.
    pub(crate) resource_attributes: Vec<(String, String)>,
    pub(crate) export_interval: Option<Duration>,
    pub(crate) temporality: Option<Temporality>,
    pub(crate) shutdown_timeout: Option<Duration>,
    /// Base URL, like `OTEL_EXPORTER_OTLP_ENDPOINT`; wins over all three endpoint variables.
    pub(crate) endpoint: Option<String>,
    pub(crate) protocol: Option<Protocol>,
    /// Applied in order after the environment's; a later name replaces an earlier one.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) compression: Option<Compression>,
    /// Selects the file destination (unless `endpoint` is set), winning over endpoint variables.
    pub(crate) file: Option<PathBuf>,
    pub(crate) file_max_bytes: Option<u64>,
    pub(crate) summary: Option<bool>,
    pub(crate) sampling: Option<bool>,
    pub(crate) sampling_target: Option<f64>,
    pub(crate) sampling_interval: Option<u64>,
    pub(crate) sampling_cpu: Option<f64>,
    pub(crate) sampling_seed: Option<u64>,
    pub(crate) spikes: SpikeBuilder,
    pub(crate) heap_profile: Option<bool>,
    pub(crate) pprof_addr: Option<std::net::SocketAddr>,
    pub(crate) pprof_dir: Option<PathBuf>,
    pub(crate) profiles_otlp: Option<bool>,
    /// `with_prometheus(host, port)`: serve `/metrics` there.
    pub(crate) prometheus: Option<(String, u16)>,
    #[cfg(feature = "opentelemetry")]
    pub(crate) resource: Option<opentelemetry_sdk::Resource>,
}

/// Shows everything but header values and endpoint userinfo (an `AgentBuilder`'s `Debug`).
impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut f = f.debug_struct("Overrides");
        f.field("service_name", &self.service_name)
            .field("resource_attributes", &self.resource_attributes)
            .field("export_interval", &self.export_interval)
            .field("temporality", &self.temporality)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("endpoint", &self.endpoint.as_deref().map(redact_url))
            .field("protocol", &self.protocol)
            .field("headers", &redacted_headers(&self.headers))
            .field("timeout", &self.timeout)
            .field("compression", &self.compression)
            .field("file", &self.file)
            .field("file_max_bytes", &self.file_max_bytes)
            .field("summary", &self.summary)
            .field("sampling", &self.sampling)
            .field("sampling_target", &self.sampling_target)
            .field("sampling_interval", &self.sampling_interval)
            .field("sampling_cpu", &self.sampling_cpu)
            .field("sampling_seed", &self.sampling_seed)
            .field("spikes", &self.spikes)
            .field("heap_profile", &self.heap_profile)
            .field("pprof_addr", &self.pprof_addr)
            .field("pprof_dir", &self.pprof_dir)
            .field("profiles_otlp", &self.profiles_otlp)
            .field("prometheus", &self.prometheus);
        #[cfg(feature = "opentelemetry")]
        f.field("resource", &self.resource);
        f.finish()
    }
}

/// A setting made in code that cannot be used. Returned by
/// [`AgentBuilder::install`](crate::AgentBuilder::install) inside
/// [`InstallError::InvalidConfig`](crate::InstallError::InvalidConfig).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The builder method, e.g. `with_endpoint("localhost:4318")`.
    pub setting: String,
    /// What is wrong and how to fix it.
    pub problem: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.setting, self.problem)
    }
}

impl std::error::Error for ConfigError {}

impl Overrides {
    /// Checks the settings made in code. Unlike environment values (warned about and replaced),
    /// a bad value written in code is a bug to report to the caller.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let err = |setting: String, problem: &str| {
            Err(ConfigError {
                setting,
                problem: problem.to_owned(),
            })
        };
        if let Some(name) = &self.service_name
            && name.trim().is_empty()
        {
            return err(
                format!("with_service_name({})", quoted(name)),
                "the service name is empty; pass a name such as \"checkout\", or do not call it \
                 to use OTEL_SERVICE_NAME",
            );
        }
        for (key, _) in &self.resource_attributes {
            if key.trim().is_empty() {
                return err(
                    format!("with_resource_attribute({}, ..)", quoted(key)),
                    "the key is empty; pass a key such as \"deployment.environment\"",
                );
            }
        }
        if self.export_interval == Some(Duration::ZERO) {
            return err(
                "with_export_interval(0)".to_owned(),
                "the interval must be greater than zero, e.g. Duration::from_secs(10)",
            );
        }
        if self.timeout == Some(Duration::ZERO) {
            return err(
                "with_timeout(0)".to_owned(),
                "the export timeout must be greater than zero, e.g. Duration::from_secs(10)",
            );
        }
        if let Some(endpoint) = &self.endpoint
            && let Err(problem) = check_url(endpoint)
        {
            return err(
                format!("with_endpoint({})", quoted(&redact_url(endpoint))),
                &format!(
                    "not an http:// or https:// URL ({problem}); pass a full URL such as \
                     \"http://127.0.0.1:4318\""
                ),
            );
        }
        for (name, value) in &self.headers {
            if let Err(problem) = check_header(name, value) {
                return err(format!("with_header({}, ..)", quoted(name)), &problem);
            }
        }
        if let Some((host, port)) = &self.prometheus {
            let problem = if let Err(problem) = check_listen_host(host) {
                Some(problem)
            } else if *port == 0 {
                Some("the port must be between 1 and 65535, e.g. 9464")
            } else {
                None
            };
            if let Some(problem) = problem {
                return err(
                    format!("with_prometheus({}, {port})", quoted(host)),
                    problem,
                );
            }
        }
        if let Some(p) = self.sampling_cpu
            && !(p.is_finite() && p > 0.0 && p <= 100.0)
        {
            return err(
                format!("with_sampling_cpu({p})"),
                "the budget must be a percent of one core above 0 and at most 100, e.g. 1.0",
            );
        }
        if self.file_max_bytes == Some(0) {
            return err(
                "with_file_max_bytes(0)".to_owned(),
                "the cap must be greater than zero, e.g. 64 * 1024 * 1024",
            );
        }
        self.validate_spikes()
    }

    /// The checks of [`validate`](Self::validate) for the `with_spikes` settings.
    fn validate_spikes(&self) -> Result<(), ConfigError> {
        let err = |setting: String, problem: &str| {
            Err(ConfigError {
                setting: format!("with_spikes(.. {setting})"),
                problem: problem.to_owned(),
            })
        };
        let s = &self.spikes;
        const THRESHOLD: &str =
            "a threshold must be greater than zero, e.g. Duration::from_millis(50)";
        for (kind, t) in SpikeKind::ALL.iter().zip(&s.thresholds) {
            if *t == Some(Duration::ZERO) {
                return err(format!("with_threshold(SpikeKind::{kind:?}, 0)"), THRESHOLD);
            }
        }
        for (name, t) in &s.latency_thresholds {
            if t.is_zero() {
                return err(
                    format!("with_latency_threshold({}, 0)", quoted(name)),
                    THRESHOLD,
                );
            }
        }
        if s.floor == Some(Duration::ZERO) {
            return err(
                "with_floor(0)".to_owned(),
                "the floor must be greater than zero, e.g. Duration::from_millis(5)",
            );
        }
        if let Some(f) = s.p99_factor
            && !(f.is_finite() && f >= 1.0)
        {
            return err(
                format!("with_p99_factor({f})"),
                "the factor must be a finite number of at least 1, e.g. 2.0",
            );
        }
        if s.burst == Some(0) {
            return err(
                "with_burst(0)".to_owned(),
                "the burst must be at least 1 event; to turn spikes off use with_enabled(false)",
            );
        }
        if let Some(r) = s.rate_per_minute
            && !(r.is_finite() && r > 0.0)
        {
            return err(
                format!("with_rate_per_minute({r})"),
                "the rate must be a finite number of events per minute above 0, e.g. 6.0",
            );
        }
        Ok(())
    }
}

mod parse;
mod resolve;
#[cfg(test)]
mod tests;

pub(crate) use parse::*;
pub(crate) use resolve::*;

/// An environment lookup over fixed pairs, for tests (the last pair for a name wins).
#[cfg(test)]
pub(crate) fn test_env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        vars.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}
