//! Resolved agent configuration: builder settings over `OTEL_*` / `RTSCOPE_*` environment
//! variables over defaults. See `docs/configuration.md`.

use std::path::PathBuf;
use std::time::Duration;

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
    /// Where the data goes.
    pub destination: Destination,
    /// Print a human summary to stderr at shutdown.
    pub summary_at_exit: bool,
}

/// Where exported data goes.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Destination {
    /// An OTLP collector.
    Otlp(OtlpTarget),
    /// OTLP/JSON lines appended to a file (the OpenTelemetry file exporter format).
    File(PathBuf),
}

/// A resolved OTLP collector target.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct OtlpTarget {
    pub protocol: Protocol,
    /// Full URL metrics are sent to (for HTTP it includes `/v1/metrics`).
    pub metrics_endpoint: String,
    /// Full URL logs are sent to (for HTTP it includes `/v1/logs`).
    pub logs_endpoint: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub compression: Compression,
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
    None,
    Gzip,
}

/// Aggregation temporality of sums and histograms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Temporality {
    Cumulative,
    Delta,
}
