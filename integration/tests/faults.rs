//! Faults and bad input: the collector absent, killed, restarted or frozen; bad variables;
//! no collector at all. The application always finishes on time, loses no count, and says
//! what is wrong once, clearly.

use rtscope_integration::{
    Collector, RunOutput, assert_no_control_chars, fault_suite, run_bounded,
};
use serde_json::Value;
use std::process::Command;
use std::thread;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_known_workload");
const WAIT: Duration = Duration::from_secs(15);

fn command(env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env("RTSCOPE_SUMMARY", "off");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn run(env: &[(&str, &str)], args: &[&str], limit: Duration) -> RunOutput {
    let out = run_bounded(command(env, args), limit).expect("run known_workload");
    assert!(out.success(), "known_workload failed or hung: {out:?}");
    out
}

/// (allocations, per-class allocations) from the child's SNAPSHOT line.
fn snapshot(out: &RunOutput) -> (u64, Vec<u64>) {
    let v = rtscope_integration::json_line(&out.stdout, "SNAPSHOT ");
    let classes = v["classes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    (v["allocations"].as_u64().unwrap(), classes)
}

/// Waits for the final export: a size histogram whose buckets equal the snapshot's.
fn assert_final_export_exact(c: &Collector, out: &RunOutput) {
    let (allocations, classes) = snapshot(out);
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let points = c.metric_points("rust.memory.allocation.size");
        if let Some(p) = points.iter().find(|p| p.count() == allocations) {
            assert_eq!(p.bucket_counts(), classes);
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "final export never arrived: {:?}",
            out.stderr
        );
        thread::sleep(Duration::from_millis(50));
    }
}

fn lines_with<'a>(stderr: &'a str, needle: &str) -> Vec<&'a str> {
    stderr.lines().filter(|l| l.contains(needle)).collect()
}

fn env_for(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_owned()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "100".to_owned()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "1000".to_owned()),
    ]
}

fn as_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Runs the child (40 phases of 100 ms) while `during` acts on the collector.
fn run_during(c: &mut Collector, protocol: &str, during: impl FnOnce(&mut Collector)) -> RunOutput {
    let endpoint = c.endpoint_for(protocol);
    let mut env = env_for(&endpoint);
    env.push(("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()));
    let cmd = command(&as_refs(&env), &["40", "100"]);
    let child = thread::spawn(move || run_bounded(cmd, Duration::from_secs(60)).expect("run"));
    during(c);
    let out = child.join().unwrap();
    assert!(out.success(), "{out:?}");
    out
}

#[test]
fn collector_absent_at_start_then_up_loses_nothing_and_logs_once() {
    for protocol in ["http/protobuf", "grpc"] {
        let mut c = Collector::start();
        c.kill();
        // Longer than the 1 s export timeout, so retries within one export cannot bridge it.
        let out = run_during(&mut c, protocol, |c| {
            thread::sleep(Duration::from_millis(1500));
            c.restart();
        });
        assert_final_export_exact(&c, &out);
        assert_eq!(
            lines_with(&out.stderr, "failed:").len(),
            1,
            "{protocol}: {}",
            out.stderr
        );
        assert_eq!(
            lines_with(&out.stderr, "recovered after").len(),
            1,
            "{protocol}: {}",
            out.stderr
        );
    }
}

#[test]
fn collector_killed_mid_run_and_restarted() {
    let mut c = Collector::start();
    let out = run_during(&mut c, "http/protobuf", |c| {
        thread::sleep(Duration::from_millis(400));
        c.kill();
        thread::sleep(Duration::from_millis(1500));
        c.restart();
    });
    assert_final_export_exact(&c, &out);
    assert_eq!(
        lines_with(&out.stderr, "failed:").len(),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(
        lines_with(&out.stderr, "recovered after").len(),
        1,
        "{}",
        out.stderr
    );
}

#[test]
fn frozen_collector_never_holds_the_application_past_the_shutdown_bound() {
    for protocol in ["http/protobuf", "grpc"] {
        let mut c = Collector::start();
        c.freeze();
        let endpoint = c.endpoint_for(protocol);
        // An export may wait 30 s for an answer; the application must not.
        let env = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "30000"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "100"),
        ];
        let out = run(&env, &["3", "100"], Duration::from_secs(20));
        assert!(
            out.elapsed < Duration::from_secs(15),
            "{protocol}: took {:?}; the 30 s export timeout leaked into the exit",
            out.elapsed
        );
        assert_eq!(
            lines_with(&out.stderr, "did not finish within 2s").len(),
            1,
            "{}",
            out.stderr
        );
        c.thaw();
    }
}

#[test]
fn bad_variables_are_named_once_and_the_application_runs_on() {
    let c = Collector::start();
    let endpoint = c.http_endpoint();
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "abc"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon"),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "-5"),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "zip"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization"),
    ];
    let out = run(&env, &[], Duration::from_secs(30));
    for (var, value) in [
        ("OTEL_METRIC_EXPORT_INTERVAL", "\"abc\""),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "\"carrier-pigeon\""),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "\"-5\""),
        ("OTEL_EXPORTER_OTLP_COMPRESSION", "\"zip\""),
        // Header values may be credentials: the line names the entry, never its text.
        (
            "OTEL_EXPORTER_OTLP_HEADERS",
            "entry 1 is not key=value (value not shown)",
        ),
    ] {
        let lines = lines_with(&out.stderr, var);
        assert_eq!(lines.len(), 1, "{var}: {}", out.stderr);
        assert!(
            lines[0].starts_with("rtscope: ") && lines[0].contains(value),
            "{}",
            lines[0]
        );
        assert!(
            lines[0].contains("using") || lines[0].contains("skipping"),
            "{}",
            lines[0]
        );
    }
    // Defaults were used (http/protobuf, 60 s interval): the final export still arrives.
    assert_final_export_exact(&c, &out);
}

