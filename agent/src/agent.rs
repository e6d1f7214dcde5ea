//! The agent: configure with [`Agent::builder`], [`install`](AgentBuilder::install) once,
//! keep the returned [`AgentGuard`] until the end of `main`.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! #[global_allocator]
//! static ALLOC: rtscope::Alloc = rtscope::Alloc::system();
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let _guard = rtscope::Agent::builder()
//!         .with_service_name("checkout")
//!         .with_endpoint("http://127.0.0.1:4318")
//!         .with_export_interval(Duration::from_secs(10))
//!         .install()?;
//!     // ... the application ...
//!     Ok(())
//! } // `_guard` drops here: final collection and flush, bounded by the shutdown timeout.
//! ```
//!
//! # When the final flush happens
//!
//! - **End of `main`**: the guard drops and shuts the exporter down, waiting at most the
//!   shutdown timeout ([`AgentBuilder::with_shutdown_timeout`], `RTSCOPE_SHUTDOWN_TIMEOUT`,
//!   default 2 s).
//! - **[`std::process::exit`]**: destructors do not run, so `install` registers a C `atexit`
//!   handler that shuts the exporter down if the guard has not done so yet.
//! - **A panic in `main`** with the default `panic = "unwind"`: unwinding drops the guard,
//!   which flushes. With `panic = "abort"` nothing unwinds, so `install` chains a panic hook
//!   (after the previous one, which prints the message) that flushes before the abort. A hook
//!   set with [`std::panic::set_hook`] after `install` replaces it; chain it with
//!   [`std::panic::take_hook`] to keep the flush.
//! - Killed by a signal (`SIGKILL`, an unhandled `SIGTERM`) or [`std::process::abort`]: no
//!   flush; what the last periodic export shipped is what the collector has.
//!
//! # `fork`
//!
//! The export thread stays in the parent, which goes on exactly as before. A forked child
//! keeps counting (its [`crate::alloc::stats`] are exact: its one thread's own shard plus the
//! totals it inherited), but exports nothing: it stops sampling, and its guard drop or
//! `exit` returns at once instead of waiting for an exporter it does not have.
//! [`Agent::is_installed`] stays true in it, and installing again there is refused; a
//! child that should export runs a program of its own (`exec`) that installs the agent.

use crate::config::{self, Compression, Config, ConfigError, Overrides, Protocol, Temporality};
use crate::model::Source;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// Every part the export pipeline collects, in the order of the export and of the exit
/// summary's lines: the one list that names them (the pipeline only iterates it). The last
/// is the agent's own account (`model::Source`).
pub(crate) const SOURCES: &[Source] = &[
    crate::alloc::SOURCE,
    crate::alloc::RETENTION_SOURCE,
    crate::pool::SOURCE,
    crate::time::SOURCE,
    crate::task::SOURCE,
    #[cfg(feature = "tokio")]
    crate::task::RUNTIME_SOURCE,
    crate::process::SOURCE,
    crate::latency::SOURCE,
    #[cfg(feature = "_export")]
    crate::spike::SOURCE,
    #[cfg(feature = "tracing")]
    crate::tracing::SOURCE,
    #[cfg(feature = "profiles")]
    crate::profile::SOURCE,
    // Last: the agent's own account, whose words open the summary's closing `agent:` line.
    crate::alloc::AGENT_SOURCE,
];

/// Entry point of the agent API: [`Agent::builder`].
///
/// ```no_run
/// let _guard = rtscope::Agent::builder().with_service_name("checkout").install()?;
/// # Ok::<(), rtscope::InstallError>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Agent;

impl Agent {
    /// A builder with nothing set: everything comes from the environment or the defaults
    /// (see `docs/configuration.md`).
    pub fn builder() -> AgentBuilder {
        AgentBuilder::default()
    }

    /// Whether an agent was installed in this process (it may have shut down since).
    pub fn is_installed() -> bool {
        STATE.load(Ordering::Acquire) != UNINSTALLED
    }
}

