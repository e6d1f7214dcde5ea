//! The table of configuration: every environment variable rtscope reads, with its meaning
//! (its rustdoc), its default as docs/configuration.md writes it, and, for each setting read
//! by [`Reader::pick`](super::resolve), the variables in precedence order, the parser, the
//! typed default and how a value is named in a warning. The defaults rtscope publishes are
//! here too.
//!
//! `tests/vars.rs` checks the table three ways: it is every variable resolution reads (no
//! more, no fewer); every variable is named in docs/configuration.md's "All settings" table
//! (and every name there is one of these), with its default in the row's Default cell; and
//! every typed default is what its variables' defaults say.

use super::*;
use crate::spike::{DEFAULT_BURST, DEFAULT_FLOOR, DEFAULT_RATE_PER_MINUTE};

/// One row of the table: a variable and its default, as docs/configuration.md writes it.
#[cfg(test)]
pub(super) struct Var {
    pub(super) name: &'static str,
    pub(super) default: &'static str,
}

/// Declares each variable's name constant (with its rustdoc) and, for the tests, [`VARS`].
macro_rules! vars {
    ($(
        $(#[doc = $doc:literal])+
        $vis:vis $name:ident, default $default:literal;
    )+) => {
        $(
            $(#[doc = $doc])+
            $vis const $name: &str = stringify!($name);
        )+
        /// Every variable rtscope reads, with its documented default.
        #[cfg(test)]
        pub(super) const VARS: &[Var] = &[$(Var { name: $name, default: $default }),+];
    };
}

vars! {
    /// `true` disables the agent: nothing is recorded to any destination. Default `false`.
    pub OTEL_SDK_DISABLED, default "false";
    /// The `service.name` resource attribute. Default `unknown_service:<executable name>`.
    pub OTEL_SERVICE_NAME, default "unknown_service:<executable name>";
    /// Resource attributes as `key=value,key2=value2` (values percent-decoded).
    pub OTEL_RESOURCE_ATTRIBUTES, default "none";
    /// Milliseconds between two exports. Default 60000.
    pub OTEL_METRIC_EXPORT_INTERVAL, default "60000";
    /// `otlp` (default), `prometheus`, `otlp,prometheus` or `none`: whether metrics are exported
    /// over OTLP ([`Signals::metrics`]) and whether they are served for Prometheus to scrape
    /// ([`Config::prometheus`]).
    pub OTEL_METRICS_EXPORTER, default "otlp";
    /// Host (an IP address or a name) the Prometheus exporter's `/metrics` listens on. Default
    /// `localhost` (its IPv4 and IPv6 loopback).
    pub OTEL_EXPORTER_PROMETHEUS_HOST, default "localhost";
    /// Port the Prometheus exporter's `/metrics` listens on. Default 9464.
    pub OTEL_EXPORTER_PROMETHEUS_PORT, default "9464";
    /// `otlp` (default) or `none`: whether log records (samples, spikes) are exported
    /// ([`Signals::logs`]).
    pub OTEL_LOGS_EXPORTER, default "otlp";
    /// OTLP transport for all signals: `grpc` or `http/protobuf` (default).
    pub OTEL_EXPORTER_OTLP_PROTOCOL, default "http/protobuf";
    /// OTLP transport for metrics; wins over [`OTEL_EXPORTER_OTLP_PROTOCOL`].
    pub OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, default "http/protobuf";
    /// Base URL of the collector; for HTTP `/v1/metrics` and `/v1/logs` are appended.
    pub OTEL_EXPORTER_OTLP_ENDPOINT, default "none";
    /// Full URL metrics are sent to, used as is.
    pub OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, default "none";
    /// Full URL logs are sent to, used as is.
    pub OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, default "none";
    /// `true`: a gRPC endpoint written without a scheme is plaintext (`http://`) instead of TLS.
    pub OTEL_EXPORTER_OTLP_INSECURE, default "false";
    /// Metrics variant of [`OTEL_EXPORTER_OTLP_INSECURE`]; wins over it for the metrics endpoint.
    pub OTEL_EXPORTER_OTLP_METRICS_INSECURE, default "false";
    /// Logs variant of [`OTEL_EXPORTER_OTLP_INSECURE`]; wins over it for the logs endpoint.
    pub OTEL_EXPORTER_OTLP_LOGS_INSECURE, default "false";
    /// Request headers as `key=value,key2=value2` (values percent-decoded).
    pub OTEL_EXPORTER_OTLP_HEADERS, default "none";
    /// Metrics request headers; when set, used instead of [`OTEL_EXPORTER_OTLP_HEADERS`].
    pub OTEL_EXPORTER_OTLP_METRICS_HEADERS, default "none";
    /// Milliseconds one export request may take. Default 10000.
    pub OTEL_EXPORTER_OTLP_TIMEOUT, default "10000";
    /// Metrics variant of [`OTEL_EXPORTER_OTLP_TIMEOUT`]; wins over it.
    pub OTEL_EXPORTER_OTLP_METRICS_TIMEOUT, default "10000";
    /// PEM file of the CA certificates an `https://` collector's certificate is verified against,
    /// instead of the system's trust store.
    pub OTEL_EXPORTER_OTLP_CERTIFICATE, default "the system's trust store";
    /// Metrics variant of [`OTEL_EXPORTER_OTLP_CERTIFICATE`]; wins over it.
    pub OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE, default "the system's trust store";
    /// PEM file of the client certificate (chain) sent to the collector (mutual TLS); needs
    /// [`OTEL_EXPORTER_OTLP_CLIENT_KEY`].
    pub OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, default "none";
    /// Metrics variant of [`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`]; wins over it.
    pub OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE, default "none";
    /// PEM file of the private key of [`OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE`] (PKCS#8, PKCS#1
    /// or SEC1).
    pub OTEL_EXPORTER_OTLP_CLIENT_KEY, default "none";
    /// Metrics variant of [`OTEL_EXPORTER_OTLP_CLIENT_KEY`]; wins over it.
    pub OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY, default "none";
    /// Milliseconds one export may take: caps [`OtlpTarget::timeout`] (the lower of the two
    /// bounds each request). Default: no cap beyond [`OTEL_EXPORTER_OTLP_TIMEOUT`].
    pub OTEL_METRIC_EXPORT_TIMEOUT, default "no cap";
    /// Payload compression: `gzip` or `none` (default).
    pub OTEL_EXPORTER_OTLP_COMPRESSION, default "none";
    /// Metrics variant of [`OTEL_EXPORTER_OTLP_COMPRESSION`]; wins over it.
    pub OTEL_EXPORTER_OTLP_METRICS_COMPRESSION, default "none";
    /// `cumulative` (default), `delta` or `lowmemory` (treated as `delta`, see [`Temporality`]).
    pub OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, default "cumulative";
    /// Path of the OTLP/JSON-lines file written when no OTLP endpoint is configured (any bytes
    /// the platform allows in a path, UTF-8 or not).
    pub RTSCOPE_FILE, default "./rtscope-otlp.jsonl";
    /// Most bytes the file and its one rotated predecessor `<file>.1` hold together. Default
    /// 67108864 (64 MiB).
    pub RTSCOPE_FILE_MAX_BYTES, default "67108864";
    /// `on` (default) or `off`: print a human summary to stderr at exit.
    pub RTSCOPE_SUMMARY, default "on";
    /// Milliseconds the final flush at shutdown may take. Default 2000.
    pub RTSCOPE_SHUTDOWN_TIMEOUT, default "2000";
    /// `on` | `off`: Poisson byte sampling of allocations. Default on.
    pub RTSCOPE_SAMPLING, default "on";
    /// Allocation samples exported one by one as log records, per second: a subsample with
    /// unbiased weights (every sample still feeds the estimates and the heap profile). Default
    /// 100.
    pub RTSCOPE_SAMPLING_TARGET, default "100";
    /// Mean number of bytes between two samples, as Go's `MemProfileRate`. Default 524288
    /// (512 KiB).
    pub RTSCOPE_SAMPLING_INTERVAL, default "524288";
    /// Percent of one core the sample path (stack capture, interning, the record) may take; past
    /// it the interval is raised until the cost fits, and lowered back once it does. Default 1.
    pub RTSCOPE_SAMPLING_CPU, default "1";
    /// A fixed seed of the sampler's random streams (a whole number), so a run can be reproduced.
    /// Default: random per process.
    pub RTSCOPE_SAMPLING_SEED, default "a random seed";
    /// `on` (default with the `profiles` feature) or `off`: heap profiles, a call stack for every
    /// sampled allocation and the in-use set (`rtscope::profile`). Needs sampling on.
    pub RTSCOPE_HEAP_PROFILE, default "on";
    /// `host:port` to serve `GET /debug/pprof/heap` and `/debug/pprof/allocs` on, as Go's
    /// `net/http/pprof` does. Off by default.
    pub RTSCOPE_PPROF_ADDR, default "off";
    /// Connections rtscope's own listener (`/metrics`, `/debug/pprof`) serves at once, per
    /// address (1 to 1024). Default 16.
    pub RTSCOPE_LISTEN_CONNECTIONS, default "16";
    /// CPU rtscope's own listener may spend per address, in percent of one core (0.1 to 100):
    /// accepting, reading requests, building answers. Default 2.
    pub RTSCOPE_LISTEN_CPU, default "2";
    /// Directory to write a gzipped pprof heap profile into every export interval and at exit
    /// (the newest 10 are kept). Off by default.
    pub RTSCOPE_PPROF_DIR, default "off";
    /// `otlp` or `none` (default): heap profiles pushed to the collector as OTLP Profiles (the
    /// in-development `v1development` signal) every export interval, to the metrics collector
    /// (over HTTP at `/v1development/profiles` of the metrics endpoint's origin). Needs the
    /// `profiles` feature.
    pub OTEL_PROFILES_EXPORTER, default "none";
    /// `on` (default) or `off`: watch latencies for spikes and emit `rust.spike` events.
    pub RTSCOPE_SPIKES, default "on";
    /// Milliseconds: one fixed spike threshold for every kind, instead of the rolling P99.
    pub RTSCOPE_SPIKE_THRESHOLD_MS, default "the rolling P99";
    /// Milliseconds: fixed spike threshold for scheduler delay (kind `schedule`); wins over
    /// [`RTSCOPE_SPIKE_THRESHOLD_MS`], as do the three below for their kinds.
    pub RTSCOPE_SPIKE_SCHEDULE_THRESHOLD_MS, default "the rolling P99";
    /// Milliseconds: fixed spike threshold for task poll duration (kind `poll`).
    pub RTSCOPE_SPIKE_POLL_THRESHOLD_MS, default "the rolling P99";
    /// Milliseconds: fixed spike threshold for timer lateness (kind `timer`).
    pub RTSCOPE_SPIKE_TIMER_THRESHOLD_MS, default "the rolling P99";
    /// Milliseconds: fixed spike threshold for latencies reported with
    /// [`latency`](fn@crate::latency) (kind `latency`).
    pub RTSCOPE_SPIKE_LATENCY_THRESHOLD_MS, default "the rolling P99";
    /// Milliseconds: the lowest spike threshold the rolling P99 may give. Default 5.
    pub RTSCOPE_SPIKE_FLOOR_MS, default "5";
    /// Spike events that may be emitted back to back before the rate limit applies. Default 5.
    pub RTSCOPE_SPIKE_BURST, default "5";
    /// Spike events per minute in the long run, when there is no storm. Default 6.
    pub RTSCOPE_SPIKE_RATE_PER_MIN, default "6";

    // The logs variants of settings rtscope shares between its two signals: read only to say,
    // when one asks for something else, that it is not used (the metrics setting is).

    /// Read only to warn when it differs from the protocol used (the metrics one).
    pub(super) OTEL_EXPORTER_OTLP_LOGS_PROTOCOL, default "the metrics setting";
    /// Read only to warn when it differs from the headers used (the metrics ones).
    pub(super) OTEL_EXPORTER_OTLP_LOGS_HEADERS, default "the metrics setting";
    /// Read only to warn when it differs from the timeout used (the metrics one).
    pub(super) OTEL_EXPORTER_OTLP_LOGS_TIMEOUT, default "the metrics setting";
    /// Read only to warn when it differs from the compression used (the metrics one).
    pub(super) OTEL_EXPORTER_OTLP_LOGS_COMPRESSION, default "the metrics setting";
    /// Read only to warn when it names another file than the metrics CA file.
    pub(super) OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE, default "the metrics setting";
    /// Read only to warn when it names another file than the metrics client certificate.
    pub(super) OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE, default "the metrics setting";
    /// Read only to warn when it names another file than the metrics client key.
    pub(super) OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY, default "the metrics setting";
}

// ---------------------------------------------------------------------------------------------
// Defaults.
// ---------------------------------------------------------------------------------------------

/// Default of [`RTSCOPE_SAMPLING_TARGET`].
pub const DEFAULT_SAMPLING_TARGET: f64 = 100.0;
/// Default of [`RTSCOPE_SAMPLING_INTERVAL`].
pub const DEFAULT_SAMPLING_INTERVAL: u64 = 512 * 1024;
/// Default of [`RTSCOPE_SAMPLING_CPU`] (percent of one core).
pub const DEFAULT_SAMPLING_CPU: f64 = 1.0;
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
// Settings: variables, parser, default.
// ---------------------------------------------------------------------------------------------

/// A setting read from the environment: the first usable value among `vars` (highest
/// precedence first), else `default`; each unusable value is one warning naming what is used
/// instead ([`Reader::pick`](super::resolve)).
pub(super) struct Setting<T> {
    pub(super) vars: &'static [&'static str],
    /// Returns the problem as the end of a sentence starting with the value.
    pub(super) parse: fn(&str) -> Result<T, &'static str>,
    pub(super) default: T,
    /// How a value is named in a warning (`using 60000`); for the default, the variables'
    /// documented default.
    pub(super) show: fn(&T) -> String,
}

/// Declares each setting and, for the tests, `SETTINGS`: every setting's variables with its
/// default as a warning names it.
macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident: $t:ty = $value:expr;
    )+) => {
        $(
            $(#[doc = $doc])*
            pub(super) const $name: $t = $value;
        )+
        /// Every setting's variables and its default as shown.
        #[cfg(test)]
        pub(super) fn settings() -> Vec<(&'static [&'static str], String)> {
            let mut out = Vec::new();
            $( out.extend(Shown::shown(&$name)); )+
            out
        }
    };
}

