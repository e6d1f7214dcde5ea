//! A hostile or broken collector (see `rtscope_integration::hostile`) never hurts the
//! application: its memory stays bounded whatever the collector sends, no line carries its
//! control characters or a credential, a `Retry-After` is honoured, and the application
//! runs on and exits within the shutdown timeout plus a second. Also the file destination's
//! cap and failures, and the gRPC logs endpoint.

use rtscope_integration::hostile::grpc::{GrpcAnswer, GrpcHostile};
use rtscope_integration::hostile::{Behavior, Hostile, run_measured};
use rtscope_integration::{Collector, RunOutput, assert_no_control_chars, run_bounded};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_known_workload");
/// `RTSCOPE_SHUTDOWN_TIMEOUT` default.
const SHUTDOWN: Duration = Duration::from_secs(2);
const PAUSE_MS: u64 = 100;

fn command(env: &[(&str, &str)], phases: u64) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args([phases.to_string(), PAUSE_MS.to_string()])
        .env("RTSCOPE_SUMMARY", "off")
        .env("OTEL_METRIC_EXPORT_INTERVAL", "100")
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "1000");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs the workload of `phases` phases; asserts it succeeded and exited within the
/// workload's own time plus the shutdown timeout plus one second. Returns the output and
/// the child's peak RSS.
fn run(env: &[(&str, &str)], phases: u64) -> (RunOutput, u64) {
    let (out, rss) = run_measured(command(env, phases), Duration::from_secs(60)).expect("run");
    assert!(out.success(), "known_workload failed or hung: {out:?}");
    let bound = Duration::from_millis(phases * PAUSE_MS) + SHUTDOWN + Duration::from_secs(1);
    assert!(
        out.elapsed <= bound,
        "exit took {:?}, more than {bound:?}: {}",
        out.elapsed,
        out.stderr
    );
    (out, rss)
}

fn lines_with<'a>(stderr: &'a str, needle: &str) -> Vec<&'a str> {
    stderr.lines().filter(|l| l.contains(needle)).collect()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtscope-hostile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_gigabyte_body_is_never_read_into_memory() {
    // An error answer and a success answer alike.
    for status in [500, 200] {
        let server = Hostile::start(Behavior::status(status).with_huge_body(1 << 30));
        let endpoint = server.endpoint();
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000"),
        ];
        let (out, rss) = run(&env, 5);
        let requests = server.requests();
        assert!(requests >= 1, "{}", out.stderr);
        // What the agent's socket accepted: kernel buffers at most, never the gigabyte.
        let sent = server.body_bytes_sent();
        assert!(
            sent < requests * (32 << 20),
            "{status}: the agent accepted {sent} body bytes over {requests} requests"
        );
        assert!(
            rss < 100 << 20,
            "{status}: peak RSS {rss} bytes while a 1 GiB body was offered"
        );
        let failures = usize::from(status != 200);
        assert_eq!(
            lines_with(&out.stderr, "failed:").len(),
            failures,
            "{}",
            out.stderr
        );
        eprintln!(
            "{status}: peak RSS {} KiB, {sent} body bytes accepted over {requests} requests",
            rss / 1024
        );
    }
}

#[test]
fn a_hostile_body_cannot_forge_lines_or_drive_the_terminal() {
    let forged = "boom\n\u{1b}[2J\u{1b}[Hrtscope: export to OTLP/HTTP x recovered after 1 failed \
                  attempt(s)\r\n"
        .repeat(100);
    let server = Hostile::start(Behavior::status(500).with_body(forged));
    let endpoint = server.endpoint();
    let (out, _) = run(&[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())], 3);
    assert_no_control_chars(&out.stderr);
    assert!(
        !out.stderr
            .lines()
            .any(|l| l.starts_with("rtscope: export to OTLP/HTTP x")),
        "a forged line: {}",
        out.stderr
    );
    let failed = lines_with(&out.stderr, "failed:");
    assert_eq!(failed.len(), 1, "{}", out.stderr);
    assert!(failed[0].contains("boom\\n\\u{1b}[2J"), "{}", failed[0]);
    // The echo is capped: a 100-times repeated body gives one short line.
    assert!(
        failed[0].len() < 600,
        "{} bytes: {}",
        failed[0].len(),
        failed[0]
    );
}

