//! Spike detection: when a latency goes over its threshold, say what else happened in the
//! same window, so that a service owner can read *why* the P99 spiked.
//!
//! On every collection tick (1 s, on the export thread: nothing is added to the measured
//! paths) the window's new observations of each latency-like histogram are taken from its
//! bucket counts:
//!
//! | `rust.spike.kind` | `rust.spike.name` | histogram |
//! |---|---|---|
//! | `schedule` | `task`, `probe` | scheduler delay ([`crate::task`]) |
//! | `poll` | `task` | poll duration of instrumented tasks |
//! | `timer` | `lateness` | timer lateness ([`crate::time`]) |
//! | `latency` | the name given | [`rtscope::latency("request", d)`](fn@crate::latency) |
//!
//! A window with observations over the series' threshold makes one `rust.spike` event (an
//! OTLP log record, severity WARN) carrying a snapshot of the same window: allocations and
//! bytes allocated with the top size classes, pool gets and misses, timers fired and the top
//! sampled allocation scopes ([`crate::scope`](mod@crate::scope)). See `docs/metrics.md` for every attribute.
//! With the `opentelemetry` feature a `latency` spike carries the trace of a measurement over
//! the threshold in the same window that had one (its bucket's exemplar), or none.
//!
//! ```
//! use std::time::{Duration, Instant};
//!
//! fn handle() { /* ... */ }
//!
//! let start = Instant::now();
//! handle();
//! rtscope::latency("request", start.elapsed());
//! ```
//!
//! # Thresholds
//!
//! Fixed per kind or per latency name ([`SpikeSettings::builder`] given to
//! [`AgentBuilder::with_spikes`](crate::AgentBuilder::with_spikes),
//! `RTSCOPE_SPIKE_*_THRESHOLD_MS`; see `docs/configuration.md`), or
//! by default the P99 of the last ~30 windows (exponentially decayed) times
//! [`p99_factor`](SpikeSettings::p99_factor) (2), never below the
//! [`floor`](SpikeSettings::floor) (5 ms). The first window starts at install: a series
//! with a fixed threshold is watched from it, one without once it has about 100
//! observations of history. What was measured before install is in no window. Thresholds are histogram bucket bounds (1-2-5
//! steps from 1 µs to 10 s, a fixed one is rounded up to the next), and an observation counts
//! as over it when its whole bucket is.
//!
//! # Rate limit
//!
//! Events go through a token bucket ([`burst`](SpikeSettings::burst) 5, then
//! [`rate_per_minute`](SpikeSettings::rate_per_minute) 6) whose rate halves in every window
//! that had to drop events and comes back in quiet ones; the most severe findings of a window
//! go first. Dropped events are counted in `rtscope.spikes.suppressed` and reported on the
//! next event (`rust.spike.suppressed`).

mod settings;

feature! {
    #![feature = "_export"]
    mod context;
    mod detect;
    mod detector;
    mod limit;
    pub(crate) use detector::{Detector, SOURCE};
}

pub use settings::{
    DEFAULT_BURST, DEFAULT_FLOOR, DEFAULT_P99_FACTOR, DEFAULT_RATE_PER_MINUTE, SpikeBuilder,
    SpikeKind, SpikeSettings,
};

/// Moved to [`rtscope::latency::Latency`](crate::latency::Latency): latencies are a part of
/// their own, which the detector reads.
#[deprecated(note = "moved to `rtscope::latency::Latency`")]
pub type Latency = crate::latency::Latency;

/// Moved to [`rtscope::latency::MAX_LATENCY_NAMES`](crate::latency::MAX_LATENCY_NAMES).
#[deprecated(note = "moved to `rtscope::latency::MAX_LATENCY_NAMES`")]
pub const MAX_LATENCY_NAMES: usize = crate::latency::MAX_LATENCY_NAMES;

/// Moved to [`rtscope::latency()`](crate::latency()), the same function.
#[deprecated(note = "moved to `rtscope::latency()` (the same function)")]
#[inline]
pub fn latency(name: &str, duration: std::time::Duration) {
    crate::latency::latency(name, duration);
}

/// The event name of spike log records.
pub const SPIKE_EVENT: &str = "rust.spike";