/// A setting, or an array of them, as `settings()` lists it.
#[cfg(test)]
trait Shown {
    fn shown(&self) -> Vec<(&'static [&'static str], String)>;
}

#[cfg(test)]
impl<T> Shown for Setting<T> {
    fn shown(&self) -> Vec<(&'static [&'static str], String)> {
        vec![(self.vars, (self.show)(&self.default))]
    }
}

#[cfg(test)]
impl<T, const N: usize> Shown for [Setting<T>; N] {
    fn shown(&self) -> Vec<(&'static [&'static str], String)> {
        self.iter().flat_map(Shown::shown).collect()
    }
}

fn to_string<T: ToString>(v: &T) -> String {
    v.to_string()
}

/// A fixed spike threshold: the kind's variable, then the one for every kind.
const fn spike_threshold(var: &'static [&'static str]) -> Setting<Option<Duration>> {
    Setting {
        vars: var,
        parse: |v| parse_ms(v, false).map(Some),
        default: None,
        show: threshold_str,
    }
}

settings! {
    SDK_DISABLED: Setting<bool> = Setting {
        vars: &[OTEL_SDK_DISABLED],
        parse: parse_bool,
        default: false,
        show: bool_str,
    };
    EXPORT_INTERVAL: Setting<Duration> = Setting {
        vars: &[OTEL_METRIC_EXPORT_INTERVAL],
        parse: |v| parse_ms(v, false),
        default: DEFAULT_EXPORT_INTERVAL,
        show: ms_str,
    };
    TEMPORALITY: Setting<Temporality> = Setting {
        vars: &[OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE],
        parse: parse_temporality,
        default: Temporality::Cumulative,
        show: |t| t.as_str().to_owned(),
    };
    SHUTDOWN_TIMEOUT: Setting<Duration> = Setting {
        vars: &[RTSCOPE_SHUTDOWN_TIMEOUT],
        parse: |v| parse_ms(v, true),
        default: DEFAULT_SHUTDOWN_TIMEOUT,
        show: ms_str,
    };
    SUMMARY: Setting<bool> = Setting {
        vars: &[RTSCOPE_SUMMARY],
        parse: parse_on_off,
        default: true,
        show: on_off_str,
    };
    SAMPLING: Setting<bool> = Setting {
        vars: &[RTSCOPE_SAMPLING],
        parse: parse_on_off,
        default: true,
        show: on_off_str,
    };
    SAMPLING_TARGET: Setting<f64> = Setting {
        vars: &[RTSCOPE_SAMPLING_TARGET],
        parse: parse_rate,
        default: DEFAULT_SAMPLING_TARGET,
        show: to_string,
    };
    SAMPLING_INTERVAL: Setting<u64> = Setting {
        vars: &[RTSCOPE_SAMPLING_INTERVAL],
        parse: parse_bytes,
        default: DEFAULT_SAMPLING_INTERVAL,
        show: to_string,
    };
    SAMPLING_CPU: Setting<f64> = Setting {
        vars: &[RTSCOPE_SAMPLING_CPU],
        parse: parse_percent,
        default: DEFAULT_SAMPLING_CPU,
        show: to_string,
    };
    SAMPLING_SEED: Setting<Option<u64>> = Setting {
        vars: &[RTSCOPE_SAMPLING_SEED],
        parse: parse_seed,
        default: None,
        show: |s| s.map_or_else(|| "a random seed".to_owned(), |s| s.to_string()),
    };
    HEAP_PROFILE: Setting<bool> = Setting {
        vars: &[RTSCOPE_HEAP_PROFILE],
        parse: parse_on_off,
        default: true,
        show: on_off_str,
    };
    PPROF_ADDR: Setting<Option<std::net::SocketAddr>> = Setting {
        vars: &[RTSCOPE_PPROF_ADDR],
        parse: parse_socket_addr,
        default: None,
        show: |_| "off".to_owned(),
    };
    LISTEN_CONNECTIONS: Setting<usize> = Setting {
        vars: &[RTSCOPE_LISTEN_CONNECTIONS],
        parse: parse_listen_connections,
        default: DEFAULT_LISTEN_CONNECTIONS,
        show: to_string,
    };
    LISTEN_CPU: Setting<f64> = Setting {
        vars: &[RTSCOPE_LISTEN_CPU],
        parse: parse_listen_cpu,
        default: DEFAULT_LISTEN_CPU_PERCENT,
        show: to_string,
    };
    FILE_MAX_BYTES: Setting<u64> = Setting {
        vars: &[RTSCOPE_FILE_MAX_BYTES],
        parse: parse_bytes,
        default: DEFAULT_FILE_MAX_BYTES,
        show: to_string,
    };
    /// `None`: the default host, [`DEFAULT_PROMETHEUS_HOST`].
    PROMETHEUS_HOST: Setting<Option<String>> = Setting {
        vars: &[OTEL_EXPORTER_PROMETHEUS_HOST],
        parse: |v| check_listen_host(v).map(|()| Some(v.to_owned())),
        default: None,
        show: |h| h.as_deref().unwrap_or(DEFAULT_PROMETHEUS_HOST).to_owned(),
    };
    PROMETHEUS_PORT: Setting<u16> = Setting {
        vars: &[OTEL_EXPORTER_PROMETHEUS_PORT],
        parse: parse_listen_port,
        default: DEFAULT_PROMETHEUS_PORT,
        show: to_string,
    };
    PROTOCOL: Setting<Protocol> = Setting {
        vars: &[OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, OTEL_EXPORTER_OTLP_PROTOCOL],
        parse: parse_protocol,
        default: Protocol::HttpProtobuf,
        show: |p| p.as_str().to_owned(),
    };
    TIMEOUT: Setting<Duration> = Setting {
        vars: &[OTEL_EXPORTER_OTLP_METRICS_TIMEOUT, OTEL_EXPORTER_OTLP_TIMEOUT],
        parse: |v| parse_ms(v, false),
        default: DEFAULT_TIMEOUT,
        show: ms_str,
    };
    /// The bound of a whole export, which caps [`TIMEOUT`].
    EXPORT_TIMEOUT: Setting<Option<Duration>> = Setting {
        vars: &[OTEL_METRIC_EXPORT_TIMEOUT],
        parse: |v| parse_ms(v, false).map(Some),
        default: None,
        show: |d| d.map_or_else(|| "no cap".to_owned(), |d| ms_str(&d)),
    };
    COMPRESSION: Setting<Compression> = Setting {
        vars: &[OTEL_EXPORTER_OTLP_METRICS_COMPRESSION, OTEL_EXPORTER_OTLP_COMPRESSION],
        parse: parse_compression,
        default: Compression::None,
        show: |c| c.as_str().to_owned(),
    };
    /// Read only for a gRPC metrics endpoint written without a scheme.
    METRICS_INSECURE: Setting<bool> = Setting {
        vars: &[OTEL_EXPORTER_OTLP_METRICS_INSECURE, OTEL_EXPORTER_OTLP_INSECURE],
        parse: parse_bool,
        default: false,
        show: bool_str,
    };
    /// Read only for a gRPC logs endpoint written without a scheme.
    LOGS_INSECURE: Setting<bool> = Setting {
        vars: &[OTEL_EXPORTER_OTLP_LOGS_INSECURE, OTEL_EXPORTER_OTLP_INSECURE],
        parse: parse_bool,
        default: false,
        show: bool_str,
    };
    SPIKES: Setting<bool> = Setting {
        vars: &[RTSCOPE_SPIKES],
        parse: parse_on_off,
        default: true,
        show: on_off_str,
    };
    /// The fixed threshold of each spike kind, in [`SpikeKind::ALL`] order.
    SPIKE_THRESHOLDS: [Setting<Option<Duration>>; 4] = [
        spike_threshold(&[RTSCOPE_SPIKE_SCHEDULE_THRESHOLD_MS, RTSCOPE_SPIKE_THRESHOLD_MS]),
        spike_threshold(&[RTSCOPE_SPIKE_POLL_THRESHOLD_MS, RTSCOPE_SPIKE_THRESHOLD_MS]),
        spike_threshold(&[RTSCOPE_SPIKE_TIMER_THRESHOLD_MS, RTSCOPE_SPIKE_THRESHOLD_MS]),
        spike_threshold(&[RTSCOPE_SPIKE_LATENCY_THRESHOLD_MS, RTSCOPE_SPIKE_THRESHOLD_MS]),
    ];
    SPIKE_FLOOR: Setting<Duration> = Setting {
        vars: &[RTSCOPE_SPIKE_FLOOR_MS],
        parse: |v| parse_ms(v, false),
        default: DEFAULT_FLOOR,
        show: ms_str,
    };
    SPIKE_BURST: Setting<u32> = Setting {
        vars: &[RTSCOPE_SPIKE_BURST],
        parse: parse_events,
        default: DEFAULT_BURST,
        show: to_string,
    };
    SPIKE_RATE: Setting<f64> = Setting {
        vars: &[RTSCOPE_SPIKE_RATE_PER_MIN],
        parse: |v| parse_events(v).map(f64::from),
        default: DEFAULT_RATE_PER_MINUTE,
        show: to_string,
    };
}

/// The three variables that name a collector.
pub(super) const ENDPOINT_VARS: [&str; 3] = [
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
];

/// OTLP exporter variables other than endpoints and temporality (which also shapes the file):
/// setting one asks for OTLP, so without an endpoint the specification's default is used.
pub(super) const OTLP_SETTING_VARS: [&str; 24] = [
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
    OTEL_EXPORTER_OTLP_CERTIFICATE,
    OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE,
    OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_KEY,
    OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY,
    OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY,
];
