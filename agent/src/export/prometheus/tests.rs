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
