//! What every instrumented part reports to the exporter: cumulative values, named and typed
//! as OTLP metrics. Sources always report totals since the process started; the exporter
//! turns sums and histograms into deltas when delta temporality is configured, so no source
//! keeps export state.

use crate::base::counters::{BOUNDS_NS, HistogramSnapshot};

/// An attribute value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Value {
    Str(String),
    Int(i64),
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

/// The value of a sum or a gauge. Counts and bytes are integers from the shard to the wire
/// (OTLP `as_int`, exact at any size); only real-valued series (seconds, ratios, rates) are
/// floating point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Number {
    /// A count or a number of bytes, sent as `as_int` (saturating at `i64::MAX`).
    Int(u64),
    /// A real-valued quantity, sent as `as_double`.
    Real(f64),
}

impl From<u64> for Number {
    fn from(v: u64) -> Self {
        Number::Int(v)
    }
}

impl From<f64> for Number {
    fn from(v: f64) -> Self {
        Number::Real(v)
    }
}

/// The data of one series.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Data {
    /// A monotonic cumulative counter (OTel Counter).
    Counter(Number),
    /// A non-monotonic sum (OTel UpDownCounter): always exported cumulative.
    UpDown(Number),
    /// A value sampled now (OTel Gauge).
    Gauge(Number),
    /// Explicit-bucket histogram, cumulative: `counts.len() == bounds.len() + 1`; bucket `i`
    /// holds values in `(bounds[i-1], bounds[i]]`.
    Histogram {
        bounds: Vec<f64>,
        counts: Vec<u64>,
        count: u64,
        /// NaN when the source does not know it (tokio's histograms): sent without a sum.
        sum: f64,
    },
}

/// One measurement of a histogram with the trace it was made in (an OTLP exemplar).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    /// The measurement, in the histogram's unit.
    pub(crate) value: f64,
    pub(crate) time_unix_nano: u64,
}

/// One series of one metric.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Metric {
    pub(crate) name: &'static str,
    pub(crate) description: &'static str,
    pub(crate) unit: &'static str,
    pub(crate) attributes: Vec<(&'static str, Value)>,
    pub(crate) data: Data,
    /// Measurements of a histogram point made in a trace, sent with it once.
    pub(crate) exemplars: Vec<Exemplar>,
}

impl Metric {
    pub(crate) fn new(
        name: &'static str,
        unit: &'static str,
        description: &'static str,
        data: Data,
    ) -> Self {
        Metric {
            name,
            description,
            unit,
            attributes: Vec::new(),
            data,
            exemplars: Vec::new(),
        }
    }

    pub(crate) fn with_attr(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.attributes.push((key, value.into()));
        self
    }
}

impl HistogramSnapshot {
    /// The export form of a duration histogram: bounds and sum in seconds.
    pub(crate) fn to_data(self) -> Data {
        Data::Histogram {
            bounds: BOUNDS_NS.iter().map(|&b| b as f64 / 1e9).collect(),
            counts: self.counts.to_vec(),
            count: self.count,
            sum: self.sum.as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::counters::DurationHistogram;
    use std::time::Duration;

    #[test]
    fn a_duration_histogram_exports_in_seconds() {
        let h = DurationHistogram::claim();
        let before = h.snapshot();
        for ns in [500, 1_500, 1_500, 7_000_000, 20_000_000_000] {
            h.record_ns(ns);
        }
        let s = h.snapshot().since(&before);
        assert_eq!(
            s.sum,
            Duration::from_nanos(500 + 3_000 + 7_000_000 + 20_000_000_000)
        );
        match s.to_data() {
            Data::Histogram {
                bounds,
                counts,
                count,
                sum,
            } => {
                assert_eq!(bounds.len() + 1, counts.len());
                assert_eq!(bounds[0], 1e-6);
                assert_eq!(bounds[21], 10.0);
                assert_eq!(count, 5);
                assert!((sum - 20.007_003_5).abs() < 1e-9);
            }
            other => panic!("not a histogram: {other:?}"),
        }
    }
}
