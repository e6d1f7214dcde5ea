//! Proves the harness end to end without the agent: hand-made OTLP requests
//! go to the real collector (rotel) over gRPC, HTTP/protobuf and gzipped
//! HTTP, and the receiver must read back exactly what was sent.
//!
//! Needs `bash scripts/install-collector.sh` to have run.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use rtscope_integration::otlp::any_value_i64;
use rtscope_integration::{
    Collector, DataPoint, Error, MetricKind, Temporality, run_bounded, target_profile_dir,
    try_cargo_bin,
};
use tonic::codec::CompressionEncoding;

/// Upper bound for anything to arrive at the receiver.
const ARRIVAL: Duration = Duration::from_secs(10);
/// Upper bound for one request to the collector.
const SEND: Duration = Duration::from_secs(5);

const START_NS: u64 = 1_700_000_000_000_000_000;
const END_NS: u64 = START_NS + 10_000_000_000;
const BOUNDS: [f64; 3] = [8.0, 64.0, 512.0];
const BUCKETS: [u64; 4] = [1, 2, 3, 4];
const COUNT: u64 = 10;
const SUM: f64 = 1234.5;
const BYTES: i64 = 4096;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn str_kv(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.into()))
}

fn resource(service: &str) -> Resource {
    Resource {
        attributes: vec![
            str_kv("service.name", service),
            kv("process.pid", any_value::Value::IntValue(4242)),
        ],
        ..Default::default()
    }
}

fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "rtscope.selftest".into(),
        version: "0.1.0".into(),
        ..Default::default()
    }
}

