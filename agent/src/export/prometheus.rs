//! The Prometheus exporter: `GET /metrics` on rtscope's listener answers with the same
//! cumulative series an OTLP export carries, read as one snapshot per scrape, in the
//! Prometheus text format (0.0.4), or OpenMetrics 1.0 when the scraper's `Accept` prefers it.
//!
//! Names and labels follow the OpenTelemetry "Prometheus and OpenMetrics Compatibility"
//! specification: characters outside `[a-zA-Z0-9_:]` become `_` (runs of `_` collapse), the
//! unit is appended as a word (`By` is `_bytes`, `s` is `_seconds`, `{...}` annotations are
//! dropped, `a/b` is `_a_per_b`, `1` on a gauge is `_ratio`), a monotonic counter ends in
//! `_total`, an up-down counter is a gauge, a histogram is `_bucket{le=...}` (cumulative) with
//! `_sum` and `_count`. Every sample carries `otel_scope_name` and `otel_scope_version`; the
//! resource is one `target_info` sample whose labels are its attributes (Prometheus adds
//! `job` and `instance` from its scrape configuration, the keys to join it on).

use super::listen::{Reply, Request};
use crate::config::Config;
use crate::model::Source;
use crate::model::series::{Data, Metric, Number, Value};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

/// The content type of the Prometheus text format.
pub(crate) const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The content type of OpenMetrics 1.0.
pub(crate) const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The two expositions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Text,
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when `accept` ranks it at least as high as plain text (what Prometheus
    /// asks by default), else the text format.
    pub(crate) fn negotiate(accept: &str) -> Format {
        let (mut openmetrics, mut text) = (0.0_f64, 0.0_f64);
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim();
            let mut q = 1.0;
            for p in parts {
                if let Some((k, v)) = p.split_once('=')
                    && k.trim().eq_ignore_ascii_case("q")
                {
                    q = v.trim().parse().unwrap_or(0.0);
                }
            }
            if media.eq_ignore_ascii_case("application/openmetrics-text") {
                openmetrics = openmetrics.max(q);
            } else if ["text/plain", "text/*", "*/*"]
                .iter()
                .any(|m| media.eq_ignore_ascii_case(m))
            {
                text = text.max(q);
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT,
            Format::OpenMetrics => OPENMETRICS,
        }
    }
}

/// What `/metrics` answers from: the parts' series, read at each scrape, and the pipeline's
/// own (its self-telemetry, the sampler's estimates), which only the export thread can
/// compute and refreshes on every collection tick.
#[derive(Debug)]
pub(crate) struct Scrape {
    sources: &'static [Source],
    pipeline_series: Arc<Mutex<Vec<Metric>>>,
    exposition: Exposition,
}

impl Scrape {
    pub(crate) fn new(
        config: &Config,
        sources: &'static [Source],
        pipeline_series: Arc<Mutex<Vec<Metric>>>,
    ) -> Scrape {
        Scrape {
            sources,
            pipeline_series,
            exposition: Exposition::new(config),
        }
    }

    /// The page for one scrape.
    pub(crate) fn answer(&self, request: &Request<'_>) -> Reply {
        let mut metrics = Vec::with_capacity(128);
        crate::model::collect(self.sources, &mut metrics);
        metrics.extend(
            self.pipeline_series
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .cloned(),
        );
        let format = Format::negotiate(request.accept);
        Reply::ok(
            format.content_type(),
            self.exposition.render(&metrics, format).into_bytes(),
        )
    }
}

/// The parts of a page that never change: the `target_info` labels and the scope labels.
#[derive(Debug)]
pub(crate) struct Exposition {
    /// `{service_name="...",...}` of `target_info`.
    target_labels: String,
    /// `otel_scope_name="rtscope",otel_scope_version="..."`, on every sample.
    scope_labels: String,
}

