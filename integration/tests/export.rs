//! The agent's OTLP export, read back from a real collector (rotel), exactly.
//!
//! Each test runs `known_workload` (a child process under `#[rtscope::main]`, configured only
//! by `OTEL_*` variables) against a collector on 127.0.0.1 and compares what the collector
//! received with the `SNAPSHOT` the child printed: the final export must carry exactly those
//! numbers.

use rtscope_integration::{Collector, DataPoint, RunOutput, Temporality, run_bounded};
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_known_workload");
const RUN_LIMIT: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(15);

/// Class indexes of the workload's blocks (20 000 B -> 20 480; 200 000 B -> 262 144).
fn class(size: usize) -> usize {
    rtscope::alloc::class_of(size)
}

struct Snapshot {
    allocations: u64,
    allocated_bytes: u64,
    classes: Vec<u64>,
}

fn run(env: &[(&str, &str)], args: &[&str]) -> RunOutput {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("RTSCOPE_SUMMARY", "off");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run_bounded(cmd, RUN_LIMIT).expect("run known_workload");
    assert!(out.success(), "known_workload failed: {out:?}");
    out
}

fn snapshot(out: &RunOutput) -> Snapshot {
    let v = rtscope_integration::json_line(&out.stdout, "SNAPSHOT ");
    Snapshot {
        allocations: v["allocations"].as_u64().unwrap(),
        allocated_bytes: v["allocated_bytes"].as_u64().unwrap(),
        classes: v["classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_u64().unwrap())
            .collect(),
    }
}

/// The size histogram point whose count equals the snapshot's (the final export), waiting
/// until it arrived.
fn final_histogram(c: &Collector, snap: &Snapshot) -> DataPoint {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let points = c.metric_points("rust.memory.allocation.size");
        if let Some(p) = points.into_iter().find(|p| p.count() == snap.allocations) {
            return p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no histogram with count {} arrived; got counts {:?}",
            snap.allocations,
            c.metric_points("rust.memory.allocation.size")
                .iter()
                .map(|p| p.count())
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn assert_exact_cumulative(c: &Collector, out: &RunOutput) {
    let snap = snapshot(out);
    // The workload itself: 3 phases of 100 + 10 blocks.
    assert_eq!(snap.classes[class(20_000)], 300);
    assert_eq!(snap.classes[class(200_000)], 30);
    let p = final_histogram(c, &snap);
    assert_eq!(p.temporality(), Some(Temporality::Cumulative));
    assert_eq!(p.unit(), "By");
    assert_eq!(p.bucket_counts(), snap.classes, "bucket counts");
    assert_eq!(p.count(), snap.allocations);
    assert_eq!(p.sum(), Some(snap.allocated_bytes as f64));
    let bounds = p.explicit_bounds();
    assert_eq!(bounds.len() + 1, snap.classes.len());
    assert!(bounds.contains(&3072.0) && bounds.contains(&32768.0) && bounds.contains(&65536.0));
    assert_eq!(bounds[class(20_000)], 20480.0);

    // Counters of the same (final) request agree exactly.
    let allocations = c.metric_points("rust.memory.allocations");
    assert!(
        allocations
            .iter()
            .any(|a| a.request_index() == p.request_index()
                && a.as_i64() == Some(snap.allocations as i64)),
        "rust.memory.allocations of the final export"
    );
    let allocated = c.metric_points("rust.memory.allocated");
    assert!(
        allocated
            .iter()
            .any(|a| a.request_index() == p.request_index()
                && a.as_i64() == Some(snap.allocated_bytes as i64))
    );

    // Resource.
    assert_eq!(p.resource_str("service.name"), Some("export-test"));
    assert_eq!(p.resource_str("deployment.environment"), Some("ci"));
    assert_eq!(p.resource_str("process.runtime.name"), Some("rust"));
    assert_eq!(p.resource_str("telemetry.sdk.language"), Some("rust"));
    assert!(
        p.resource_str("process.runtime.version")
            .is_some_and(|v| v.starts_with("1."))
    );
    assert_eq!(p.scope_name(), Some("rtscope"));
}

fn base_env<'a>(endpoint: &'a str, protocol: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_SERVICE_NAME", "export-test"),
        ("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=ci"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "200"),
    ]
}

#[test]
fn http_protobuf_exact_histogram_counters_and_resource() {
    let c = Collector::start();
    let endpoint = c.http_endpoint();
    let out = run(&base_env(&endpoint, "http/protobuf"), &[]);
    assert_exact_cumulative(&c, &out);
    assert!(!out.stderr.contains("failed"), "stderr: {}", out.stderr);
}

#[test]
fn grpc_exact_histogram_counters_and_resource() {
    let c = Collector::start();
    let endpoint = c.grpc_endpoint();
    let out = run(&base_env(&endpoint, "grpc"), &[]);
    assert_exact_cumulative(&c, &out);
}

#[test]
fn gzip_on_both_transports() {
    for protocol in ["grpc", "http/protobuf"] {
        let c = Collector::start();
        let endpoint = c.endpoint_for(protocol);
        let mut env = base_env(&endpoint, protocol);
        env.push(("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"));
        let out = run(&env, &[]);
        assert_exact_cumulative(&c, &out);
    }
}

#[test]
fn delta_temporality_sums_to_the_exact_totals() {
    let c = Collector::start();
    let endpoint = c.http_endpoint();
    let mut env = base_env(&endpoint, "http/protobuf");
    env.push(("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta"));
    // 6 phases 150 ms apart with a 200 ms interval: several exports, each a delta.
    let out = run(&env, &["6", "150"]);
    let snap = snapshot(&out);
    let total = |points: &[DataPoint]| points.iter().map(DataPoint::count).sum::<u64>();
    let deadline = std::time::Instant::now() + WAIT;
    let points = loop {
        let points = c.metric_points("rust.memory.allocation.size");
        if total(&points) >= snap.allocations || std::time::Instant::now() > deadline {
            break points;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        points.len() >= 3,
        "expected several exports, got {}",
        points.len()
    );
    assert!(
        points
            .iter()
            .all(|p| p.temporality() == Some(Temporality::Delta))
    );
    assert_eq!(total(&points), snap.allocations);
    let mut buckets = vec![0u64; snap.classes.len()];
    for p in &points {
        for (b, n) in buckets.iter_mut().zip(p.bucket_counts()) {
            *b += n;
        }
    }
    assert_eq!(buckets, snap.classes);
    let sum: f64 = points.iter().filter_map(DataPoint::sum).sum();
    assert_eq!(sum, snap.allocated_bytes as f64);
    // Deltas are contiguous: each starts where the previous delivered one ended.
    let mut windows: Vec<(u64, u64)> = points
        .iter()
        .map(|p| (p.start_time_unix_nano(), p.time_unix_nano()))
        .collect();
    windows.sort();
    for w in windows.windows(2) {
        assert_eq!(w[0].1, w[1].0, "gap or overlap between deltas");
    }
    // The workload's blocks: exactly 600 + 60 over all deltas.
    assert_eq!(buckets[class(20_000)], 600);
    assert_eq!(buckets[class(200_000)], 60);
}

/// Allocation samples arrive as OTLP log records over both transports, and the per-scope
/// estimate series is exported beside the exact counters.
#[test]
fn allocation_samples_arrive_as_log_records() {
    for protocol in ["http/protobuf", "grpc"] {
        let c = Collector::start();
        let endpoint = c.endpoint_for(protocol);
        let mut env = base_env(&endpoint, protocol);
        // ~12 MB allocated by the workload: with a 64 KiB mean, about 180 samples.
        env.push(("RTSCOPE_SAMPLING_INTERVAL", "65536"));
        let out = run(&env, &[]);
        assert_exact_cumulative(&c, &out);
        let records = c.wait_for_logs(20, WAIT);
        let samples: Vec<_> = records
            .iter()
            .filter(|r| r["eventName"] == "rust.memory.allocation.sample")
            .collect();
        assert!(samples.len() >= 20, "{protocol}: {} samples", samples.len());
        for r in &samples {
            assert_eq!(r.resource_str("service.name"), Some("export-test"));
            let size = r
                .attr("rust.memory.allocation.size")
                .and_then(rtscope_integration::otlp::any_value_i64)
                .unwrap();
            let weight = r
                .attr("rust.memory.sample.weight")
                .and_then(rtscope_integration::otlp::any_value_i64)
                .unwrap();
            assert!(size > 0 && weight >= size, "weight {weight} < size {size}");
            assert!(
                r.attr("rust.scope")
                    .and_then(rtscope_integration::otlp::any_value_str)
                    .is_some()
            );
            assert!(r.attr("thread.name").is_some());
        }
        // The workload's 20 000 B and 200 000 B blocks dominate the bytes, so they are sampled.
        assert!(samples.iter().any(|r| {
            r.attr("rust.memory.size_class")
                .and_then(rtscope_integration::otlp::any_value_i64)
                == Some(262_144)
        }));
        let est = c.wait_for_metric("rust.memory.sampled.allocated", WAIT);
        assert!(
            est.iter()
                .any(|p| p.attr_str("rust.scope") == Some("<none>") && p.as_i64().unwrap_or(0) > 0)
        );
    }
}