/// One delta histogram `<prefix>.alloc.size` with known buckets and one
/// delta monotonic sum `<prefix>.alloc.bytes`.
fn metrics_request(service: &str, prefix: &str) -> ExportMetricsServiceRequest {
    let histogram = Metric {
        name: format!("{prefix}.alloc.size"),
        unit: "By".into(),
        description: "allocation sizes".into(),
        data: Some(metric::Data::Histogram(Histogram {
            aggregation_temporality: AggregationTemporality::Delta as i32,
            data_points: vec![HistogramDataPoint {
                attributes: vec![str_kv("thread", "main")],
                start_time_unix_nano: START_NS,
                time_unix_nano: END_NS,
                count: COUNT,
                sum: Some(SUM),
                bucket_counts: BUCKETS.to_vec(),
                explicit_bounds: BOUNDS.to_vec(),
                min: Some(1.0),
                max: Some(600.0),
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    let sum = Metric {
        name: format!("{prefix}.alloc.bytes"),
        unit: "By".into(),
        data: Some(metric::Data::Sum(Sum {
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: true,
            data_points: vec![NumberDataPoint {
                start_time_unix_nano: START_NS,
                time_unix_nano: END_NS,
                value: Some(number_data_point::Value::AsInt(BYTES)),
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(resource(service)),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(scope()),
                metrics: vec![histogram, sum],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn logs_request(service: &str, body: &str) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(resource(service)),
            scope_logs: vec![ScopeLogs {
                scope: Some(scope()),
                log_records: vec![LogRecord {
                    time_unix_nano: END_NS,
                    severity_number: 13,
                    severity_text: "WARN".into(),
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(body.into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Asserts the receiver got exactly what [`metrics_request`] sent.
fn assert_exact(collector: &Collector, service: &str, prefix: &str) {
    let size = collector.wait_for_metric(&format!("{prefix}.alloc.size"), ARRIVAL);
    let [h]: [DataPoint; 1] = size.try_into().unwrap_or_else(|v: Vec<_>| {
        panic!(
            "want one `{prefix}.alloc.size` point, got {}; received metrics: {:?}\nrotel log:\n{}",
            v.len(),
            collector.metric_names(),
            collector.rotel_log()
        )
    });
    assert_eq!(h.kind(), MetricKind::Histogram);
    assert_eq!(h.temporality(), Some(Temporality::Delta));
    assert_eq!(h.bucket_counts(), BUCKETS);
    assert_eq!(h.explicit_bounds(), BOUNDS);
    assert_eq!(h.count(), COUNT);
    assert_eq!(h.sum(), Some(SUM));
    assert_eq!(h.min(), Some(1.0));
    assert_eq!(h.max(), Some(600.0));
    assert_eq!(h.start_time_unix_nano(), START_NS);
    assert_eq!(h.time_unix_nano(), END_NS);
    assert_eq!(h.unit(), "By");
    assert_eq!(h.description(), "allocation sizes");
    assert_eq!(h.attr_str("thread"), Some("main"));
    assert_eq!(h.resource_str("service.name"), Some(service));
    assert_eq!(
        h.resource_attr("process.pid").and_then(any_value_i64),
        Some(4242)
    );
    assert_eq!(h.scope_name(), Some("rtscope.selftest"));
    assert_eq!(h.scope_json()["version"], "0.1.0");
    // OTLP/JSON as the receiver writes it: 64-bit ints are strings, enums ints.
    assert_eq!(h["count"], "10");
    assert_eq!(h["bucketCounts"], serde_json::json!(["1", "2", "3", "4"]));

    let bytes = collector.wait_for_metric(&format!("{prefix}.alloc.bytes"), ARRIVAL);
    assert_eq!(bytes.len(), 1, "{bytes:?}");
    let s = &bytes[0];
    assert_eq!(s.kind(), MetricKind::Sum);
    assert_eq!(s.temporality(), Some(Temporality::Delta));
    assert_eq!(s.is_monotonic(), Some(true));
    assert_eq!(s.as_i64(), Some(BYTES));
    assert_eq!(s.resource_str("service.name"), Some(service));
    assert_eq!(
        s.request_index(),
        h.request_index(),
        "both metrics came in one request"
    );
}

/// A plain HTTP/1.1 POST over a std socket: returns the status code and the
/// response body. Every socket operation is bounded by `timeout`.
fn post(
    endpoint: &str,
    path: &str,
    body: &[u8],
    gzip: bool,
    timeout: Duration,
) -> io::Result<(u16, Vec<u8>)> {
    let host = endpoint.trim_start_matches("http://");
    let addr: SocketAddr = host.parse().map_err(io::Error::other)?;
    let body = if gzip {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(body)?;
        enc.finish()?
    } else {
        body.to_vec()
    };
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let encoding = if gzip {
        "Content-Encoding: gzip\r\n"
    } else {
        ""
    };
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-protobuf\r\n\
         {encoding}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(&body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::other(format!("bad response: {text:?}")))?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |i| i + 4);
    Ok((status, response[split..].to_vec()))
}

fn post_metrics(collector: &Collector, req: &ExportMetricsServiceRequest, gzip: bool) {
    let (status, body) = post(
        &collector.http_endpoint(),
        "/v1/metrics",
        &req.encode_to_vec(),
        gzip,
        SEND,
    )
    .expect("POST /v1/metrics to rotel");
    assert_eq!(status, 200, "body: {}", String::from_utf8_lossy(&body));
    let response = ExportMetricsServiceResponse::decode(body.as_slice())
        .expect("an ExportMetricsServiceResponse");
    assert_eq!(response.partial_success, None);
}

async fn grpc_metrics(
    collector: &Collector,
    req: ExportMetricsServiceRequest,
    gzip: bool,
) -> Result<ExportMetricsServiceResponse, tonic::Status> {
    let mut client = MetricsServiceClient::connect(collector.grpc_endpoint())
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    if gzip {
        client = client.send_compressed(CompressionEncoding::Gzip);
    }
    client.export(req).await.map(tonic::Response::into_inner)
}

#[tokio::test]
async fn grpc_export_arrives_exactly() {
    let collector = Collector::start();
    let reply = tokio::time::timeout(
        SEND,
        grpc_metrics(&collector, metrics_request("selftest-grpc", "grpc"), false),
    )
    .await
    .expect("gRPC export answered in time")
    .expect("gRPC export accepted");
    assert_eq!(reply.partial_success, None);
    assert_exact(&collector, "selftest-grpc", "grpc");
    assert_eq!(
        collector.metric_requests().len(),
        1,
        "one request in, one out"
    );
}

#[tokio::test]
async fn grpc_gzip_export_arrives_exactly() {
    let collector = Collector::start();
    tokio::time::timeout(
        SEND,
        grpc_metrics(
            &collector,
            metrics_request("selftest-grpc-gz", "grpcgz"),
            true,
        ),
    )
    .await
    .expect("gRPC export answered in time")
    .expect("gzip gRPC export accepted");
    assert_exact(&collector, "selftest-grpc-gz", "grpcgz");
}

#[test]
fn http_protobuf_export_arrives_exactly() {
    let started = Instant::now();
    let collector = Collector::start();
    eprintln!("collector (receiver + rotel) up in {:?}", started.elapsed());
    let sent = Instant::now();
    post_metrics(&collector, &metrics_request("selftest-http", "http"), false);
    assert_exact(&collector, "selftest-http", "http");
    eprintln!("sent to rotel and read back in {:?}", sent.elapsed());
    assert_eq!(
        collector.metric_requests().len(),
        1,
        "one request in, one out"
    );
}

#[test]
fn http_gzip_export_arrives_exactly() {
    let collector = Collector::start();
    post_metrics(&collector, &metrics_request("selftest-gzip", "gzip"), true);
    assert_exact(&collector, "selftest-gzip", "gzip");
}

#[test]
fn cumulative_temporality_is_forwarded_as_sent() {
    let collector = Collector::start();
    let mut req = metrics_request("selftest-cumulative", "cumul");
    for m in &mut req.resource_metrics[0].scope_metrics[0].metrics {
        match &mut m.data {
            Some(metric::Data::Histogram(h)) => {
                h.aggregation_temporality = AggregationTemporality::Cumulative as i32;
            }
            Some(metric::Data::Sum(s)) => {
                s.aggregation_temporality = AggregationTemporality::Cumulative as i32;
            }
            _ => {}
        }
    }
    post_metrics(&collector, &req, false);
    let points = collector.wait_for_metric("cumul.alloc.size", ARRIVAL);
    assert_eq!(points.len(), 1);
    assert_eq!(points[0].temporality(), Some(Temporality::Cumulative));
    let bytes = collector.wait_for_metric("cumul.alloc.bytes", ARRIVAL);
    assert_eq!(bytes[0].temporality(), Some(Temporality::Cumulative));
}

#[tokio::test]
async fn logs_arrive_over_http_and_grpc() {
    let collector = Collector::start();
    let (status, _) = post(
        &collector.http_endpoint(),
        "/v1/logs",
        &logs_request("selftest-logs", "over http").encode_to_vec(),
        true,
        SEND,
    )
    .expect("POST /v1/logs");
    assert_eq!(status, 200);
    let grpc = async {
        let mut client = LogsServiceClient::connect(collector.grpc_endpoint()).await?;
        let reply: ExportLogsServiceResponse = client
            .export(logs_request("selftest-logs", "over grpc"))
            .await?
            .into_inner();
        Ok::<_, Box<dyn std::error::Error>>(reply)
    };
    tokio::time::timeout(SEND, grpc)
        .await
        .expect("gRPC logs export answered in time")
        .expect("gRPC logs export accepted");

    let records = collector.wait_for_logs(2, ARRIVAL);
    let mut bodies: Vec<_> = records.iter().filter_map(|r| r.body_str()).collect();
    bodies.sort_unstable();
    assert_eq!(bodies, ["over grpc", "over http"]);
    for r in &records {
        assert_eq!(r.severity_number(), 13);
        assert_eq!(r.severity_text(), "WARN");
        assert_eq!(r.resource_str("service.name"), Some("selftest-logs"));
        assert_eq!(r.scope_name(), Some("rtscope.selftest"));
    }
    assert!(
        collector.metric_requests().is_empty(),
        "logs are not metrics"
    );
}

#[tokio::test]
async fn kill_then_restart_on_the_same_ports() {
    let mut collector = Collector::start();
    let (grpc, http) = (collector.grpc_endpoint(), collector.http_endpoint());
    post_metrics(
        &collector,
        &metrics_request("selftest-restart", "before"),
        false,
    );
    assert_exact(&collector, "selftest-restart", "before");

    collector.kill();
    assert!(!collector.is_running());
    for addr in [collector.grpc_addr(), collector.http_addr()] {
        let err = TcpStream::connect_timeout(&addr, SEND).expect_err("collector is gone");
        assert_eq!(
            err.kind(),
            io::ErrorKind::ConnectionRefused,
            "{addr}: {err}"
        );
    }
    let refused = tokio::time::timeout(
        SEND,
        grpc_metrics(
            &collector,
            metrics_request("selftest-restart", "dead"),
            false,
        ),
    )
    .await
    .expect("a dead collector fails fast");
    assert!(refused.is_err(), "export to a killed collector must fail");

    let started = Instant::now();
    collector.restart();
    eprintln!("rotel restarted in {:?}", started.elapsed());
    assert!(collector.is_running());
    assert_eq!(collector.grpc_endpoint(), grpc, "same gRPC port");
    assert_eq!(collector.http_endpoint(), http, "same HTTP port");
    tokio::time::timeout(
        SEND,
        grpc_metrics(
            &collector,
            metrics_request("selftest-restart", "aftergrpc"),
            false,
        ),
    )
    .await
    .expect("gRPC export answered in time after restart")
    .expect("gRPC export accepted after restart");
    post_metrics(
        &collector,
        &metrics_request("selftest-restart", "afterhttp"),
        false,
    );
    assert_exact(&collector, "selftest-restart", "aftergrpc");
    assert_exact(&collector, "selftest-restart", "afterhttp");
    // What arrived before the kill is still there.
    assert_eq!(collector.metric_points("before.alloc.size").len(), 1);
    assert!(collector.metric_points("dead.alloc.size").is_empty());
}

#[tokio::test]
async fn frozen_collector_accepts_connections_but_never_answers() {
    let mut collector = Collector::start();
    collector.freeze();
    assert!(collector.is_frozen());

    // The kernel completes the handshake from the listen backlog...
    TcpStream::connect_timeout(&collector.http_addr(), SEND)
        .expect("a frozen collector still accepts TCP connections");
    // ...but no answer comes.
    let patience = Duration::from_millis(800);
    let started = Instant::now();
    let err = post(
        &collector.http_endpoint(),
        "/v1/metrics",
        &metrics_request("selftest-freeze", "frozenhttp").encode_to_vec(),
        false,
        patience,
    )
    .expect_err("a frozen collector never answers over HTTP");
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ),
        "want a timeout, got {err}"
    );
    assert!(
        started.elapsed() >= patience,
        "failed before the timeout: {err}"
    );

    let started = Instant::now();
    let grpc = tokio::time::timeout(
        patience,
        grpc_metrics(
            &collector,
            metrics_request("selftest-freeze", "frozengrpc"),
            false,
        ),
    )
    .await;
    assert!(
        grpc.is_err(),
        "a frozen collector never answers over gRPC, got {grpc:?}"
    );
    assert!(started.elapsed() >= patience);
    assert!(collector.metric_points("frozenhttp.alloc.size").is_empty());

    collector.thaw();
    assert!(!collector.is_frozen());
    post_metrics(
        &collector,
        &metrics_request("selftest-freeze", "thawed"),
        false,
    );
    assert_exact(&collector, "selftest-freeze", "thawed");
    tokio::time::timeout(
        SEND,
        grpc_metrics(
            &collector,
            metrics_request("selftest-freeze", "thawedgrpc"),
            false,
        ),
    )
    .await
    .expect("gRPC answered in time after thaw")
    .expect("gRPC export accepted after thaw");
    assert_exact(&collector, "selftest-freeze", "thawedgrpc");
}

#[test]
fn batching_merges_requests_without_losing_points() {
    let collector = Collector::builder()
        .with_batching(Duration::from_millis(300))
        .start();
    post_metrics(
        &collector,
        &metrics_request("selftest-batch", "batch"),
        false,
    );
    post_metrics(
        &collector,
        &metrics_request("selftest-batch", "batch"),
        true,
    );
    let points = collector.wait_for_points("batch.alloc.size", 2, ARRIVAL);
    assert_eq!(points.len(), 2);
    for p in &points {
        assert_eq!(p.bucket_counts(), BUCKETS);
        assert_eq!(p.resource_str("service.name"), Some("selftest-batch"));
    }
    assert_eq!(
        collector.metric_requests().len(),
        1,
        "rotel merges requests that arrive within its batch timeout"
    );
}

#[test]
fn missing_venv_says_how_to_install() {
    let err = Collector::builder()
        .with_venv("/nonexistent/rtscope-venv")
        .try_start()
        .expect_err("no venv there");
    assert!(matches!(err, Error::VenvMissing { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("bash scripts/install-collector.sh"),
        "{err}"
    );
}

#[test]
fn run_bounded_captures_output_and_kills_on_timeout() {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "echo out; echo \"$GREETING\" >&2; exit 3"])
        .env("GREETING", "hello");
    let out = run_bounded(cmd, SEND).expect("sh runs");
    assert!(!out.timed_out);
    assert_eq!(out.status.and_then(|s| s.code()), Some(3));
    assert!(!out.success());
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "hello\n");

    let mut cmd = Command::new("sleep");
    cmd.arg("30");
    let out = run_bounded(cmd, Duration::from_millis(200)).expect("sleep runs");
    assert!(out.timed_out);
    assert!(out.status.is_none());
    assert!(out.elapsed < Duration::from_secs(5), "{:?}", out.elapsed);
}

#[test]
fn cargo_bin_looks_in_the_profile_dir() {
    let dir = target_profile_dir().expect("profile dir");
    let exe = std::env::current_exe().expect("test exe");
    assert!(
        exe.starts_with(&dir),
        "{} under {}",
        exe.display(),
        dir.display()
    );
    assert!(
        dir.file_name().is_some_and(|n| n != "deps"),
        "{}",
        dir.display()
    );
    match try_cargo_bin("no-such-rtscope-binary") {
        Err(Error::BinaryMissing { path, .. }) => assert_eq!(path.parent(), Some(dir.as_path())),
        other => panic!("want BinaryMissing, got {other:?}"),
    }
}

/// The install script says the rotel version it pins (its binary reports a build name of its
/// own, which it used to print alone as if it were the version). Fast once installed.
#[test]
fn the_install_script_says_the_version_it_pins() {
    let script = rtscope_integration::workspace_dir().join("scripts/install-collector.sh");
    let text = std::fs::read_to_string(&script).expect("read the script");
    let pinned = text
        .lines()
        .find_map(|l| l.strip_prefix("ROTEL_VERSION=\""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("ROTEL_VERSION in the script");
    let mut cmd = Command::new("bash");
    cmd.arg(&script);
    let out = run_bounded(cmd, Duration::from_secs(600)).expect("run the script");
    assert!(out.success(), "{out:?}");
    let ready = out
        .stderr
        .lines()
        .find(|l| l.starts_with("install-collector: ready: "))
        .unwrap_or_else(|| panic!("no ready line: {}", out.stderr));
    assert!(
        ready.starts_with(&format!(
            "install-collector: ready: rotel {pinned} (rotel-agent "
        )),
        "{ready}"
    );
}
