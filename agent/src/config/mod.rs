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
    /// Polls of instrumented tasks longer than this count in `rust.task.slow_polls`
    /// ([`AgentBuilder::with_slow_poll_threshold`](crate::AgentBuilder::with_slow_poll_threshold),
    /// else [`DEFAULT_SLOW_POLL`](crate::task::DEFAULT_SLOW_POLL), or what the deprecated
    /// `task::set_slow_poll_threshold` set before); `install` sets it for the whole process.
    pub slow_poll_threshold: Duration,
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
    pub(crate) slow_poll_threshold: Option<Duration>,
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
            .field("slow_poll_threshold", &self.slow_poll_threshold)
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

mod otlp;
mod parse;
mod resolve;
#[cfg(test)]
pub(crate) mod tests;
mod vars;

pub(crate) use parse::*;
pub(crate) use resolve::*;
pub use vars::*;

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
