//! `OTEL_METRICS_EXPORTER` / `OTEL_LOGS_EXPORTER`: a signal set to `none` never leaves the
//! process, over the wire (a real collector) or into the file.
//!
//! Negative checks are ordered against a control run: every child exports to the same
//! collector, the control child last, and its data is waited for. A request the earlier
//! children sent would have arrived before it, so its absence then means it was not sent.

use rtscope_integration::{Collector, RunOutput, run_bounded};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_known_workload");
const RUN_LIMIT: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(15);
const DEFAULT_FILE: &str = "rtscope-otlp.jsonl";

/// Runs the workload in `dir` with `env` (plus a short export interval and sampling fine
/// enough that log records are made).
fn run(dir: &Path, env: &[(&str, &str)]) -> RunOutput {
    let mut cmd = Command::new(BIN);
    cmd.current_dir(dir)
        .env("RTSCOPE_SUMMARY", "off")
        .env("OTEL_METRIC_EXPORT_INTERVAL", "200")
        .env("RTSCOPE_SAMPLING_INTERVAL", "65536");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run_bounded(cmd, RUN_LIMIT).expect("run known_workload");
    assert!(out.success(), "known_workload failed: {out:?}");
    out
}

/// An empty directory of this test's own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("rtscope-exporters-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn exporters_none_write_no_file() {
    // Control: with nothing configured the default file is written (so the check below can
    // fail).
    let control = TempDir::new("file-control");
    run(&control.0, &[]);
    assert!(control.0.join(DEFAULT_FILE).exists());

    let silent = TempDir::new("file-none");
    let out = run(
        &silent.0,
        &[
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
        ],
    );
    let left: Vec<_> = std::fs::read_dir(&silent.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "files written: {left:?}");
    assert!(!out.stderr.contains("rtscope:"), "{}", out.stderr);
}

#[test]
fn a_signal_set_to_none_is_not_sent() {
    let c = Collector::start();
    let endpoint = c.http_endpoint();
    let dir = TempDir::new("wire");
    let child = |service: &str, metrics: &str, logs: &str| {
        run(
            &dir.0,
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
                ("OTEL_SERVICE_NAME", service),
                ("OTEL_METRICS_EXPORTER", metrics),
                ("OTEL_LOGS_EXPORTER", logs),
            ],
        )
    };
    child("metrics-only", "otlp", "none");
    child("logs-only", "none", "otlp");
    child("silent", "none", "none");
    child("control", "otlp", "otlp");

    let from = |service: &str| {
        let metrics = c
            .metric_points("rust.memory.allocations")
            .iter()
            .filter(|p| p.resource_str("service.name") == Some(service))
            .count();
        let logs = c
            .log_records()
            .iter()
            .filter(|r| r.resource_str("service.name") == Some(service))
            .count();
        (metrics, logs)
    };
    // Wait for the control's metrics and logs: everything earlier has arrived by then.
    let deadline = std::time::Instant::now() + WAIT;
    while from("control").0 == 0 || from("control").1 == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the control run's data did not arrive: {:?}",
            from("control")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let (metrics, logs) = from("metrics-only");
    assert!(
        metrics > 0 && logs == 0,
        "metrics-only sent {metrics} points, {logs} records"
    );
    let (metrics, logs) = from("logs-only");
    assert!(
        metrics == 0 && logs > 0,
        "logs-only sent {metrics} points, {logs} records"
    );
    assert_eq!(from("silent"), (0, 0), "silent sent data");
    assert!(!dir.0.join(DEFAULT_FILE).exists());
}
