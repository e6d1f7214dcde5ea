//! What a new user sees first, with the `service` example at the defaults: over OTLP, a
//! start line saying where the data goes and when, and data at a real collector (rotel)
//! within seconds although the export interval is a minute; in file mode, the exit summary
//! ending with the command that makes the report page. (Prometheus alone is in
//! `integration/tests/top.rs`: no file, and a line saying where log records go.)

use rtscope_integration::{Collector, Service, TempDir, cargo_bin};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The service with only `env` set of the agent's variables, in `dir`.
fn service(dir: &Path, env: &[(&str, &str)]) -> Service {
    let mut cmd = Command::new(cargo_bin("service"));
    cmd.arg("127.0.0.1:0").current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("OTEL_") || k.starts_with("RTSCOPE_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("RUST_LOG", "warn").envs(env.iter().copied());
    Service::start(cmd, Duration::from_secs(30)).expect("start the service")
}

#[test]
fn over_otlp_the_start_line_says_where_and_when_and_data_comes_within_seconds() {
    let collector = Collector::start();
    let endpoint = collector.http_endpoint();
    let dir = TempDir::new("first-otlp");
    // The default interval: a minute.
    let service = service(dir.path(), &[("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)]);
    let started = Instant::now();
    assert_eq!(service.get("/pool").expect("/pool").status, 200);
    // Well before the first interval ends; the service keeps running meanwhile.
    let points = collector.wait_for_metric("rust.memory.used", Duration::from_secs(40));
    let waited = started.elapsed();
    assert!(
        !points.is_empty(),
        "nothing arrived within {waited:?}: {}",
        service.log()
    );
    assert!(
        waited < Duration::from_secs(50),
        "the first data came after {waited:?}"
    );
    let log = service.log();
    let out = service.stop(Duration::from_secs(20));
    assert!(out.success(), "{out:?}");
    assert!(
        log.contains(&format!(
            "rtscope: sending metrics and log records to OTLP/HTTP {endpoint}/v1/metrics every \
             60s, the first 1s after start\n"
        )),
        "{log}"
    );
    // The data went to a collector: no file, no report line.
    assert!(!out.stderr.contains("rtscope report"), "{}", out.stderr);
    assert_eq!(dir.files(), Vec::<(String, u64)>::new());
}

#[test]
fn a_summary_that_wrote_a_file_ends_with_the_report_command() {
    let dir = TempDir::new("first-file");
    let file = dir.path().join("service data.jsonl");
    let file_text = file.to_str().expect("a UTF-8 temp dir");
    let service = service(
        dir.path(),
        &[
            ("RTSCOPE_FILE", file_text),
            ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
        ],
    );
    assert_eq!(service.get("/pool").expect("/pool").status, 200);
    let out = service.stop(Duration::from_secs(20));
    assert!(out.success(), "{out:?}");
    // The path has a space: one quoted shell word.
    assert_eq!(
        out.stderr.lines().last(),
        Some(format!("  report: rtscope report '{file_text}' > rtscope-report.html").as_str()),
        "{}",
        out.stderr
    );
    assert!(file.exists());
    // And the command does it.
    let mut report = Command::new(cargo_bin("rtscope"));
    report.arg("report").arg(&file);
    let page = rtscope_integration::run_bounded(report, Duration::from_secs(60)).unwrap();
    assert!(page.success(), "{page:?}");
    assert!(
        page.stdout
            .contains("<title>rtscope report: rtscope-service</title>"),
        "{:.300}",
        page.stdout
    );
}