/// Settings made in code. Each one that is set wins over its environment variables; the
/// others come from the `OTEL_*` / `RTSCOPE_*` variables or the defaults.
///
/// ```no_run
/// use rtscope::config::{Compression, Protocol, Temporality};
/// use std::time::Duration;
///
/// let _guard = rtscope::Agent::builder()
///     .with_service_name("checkout")
///     .with_resource_attribute("deployment.environment", "prod")
///     .with_endpoint("http://collector:4317")
///     .with_protocol(Protocol::Grpc)
///     .with_header("x-api-key", "secret")
///     .with_compression(Compression::Gzip)
///     .with_temporality(Temporality::Delta)
///     .with_export_interval(Duration::from_secs(10))
///     .with_timeout(Duration::from_secs(5))
///     .with_shutdown_timeout(Duration::from_secs(1))
///     .with_summary(false)
///     .install()?;
/// # Ok::<(), rtscope::InstallError>(())
/// ```
#[derive(Clone, Debug, Default)]
#[must_use = "an AgentBuilder does nothing until `.install()` is called"]
pub struct AgentBuilder {
    overrides: Overrides,
}

impl AgentBuilder {
    /// The `service.name` resource attribute. Wins over `OTEL_SERVICE_NAME` and over
    /// `service.name` in `OTEL_RESOURCE_ATTRIBUTES`. Default `unknown_service:<executable>`.
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.overrides.service_name = Some(name.into());
        self
    }

    /// Adds a resource attribute, replacing one of the same key from
    /// `OTEL_RESOURCE_ATTRIBUTES` or an earlier call. The key `service.name` sets the service
    /// name (below [`with_service_name`](Self::with_service_name)).
    pub fn with_resource_attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.overrides
            .resource_attributes
            .push((key.into(), value.into()));
        self
    }

    /// The application's own OpenTelemetry resource (feature `opentelemetry`): every request
    /// carries exactly its attributes (typed as they are), instead of the resource rtscope
    /// makes, so rtscope's data and the SDK's land as one resource in the backend. rtscope
    /// adds nothing to it: `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_SERVICE_NAME` reach it
    /// through the SDK's own detectors ([`Resource::builder`](opentelemetry_sdk::Resource::builder)),
    /// and [`with_resource_attribute`](Self::with_resource_attribute) is not applied to it.
    /// Its `service.name` names the service in the exit summary (below
    /// [`with_service_name`](Self::with_service_name)). It is also the check that the
    /// application's OpenTelemetry is rtscope's version (0.33): with another, the
    /// application's `Resource` is another type and this call fails to compile, where trace
    /// ids would otherwise be lost without a word (docs/metrics.md, Trace context).
    ///
    /// ```no_run
    /// let resource = opentelemetry_sdk::Resource::builder()
    ///     .with_service_name("checkout")
    ///     .with_attribute(opentelemetry::KeyValue::new("service.version", "1.2.3"))
    ///     .build();
    /// // The same resource for the SDK's MeterProvider and for rtscope:
    /// let _guard = rtscope::Agent::builder().with_resource(&resource).install()?;
    /// # Ok::<(), rtscope::InstallError>(())
    /// ```
    #[cfg(feature = "opentelemetry")]
    pub fn with_resource(mut self, resource: &opentelemetry_sdk::Resource) -> Self {
        self.overrides.resource = Some(resource.clone());
        self
    }

    /// How often metrics are exported. Wins over `OTEL_METRIC_EXPORT_INTERVAL`. Default 60 s.
    /// Must be greater than zero.
    pub fn with_export_interval(mut self, interval: Duration) -> Self {
        self.overrides.export_interval = Some(interval);
        self
    }

    /// Cumulative or delta sums and histograms. Wins over
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`. Default cumulative.
    pub fn with_temporality(mut self, temporality: Temporality) -> Self {
        self.overrides.temporality = Some(temporality);
        self
    }

    /// The collector's base URL, like `OTEL_EXPORTER_OTLP_ENDPOINT`: over HTTP, `/v1/metrics`
    /// and `/v1/logs` are appended; over gRPC it is used as is. Wins over all three endpoint
    /// variables and over [`with_file`](Self::with_file). Must be an `http://` or `https://`
    /// URL.
    ///
    /// Unlike `opentelemetry-otlp`'s `with_endpoint` (a signal's full URL), this is a base
    /// URL, because rtscope sends two signals.
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.overrides.endpoint = Some(endpoint.into());
        self
    }

    /// The OTLP transport. Wins over `OTEL_EXPORTER_OTLP_METRICS_PROTOCOL` and
    /// `OTEL_EXPORTER_OTLP_PROTOCOL`. Default [`Protocol::HttpProtobuf`].
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.overrides.protocol = Some(protocol);
        self
    }

    /// Adds a request header (gRPC metadata), replacing one of the same name
    /// (case-insensitively) from `OTEL_EXPORTER_OTLP_[METRICS_]HEADERS` or an earlier call.
    /// The name must be a valid HTTP header name.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.overrides.headers.push((name.into(), value.into()));
        self
    }

    /// Upper bound of one export request. Wins over `OTEL_EXPORTER_OTLP_METRICS_TIMEOUT` and
    /// `OTEL_EXPORTER_OTLP_TIMEOUT`. Default 10 s. Must be greater than zero.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.overrides.timeout = Some(timeout);
        self
    }

    /// Payload compression. Wins over `OTEL_EXPORTER_OTLP_METRICS_COMPRESSION` and
    /// `OTEL_EXPORTER_OTLP_COMPRESSION`. Default none.
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.overrides.compression = Some(compression);
        self
    }

    /// Serves the metrics for Prometheus to scrape at `http://host:port/metrics` (the
    /// Prometheus text format, or OpenMetrics when the scraper asks for it), like
    /// `OTEL_METRICS_EXPORTER=prometheus` with `OTEL_EXPORTER_PROMETHEUS_HOST` and
    /// `OTEL_EXPORTER_PROMETHEUS_PORT`, which it wins over. Metrics then go to OTLP (or the
    /// file) only when `OTEL_METRICS_EXPORTER` also names `otlp`; log records (samples,
    /// spikes) go there as before. `host` is an IP address (`0.0.0.0` for every interface),
    /// `localhost` or a host name. Needs the `export-prometheus` feature (without it the
    /// install says so in one line and metrics are not served). An empty host or port 0 is
    /// an [`InstallError::InvalidConfig`](crate::InstallError::InvalidConfig).
    pub fn with_prometheus(mut self, host: impl Into<String>, port: u16) -> Self {
        self.overrides.prometheus = Some((host.into(), port));
        self
    }

    /// Writes OTLP/JSON lines to `path` instead of sending to a collector: wins over the
    /// endpoint variables and over `RTSCOPE_FILE`, but not over
    /// [`with_endpoint`](Self::with_endpoint). Without it, the file
    /// (`RTSCOPE_FILE`, default `./rtscope-otlp.jsonl`) is used when no endpoint is set.
    pub fn with_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.overrides.file = Some(path.into());
        self
    }

    /// Most bytes the output file and its one rotated predecessor `<file>.1` hold together:
    /// when the file would pass half of it, it is renamed to `<file>.1` (replacing the older
    /// one) and a new file is started. Wins over `RTSCOPE_FILE_MAX_BYTES`. Default 64 MiB.
    /// Zero is an [`InstallError::InvalidConfig`](crate::InstallError::InvalidConfig).
    pub fn with_file_max_bytes(mut self, bytes: u64) -> Self {
        self.overrides.file_max_bytes = Some(bytes);
        self
    }

    /// Whether to print a human summary to stderr at shutdown. Wins over `RTSCOPE_SUMMARY`.
    /// Default on.
    pub fn with_summary(mut self, enabled: bool) -> Self {
        self.overrides.summary = Some(enabled);
        self
    }

    /// Whether allocations are sampled (Poisson byte sampling, attributed to scopes and
    /// spans). Wins over `RTSCOPE_SAMPLING`. Default on.
    pub fn with_sampling(mut self, enabled: bool) -> Self {
        self.overrides.sampling = Some(enabled);
        self
    }

    /// Allocation samples exported one by one as log records per second, about: a subsample
    /// whose weights keep sums over the records unbiased; every sample still feeds the
    /// per-scope estimates and the heap profile. Wins over `RTSCOPE_SAMPLING_TARGET`.
    /// Default 100.
    pub fn with_sampling_target(mut self, per_second: f64) -> Self {
        self.overrides.sampling_target = Some(per_second);
        self
    }

    /// Mean bytes between two samples, as Go's `runtime.MemProfileRate`: a holder of `H`
    /// bytes is estimated within about `sqrt(bytes / H)` (one standard deviation). Only the
    /// CPU budget ([`with_sampling_cpu`](Self::with_sampling_cpu)) raises it. Wins over
    /// `RTSCOPE_SAMPLING_INTERVAL`. Default 512 KiB.
    pub fn with_sampling_interval(mut self, bytes: u64) -> Self {
        self.overrides.sampling_interval = Some(bytes);
        self
    }

    /// Percent of one core the sample path (stack capture, interning, the record) may take,
    /// summed over the allocating threads, with one second's worth of it at once: past that
    /// the interval is raised at once, and lowered back toward the configured one (at most
    /// 8x a second) once the cost allows. Wins over `RTSCOPE_SAMPLING_CPU`. Default 1.0.
    pub fn with_sampling_cpu(mut self, percent: f64) -> Self {
        self.overrides.sampling_cpu = Some(percent);
        self
    }

    /// Heap profiles (a call stack per sampled allocation and the in-use set,
    /// [`crate::profile`]). Wins over `RTSCOPE_HEAP_PROFILE`. Default on with the
    /// `profiles` feature (and sampling on).
    pub fn with_heap_profile(mut self, enabled: bool) -> Self {
        self.overrides.heap_profile = Some(enabled);
        self
    }

    /// Serves `GET /debug/pprof/heap` and `/debug/pprof/allocs` on `addr`, as Go's
    /// `net/http/pprof` does, so `go tool pprof http://<addr>/debug/pprof/heap` works. Wins
    /// over `RTSCOPE_PPROF_ADDR`. Off by default; binds only where told.
    pub fn with_pprof_addr(mut self, addr: std::net::SocketAddr) -> Self {
        self.overrides.pprof_addr = Some(addr);
        self
    }

    /// Writes a gzipped pprof heap profile into `dir` every export interval and at exit,
    /// keeping the newest ten. Wins over `RTSCOPE_PPROF_DIR`.
    pub fn with_pprof_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.overrides.pprof_dir = Some(dir.into());
        self
    }

    /// Pushes heap profiles to the collector as OTLP Profiles (the in-development
    /// `v1development` signal, experimental) with every export, next to metrics and logs.
    /// Wins over `OTEL_PROFILES_EXPORTER`. Default off.
    pub fn with_profiles(mut self, enabled: bool) -> Self {
        self.overrides.profiles_otlp = Some(enabled);
        self
    }

    /// Fixes the seed of the sampler's per-thread random streams, so a run samples the same
    /// allocations every time (for tests and reproductions). Without it the seed is random
    /// per process. It applies at install to every thread: the installing one at once, each
    /// other thread at its next sampling slow path, in the order threads get there. A
    /// deterministic program then takes the same samples and builds the same profile in
    /// every run, unless the CPU budget is reached (the interval then moves with the clock)
    /// or its threads reach their first slow path in another order. The log records are a
    /// subsample that follows the clock once samples come faster than the target. Wins over
    /// `RTSCOPE_SAMPLING_SEED`.
    pub fn with_sampling_seed(mut self, seed: u64) -> Self {
        self.overrides.sampling_seed = Some(seed);
        self
    }

    /// Spike detection settings (see [`crate::spike`]), replacing an earlier call's. Each
    /// one set in `spikes` wins over its `RTSCOPE_SPIKE*` variable; the resolved settings
    /// are [`Config::spikes`] in [`AgentGuard::config`].
    ///
    /// ```no_run
    /// use rtscope::spike::SpikeSettings;
    ///
    /// // Room for a storm of events: the default limit is 5, then 6 a minute.
    /// let _guard = rtscope::Agent::builder()
    ///     .with_spikes(SpikeSettings::builder().with_burst(20).with_rate_per_minute(60.0))
    ///     .install()?;
    /// # Ok::<(), rtscope::InstallError>(())
    /// ```
    pub fn with_spikes(mut self, spikes: crate::spike::SpikeBuilder) -> Self {
        self.overrides.spikes = spikes;
        self
    }

    /// The slow-poll threshold of instrumented tasks ([`crate::task`]): polls longer than it
    /// count in `rust.task.slow_polls`. Default [`DEFAULT_SLOW_POLL`](crate::task::DEFAULT_SLOW_POLL)
    /// (1 ms). `install` sets it for the whole process; the resolved value is
    /// [`Config::slow_poll_threshold`].
    ///
    /// ```no_run
    /// let _guard = rtscope::Agent::builder()
    ///     .with_slow_poll_threshold(std::time::Duration::from_micros(500))
    ///     .install()?;
    /// # Ok::<(), rtscope::InstallError>(())
    /// ```
    pub fn with_slow_poll_threshold(mut self, threshold: Duration) -> Self {
        self.overrides.slow_poll_threshold = Some(threshold);
        self
    }

    /// Upper bound of the final flush when the [`AgentGuard`] drops (or at `exit`). Wins over
    /// `RTSCOPE_SHUTDOWN_TIMEOUT`. Default 2 s. Zero means: do not wait.
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.overrides.shutdown_timeout = Some(timeout);
        self
    }

    /// The configuration this builder resolves to against the environment `env`.
    #[cfg(test)]
    pub(crate) fn resolve_with(
        &self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(Config, Vec<String>), ConfigError> {
        self.overrides.validate()?;
        Ok(config::resolve(&self.overrides, env))
    }

    /// Validates the settings, resolves the configuration against the process environment
    /// (printing one stderr line per unusable environment value) and starts the export
    /// thread. Once per process.
    ///
    /// # Errors
    ///
    /// - [`InstallError::InvalidConfig`] when a setting made in code is unusable (nothing is
    ///   installed: fix it and call again);
    /// - [`InstallError::AlreadyInstalled`] when an agent was installed before in this process
    ///   (even if its guard has dropped since). The error hands this builder back.
    ///
    /// With `OTEL_SDK_DISABLED=true` the install succeeds but no export thread starts.
    ///
    /// ```no_run
    /// match rtscope::Agent::builder().install() {
    ///     Ok(guard) => { /* keep `guard` until the end of main */ }
    ///     Err(e) => eprintln!("running without rtscope: {e}"),
    /// }
    /// ```
    pub fn install(self) -> Result<AgentGuard, InstallError> {
        self.overrides.validate()?;
        if STATE
            .compare_exchange(UNINSTALLED, INSTALLING, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(InstallError::AlreadyInstalled(Box::new(self)));
        }
        let mut config =
            crate::base::agent_scope(|| config::resolve_from_process_env(&self.overrides));
        if let Err(feature) = crate::base::agent_scope(|| fit_to_features(&mut config)) {
            // The application's: the error is its to keep.
            let destination = describe_destination(&config.destination);
            crate::base::agent_scope(|| drop(config));
            // Nothing was installed: a later install (with the feature) may still run.
            STATE.store(UNINSTALLED, Ordering::Release);
            return Err(InstallError::FeatureDisabled {
                feature,
                destination,
            });
        }
        crate::task::set_slow_poll(config.slow_poll_threshold);
        // Every sample, exemplar and spike then carries the innermost OpenTelemetry span.
        #[cfg(feature = "opentelemetry")]
        if !crate::base::agent_scope(crate::base::attribution::follow_opentelemetry) {
            eprintln!(
                "rtscope: another OpenTelemetry context observer is installed (there is one per process), so rtscope cannot follow the spans made current: samples carry the ids of the span current where their scope or tracing span was entered, not of a span opened inside it (docs/metrics.md, trace context)"
            );
        }
        #[cfg(feature = "_export")]
        if !config.disabled {
            running::start(&config, SOURCES);
        }
        // The guard's copy is the application's: it holds it and frees it.
        let guard = AgentGuard {
            config: config.clone(),
        };
        crate::base::agent_scope(|| drop(config));
        // Outside the agent scope, which restores this thread's countdown on exit.
        crate::alloc::restart_sampling();
        STATE.store(INSTALLED, Ordering::Release);
        Ok(guard)
    }
}

