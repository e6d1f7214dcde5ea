//! The detector (built with an exporter: the pipeline owns it and drains it on every tick):
//! one state per watched series, the window's baseline and the rate limit, the `rust.spike`
//! events and the spike counters.

use super::{SPIKE_EVENT, SpikeKind, SpikeSettings};
use crate::base::agent_scope;
use crate::base::counters::{BOUNDS_NS, HistogramSnapshot};
use crate::latency;
use crate::model::Source;
use crate::model::events::LogEvent;
use crate::model::series::{Data, Metric, Value};
use crate::sys::realtime_nanos as now_nanos;
use super::context::{self, Baseline, Totals};
use super::detect::{Finding, Series};
use super::limit::Limiter;
use std::fmt::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};


/// OTLP severity number of spike events (WARN).
const SEVERITY_WARN: i32 = 13;

// What the detector of the export thread published for the metrics and the exit summary.
static STARTED: AtomicBool = AtomicBool::new(false);
static EMITTED: AtomicU64 = AtomicU64::new(0);
static SUPPRESSED: AtomicU64 = AtomicU64::new(0);
/// The body of the first spike event emitted, for the exit summary.
static FIRST: OnceLock<String> = OnceLock::new();
/// Current rate limit in events per minute, as `f64` bits.
static RATE: AtomicU64 = AtomicU64::new(0);

/// Spike events emitted so far, and the body of the first one.
pub(crate) fn emitted() -> (u64, Option<&'static str>) {
    (EMITTED.load(Relaxed), FIRST.get().map(String::as_str))
}

/// Spikes as a part: the spike counters and the spikes line of the exit summary.
pub(crate) const SOURCE: Source = Source {
    series: collect,
    summary,
    ..Source::NONE
};

/// Appends the spike counters, once detection runs.
pub(crate) fn collect(out: &mut Vec<Metric>) {
    if !STARTED.load(Relaxed) {
        return;
    }
    out.push(Metric::new(
        "rtscope.spikes.emitted",
        "{event}",
        "Spike events emitted.",
        Data::Counter(EMITTED.load(Relaxed).into()),
    ));
    out.push(Metric::new(
        "rtscope.spikes.suppressed",
        "{event}",
        "Spike events dropped by the rate limit.",
        Data::Counter(SUPPRESSED.load(Relaxed).into()),
    ));
    out.push(Metric::new(
        "rtscope.spikes.rate_limit",
        "{event}/min",
        "Spike events allowed per minute now (halved in storms).",
        Data::Gauge(f64::from_bits(RATE.load(Relaxed)).into()),
    ));
}

/// Every watched series with its totals now.
fn inputs() -> Vec<(SpikeKind, String, HistogramSnapshot)> {
    let sched = crate::task::stats();
    let mut v = vec![
        (SpikeKind::Schedule, "task".to_owned(), sched.task_delay),
        (SpikeKind::Schedule, "probe".to_owned(), sched.probe_delay),
        (SpikeKind::Poll, "task".to_owned(), sched.poll_duration),
        (
            SpikeKind::Timer,
            "lateness".to_owned(),
            crate::time::stats().lateness,
        ),
    ];
    for (_, name, h) in latency::all() {
        v.push((SpikeKind::Latency, name.to_owned(), h));
    }
    v
}

/// `50ms`, `1s`, `200µs`: a bucket bound.
fn fmt_ns(ns: u64) -> String {
    if ns >= 1_000_000_000 && ns.is_multiple_of(1_000_000_000) {
        format!("{}s", ns / 1_000_000_000)
    } else if ns >= 1_000_000 && ns.is_multiple_of(1_000_000) {
        format!("{}ms", ns / 1_000_000)
    } else {
        format!("{}µs", ns / 1_000)
    }
}

/// `(20ms, 50ms]`, `(10s, +inf)`.
fn bucket_range(f: &Finding) -> String {
    let lower = fmt_ns(u64::try_from(f.max_lower().as_nanos()).unwrap_or(u64::MAX));
    match f.max_upper() {
        Some(up) => format!(
            "({lower}, {}]",
            fmt_ns(u64::try_from(up.as_nanos()).unwrap_or(u64::MAX))
        ),
        None => format!("({lower}, +inf)"),
    }
}

