//! Spike detection settings: builder settings over `RTSCOPE_SPIKE*` environment variables
//! over defaults.

use crate::config::ConfigError;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// `on` (default) or `off`: watch latencies for spikes and emit `rust.spike` events.
pub const RTSCOPE_SPIKES: &str = "RTSCOPE_SPIKES";
/// Milliseconds: one fixed threshold for every kind, instead of the rolling P99.
pub const RTSCOPE_SPIKE_THRESHOLD_MS: &str = "RTSCOPE_SPIKE_THRESHOLD_MS";
/// Milliseconds: fixed threshold for scheduler delay (kind `schedule`); wins over
/// [`RTSCOPE_SPIKE_THRESHOLD_MS`].
pub const RTSCOPE_SPIKE_SCHEDULE_THRESHOLD_MS: &str = "RTSCOPE_SPIKE_SCHEDULE_THRESHOLD_MS";
/// Milliseconds: fixed threshold for task poll duration (kind `poll`).
pub const RTSCOPE_SPIKE_POLL_THRESHOLD_MS: &str = "RTSCOPE_SPIKE_POLL_THRESHOLD_MS";
/// Milliseconds: fixed threshold for timer lateness (kind `timer`).
pub const RTSCOPE_SPIKE_TIMER_THRESHOLD_MS: &str = "RTSCOPE_SPIKE_TIMER_THRESHOLD_MS";
/// Milliseconds: fixed threshold for latencies reported with [`latency`](crate::latency)
/// (kind `latency`).
pub const RTSCOPE_SPIKE_LATENCY_THRESHOLD_MS: &str = "RTSCOPE_SPIKE_LATENCY_THRESHOLD_MS";
/// Milliseconds: the lowest threshold the rolling P99 may give. Default 5.
pub const RTSCOPE_SPIKE_FLOOR_MS: &str = "RTSCOPE_SPIKE_FLOOR_MS";
/// Events that may be emitted back to back before the rate limit applies. Default 5.
pub const RTSCOPE_SPIKE_BURST: &str = "RTSCOPE_SPIKE_BURST";
/// Events per minute in the long run, when there is no storm. Default 6.
pub const RTSCOPE_SPIKE_RATE_PER_MIN: &str = "RTSCOPE_SPIKE_RATE_PER_MIN";

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
    /// `latency`: durations reported with [`latency`](crate::latency).
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

    fn index(self) -> usize {
        self as usize
    }

    fn env(self) -> &'static str {
        match self {
            SpikeKind::Schedule => RTSCOPE_SPIKE_SCHEDULE_THRESHOLD_MS,
            SpikeKind::Poll => RTSCOPE_SPIKE_POLL_THRESHOLD_MS,
            SpikeKind::Timer => RTSCOPE_SPIKE_TIMER_THRESHOLD_MS,
            SpikeKind::Latency => RTSCOPE_SPIKE_LATENCY_THRESHOLD_MS,
        }
    }
}

/// Resolved spike settings. Made by [`SpikeSettings::from_env`] or [`SpikeBuilder::build`].
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
    /// Settings from the `RTSCOPE_SPIKE*` environment variables over defaults. A value that
    /// cannot be used is reported as one stderr line and the default is used.
    pub fn from_env() -> SpikeSettings {
        SpikeBuilder::default().resolve(|name| std::env::var(name).ok())
    }

    /// The fixed threshold of a series, if any.
    pub(crate) fn fixed(&self, kind: SpikeKind, name: &str) -> Option<Duration> {
        if kind == SpikeKind::Latency
            && let Some((_, d)) = self.latency_thresholds.iter().find(|(n, _)| n == name)
        {
            return Some(*d);
        }
        self.thresholds[kind.index()]
    }
}

/// Spike settings made in code; each wins over its environment variable.
///
/// ```
/// use rtscope::spike::{SpikeBuilder, SpikeKind};
/// use std::time::Duration;
///
/// SpikeBuilder::default()
///     .with_threshold(SpikeKind::Timer, Duration::from_millis(20))
///     .with_latency_threshold("checkout", Duration::from_millis(250))
///     .with_rate_per_minute(12.0)
///     .install()
///     .unwrap();
/// ```
#[derive(Clone, Debug, Default)]
pub struct SpikeBuilder {
    enabled: Option<bool>,
    thresholds: [Option<Duration>; 4],
    latency_thresholds: Vec<(String, Duration)>,
    floor: Option<Duration>,
    p99_factor: Option<f64>,
    burst: Option<u32>,
    rate_per_minute: Option<f64>,
}

impl SpikeBuilder {
    /// Turns spike detection on or off ([`RTSCOPE_SPIKES`]).
    pub fn with_enabled(mut self, enabled: bool) -> Self {
        self.enabled = Some(enabled);
        self
    }