/// Returned by [`AgentBuilder::install`].
#[derive(Debug)]
#[non_exhaustive]
pub enum InstallError {
    /// An agent was already installed in this process.
    AlreadyInstalled(Box<AgentBuilder>),
    /// A setting made in code is unusable.
    InvalidConfig(ConfigError),
    /// The configured destination needs an rtscope feature that is off in this build, and no
    /// exporter is built in to fall back to.
    FeatureDisabled {
        /// The feature to enable, e.g. `export-grpc`.
        feature: &'static str,
        /// What was configured, e.g. `OTLP/gRPC to http://127.0.0.1:4317`.
        destination: String,
    },
}

impl std::fmt::Display for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InstallError::AlreadyInstalled(_) => f.write_str(
                "an rtscope agent is already installed in this process; install it once, at the \
                 start of main (with #[rtscope::main] or Agent::builder().install(), not both), \
                 and keep its AgentGuard alive until main returns",
            ),
            InstallError::InvalidConfig(e) => write!(f, "invalid rtscope setting {e}"),
            InstallError::FeatureDisabled {
                feature,
                destination,
            } => write!(
                f,
                "{destination} needs rtscope's `{feature}` feature, which is off in this build: \
                 add it to the rtscope dependency's features (or set OTEL_SDK_DISABLED=true)"
            ),
        }
    }
}

