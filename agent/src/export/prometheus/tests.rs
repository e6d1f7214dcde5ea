use super::*;
use crate::config::Config;

fn config() -> Config {
    let (mut config, _) = crate::config::resolve(&Default::default(), |_| None::<String>);
    config.service_name = "check\"out\n".to_owned();
    config.resource_attributes = vec![
        ("deployment.environment".to_owned(), "prod".to_owned()),
        ("deployment_environment".to_owned(), "eu".to_owned()),
    ];
    config
}

fn histogram(bounds: &[f64], counts: &[u64], sum: f64) -> Data {
    Data::Histogram {
        bounds: bounds.to_vec(),
        counts: counts.to_vec(),
        count: counts.iter().sum(),
        sum,
    }
}

fn name_of(m: Metric) -> String {
    Family::of(&m).name
}

#[test]
fn names_follow_the_compatibility_specification() {
    let cases = [
        (
            Metric::new("rust.memory.allocated", "By", "", Data::Counter(1.into())),
            "rust_memory_allocated_bytes",
        ),
        (
            Metric::new(
                "rust.memory.allocations",
                "{allocation}",
                "",
                Data::Counter(1.into()),
            ),
            "rust_memory_allocations",
        ),
        (
            Metric::new("rust.memory.used", "By", "", Data::UpDown(1.into())),
            "rust_memory_used_bytes",
        ),
        (
            Metric::new(
                "rust.memory.allocation.size",
                "By",
                "",
                histogram(&[8.0], &[1, 0], 8.0),
            ),
            "rust_memory_allocation_size_bytes",
        ),
        (
            Metric::new(
                "rust.timer.lateness",
                "s",
                "",
                histogram(&[1e-6], &[1, 0], 0.0),
            ),
            "rust_timer_lateness_seconds",
        ),
        (
            Metric::new(
                "rust.memory.fragmentation.external",
                "1",
                "",
                Data::Gauge(0.5.into()),
            ),
            "rust_memory_fragmentation_external_ratio",
        ),
        (
            Metric::new(
                "rtscope.spikes.rate_limit",
                "{event}/min",
                "",
                Data::Gauge(6.0.into()),
            ),
            "rtscope_spikes_rate_limit_per_minute",
        ),
        (
            Metric::new(
                "rtscope.sampling.rate",
                "{sample}/s",
                "",
                Data::Gauge(1.0.into()),
            ),
            "rtscope_sampling_rate_per_second",
        ),
        (
            Metric::new("rtscope.agent.cpu.time", "s", "", Data::Counter(1.0.into())),
            "rtscope_agent_cpu_time_seconds",
        ),
        // A unit already at the end, a `_total` already there, odd characters.
        (
            Metric::new("io.read_bytes", "By", "", Data::Counter(1.into())),
            "io_read_bytes",
        ),
        (
            Metric::new("jobs_total", "{job}", "", Data::Counter(1.into())),
            "jobs",
        ),
        (
            Metric::new("9lives..é-x", "By/s", "", Data::Gauge(1.into())),
            "_9lives_x_bytes_per_second",
        ),
    ];
    for (m, want) in cases {
        let otel = m.name;
        assert_eq!(name_of(m), want, "{otel}");
    }
    assert_eq!(label_name("rust.pool.name"), "rust_pool_name");
    assert_eq!(label_name("1st"), "key_1st");
}