fn temp_file(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rtscope-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

/// The last size histogram written to an OTLP/JSON-lines file.
fn last_histogram_in_file(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // Metrics and log (sample) requests share the file; take the last metrics one.
    let last = text
        .lines()
        .rev()
        .find(|l| l.starts_with(r#"{"resourceMetrics""#))
        .expect("at least one metrics line");
    let req: Value = serde_json::from_str(last).expect("OTLP/JSON line");
    let metrics = req["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
        .as_array()
        .unwrap();
    let m = metrics
        .iter()
        .find(|m| m["name"] == "rust.memory.allocation.size")
        .expect("histogram");
    m["histogram"]["dataPoints"][0].clone()
}

fn json_u64s(v: &Value) -> Vec<u64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn no_collector_configured_writes_otlp_json_lines_and_a_summary() {
    let path = temp_file("default.jsonl");
    let file = path.to_str().unwrap();
    let mut cmd = command(
        &[
            ("RTSCOPE_FILE", file),
            ("OTEL_METRIC_EXPORT_INTERVAL", "100"),
        ],
        &["4", "100"],
    );
    cmd.env("RTSCOPE_SUMMARY", "on")
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
    let out = run_bounded(cmd, Duration::from_secs(30)).unwrap();
    assert!(out.success(), "{out:?}");
    let (allocations, classes) = snapshot(&out);
    let point = last_histogram_in_file(&path);
    assert_eq!(
        point["count"].as_str().unwrap().parse::<u64>().unwrap(),
        allocations
    );
    assert_eq!(json_u64s(&point["bucketCounts"]), classes);
    let lines = std::fs::read_to_string(&path).unwrap().lines().count();
    assert!(
        lines >= 3,
        "periodic exports plus the final one, got {lines}"
    );
    let summary = out
        .stderr
        .split_once("rtscope summary")
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no summary: {}", out.stderr));
    // A report read at a glance: a handful of lines, the top classes with the rest folded,
    // the API's words, and the final export counted as it happened.
    assert!(summary.lines().count() <= 10, "{summary}");
    assert!(summary.contains("<= 20.0 KiB"), "top classes: {summary}");
    assert!(
        summary.contains("other classes"),
        "folded classes: {summary}"
    );
    assert!(summary.contains(" deallocations"), "{summary}");
    assert!(!summary.contains("frees"), "{summary}");
    assert!(summary.contains("(none failed)"), "{summary}");
}

#[test]
fn unusable_endpoint_falls_back_to_the_file_and_says_so() {
    let path = temp_file("fallback.jsonl");
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url"),
        ("RTSCOPE_FILE", path.to_str().unwrap()),
    ];
    let out = run(&env, &[], Duration::from_secs(30));
    let lines = lines_with(&out.stderr, "OTEL_EXPORTER_OTLP_ENDPOINT=");
    assert_eq!(lines.len(), 1, "{}", out.stderr);
    assert!(lines[0].contains("not a url"), "{}", lines[0]);
    let (allocations, _) = snapshot(&out);
    let point = last_histogram_in_file(&path);
    assert_eq!(
        point["count"].as_str().unwrap().parse::<u64>().unwrap(),
        allocations
    );
}

#[test]
fn sdk_disabled_exports_nothing() {
    let c = Collector::start();
    let path = temp_file("disabled.jsonl");
    let endpoint = c.http_endpoint();
    let env = [
        ("OTEL_SDK_DISABLED", "true"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("RTSCOPE_FILE", path.to_str().unwrap()),
        ("OTEL_METRIC_EXPORT_INTERVAL", "100"),
    ];
    let out = run(&env, &["3", "100"], Duration::from_secs(30));
    assert!(out.stdout.contains("SNAPSHOT"));
    thread::sleep(Duration::from_millis(500));
    assert!(c.metric_requests().is_empty());
    assert!(!path.exists());
}

/// Parses "12.5 MiB" / "300 B" from the summary.
fn parse_bytes(text: &str) -> f64 {
    let mut it = text.split_whitespace();
    let v: f64 = it.next().unwrap().parse().unwrap();
    let unit = it.next().unwrap();
    let pow = ["B", "KiB", "MiB", "GiB", "TiB"]
        .iter()
        .position(|u| *u == unit)
        .unwrap();
    v * 1024f64.powi(pow as i32)
}

#[test]
fn agent_memory_stays_bounded_while_the_collector_is_down() {
    let mut c = Collector::start();
    c.kill();
    let endpoint = c.http_endpoint();
    // A 4 KiB interval held there (the CPU budget off) and every sample a log record: each
    // of the workload's 33 000 blocks is sampled (a block of 20 kB crosses a sample point
    // 99 % of the time), and none of the records can be delivered.
    let mut cmd = command(
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_METRIC_EXPORT_INTERVAL", "100"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "500"),
            ("RTSCOPE_SAMPLING_INTERVAL", "4096"),
            ("RTSCOPE_SAMPLING_CPU", "100"),
            ("RTSCOPE_SAMPLING_TARGET", "1000000000"),
        ],
        &["300", "2"],
    );
    cmd.env("RTSCOPE_SUMMARY", "on");
    let out = run_bounded(cmd, Duration::from_secs(60)).unwrap();
    assert!(out.success(), "{out:?}");
    let events = out
        .stderr
        .lines()
        .find(|l| l.contains("  sampling: "))
        .expect("sampling line in the summary");
    let numbers: Vec<u64> = events
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let (taken, dropped_queue, dropped_backlog) = (numbers[0], numbers[1], numbers[2]);
    assert!(taken > 25_000, "{events}");
    // Everything beyond the bounded backlog (16384 events) was dropped and counted.
    assert!(
        dropped_queue + dropped_backlog >= taken - 16_384 - 16_384,
        "{events}"
    );
    assert!(dropped_backlog > 0, "{events}");
    let agent = out
        .stderr
        .lines()
        .find(|l| l.contains("  agent: allocated"))
        .expect("agent line");
    let live = agent
        .split('(')
        .nth(1)
        .and_then(|s| s.split(" live").next())
        .expect("live bytes");
    let live = parse_bytes(live);
    assert!(
        live < 64.0 * 1024.0 * 1024.0,
        "agent live memory {live} B: {agent}"
    );
    assert_eq!(
        lines_with(&out.stderr, "failed:").len(),
        1,
        "{}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------------------------
// The fault suite: every fault, the same four promises.
// ---------------------------------------------------------------------------------------------

/// Peak resident memory of the application with the agent, whatever the collector does.
const RSS_BOUND: u64 = 100 << 20;

/// Every fault of `rtscope_integration::fault_suite` against the `timed_loop` application:
/// the loop never stalls (no iteration as long as the export timeout), peak memory stays
/// under 100 MiB, the exit comes within the shutdown timeout plus a second, and rotel holds
/// the truth after recovery (cumulative), or the truth minus at most what the agent reported
/// lost (delta). What it costs the loop against a run without the agent is a measurement,
/// not a promise a loaded machine can keep: `examples/fault_ratios.rs` measures it
/// (docs/reliability.md has the figures).
#[test]
fn under_every_fault_the_loop_memory_exit_and_data_hold() {
    for case in fault_suite::cases() {
        let (o, ()) = fault_suite::run_case(&case, || {});
        let (what, t) = (case.what, &o.timed);
        let exit = t.run.exit_after_marker.unwrap_or_else(|| {
            panic!(
                "{what}: no SNAPSHOT line; status {:?}, stdout {:?}, stderr {}",
                t.run.status,
                t.run.stdout.lines().last(),
                t.run.stderr
            )
        });
        eprintln!(
            "{what}: longest iteration {} us, peak RSS {} MiB, exit {exit:?} after the loop, \
             truth {} allocations, received {}, reported lost {}{}",
            t.max_ns / 1000,
            t.peak_rss >> 20,
            t.allocations,
            o.received,
            o.lost,
            o.refused
                .map_or(String::new(), |n| format!(", {n} requests misbehaved on"))
        );
        if let Some(refused) = o.refused {
            assert!(refused > 0, "{what}: the fault never happened");
        }
        assert!(
            t.max_ns < fault_suite::LOOP_EXPORT_TIMEOUT.as_nanos() as u64,
            "{what}: one loop iteration took {} us: the agent stalled the application",
            t.max_ns / 1000
        );
        assert!(t.peak_rss < RSS_BOUND, "{what}: peak RSS {} B", t.peak_rss);
        assert!(
            exit <= fault_suite::LOOP_SHUTDOWN + Duration::from_secs(1),
            "{what}: exit took {exit:?} after the loop: {}",
            t.run.stderr
        );
        assert_no_control_chars(&t.run.stderr);
        if case.delta {
            assert!(
                o.received <= t.allocations && o.received + o.lost >= t.allocations,
                "{what}: received {} + lost {} against truth {}: {}",
                o.received,
                o.lost,
                t.allocations,
                t.run.stderr
            );
        } else {
            assert_eq!(o.received, t.allocations, "{what}: {}", t.run.stderr);
        }
    }
}