impl std::error::Error for InstallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InstallError::InvalidConfig(e) => Some(e),
            InstallError::AlreadyInstalled(_) | InstallError::FeatureDisabled { .. } => None,
        }
    }
}

impl From<ConfigError> for InstallError {
    fn from(e: ConfigError) -> Self {
        InstallError::InvalidConfig(e)
    }
}

impl InstallError {
    /// The builder handed back by [`InstallError::AlreadyInstalled`].
    pub fn into_builder(self) -> Option<AgentBuilder> {
        match self {
            InstallError::AlreadyInstalled(builder) => Some(*builder),
            InstallError::InvalidConfig(_) | InstallError::FeatureDisabled { .. } => None,
        }
    }
}

/// The feature the destination needs when it is off in this build; `None` when it is on or
/// nothing is exported (`OTEL_SDK_DISABLED`, both signals `none`).
fn missing_feature(config: &Config) -> Option<&'static str> {
    if config.disabled || !config.signals.any() {
        return None;
    }
    let (feature, on) = match &config.destination {
        config::Destination::File(_) => ("export-file", cfg!(feature = "export-file")),
        config::Destination::Otlp(t)
            if (t.metrics_endpoint.starts_with("https:")
                || t.logs_endpoint.starts_with("https:"))
                && !cfg!(feature = "tls") =>
        {
            ("tls", false)
        }
        config::Destination::Otlp(t) => match t.protocol {
            Protocol::Grpc => ("export-grpc", cfg!(feature = "export-grpc")),
            Protocol::HttpProtobuf => ("export-http", cfg!(feature = "export-http")),
        },
    };
    (!on).then_some(feature)
}

