//! Encoding of collected series as OTLP protobuf messages (`opentelemetry-proto` types).
//!
//! Histograms carry our exact bucket counts, which the OpenTelemetry SDK cannot accept
//! (0.33 has no way to export pre-aggregated histograms), so every metric is encoded here and
//! one request carries one consistent snapshot.

use crate::config::{Config, Temporality};
use crate::model::events::LogEvent;
use crate::model::series::{Data, Metric, Number, Value};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric as PMetric,
    NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

pub(crate) fn kv(key: &str, value: Value) -> KeyValue {
    let value = match value {
        Value::Str(s) => any_value::Value::StringValue(s),
        Value::Int(i) => any_value::Value::IntValue(i),
    };
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// The resource every request carries: the service, the process and the user's attributes.
pub(crate) fn resource(config: &Config) -> Resource {
    #[cfg(feature = "opentelemetry")]
    if let Some(app) = &config.resource {
        // The application's resource, exactly: its data and rtscope's are one resource.
        return Resource {
            attributes: app
                .iter()
                .map(|(k, v)| KeyValue {
                    key: k.as_str().to_owned(),
                    value: Some(v.clone().into()),
                    key_strindex: 0,
                })
                .collect(),
            ..Default::default()
        };
    }
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let mut attrs = vec![
        kv("service.name", config.service_name.as_str().into()),
        kv("process.pid", Value::Int(i64::from(std::process::id()))),
        kv("process.executable.name", exe.into()),
        kv("process.runtime.name", "rust".into()),
        kv(
            "process.runtime.version",
            env!("RTSCOPE_RUSTC_VERSION").into(),
        ),
        kv("telemetry.sdk.name", "rtscope".into()),
        kv("telemetry.sdk.language", "rust".into()),
        kv("telemetry.sdk.version", env!("CARGO_PKG_VERSION").into()),
    ];
    for (k, v) in &config.resource_attributes {
        attrs.retain(|a| &a.key != k);
        attrs.push(kv(k, v.as_str().into()));
    }
    Resource {
        attributes: attrs,
        ..Default::default()
    }
}

pub(crate) fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Identity of one series: metric name and attributes.
type SeriesKey = (&'static str, Vec<(&'static str, Value)>);

/// Turns cumulative series into requests of the configured temporality.
///
/// For delta, every request's intervals start where the previous request that may have
/// arrived ended ([`Encoder::sent`]): deltas never overlap, so nothing is ever counted twice.
/// A request that certainly did not arrive (see `SendError::maybe_delivered`) leaves the
/// baseline where it was, so the next request carries its data, over the longer interval. A
/// request that may have arrived is never re-sent (a collector that answers after the
/// timeout still keeps it); what it carried is added to `rtscope.export.lost`, which every
/// later request carries as a cumulative sum, so the report of a loss cannot itself be lost.
/// Events (log records) that may have arrived are counted there too, under any temporality.
#[derive(Debug)]
pub(crate) struct Encoder {
    resource: Resource,
    temporality: Temporality,
    start_nanos: u64,
    /// Delta only: the cumulative values of the last request sent and when they were taken.
    baseline: HashMap<SeriesKey, Data>,
    baseline_nanos: u64,
    pending: Option<Pending>,
    /// Per metric, what delta requests that may have arrived but were not confirmed carried
    /// (counts, bytes, histogram observations); per event name, the events of such logs
    /// requests. Cumulative.
    lost: BTreeMap<&'static str, u64>,
    /// Delta only: requests that may have arrived but were not confirmed.
    unconfirmed: u64,
}

/// What became of the last request [`Encoder::encode`] made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sent {
    /// The collector accepted it.
    Confirmed,
    /// It certainly did not arrive: the next request carries its data.
    NotDelivered,
    /// It may have arrived: not re-sent, counted as lost.
    MaybeDelivered,
}

