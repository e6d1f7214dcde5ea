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

use crate::spike::{SpikeBuilder, SpikeKind, SpikeSettings};
use crate::base::text::quoted;
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
/// `otlp` (default) or `none`: whether metrics are exported ([`Signals::metrics`]).
pub const OTEL_METRICS_EXPORTER: &str = "OTEL_METRICS_EXPORTER";
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
/// Samples per second the adaptive controller aims for. Default 100.
pub const RTSCOPE_SAMPLING_TARGET: &str = "RTSCOPE_SAMPLING_TARGET";
/// Initial mean number of bytes between two samples. Default 524288 (512 KiB).
pub const RTSCOPE_SAMPLING_INTERVAL: &str = "RTSCOPE_SAMPLING_INTERVAL";
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
/// [`latency`](crate::latency) (kind `latency`).
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
}

/// Which signals are exported: `OTEL_METRICS_EXPORTER` / `OTEL_LOGS_EXPORTER` set to `none`
/// turns one off. With both off nothing is exported anywhere (no request, no file); the summary
/// at exit (`RTSCOPE_SUMMARY`) is not an export and still prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Signals {
    /// Metrics (every `rust.*` and `rtscope.*` series) are exported.
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
    /// `RTSCOPE_SAMPLING_TARGET`: samples per second the controller aims for.
    pub target_per_sec: f64,
    /// `RTSCOPE_SAMPLING_INTERVAL`: initial mean bytes between samples.
    pub initial_interval: u64,
    /// Fixed seed of the per-thread random streams (tests); `None`: random per process.
    pub seed: Option<u64>,
}

impl Default for Sampling {
    fn default() -> Self {
        Sampling {
            enabled: true,
            target_per_sec: DEFAULT_SAMPLING_TARGET,
            initial_interval: DEFAULT_SAMPLING_INTERVAL,
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
    pub(crate) sampling_seed: Option<u64>,
    pub(crate) spikes: SpikeBuilder,
}

/// Shows everything but header values and endpoint userinfo (an `AgentBuilder`'s `Debug`).
impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overrides")
            .field("service_name", &self.service_name)
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
            .field("sampling_seed", &self.sampling_seed)
            .field("spikes", &self.spikes)
            .finish()
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

// ---------------------------------------------------------------------------------------------
// Resolution.
// ---------------------------------------------------------------------------------------------

/// Resolves from the process environment and prints the warnings to stderr.
pub(crate) fn resolve_from_process_env(overrides: &Overrides) -> Config {
    let (config, warnings) = resolve(overrides, |name| std::env::var_os(name));
    print_warnings(&warnings);
    config
}

/// Writes each line to stderr; a failing stderr is ignored (never panics, unlike `eprintln!`).
pub(crate) fn print_warnings(lines: &[String]) {
    use std::io::Write as _;
    let mut err = std::io::stderr().lock();
    for line in lines {
        let _ = writeln!(err, "{line}");
    }
}

/// Resolves a [`Config`] from settings made in code over the environment `env` (a lookup such
/// as `std::env::var_os`) over defaults. Pure apart from reading the executable name for the
/// default service name; never fails and never panics.
///
/// Returns the configuration and one line per value that could not be used (and one line when
/// OTLP is asked for without an endpoint, naming the default endpoint used). A bad value counts
/// as unset: the next source in precedence order is used and the warning says which. Endpoints
/// are the exception: a set but unusable endpoint sends everything to the file destination
/// instead, so that no data is lost.
pub(crate) fn resolve<V: Into<OsString>>(
    overrides: &Overrides,
    env: impl Fn(&str) -> Option<V>,
) -> (Config, Vec<String>) {
    let env = |name: &str| env(name).map(Into::into);
    let mut r = Reader {
        env: &env,
        warnings: Vec::new(),
        unshown: 0,
    };
    let o = overrides;

    let disabled = r.pick(&[OTEL_SDK_DISABLED], parse_bool, false, bool_str);

    // Service name and resource attributes.
    let mut attributes = r.pairs_attributes();
    let env_attr_service = take_key(&mut attributes, "service.name");
    let mut code_attr_service = None;
    for (key, value) in &o.resource_attributes {
        let key = key.trim();
        if key.is_empty() {
            r.warn(format!(
                "with_resource_attribute(\"\", {}) has an empty key; skipping it",
                quoted(value)
            ));
        } else if key == "service.name" {
            code_attr_service = Some(value.clone());
        } else {
            upsert(&mut attributes, key, value, |a, b| a == b);
        }
    }
    let service_name = match o
        .service_name
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or(code_attr_service)
    {
        Some(name) => name,
        None => r
            .get(OTEL_SERVICE_NAME)
            .or(env_attr_service)
            .unwrap_or_else(default_service_name),
    };

    let export_interval = match o.export_interval.filter(|d| !d.is_zero()) {
        Some(d) => d,
        None => r.pick(
            &[OTEL_METRIC_EXPORT_INTERVAL],
            |v| parse_ms(v, false),
            DEFAULT_EXPORT_INTERVAL,
            ms_str,
        ),
    };
    let temporality = match o.temporality {
        Some(t) => t,
        None => r.pick(
            &[OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE],
            parse_temporality,
            Temporality::Cumulative,
            |t| t.as_str().to_owned(),
        ),
    };
    let shutdown_timeout = match o.shutdown_timeout {
        Some(d) => d,
        None => r.pick(
            &[RTSCOPE_SHUTDOWN_TIMEOUT],
            |v| parse_ms(v, true),
            DEFAULT_SHUTDOWN_TIMEOUT,
            ms_str,
        ),
    };
    let summary_at_exit = match o.summary {
        Some(b) => b,
        None => r.pick(&[RTSCOPE_SUMMARY], parse_on_off, true, on_off_str),
    };
    let sampling = Sampling {
        enabled: match o.sampling {
            Some(b) => b,
            None => r.pick(&[RTSCOPE_SAMPLING], parse_on_off, true, on_off_str),
        },
        target_per_sec: match o.sampling_target {
            Some(t) => t,
            None => r.pick(
                &[RTSCOPE_SAMPLING_TARGET],
                parse_rate,
                DEFAULT_SAMPLING_TARGET,
                |t| t.to_string(),
            ),
        },
        initial_interval: match o.sampling_interval {
            Some(b) => b,
            None => r.pick(
                &[RTSCOPE_SAMPLING_INTERVAL],
                parse_bytes,
                DEFAULT_SAMPLING_INTERVAL,
                |b| b.to_string(),
            ),
        },
        seed: o.sampling_seed,
    };
    let spikes = r.spikes(&o.spikes);

    let metrics = r.exporter(OTEL_METRICS_EXPORTER);
    let logs = r.exporter(OTEL_LOGS_EXPORTER);
    let signals = Signals {
        metrics: metrics != Choice::Off,
        logs: logs != Choice::Off,
    };
    let file = r.file(o);
    let file_max_bytes = match o.file_max_bytes {
        Some(b) => b,
        None => r.pick(
            &[RTSCOPE_FILE_MAX_BYTES],
            parse_bytes,
            DEFAULT_FILE_MAX_BYTES,
            |b| b.to_string(),
        ),
    };
    let asked = [(OTEL_METRICS_EXPORTER, metrics), (OTEL_LOGS_EXPORTER, logs)]
        .into_iter()
        .find(|&(_, choice)| choice == Choice::Otlp)
        .map(|(var, _)| format!("{var}=otlp"));
    let destination = r.destination(o, signals, asked);

    let config = Config {
        disabled,
        service_name,
        resource_attributes: attributes,
        export_interval,
        temporality,
        shutdown_timeout,
        destination,
        signals,
        file_max_bytes,
        fallback_file: file,
        summary_at_exit,
        sampling,
        spikes,
    };
    let mut warnings = r.warnings;
    if r.unshown > 0 {
        warnings.push(format!(
            "rtscope: {} more configuration problems not shown; fix the ones above first",
            r.unshown
        ));
    }
    (config, warnings)
}

/// At most this many configuration lines are printed; the rest are counted in one more line
/// (a list variable with thousands of bad entries must not flood stderr).
const MAX_WARNINGS: usize = 32;

/// `unknown_service:<executable name>` as the specification defines the default, or
/// `unknown_service` when the executable name cannot be read.
pub(crate) fn default_service_name() -> String {
    match executable_name() {
        Some(name) => format!("unknown_service:{name}"),
        None => "unknown_service".to_owned(),
    }
}

/// The `process.executable.name` resource attribute: the file name of the running executable.
fn executable_name() -> Option<String> {
    let from_exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    from_exe.or_else(|| {
        let arg0 = PathBuf::from(std::env::args_os().next()?);
        Some(arg0.file_name()?.to_string_lossy().into_owned())
    })
}

/// The fixed threshold variable of each spike kind, in [`SpikeKind::ALL`] order.
const SPIKE_KIND_THRESHOLD_VARS: [&str; 4] = [
    RTSCOPE_SPIKE_SCHEDULE_THRESHOLD_MS,
    RTSCOPE_SPIKE_POLL_THRESHOLD_MS,
    RTSCOPE_SPIKE_TIMER_THRESHOLD_MS,
    RTSCOPE_SPIKE_LATENCY_THRESHOLD_MS,
];

/// The three variables that name a collector.
const ENDPOINT_VARS: [&str; 3] = [
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
];

/// OTLP exporter variables other than endpoints and temporality (which also shapes the file):
/// setting one asks for OTLP, so without an endpoint the specification's default is used.
const OTLP_SETTING_VARS: [&str; 15] = [
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    OTEL_EXPORTER_OTLP_LOGS_PROTOCOL,
    OTEL_EXPORTER_OTLP_HEADERS,
    OTEL_EXPORTER_OTLP_METRICS_HEADERS,
    OTEL_EXPORTER_OTLP_LOGS_HEADERS,
    OTEL_EXPORTER_OTLP_TIMEOUT,
    OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
    OTEL_EXPORTER_OTLP_LOGS_TIMEOUT,
    OTEL_EXPORTER_OTLP_COMPRESSION,
    OTEL_EXPORTER_OTLP_METRICS_COMPRESSION,
    OTEL_EXPORTER_OTLP_LOGS_COMPRESSION,
    OTEL_EXPORTER_OTLP_INSECURE,
    OTEL_EXPORTER_OTLP_METRICS_INSECURE,
    OTEL_EXPORTER_OTLP_LOGS_INSECURE,
];

// The logs variants of settings rtscope shares between its two signals: read only to say,
// when one asks for something else, that it is not used.
const OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL";
const OTEL_EXPORTER_OTLP_LOGS_HEADERS: &str = "OTEL_EXPORTER_OTLP_LOGS_HEADERS";
const OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT";
const OTEL_EXPORTER_OTLP_LOGS_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION";

/// Standard variables rtscope does not support, with what it does instead; each one set is
/// warned about once.
const UNSUPPORTED_VARS: &[(&str, &str)] = &[
    (
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        "servers are verified against the system's trust store",
    ),
    (
        "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
        "servers are verified against the system's trust store",
    ),
    (
        "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE",
        "servers are verified against the system's trust store",
    ),
    (
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
        "no client certificate is sent",
    ),
    (
        "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE",
        "no client certificate is sent",
    ),
    (
        "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE",
        "no client certificate is sent",
    ),
    (
        "OTEL_EXPORTER_OTLP_CLIENT_KEY",
        "no client certificate is sent",
    ),
    (
        "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY",
        "no client certificate is sent",
    ),
    (
        "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY",
        "no client certificate is sent",
    ),
    (
        "OTEL_METRIC_EXPORT_TIMEOUT",
        "each request is bounded by OTEL_EXPORTER_OTLP_TIMEOUT",
    ),
];

/// What an `OTEL_*_EXPORTER` variable asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Choice {
    /// Unset, or nothing usable in it: rtscope's default (the file unless OTLP is asked for).
    Unset,
    /// `otlp` written: OTLP, to the specification's default endpoint if none is set.
    Otlp,
    /// `none`: the signal is not exported.
    Off,
}

/// Where an endpoint came from, for warnings.
enum EndpointSource {
    Code,
    Env(&'static str),
    Default,
}

/// The OTLP settings both signals share, resolved before the endpoints.
struct Shared {
    protocol: Protocol,
    headers: Vec<(String, String)>,
    timeout: Duration,
    compression: Compression,
}

struct Reader<'a> {
    env: &'a dyn Fn(&str) -> Option<OsString>,
    warnings: Vec<String>,
    /// Distinct lines past [`MAX_WARNINGS`].
    unshown: usize,
}

impl Reader<'_> {
    /// The trimmed value of `name`; empty counts as unset, as the specification requires. A
    /// value that is not UTF-8 is warned about and counts as unset.
    fn get(&mut self, name: &str) -> Option<String> {
        match (self.env)(name)?.into_string() {
            Ok(v) => Some(v.trim().to_owned()).filter(|v| !v.is_empty()),
            Err(_) => {
                self.warn(format!(
                    "{name} is not valid UTF-8; ignoring it (write the value in UTF-8)"
                ));
                None
            }
        }
    }