#[test]
fn credentials_never_reach_stderr_or_the_summary() {
    let server = Hostile::start(
        Behavior::status(401).with_body("invalid Bearer TOKEN-456 for user:PASSWORD-123"),
    );
    let endpoint = format!("http://user:PASSWORD-123@127.0.0.1:{}", server.port());
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20TOKEN-456",
        ),
        ("RTSCOPE_SUMMARY", "on"),
    ];
    let (out, _) = run(&env, 3);
    assert!(server.requests() >= 1);
    for secret in ["PASSWORD-123", "TOKEN-456"] {
        assert!(!out.stderr.contains(secret), "{secret} in: {}", out.stderr);
        assert!(!out.stdout.contains(secret), "{secret} in stdout");
    }
    let failed = lines_with(&out.stderr, "failed:");
    assert_eq!(failed.len(), 1, "{}", out.stderr);
    assert!(
        failed[0].contains("http://[redacted]@127.0.0.1"),
        "{}",
        failed[0]
    );
    assert!(out.stderr.contains("rtscope summary"), "{}", out.stderr);
}

#[test]
fn a_grpc_sink_that_cannot_be_built_shows_no_header_and_falls_back_to_the_configured_file() {
    let dir = temp_dir("grpc-fallback");
    let file = dir.join("configured.jsonl");
    let file_s = file.to_str().unwrap();
    // A `-bin` name is a valid HTTP header but not ASCII gRPC metadata: the sink cannot be
    // built.
    let env = [
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://user:PASSWORD-123@127.0.0.1:9",
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20TOKEN-456,x-note-bin=abc",
        ),
        ("RTSCOPE_FILE", file_s),
        ("RTSCOPE_SUMMARY", "on"),
    ];
    let mut cmd = command(&env, 3);
    cmd.current_dir(&dir);
    let out = run_bounded(cmd, Duration::from_secs(30)).expect("run");
    assert!(out.success(), "{out:?}");
    for secret in ["PASSWORD-123", "TOKEN-456", "Bearer"] {
        assert!(!out.stderr.contains(secret), "{secret} in: {}", out.stderr);
    }
    let fallback = lines_with(&out.stderr, "cannot export to");
    assert_eq!(fallback.len(), 1, "{}", out.stderr);
    assert!(fallback[0].contains(file_s), "{}", fallback[0]);
    assert!(
        std::fs::metadata(&file).is_ok_and(|m| m.len() > 0),
        "{file_s} not written: {}",
        out.stderr
    );
    assert!(
        !dir.join("rtscope-otlp.jsonl").exists(),
        "wrote the default file"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn retry_after_30_s_means_one_request_in_3_s() {
    let server = Hostile::start(Behavior::status(429).with_retry_after("30"));
    let endpoint = server.endpoint();
    let (out, _) = run(&[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())], 30);
    // One request of each signal: metrics, and logs once events come.
    assert_eq!(server.requests_to("/v1/metrics"), 1, "{}", out.stderr);
    assert!(server.requests_to("/v1/logs") <= 1, "{}", out.stderr);
    let failed = lines_with(&out.stderr, "failed:");
    assert_eq!(failed.len(), 1, "{}", out.stderr);
    assert!(
        failed[0].contains("429") && failed[0].contains("asked for a pause of 30.0s"),
        "{}",
        failed[0]
    );
}

#[test]
fn a_short_retry_after_is_waited_for_within_the_export_and_never_shortened() {
    let server = Hostile::start(Behavior::status(503).with_retry_after("1"));
    let endpoint = server.endpoint();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000"),
    ];
    let (out, _) = run(&env, 25);
    // Each signal's requests (they go out at once, each with its own pause).
    for path in ["/v1/metrics", "/v1/logs"] {
        let arrivals = server.arrivals_to(path);
        assert!(
            arrivals.len() >= 2 || path == "/v1/logs",
            "no retry: {}",
            out.stderr
        );
        for pair in arrivals.windows(2) {
            let gap = pair[1] - pair[0];
            assert!(
                gap >= Duration::from_millis(990),
                "a request to {path} {gap:?} after the previous one, though the collector \
                 asked for 1 s"
            );
        }
    }
}

#[test]
fn a_503_without_retry_after_is_retried_three_times_with_backoff() {
    let server = Hostile::start(Behavior::status(503));
    let endpoint = server.endpoint();
    // One export only: the final one (the interval is longer than the run).
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "60000"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "5000"),
    ];
    let (out, _) = run(&env, 2);
    let arrivals = server.arrivals_to("/v1/metrics");
    assert_eq!(arrivals.len(), 4, "{}", out.stderr);
    for (pair, least) in arrivals.windows(2).zip([100, 200, 400]) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(least),
            "{arrivals:?}"
        );
    }
}