/// Makes the configuration fit this build's features: a destination whose feature is off
/// becomes the fallback file, in one stderr line, when an exporter is built in (the file sink
/// always is with one); without any, the feature to enable is the error.
fn fit_to_features(config: &mut Config) -> Result<(), &'static str> {
    let Some(feature) = missing_feature(config) else {
        return Ok(());
    };
    if !cfg!(feature = "_export") {
        return Err(feature);
    }
    eprintln!(
        "rtscope: {} needs rtscope's `{feature}` feature, which is off in this build (add it to \
         the rtscope dependency's features); writing to {:?} instead",
        describe_destination(&config.destination),
        config.fallback_file
    );
    config.destination = config::Destination::File(config.fallback_file.clone());
    Ok(())
}

/// The destination in words for the feature messages; never a URL's userinfo.
fn describe_destination(destination: &config::Destination) -> String {
    match destination {
        config::Destination::File(path) => format!("the OTLP/JSON file {path:?}"),
        config::Destination::Otlp(t) => format!(
            "OTLP/{} to {}",
            match t.protocol {
                Protocol::Grpc => "gRPC",
                Protocol::HttpProtobuf => "HTTP",
            },
            config::redact_url(&t.metrics_endpoint)
        ),
    }
}

/// Keeps the agent running; dropping it makes the final collection and flush, waiting at most
/// the shutdown timeout. Bind it to a named variable that lives until the end of `main`.
///
/// ```no_run
/// let _guard = rtscope::Agent::builder().install()?; // not `let _ = ...`: that drops it now
/// # Ok::<(), rtscope::InstallError>(())
/// ```
#[derive(Debug)]
#[must_use = "dropping the AgentGuard stops the agent and flushes: bind it with \
              `let _guard = ...` (not `let _ = ...`) and keep it until the end of main"]
pub struct AgentGuard {
    config: Config,
}

impl AgentGuard {
    /// The configuration the agent runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Stops the agent now: final collection and flush, waiting at most the shutdown timeout.
    /// The same as dropping the guard, spelled out.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for AgentGuard {
    fn drop(&mut self) {
        shutdown_running(false);
    }
}

// ---------------------------------------------------------------------------------------------
// The install-once global.
// ---------------------------------------------------------------------------------------------

const UNINSTALLED: u8 = 0;
const INSTALLING: u8 = 1;
const INSTALLED: u8 = 2;

/// `UNINSTALLED` → `INSTALLING` (one winner) → `INSTALLED`, never back: one agent per process.
static STATE: AtomicU8 = AtomicU8::new(UNINSTALLED);

feature! {
    #![feature = "_export"]
    mod running;
    use running::shutdown_running;
}

feature! {
    #![not(feature = "_export")]
    /// Without an exporter there is nothing to shut down.
    fn shutdown_running(_from_hook: bool) -> bool {
        false
    }
}

#[cfg(test)]
mod any_environment;
#[cfg(test)]
mod tests;