    /// A path variable: kept byte for byte when it is not UTF-8 (a path need not be);
    /// trimmed, and empty counts as unset, when it is.
    fn get_path(&mut self, name: &str) -> Option<PathBuf> {
        let raw = (self.env)(name)?;
        match raw.to_str() {
            Some(v) => Some(PathBuf::from(v.trim())).filter(|p| !p.as_os_str().is_empty()),
            None => Some(PathBuf::from(raw)),
        }
    }

    /// Records one line, once (at most [`MAX_WARNINGS`] are kept, the rest counted).
    fn warn(&mut self, line: String) {
        let line = format!("rtscope: {line}");
        if self.warnings.contains(&line) {
            return;
        }
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(line);
        } else {
            self.unshown += 1;
        }
    }

    /// The first usable value among `names` (highest precedence first), else `default`. Each
    /// unusable value met on the way is warned about, naming what is used instead.
    fn pick<T>(
        &mut self,
        names: &[&'static str],
        parse: impl Fn(&str) -> Result<T, &'static str>,
        default: T,
        show: impl Fn(&T) -> String,
    ) -> T {
        let mut bad = Vec::new();
        let mut chosen = None;
        for &name in names {
            let Some(raw) = self.get(name) else { continue };
            match parse(&raw) {
                Ok(value) => {
                    chosen = Some((value, name));
                    break;
                }
                Err(problem) => bad.push((name, raw, problem)),
            }
        }
        let (value, used) = match chosen {
            Some((value, name)) => {
                let used = format!("{} from {name}", show(&value));
                (value, used)
            }
            None => {
                let used = show(&default);
                (default, used)
            }
        };
        for (name, raw, problem) in bad {
            self.warn(format!("{name}={} {problem}; using {used}", quoted(&raw)));
        }
        value
    }

    /// Spike settings made in code over the `RTSCOPE_SPIKE*` variables over defaults. A
    /// code value that `validate` rejects is ignored here (never a panic).
    fn spikes(&mut self, code: &SpikeBuilder) -> SpikeSettings {
        let d = SpikeSettings::default();
        let threshold = |v: &str| parse_ms(v, false).map(Some);
        let mut thresholds = d.thresholds;
        for ((t, code), var) in thresholds
            .iter_mut()
            .zip(code.thresholds)
            .zip(SPIKE_KIND_THRESHOLD_VARS)
        {
            *t = match code.filter(|t| !t.is_zero()) {
                Some(t) => Some(t),
                None => self.pick(
                    &[var, RTSCOPE_SPIKE_THRESHOLD_MS],
                    threshold,
                    None,
                    threshold_str,
                ),
            };
        }
        SpikeSettings {
            enabled: match code.enabled {
                Some(b) => b,
                None => self.pick(&[RTSCOPE_SPIKES], parse_on_off, d.enabled, on_off_str),
            },
            thresholds,
            latency_thresholds: code
                .latency_thresholds
                .iter()
                .filter(|(_, t)| !t.is_zero())
                .cloned()
                .collect(),
            floor: match code.floor.filter(|f| !f.is_zero()) {
                Some(f) => f,
                None => self.pick(
                    &[RTSCOPE_SPIKE_FLOOR_MS],
                    |v| parse_ms(v, false),
                    d.floor,
                    ms_str,
                ),
            },
            p99_factor: code
                .p99_factor
                .filter(|f| f.is_finite() && *f >= 1.0)
                .unwrap_or(d.p99_factor),
            burst: match code.burst.filter(|&b| b > 0) {
                Some(b) => b,
                None => self.pick(&[RTSCOPE_SPIKE_BURST], parse_events, d.burst, |b| {
                    b.to_string()
                }),
            },
            rate_per_minute: match code.rate_per_minute.filter(|r| r.is_finite() && *r > 0.0) {
                Some(r) => r,
                None => self.pick(
                    &[RTSCOPE_SPIKE_RATE_PER_MIN],
                    |v| parse_events(v).map(f64::from),
                    d.rate_per_minute,
                    |r| r.to_string(),
                ),
            },
        }
    }

    /// `OTEL_METRICS_EXPORTER` or `OTEL_LOGS_EXPORTER`: a comma-separated list, of which rtscope
    /// understands `otlp` and `none`; every other entry is warned about and ignored.
    fn exporter(&mut self, var: &'static str) -> Choice {
        let Some(raw) = self.get(var) else {
            return Choice::Unset;
        };
        let (mut otlp, mut none) = (false, false);
        let list = split_list(&raw).count() > 1;
        for entry in split_list(&raw) {
            let what = if list {
                format!("{var} entry {}", quoted(entry))
            } else {
                format!("{var}={}", quoted(entry))
            };
            match entry.to_ascii_lowercase().as_str() {
                "otlp" => otlp = true,
                "none" => none = true,
                "console" | "logging" => self.warn(format!(
                    "{what} is a standard exporter rtscope does not support (use otlp or \
                     none; rtscope's console output is its summary at exit, RTSCOPE_SUMMARY); \
                     ignoring it"
                )),
                "prometheus" if var == OTEL_METRICS_EXPORTER => self.warn(format!(
                    "{what} is a standard exporter rtscope does not support (use otlp or \
                     none; for Prometheus, send OTLP to a collector that exposes a Prometheus \
                     endpoint); ignoring it"
                )),
                _ => self.warn(format!(
                    "{what} is not a known exporter (use otlp or none); ignoring it"
                )),
            }
        }
        match (otlp, none) {
            (true, true) => {
                self.warn(format!(
                    "{var}={}: none cannot be combined with another exporter; using otlp",
                    quoted(&raw)
                ));
                Choice::Otlp
            }
            (true, false) => Choice::Otlp,
            (false, true) => Choice::Off,
            (false, false) => Choice::Unset,
        }
    }

    /// `OTEL_RESOURCE_ATTRIBUTES`, malformed entries warned about and skipped.
    fn pairs_attributes(&mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Some(raw) = self.get(OTEL_RESOURCE_ATTRIBUTES) else {
            return out;
        };
        for entry in split_list(&raw) {
            let var = OTEL_RESOURCE_ATTRIBUTES;
            let shown = quoted(entry);
            match parse_pair(entry) {
                Ok((key, value)) => upsert(&mut out, &key, &value, |a, b| a == b),
                Err(PairError::NoEquals) => {
                    self.warn(format!("{var} entry {shown} is not key=value; skipping it"))
                }
                Err(PairError::EmptyKey) => {
                    self.warn(format!("{var} entry {shown} has an empty key; skipping it"))
                }
                Err(PairError::BadPercent) => self.warn(format!(
                    "{var} entry {shown} has invalid percent-encoding (write a literal % as \
                     %25); skipping it"
                )),
            }
        }
        out
    }

    /// Headers from `var`; values never appear in warnings (they often hold credentials).
    fn headers(&mut self, var: &'static str, raw: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (i, entry) in split_list(raw).enumerate() {
            let n = i + 1;
            match parse_pair(entry) {
                Ok((name, value)) => match check_header(&name, &value) {
                    Ok(()) => out.push((name, value)),
                    Err(problem) => self.warn(format!(
                        "{var} header {} {problem}; skipping it",
                        quoted(&name)
                    )),
                },
                Err(PairError::NoEquals) => self.warn(format!(
                    "{var} entry {n} is not key=value (value not shown); skipping it"
                )),
                Err(PairError::EmptyKey) => self.warn(format!(
                    "{var} entry {n} has an empty header name; skipping it"
                )),
                Err(PairError::BadPercent) => {
                    let name = entry.split_once('=').map_or(entry, |(k, _)| k).trim();
                    self.warn(format!(
                        "{var} header {} has invalid percent-encoding in its value (write a \
                         literal % as %25); skipping it",
                        quoted(name)
                    ))
                }
            }
        }
        out
    }

    /// Where the data goes, highest first: `with_endpoint`; `with_file`; an endpoint variable;
    /// `RTSCOPE_FILE`; OTLP to the specification's default endpoint when something asks for
    /// OTLP (`asked`, an `OTEL_*_EXPORTER=otlp`, or an OTLP setting in code or the
    /// environment); else the default file. The OTLP variables are read (and a bad value
    /// reported) whenever code has not chosen the file. With no signal exported the endpoints
    /// are not read and the file (never written) stands in.
    fn destination(
        &mut self,
        o: &Overrides,
        signals: Signals,
        asked: Option<String>,
    ) -> Destination {
        if o.endpoint.is_none()
            && let Some(file) = &o.file
        {
            return Destination::File(file.clone());
        }
        for (var, instead) in UNSUPPORTED_VARS {
            if self.get(var).is_some() {
                self.warn(format!(
                    "{var} is set but rtscope does not support it ({instead}); ignoring it"
                ));
            }
        }
        let shared = self.shared(o);
        if !signals.any() {
            // Nothing goes anywhere: the endpoints do not matter.
            return Destination::File(self.file(o));
        }
        let asked = asked.or_else(|| self.asked_in_settings(o));
        let endpoint_set =
            o.endpoint.is_some() || ENDPOINT_VARS.iter().any(|var| self.get(var).is_some());
        if !endpoint_set {
            if let Some(file) = self.get_path(RTSCOPE_FILE) {
                return Destination::File(file);
            }
            let Some(asked) = asked else {
                return Destination::File(PathBuf::from(DEFAULT_FILE));
            };
            self.warn(format!(
                "no OTLP endpoint is set but {asked}; sending to the specification's default {} \
                 (set OTEL_EXPORTER_OTLP_ENDPOINT to choose the collector)",
                default_base(shared.protocol)
            ));
        }
        match self.otlp_target(o, shared) {
            Some(target) => Destination::Otlp(target),
            None => Destination::File(self.file(o)),
        }
    }

    /// What asks for OTLP among the settings other than endpoints, for the line saying the
    /// default endpoint is used.
    fn asked_in_settings(&mut self, o: &Overrides) -> Option<String> {
        let code = [
            ("with_protocol", o.protocol.is_some()),
            ("with_header", !o.headers.is_empty()),
            ("with_timeout", o.timeout.is_some()),
            ("with_compression", o.compression.is_some()),
        ];
        if let Some((method, _)) = code.iter().find(|(_, set)| *set) {
            return Some(format!("{method} is called"));
        }
        OTLP_SETTING_VARS
            .iter()
            .find(|var| self.get(var).is_some())
            .map(|var| format!("{var} is set"))
    }

    /// Protocol, headers, timeout and compression: code, else the metrics variable, else the
    /// generic one, for both signals. A logs variable asking for something else is warned
    /// about (rtscope has one setting of each for both signals).
    fn shared(&mut self, o: &Overrides) -> Shared {
        let protocol = match o.protocol {
            Some(p) => p,
            None => self.pick(
                &[
                    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
                    OTEL_EXPORTER_OTLP_PROTOCOL,
                ],
                parse_protocol,
                Protocol::HttpProtobuf,
                |p| p.as_str().to_owned(),
            ),
        };
        self.logs_variant(
            OTEL_EXPORTER_OTLP_LOGS_PROTOCOL,
            "protocol",
            |v| parse_protocol(v) == Ok(protocol),
            protocol.as_str(),
        );

        let mut headers_var = None;
        let mut headers = Vec::new();
        for var in [
            OTEL_EXPORTER_OTLP_METRICS_HEADERS,
            OTEL_EXPORTER_OTLP_HEADERS,
        ] {
            if let Some(raw) = self.get(var) {
                headers = self.headers(var, &raw);
                headers_var = Some(raw);
                break;
            }
        }
        let logs_headers = self.get(OTEL_EXPORTER_OTLP_LOGS_HEADERS);
        if logs_headers.is_some() && logs_headers != headers_var {
            self.warn(format!(
                "{OTEL_EXPORTER_OTLP_LOGS_HEADERS} differs from the headers rtscope uses (value \
                 not shown): logs are sent with the metrics headers \
                 ({OTEL_EXPORTER_OTLP_METRICS_HEADERS}, else {OTEL_EXPORTER_OTLP_HEADERS}, and \
                 with_header); set those instead"
            ));
        }
        for (name, value) in &o.headers {
            match check_header(name, value) {
                Ok(()) => upsert(&mut headers, name, value, str::eq_ignore_ascii_case),
                Err(problem) => self.warn(format!(
                    "with_header({}, ..) {problem}; skipping it",
                    quoted(name)
                )),
            }
        }

        let timeout = match o.timeout.filter(|d| !d.is_zero()) {
            Some(d) => d,
            None => self.pick(
                &[
                    OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
                    OTEL_EXPORTER_OTLP_TIMEOUT,
                ],
                |v| parse_ms(v, false),
                DEFAULT_TIMEOUT,
                ms_str,
            ),
        };
        self.logs_variant(
            OTEL_EXPORTER_OTLP_LOGS_TIMEOUT,
            "timeout",
            |v| parse_ms(v, false) == Ok(timeout),
            &ms_str(&timeout),
        );
        let compression = match o.compression {
            Some(c) => c,
            None => self.pick(
                &[
                    OTEL_EXPORTER_OTLP_METRICS_COMPRESSION,
                    OTEL_EXPORTER_OTLP_COMPRESSION,
                ],
                parse_compression,
                Compression::None,
                |c| c.as_str().to_owned(),
            ),
        };
        self.logs_variant(
            OTEL_EXPORTER_OTLP_LOGS_COMPRESSION,
            "compression",
            |v| parse_compression(v) == Ok(compression),
            compression.as_str(),
        );
        Shared {
            protocol,
            headers,
            timeout,
            compression,
        }
    }

    /// Warns when the logs variant `var` of a shared setting is set to something other than
    /// `used` (`same` says whether a value agrees with it).
    fn logs_variant(
        &mut self,
        var: &'static str,
        setting: &str,
        same: impl Fn(&str) -> bool,
        used: &str,
    ) {
        if let Some(raw) = self.get(var)
            && !same(&raw)
        {
            let generic = var.replace("_LOGS_", "_");
            let metrics = var.replace("_LOGS_", "_METRICS_");
            self.warn(format!(
                "{var}={} is not used: rtscope sends logs with the metrics {setting} ({metrics}, \
                 else {generic}); using {used}",
                quoted(&raw)
            ));
        }
    }

    /// The OTLP target, or `None` (after a warning) when an endpoint in use is not a URL.
    fn otlp_target(&mut self, o: &Overrides, shared: Shared) -> Option<OtlpTarget> {
        let protocol = shared.protocol;
        let metrics = self.endpoint(
            o,
            [
                OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
                OTEL_EXPORTER_OTLP_METRICS_INSECURE,
            ],
            "/v1/metrics",
            protocol,
        );
        let logs = self.endpoint(
            o,
            [
                OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
                OTEL_EXPORTER_OTLP_LOGS_INSECURE,
            ],
            "/v1/logs",
            protocol,
        );
        Some(OtlpTarget {
            protocol,
            metrics_endpoint: metrics?,
            logs_endpoint: logs?,
            headers: shared.headers,
            timeout: shared.timeout,
            compression: shared.compression,
        })
    }

    /// One signal's URL: the code's base URL, else the signal's variable as is, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` as a base, else the protocol's default. `None` (after a
    /// warning naming the file written instead) when it is not an http(s) URL. `vars` are the
    /// signal's endpoint and insecure variables.
    fn endpoint(
        &mut self,
        o: &Overrides,
        [signal_var, insecure_var]: [&'static str; 2],
        path: &str,
        protocol: Protocol,
    ) -> Option<String> {
        let (source, written) = if let Some(base) = &o.endpoint {
            (EndpointSource::Code, base.trim().to_owned())
        } else if let Some(url) = self.get(signal_var) {
            (EndpointSource::Env(signal_var), url)
        } else if let Some(base) = self.get(OTEL_EXPORTER_OTLP_ENDPOINT) {
            (EndpointSource::Env(OTEL_EXPORTER_OTLP_ENDPOINT), base)
        } else {
            (EndpointSource::Default, default_base(protocol).to_owned())
        };
        let mut url = written.clone();
        if protocol == Protocol::Grpc && !has_scheme(&url) {
            // The specification (and opentelemetry-otlp 0.33): a gRPC endpoint without a scheme
            // is TLS unless OTEL_EXPORTER_OTLP_INSECURE says otherwise.
            let insecure = self.pick(
                &[insecure_var, OTEL_EXPORTER_OTLP_INSECURE],
                parse_bool,
                false,
                bool_str,
            );
            let scheme = if insecure { "http" } else { "https" };
            url = format!("{scheme}://{url}");
        }
        // Checked as written, before a signal path is joined to a base (which would turn
        // `http://` into `http:/v1/metrics`, a URL with no scheme).
        if let Err(problem) = check_url(&url) {
            let shown = quoted(&redact_url(&written));
            let what = match source {
                EndpointSource::Code => format!("with_endpoint({shown})"),
                EndpointSource::Env(var) => format!("{var}={shown}"),
                EndpointSource::Default => format!("the default endpoint {shown}"),
            };
            let file = self.file(o);
            self.warn(format!(
                "{what} is not an http:// or https:// URL ({problem}); writing to {} instead",
                crate::base::text::path(&file)
            ));
            return None;
        }
        Some(match source {
            EndpointSource::Env(var) if var == signal_var => url,
            _ => join_base(&url, path, protocol),
        })
    }

    /// The file written when no collector is used: `with_file`, else `RTSCOPE_FILE`, else the
    /// default.
    fn file(&mut self, o: &Overrides) -> PathBuf {
        o.file
            .clone()
            .or_else(|| self.get_path(RTSCOPE_FILE))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_FILE))
    }
}