#[test]
fn a_page_in_the_text_format() {
    let e = Exposition::new(&config());
    let metrics = [
        Metric::new(
            "rust.memory.allocated",
            "By",
            "Bytes allocated.",
            Data::Counter(4096.into()),
        ),
        Metric::new("rust.pool.gets", "{get}", "Gets.", Data::Counter(3.into()))
            .with_attr("rust.pool.name", "buf\"s\\\n")
            .with_attr("rust.pool.hit", Value::Int(1)),
        Metric::new("rust.memory.used", "By", "Live.", Data::UpDown(100.into())),
        Metric::new(
            "rust.timer.lateness",
            "s",
            "Lateness.",
            histogram(&[0.0001, 0.0004], &[2, 1, 1], 0.5),
        ),
        // The second series of a family comes later: it is grouped with the first.
        Metric::new("rust.pool.gets", "{get}", "Gets.", Data::Counter(5.into()))
            .with_attr("rust.pool.name", "b"),
        Metric::new("r", "1", "Ratio.", Data::Gauge(f64::NAN.into())),
    ];
    let page = e.render(&metrics, Format::Text);
    let v = env!("CARGO_PKG_VERSION");
    let scope = format!("otel_scope_name=\"rtscope\",otel_scope_version=\"{v}\"");
    let target = e.target_labels.clone();
    assert!(
        target.starts_with(r#"{service_name="check\"out\n",process_pid=""#),
        "{target}"
    );
    assert!(
        target.ends_with(r#",deployment_environment="prod;eu"}"#),
        "{target}"
    );
    let want = format!(
        "# TYPE target_info gauge\n\
         # HELP target_info Target metadata\n\
         target_info{target} 1\n\
         # TYPE rust_memory_allocated_bytes_total counter\n\
         # HELP rust_memory_allocated_bytes_total Bytes allocated.\n\
         rust_memory_allocated_bytes_total{{{scope}}} 4096\n\
         # TYPE rust_pool_gets_total counter\n\
         # HELP rust_pool_gets_total Gets.\n\
         rust_pool_gets_total{{rust_pool_name=\"buf\\\"s\\\\\\n\",rust_pool_hit=\"1\",{scope}}} 3\n\
         rust_pool_gets_total{{rust_pool_name=\"b\",{scope}}} 5\n\
         # TYPE rust_memory_used_bytes gauge\n\
         # HELP rust_memory_used_bytes Live.\n\
         rust_memory_used_bytes{{{scope}}} 100\n\
         # TYPE rust_timer_lateness_seconds histogram\n\
         # HELP rust_timer_lateness_seconds Lateness.\n\
         rust_timer_lateness_seconds_bucket{{{scope},le=\"0.0001\"}} 2\n\
         rust_timer_lateness_seconds_bucket{{{scope},le=\"0.0004\"}} 3\n\
         rust_timer_lateness_seconds_bucket{{{scope},le=\"+Inf\"}} 4\n\
         rust_timer_lateness_seconds_sum{{{scope}}} 0.5\n\
         rust_timer_lateness_seconds_count{{{scope}}} 4\n\
         # TYPE r_ratio gauge\n\
         # HELP r_ratio Ratio.\n\
         r_ratio{{{scope}}} NaN\n"
    );
    assert_eq!(page, want);
}

#[test]
fn a_page_in_openmetrics() {
    let e = Exposition::new(&config());
    let metrics = [
        Metric::new(
            "rust.memory.allocated",
            "By",
            "Bytes \"allocated\".",
            Data::Counter(7.into()),
        ),
        Metric::new(
            "rust.memory.allocation.size",
            "By",
            "Sizes.",
            histogram(&[8.0], &[1, 1], 24.0),
        ),
    ];
    let page = e.render(&metrics, Format::OpenMetrics);
    let v = env!("CARGO_PKG_VERSION");
    let scope = format!("otel_scope_name=\"rtscope\",otel_scope_version=\"{v}\"");
    let target = e.target_labels.clone();
    let want = format!(
        "# TYPE target info\n\
         # HELP target Target metadata\n\
         target_info{target} 1\n\
         # TYPE rust_memory_allocated_bytes counter\n\
         # UNIT rust_memory_allocated_bytes bytes\n\
         # HELP rust_memory_allocated_bytes Bytes \\\"allocated\\\".\n\
         rust_memory_allocated_bytes_total{{{scope}}} 7\n\
         # TYPE rust_memory_allocation_size_bytes histogram\n\
         # UNIT rust_memory_allocation_size_bytes bytes\n\
         # HELP rust_memory_allocation_size_bytes Sizes.\n\
         rust_memory_allocation_size_bytes_bucket{{{scope},le=\"8\"}} 1\n\
         rust_memory_allocation_size_bytes_bucket{{{scope},le=\"+Inf\"}} 2\n\
         rust_memory_allocation_size_bytes_sum{{{scope}}} 24\n\
         rust_memory_allocation_size_bytes_count{{{scope}}} 2\n\
         # EOF\n"
    );
    assert_eq!(page, want);
}

#[test]
fn openmetrics_is_answered_when_the_scraper_prefers_it() {
    // What Prometheus 3 sends by default, and what 2.x sent.
    let p3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
    assert_eq!(Format::negotiate(p3), Format::OpenMetrics);
    let p2 = "text/plain;version=0.0.4;q=1,*/*;q=0.1";
    assert_eq!(Format::negotiate(p2), Format::Text);
    for text in [
        "",
        "*/*",
        "text/plain",
        "application/json",
        "application/openmetrics-text;q=0",
    ] {
        assert_eq!(Format::negotiate(text), Format::Text, "{text}");
    }
    assert_eq!(
        Format::negotiate("text/plain;q=0.2, Application/OpenMetrics-Text; q=0.9"),
        Format::OpenMetrics
    );
}

#[test]
fn the_prometheus_names_in_metrics_md_are_the_exporters() {
    let doc = include_str!("../../../../docs/metrics.md");
    let mut checked = 0;
    for row in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = row.split(" | ").collect();
        let (Some(name), Some(prom), Some(instrument), Some(unit)) = (
            cells[0]
                .strip_prefix("| `")
                .and_then(|c| c.strip_suffix('`')),
            cells.get(1),
            cells.get(2),
            cells.get(3).map(|u| u.trim_matches('`')),
        ) else {
            continue;
        };
        let data = match *instrument {
            "Counter" => Data::Counter(0.into()),
            "UpDownCounter" => Data::UpDown(0.into()),
            "Gauge" => Data::Gauge(0.into()),
            "Histogram" => histogram(&[1.0], &[0, 0], 0.0),
            _ => continue,
        };
        // `name` lives for the test only; Metric wants a static name.
        let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
        let unit: &'static str = Box::leak(unit.to_owned().into_boxed_str());
        let family = Family::of(&Metric::new(name, unit, "", data));
        let want = match *instrument {
            "Counter" => format!("`{}_total`", family.name),
            "Histogram" => format!("`{}_bucket`, `_sum`, `_count`", family.name),
            _ => format!("`{}`", family.name),
        };
        assert_eq!(*prom, want, "docs/metrics.md row of {name}");
        checked += 1;
    }
    assert!(checked >= 40, "only {checked} rows checked");
}

/// Found by `family_names_are_valid_with_their_unit`: a name ending in `_` after
/// sanitizing, or a unit part with `_` at an end, gave a run of `_` where the unit was joined
/// (`x__bytes`, `__ratio`, `_per__9`), against "runs of `_` collapse".
#[test]
fn joining_the_unit_makes_no_run_of_underscores() {
    for (name, unit, data, want) in [
        ("x.", "By", Data::Counter(1.into()), "x_bytes"),
        ("", "1", Data::UpDown(1.into()), "_ratio"),
        ("", "/.9", Data::Counter(1.into()), "_per_9"),
        ("rate", "_By_/_s_", Data::Gauge(1.into()), "rate_By_per_s"),
    ] {
        assert_eq!(
            name_of(Metric::new(name, unit, "", data)),
            want,
            "{name:?} {unit:?}"
        );
    }
}

/// The rows of docs/metrics.md: every metric rtscope exports, with its unit, an empty value of
/// its instrument, and the attribute keys the row names (backticked dotted names in the
/// attributes cell, or before ` = ` elsewhere in the row).
fn documented_metrics() -> Vec<(&'static str, &'static str, Data, Vec<&'static str>)> {
    let doc = include_str!("../../../../docs/metrics.md");
    let dotted = |t: &str| {
        t.split('.').count() > 1
            && t.split('.').all(|w| {
                !w.is_empty()
                    && w.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            })
    };
    let mut out = Vec::new();
    for row in doc.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&'static str> = row.split(" | ").collect();
        let (Some(name), Some(instrument), Some(unit)) = (
            cells[0]
                .strip_prefix("| `")
                .and_then(|c| c.strip_suffix('`')),
            cells.get(2),
            cells.get(3).map(|u| u.trim_matches('`')),
        ) else {
            continue;
        };
        let data = match *instrument {
            "Counter" => Data::Counter(0.into()),
            "UpDownCounter" => Data::UpDown(0.into()),
            "Gauge" => Data::Gauge(0.into()),
            "Histogram" => histogram(&[1.0], &[0, 0], 0.0),
            _ => continue,
        };
        let mut keys = Vec::new();
        let ticked: Vec<&'static str> = row.split('`').skip(1).step_by(2).collect();
        let after: Vec<&'static str> = row.split('`').skip(2).step_by(2).collect();
        for (t, rest) in ticked.iter().zip(after) {
            let in_attributes = cells.get(4).is_some_and(|c| c.contains(&format!("`{t}`")));
            if dotted(t)
                && *t != name
                && (in_attributes || rest.starts_with(" = "))
                && !keys.contains(t)
            {
                keys.push(*t);
            }
        }
        out.push((name, unit, data, keys));
    }
    assert!(out.len() >= 40, "only {} rows read", out.len());
    out
}

