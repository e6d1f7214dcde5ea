//! Navigation of OTLP/JSON as the receiver writes it.
//!
//! The receiver turns each request into OTLP/JSON with protobuf's
//! `MessageToDict`: camelCase field names, 64-bit integers as strings
//! (`"count": "6"`), enums as integers (`"aggregationTemporality": 1`), and,
//! as in all proto3 JSON, fields at their default value left out (a count of
//! 0 has no `count` key). The helpers here read all of that back into plain
//! Rust values.

use std::collections::BTreeSet;
use std::ops::Deref;

use serde_json::Value;

/// A JSON value holding a 64-bit unsigned integer: a string (`"123"`, what
/// OTLP/JSON uses for 64-bit fields) or a number.
pub fn json_u64(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// Like [`json_u64`] for signed integers.
pub fn json_i64(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// A JSON value holding a double: a number, or one of the strings proto3
/// JSON uses for non-finite values (`"NaN"`, `"Infinity"`, `"-Infinity"`).
pub fn json_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

/// The `AnyValue` object of attribute `key` in a list of `KeyValue`s (the
/// `attributes` array of a resource, scope, data point or log record).
pub fn attribute<'a>(attributes: &'a Value, key: &str) -> Option<&'a Value> {
    attributes
        .as_array()?
        .iter()
        .find(|kv| kv.get("key").and_then(Value::as_str) == Some(key))?
        .get("value")
}

/// The string in an `AnyValue` (`{"stringValue": "..."}`).
pub fn any_value_str(v: &Value) -> Option<&str> {
    v.get("stringValue")?.as_str()
}

/// The integer in an `AnyValue` (`{"intValue": "42"}`).
pub fn any_value_i64(v: &Value) -> Option<i64> {
    json_i64(v.get("intValue")?)
}

/// The double in an `AnyValue` (`{"doubleValue": 1.5}`).
pub fn any_value_f64(v: &Value) -> Option<f64> {
    json_f64(v.get("doubleValue")?)
}

/// The bool in an `AnyValue` (`{"boolValue": true}`).
pub fn any_value_bool(v: &Value) -> Option<bool> {
    v.get("boolValue")?.as_bool()
}

/// `AggregationTemporality` of a sum or histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temporality {
    /// `AGGREGATION_TEMPORALITY_UNSPECIFIED` (0, or the field left out).
    Unspecified,
    /// `AGGREGATION_TEMPORALITY_DELTA` (1).
    Delta,
    /// `AGGREGATION_TEMPORALITY_CUMULATIVE` (2).
    Cumulative,
}

