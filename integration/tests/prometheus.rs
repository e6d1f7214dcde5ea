//! rtscope's Prometheus exporter scraped by a real Prometheus (Debian's `prometheus`, from
//! `scripts/install-collector.sh`) on 127.0.0.1 every second, queried over its HTTP API: exact
//! counter values, `histogram_quantile` over the lateness histogram, every expression of
//! `docs/grafana/rtscope.json` returning data, and the rules of
//! `docs/prometheus/rtscope-rules.yml` evaluating without error; `promtool` checks the page
//! and the rules, and runs the rules' unit tests.
//!
//! A missing tool skips a test with a line saying so, except under `CI=true`, where it fails.

use rtscope_integration::prometheus::{Prometheus, get, value_of};
use rtscope_integration::{
    Service, TempDir, cargo_bin, json_line, run_bounded, tool, workspace_dir,
};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

const JOB: &str = "prom-workload";
/// What the dashboard's `$__rate_interval` becomes here (five scrapes).
const RATE_INTERVAL: &str = "5s";

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Every `expr` of the dashboard's panels.
fn dashboard_expressions() -> Vec<(String, String)> {
    let path = workspace_dir().join("docs/grafana/rtscope.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("?").to_owned();
            out.push((title, target["expr"].as_str().unwrap().to_owned()));
        }
    }
    out
}

#[test]
fn a_real_prometheus_scrapes_exact_values_and_the_dashboard_has_data() {
    let (Some(prometheus), Some(promtool)) = (tool("prometheus"), tool("promtool")) else {
        return;
    };
    let dir = TempDir::new("prom-workload");
    let go = dir.path().join("go");
    let port = free_port();
    let mut cmd = Command::new(cargo_bin("prom_workload"));
    cmd.arg(&go)
        .env("OTEL_METRICS_EXPORTER", "prometheus")
        .env("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1")
        .env("OTEL_EXPORTER_PROMETHEUS_PORT", port.to_string())
        .env("OTEL_SERVICE_NAME", JOB)
        .env("OTEL_LOGS_EXPORTER", "none")
        .env("RTSCOPE_SUMMARY", "off");
    let workload = Service::start(cmd, Duration::from_secs(20)).unwrap();
    // Printed right after the address line.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !workload.log().contains("SNAPSHOT ") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let snapshot = json_line(&workload.log(), "SNAPSHOT ");
    let rules = workspace_dir().join("docs/prometheus/rtscope-rules.yml");
    let prom = Prometheus::start(
        &prometheus,
        workload.addr(),
        JOB,
        Duration::from_secs(1),
        Some(&rules),
    );
    let log = || format!("{}\n{}", workload.log(), prom.log());

    // Phase one is over and nothing of the workload's allocates: the values are exact.
    let sel = format!("job=\"{JOB}\"");
    let pool = |what: &str, result: &str| {
        format!(
            "rust_pool_{what}_total{{{sel},rust_pool_name=\"prom-pool\",rust_pool_result=\"{result}\"}}"
        )
    };
    for (expr, want) in [
        (pool("gets", "hit"), 111.0),
        (pool("gets", "miss"), 13.0),
        (pool("puts", "stored"), 122.0),
        (pool("puts", "discarded"), 2.0),
        (
            format!("rust_timer_lateness_seconds_count{{{sel}}}"),
            1000.0,
        ),
        (
            format!("rust_memory_allocations_total{{{sel}}}"),
            snapshot["allocations"].as_f64().unwrap(),
        ),
    ] {
        let got = prom
            .value(&expr)
            .unwrap_or_else(|e| panic!("{e}\n{}", log()));
        assert_eq!(got, want, "{expr}\n{}", log());
    }
    // 900 observations in (2, 5] µs and 100 in (200, 500] µs: Prometheus interpolates inside
    // the bucket, 200 µs + 300 µs * 90/100 for the p99 and 2 µs + 3 µs * 500/900 for the p50.
    let lateness = format!("rust_timer_lateness_seconds_bucket{{{sel}}}");
    let p99 = prom
        .value(&format!("histogram_quantile(0.99, {lateness})"))
        .unwrap();
    assert!((p99 - 0.000_47).abs() < 1e-12, "p99 {p99}");
    let p50 = prom
        .value(&format!("histogram_quantile(0.5, {lateness})"))
        .unwrap();
    assert!(
        (p50 - (2e-6 + 3e-6 * 500.0 / 900.0)).abs() < 1e-12,
        "p50 {p50}"
    );
    let (target, _) = prom.query(&format!("target_info{{{sel}}}"));
    assert_eq!(target.len(), 1, "{target:?}");
    assert_eq!(target[0]["metric"]["service_name"], JOB, "{target:?}");
    assert_eq!(target[0]["metric"]["telemetry_sdk_name"], "rtscope");

    // The page itself passes promtool's checks in the text format.
    let (status, page) = get(workload.addr(), "/metrics", "text/plain").unwrap();
    assert_eq!(status, 200);
    let page_file = dir.path().join("page.txt");
    std::fs::write(&page_file, &page).unwrap();
    let mut check = Command::new("sh");
    check
        .arg("-c")
        .arg("exec \"$0\" check metrics < \"$1\"")
        .arg(&promtool)
        .arg(&page_file);
    let out = run_bounded(check, Duration::from_secs(20)).unwrap();
    assert!(out.status.is_some(), "promtool check metrics: {out:?}");
    // promtool's one objection allowed: the semantic conventions name these two gauges
    // `*.count` (`process.thread.count`, `process.open_file_descriptor.count`), which the
    // OpenTelemetry translation keeps as `*_count`, a suffix promtool reserves for
    // histograms and summaries. Anything else it says fails the test.
    const SEMCONV_COUNT: [&str; 2] = ["process_thread_count", "process_open_file_descriptor_count"];
    let objections: Vec<&str> = out
        .stderr
        .lines()
        .chain(out.stdout.lines())
        .filter(|l| !l.trim().is_empty())
        .filter(|l| {
            !SEMCONV_COUNT.iter().any(|name| {
                *l == format!(
                    "{name} non-histogram and non-summary metrics should not have \"_count\" suffix"
                )
            })
        })
        .collect();
    assert!(
        objections.is_empty(),
        "promtool check metrics: {objections:?}"
    );

    // Phase two: a steady load. Every dashboard expression comes to give data, each with at
    // least one finite value.
    std::fs::write(&go, b"").unwrap();
    let mut missing = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    for (title, expr) in dashboard_expressions() {
        let expr = expr
            .replace("$service", JOB)
            .replace("$__rate_interval", RATE_INTERVAL);
        let left = deadline.saturating_duration_since(Instant::now());
        let found = prom.wait(&expr, left.max(Duration::from_millis(1)), || {
            let (result, _) = prom.query(&expr);
            result
                .iter()
                .any(|s| value_of(s).is_some_and(f64::is_finite))
                .then_some(())
        });
        if found.is_err() {
            missing.push(format!("{title}: {expr} -> {:?}", prom.query(&expr)));
        }
    }
    assert!(
        missing.is_empty(),
        "no data for:\n{}\n{}",
        missing.join("\n"),
        log()
    );

    // The rules evaluated against this data, without an error.
    let (status, rules) = get(prom.addr(), "/api/v1/rules", "application/json").unwrap();
    assert_eq!(status, 200);
    let rules: Value = serde_json::from_str(&rules).unwrap();
    let mut evaluated = 0;
    for group in rules["data"]["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            assert_eq!(rule["health"], "ok", "{rule}");
            evaluated += 1;
        }
    }
    assert_eq!(evaluated, 11, "{rules}");
    let miss_ratio = prom
        .value("rtscope:pool_miss_ratio:rate5m{rust_pool_name=\"prom-steady\"}")
        .unwrap();
    assert!((0.0..=1.0).contains(&miss_ratio), "{miss_ratio}");
}