/// The specification's default collector base URL for `protocol`.
fn default_base(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Grpc => DEFAULT_GRPC_ENDPOINT,
        Protocol::HttpProtobuf => DEFAULT_HTTP_ENDPOINT,
    }
}

/// `url` for a message, with its userinfo (`user:password@`) and its query replaced by `[redacted]`,
/// so that credentials in an endpoint never reach stderr: `http://u:pw@host:4318/p?k=v` shows
/// as `http://[redacted]@host:4318/p?[redacted]`. Any string is accepted, a malformed URL too. The result
/// still needs [`quoted`] (it is neither escaped nor cut).
pub(crate) fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) if has_scheme(url) => (Some(scheme), rest),
        _ => (None, url),
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let mut out = String::with_capacity(url.len());
    if let Some(scheme) = scheme {
        out.push_str(scheme);
        out.push_str("://");
    }
    match authority.rsplit_once('@') {
        Some((_, host)) => {
            out.push_str("[redacted]@");
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    match tail.split_once('?') {
        Some((path, _)) => {
            out.push_str(path);
            out.push_str("?[redacted]");
        }
        None => out.push_str(tail),
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Value parsers. Each returns the problem as the end of a sentence starting with the value.
// ---------------------------------------------------------------------------------------------

fn parse_ms(raw: &str, allow_zero: bool) -> Result<Duration, &'static str> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match raw.parse::<u64>() {
        Ok(0) if !allow_zero => Err("must be greater than 0 milliseconds"),
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(_) if raw.strip_prefix('-').is_some_and(digits) => Err(if allow_zero {
            "must not be negative"
        } else {
            "must be greater than 0 milliseconds"
        }),
        Err(_) if digits(raw) => Err("is too large a number of milliseconds"),
        Err(_) => Err("is not a number of milliseconds"),
    }
}

fn parse_rate(raw: &str) -> Result<f64, &'static str> {
    match raw.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(_) => Err("must be a positive number of samples per second"),
        Err(_) => Err("is not a number of samples per second"),
    }
}

fn parse_bytes(raw: &str) -> Result<u64, &'static str> {
    match raw.parse::<u64>() {
        Ok(0) => Err("must be greater than 0 bytes"),
        Ok(v) => Ok(v),
        Err(_) => Err("is not a whole number of bytes"),
    }
}

fn parse_events(raw: &str) -> Result<u32, &'static str> {
    match raw.parse::<u32>() {
        Ok(0) => Err("must be at least 1 event"),
        Ok(n) => Ok(n),
        Err(_) if raw.bytes().all(|b| b.is_ascii_digit()) => Err("is too large a number of events"),
        Err(_) => Err("is not a whole number of events"),
    }
}

fn parse_bool(raw: &str) -> Result<bool, &'static str> {
    if raw.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if raw.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err("is not true or false")
    }
}

fn parse_on_off(raw: &str) -> Result<bool, &'static str> {
    match raw.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" => Ok(true),
        "off" | "false" | "0" => Ok(false),
        _ => Err("is not on or off"),
    }
}

fn parse_protocol(raw: &str) -> Result<Protocol, &'static str> {
    match raw.to_ascii_lowercase().as_str() {
        "grpc" => Ok(Protocol::Grpc),
        "http/protobuf" => Ok(Protocol::HttpProtobuf),
        "http/json" => Err("is not supported by rtscope (use grpc or http/protobuf)"),
        _ => Err("is not a known protocol (use grpc or http/protobuf)"),
    }
}

fn parse_compression(raw: &str) -> Result<Compression, &'static str> {
    match raw.to_ascii_lowercase().as_str() {
        "gzip" => Ok(Compression::Gzip),
        "none" => Ok(Compression::None),
        _ => Err("is not a supported compression (use gzip or none)"),
    }
}

fn parse_temporality(raw: &str) -> Result<Temporality, &'static str> {
    match raw.to_ascii_lowercase().as_str() {
        "cumulative" => Ok(Temporality::Cumulative),
        // See `Temporality`: the difference lies in asynchronous counters only.
        "delta" | "lowmemory" => Ok(Temporality::Delta),
        _ => Err("is not a temporality preference (use cumulative, delta or lowmemory)"),
    }
}

fn ms_str(d: &Duration) -> String {
    d.as_millis().to_string()
}

fn threshold_str(t: &Option<Duration>) -> String {
    match t {
        Some(d) => ms_str(d),
        None => "the rolling P99".to_owned(),
    }
}

fn bool_str(b: &bool) -> String {
    b.to_string()
}

fn on_off_str(b: &bool) -> String {
    if *b { "on" } else { "off" }.to_owned()
}

/// The non-empty, trimmed entries of a comma-separated list.
fn split_list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',').map(str::trim).filter(|e| !e.is_empty())
}

enum PairError {
    NoEquals,
    EmptyKey,
    BadPercent,
}

/// `key=value` (split at the first `=`), key trimmed, value trimmed and percent-decoded.
fn parse_pair(entry: &str) -> Result<(String, String), PairError> {
    let (key, value) = entry.split_once('=').ok_or(PairError::NoEquals)?;
    let key = key.trim();
    if key.is_empty() {
        return Err(PairError::EmptyKey);
    }
    let value = percent_decode(value.trim()).ok_or(PairError::BadPercent)?;
    Ok((key.to_owned(), value))
}