impl Exposition {
    pub(crate) fn new(config: &Config) -> Exposition {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for kv in super::otlp::resource(config).attributes {
            use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
            let value = match kv.value.and_then(|v| v.value) {
                Some(V::StringValue(s)) => s,
                Some(V::IntValue(i)) => i.to_string(),
                _ => continue,
            };
            let name = label_name(&kv.key);
            // Two keys that become one label name: their values joined with `;`.
            match pairs.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => {
                    v.push(';');
                    v.push_str(&value);
                }
                None => pairs.push((name, value)),
            }
        }
        let mut target_labels = String::from("{");
        for (i, (name, value)) in pairs.iter().enumerate() {
            if i > 0 {
                target_labels.push(',');
            }
            label(&mut target_labels, name, value);
        }
        target_labels.push('}');
        let mut scope_labels = String::new();
        label(&mut scope_labels, "otel_scope_name", "rtscope");
        scope_labels.push(',');
        label(
            &mut scope_labels,
            "otel_scope_version",
            env!("CARGO_PKG_VERSION"),
        );
        Exposition {
            target_labels,
            scope_labels,
        }
    }

    /// The page for `metrics` (series of one name may come in any order: they are grouped).
    pub(crate) fn render(&self, metrics: &[Metric], format: Format) -> String {
        let om = format == Format::OpenMetrics;
        let mut out = String::with_capacity(64 * 1024);
        if om {
            out.push_str("# TYPE target info\n# HELP target Target metadata\n");
        } else {
            out.push_str("# TYPE target_info gauge\n# HELP target_info Target metadata\n");
        }
        let _ = writeln!(out, "target_info{} 1", self.target_labels);

        // Families in order of first appearance, each with its series (rtscope's names map
        // one to one to Prometheus names, so grouping by the OTLP name groups the families).
        let mut families: Vec<(&str, Vec<&Metric>)> = Vec::with_capacity(64);
        for m in metrics {
            match families.iter_mut().find(|(name, _)| *name == m.name) {
                Some((_, series)) => series.push(m),
                None => families.push((m.name, vec![m])),
            }
        }
        for (_, series) in &families {
            self.family(&mut out, &Family::of(series[0]), series, om);
        }
        if om {
            out.push_str("# EOF\n");
        }
        out
    }

    fn family(&self, out: &mut String, f: &Family, series: &[&Metric], om: bool) {
        let counter = f.kind == "counter";
        // The text format names a counter's family by its sample name; OpenMetrics without
        // the `_total`.
        let head = if counter && !om {
            format!("{}_total", f.name)
        } else {
            f.name.clone()
        };
        let _ = writeln!(out, "# TYPE {head} {}", f.kind);
        if om && !f.unit.is_empty() {
            let _ = writeln!(out, "# UNIT {head} {}", f.unit);
        }
        let _ = writeln!(out, "# HELP {head} {}", help(series[0].description, om));
        for m in series {
            let labels = self.labels(&m.attributes);
            match &m.data {
                Data::Counter(n) => {
                    sample(out, &f.name, "_total", &labels, None);
                    number(out, *n);
                }
                Data::UpDown(n) | Data::Gauge(n) => {
                    sample(out, &f.name, "", &labels, None);
                    number(out, *n);
                }
                Data::Histogram {
                    bounds,
                    counts,
                    count,
                    sum,
                } => {
                    let mut below = 0_u64;
                    for (i, c) in counts.iter().enumerate() {
                        below = below.saturating_add(*c);
                        let le = bounds.get(i).copied().unwrap_or(f64::INFINITY);
                        sample(out, &f.name, "_bucket", &labels, Some(le));
                        number(out, Number::Int(below));
                    }
                    sample(out, &f.name, "_sum", &labels, None);
                    number(out, Number::Real(*sum));
                    sample(out, &f.name, "_count", &labels, None);
                    number(out, Number::Int(*count));
                }
            }
        }
    }

    /// `a="x",b="y",otel_scope_name="rtscope",otel_scope_version="..."` for `attributes`.
    fn labels(&self, attributes: &[(&'static str, Value)]) -> String {
        let mut s = String::new();
        for (key, value) in attributes {
            match value {
                Value::Str(v) => label(&mut s, &label_name(key), v),
                Value::Int(i) => label(&mut s, &label_name(key), &i.to_string()),
            }
            s.push(',');
        }
        s.push_str(&self.scope_labels);
        s
    }
}

/// One metric family: its Prometheus name (without `_total`), type and unit word.
#[derive(Debug)]
struct Family {
    name: String,
    kind: &'static str,
    unit: String,
}

impl Family {
    fn of(m: &Metric) -> Family {
        let (kind, gauge) = match m.data {
            Data::Counter(_) => ("counter", false),
            Data::UpDown(_) | Data::Gauge(_) => ("gauge", true),
            Data::Histogram { .. } => ("histogram", false),
        };
        let unit = unit_word(m.unit, gauge);
        let mut name = metric_name(m.name);
        if kind == "counter"
            && let Some(stem) = name.strip_suffix("_total")
        {
            name = stem.to_owned();
        }
        if !unit.is_empty() && !name.ends_with(&format!("_{unit}")) {
            // One `_` between name and unit, as everywhere (runs of `_` collapse).
            if !name.ends_with('_') {
                name.push('_');
            }
            name.push_str(&unit);
        }
        Family { name, kind, unit }
    }
}

/// `name` with every character outside `[a-zA-Z0-9_:]` replaced by `_`, runs of `_`
/// collapsed, and `_` before a leading digit.
fn metric_name(name: &str) -> String {
    let s = sanitized(name, |c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{s}")
    } else {
        s
    }
}

/// A label name: as [`metric_name`] but without `:`, and `key_` before a leading digit.
fn label_name(key: &str) -> String {
    let s = sanitized(key, |c| c.is_ascii_alphanumeric() || c == '_');
    if s.is_empty() || s.starts_with(|c: char| c.is_ascii_digit()) {
        format!("key_{s}")
    } else {
        s
    }
}

fn sanitized(text: &str, ok: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let c = if ok(c) { c } else { '_' };
        if !(c == '_' && out.ends_with('_')) {
            out.push(c);
        }
    }
    out
}