#[test]
fn the_rules_pass_promtool_check_and_their_unit_tests() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let dir = workspace_dir().join("docs/prometheus");
    for args in [
        vec!["check", "rules", "rtscope-rules.yml"],
        vec!["test", "rules", "rtscope-rules.test.yml"],
    ] {
        let mut cmd = Command::new(&promtool);
        cmd.args(&args).current_dir(&dir);
        let out = run_bounded(cmd, Duration::from_secs(60)).unwrap();
        assert!(out.success(), "promtool {args:?}: {out:?}");
        assert!(out.stdout.contains("SUCCESS"), "promtool {args:?}: {out:?}");
    }
    // Every alert has a unit test that fires it and one that does not.
    let rules = std::fs::read_to_string(dir.join("rtscope-rules.yml")).unwrap();
    let tests = std::fs::read_to_string(dir.join("rtscope-rules.test.yml")).unwrap();
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .collect();
    assert_eq!(alerts.len(), 7, "{alerts:?}");
    for alert in alerts {
        let blocks: Vec<&str> = tests
            .split(&format!("alertname: {alert}\n"))
            .skip(1)
            .collect();
        let fires = blocks
            .iter()
            .any(|b| b.trim_start().starts_with("exp_alerts:\n"));
        let silent = blocks
            .iter()
            .any(|b| b.trim_start().starts_with("exp_alerts: []"));
        assert!(
            fires && silent,
            "{alert}: a firing and a silent test are needed"
        );
    }
}

#[test]
fn every_dashboard_expression_selects_the_service_variable() {
    let exprs = dashboard_expressions();
    assert!(exprs.len() >= 20, "{exprs:?}");
    for (title, expr) in exprs {
        assert!(expr.contains("job=~\"$service\""), "{title}: {expr}");
    }
}

#[test]
fn a_taken_port_is_one_line_naming_the_variable_and_the_application_runs_on() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = TempDir::new("prom-taken");
    let file = dir.path().join("out.jsonl");
    let out = rtscope_integration::run_bin(
        "known_workload",
        &[
            ("OTEL_METRICS_EXPORTER", "prometheus"),
            ("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1"),
            ("OTEL_EXPORTER_PROMETHEUS_PORT", &port),
            ("RTSCOPE_FILE", file.to_str().unwrap()),
        ],
        Duration::from_secs(60),
    );
    assert!(out.success(), "{out:?}");
    assert!(
        out.stdout.contains("SNAPSHOT "),
        "the workload did not finish: {out:?}"
    );
    let lines: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("cannot listen"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(
        lines[0].starts_with(&format!(
            "rtscope: cannot listen on 127.0.0.1:{port} for /metrics, /debug/rtscope/spikes ("
        )),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains(
            "set OTEL_EXPORTER_PROMETHEUS_PORT (or OTEL_EXPORTER_PROMETHEUS_HOST) to an address"
        ),
        "{}",
        lines[0]
    );
    drop(taken);
}