/// Detection state: the settings, one state per series, the window baseline, the limiter.
/// The export pipeline owns the one detector, made from the [`Config`](crate::config::Config)
/// the agent was installed with.
#[derive(Debug)]
pub(crate) struct Detector {
    settings: SpikeSettings,
    series: Vec<Series>,
    baseline: Option<Baseline>,
    limiter: Limiter,
}

impl Detector {
    /// A detector whose first window starts now: made when the agent is installed (on the
    /// installing thread), so a measurement right after install is in a window, and a fixed
    /// threshold applies to it; what was measured before is not.
    pub(crate) fn new(settings: SpikeSettings) -> Detector {
        let mut d = Detector {
            limiter: Limiter::new(settings.burst, settings.rate_per_minute),
            settings,
            series: Vec::new(),
            baseline: None,
        };
        if d.settings.enabled {
            agent_scope(|| d.start(Totals::read(), inputs()));
        }
        d
    }

    /// Starts the first window at `totals` and `inputs`, the cumulative values now.
    fn start(&mut self, totals: Totals, inputs: Vec<(SpikeKind, String, HistogramSnapshot)>) {
        self.baseline = Some(Baseline::new(totals));
        self.series.clear();
        for (kind, name, h) in inputs {
            self.series.push(Series::new(kind, &name, h));
        }
    }

    /// Appends the spike events of the window that just ended and publishes the counters.
    /// Called on every collection tick on the export thread, after the sampler's tick:
    /// `recent` is its estimated bytes per scope in the window, largest first; `stack` names
    /// the window's top allocating stack (its leaf function and estimated bytes), asked only
    /// when an event is emitted.
    pub(crate) fn drain(
        &mut self,
        out: &mut Vec<LogEvent>,
        recent: &[(String, u64)],
        stack: impl FnOnce() -> Option<(String, u64)>,
    ) {
        agent_scope(|| {
            let start = out.len();
            self.window(
                out,
                Totals::read(),
                inputs(),
                || (context::top_scopes(recent), stack()),
                now_nanos(),
            );
            if let Some(e) = out.get(start) {
                let _ = FIRST.set(e.body.clone());
            }
            STARTED.store(true, Relaxed);
            EMITTED.store(self.limiter.emitted_total, Relaxed);
            SUPPRESSED.store(self.limiter.suppressed_total, Relaxed);
            RATE.store(self.limiter.rate_per_minute().to_bits(), Relaxed);
        })
    }

    /// Ends a window: `totals` and `inputs` are the cumulative values now. Appends at most
    /// one event per series that went over its threshold, within the rate limit. `sampled`
    /// is asked for the top sampled scopes and the top allocating stack only when an event
    /// is emitted.
    pub(crate) fn window(
        &mut self,
        out: &mut Vec<LogEvent>,
        totals: Totals,
        inputs: Vec<(SpikeKind, String, HistogramSnapshot)>,
        sampled: impl FnOnce() -> (Vec<(String, u64)>, Option<(String, u64)>),
        time_unix_nano: u64,
    ) {
        if !self.settings.enabled {
            // Off: forget everything, so that turning it on starts from a fresh baseline.
            self.baseline = None;
            self.series.clear();
            return;
        }
        let Some(baseline) = self.baseline.as_mut() else {
            // Turned on since the last window: the totals so far are not a window.
            self.start(totals, inputs);
            return;
        };
        let mut findings = Vec::new();
        for (kind, name, h) in inputs {
            let i = match self
                .series
                .iter()
                .position(|s| s.kind == kind && s.name == name)
            {
                Some(i) => i,
                None => {
                    // A latency name first used in this window: its totals started at zero.
                    self.series
                        .push(Series::new(kind, &name, HistogramSnapshot::default()));
                    self.series.len() - 1
                }
            };
            let fixed = self.settings.fixed(kind, &name);
            let s = &mut self.series[i];
            if let Some(f) = s.observe(h, fixed, self.settings.floor, self.settings.p99_factor) {
                findings.push(f);
            }
        }
        let seconds = totals
            .at
            .saturating_duration_since(baseline.at())
            .as_secs_f64();
        let span = baseline.mono()..totals.mono;
        let mut ctx = baseline.advance(totals);
        self.limiter.refill(seconds);
        // The most severe first: they get the tokens.
        findings.sort_by(|a, b| b.severity().total_cmp(&a.severity()));
        let mut suppressed = 0;
        let mut sampled = Some(sampled);
        for f in findings {
            let Some(before) = self.limiter.admit() else {
                suppressed += 1;
                continue;
            };
            if let Some(get) = sampled.take() {
                (ctx.scopes, ctx.stack) = get();
            }
            out.push(event(&f, &ctx, before, time_unix_nano, span.clone()));
        }
        self.limiter.end_window(suppressed);
    }
}