/// The unit word appended to a name: UCUM units as Prometheus spells them, `{...}`
/// annotations dropped, `a/b` as `a_per_b`, `1` as `ratio` on a gauge (else nothing).
fn unit_word(unit: &str, gauge: bool) -> String {
    let mut plain = String::new();
    let mut depth = 0_u32;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            c if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let plain = plain.trim();
    if plain == "1" {
        return if gauge {
            "ratio".to_owned()
        } else {
            String::new()
        };
    }
    let (main, per) = match plain.split_once('/') {
        Some((m, p)) => (m.trim(), Some(p.trim())),
        None => (plain, None),
    };
    let main = match main {
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "bit" => "bits",
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "%" => "percent",
        "Hz" => "hertz",
        "Cel" => "celsius",
        "1" => "",
        other => other,
    };
    // Each part without `_` at its ends, so that joining them makes no run of `_`.
    let mut word = sanitized(main, |c| c.is_ascii_alphanumeric() || c == '_')
        .trim_matches('_')
        .to_owned();
    if main.is_empty() {
        word.clear();
    }
    if let Some(per) = per.filter(|p| !p.is_empty()) {
        let per = match per {
            "s" => "second",
            "min" => "minute",
            "h" => "hour",
            "d" => "day",
            "w" => "week",
            "mo" => "month",
            "y" => "year",
            other => other,
        };
        if !word.is_empty() {
            word.push('_');
        }
        word.push_str("per_");
        word.push_str(sanitized(per, |c| c.is_ascii_alphanumeric() || c == '_').trim_matches('_'));
    }
    word.trim_matches('_').to_owned()
}

/// `name="value"` with the value escaped (`\`, `"`, newline).
fn label(out: &mut String, name: &str, value: &str) {
    out.push_str(name);
    out.push_str("=\"");
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A `# HELP` text: `\` and newline escaped (and `"` in OpenMetrics).
fn help(text: &str, om: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if om => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

/// `name_suffix{labels,le="x"} ` (the value follows).
fn sample(out: &mut String, name: &str, suffix: &str, labels: &str, le: Option<f64>) {
    out.push_str(name);
    out.push_str(suffix);
    out.push('{');
    out.push_str(labels);
    if let Some(le) = le {
        out.push_str(",le=\"");
        float(out, le);
        out.push('"');
    }
    out.push_str("} ");
}

fn number(out: &mut String, n: Number) {
    match n {
        Number::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Number::Real(r) => float(out, r),
    }
    out.push('\n');
}

fn float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

#[cfg(test)]
mod tests;