/// Strict percent-decoding: every `%` starts two hex digits and the result is UTF-8.
pub(crate) fn percent_decode(raw: &str) -> Option<String> {
    if !raw.contains('%') {
        return Some(raw.to_owned());
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Replaces every entry whose key matches `key` (the first one's position, the new spelling),
/// or appends.
fn upsert(
    list: &mut Vec<(String, String)>,
    key: &str,
    value: &str,
    same: impl Fn(&str, &str) -> bool,
) {
    match list.iter().position(|(k, _)| same(k, key)) {
        Some(i) => {
            list[i] = (key.to_owned(), value.to_owned());
            let mut j = i + 1;
            while j < list.len() {
                if same(&list[j].0, key) {
                    list.remove(j);
                } else {
                    j += 1;
                }
            }
        }
        None => list.push((key.to_owned(), value.to_owned())),
    }
}

/// Removes `key` from `list`, returning its value.
fn take_key(list: &mut Vec<(String, String)>, key: &str) -> Option<String> {
    let i = list.iter().position(|(k, _)| k == key)?;
    Some(list.remove(i).1)
}

/// A header name must be an HTTP token; a value must hold no control character.
fn check_header(name: &str, value: &str) -> Result<(), String> {
    const SPECIAL: &[u8] = b"!#$%&'*+-.^_`|~";
    if name.is_empty() {
        return Err("has an empty name; pass a name such as \"x-api-key\"".to_owned());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || SPECIAL.contains(&b))
    {
        return Err(
            "is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)".to_owned(),
        );
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err("has a control character in its value".to_owned());
    }
    Ok(())
}

/// Whether `url` starts with `scheme://` (the `://` before any path, query or fragment).
fn has_scheme(url: &str) -> bool {
    url.split_once("://")
        .is_some_and(|(scheme, _)| !scheme.is_empty() && !scheme.contains(['/', '?', '#']))
}

/// A small URL check: `http` or `https` scheme, a host (name, IPv4 or `[IPv6]`), an optional
/// port up to 65535, then anything. Returns what is wrong, for a warning.
pub(crate) fn check_url(url: &str) -> Result<(), &'static str> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains whitespace");
    }
    if !has_scheme(url) {
        return Err("it has no scheme");
    }
    let (scheme, rest) = url.split_once("://").unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err("its scheme is neither http nor https");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or("its IPv6 address has no closing ]")?;
        if addr.is_empty()
            || !addr
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err("its IPv6 address is malformed");
        }
        match after {
            "" => (addr, None),
            _ => (
                addr,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or("it has junk after the IPv6 address")?,
                ),
            ),
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err("it has no host");
    }
    if !host_port.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return Err("its host is malformed");
    }
    if let Some(port) = port
        && (port.is_empty()
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().is_err())
    {
        return Err("its port is not a number from 0 to 65535");
    }
    Ok(())
}