/// The `rust.spike` log record of a finding made in the window `window` (monotonic ns).
fn event(
    f: &Finding,
    ctx: &context::Context,
    suppressed: u64,
    time_unix_nano: u64,
    window: std::ops::Range<u64>,
) -> LogEvent {
    let int = |v: u64| Value::Int(i64::try_from(v).unwrap_or(i64::MAX));
    let threshold_ns = BOUNDS_NS[f.threshold_bound];
    let mut attributes: Vec<(String, Value)> = vec![
        ("rust.spike.kind".into(), Value::Str(f.kind.as_str().into())),
        ("rust.spike.name".into(), Value::Str(f.name.clone())),
        ("rust.spike.max_bucket".into(), Value::Str(bucket_range(f))),
        ("rust.spike.threshold_us".into(), int(threshold_ns / 1_000)),
        (
            "rust.spike.threshold.source".into(),
            Value::Str(f.source.as_str().into()),
        ),
        ("rust.spike.count_above".into(), int(f.above)),
        ("rust.spike.count".into(), int(f.count)),
        ("rust.spike.suppressed".into(), int(suppressed)),
    ];
    if let Some(up) = f.max_upper() {
        attributes.push((
            "rust.spike.max_us".into(),
            int(u64::try_from(up.as_micros()).unwrap_or(u64::MAX)),
        ));
    }
    ctx.attributes(&mut attributes);
    let what = match f.kind {
        SpikeKind::Schedule => format!("scheduler delay ({})", f.name),
        SpikeKind::Poll => "task poll duration".to_owned(),
        SpikeKind::Timer => "timer lateness".to_owned(),
        SpikeKind::Latency => format!("latency '{}'", f.name),
    };
    let mut body = format!(
        "spike in {what}: {} of {} observations over {} (max in {})\n{}",
        f.above,
        f.count,
        fmt_ns(threshold_ns),
        bucket_range(f),
        ctx.describe()
    );
    if suppressed > 0 {
        body.push_str(&format!("\n{suppressed} earlier spike event(s) suppressed"));
    }
    LogEvent {
        name: SPIKE_EVENT,
        time_unix_nano,
        severity: SEVERITY_WARN,
        body,
        attributes,
        trace: trace_of(f, window),
    }
}

/// A latency spike's trace: that of a measurement over the threshold in the spike's own
/// window that carried one, the slowest such (its bucket's exemplar, recorded in the
/// window); none if every measurement over it was made outside any trace. Other kinds have
/// none.
fn trace_of(f: &Finding, window: std::ops::Range<u64>) -> Option<([u8; 16], [u8; 8])> {
    if f.kind != SpikeKind::Latency {
        return None;
    }
    let over = f.threshold_bound + 1..=f.max_bucket;
    let e = latency::exemplar_in(latency::id_of(&f.name)?, over, window)?;
    Some((e.trace_id, e.span_id))
}

/// The spikes line of the exit summary.
fn summary(out: &mut String) {
    let (emitted, first) = emitted();
    if emitted == 0 {
        return;
    }
    let _ = write!(out, "  spikes: {emitted} emitted");
    if let Some(first) = first {
        // One part of the sentence a line, under the count.
        let _ = write!(out, "; the first:\n    {}", first.replace('\n', "\n    "));
    }
    out.push('\n');
}