#[test]
fn slow_silent_and_resetting_collectors_leave_the_application_running() {
    let cases = [
        (
            "slow",
            Behavior::status(200).with_delay(Duration::from_secs(3)),
        ),
        ("never reads", Behavior::AcceptNeverRead),
        ("resets", Behavior::Reset),
    ];
    for (what, behavior) in cases {
        let server = Hostile::start(behavior);
        let endpoint = server.endpoint();
        let (out, rss) = run(&[("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())], 10);
        assert!(server.requests() >= 1, "{what}: {}", out.stderr);
        assert_eq!(
            lines_with(&out.stderr, "failed:").len(),
            1,
            "{what}: {}",
            out.stderr
        );
        assert_no_control_chars(&out.stderr);
        assert!(rss < 100 << 20, "{what}: peak RSS {rss}");
    }
}

fn size(p: &Path) -> u64 {
    std::fs::metadata(p).map_or(0, |m| m.len())
}

#[test]
fn the_file_and_its_predecessor_stay_under_rtscope_file_max_bytes() {
    let dir = temp_dir("cap");
    let file = dir.join("out.jsonl");
    let rotated = dir.join("out.jsonl.1");
    let cap = 400_000;
    let env = [
        ("RTSCOPE_FILE", file.to_str().unwrap()),
        ("RTSCOPE_FILE_MAX_BYTES", "400000"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "20"),
    ];
    let (out, _) = run(&env, 20);
    let start = lines_with(&out.stderr, "OTLP/JSON lines to");
    assert_eq!(start.len(), 1, "{}", out.stderr);
    assert!(
        start[0].contains(file.to_str().unwrap())
            && start[0].contains("OTEL_EXPORTER_OTLP_ENDPOINT"),
        "{}",
        start[0]
    );
    assert!(size(&rotated) > 0, "never rotated: {} bytes", size(&file));
    assert!(size(&file) + size(&rotated) <= cap);
    for p in [&file, &rotated] {
        let text = std::fs::read_to_string(p).unwrap();
        for line in text.lines() {
            serde_json::from_str::<serde_json::Value>(line).expect("a whole record");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_unwritable_file_is_said_once_and_the_application_runs_on() {
    let (out, _) = run(&[("RTSCOPE_FILE", "/dev/full")], 10);
    let lines = lines_with(&out.stderr, "/dev/full");
    // The start line and one failure line, not one per export.
    assert_eq!(
        lines_with(&out.stderr, "cannot write /dev/full").len(),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(lines.len(), 2, "{}", out.stderr);
}

#[test]
fn grpc_logs_go_to_the_logs_endpoint() {
    let metrics = Collector::start();
    let logs = Collector::start();
    let (m, l) = (metrics.grpc_endpoint(), logs.grpc_endpoint());
    let env = [
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", m.as_str()),
        ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", l.as_str()),
        ("RTSCOPE_SAMPLING_INTERVAL", "65536"),
    ];
    let (out, _) = run(&env, 5);
    let records = logs.wait_for_logs(1, Duration::from_secs(15));
    assert!(!records.is_empty(), "{}", out.stderr);
    metrics.wait_for_metric("rust.memory.allocation.size", Duration::from_secs(15));
    assert!(
        metrics.log_records().is_empty(),
        "logs went to the metrics endpoint"
    );
    assert!(
        logs.metric_names().is_empty(),
        "metrics went to the logs endpoint"
    );
}

/// A full 1 MiB tmpfs and a read-only one: one line each, the application runs on. Needs
/// root to mount; elsewhere it says so and passes (the `/dev/full` test above still runs).
#[test]
fn a_full_or_read_only_file_system_is_said_once_and_the_application_runs_on() {
    for (what, options) in [("full", "size=1m"), ("read-only", "size=1m,ro")] {
        let dir = temp_dir(what);
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(&dir)
            .output()
            .is_ok_and(|o| o.status.success());
        if !mounted {
            eprintln!("cannot mount a tmpfs here (not root?); the {what} case is untested");
            return;
        }
        let file = dir.join("out.jsonl");
        let env = [
            ("RTSCOPE_FILE", file.to_str().unwrap()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "10"),
        ];
        let (out, _) = run(&env, 30);
        let _ = Command::new("umount").arg(&dir).status();
        let failed = lines_with(&out.stderr, "failed:");
        assert_eq!(failed.len(), 1, "{what}: {}", out.stderr);
        assert!(
            failed[0].contains("No space left") || failed[0].contains("Read-only"),
            "{what}: {}",
            failed[0]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Whether `text` holds `secret` in any ASCII case.
fn holds(text: &str, secret: &str) -> bool {
    text.to_ascii_lowercase()
        .contains(&secret.to_ascii_lowercase())
}

#[test]
fn every_form_of_a_secret_a_collector_echoes_is_redacted_over_http_and_grpc() {
    // The forms of `Bearer SECRET123` and of `admin:hunter2pw` a collector may send back.
    let forms = [
        "SECRET123",
        "hunter2pw",
        "admin:hunter2pw",
        "YWRtaW46aHVudGVyMnB3",
    ];
    // HTTP: the token alone and lower-cased, then the request head with its Basic
    // credentials (made of the userinfo when no `authorization` header is configured).
    let token = Hostile::start(
        Behavior::status(401).with_body("invalid token SECRET123 (secret123); got: "),
    );
    let echo = Hostile::start(Behavior::status(401).with_echoed_head());
    let cases = [
        (
            format!("http://127.0.0.1:{}", token.port()),
            "http/protobuf",
            Some("authorization=Bearer%20SECRET123"),
        ),
        (
            format!("http://admin:hunter2pw@127.0.0.1:{}", echo.port()),
            "http/protobuf",
            None,
        ),
    ];
    // gRPC: the token without its `Bearer ` prefix, lower-cased, and every header received.
    let grpc = GrpcHostile::start(|request| {
        let token = request.metadata("authorization").unwrap_or_default();
        let bare = token.trim_start_matches("Bearer ");
        let heads: Vec<String> = request
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        GrpcAnswer::status(
            16,
            format!(
                "bad token {bare} ({}); {}",
                bare.to_lowercase(),
                heads.join("; ")
            ),
        )
    });
    let grpc_endpoint = grpc
        .endpoint()
        .replace("http://", "http://admin:hunter2pw@");
    let cases = cases.into_iter().chain([(
        grpc_endpoint,
        "grpc",
        Some("authorization=Bearer%20SECRET123"),
    )]);
    for (endpoint, protocol, headers) in cases {
        let mut env = vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("RTSCOPE_SUMMARY", "on"),
        ];
        if let Some(h) = headers {
            env.push(("OTEL_EXPORTER_OTLP_HEADERS", h));
        }
        let (out, _) = run(&env, 3);
        let failed = lines_with(&out.stderr, "failed:");
        assert_eq!(failed.len(), 1, "{protocol}: {}", out.stderr);
        // The collector's text is shown, its secrets are not.
        let said = if protocol == "grpc" {
            "bad token [redacted] ([redacted])"
        } else if headers.is_some() {
            "invalid token [redacted] ([redacted])"
        } else {
            "authorization: Basic [redacted]"
        };
        assert!(failed[0].contains(said), "{protocol}: {}", failed[0]);
        for secret in forms {
            assert!(
                !holds(&out.stderr, secret) && !holds(&out.stdout, secret),
                "{protocol}: {secret} in: {}",
                out.stderr
            );
        }
    }
    assert!(token.requests() >= 1 && echo.requests() >= 1 && grpc.requests() >= 1);
}

/// The known workload, 30 phases of 100 ms exporting every 100 ms, with profiles pushed over
/// OTLP to `endpoint`.
fn with_profiles(endpoint: &str, protocol: &str) -> RunOutput {
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
        ("OTEL_PROFILES_EXPORTER", "otlp"),
        ("RTSCOPE_SUMMARY", "on"),
    ];
    run(&env, 30).0
}

#[test]
fn a_collector_without_profiles_gets_one_line_and_metrics_and_logs_go_on() {
    // rotel takes metrics and logs but not OTLP Profiles, over HTTP and gRPC alike.
    for protocol in ["http/protobuf", "grpc"] {
        let c = Collector::start();
        let out = with_profiles(&c.endpoint_for(protocol), protocol);
        let line = lines_with(&out.stderr, "does not take profiles");
        assert_eq!(line.len(), 1, "{protocol}: {}", out.stderr);
        eprintln!("{protocol}: {}", line[0]);
        assert!(
            line[0].contains("the other signals go on"),
            "{protocol}: {}",
            line[0]
        );
        if protocol == "http/protobuf" {
            assert!(line[0].contains("/v1development/profiles"), "{}", line[0]);
        }
        // No other failure, metrics and logs arrive whole.
        assert!(
            lines_with(&out.stderr, "failed:").is_empty(),
            "{}",
            out.stderr
        );
        let (allocations, classes) = snapshot_of(&out);
        let points = c.wait_for_metric("rust.memory.allocation.size", Duration::from_secs(15));
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        loop {
            let points = c.metric_points("rust.memory.allocation.size");
            if let Some(p) = points.iter().find(|p| p.count() == allocations) {
                assert_eq!(p.bucket_counts(), classes);
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{protocol}: the final export never arrived ({} points): {}",
                points.len(),
                out.stderr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        drop(points);
        assert!(!c.log_records().is_empty(), "{protocol}: no log records");
        // The summary counts each signal: metrics none failed, profiles one export (the
        // first), then held back.
        let data = lines_with(&out.stderr, "  data: ");
        assert_eq!(data.len(), 1, "{}", out.stderr);
        let parts: Vec<&str> = data[0].split(": ").collect();
        let per_signal = parts.last().unwrap();
        assert!(
            per_signal.contains("profiles 1 (1 failed, ") && per_signal.contains(" held back)"),
            "{protocol}: {}",
            data[0]
        );
        for signal in ["metrics", "logs"] {
            let entry = per_signal
                .split(", ")
                .find(|e| e.starts_with(signal))
                .unwrap_or_else(|| panic!("{signal}: {}", data[0]));
            assert!(!entry.contains('('), "{protocol}: {}", data[0]);
        }
    }
}

/// (allocations, per-class allocations) from the child's SNAPSHOT line.
fn snapshot_of(out: &RunOutput) -> (u64, Vec<u64>) {
    let v = rtscope_integration::json_line(&out.stdout, "SNAPSHOT ");
    let classes = v["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    (v["allocations"].as_u64().unwrap(), classes)
}

#[test]
fn a_profiles_429_or_404_pauses_profiles_and_nothing_else() {
    const PROFILES: &str = "/v1development/profiles";
    for (answer, said) in [
        (
            Behavior::status(429).with_retry_after("30"),
            "asked for a pause of 30.0s: no request before then; retrying once the pause is over",
        ),
        (Behavior::status(404), "does not take profiles"),
    ] {
        let server = Hostile::start(Behavior::status(200).on_path(PROFILES, answer));
        let out = with_profiles(&server.endpoint(), "http/protobuf");
        assert_eq!(server.requests_to(PROFILES), 1, "{}", out.stderr);
        // 30 phases of 100 ms exporting every 100 ms: metrics go on all along.
        let metrics = server.requests_to("/v1/metrics");
        eprintln!(
            "{said}: {metrics} metrics, {} logs, 1 profiles request(s)",
            server.requests_to("/v1/logs")
        );
        assert!(metrics >= 10, "{metrics} metrics requests: {}", out.stderr);
        let lines: Vec<&str> = out
            .stderr
            .lines()
            // Besides the start line (where the data goes) and the summary.
            .filter(|l| {
                l.starts_with("rtscope: ")
                    && !l.starts_with("rtscope: sending ")
                    && !l.contains("summary")
            })
            .collect();
        assert_eq!(lines.len(), 1, "{}", out.stderr);
        assert!(
            lines[0].contains(said)
                && lines[0].contains(PROFILES)
                && !lines[0].contains("/v1/metrics"),
            "{}",
            lines[0]
        );
    }
}

#[test]
fn a_file_cap_smaller_than_a_batch_of_log_records_splits_it_and_every_export_succeeds() {
    let dir = temp_dir("small-cap");
    let file = dir.join("out.jsonl");
    // At the default sampling target (100 samples a second, about 700 bytes each as
    // OTLP/JSON), 4 s of the workload leave the final export about 280 KB of log records:
    // more than half of a 300 000-byte cap.
    let env = [
        ("RTSCOPE_FILE", file.to_str().unwrap()),
        ("RTSCOPE_FILE_MAX_BYTES", "300000"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "10000"),
        ("RTSCOPE_SUMMARY", "on"),
    ];
    let (out, _) = run(&env, 40);
    assert!(
        lines_with(&out.stderr, "failed:").is_empty(),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("(none failed)"), "{}", out.stderr);
    let rotated = dir.join("out.jsonl.1");
    assert!(size(&file) + size(&rotated) <= 300_000);
    let mut records = 0;
    for p in [&rotated, &file] {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        for line in text.lines() {
            assert!(line.len() < 150_000, "a line of {} bytes", line.len());
            let v: serde_json::Value = serde_json::from_str(line).expect("a whole record");
            records += v["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
                .as_array()
                .map_or(0, Vec::len);
        }
    }
    assert!(records > 0, "no log record kept: {}", out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}