/// Rendering groups families by their OTLP name, which is right only because rtscope's names
/// map one to one to Prometheus names (`render`), and every series' labels must be distinct
/// and apart from the ones the exposition adds.
#[test]
fn rtscope_names_map_one_to_one_and_their_labels_never_collide() {
    let metrics = documented_metrics();
    let mut families = std::collections::BTreeMap::new();
    for (name, unit, data, keys) in &metrics {
        let m = Metric::new(name, unit, "", data.clone());
        let family = Family::of(&m).name;
        if let Some(other) = families.insert(family.clone(), *name) {
            assert_eq!(other, *name, "{other} and {name} are both {family}");
        }
        let mut labels: Vec<String> = keys.iter().map(|k| label_name(k)).collect();
        labels.extend(["otel_scope_name", "otel_scope_version", "le"].map(String::from));
        let n = labels.len();
        labels.sort();
        labels.dedup();
        assert_eq!(labels.len(), n, "{name}: labels {keys:?} collide");
    }
    let keys: usize = metrics.iter().map(|m| m.3.len()).sum();
    assert!(keys >= 15, "only {keys} attribute keys read");
}

/// Properties of the translation (module docs) for any name, unit and label value.
mod properties {
    use super::*;
    use proptest::prelude::*;

    /// Prometheus's rule for a metric name.
    fn valid_metric_name(s: &str) -> bool {
        let mut b = s.bytes();
        b.next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b':')
            && b.all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
    }

    /// Prometheus's rule for a label name, names starting with `__` being reserved.
    fn valid_label_name(s: &str) -> bool {
        let mut b = s.bytes();
        b.next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
            && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
            && !s.starts_with("__")
    }

    /// The value a quoted label value stands for (the text format's escapes `\\`, `\"`, `\n`);
    /// `None` for a raw newline, an unescaped `"` or an unknown escape.
    fn unescape(v: &str) -> Option<String> {
        let mut out = String::new();
        let mut chars = v.chars();
        while let Some(c) = chars.next() {
            out.push(match c {
                '\\' => match chars.next()? {
                    '\\' => '\\',
                    '"' => '"',
                    'n' => '\n',
                    _ => return None,
                },
                '"' | '\n' => return None,
                c => c,
            });
        }
        Some(out)
    }

    /// `{a="x",b="y"}` (or the same without braces) as pairs; `None` if malformed.
    fn label_set(s: &str) -> Option<Vec<(String, String)>> {
        let mut pairs = Vec::new();
        let mut rest = s;
        while !rest.is_empty() {
            let (name, after) = rest.split_once("=\"")?;
            // The value ends at the first `"` not escaped.
            let bytes = after.as_bytes();
            let mut i = 0;
            while bytes.get(i)? != &b'"' {
                i += if bytes[i] == b'\\' { 2 } else { 1 };
            }
            pairs.push((name.to_owned(), unescape(&after[..i])?));
            rest = &after[i + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
        Some(pairs)
    }

    fn text() -> impl Strategy<Value = String> {
        let tricky = proptest::sample::select(vec![
            '.', '-', '_', ':', '/', '{', '}', ' ', '"', '\\', '\n', '\r', '\t', '\0', 'é', '9',
            '\u{202e}', 'a', 'Z',
        ]);
        proptest::collection::vec(prop_oneof![any::<char>(), tricky], 0..40)
            .prop_map(String::from_iter)
    }

    fn unit() -> impl Strategy<Value = String> {
        let ucum = proptest::sample::select(vec![
            "",
            "1",
            "By",
            "s",
            "ms",
            "us",
            "ns",
            "min",
            "h",
            "d",
            "%",
            "Hz",
            "Cel",
            "bit",
            "KiBy",
            "{event}",
            "{sample}/s",
            "{event}/min",
            "By/s",
            "1/s",
            "/s",
            "By/",
            "{a}{b}",
            "{{x}}",
            "}",
            "{",
            "a/b/c",
            " By ",
            "_",
            "_x_/_y_",
        ]);
        prop_oneof![
            ucum.prop_map(str::to_owned),
            "[A-Za-z0-9{}/ _.%:-]{0,12}",
            text(),
        ]
    }

    fn data() -> impl Strategy<Value = Data> {
        prop_oneof![
            Just(Data::Counter(1.into())),
            Just(Data::UpDown(1.into())),
            Just(Data::Gauge(1.into())),
            Just(histogram(&[1.0], &[1, 0], 1.0)),
        ]
    }

    fn config() -> ProptestConfig {
        // Failures become regression tests in this file, not files beside it.
        ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::default()
        }
    }

    /// `Metric` wants `'static` names; a property's names live for the test process.
    fn leak(s: String) -> &'static str {
        Box::leak(s.into_boxed_str())
    }

    proptest! {
        #![proptest_config(config())]

        /// Any name becomes a valid metric name and label name: outside characters as `_`,
        /// runs of `_` collapsed, a leading digit prefixed; names that are already valid
        /// (and have no `__`) pass unchanged, so the translation is idempotent.
        #[test]
        fn names_and_label_names_are_valid(name in text()) {
            let m = metric_name(&name);
            prop_assert!(valid_metric_name(&m), "{name:?} -> {m:?}");
            prop_assert!(!m.contains("__"), "{name:?} -> {m:?}");
            prop_assert_eq!(metric_name(&m), m.clone());
            if valid_metric_name(&name) && !name.contains("__") {
                prop_assert_eq!(&m, &name);
            }
            let l = label_name(&name);
            prop_assert!(valid_label_name(&l), "{name:?} -> {l:?}");
            prop_assert!(!l.contains("__"), "{name:?} -> {l:?}");
            prop_assert_eq!(label_name(&l), l.clone());
            if valid_label_name(&name) && !name.contains("__") && !name.contains(':') {
                prop_assert_eq!(&l, &name);
            }
        }

        /// With its unit and type: a valid name with no `__`, ending in the unit word (itself
        /// letters, digits and single `_` inside), and valid with each sample suffix.
        #[test]
        fn family_names_are_valid_with_their_unit(name in text(), unit in unit(), data in data()) {
            let m = Metric::new(leak(name), leak(unit), "", data);
            let f = Family::of(&m);
            prop_assert!(valid_metric_name(&f.name), "{:?} {:?} -> {:?}", m.name, m.unit, f.name);
            prop_assert!(!f.name.contains("__"), "{:?} {:?} -> {:?}", m.name, m.unit, f.name);
            prop_assert!(
                f.unit.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && !f.unit.starts_with('_')
                    && !f.unit.ends_with('_')
                    && !f.unit.contains("__"),
                "unit {:?} -> {:?}", m.unit, f.unit
            );
            if !f.unit.is_empty() {
                prop_assert!(f.name.ends_with(&format!("_{}", f.unit)), "{:?} {:?}", f.name, f.unit);
            }
            for suffix in ["_total", "_bucket", "_sum", "_count"] {
                let sample = format!("{}{}", f.name, suffix);
                prop_assert!(valid_metric_name(&sample), "{}", sample);
            }
        }

        /// A label value of any text is written in the text format's escapes and reads back
        /// as itself: never a raw newline or an unescaped quote.
        #[test]
        fn label_values_read_back(value in text()) {
            let mut out = String::new();
            label(&mut out, "k", &value);
            let pairs = label_set(&out).expect("a well-formed label");
            prop_assert_eq!(pairs, vec![("k".to_owned(), value)]);
        }

        /// Resource attributes whose keys become one label name have their values joined with
        /// `;` in `target_info` (module docs, `Exposition::new`): its label names are valid
        /// and distinct, and each value is the join of its keys' values, in order.
        #[test]
        fn target_info_joins_colliding_keys(
            attributes in proptest::collection::vec(
                (proptest::sample::select(vec!["a.b", "a_b", "a-b", "1a", "x", "é", "service.name", "process.pid", "ü.b"]), text()),
                0..6,
            ),
        ) {
            let mut config = super::config();
            config.resource_attributes = attributes
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            let e = Exposition::new(&config);
            let inner = e.target_labels.strip_prefix('{').and_then(|t| t.strip_suffix('}'));
            let pairs = label_set(inner.expect("braces")).expect("well-formed labels");
            let mut want: Vec<(String, String)> = Vec::new();
            for kv in crate::export::otlp::resource(&config).attributes {
                use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
                let value = match kv.value.and_then(|v| v.value) {
                    Some(V::StringValue(s)) => s,
                    Some(V::IntValue(i)) => i.to_string(),
                    _ => continue,
                };
                let name = label_name(&kv.key);
                match want.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, v)) => *v = format!("{v};{value}"),
                    None => want.push((name, value)),
                }
            }
            for (name, _) in &pairs {
                prop_assert!(valid_label_name(name), "{name:?}");
            }
            prop_assert_eq!(pairs, want);
        }

        /// A page of rtscope's own series, in any order, with any label values, in either
        /// format: every family declared once, its samples right after it, every sample's
        /// labels valid, distinct and read back as given.
        #[test]
        fn pages_of_rtscope_series_are_well_formed(
            picks in proptest::collection::vec((any::<proptest::sample::Index>(), text()), 1..30),
            openmetrics: bool,
        ) {
            let documented = documented_metrics();
            let mut metrics = Vec::new();
            for (i, value) in &picks {
                let (name, unit, data, keys) = i.get(&documented);
                let mut m = Metric::new(name, unit, "Help \"text\"\n.", data.clone());
                for key in keys {
                    m = m.with_attr(key, value.as_str());
                }
                metrics.push(m);
            }
            let format = if openmetrics { Format::OpenMetrics } else { Format::Text };
            let page = Exposition::new(&super::config()).render(&metrics, format);
            let mut declared = std::collections::BTreeSet::new();
            let mut current: Option<(String, String)> = None;
            for line in page.lines() {
                if let Some(t) = line.strip_prefix("# TYPE ") {
                    let (name, kind) = t.split_once(' ').expect("name and type");
                    prop_assert!(declared.insert(name.to_owned()), "{name} declared twice");
                    current = Some((name.to_owned(), kind.to_owned()));
                    continue;
                }
                if line.starts_with("# ") {
                    continue;
                }
                let (name, rest) = line.split_once('{').expect("labels");
                let (labels, value) = rest.rsplit_once("} ").expect("a value");
                prop_assert!(!value.is_empty());
                let (head, kind) = current.clone().expect("a sample after its TYPE");
                let family = head.strip_suffix("_total").filter(|_| !openmetrics).unwrap_or(&head);
                let ok = match kind.as_str() {
                    "counter" => name == format!("{family}_total"),
                    "histogram" => ["_bucket", "_sum", "_count"].iter().any(|s| name == format!("{family}{s}")),
                    // OpenMetrics' `target` info family.
                    "info" => name == format!("{family}_info"),
                    _ => name == family,
                };
                prop_assert!(ok, "{name} under # TYPE {head} {kind}");
                prop_assert!(valid_metric_name(name), "{name}");
                let pairs = label_set(labels).expect("well-formed labels");
                let mut names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
                prop_assert!(names.iter().all(|n| valid_label_name(n)), "{names:?}");
                let n = names.len();
                names.sort_unstable();
                names.dedup();
                prop_assert_eq!(names.len(), n, "duplicate labels in {}", line);
            }
            prop_assert!(page.lines().filter(|l| !l.starts_with('#')).count() > 1);
        }
    }
}
