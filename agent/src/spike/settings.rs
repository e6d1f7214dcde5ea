//! Spike detection settings: the kinds watched, the resolved [`SpikeSettings`] (part of
//! [`Config`](crate::config::Config)) and the [`SpikeBuilder`] given to
//! [`AgentBuilder::with_spikes`](crate::AgentBuilder::with_spikes). The `RTSCOPE_SPIKE*`
//! variables are read, and the settings made in code checked, by [`crate::config`] with all
//! the others.

use std::time::Duration;

/// Default of [`SpikeSettings::floor`].
pub const DEFAULT_FLOOR: Duration = Duration::from_millis(5);
/// Default of [`SpikeSettings::p99_factor`].
pub const DEFAULT_P99_FACTOR: f64 = 2.0;
/// Default of [`SpikeSettings::burst`].
pub const DEFAULT_BURST: u32 = 5;
/// Default of [`SpikeSettings::rate_per_minute`].
pub const DEFAULT_RATE_PER_MINUTE: f64 = 6.0;

/// What a spike was measured on (attribute `rust.spike.kind`).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SpikeKind {
    /// `schedule`: scheduler delay (wake-to-poll of instrumented tasks, the runtime probe).
    Schedule,
    /// `poll`: duration of the polls of instrumented tasks.
    Poll,
    /// `timer`: timer lateness.
    Timer,
    /// `latency`: durations reported with [`latency`](fn@crate::latency).
    Latency,
}

impl SpikeKind {
    /// Every kind.
    pub const ALL: [SpikeKind; 4] = [
        SpikeKind::Schedule,
        SpikeKind::Poll,
        SpikeKind::Timer,
        SpikeKind::Latency,
    ];

    /// The exported value of `rust.spike.kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            SpikeKind::Schedule => "schedule",
            SpikeKind::Poll => "poll",
            SpikeKind::Timer => "timer",
            SpikeKind::Latency => "latency",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// Resolved spike settings: [`Config::spikes`](crate::config::Config::spikes), what
/// [`AgentGuard::config`](crate::AgentGuard::config) shows.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq)]
pub struct SpikeSettings {
    /// Watch for spikes at all.
    pub enabled: bool,
    /// Fixed threshold per kind (in [`SpikeKind::ALL`] order); `None`: the rolling P99.
    pub thresholds: [Option<Duration>; 4],
    /// Fixed thresholds of single latency names; win over the `latency` kind's.
    pub latency_thresholds: Vec<(String, Duration)>,
    /// The lowest threshold the rolling P99 may give.
    pub floor: Duration,
    /// The rolling threshold is the P99 of recent windows times this factor.
    pub p99_factor: f64,
    /// Events that may be emitted back to back.
    pub burst: u32,
    /// Events per minute in the long run; halved in storms (events suppressed), restored
    /// in quiet windows.
    pub rate_per_minute: f64,
}

impl Default for SpikeSettings {
    fn default() -> Self {
        SpikeSettings {
            enabled: true,
            thresholds: [None; 4],
            latency_thresholds: Vec::new(),
            floor: DEFAULT_FLOOR,
            p99_factor: DEFAULT_P99_FACTOR,
            burst: DEFAULT_BURST,
            rate_per_minute: DEFAULT_RATE_PER_MINUTE,
        }
    }
}

impl SpikeSettings {
    /// Spike settings to make in code, for [`AgentBuilder::with_spikes`](crate::AgentBuilder::with_spikes).
    pub fn builder() -> SpikeBuilder {
        SpikeBuilder::default()
    }
}

/// Spike settings made in code, given to
/// [`AgentBuilder::with_spikes`](crate::AgentBuilder::with_spikes). Each one set wins over its
/// `RTSCOPE_SPIKE*` variable; the others come from the environment or the defaults when the
/// agent is installed, which also rejects unusable values (a zero threshold, floor, burst or
/// rate, a factor below 1) with [`InstallError::InvalidConfig`](crate::InstallError::InvalidConfig).
///
/// ```no_run
/// use rtscope::spike::{SpikeKind, SpikeSettings};
/// use std::time::Duration;
///
/// let guard = rtscope::Agent::builder()
///     .with_spikes(
///         SpikeSettings::builder()
///             .with_threshold(SpikeKind::Timer, Duration::from_millis(20))
///             .with_latency_threshold("checkout", Duration::from_millis(250))
///             .with_rate_per_minute(12.0),
///     )
///     .install()?;
/// assert_eq!(guard.config().spikes.rate_per_minute, 12.0);
/// # Ok::<(), rtscope::InstallError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[must_use = "a SpikeBuilder does nothing until it is given to AgentBuilder::with_spikes"]
pub struct SpikeBuilder {
    pub(crate) enabled: Option<bool>,
    pub(crate) thresholds: [Option<Duration>; 4],
    pub(crate) latency_thresholds: Vec<(String, Duration)>,
    pub(crate) floor: Option<Duration>,
    pub(crate) p99_factor: Option<f64>,
    pub(crate) burst: Option<u32>,
    pub(crate) rate_per_minute: Option<f64>,
}

impl SpikeBuilder {
    /// Turns spike detection on or off (`RTSCOPE_SPIKES`). Default on.
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }

    /// A fixed threshold for `kind` instead of the rolling P99
    /// (`RTSCOPE_SPIKE_<KIND>_THRESHOLD_MS`, then `RTSCOPE_SPIKE_THRESHOLD_MS`). Thresholds
    /// are rounded up to the next histogram bound (1-2-5 steps, 1 µs to 10 s).
    pub fn with_threshold(mut self, kind: SpikeKind, threshold: Duration) -> Self {
        self.thresholds[kind.index()] = Some(threshold);
        self
    }

    /// A fixed threshold for the latency `name` only; wins over the `latency` kind's.
    pub fn with_latency_threshold(mut self, name: &str, threshold: Duration) -> Self {
        self.latency_thresholds.retain(|(n, _)| n != name);
        self.latency_thresholds.push((name.to_owned(), threshold));
        self
    }

    /// The lowest threshold the rolling P99 may give (`RTSCOPE_SPIKE_FLOOR_MS`). Default 5 ms.
    pub fn with_floor(mut self, floor: Duration) -> Self {
        self.floor = Some(floor);
        self
    }

    /// The rolling threshold is this factor (at least 1) times the P99 of recent windows.
    /// Default 2.
    pub fn with_p99_factor(mut self, factor: f64) -> Self {
        self.p99_factor = Some(factor);
        self
    }

    /// Events that may be emitted back to back (`RTSCOPE_SPIKE_BURST`). Default 5.
    pub fn with_burst(mut self, events: u32) -> Self {
        self.burst = Some(events);
        self
    }

    /// Events per minute in the long run (`RTSCOPE_SPIKE_RATE_PER_MIN`). Default 6.
    pub fn with_rate_per_minute(mut self, events: f64) -> Self {
        self.rate_per_minute = Some(events);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_later_latency_threshold_replaces_an_earlier_one() {
        let b = SpikeSettings::builder()
            .with_latency_threshold("x", Duration::from_millis(1))
            .with_latency_threshold("x", Duration::from_millis(2));
        assert_eq!(
            b.latency_thresholds,
            vec![("x".to_owned(), Duration::from_millis(2))]
        );
    }
}