/// The last request encoded and not yet [`sent`](Encoder::sent).
#[derive(Debug)]
struct Pending {
    baseline: HashMap<SeriesKey, Data>,
    at: u64,
    /// Per metric, the integer deltas (histograms: observations) the request carries.
    carried: BTreeMap<&'static str, u64>,
}

/// The self-telemetry series of delta data lost (see [`Encoder`]).
pub(crate) const LOST_METRIC: &str = "rtscope.export.lost";

impl Encoder {
    pub(crate) fn new(config: &Config) -> Self {
        let start = now_nanos();
        Encoder {
            resource: resource(config),
            temporality: config.temporality,
            start_nanos: start,
            baseline: HashMap::new(),
            baseline_nanos: start,
            pending: None,
            lost: BTreeMap::new(),
            unconfirmed: 0,
        }
    }

    /// Encodes `metrics` taken at `now`. Call [`Encoder::sent`] once it was attempted.
    pub(crate) fn encode(&mut self, metrics: &[Metric], now: u64) -> ExportMetricsServiceRequest {
        let delta = self.temporality == Temporality::Delta;
        let mut out: Vec<PMetric> = Vec::new();
        let mut index: HashMap<&'static str, usize> = HashMap::new();
        let mut next_baseline = HashMap::new();
        let mut carried = BTreeMap::new();
        for m in metrics {
            let key = (m.name, m.attributes.clone());
            let attributes: Vec<KeyValue> =
                m.attributes.iter().map(|(k, v)| kv(k, v.clone())).collect();
            let (start, data) = match (&m.data, delta) {
                (Data::Counter(_) | Data::Histogram { .. }, true) => {
                    let prev = self.baseline.get(&key);
                    next_baseline.insert(key, m.data.clone());
                    let d = subtract(&m.data, prev);
                    let amount = match &d {
                        Data::Counter(Number::Int(v)) => Some(*v),
                        Data::Histogram { count, .. } => Some(*count),
                        _ => None,
                    };
                    if let Some(v) = amount {
                        let c: &mut u64 = carried.entry(m.name).or_default();
                        *c = c.saturating_add(v);
                    }
                    (self.baseline_nanos, d)
                }
                _ => (self.start_nanos, m.data.clone()),
            };
            let pm = match index.get(m.name) {
                Some(&i) => &mut out[i],
                None => {
                    index.insert(m.name, out.len());
                    out.push(empty_metric(m, delta));
                    out.last_mut().expect("just pushed")
                }
            };
            push_point(pm, attributes, start, now, data);
            if let Some(metric::Data::Histogram(h)) = pm.data.as_mut()
                && let Some(point) = h.data_points.last_mut()
            {
                point.exemplars = m.exemplars.iter().map(exemplar).collect();
            }
        }
        if !self.lost.is_empty() {
            out.push(self.lost_metric(now));
        }
        if delta {
            self.pending = Some(Pending {
                baseline: next_baseline,
                at: now,
                carried,
            });
        }
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(self.resource.clone()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(scope()),
                    metrics: out,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    /// Events as one logs request with the same resource and scope as the metrics.
    /// The heap profile as an OTLP Profiles request (`v1development`), on this resource.
    #[cfg(feature = "profiles")]
    pub(crate) fn encode_profiles(
        &self,
    ) -> opentelemetry_proto::tonic::collector::profiles::v1development::ExportProfilesServiceRequest
    {
        use opentelemetry_proto::tonic::profiles::v1development::{
            ResourceProfiles, ScopeProfiles,
        };
        let (dictionary, profiles) = crate::profile::otlp_profiles();
        opentelemetry_proto::tonic::collector::profiles::v1development::ExportProfilesServiceRequest {
            resource_profiles: vec![ResourceProfiles {
                resource: Some(self.resource.clone()),
                scope_profiles: vec![ScopeProfiles {
                    scope: Some(scope()),
                    profiles,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
            dictionary: Some(dictionary),
        }
    }

    pub(crate) fn encode_logs(&self, events: &[LogEvent]) -> ExportLogsServiceRequest {
        let records = events
            .iter()
            .map(|e| LogRecord {
                time_unix_nano: e.time_unix_nano,
                observed_time_unix_nano: e.time_unix_nano,
                severity_number: e.severity,
                severity_text: if e.severity >= 13 { "WARN" } else { "INFO" }.into(),
                body: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(e.body.clone())),
                }),
                attributes: e.attributes.iter().map(|(k, v)| kv(k, v.clone())).collect(),
                event_name: e.name.into(),
                trace_id: e.trace.map_or_else(Vec::new, |(t, _)| t.to_vec()),
                span_id: e.trace.map_or_else(Vec::new, |(_, s)| s.to_vec()),
                ..Default::default()
            })
            .collect();
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(self.resource.clone()),
                scope_logs: vec![ScopeLogs {
                    scope: Some(scope()),
                    log_records: records,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    /// The last encoded request was attempted, with `outcome`. Unless it certainly did not
    /// arrive, the next deltas start where its intervals ended; if it may have arrived
    /// unconfirmed, what it carried is counted as lost.
    pub(crate) fn sent(&mut self, outcome: Sent) {
        let Some(p) = self.pending.take() else { return };
        if outcome == Sent::NotDelivered {
            return;
        }
        self.baseline = p.baseline;
        self.baseline_nanos = p.at;
        if outcome == Sent::MaybeDelivered {
            self.unconfirmed += 1;
            for (name, v) in p.carried.into_iter().filter(|&(_, v)| v > 0) {
                let l = self.lost.entry(name).or_default();
                *l = l.saturating_add(v);
            }
        }
    }

    /// Events of a logs request that may have arrived unconfirmed: not re-sent (they might
    /// arrive twice), counted per event name in `rtscope.export.lost`.
    pub(crate) fn events_lost(&mut self, events: &[LogEvent]) {
        for e in events {
            let l = self.lost.entry(e.name).or_default();
            *l = l.saturating_add(1);
        }
    }

    /// Per metric (and event name), what may have arrived unconfirmed so far.
    pub(crate) fn lost(&self) -> &BTreeMap<&'static str, u64> {
        &self.lost
    }

    /// Delta requests that may have arrived but were not confirmed (0 under cumulative).
    pub(crate) fn unconfirmed(&self) -> u64 {
        self.unconfirmed
    }

    /// `rtscope.export.lost`, one cumulative point per metric (or event name) that lost data.
    fn lost_metric(&self, now: u64) -> PMetric {
        let data_points = self
            .lost
            .iter()
            .map(|(name, &v)| NumberDataPoint {
                attributes: vec![kv("rtscope.metric", (*name).into())],
                start_time_unix_nano: self.start_nanos,
                time_unix_nano: now,
                value: Some(as_number(Number::Int(v))),
                ..Default::default()
            })
            .collect();
        PMetric {
            name: LOST_METRIC.into(),
            description: "What exports that may have arrived but were not confirmed \
                          carried, per metric (delta only; in that metric's unit; histograms: \
                          observations) and per event name (log records). Not re-sent; some \
                          of it may have arrived. Always cumulative."
                .into(),
            unit: "1".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points,
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        }
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "rtscope".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

/// `now - prev` for cumulative counters and histograms.
fn subtract(now: &Data, prev: Option<&Data>) -> Data {
    match (now, prev) {
        (Data::Counter(Number::Int(v)), Some(Data::Counter(Number::Int(p)))) => {
            Data::Counter(Number::Int(v.saturating_sub(*p)))
        }
        (Data::Counter(Number::Real(v)), Some(Data::Counter(Number::Real(p)))) => {
            Data::Counter(Number::Real((v - p).max(0.0)))
        }
        (
            Data::Histogram {
                bounds,
                counts,
                count,
                sum,
            },
            Some(Data::Histogram {
                counts: pc,
                count: pn,
                sum: ps,
                ..
            }),
        ) if pc.len() == counts.len() => Data::Histogram {
            bounds: bounds.clone(),
            counts: counts
                .iter()
                .zip(pc)
                .map(|(a, b)| a.saturating_sub(*b))
                .collect(),
            count: count.saturating_sub(*pn),
            // NaN (a sum not known) stays NaN.
            sum: if sum.is_nan() {
                *sum
            } else {
                (sum - ps).max(0.0)
            },
        },
        (d, _) => d.clone(),
    }
}

fn empty_metric(m: &Metric, delta: bool) -> PMetric {
    let temporality = if delta {
        AggregationTemporality::Delta
    } else {
        AggregationTemporality::Cumulative
    } as i32;
    let data = match m.data {
        Data::Counter(_) => metric::Data::Sum(Sum {
            data_points: vec![],
            aggregation_temporality: temporality,
            is_monotonic: true,
        }),
        // Non-monotonic sums stay cumulative under a delta preference (OTel spec).
        Data::UpDown(_) => metric::Data::Sum(Sum {
            data_points: vec![],
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: false,
        }),
        Data::Gauge(_) => metric::Data::Gauge(Gauge {
            data_points: vec![],
        }),
        Data::Histogram { .. } => metric::Data::Histogram(Histogram {
            data_points: vec![],
            aggregation_temporality: temporality,
        }),
    };
    PMetric {
        name: m.name.into(),
        description: m.description.into(),
        unit: m.unit.into(),
        data: Some(data),
        ..Default::default()
    }
}

fn exemplar(
    e: &crate::model::series::Exemplar,
) -> opentelemetry_proto::tonic::metrics::v1::Exemplar {
    use opentelemetry_proto::tonic::metrics::v1::exemplar;
    opentelemetry_proto::tonic::metrics::v1::Exemplar {
        time_unix_nano: e.time_unix_nano,
        trace_id: e.trace_id.to_vec(),
        span_id: e.span_id.to_vec(),
        value: Some(exemplar::Value::AsDouble(e.value)),
        ..Default::default()
    }
}

fn push_point(pm: &mut PMetric, attributes: Vec<KeyValue>, start: u64, now: u64, data: Data) {
    let number = |v: Number| NumberDataPoint {
        attributes: attributes.clone(),
        start_time_unix_nano: start,
        time_unix_nano: now,
        value: Some(as_number(v)),
        ..Default::default()
    };
    match (pm.data.as_mut(), data) {
        (Some(metric::Data::Sum(s)), Data::Counter(v) | Data::UpDown(v)) => {
            s.data_points.push(number(v))
        }
        (Some(metric::Data::Gauge(g)), Data::Gauge(v)) => g.data_points.push(NumberDataPoint {
            start_time_unix_nano: 0,
            ..number(v)
        }),
        (
            Some(metric::Data::Histogram(h)),
            Data::Histogram {
                bounds,
                counts,
                count,
                sum,
            },
        ) => h.data_points.push(HistogramDataPoint {
            attributes,
            start_time_unix_nano: start,
            time_unix_nano: now,
            count,
            sum: (!sum.is_nan()).then_some(sum),
            bucket_counts: counts,
            explicit_bounds: bounds,
            ..Default::default()
        }),
        // A source reported one name with two kinds: keep the first, drop the odd point.
        _ => {}
    }
}

/// Counts as integers (exact on the wire; a count past `i64::MAX` saturates), reals as doubles.
fn as_number(v: Number) -> number_data_point::Value {
    match v {
        Number::Int(i) => number_data_point::Value::AsInt(i64::try_from(i).unwrap_or(i64::MAX)),
        Number::Real(r) => number_data_point::Value::AsDouble(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(temporality: Temporality) -> Config {
        let (mut config, _) = crate::config::resolve(&Default::default(), |_| None::<String>);
        config.temporality = temporality;
        config
    }

    /// The point of series `name` in `req`.
    /// The metric `name` of the request, if it carries one.
    fn sent_metric<'a>(
        req: &'a ExportMetricsServiceRequest,
        name: &str,
    ) -> Option<&'a opentelemetry_proto::tonic::metrics::v1::Metric> {
        req.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .find(|m| m.name == name)
    }

    fn point<'a>(req: &'a ExportMetricsServiceRequest, name: &str) -> &'a NumberDataPoint {
        let m = sent_metric(req, name).unwrap_or_else(|| panic!("no {name}"));
        match &m.data {
            Some(metric::Data::Sum(s)) => &s.data_points[0],
            Some(metric::Data::Gauge(g)) => &g.data_points[0],
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn counts_above_2_pow_53_are_exact_integers_on_the_wire() {
        let big = (1u64 << 53) + 1;
        // The kinds the allocator's series are (counters and an up-down counter of bytes).
        let metrics = vec![
            Metric::new("rust.memory.allocated", "By", "", Data::Counter(big.into())),
            Metric::new(
                "rust.memory.allocations",
                "{allocation}",
                "",
                Data::Counter((big + 2).into()),
            ),
            Metric::new("rust.memory.used", "By", "", Data::UpDown((big + 4).into())),
        ];
        for temporality in [Temporality::Cumulative, Temporality::Delta] {
            let mut enc = Encoder::new(&config(temporality));
            let req = enc.encode(&metrics, now_nanos());
            for (name, want) in [
                ("rust.memory.allocated", big),
                ("rust.memory.allocations", big + 2),
                ("rust.memory.used", big + 4),
            ] {
                assert_eq!(
                    point(&req, name).value,
                    Some(number_data_point::Value::AsInt(want as i64)),
                    "{name} under {temporality:?}"
                );
            }
        }
    }

    fn counter(v: u64) -> Vec<Metric> {
        vec![Metric::new(
            "rust.memory.allocations",
            "{allocation}",
            "",
            Data::Counter(v.into()),
        )]
    }

    #[test]
    fn a_histogram_without_a_known_sum_is_sent_without_one_in_either_temporality() {
        let histogram = |count: u64| {
            vec![Metric::new(
                "tokio.worker.poll_time",
                "s",
                "",
                Data::Histogram {
                    bounds: vec![0.001],
                    counts: vec![count, 1],
                    count: count + 1,
                    sum: f64::NAN,
                },
            )]
        };
        for temporality in [Temporality::Cumulative, Temporality::Delta] {
            let mut enc = Encoder::new(&config(temporality));
            for (i, count) in [4, 9].into_iter().enumerate() {
                let req = enc.encode(&histogram(count), enc.start_nanos + 10 * (i as u64 + 1));
                enc.sent(Sent::Confirmed);
                let m = sent_metric(&req, "tokio.worker.poll_time").unwrap();
                let Some(metric::Data::Histogram(h)) = &m.data else {
                    panic!("{m:?}")
                };
                let p = &h.data_points[0];
                assert_eq!(p.sum, None, "{temporality:?}");
                let want = match (temporality, i) {
                    (Temporality::Delta, 1) => vec![5, 0],
                    _ => vec![count, 1],
                };
                assert_eq!(p.bucket_counts, want, "{temporality:?}");
            }
        }
    }

    #[test]
    fn delta_intervals_chain_whether_or_not_a_request_was_confirmed() {
        let mut enc = Encoder::new(&config(Temporality::Delta));
        let t0 = enc.start_nanos;
        let (t1, t2, t3) = (t0 + 10, t0 + 20, t0 + 30);
        let req = enc.encode(&counter(10), t1);
        let p = point(&req, "rust.memory.allocations");
        assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (t0, t1));
        assert_eq!(p.value, Some(number_data_point::Value::AsInt(10)));
        // Not confirmed (it may have arrived): the next delta starts at t1, not t0.
        enc.sent(Sent::MaybeDelivered);
        let req = enc.encode(&counter(25), t2);
        let p = point(&req, "rust.memory.allocations");
        assert_eq!((p.start_time_unix_nano, p.time_unix_nano), (t1, t2));
        assert_eq!(p.value, Some(number_data_point::Value::AsInt(15)));
        // What the unconfirmed request carried is reported, cumulative.
        let lost = sent_metric(&req, LOST_METRIC).expect("lost series");
        let Some(metric::Data::Sum(sum)) = &lost.data else {
            panic!("{lost:?}")
        };
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        assert_eq!(
            sum.data_points[0].value,
            Some(number_data_point::Value::AsInt(10))
        );
        enc.sent(Sent::Confirmed);
        let req = enc.encode(&counter(26), t3);
        let p = point(&req, "rust.memory.allocations");
        assert_eq!(
            (p.start_time_unix_nano, p.value),
            (t2, Some(number_data_point::Value::AsInt(1)))
        );
        assert_eq!(enc.lost().get("rust.memory.allocations"), Some(&10));
        assert_eq!(enc.unconfirmed(), 1);
    }

    #[test]
    fn cumulative_never_loses_or_reports_loss() {
        let mut enc = Encoder::new(&config(Temporality::Cumulative));
        let _ = enc.encode(&counter(10), enc.start_nanos + 1);
        enc.sent(Sent::MaybeDelivered);
        let req = enc.encode(&counter(25), enc.start_nanos + 2);
        let p = point(&req, "rust.memory.allocations");
        assert_eq!(p.value, Some(number_data_point::Value::AsInt(25)));
        assert!(enc.lost().is_empty());
        assert!(sent_metric(&req, LOST_METRIC).is_none());
    }

    #[test]
    fn a_delta_that_certainly_did_not_arrive_is_carried_by_the_next_one_and_not_lost() {
        let mut enc = Encoder::new(&config(Temporality::Delta));
        let t0 = enc.start_nanos;
        let _ = enc.encode(&counter(10), t0 + 10);
        enc.sent(Sent::Confirmed);
        // Refused (connection refused, 503, Retry-After): the baseline stays at t0 + 10.
        let _ = enc.encode(&counter(25), t0 + 20);
        enc.sent(Sent::NotDelivered);
        let _ = enc.encode(&counter(30), t0 + 30);
        enc.sent(Sent::NotDelivered);
        let req = enc.encode(&counter(42), t0 + 40);
        let p = point(&req, "rust.memory.allocations");
        assert_eq!(
            (p.start_time_unix_nano, p.time_unix_nano),
            (t0 + 10, t0 + 40)
        );
        assert_eq!(p.value, Some(number_data_point::Value::AsInt(32)));
        enc.sent(Sent::Confirmed);
        assert!(enc.lost().is_empty());
        assert_eq!(enc.unconfirmed(), 0);
        assert!(sent_metric(&req, LOST_METRIC).is_none());
    }

    #[test]
    fn events_that_may_have_arrived_are_counted_lost_under_either_temporality() {
        let mut enc = Encoder::new(&config(Temporality::Cumulative));
        let event = LogEvent {
            name: "rust.memory.allocation.sample",
            time_unix_nano: 1,
            severity: 9,
            body: String::new(),
            attributes: Vec::new(),
            trace: None,
        };
        enc.events_lost(&[event.clone(), event]);
        let req = enc.encode(&counter(1), enc.start_nanos + 1);
        let lost = sent_metric(&req, LOST_METRIC).expect("lost series");
        let Some(metric::Data::Sum(sum)) = &lost.data else {
            panic!("{lost:?}")
        };
        assert_eq!(
            sum.data_points[0].value,
            Some(number_data_point::Value::AsInt(2))
        );
    }
}