impl Temporality {
    /// Reads the integer (OTLP/JSON) or the enum name.
    pub fn from_json(v: &Value) -> Option<Self> {
        match v {
            Value::Number(n) => match n.as_u64()? {
                0 => Some(Temporality::Unspecified),
                1 => Some(Temporality::Delta),
                2 => Some(Temporality::Cumulative),
                _ => None,
            },
            Value::String(s) => match s.as_str() {
                "AGGREGATION_TEMPORALITY_UNSPECIFIED" => Some(Temporality::Unspecified),
                "AGGREGATION_TEMPORALITY_DELTA" => Some(Temporality::Delta),
                "AGGREGATION_TEMPORALITY_CUMULATIVE" => Some(Temporality::Cumulative),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Which kind of data a metric holds (the `data` oneof of `Metric`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// `gauge`
    Gauge,
    /// `sum`
    Sum,
    /// `histogram` (explicit buckets)
    Histogram,
    /// `exponentialHistogram`
    ExponentialHistogram,
    /// `summary`
    Summary,
}

impl MetricKind {
    const ALL: [(&'static str, MetricKind); 5] = [
        ("gauge", MetricKind::Gauge),
        ("sum", MetricKind::Sum),
        ("histogram", MetricKind::Histogram),
        ("exponentialHistogram", MetricKind::ExponentialHistogram),
        ("summary", MetricKind::Summary),
    ];

    /// The OTLP/JSON key of this kind in a `Metric` object.
    pub fn json_key(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map_or("", |(key, _)| key)
    }
}

/// One data point of a metric, with the metric, scope and resource it came
/// from.
///
/// It dereferences to the data point's own JSON object, so `p["count"]`
/// works as on the raw value; the typed accessors below decode OTLP/JSON's
/// conventions (64-bit ints as strings, defaults left out).
#[derive(Debug, Clone)]
pub struct DataPoint {
    request_index: usize,
    resource: Value,
    scope: Value,
    name: String,
    unit: String,
    description: String,
    kind: MetricKind,
    temporality: Option<Temporality>,
    monotonic: Option<bool>,
    point: Value,
}

impl Deref for DataPoint {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.point
    }
}

impl DataPoint {
    /// Index of the request (in arrival order) this point came in.
    pub fn request_index(&self) -> usize {
        self.request_index
    }

    /// The metric's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The metric's unit (`""` when not set).
    pub fn unit(&self) -> &str {
        &self.unit
    }

    /// The metric's description (`""` when not set).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The metric's data kind.
    pub fn kind(&self) -> MetricKind {
        self.kind
    }

    /// The aggregation temporality of a sum, histogram or exponential
    /// histogram (`Some(Unspecified)` when the field is left out); `None` for
    /// gauges and summaries.
    pub fn temporality(&self) -> Option<Temporality> {
        self.temporality
    }

    /// `isMonotonic` of a sum (`Some(false)` when left out); `None` for other
    /// kinds.
    pub fn is_monotonic(&self) -> Option<bool> {
        self.monotonic
    }

    /// The data point's JSON object.
    pub fn json(&self) -> &Value {
        &self.point
    }

    /// The `resource` object the point was sent under.
    pub fn resource_json(&self) -> &Value {
        &self.resource
    }

    /// The `scope` object (name, version, attributes) of the point.
    pub fn scope_json(&self) -> &Value {
        &self.scope
    }

    /// The instrumentation scope's name.
    pub fn scope_name(&self) -> Option<&str> {
        self.scope.get("name")?.as_str()
    }

    /// A resource attribute's `AnyValue`.
    pub fn resource_attr(&self, key: &str) -> Option<&Value> {
        attribute(self.resource.get("attributes")?, key)
    }

    /// A string resource attribute, e.g. `resource_str("service.name")`.
    pub fn resource_str(&self, key: &str) -> Option<&str> {
        any_value_str(self.resource_attr(key)?)
    }

    /// A data point attribute's `AnyValue`.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        attribute(self.point.get("attributes")?, key)
    }

    /// A string data point attribute.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        any_value_str(self.attr(key)?)
    }

    /// `startTimeUnixNano` (0 when left out).
    pub fn start_time_unix_nano(&self) -> u64 {
        self.u64_field("startTimeUnixNano")
    }

    /// `timeUnixNano` (0 when left out).
    pub fn time_unix_nano(&self) -> u64 {
        self.u64_field("timeUnixNano")
    }

    /// `count` of a histogram or summary point (0 when left out).
    pub fn count(&self) -> u64 {
        self.u64_field("count")
    }

    /// `sum` of a histogram or summary point (optional in the protocol).
    pub fn sum(&self) -> Option<f64> {
        json_f64(self.point.get("sum")?)
    }

    /// `min` of a histogram point.
    pub fn min(&self) -> Option<f64> {
        json_f64(self.point.get("min")?)
    }

    /// `max` of a histogram point.
    pub fn max(&self) -> Option<f64> {
        json_f64(self.point.get("max")?)
    }

    /// `bucketCounts` of a histogram point (empty when left out).
    ///
    /// # Panics
    ///
    /// If an entry is not a 64-bit unsigned integer.
    pub fn bucket_counts(&self) -> Vec<u64> {
        self.array("bucketCounts")
            .map(|v| json_u64(v).unwrap_or_else(|| panic!("bad bucket count {v}")))
            .collect()
    }

    /// `explicitBounds` of a histogram point (empty when left out).
    ///
    /// # Panics
    ///
    /// If an entry is not a double.
    pub fn explicit_bounds(&self) -> Vec<f64> {
        self.array("explicitBounds")
            .map(|v| json_f64(v).unwrap_or_else(|| panic!("bad bound {v}")))
            .collect()
    }

    /// The value of a sum or gauge point holding `asInt`.
    pub fn as_i64(&self) -> Option<i64> {
        json_i64(self.point.get("asInt")?)
    }

    /// The value of a sum or gauge point as a double (`asDouble`, or `asInt`
    /// converted).
    pub fn as_f64(&self) -> Option<f64> {
        match self.point.get("asDouble") {
            Some(v) => json_f64(v),
            None => self.as_i64().map(|i| i as f64),
        }
    }

    fn u64_field(&self, key: &str) -> u64 {
        self.point.get(key).and_then(json_u64).unwrap_or(0)
    }

    fn array(&self, key: &str) -> impl Iterator<Item = &Value> {
        self.point
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    }
}

/// Every `(request_index, resource, scope, metric)` in the requests.
fn each_metric(requests: &[Value]) -> impl Iterator<Item = (usize, &Value, &Value, &Value)> {
    requests.iter().enumerate().flat_map(|(i, req)| {
        iter_array(req, "resourceMetrics").flat_map(move |rm| {
            let resource = rm.get("resource").unwrap_or(&Value::Null);
            iter_array(rm, "scopeMetrics").flat_map(move |sm| {
                let scope = sm.get("scope").unwrap_or(&Value::Null);
                iter_array(sm, "metrics").map(move |m| (i, resource, scope, m))
            })
        })
    })
}

fn iter_array<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

/// Every metric object named `name` in the requests, in arrival order.
pub fn find_metrics<'a>(requests: &'a [Value], name: &str) -> Vec<&'a Value> {
    each_metric(requests)
        .filter(|(_, _, _, m)| m.get("name").and_then(Value::as_str) == Some(name))
        .map(|(_, _, _, m)| m)
        .collect()
}