/// For HTTP, `base` + `path` with exactly one `/` between them; for gRPC, `base` as is.
fn join_base(base: &str, path: &str, protocol: Protocol) -> String {
    match protocol {
        Protocol::Grpc => base.to_owned(),
        Protocol::HttpProtobuf => {
            format!(
                "{}/{}",
                base.trim_end_matches('/'),
                path.trim_start_matches('/')
            )
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::test_env as env;
    use super::*;

    fn run(o: &Overrides, vars: &[(&str, &str)]) -> (Config, Vec<String>) {
        resolve(o, env(vars))
    }

    fn defaults() -> Config {
        Config {
            disabled: false,
            service_name: default_service_name(),
            resource_attributes: vec![],
            export_interval: Duration::from_secs(60),
            temporality: Temporality::Cumulative,
            shutdown_timeout: Duration::from_secs(2),
            destination: Destination::File(PathBuf::from("./rtscope-otlp.jsonl")),
            signals: Signals::default(),
            file_max_bytes: DEFAULT_FILE_MAX_BYTES,
            fallback_file: PathBuf::from(DEFAULT_FILE),
            summary_at_exit: true,
            sampling: Sampling::default(),
            spikes: SpikeSettings::default(),
        }
    }

    fn http_target(metrics: &str, logs: &str) -> OtlpTarget {
        OtlpTarget {
            protocol: Protocol::HttpProtobuf,
            metrics_endpoint: metrics.to_owned(),
            logs_endpoint: logs.to_owned(),
            headers: vec![],
            timeout: Duration::from_secs(10),
            compression: Compression::None,
        }
    }

    fn otlp(target: OtlpTarget) -> Config {
        Config {
            destination: Destination::Otlp(target),
            ..defaults()
        }
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// Resolves with no overrides; asserts the exact warning lines and returns the config.
    fn warned(vars: &[(&str, &str)], expected: &[&str]) -> Config {
        let (config, warnings) = run(&Overrides::default(), vars);
        assert_eq!(warnings, expected, "warnings for {vars:?}");
        config
    }

    #[test]
    fn empty_environment_gives_defaults_and_no_warnings() {
        assert_eq!(run(&Overrides::default(), &[]), (defaults(), vec![]));
    }

    #[test]
    fn default_service_name_follows_the_spec() {
        let name = default_service_name();
        let exe = std::env::current_exe().unwrap();
        let exe = exe.file_name().unwrap().to_string_lossy();
        assert_eq!(name, format!("unknown_service:{exe}"));
    }

    #[test]
    fn empty_and_blank_values_count_as_unset() {
        let vars = [
            (OTEL_SDK_DISABLED, ""),
            (OTEL_SERVICE_NAME, "  "),
            (OTEL_METRIC_EXPORT_INTERVAL, ""),
            (OTEL_EXPORTER_OTLP_ENDPOINT, " "),
            (RTSCOPE_SUMMARY, ""),
            (RTSCOPE_FILE, ""),
        ];
        assert_eq!(warned(&vars, &[]), defaults());
    }

    #[test]
    fn every_plain_setting_from_the_environment() {
        let vars = [
            (OTEL_SDK_DISABLED, "TRUE"),
            (OTEL_SERVICE_NAME, "checkout"),
            (
                OTEL_RESOURCE_ATTRIBUTES,
                "deployment.environment=prod, team=pay%20ments",
            ),
            (OTEL_METRIC_EXPORT_INTERVAL, " 15000 "),
            (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, "Delta"),
            (RTSCOPE_FILE, "/tmp/out.jsonl"),
            (RTSCOPE_FILE_MAX_BYTES, "1048576"),
            (RTSCOPE_SUMMARY, "off"),
            (RTSCOPE_SHUTDOWN_TIMEOUT, "0"),
        ];
        let expected = Config {
            disabled: true,
            service_name: "checkout".to_owned(),
            resource_attributes: pairs(&[
                ("deployment.environment", "prod"),
                ("team", "pay ments"),
            ]),
            export_interval: Duration::from_secs(15),
            temporality: Temporality::Delta,
            shutdown_timeout: Duration::ZERO,
            destination: Destination::File(PathBuf::from("/tmp/out.jsonl")),
            signals: Signals::default(),
            file_max_bytes: 1 << 20,
            fallback_file: PathBuf::from("/tmp/out.jsonl"),
            summary_at_exit: false,
            sampling: Sampling::default(),
            spikes: SpikeSettings::default(),
        };
        assert_eq!(warned(&vars, &[]), expected);
    }

    #[test]
    fn lowmemory_is_delta() {
        let vars = [(
            OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE,
            "lowmemory",
        )];
        assert_eq!(warned(&vars, &[]).temporality, Temporality::Delta);
    }

    #[test]
    fn sdk_disabled_false_and_bad_value() {
        assert!(!warned(&[(OTEL_SDK_DISABLED, "false")], &[]).disabled);
        let c = warned(
            &[(OTEL_SDK_DISABLED, "yes")],
            &[r#"rtscope: OTEL_SDK_DISABLED="yes" is not true or false; using false"#],
        );
        assert!(!c.disabled);
    }

    #[test]
    fn export_interval_bad_values() {
        for (raw, line) in [
            (
                "abc",
                r#"rtscope: OTEL_METRIC_EXPORT_INTERVAL="abc" is not a number of milliseconds; using 60000"#,
            ),
            (
                "0",
                r#"rtscope: OTEL_METRIC_EXPORT_INTERVAL="0" must be greater than 0 milliseconds; using 60000"#,
            ),
            (
                "-5",
                r#"rtscope: OTEL_METRIC_EXPORT_INTERVAL="-5" must be greater than 0 milliseconds; using 60000"#,
            ),
            (
                "1.5",
                r#"rtscope: OTEL_METRIC_EXPORT_INTERVAL="1.5" is not a number of milliseconds; using 60000"#,
            ),
            (
                "99999999999999999999",
                r#"rtscope: OTEL_METRIC_EXPORT_INTERVAL="99999999999999999999" is too large a number of milliseconds; using 60000"#,
            ),
            (
                "10s",
                r#"rtscope: OTEL_METRIC_EXPORT_INTERVAL="10s" is not a number of milliseconds; using 60000"#,
            ),
        ] {
            let c = warned(&[(OTEL_METRIC_EXPORT_INTERVAL, raw)], &[line]);
            assert_eq!(c, defaults());
        }
    }

    #[test]
    fn warning_quotes_values_on_one_line() {
        warned(
            &[(OTEL_METRIC_EXPORT_INTERVAL, "1\n\"2\"")],
            &[
                r#"rtscope: OTEL_METRIC_EXPORT_INTERVAL="1\n\"2\"" is not a number of milliseconds; using 60000"#,
            ],
        );
    }

    #[test]
    fn rtscope_variables_bad_values() {
        let c = warned(
            &[
                (RTSCOPE_SUMMARY, "maybe"),
                (RTSCOPE_SHUTDOWN_TIMEOUT, "-1"),
                (
                    OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE,
                    "sometimes",
                ),
            ],
            &[
                r#"rtscope: OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE="sometimes" is not a temporality preference (use cumulative, delta or lowmemory); using cumulative"#,
                r#"rtscope: RTSCOPE_SHUTDOWN_TIMEOUT="-1" must not be negative; using 2000"#,
                r#"rtscope: RTSCOPE_SUMMARY="maybe" is not on or off; using on"#,
            ],
        );
        assert_eq!(c, defaults());
        let c = warned(
            &[(RTSCOPE_SHUTDOWN_TIMEOUT, "soon")],
            &[
                r#"rtscope: RTSCOPE_SHUTDOWN_TIMEOUT="soon" is not a number of milliseconds; using 2000"#,
            ],
        );
        assert_eq!(c.shutdown_timeout, Duration::from_secs(2));
    }

    #[test]
    fn resource_attributes_malformed_entries_are_skipped() {
        let c = warned(
            &[(
                OTEL_RESOURCE_ATTRIBUTES,
                "a=1,novalue,=x,b=%zz,c=%E2%82%AC,d=e=f,,a=2,g=",
            )],
            &[
                r#"rtscope: OTEL_RESOURCE_ATTRIBUTES entry "novalue" is not key=value; skipping it"#,
                r#"rtscope: OTEL_RESOURCE_ATTRIBUTES entry "=x" has an empty key; skipping it"#,
                r#"rtscope: OTEL_RESOURCE_ATTRIBUTES entry "b=%zz" has invalid percent-encoding (write a literal % as %25); skipping it"#,
            ],
        );
        assert_eq!(
            c.resource_attributes,
            pairs(&[("a", "2"), ("c", "€"), ("d", "e=f"), ("g", "")])
        );
    }

    #[test]
    fn invalid_utf8_after_decoding_is_malformed() {
        warned(
            &[(OTEL_RESOURCE_ATTRIBUTES, "k=%FF")],
            &[
                r#"rtscope: OTEL_RESOURCE_ATTRIBUTES entry "k=%FF" has invalid percent-encoding (write a literal % as %25); skipping it"#,
            ],
        );
    }

    #[test]
    fn service_name_precedence() {
        let attrs = (OTEL_RESOURCE_ATTRIBUTES, "service.name=from-attrs,x=1");
        let name = (OTEL_SERVICE_NAME, "from-env");
        // The attribute alone; it is moved out of the attribute list.
        let c = warned(&[attrs], &[]);
        assert_eq!(c.service_name, "from-attrs");
        assert_eq!(c.resource_attributes, pairs(&[("x", "1")]));
        // OTEL_SERVICE_NAME wins over the attribute.
        assert_eq!(warned(&[attrs, name], &[]).service_name, "from-env");
        // Code wins over both: a builder resource attribute, then with_service_name.
        let mut o = Overrides {
            resource_attributes: pairs(&[("service.name", "code-attr")]),
            ..Overrides::default()
        };
        assert_eq!(run(&o, &[attrs, name]).0.service_name, "code-attr");
        o.service_name = Some("code".to_owned());
        let (c, w) = run(&o, &[attrs, name]);
        assert_eq!((c.service_name.as_str(), w), ("code", vec![]));
        assert_eq!(c.resource_attributes, pairs(&[("x", "1")]));
    }

    #[test]
    fn builder_attributes_merge_over_environment_ones() {
        let o = Overrides {
            resource_attributes: pairs(&[("b", "code"), ("c", "3"), ("c", "4")]),
            ..Overrides::default()
        };
        let (c, w) = run(&o, &[(OTEL_RESOURCE_ATTRIBUTES, "a=1,b=env")]);
        assert!(w.is_empty());
        assert_eq!(
            c.resource_attributes,
            pairs(&[("a", "1"), ("b", "code"), ("c", "4")])
        );
    }

    #[test]
    fn http_base_endpoint_gets_signal_paths() {
        for base in ["http://collector:4318", "http://collector:4318/"] {
            let c = warned(&[(OTEL_EXPORTER_OTLP_ENDPOINT, base)], &[]);
            assert_eq!(
                c,
                otlp(http_target(
                    "http://collector:4318/v1/metrics",
                    "http://collector:4318/v1/logs"
                ))
            );
        }
        let c = warned(
            &[(OTEL_EXPORTER_OTLP_ENDPOINT, "https://gw.example.com/otlp")],
            &[],
        );
        assert_eq!(
            c,
            otlp(http_target(
                "https://gw.example.com/otlp/v1/metrics",
                "https://gw.example.com/otlp/v1/logs"
            ))
        );
    }

    #[test]
    fn signal_endpoints_are_used_as_is() {
        let c = warned(
            &[
                (OTEL_EXPORTER_OTLP_ENDPOINT, "http://base:4318"),
                (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, "http://m:9000/custom"),
                (OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, "http://l:9001/"),
            ],
            &[],
        );
        assert_eq!(
            c,
            otlp(http_target("http://m:9000/custom", "http://l:9001/"))
        );
        // Only the metrics endpoint: logs go to the specification's default.
        let c = warned(
            &[(OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, "http://m:9000/custom")],
            &[],
        );
        assert_eq!(
            c,
            otlp(http_target(
                "http://m:9000/custom",
                "http://localhost:4318/v1/logs"
            ))
        );
    }

    #[test]
    fn grpc_endpoints_are_used_as_is_and_get_a_scheme_when_missing() {
        let grpc = |metrics: &str, logs: &str| {
            otlp(OtlpTarget {
                protocol: Protocol::Grpc,
                ..http_target(metrics, logs)
            })
        };
        let c = warned(
            &[
                (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
                (OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4317"),
            ],
            &[],
        );
        assert_eq!(c, grpc("http://collector:4317", "http://collector:4317"));
        let c = warned(
            &[
                (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
                (OTEL_EXPORTER_OTLP_ENDPOINT, "collector:4317"),
            ],
            &[],
        );
        assert_eq!(c, grpc("https://collector:4317", "https://collector:4317"));
        let c = warned(
            &[
                (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
                (OTEL_EXPORTER_OTLP_ENDPOINT, "collector:4317"),
                (OTEL_EXPORTER_OTLP_INSECURE, "true"),
            ],
            &[],
        );
        assert_eq!(c, grpc("http://collector:4317", "http://collector:4317"));
        let c = warned(
            &[
                (OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, "grpc"),
                (OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, "http://l:4317"),
            ],
            &[],
        );
        assert_eq!(c, grpc("http://localhost:4317", "http://l:4317"));
    }

    #[test]
    fn unusable_endpoints_fall_back_to_the_file() {
        for (var, raw, line) in [
            (
                OTEL_EXPORTER_OTLP_ENDPOINT,
                "localhost:4318",
                r#"rtscope: OTEL_EXPORTER_OTLP_ENDPOINT="localhost:4318" is not an http:// or https:// URL (it has no scheme); writing to ./rtscope-otlp.jsonl instead"#,
            ),
            (
                OTEL_EXPORTER_OTLP_ENDPOINT,
                "ftp://host",
                r#"rtscope: OTEL_EXPORTER_OTLP_ENDPOINT="ftp://host" is not an http:// or https:// URL (its scheme is neither http nor https); writing to ./rtscope-otlp.jsonl instead"#,
            ),
            (
                OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
                "http://host:99999/v1/metrics",
                r#"rtscope: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="http://host:99999/v1/metrics" is not an http:// or https:// URL (its port is not a number from 0 to 65535); writing to ./rtscope-otlp.jsonl instead"#,
            ),
            (
                OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
                "http:///v1/logs",
                r#"rtscope: OTEL_EXPORTER_OTLP_LOGS_ENDPOINT="http:///v1/logs" is not an http:// or https:// URL (it has no host); writing to ./rtscope-otlp.jsonl instead"#,
            ),
        ] {
            assert_eq!(warned(&[(var, raw)], &[line]), defaults());
        }
        // The file named by RTSCOPE_FILE is the one written, and the warning says so.
        let c = warned(
            &[
                (OTEL_EXPORTER_OTLP_ENDPOINT, "http://bad host"),
                (RTSCOPE_FILE, "/var/tmp/x.jsonl"),
            ],
            &[
                r#"rtscope: OTEL_EXPORTER_OTLP_ENDPOINT="http://bad host" is not an http:// or https:// URL (it contains whitespace); writing to /var/tmp/x.jsonl instead"#,
            ],
        );
        assert_eq!(
            c.destination,
            Destination::File(PathBuf::from("/var/tmp/x.jsonl"))
        );
    }

    #[test]
    fn protocol_values() {
        let vars = |p| {
            [
                (OTEL_EXPORTER_OTLP_ENDPOINT, "http://c:4318"),
                (OTEL_EXPORTER_OTLP_PROTOCOL, p),
            ]
        };
        let target = |c: Config| match c.destination {
            Destination::Otlp(t) => t,
            other => panic!("expected OTLP, got {other:?}"),
        };
        assert_eq!(
            target(warned(&vars("http/protobuf"), &[])).protocol,
            Protocol::HttpProtobuf
        );
        assert_eq!(target(warned(&vars("GRPC"), &[])).protocol, Protocol::Grpc);
        let t = target(warned(
            &vars("http/json"),
            &[
                r#"rtscope: OTEL_EXPORTER_OTLP_PROTOCOL="http/json" is not supported by rtscope (use grpc or http/protobuf); using http/protobuf"#,
            ],
        ));
        assert_eq!(
            t,
            http_target("http://c:4318/v1/metrics", "http://c:4318/v1/logs")
        );
        warned(
            &vars("thrift"),
            &[
                r#"rtscope: OTEL_EXPORTER_OTLP_PROTOCOL="thrift" is not a known protocol (use grpc or http/protobuf); using http/protobuf"#,
            ],
        );
    }

    #[test]
    fn otlp_settings_without_an_endpoint_use_the_spec_default_and_are_checked() {
        // A bad protocol with no endpoint used to pass silently (and wrote the file).
        let c = warned(
            &[(OTEL_EXPORTER_OTLP_PROTOCOL, "carrier-pigeon")],
            &[
                r#"rtscope: OTEL_EXPORTER_OTLP_PROTOCOL="carrier-pigeon" is not a known protocol (use grpc or http/protobuf); using http/protobuf"#,
                r#"rtscope: no OTLP endpoint is set but OTEL_EXPORTER_OTLP_PROTOCOL is set; sending to the specification's default http://localhost:4318 (set OTEL_EXPORTER_OTLP_ENDPOINT to choose the collector)"#,
            ],
        );
        assert_eq!(
            c,
            otlp(http_target(
                "http://localhost:4318/v1/metrics",
                "http://localhost:4318/v1/logs"
            ))
        );
        // gRPC: the default is port 4317, used as is.
        let c = warned(
            &[(OTEL_EXPORTER_OTLP_PROTOCOL, "grpc")],
            &[
                r#"rtscope: no OTLP endpoint is set but OTEL_EXPORTER_OTLP_PROTOCOL is set; sending to the specification's default http://localhost:4317 (set OTEL_EXPORTER_OTLP_ENDPOINT to choose the collector)"#,
            ],
        );
        assert_eq!(
            c,
            otlp(OtlpTarget {
                protocol: Protocol::Grpc,
                ..http_target("http://localhost:4317", "http://localhost:4317")
            })
        );
        // Headers alone ask for OTLP too; their values are still never shown.
        let c = warned(
            &[(OTEL_EXPORTER_OTLP_HEADERS, "api-key=SECRET,broken")],
            &[
                r#"rtscope: OTEL_EXPORTER_OTLP_HEADERS entry 2 is not key=value (value not shown); skipping it"#,
                r#"rtscope: no OTLP endpoint is set but OTEL_EXPORTER_OTLP_HEADERS is set; sending to the specification's default http://localhost:4318 (set OTEL_EXPORTER_OTLP_ENDPOINT to choose the collector)"#,
            ],
        );
        assert!(matches!(c.destination, Destination::Otlp(_)));
        // So does a setting made in code.
        let o = Overrides {
            protocol: Some(Protocol::Grpc),
            ..Overrides::default()
        };
        let (c, w) = run(&o, &[]);
        assert_eq!(
            w,
            [
                r#"rtscope: no OTLP endpoint is set but with_protocol is called; sending to the specification's default http://localhost:4317 (set OTEL_EXPORTER_OTLP_ENDPOINT to choose the collector)"#
            ]
        );
        assert!(matches!(c.destination, Destination::Otlp(_)));
        // RTSCOPE_FILE asks for the file, which wins; a bad value is reported all the same.
        let c = warned(
            &[
                (OTEL_EXPORTER_OTLP_TIMEOUT, "soon"),
                (RTSCOPE_FILE, "/tmp/x.jsonl"),
            ],
            &[
                r#"rtscope: OTEL_EXPORTER_OTLP_TIMEOUT="soon" is not a number of milliseconds; using 10000"#,
            ],
        );
        assert_eq!(
            c.destination,
            Destination::File(PathBuf::from("/tmp/x.jsonl"))
        );
        // Temporality shapes the file as well, so it does not ask for OTLP.
        let c = warned(
            &[(OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, "delta")],
            &[],
        );
        assert_eq!(c.destination, defaults().destination);
    }

    #[test]
    fn exporter_none_turns_a_signal_off() {
        let off = |metrics, logs| Signals { metrics, logs };
        let c = warned(&[(OTEL_METRICS_EXPORTER, "none")], &[]);
        assert_eq!(
            c,
            Config {
                signals: off(false, true),
                ..defaults()
            }
        );
        let c = warned(&[(OTEL_LOGS_EXPORTER, "NONE")], &[]);
        assert_eq!(c.signals, off(true, false));
        // Both off: nothing is exported, so no OTLP setting asks for the default endpoint.
        let c = warned(
            &[
                (OTEL_METRICS_EXPORTER, "none"),
                (OTEL_LOGS_EXPORTER, "none"),
                (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
            ],
            &[],
        );
        assert!(!c.signals.any());
        assert_eq!(c.destination, defaults().destination);
        // ... and an endpoint is not even read (no false "writing to the file instead" line),
        // while a bad setting is still reported.
        let c = warned(
            &[
                (OTEL_METRICS_EXPORTER, "none"),
                (OTEL_LOGS_EXPORTER, "none"),
                (OTEL_EXPORTER_OTLP_ENDPOINT, "localhost:4318"),
                (OTEL_EXPORTER_OTLP_COMPRESSION, "zstd"),
            ],
            &[
                r#"rtscope: OTEL_EXPORTER_OTLP_COMPRESSION="zstd" is not a supported compression (use gzip or none); using none"#,
            ],
        );
        assert_eq!(c.destination, defaults().destination);
        // One signal off, the other explicitly otlp: the default endpoint, for that one.
        let c = warned(
            &[
                (OTEL_METRICS_EXPORTER, "none"),
                (OTEL_LOGS_EXPORTER, "otlp"),
            ],
            &[
                r#"rtscope: no OTLP endpoint is set but OTEL_LOGS_EXPORTER=otlp; sending to the specification's default http://localhost:4318 (set OTEL_EXPORTER_OTLP_ENDPOINT to choose the collector)"#,
            ],
        );
        assert_eq!(
            c,
            Config {
                signals: off(false, true),
                ..otlp(http_target(
                    "http://localhost:4318/v1/metrics",
                    "http://localhost:4318/v1/logs"
                ))
            }
        );
    }

    #[test]
    fn exporter_otlp_without_an_endpoint_uses_the_spec_default() {
        let c = warned(
            &[(OTEL_METRICS_EXPORTER, "otlp")],
            &[
                r#"rtscope: no OTLP endpoint is set but OTEL_METRICS_EXPORTER=otlp; sending to the specification's default http://localhost:4318 (set OTEL_EXPORTER_OTLP_ENDPOINT to choose the collector)"#,
            ],
        );
        assert_eq!(
            c,
            otlp(http_target(
                "http://localhost:4318/v1/metrics",
                "http://localhost:4318/v1/logs"
            ))
        );
        // With an endpoint, `otlp` is what happens anyway: no line.
        let c = warned(
            &[
                (OTEL_METRICS_EXPORTER, "otlp"),
                (OTEL_EXPORTER_OTLP_ENDPOINT, "http://c:4318"),
            ],
            &[],
        );
        assert_eq!(
            c,
            otlp(http_target(
                "http://c:4318/v1/metrics",
                "http://c:4318/v1/logs"
            ))
        );
    }

    #[test]
    fn unsupported_and_unknown_exporters_are_named() {
        let console = r#"rtscope: OTEL_METRICS_EXPORTER="console" is a standard exporter rtscope does not support (use otlp or none; rtscope's console output is its summary at exit, RTSCOPE_SUMMARY); ignoring it"#;
        let c = warned(&[(OTEL_METRICS_EXPORTER, "console")], &[console]);
        assert_eq!(c, defaults());
        warned(
            &[(OTEL_METRICS_EXPORTER, "prometheus")],
            &[
                r#"rtscope: OTEL_METRICS_EXPORTER="prometheus" is a standard exporter rtscope does not support (use otlp or none; for Prometheus, send OTLP to a collector that exposes a Prometheus endpoint); ignoring it"#,
            ],
        );
        // `prometheus` is no logs exporter; unknown values say what is known.
        warned(
            &[(OTEL_LOGS_EXPORTER, "prometheus")],
            &[
                r#"rtscope: OTEL_LOGS_EXPORTER="prometheus" is not a known exporter (use otlp or none); ignoring it"#,
            ],
        );
        // In a list the usable entry is used and the others named.
        let c = warned(
            &[
                (OTEL_METRICS_EXPORTER, "none, logging"),
                (OTEL_EXPORTER_OTLP_ENDPOINT, "http://c:4318"),
            ],
            &[
                r#"rtscope: OTEL_METRICS_EXPORTER entry "logging" is a standard exporter rtscope does not support (use otlp or none; rtscope's console output is its summary at exit, RTSCOPE_SUMMARY); ignoring it"#,
            ],
        );
        assert!(!c.signals.metrics);
        let c = warned(
            &[
                (OTEL_LOGS_EXPORTER, "none,otlp"),
                (OTEL_EXPORTER_OTLP_ENDPOINT, "http://c:4318"),
            ],
            &[
                r#"rtscope: OTEL_LOGS_EXPORTER="none,otlp": none cannot be combined with another exporter; using otlp"#,
            ],
        );
        assert!(c.signals.logs);
    }

    #[test]
    fn logs_variants_of_shared_settings_are_used_or_named() {
        let base = (OTEL_EXPORTER_OTLP_ENDPOINT, "http://c:4318");
        // Agreeing with what is used: silent.
        warned(
            &[
                base,
                (OTEL_EXPORTER_OTLP_TIMEOUT, "5000"),
                (OTEL_EXPORTER_OTLP_LOGS_TIMEOUT, "5000"),
                (OTEL_EXPORTER_OTLP_LOGS_PROTOCOL, "http/protobuf"),
                (OTEL_EXPORTER_OTLP_HEADERS, "k=v"),
                (OTEL_EXPORTER_OTLP_LOGS_HEADERS, "k=v"),
            ],
            &[],
        );
        warned(
            &[
                base,
                (OTEL_EXPORTER_OTLP_LOGS_PROTOCOL, "grpc"),
                (OTEL_EXPORTER_OTLP_LOGS_COMPRESSION, "gzip"),
                (
                    OTEL_EXPORTER_OTLP_LOGS_HEADERS,
                    "authorization=Bearer SECRET",
                ),
            ],
            &[
                r#"rtscope: OTEL_EXPORTER_OTLP_LOGS_PROTOCOL="grpc" is not used: rtscope sends logs with the metrics protocol (OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL); using http/protobuf"#,
                r#"rtscope: OTEL_EXPORTER_OTLP_LOGS_HEADERS differs from the headers rtscope uses (value not shown): logs are sent with the metrics headers (OTEL_EXPORTER_OTLP_METRICS_HEADERS, else OTEL_EXPORTER_OTLP_HEADERS, and with_header); set those instead"#,
                r#"rtscope: OTEL_EXPORTER_OTLP_LOGS_COMPRESSION="gzip" is not used: rtscope sends logs with the metrics compression (OTEL_EXPORTER_OTLP_METRICS_COMPRESSION, else OTEL_EXPORTER_OTLP_COMPRESSION); using none"#,
            ],
        );
        // The logs endpoint is the logs signal's own, under gRPC as under HTTP, and so is
        // its insecure flag.
        let c = warned(
            &[
                (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
                (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, "m:4317"),
                (OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, "l:4317"),
                (OTEL_EXPORTER_OTLP_LOGS_INSECURE, "true"),
            ],
            &[],
        );
        assert_eq!(
            c,
            otlp(OtlpTarget {
                protocol: Protocol::Grpc,
                ..http_target("https://m:4317", "http://l:4317")
            })
        );
    }

    #[test]
    fn unsupported_variables_are_named_when_set() {
        warned(
            &[
                (OTEL_EXPORTER_OTLP_ENDPOINT, "https://c:4318"),
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem"),
                ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/etc/key.pem"),
                ("OTEL_METRIC_EXPORT_TIMEOUT", "30000"),
            ],
            &[
                r#"rtscope: OTEL_EXPORTER_OTLP_CERTIFICATE is set but rtscope does not support it (servers are verified against the system's trust store); ignoring it"#,
                r#"rtscope: OTEL_EXPORTER_OTLP_CLIENT_KEY is set but rtscope does not support it (no client certificate is sent); ignoring it"#,
                r#"rtscope: OTEL_METRIC_EXPORT_TIMEOUT is set but rtscope does not support it (each request is bounded by OTEL_EXPORTER_OTLP_TIMEOUT); ignoring it"#,
            ],
        );
    }

    #[test]
    fn echoed_values_are_capped_and_escaped() {
        // A 100 KB value used to make a 100 KB warning line.
        let huge = "9".repeat(99_995) + "\u{1b}[2Jx";
        let (_, w) = run(
            &Overrides::default(),
            &[(OTEL_METRIC_EXPORT_INTERVAL, huge.as_str())],
        );
        assert_eq!(
            w,
            [format!(
                r#"rtscope: OTEL_METRIC_EXPORT_INTERVAL="{}"... (100000 bytes) is not a number of milliseconds; using 60000"#,
                "9".repeat(64)
            )]
        );
        // Control characters are escaped wherever they sit, an escape counts as what it shows
        // (the cut keeps whole characters: see `text`'s tests).
        let attrs = format!("{}=1,k\u{1b}[2J{}", "é".repeat(70), "x".repeat(100));
        let (_, w) = run(&Overrides::default(), &[(OTEL_RESOURCE_ATTRIBUTES, &attrs)]);
        assert_eq!(
            w,
            [format!(
                r#"rtscope: OTEL_RESOURCE_ATTRIBUTES entry "k\u{{1b}}[2J{}"... (105 bytes) is not key=value; skipping it"#,
                "x".repeat(54)
            )]
        );
    }

    #[test]
    fn thousands_of_bad_entries_make_a_bounded_number_of_lines() {
        let attrs = (0..10_000)
            .map(|i| format!("bad{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let (_, w) = run(&Overrides::default(), &[(OTEL_RESOURCE_ATTRIBUTES, &attrs)]);
        assert_eq!(w.len(), MAX_WARNINGS + 1);
        assert_eq!(
            w[0],
            r#"rtscope: OTEL_RESOURCE_ATTRIBUTES entry "bad0" is not key=value; skipping it"#
        );
        assert_eq!(
            w[MAX_WARNINGS],
            format!(
                "rtscope: {} more configuration problems not shown; fix the ones above first",
                10_000 - MAX_WARNINGS
            )
        );
    }

    #[test]
    fn a_base_endpoint_without_a_host_says_so() {
        // `http://` joined to `/v1/metrics` used to be reported as having no scheme.
        for raw in ["http://", "https:///", "http://:4318"] {
            warned(
                &[(OTEL_EXPORTER_OTLP_ENDPOINT, raw)],
                &[&format!(
                    r#"rtscope: OTEL_EXPORTER_OTLP_ENDPOINT="{raw}" is not an http:// or https:// URL (it has no host); writing to ./rtscope-otlp.jsonl instead"#
                )],
            );
        }
        let o = Overrides {
            endpoint: Some("http://".to_owned()),
            ..Overrides::default()
        };
        assert_eq!(
            o.validate().unwrap_err().problem,
            r#"not an http:// or https:// URL (it has no host); pass a full URL such as "http://127.0.0.1:4318""#
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_non_utf8_file_path_is_kept_byte_for_byte() {
        use std::ffi::OsStr;
        use std::os::unix::ffi::OsStrExt as _;
        let bytes: &[u8] = b"/tmp/caf\xe9.jsonl";
        let env = |name: &str| match name {
            RTSCOPE_FILE => Some(OsStr::from_bytes(bytes).to_owned()),
            OTEL_SERVICE_NAME => Some(OsStr::from_bytes(b"caf\xe9").to_owned()),
            _ => None,
        };
        let (c, w) = resolve(&Overrides::default(), env);
        // Used to become "/tmp/caf\u{FFFD}.jsonl", a different file.
        assert_eq!(
            c.destination,
            Destination::File(PathBuf::from(OsStr::from_bytes(bytes)))
        );
        // Any other variable must be text: one line, and the default is used.
        assert_eq!(
            w,
            [
                "rtscope: OTEL_SERVICE_NAME is not valid UTF-8; ignoring it (write the value in UTF-8)"
            ]
        );
        assert_eq!(c.service_name, default_service_name());
        // Messages show such a path escaped.
        assert_eq!(
            crate::base::text::path(std::path::Path::new(OsStr::from_bytes(bytes))),
            "\"/tmp/caf\u{fffd}.jsonl\""
        );
    }

    #[test]
    fn credentials_in_endpoints_never_reach_a_message() {
        let file = (RTSCOPE_FILE, "/tmp/x.jsonl");
        warned(
            &[
                (
                    OTEL_EXPORTER_OTLP_ENDPOINT,
                    "http://user:SECRET@bad host/?key=SECRET",
                ),
                file,
            ],
            &[
                r#"rtscope: OTEL_EXPORTER_OTLP_ENDPOINT="http://[redacted]@bad host/?[redacted]" is not an http:// or https:// URL (it contains whitespace); writing to /tmp/x.jsonl instead"#,
            ],
        );
        warned(
            &[(OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, "ftp://SECRET@h"), file],
            &[
                r#"rtscope: OTEL_EXPORTER_OTLP_LOGS_ENDPOINT="ftp://[redacted]@h" is not an http:// or https:// URL (its scheme is neither http nor https); writing to /tmp/x.jsonl instead"#,
            ],
        );
        let o = Overrides {
            endpoint: Some("user:SECRET@host:4318".to_owned()),
            ..Overrides::default()
        };
        let (_, w) = run(&o, &[]);
        assert_eq!(
            w,
            [
                r#"rtscope: with_endpoint("[redacted]@host:4318") is not an http:// or https:// URL (it has no scheme); writing to ./rtscope-otlp.jsonl instead"#
            ]
        );
        assert_eq!(
            o.validate().unwrap_err().to_string(),
            r#"with_endpoint("[redacted]@host:4318"): not an http:// or https:// URL (it has no scheme); pass a full URL such as "http://127.0.0.1:4318""#
        );
    }

    #[test]
    fn redact_url_hides_userinfo_and_query_only() {
        for (url, shown) in [
            ("http://h:4318/v1/metrics", "http://h:4318/v1/metrics"),
            ("http://u:p@h:4318/x", "http://[redacted]@h:4318/x"),
            ("https://a@b@h", "https://[redacted]@h"),
            ("http://h/p?api_key=k#f", "http://h/p?[redacted]"),
            ("u:p@h:1", "[redacted]@h:1"),
            ("http://h/path@not-userinfo", "http://h/path@not-userinfo"),
            ("", ""),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn metrics_variables_win_and_bad_ones_fall_through_to_the_generic_ones() {
        let base = (OTEL_EXPORTER_OTLP_ENDPOINT, "http://c:4318");
        let c = warned(
            &[
                base,
                (OTEL_EXPORTER_OTLP_PROTOCOL, "http/protobuf"),
                (OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, "grpc"),
                (OTEL_EXPORTER_OTLP_TIMEOUT, "1000"),
                (OTEL_EXPORTER_OTLP_METRICS_TIMEOUT, "2000"),
                (OTEL_EXPORTER_OTLP_COMPRESSION, "none"),
                (OTEL_EXPORTER_OTLP_METRICS_COMPRESSION, "gzip"),
                (OTEL_EXPORTER_OTLP_HEADERS, "a=generic"),
                (OTEL_EXPORTER_OTLP_METRICS_HEADERS, "b=metrics"),
            ],
            &[],
        );
        assert_eq!(
            c,
            otlp(OtlpTarget {
                protocol: Protocol::Grpc,
                metrics_endpoint: "http://c:4318".to_owned(),
                logs_endpoint: "http://c:4318".to_owned(),
                headers: pairs(&[("b", "metrics")]),
                timeout: Duration::from_secs(2),
                compression: Compression::Gzip,
            })
        );
        let c = warned(
            &[
                base,
                (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
                (OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, "http/json"),
                (OTEL_EXPORTER_OTLP_TIMEOUT, "1000"),
                (OTEL_EXPORTER_OTLP_METRICS_TIMEOUT, "0"),
                (OTEL_EXPORTER_OTLP_COMPRESSION, "gzip"),
                (OTEL_EXPORTER_OTLP_METRICS_COMPRESSION, "zstd"),
            ],
            &[
                r#"rtscope: OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="http/json" is not supported by rtscope (use grpc or http/protobuf); using grpc from OTEL_EXPORTER_OTLP_PROTOCOL"#,
                r#"rtscope: OTEL_EXPORTER_OTLP_METRICS_TIMEOUT="0" must be greater than 0 milliseconds; using 1000 from OTEL_EXPORTER_OTLP_TIMEOUT"#,
                r#"rtscope: OTEL_EXPORTER_OTLP_METRICS_COMPRESSION="zstd" is not a supported compression (use gzip or none); using gzip from OTEL_EXPORTER_OTLP_COMPRESSION"#,
            ],
        );
        assert_eq!(
            c,
            otlp(OtlpTarget {
                protocol: Protocol::Grpc,
                metrics_endpoint: "http://c:4318".to_owned(),
                logs_endpoint: "http://c:4318".to_owned(),
                headers: vec![],
                timeout: Duration::from_secs(1),
                compression: Compression::Gzip,
            })
        );
        // Both bad: the default, and one warning each.
        warned(
            &[
                base,
                (OTEL_EXPORTER_OTLP_METRICS_TIMEOUT, "x"),
                (OTEL_EXPORTER_OTLP_TIMEOUT, "-3"),
            ],
            &[
                r#"rtscope: OTEL_EXPORTER_OTLP_METRICS_TIMEOUT="x" is not a number of milliseconds; using 10000"#,
                r#"rtscope: OTEL_EXPORTER_OTLP_TIMEOUT="-3" must be greater than 0 milliseconds; using 10000"#,
            ],
        );
    }

    #[test]
    fn headers_are_decoded_and_malformed_ones_skipped_without_showing_values() {
        let c = warned(
            &[
                (OTEL_EXPORTER_OTLP_ENDPOINT, "http://c:4318"),
                (
                    OTEL_EXPORTER_OTLP_HEADERS,
                    "Authorization=Basic dXNlcjpwYXNz==, api-key=s%20ecret,Bearer token,=v,x y=1,k=%2,ctl=a%0Ab",
                ),
            ],
            &[
                r#"rtscope: OTEL_EXPORTER_OTLP_HEADERS entry 3 is not key=value (value not shown); skipping it"#,
                r#"rtscope: OTEL_EXPORTER_OTLP_HEADERS entry 4 has an empty header name; skipping it"#,
                r#"rtscope: OTEL_EXPORTER_OTLP_HEADERS header "x y" is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only); skipping it"#,
                r#"rtscope: OTEL_EXPORTER_OTLP_HEADERS header "k" has invalid percent-encoding in its value (write a literal % as %25); skipping it"#,
                r#"rtscope: OTEL_EXPORTER_OTLP_HEADERS header "ctl" has a control character in its value; skipping it"#,
            ],
        );
        let Destination::Otlp(t) = c.destination else {
            panic!("expected OTLP")
        };
        assert_eq!(
            t.headers,
            pairs(&[
                ("Authorization", "Basic dXNlcjpwYXNz=="),
                ("api-key", "s ecret")
            ])
        );
    }

    #[test]
    fn code_settings_win_over_the_environment() {
        let o = Overrides {
            service_name: Some("code".to_owned()),
            export_interval: Some(Duration::from_secs(5)),
            temporality: Some(Temporality::Cumulative),
            shutdown_timeout: Some(Duration::from_millis(300)),
            endpoint: Some("https://code:4318/".to_owned()),
            protocol: Some(Protocol::HttpProtobuf),
            headers: pairs(&[("X-Key", "code")]),
            timeout: Some(Duration::from_secs(3)),
            compression: Some(Compression::None),
            summary: Some(true),
            ..Overrides::default()
        };
        // Bad environment values that code settings replace are not even read: no warnings.
        let vars = [
            (OTEL_SERVICE_NAME, "env"),
            (OTEL_METRIC_EXPORT_INTERVAL, "abc"),
            (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, "delta"),
            (RTSCOPE_SHUTDOWN_TIMEOUT, "x"),
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://env:4318"),
            (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, "not a url"),
            (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
            (OTEL_EXPORTER_OTLP_HEADERS, "x-key=env,other=1"),
            (OTEL_EXPORTER_OTLP_TIMEOUT, "x"),
            (OTEL_EXPORTER_OTLP_COMPRESSION, "gzip"),
            (RTSCOPE_SUMMARY, "off"),
        ];
        let (c, w) = run(&o, &vars);
        assert_eq!(w, Vec::<String>::new());
        assert_eq!(
            c,
            Config {
                service_name: "code".to_owned(),
                export_interval: Duration::from_secs(5),
                shutdown_timeout: Duration::from_millis(300),
                destination: Destination::Otlp(OtlpTarget {
                    protocol: Protocol::HttpProtobuf,
                    metrics_endpoint: "https://code:4318/v1/metrics".to_owned(),
                    logs_endpoint: "https://code:4318/v1/logs".to_owned(),
                    headers: pairs(&[("X-Key", "code"), ("other", "1")]),
                    timeout: Duration::from_secs(3),
                    compression: Compression::None,
                }),
                ..defaults()
            }
        );
    }

    #[test]
    fn with_file_wins_over_environment_endpoints_but_not_over_with_endpoint() {
        let vars = [
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://env:4318"),
            (RTSCOPE_FILE, "/env.jsonl"),
        ];
        let mut o = Overrides {
            file: Some(PathBuf::from("/code.jsonl")),
            ..Overrides::default()
        };
        let (c, w) = run(&o, &vars);
        assert!(w.is_empty());
        assert_eq!(
            c.destination,
            Destination::File(PathBuf::from("/code.jsonl"))
        );
        o.endpoint = Some("http://code:4318".to_owned());
        // The configured file stays the fallback when the collector's sink cannot be built.
        assert_eq!(
            run(&o, &vars).0,
            Config {
                fallback_file: PathBuf::from("/code.jsonl"),
                ..otlp(http_target(
                    "http://code:4318/v1/metrics",
                    "http://code:4318/v1/logs"
                ))
            }
        );
        // Without with_file the environment endpoint wins over RTSCOPE_FILE.
        assert_eq!(
            warned(&vars, &[]),
            Config {
                fallback_file: PathBuf::from("/env.jsonl"),
                ..otlp(http_target(
                    "http://env:4318/v1/metrics",
                    "http://env:4318/v1/logs"
                ))
            }
        );
    }

    #[test]
    fn bad_code_values_are_still_handled_defensively() {
        // `validate` rejects these first; `resolve` must still never panic on them.
        let o = Overrides {
            endpoint: Some("nowhere".to_owned()),
            export_interval: Some(Duration::ZERO),
            ..Overrides::default()
        };
        let (c, w) = run(&o, &[]);
        assert_eq!(c, defaults());
        assert_eq!(
            w,
            [
                r#"rtscope: with_endpoint("nowhere") is not an http:// or https:// URL (it has no scheme); writing to ./rtscope-otlp.jsonl instead"#
            ]
        );
    }

    #[test]
    fn validate_rejects_bad_code_values_with_a_fix() {
        let check = |o: Overrides, expected: &str| {
            assert_eq!(o.validate().unwrap_err().to_string(), expected);
        };
        check(
            Overrides {
                endpoint: Some("localhost:4318".to_owned()),
                ..Overrides::default()
            },
            r#"with_endpoint("localhost:4318"): not an http:// or https:// URL (it has no scheme); pass a full URL such as "http://127.0.0.1:4318""#,
        );
        check(
            Overrides {
                export_interval: Some(Duration::ZERO),
                ..Overrides::default()
            },
            "with_export_interval(0): the interval must be greater than zero, e.g. Duration::from_secs(10)",
        );
        check(
            Overrides {
                timeout: Some(Duration::ZERO),
                ..Overrides::default()
            },
            "with_timeout(0): the export timeout must be greater than zero, e.g. Duration::from_secs(10)",
        );
        check(
            Overrides {
                headers: pairs(&[("bad name", "v")]),
                ..Overrides::default()
            },
            r#"with_header("bad name", ..): is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)"#,
        );
        check(
            Overrides {
                service_name: Some(" ".to_owned()),
                ..Overrides::default()
            },
            r#"with_service_name(" "): the service name is empty; pass a name such as "checkout", or do not call it to use OTEL_SERVICE_NAME"#,
        );
        check(
            Overrides {
                resource_attributes: pairs(&[("", "v")]),
                ..Overrides::default()
            },
            r#"with_resource_attribute("", ..): the key is empty; pass a key such as "deployment.environment""#,
        );
        assert_eq!(Overrides::default().validate(), Ok(()));
    }

    #[test]
    fn url_check() {
        for ok in [
            "http://localhost",
            "https://a.b-c_d.example:443/path?q=1#f",
            "HTTP://127.0.0.1:4318",
            "http://[::1]:4318/v1",
            "http://[fe80::1]",
            "http://user:pw@host:1",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for (bad, problem) in [
            ("localhost:4318", "it has no scheme"),
            ("://x", "it has no scheme"),
            ("unix:///tmp/s", "its scheme is neither http nor https"),
            ("http://", "it has no host"),
            ("http://:80", "it has no host"),
            ("http://h:", "its port is not a number from 0 to 65535"),
            ("http://h:x1", "its port is not a number from 0 to 65535"),
            ("http://h:65536", "its port is not a number from 0 to 65535"),
            ("http://[::1", "its IPv6 address has no closing ]"),
            ("http://[]:1", "its IPv6 address is malformed"),
            ("http://[::1]x", "it has junk after the IPv6 address"),
            ("http://ho!st", "its host is malformed"),
            ("http://a b", "it contains whitespace"),
        ] {
            assert_eq!(check_url(bad), Err(problem), "{bad}");
        }
    }

    #[test]
    fn percent_decoding_is_strict() {
        assert_eq!(percent_decode("a%20b%2C%3d").as_deref(), Some("a b,="));
        assert_eq!(percent_decode("100%"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%g0"), None);
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(percent_decode("%C3"), None);
    }

    #[test]
    fn sampling_from_env_and_builder() {
        let (c, w) = resolve(
            &Overrides::default(),
            env(&[
                (RTSCOPE_SAMPLING_TARGET, "250"),
                (RTSCOPE_SAMPLING_INTERVAL, "65536"),
            ]),
        );
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(c.sampling.target_per_sec, 250.0);
        assert_eq!(c.sampling.initial_interval, 65536);
        assert!(c.sampling.enabled);

        let (c, _) = resolve(&Overrides::default(), env(&[(RTSCOPE_SAMPLING, "off")]));
        assert!(!c.sampling.enabled);

        let o = Overrides {
            sampling: Some(true),
            sampling_target: Some(10.0),
            ..Overrides::default()
        };
        let (c, w) = resolve(
            &o,
            env(&[(RTSCOPE_SAMPLING, "off"), (RTSCOPE_SAMPLING_TARGET, "x")]),
        );
        assert!(
            w.is_empty(),
            "builder settings win, env not even read: {w:?}"
        );
        assert!(c.sampling.enabled);
        assert_eq!(c.sampling.target_per_sec, 10.0);
    }

    #[test]
    fn bad_sampling_values_are_named() {
        let (c, w) = resolve(
            &Overrides::default(),
            env(&[
                (RTSCOPE_SAMPLING_TARGET, "-3"),
                (RTSCOPE_SAMPLING_INTERVAL, "lots"),
            ]),
        );
        assert_eq!(c.sampling, Sampling::default());
        assert_eq!(
            w,
            [
                r#"rtscope: RTSCOPE_SAMPLING_TARGET="-3" must be a positive number of samples per second; using 100"#,
                r#"rtscope: RTSCOPE_SAMPLING_INTERVAL="lots" is not a whole number of bytes; using 524288"#,
            ]
        );
    }

    #[test]
    fn spikes_from_code_then_environment_then_defaults() {
        let vars = [
            (RTSCOPE_SPIKE_THRESHOLD_MS, "100"),
            (RTSCOPE_SPIKE_POLL_THRESHOLD_MS, "30"),
            (RTSCOPE_SPIKE_TIMER_THRESHOLD_MS, "40"),
            (RTSCOPE_SPIKE_FLOOR_MS, "8"),
            (RTSCOPE_SPIKE_BURST, "2"),
            (RTSCOPE_SPIKE_RATE_PER_MIN, "30"),
            (RTSCOPE_SPIKES, "x"),
        ];
        let o = Overrides {
            spikes: SpikeSettings::builder()
                .with_enabled(true)
                .with_threshold(SpikeKind::Timer, Duration::from_millis(7))
                .with_latency_threshold("checkout", Duration::from_millis(250))
                .with_p99_factor(3.0)
                .with_rate_per_minute(12.0),
            ..Overrides::default()
        };
        // Code settings win, and the variables they replace are not even read: no warning
        // about RTSCOPE_SPIKES.
        let (c, w) = run(&o, &vars);
        assert!(w.is_empty(), "{w:?}");
        let ms = |n| Some(Duration::from_millis(n));
        assert_eq!(
            c.spikes,
            SpikeSettings {
                enabled: true,
                // schedule, poll, timer, latency
                thresholds: [ms(100), ms(30), ms(7), ms(100)],
                latency_thresholds: vec![("checkout".to_owned(), Duration::from_millis(250))],
                floor: Duration::from_millis(8),
                p99_factor: 3.0,
                burst: 2,
                rate_per_minute: 12.0,
            }
        );
        let c = warned(&[(RTSCOPE_SPIKES, "OFF")], &[]);
        assert_eq!(
            c.spikes,
            SpikeSettings {
                enabled: false,
                ..SpikeSettings::default()
            }
        );
        assert_eq!(defaults().spikes.burst, crate::spike::DEFAULT_BURST);
    }

    #[test]
    fn bad_spike_values_are_named() {
        let c = warned(
            &[
                (RTSCOPE_SPIKES, "maybe"),
                (RTSCOPE_SPIKE_THRESHOLD_MS, "-3"),
                (RTSCOPE_SPIKE_FLOOR_MS, "0"),
                (RTSCOPE_SPIKE_BURST, "99999999999"),
                (RTSCOPE_SPIKE_RATE_PER_MIN, "lots\u{1b}[2J"),
            ],
            &[
                r#"rtscope: RTSCOPE_SPIKE_THRESHOLD_MS="-3" must be greater than 0 milliseconds; using the rolling P99"#,
                r#"rtscope: RTSCOPE_SPIKES="maybe" is not on or off; using on"#,
                r#"rtscope: RTSCOPE_SPIKE_FLOOR_MS="0" must be greater than 0 milliseconds; using 5"#,
                r#"rtscope: RTSCOPE_SPIKE_BURST="99999999999" is too large a number of events; using 5"#,
                r#"rtscope: RTSCOPE_SPIKE_RATE_PER_MIN="lots\u{1b}[2J" is not a whole number of events; using 6"#,
            ],
        );
        assert_eq!(c.spikes, SpikeSettings::default());
        // A bad kind variable falls through to the one for every kind.
        let c = warned(
            &[
                (RTSCOPE_SPIKE_POLL_THRESHOLD_MS, "soon"),
                (RTSCOPE_SPIKE_THRESHOLD_MS, "100"),
            ],
            &[
                r#"rtscope: RTSCOPE_SPIKE_POLL_THRESHOLD_MS="soon" is not a number of milliseconds; using 100 from RTSCOPE_SPIKE_THRESHOLD_MS"#,
            ],
        );
        assert_eq!(c.spikes.thresholds, [Some(Duration::from_millis(100)); 4]);
    }

    #[test]
    fn bad_spike_settings_in_code_are_errors_and_ignored_by_resolve() {
        let check = |b: SpikeBuilder, expected: &str| {
            let o = Overrides {
                spikes: b,
                ..Overrides::default()
            };
            assert_eq!(o.validate().unwrap_err().to_string(), expected);
            // `resolve` never panics on them either: each counts as unset.
            assert_eq!(run(&o, &[]), (defaults(), vec![]));
        };
        let b = SpikeSettings::builder;
        check(
            b().with_p99_factor(0.5),
            "with_spikes(.. with_p99_factor(0.5)): the factor must be a finite number of at \
             least 1, e.g. 2.0",
        );
        check(
            b().with_burst(0),
            "with_spikes(.. with_burst(0)): the burst must be at least 1 event; to turn spikes \
             off use with_enabled(false)",
        );
        check(
            b().with_rate_per_minute(f64::NAN),
            "with_spikes(.. with_rate_per_minute(NaN)): the rate must be a finite number of \
             events per minute above 0, e.g. 6.0",
        );
        check(
            b().with_floor(Duration::ZERO),
            "with_spikes(.. with_floor(0)): the floor must be greater than zero, e.g. \
             Duration::from_millis(5)",
        );
        check(
            b().with_threshold(SpikeKind::Poll, Duration::ZERO),
            "with_spikes(.. with_threshold(SpikeKind::Poll, 0)): a threshold must be greater \
             than zero, e.g. Duration::from_millis(50)",
        );
        check(
            b().with_latency_threshold("a\nb", Duration::ZERO),
            r#"with_spikes(.. with_latency_threshold("a\nb", 0)): a threshold must be greater than zero, e.g. Duration::from_millis(50)"#,
        );
    }

    #[test]
    fn debug_never_shows_header_values_or_userinfo() {
        let o = Overrides {
            endpoint: Some("http://user:PASSWORD@h:4318".to_owned()),
            headers: pairs(&[("authorization", "Bearer TOKEN")]),
            ..Overrides::default()
        };
        let vars = [
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://user:PASSWORD@h:4318"),
            (OTEL_EXPORTER_OTLP_HEADERS, "x-api-key=TOKEN"),
        ];
        let config = warned(&vars, &[]);
        for shown in [format!("{o:?}"), format!("{config:?}")] {
            assert!(
                !shown.contains("PASSWORD") && !shown.contains("TOKEN"),
                "{shown}"
            );
            assert!(shown.contains("http://[redacted]@h:4318"), "{shown}");
            assert!(shown.contains("[redacted]\")"), "{shown}");
        }
        assert_eq!(redact_url("http://h:1/a@b"), "http://h:1/a@b");
        assert_eq!(redact_url("https://a@b@h"), "https://[redacted]@h");
        // A bad endpoint's warning does not show its userinfo either.
        warned(
            &[(OTEL_EXPORTER_OTLP_ENDPOINT, "ftp://user:PASSWORD@h")],
            &[
                "rtscope: OTEL_EXPORTER_OTLP_ENDPOINT=\"ftp://[redacted]@h\" is not an http:// or \
               https:// URL (its scheme is neither http nor https); writing to \
               ./rtscope-otlp.jsonl instead",
            ],
        );
    }

    #[test]
    fn file_max_bytes_from_code_then_environment_then_default() {
        assert_eq!(defaults().file_max_bytes, 64 << 20);
        let vars = [(RTSCOPE_FILE_MAX_BYTES, "1000")];
        assert_eq!(warned(&vars, &[]).file_max_bytes, 1000);
        let o = Overrides {
            file_max_bytes: Some(5),
            ..Overrides::default()
        };
        assert_eq!(run(&o, &vars).0.file_max_bytes, 5);
        let config = warned(
            &[(RTSCOPE_FILE_MAX_BYTES, "64MB")],
            &[
                "rtscope: RTSCOPE_FILE_MAX_BYTES=\"64MB\" is not a whole number of bytes; using \
               67108864",
            ],
        );
        assert_eq!(config.file_max_bytes, DEFAULT_FILE_MAX_BYTES);
        let zero = Overrides {
            file_max_bytes: Some(0),
            ..Overrides::default()
        };
        assert_eq!(
            zero.validate().unwrap_err().setting,
            "with_file_max_bytes(0)"
        );
    }
}