    /// A fixed threshold for `kind` instead of the rolling P99 (`RTSCOPE_SPIKE_<KIND>_THRESHOLD_MS`).
    /// Thresholds are rounded up to the next histogram bound (1-2-5 steps, 1 µs to 10 s).
    pub fn with_threshold(mut self, kind: SpikeKind, threshold: Duration) -> Self {
        self.thresholds[kind.index()] = Some(threshold);
        self
    }

    /// A fixed threshold for the latency `name` only.
    pub fn with_latency_threshold(mut self, name: &str, threshold: Duration) -> Self {
        self.latency_thresholds.retain(|(n, _)| n != name);
        self.latency_thresholds.push((name.to_owned(), threshold));
        self
    }

    /// The lowest threshold the rolling P99 may give ([`RTSCOPE_SPIKE_FLOOR_MS`]).
    pub fn with_floor(mut self, floor: Duration) -> Self {
        self.floor = Some(floor);
        self
    }

    /// The rolling threshold is this factor (at least 1) times the P99 of recent windows.
    pub fn with_p99_factor(mut self, factor: f64) -> Self {
        self.p99_factor = Some(factor);
        self
    }

    /// Events that may be emitted back to back ([`RTSCOPE_SPIKE_BURST`]).
    pub fn with_burst(mut self, events: u32) -> Self {
        self.burst = Some(events);
        self
    }

    /// Events per minute in the long run ([`RTSCOPE_SPIKE_RATE_PER_MIN`]).
    pub fn with_rate_per_minute(mut self, events: f64) -> Self {
        self.rate_per_minute = Some(events);
        self
    }

    /// Checks the settings made in code and fills the rest from the environment.
    pub fn build(self) -> Result<SpikeSettings, ConfigError> {
        self.validate()?;
        Ok(self.resolve(|name| std::env::var(name).ok()))
    }

    /// [`build`](Self::build)s the settings and applies them from the next collection
    /// window on, replacing earlier ones (detection history is kept).
    pub fn install(self) -> Result<(), ConfigError> {
        let settings = self.build()?;
        install(settings);
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let err = |setting: String, problem: &str| {
            Err(ConfigError {
                setting,
                problem: problem.to_owned(),
            })
        };
        for (kind, t) in SpikeKind::ALL.iter().zip(&self.thresholds) {
            if *t == Some(Duration::ZERO) {
                return err(
                    format!("with_threshold({kind:?}, 0)"),
                    "a threshold must be greater than zero, e.g. Duration::from_millis(50)",
                );
            }
        }
        for (name, t) in &self.latency_thresholds {
            if t.is_zero() {
                return err(
                    format!("with_latency_threshold({name:?}, 0)"),
                    "a threshold must be greater than zero, e.g. Duration::from_millis(50)",
                );
            }
        }
        if self.floor == Some(Duration::ZERO) {
            return err(
                "with_floor(0)".to_owned(),
                "the floor must be greater than zero, e.g. Duration::from_millis(5)",
            );
        }
        if let Some(f) = self.p99_factor
            && !(f.is_finite() && f >= 1.0)
        {
            return err(
                format!("with_p99_factor({f})"),
                "the factor must be a finite number of at least 1, e.g. 2.0",
            );
        }
        if self.burst == Some(0) {
            return err(
                "with_burst(0)".to_owned(),
                "the burst must be at least 1 event; to turn spikes off use with_enabled(false)",
            );
        }
        if let Some(r) = self.rate_per_minute
            && !(r.is_finite() && r > 0.0)
        {
            return err(
                format!("with_rate_per_minute({r})"),
                "the rate must be a finite number of events per minute above 0, e.g. 6.0",
            );
        }
        Ok(())
    }