/// The names of all metrics in the requests.
pub fn metric_names(requests: &[Value]) -> BTreeSet<String> {
    each_metric(requests)
        .filter_map(|(_, _, _, m)| m.get("name").and_then(Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// Every data point of the metric `name`, in arrival order.
pub fn metric_points(requests: &[Value], name: &str) -> Vec<DataPoint> {
    all_metric_points(requests)
        .into_iter()
        .filter(|p| p.name == name)
        .collect()
}

/// Every data point of every metric, in arrival order.
pub fn all_metric_points(requests: &[Value]) -> Vec<DataPoint> {
    let mut out = Vec::new();
    for (i, resource, scope, metric) in each_metric(requests) {
        let Some((kind, data)) = MetricKind::ALL
            .iter()
            .find_map(|(key, kind)| metric.get(*key).map(|d| (*kind, d)))
        else {
            continue;
        };
        let temporality = match kind {
            MetricKind::Sum | MetricKind::Histogram | MetricKind::ExponentialHistogram => Some(
                data.get("aggregationTemporality")
                    .and_then(Temporality::from_json)
                    .unwrap_or(Temporality::Unspecified),
            ),
            MetricKind::Gauge | MetricKind::Summary => None,
        };
        let monotonic = (kind == MetricKind::Sum).then(|| {
            data.get("isMonotonic")
                .and_then(Value::as_bool)
                .unwrap_or(false)
        });
        let text = |key: &str| {
            metric
                .get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        for point in iter_array(data, "dataPoints") {
            out.push(DataPoint {
                request_index: i,
                resource: resource.clone(),
                scope: scope.clone(),
                name: text("name"),
                unit: text("unit"),
                description: text("description"),
                kind,
                temporality,
                monotonic,
                point: point.clone(),
            });
        }
    }
    out
}

/// One log record with the resource and scope it came from.
///
/// Dereferences to the log record's JSON object.
#[derive(Debug, Clone)]
pub struct LogRecord {
    request_index: usize,
    resource: Value,
    scope: Value,
    record: Value,
}

impl Deref for LogRecord {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.record
    }
}

impl LogRecord {
    /// Index of the request (in arrival order) this record came in.
    pub fn request_index(&self) -> usize {
        self.request_index
    }

    /// The log record's JSON object.
    pub fn json(&self) -> &Value {
        &self.record
    }

    /// The `resource` object the record was sent under.
    pub fn resource_json(&self) -> &Value {
        &self.resource
    }

    /// The instrumentation scope's name.
    pub fn scope_name(&self) -> Option<&str> {
        self.scope.get("name")?.as_str()
    }

    /// A string resource attribute.
    pub fn resource_str(&self, key: &str) -> Option<&str> {
        any_value_str(attribute(self.resource.get("attributes")?, key)?)
    }

    /// A log record attribute's `AnyValue`.
    pub fn attr(&self, key: &str) -> Option<&Value> {
        attribute(self.record.get("attributes")?, key)
    }

    /// The body, when it is a string.
    pub fn body_str(&self) -> Option<&str> {
        any_value_str(self.record.get("body")?)
    }

    /// `severityText` (`""` when left out).
    pub fn severity_text(&self) -> &str {
        self.record
            .get("severityText")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// `severityNumber` (0 when left out).
    pub fn severity_number(&self) -> u64 {
        self.record
            .get("severityNumber")
            .and_then(json_u64)
            .unwrap_or(0)
    }
}

/// Every log record in the requests, in arrival order.
pub fn log_records(requests: &[Value]) -> Vec<LogRecord> {
    let mut out = Vec::new();
    for (i, req) in requests.iter().enumerate() {
        for rl in iter_array(req, "resourceLogs") {
            let resource = rl.get("resource").cloned().unwrap_or(Value::Null);
            for sl in iter_array(rl, "scopeLogs") {
                let scope = sl.get("scope").cloned().unwrap_or(Value::Null);
                for record in iter_array(sl, "logRecords") {
                    out.push(LogRecord {
                        request_index: i,
                        resource: resource.clone(),
                        scope: scope.clone(),
                        record: record.clone(),
                    });
                }
            }
        }
    }
    out
}

/// One span with the resource and scope it came from (an application SDK's, forwarded by
/// the collector).
///
/// Dereferences to the span's JSON object: `traceId` and `spanId` are base64, as
/// protobuf's JSON mapping writes `bytes`, the same spelling as on log records and exemplars.
#[derive(Debug, Clone)]
pub struct SpanRecord {
    resource: Value,
    scope: Value,
    span: Value,
}

impl Deref for SpanRecord {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.span
    }
}

impl SpanRecord {
    /// The span's name.
    pub fn name(&self) -> &str {
        self.span
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// `(traceId, spanId)` as sent (base64).
    pub fn ids(&self) -> (&str, &str) {
        let id = |k: &str| self.span.get(k).and_then(Value::as_str).unwrap_or_default();
        (id("traceId"), id("spanId"))
    }

    /// `parentSpanId` (base64, `""` for a root span).
    pub fn parent_span_id(&self) -> &str {
        self.span
            .get("parentSpanId")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The instrumentation scope's name.
    pub fn scope_name(&self) -> Option<&str> {
        self.scope.get("name")?.as_str()
    }

    /// A string resource attribute.
    pub fn resource_str(&self, key: &str) -> Option<&str> {
        any_value_str(attribute(self.resource.get("attributes")?, key)?)
    }
}

/// Every span in the trace requests, in arrival order.
pub fn spans(requests: &[Value]) -> Vec<SpanRecord> {
    let mut out = Vec::new();
    for req in requests {
        for rs in iter_array(req, "resourceSpans") {
            let resource = rs.get("resource").cloned().unwrap_or(Value::Null);
            for ss in iter_array(rs, "scopeSpans") {
                let scope = ss.get("scope").cloned().unwrap_or(Value::Null);
                for span in iter_array(ss, "spans") {
                    out.push(SpanRecord {
                        resource: resource.clone(),
                        scope: scope.clone(),
                        span: span.clone(),
                    });
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> Value {
        json!({"resourceMetrics": [{
            "resource": {"attributes": [
                {"key": "service.name", "value": {"stringValue": "svc"}},
                {"key": "pid", "value": {"intValue": "42"}}
            ]},
            "scopeMetrics": [{
                "scope": {"name": "rtscope"},
                "metrics": [
                    {"name": "h", "unit": "By", "histogram": {
                        "aggregationTemporality": 1,
                        "dataPoints": [{
                            "count": "6", "sum": 12.5,
                            "bucketCounts": ["1", "0", "5"],
                            "explicitBounds": [1.0, "Infinity"],
                            "attributes": [{"key": "class", "value": {"stringValue": "small"}}]
                        }]
                    }},
                    {"name": "s", "sum": {
                        "aggregationTemporality": "AGGREGATION_TEMPORALITY_CUMULATIVE",
                        "isMonotonic": true,
                        "dataPoints": [{"asInt": "-7"}, {"asDouble": 2.5}]
                    }},
                    {"name": "g", "gauge": {"dataPoints": [{}]}}
                ]
            }]
        }]})
    }

    #[test]
    fn decodes_otlp_json_conventions() {
        let reqs = [Value::Null, request()];
        let h = metric_points(&reqs, "h");
        assert_eq!(h.len(), 1);
        let p = &h[0];
        assert_eq!(p.request_index(), 1);
        assert_eq!(p.kind(), MetricKind::Histogram);
        assert_eq!(p.unit(), "By");
        assert_eq!(p.temporality(), Some(Temporality::Delta));
        assert_eq!(p.is_monotonic(), None);
        assert_eq!(p.count(), 6);
        assert_eq!(p.sum(), Some(12.5));
        assert_eq!(p.min(), None);
        assert_eq!(p.bucket_counts(), [1, 0, 5]);
        assert_eq!(p.explicit_bounds(), [1.0, f64::INFINITY]);
        assert_eq!(p.attr_str("class"), Some("small"));
        assert_eq!(p.resource_str("service.name"), Some("svc"));
        assert_eq!(p.resource_attr("pid").and_then(any_value_i64), Some(42));
        assert_eq!(p.scope_name(), Some("rtscope"));
        assert_eq!(p.time_unix_nano(), 0, "left-out fields read as 0");
        assert_eq!(p["count"], "6", "derefs to the raw point");

        let s = metric_points(&reqs, "s");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].temporality(), Some(Temporality::Cumulative));
        assert_eq!(s[0].is_monotonic(), Some(true));
        assert_eq!(s[0].as_i64(), Some(-7));
        assert_eq!(s[1].as_f64(), Some(2.5));

        let g = metric_points(&reqs, "g");
        assert_eq!(g[0].temporality(), None);
        assert_eq!(g[0].count(), 0);

        assert_eq!(
            metric_names(&reqs).into_iter().collect::<Vec<_>>(),
            ["g", "h", "s"]
        );
        assert_eq!(find_metrics(&reqs, "s").len(), 1);
        assert!(metric_points(&reqs, "missing").is_empty());
    }

    #[test]
    fn number_encodings() {
        assert_eq!(json_u64(&json!("18446744073709551615")), Some(u64::MAX));
        assert_eq!(json_u64(&json!(3)), Some(3));
        assert_eq!(json_u64(&json!(-3)), None);
        assert_eq!(json_i64(&json!("-9")), Some(-9));
        assert!(json_f64(&json!("NaN")).is_some_and(f64::is_nan));
        assert_eq!(json_f64(&json!("-Infinity")), Some(f64::NEG_INFINITY));
        assert_eq!(json_f64(&json!(true)), None);
    }

    #[test]
    fn reads_log_records() {
        let req = json!({"resourceLogs": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "svc"}}]},
            "scopeLogs": [{"scope": {"name": "rtscope"}, "logRecords": [
                {"severityNumber": 13, "severityText": "WARN", "body": {"stringValue": "dropped"}}
            ]}]
        }]});
        let logs = log_records(&[req]);
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].body_str(), Some("dropped"));
        assert_eq!(logs[0].severity_number(), 13);
        assert_eq!(logs[0].severity_text(), "WARN");
        assert_eq!(logs[0].resource_str("service.name"), Some("svc"));
        assert_eq!(logs[0].scope_name(), Some("rtscope"));
    }
}