impl SpikeSettings {
    /// The fixed threshold of a series, if any.
    fn fixed(&self, kind: SpikeKind, name: &str) -> Option<std::time::Duration> {
        if kind == SpikeKind::Latency
            && let Some((_, d)) = self.latency_thresholds.iter().find(|(n, _)| n == name)
        {
            return Some(*d);
        }
        self.thresholds[kind.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::latency::latency;
    use std::time::Duration;

    #[test]
    fn a_name_threshold_wins_over_the_kind() {
        let mut s = SpikeSettings::default();
        s.thresholds[SpikeKind::Latency.index()] = Some(Duration::from_millis(10));
        s.latency_thresholds = vec![("slow".to_owned(), Duration::from_secs(1))];
        assert_eq!(
            s.fixed(SpikeKind::Latency, "slow"),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            s.fixed(SpikeKind::Latency, "fast"),
            Some(Duration::from_millis(10))
        );
        assert_eq!(s.fixed(SpikeKind::Timer, "slow"), None);
    }

    /// Only the named latencies can fire: every kind's threshold is at the 10 s bound.
    fn settings(names: &[&str], burst: u32) -> SpikeSettings {
        SpikeSettings {
            burst,
            rate_per_minute: 6.0,
            thresholds: [Some(Duration::from_secs(10)); 4],
            latency_thresholds: names
                .iter()
                .map(|n| ((*n).to_owned(), Duration::from_millis(10)))
                .collect(),
            ..SpikeSettings::default()
        }
    }

    fn window(d: &mut Detector) -> Vec<LogEvent> {
        let mut out = Vec::new();
        d.window(
            &mut out,
            Totals::read(),
            inputs(),
            || {
                (
                    vec![("parse".to_owned(), 4096), ("db".to_owned(), 10)],
                    Some(("myapp::render".to_owned(), 2048)),
                )
            },
            1,
        );
        out
    }

    fn attr<'a>(e: &'a LogEvent, key: &str) -> Option<&'a Value> {
        e.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn named<'a>(events: &'a [LogEvent], name: &str) -> Vec<&'a LogEvent> {
        events
            .iter()
            .filter(|e| attr(e, "rust.spike.name") == Some(&Value::Str(name.to_owned())))
            .collect()
    }

    #[test]
    fn one_event_per_window_over_the_threshold_with_context() {
        let name = "unit-spike-request";
        latency(name, Duration::from_millis(40)); // before the detector: in no window
        let mut d = Detector::new(settings(&[name], 5));
        assert!(
            named(&window(&mut d), name).is_empty(),
            "what was measured before the detector is in no window"
        );
        for _ in 0..10 {
            latency(name, Duration::from_millis(1));
        }
        latency(name, Duration::from_millis(30));
        latency(name, Duration::from_millis(35));
        let events = window(&mut d);
        let mine = named(&events, name);
        assert_eq!(mine.len(), 1, "{events:#?}");
        let e = mine[0];
        assert_eq!(e.name, "rust.spike");
        assert_eq!(e.severity, 13);
        assert_eq!(
            attr(e, "rust.spike.kind"),
            Some(&Value::Str("latency".into()))
        );
        assert_eq!(attr(e, "rust.spike.count"), Some(&Value::Int(12)));
        assert_eq!(attr(e, "rust.spike.count_above"), Some(&Value::Int(2)));
        assert_eq!(
            attr(e, "rust.spike.threshold_us"),
            Some(&Value::Int(10_000))
        );
        assert_eq!(
            attr(e, "rust.spike.threshold.source"),
            Some(&Value::Str("fixed".into()))
        );
        assert_eq!(
            attr(e, "rust.spike.max_bucket"),
            Some(&Value::Str("(20ms, 50ms]".into()))
        );
        assert_eq!(attr(e, "rust.spike.max_us"), Some(&Value::Int(50_000)));
        assert_eq!(attr(e, "rust.spike.suppressed"), Some(&Value::Int(0)));
        assert_eq!(attr(e, "rust.scope"), Some(&Value::Str("parse".into())));
        assert_eq!(
            attr(e, "rust.scope.top"),
            Some(&Value::Str("parse:4096,db:10".into()))
        );
        for key in [
            "rust.spike.window_ms",
            "rust.memory.allocations",
            "rust.memory.allocated",
            "rust.memory.allocation_rate",
            "rust.timer.fired",
        ] {
            assert!(attr(e, key).is_some(), "{key} missing: {e:#?}");
        }
        assert!(
            e.body.starts_with(
                "spike in latency 'unit-spike-request': 2 of 12 observations over 10ms"
            ),
            "{}",
            e.body
        );
        assert!(e.body.contains("top sampled scope parse"), "{}", e.body);
        // A headline, then the window's parts, each on a line of its own.
        assert!(e.body.lines().count() >= 4, "{}", e.body);
        assert!(e.body.lines().all(|l| l.len() < 160), "{}", e.body);
        // Nothing new over the threshold: no event.
        latency(name, Duration::from_millis(2));
        assert!(named(&window(&mut d), name).is_empty());
    }

    #[test]
    fn rate_limit_suppresses_counts_and_reports() {
        let names: Vec<String> = (0..5).map(|i| format!("unit-spike-rl-{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut d = Detector::new(settings(&refs, 2));
        let _ = window(&mut d);
        for n in &names {
            latency(n, Duration::from_millis(30));
        }
        let events = window(&mut d);
        let mine: usize = refs.iter().map(|n| named(&events, n).len()).sum();
        assert_eq!(mine, 2, "the burst");
        assert_eq!(d.limiter.suppressed_total, 3);
        // Still no tokens: suppressed too, and the rate halves again.
        latency(&names[0], Duration::from_millis(30));
        assert!(named(&window(&mut d), &names[0]).is_empty());
        assert_eq!(d.limiter.suppressed_total, 4);
        assert_eq!(d.limiter.rate_per_minute(), 1.5);
        // Ten minutes later the bucket is full again; the next event reports the four.
        latency(&names[1], Duration::from_millis(30));
        let mut later = Totals::read();
        later.at += Duration::from_secs(600);
        let mut out = Vec::new();
        d.window(&mut out, later, inputs(), Default::default, 1);
        let e = named(&out, &names[1]);
        assert_eq!(e.len(), 1);
        assert_eq!(attr(e[0], "rust.spike.suppressed"), Some(&Value::Int(4)));
        assert!(e[0].body.contains("4 earlier spike event(s) suppressed"));
        assert_eq!(
            attr(e[0], "rust.scope"),
            None,
            "no sampled scopes: none listed"
        );
    }

    /// A fixed threshold needs no history: a measurement right after the detector starts
    /// (the agent's install) spikes in the first window.
    #[test]
    fn a_fixed_threshold_spikes_from_the_first_window() {
        let name = "unit-spike-first";
        let mut d = Detector::new(settings(&[name], 5));
        latency(name, Duration::from_millis(30));
        assert_eq!(named(&window(&mut d), name).len(), 1);
    }

    /// A spike carries the trace of a measurement over the threshold in its own window, or
    /// none: not that of an earlier window's exemplar in the same bucket.
    #[test]
    #[cfg(feature = "opentelemetry")]
    fn a_spike_carries_the_trace_of_its_own_window_or_none() {
        use crate::base::attribution::replace_trace;
        let name = "unit-spike-trace";
        let a = ([7; 16], [8; 8]);
        let mut d = Detector::new(settings(&[name], 5));
        let before = replace_trace(Some(a));
        latency(name, Duration::from_millis(30));
        replace_trace(before);
        let first = window(&mut d);
        assert_eq!(named(&first, name)[0].trace, Some(a));
        // Outside any trace, same bucket, the next window: no trace.
        latency(name, Duration::from_millis(30));
        let second = window(&mut d);
        assert_eq!(named(&second, name)[0].trace, None, "{second:#?}");
        // Traced below the threshold, untraced above it: none either.
        let before = replace_trace(Some(a));
        latency(name, Duration::from_millis(2));
        replace_trace(before);
        latency(name, Duration::from_millis(30));
        assert_eq!(named(&window(&mut d), name)[0].trace, None);
    }

    #[test]
    fn disabled_emits_nothing() {
        let name = "unit-spike-off";
        let mut s = settings(&[name], 5);
        s.enabled = false;
        let mut d = Detector::new(s);
        let _ = window(&mut d);
        latency(name, Duration::from_millis(30));
        assert!(window(&mut d).is_empty());
    }

    #[test]
    fn bounds_format() {
        assert_eq!(fmt_ns(50_000_000), "50ms");
        assert_eq!(fmt_ns(2_000_000_000), "2s");
        assert_eq!(fmt_ns(5_000), "5µs");
    }
}