    /// Settings made here over `env` over defaults; bad environment values are warned about
    /// on stderr and replaced by the default.
    pub(crate) fn resolve(self, env: impl Fn(&str) -> Option<String>) -> SpikeSettings {
        let mut warnings = Vec::new();
        let d = SpikeSettings::default();
        let enabled = self.enabled.unwrap_or_else(|| match env(RTSCOPE_SPIKES) {
            None => d.enabled,
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "" | "on" | "true" | "1" => true,
                "off" | "false" | "0" => false,
                _ => {
                    warnings.push(format!(
                        "rtscope: {RTSCOPE_SPIKES}={v:?} is not `on` or `off`; using `on`"
                    ));
                    true
                }
            },
        });
        let mut ms = |name: &str| -> Option<Duration> {
            let v = env(name)?;
            match v.trim().parse::<u64>() {
                Ok(ms) if ms > 0 => Some(Duration::from_millis(ms)),
                _ => {
                    warnings.push(format!(
                        "rtscope: {name}={v:?} is not a whole number of milliseconds above 0; \
                         ignoring it"
                    ));
                    None
                }
            }
        };
        let all = ms(RTSCOPE_SPIKE_THRESHOLD_MS);
        let mut thresholds = self.thresholds;
        for (kind, t) in SpikeKind::ALL.iter().zip(thresholds.iter_mut()) {
            if t.is_none() {
                *t = ms(kind.env()).or(all);
            }
        }
        let floor = self
            .floor
            .or_else(|| ms(RTSCOPE_SPIKE_FLOOR_MS))
            .unwrap_or(d.floor);
        let mut count = |name: &str| -> Option<u64> {
            let v = env(name)?;
            match v.trim().parse::<u64>() {
                Ok(n) if n > 0 => Some(n),
                _ => {
                    warnings.push(format!(
                        "rtscope: {name}={v:?} is not a whole number above 0; using the default"
                    ));
                    None
                }
            }
        };
        let burst = self.burst.unwrap_or_else(|| {
            count(RTSCOPE_SPIKE_BURST)
                .and_then(|n| u32::try_from(n).ok())
                .unwrap_or(d.burst)
        });
        let rate_per_minute = self.rate_per_minute.unwrap_or_else(|| {
            count(RTSCOPE_SPIKE_RATE_PER_MIN).map_or(d.rate_per_minute, |n| n as f64)
        });
        if !warnings.is_empty() {
            crate::config::print_warnings(&warnings);
        }
        SpikeSettings {
            enabled,
            thresholds,
            latency_thresholds: self.latency_thresholds,
            floor,
            p99_factor: self.p99_factor.unwrap_or(d.p99_factor),
            burst,
            rate_per_minute,
        }
    }
}

/// Settings installed in code, and how many times they were: the detector picks up a new
/// generation on its next window.
static INSTALLED: Mutex<(u64, Option<SpikeSettings>)> = Mutex::new((0, None));

/// Applies `settings` from the next collection window on.
pub(crate) fn install(settings: SpikeSettings) {
    let mut g = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    g.0 += 1;
    g.1 = Some(settings);
}

/// The settings installed in code if newer than `seen`, with their generation.
pub(crate) fn installed_since(seen: u64) -> Option<(u64, SpikeSettings)> {
    let g = INSTALLED.lock().unwrap_or_else(PoisonError::into_inner);
    match &g.1 {
        Some(s) if g.0 != seen => Some((g.0, s.clone())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::test_env as env;

    #[test]
    fn builder_wins_over_env_over_defaults() {
        let s = SpikeBuilder::default()
            .with_threshold(SpikeKind::Timer, Duration::from_millis(7))
            .resolve(env(&[
                (RTSCOPE_SPIKE_THRESHOLD_MS, "100"),
                (RTSCOPE_SPIKE_POLL_THRESHOLD_MS, "30"),
                (RTSCOPE_SPIKE_TIMER_THRESHOLD_MS, "40"),
                (RTSCOPE_SPIKE_BURST, "2"),
            ]));
        assert_eq!(
            s.fixed(SpikeKind::Timer, ""),
            Some(Duration::from_millis(7))
        );
        assert_eq!(
            s.fixed(SpikeKind::Poll, ""),
            Some(Duration::from_millis(30))
        );
        assert_eq!(
            s.fixed(SpikeKind::Schedule, ""),
            Some(Duration::from_millis(100))
        );
        assert_eq!(s.burst, 2);
        assert_eq!(s.rate_per_minute, DEFAULT_RATE_PER_MINUTE);
        assert!(s.enabled);
    }

    #[test]
    fn bad_env_values_fall_back() {
        let s = SpikeBuilder::default().resolve(env(&[
            (RTSCOPE_SPIKES, "maybe"),
            (RTSCOPE_SPIKE_THRESHOLD_MS, "-3"),
            (RTSCOPE_SPIKE_FLOOR_MS, "0"),
            (RTSCOPE_SPIKE_RATE_PER_MIN, "lots"),
        ]));
        assert_eq!(s, SpikeSettings::default());
        let off = SpikeBuilder::default().resolve(env(&[(RTSCOPE_SPIKES, "off")]));
        assert!(!off.enabled);
    }

    #[test]
    fn bad_builder_values_are_errors() {
        let e = SpikeBuilder::default()
            .with_p99_factor(0.5)
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("with_p99_factor(0.5)"), "{e}");
        assert!(SpikeBuilder::default().with_burst(0).build().is_err());
        assert!(
            SpikeBuilder::default()
                .with_latency_threshold("x", Duration::ZERO)
                .build()
                .is_err()
        );
    }

    #[test]
    fn a_name_threshold_wins_over_the_kind() {
        let s = SpikeBuilder::default()
            .with_threshold(SpikeKind::Latency, Duration::from_millis(10))
            .with_latency_threshold("slow", Duration::from_secs(1))
            .resolve(env(&[]));
        assert_eq!(
            s.fixed(SpikeKind::Latency, "slow"),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            s.fixed(SpikeKind::Latency, "fast"),
            Some(Duration::from_millis(10))
        );
    }
}
