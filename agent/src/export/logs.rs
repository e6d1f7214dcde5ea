//! Event-like data (allocation samples, spike events) exported as OTLP log records.

use super::model::Value;

/// One event, exported as an OTLP log record whose `event_name` is `name` and whose
/// attributes are `attributes`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LogEvent {
    /// Event name, e.g. `rust.memory.allocation.sample`.
    pub(crate) name: &'static str,
    /// When it happened, in nanoseconds since the Unix epoch.
    pub(crate) time_unix_nano: u64,
    /// OTLP severity number (9 = INFO, 13 = WARN).
    pub(crate) severity: i32,
    /// Human-readable body.
    pub(crate) body: String,
    pub(crate) attributes: Vec<(String, Value)>,
}
