//! How a program under the agent lives and ends whatever the network does: exit bounded by
//! the shutdown timeout even while name resolution hangs; delta data never counted twice
//! and every loss reported, under a slow, frozen or killed collector, and nothing lost when
//! the collector certainly did not take a request (down, 503, 429); a forked child exits
//! at once with exact counts; the exit summary counts every export with its result.

use rtscope_integration::hostile::Behavior;
use rtscope_integration::{
    Collector, Gate, SlowProxy, build_preload, json_line, run_bounded, run_watched, settle,
};
use serde_json::Value;
use std::process::Command;
use std::thread;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_known_workload");
const FORK_BIN: &str = env!("CARGO_BIN_EXE_fork_workload");

/// `getaddrinfo` that hangs for 30 s (then fails), as a dead DNS server makes it do.
const HANGING_RESOLVER: &str = r#"
#include <netdb.h>
#include <unistd.h>
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res) {
    (void)node; (void)service; (void)hints; (void)res;
    sleep(30);
    return EAI_AGAIN;
}
"#;

#[test]
fn a_hanging_resolver_never_holds_the_exit_or_piles_up_threads() {
    let shim = build_preload("hanging_getaddrinfo", HANGING_RESOLVER).unwrap();
    let shutdown = Duration::from_millis(1000);
    for protocol in ["http/protobuf", "grpc"] {
        let mut cmd = Command::new(BIN);
        // 20 phases of 100 ms: 2 s of exports every 100 ms, each resolving the name anew.
        cmd.args(["20", "100"])
            .env("LD_PRELOAD", &shim)
            .env("RTSCOPE_SUMMARY", "off")
            .env(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://collector.rtscope.test:4318",
            )
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
            .env("OTEL_METRIC_EXPORT_INTERVAL", "100")
            .env("OTEL_EXPORTER_OTLP_TIMEOUT", "200")
            .env("RTSCOPE_SHUTDOWN_TIMEOUT", shutdown.as_millis().to_string());
        let run = run_watched(cmd, "SNAPSHOT ", Duration::from_secs(60)).unwrap();
        assert!(run.success(), "{protocol}: {run:?}");
        let exit = run.exit_after_marker.expect("SNAPSHOT line");
        eprintln!(
            "{protocol}: exit {exit:?} after the work, at most {} threads",
            run.max_threads
        );
        assert!(
            exit <= shutdown + Duration::from_secs(1),
            "{protocol}: exit took {exit:?} after main's work ended, shutdown timeout {shutdown:?}; {}",
            run.stderr
        );
        // main, the export thread and one resolver thread (at most one lookup at a time).
        assert!(
            run.max_threads <= 3,
            "{protocol}: {} threads at once; stuck lookups pile up",
            run.max_threads
        );
    }
}

/// `getaddrinfo` for `collector.rtscope.test` that logs each call it starts (a line in
/// `$LOOKUP_LOG`), hangs 1 s and fails on the first, and answers 127.0.0.1 from then on: a DNS
/// server that was dead for a while.
const RECOVERING_RESOLVER: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
typedef int (*gai_fn)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
static int calls;
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
                struct addrinfo **res) {
    gai_fn real = (gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    if (node == NULL || strcmp(node, "collector.rtscope.test") != 0)
        return real(node, service, hints, res);
    const char *log = getenv("LOOKUP_LOG");
    if (log != NULL) {
        int fd = open(log, O_WRONLY | O_APPEND | O_CREAT, 0644);
        if (fd >= 0) {
            (void)write(fd, "lookup\n", 7);
            close(fd);
        }
    }
    if (__atomic_add_fetch(&calls, 1, __ATOMIC_SEQ_CST) == 1) {
        usleep(1000 * 1000);
        return EAI_AGAIN;
    }
    return real("127.0.0.1", service, hints, res);
}
"#;

/// While one lookup hangs, connect attempts wait for that one and then fail at once, nothing
/// sent ("still in progress"), without a lookup of their own queued behind it; once it ends,
/// one more lookup finds the collector and its answer and connection are kept. Under delta
/// temporality nothing is lost: what the failed exports carried comes with the next one.
/// Before, a hung lookup ended the attempt as "no answer within 200ms", a request that may
/// have arrived, so its delta data was counted lost and never sent.
#[test]
fn a_hung_lookup_fails_attempts_as_not_sent_and_lookups_never_queue() {
    let shim = build_preload("recovering_getaddrinfo", RECOVERING_RESOLVER).unwrap();
    let shutdown = Duration::from_millis(1000);
    for protocol in ["http/protobuf", "grpc"] {
        let collector = Collector::start();
        let log = std::env::temp_dir().join(format!(
            "rtscope-lookups-{}-{}",
            std::process::id(),
            protocol.replace('/', "-")
        ));
        let _ = std::fs::remove_file(&log);
        let port = match protocol {
            "grpc" => collector.grpc_addr().port(),
            _ => collector.http_addr().port(),
        };
        let mut cmd = Command::new(BIN);
        // 30 phases of 100 ms: 3 s of exports every 100 ms, the first second without DNS.
        cmd.args(["30", "100"])
            .env("LD_PRELOAD", &shim)
            .env("LOOKUP_LOG", &log)
            .env("RTSCOPE_SUMMARY", "off")
            .env(
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://collector.rtscope.test:{port}"),
            )
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
            .env("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
            .env("OTEL_METRIC_EXPORT_INTERVAL", "100")
            .env("OTEL_EXPORTER_OTLP_TIMEOUT", "200")
            .env("RTSCOPE_SHUTDOWN_TIMEOUT", shutdown.as_millis().to_string());
        let run = run_watched(cmd, "SNAPSHOT ", Duration::from_secs(60)).unwrap();
        assert!(run.success(), "{protocol}: {run:?}");
        let lookups = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .count();
        let _ = std::fs::remove_file(&log);
        assert!(
            run.stderr
                .contains("name lookup of collector.rtscope.test still in progress; nothing sent"),
            "{protocol}: {}",
            run.stderr
        );
        assert_eq!(
            lookups, 2,
            "{protocol}: {lookups} lookups started (expected the hung one, then one that found \
             the collector); {}",
            run.stderr
        );
        let exit = run.exit_after_marker.expect("SNAPSHOT line");
        assert!(
            exit <= shutdown + Duration::from_secs(1),
            "{protocol}: exit took {exit:?}"
        );
        let line = run
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("SNAPSHOT "))
            .expect("SNAPSHOT line");
        let truth = serde_json::from_str::<Value>(line).unwrap()["allocations"]
            .as_u64()
            .unwrap();
        settle(&collector);
        assert_eq!(
            received_and_lost(&collector),
            (truth, 0),
            "{protocol}: {}",
            run.stderr
        );
    }
}

#[test]
fn the_summary_counts_the_final_export_with_its_result() {
    // Nothing listens on this port: every export, the final one too, is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(BIN);
    cmd.args(["3", "100"])
        .env("RTSCOPE_SUMMARY", "on")
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://127.0.0.1:{port}"),
        )
        .env("OTEL_METRIC_EXPORT_INTERVAL", "100");
    let run = run_watched(cmd, "SNAPSHOT ", Duration::from_secs(60)).unwrap();
    assert!(run.success(), "{run:?}");
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("  data: "))
        .unwrap_or_else(|| panic!("no export count in the summary: {}", run.stderr));
    // "  agent: 6 exports to OTLP/HTTP ... (6 failed), ..."
    let number_before = |needle: &str| -> u64 {
        let head = &line[..line.find(needle).expect(needle)];
        let digits: String = head
            .chars()
            .rev()
            .take_while(char::is_ascii_digit)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        digits.parse().unwrap_or_else(|_| panic!("{line}"))
    };
    let exports = number_before(" exports to ");
    let failed = number_before(" failed)");
    assert!(exports >= 2, "{line}");
    assert_eq!(exports, failed, "every export failed: {line}");
}

/// Runs `known_workload` for 30 phases of 100 ms with delta temporality, exporting every
/// 100 ms to `endpoint` with a 300 ms timeout, while `during` acts on the collector; returns
/// the true allocation count (the child's SNAPSHOT) and its stderr.
fn delta_run(endpoint: &str, during: impl FnOnce()) -> (u64, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["30", "100"])
        .env("RTSCOPE_SUMMARY", "off")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
        .env("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
        .env("OTEL_METRIC_EXPORT_INTERVAL", "100")
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "300");
    let child = thread::spawn(move || run_bounded(cmd, Duration::from_secs(60)).expect("run"));
    during();
    let out = child.join().unwrap();
    assert!(out.success(), "{out:?}");
    let v = json_line(&out.stdout, "SNAPSHOT ");
    (v["allocations"].as_u64().unwrap(), out.stderr)
}

/// (sum of the delta points of `rust.memory.allocations` received, what the agent reports
/// lost of it), after checking the points' intervals never overlap.
fn received_and_lost(c: &Collector) -> (u64, u64) {
    let mut points: Vec<(u64, u64, u64)> = c
        .metric_points("rust.memory.allocations")
        .iter()
        .map(|p| {
            assert_eq!(
                p.temporality(),
                Some(rtscope_integration::Temporality::Delta)
            );
            let v = u64::try_from(p.as_i64().expect("asInt")).unwrap();
            (p.start_time_unix_nano(), p.time_unix_nano(), v)
        })
        .collect();
    assert!(!points.is_empty(), "nothing received");
    points.sort_unstable();
    for w in points.windows(2) {
        assert!(
            w[1].0 >= w[0].1,
            "delta intervals overlap: {:?} then {:?} (counted twice)",
            w[0],
            w[1]
        );
    }
    let sum = points.iter().map(|p| p.2).sum();
    // Cumulative: the latest report is the whole loss so far.
    let lost = c
        .metric_points("rtscope.export.lost")
        .iter()
        .filter(|p| p.attr_str("rtscope.metric") == Some("rust.memory.allocations"))
        .max_by_key(|p| p.time_unix_nano())
        .map_or(0, |p| u64::try_from(p.as_i64().expect("asInt")).unwrap());
    (sum, lost)
}

#[test]
fn delta_is_never_counted_twice_and_every_loss_is_reported() {
    // Slow: a proxy holds requests 700 ms (timeout 300 ms) for a second; the collector
    // keeps each one although the agent gave up waiting. Before, the baseline stayed put
    // and every later delta overlapped: the sum reached several times the truth.
    {
        let c = Collector::start();
        let proxy = SlowProxy::start(c.http_addr()).unwrap();
        let (truth, stderr) = delta_run(&proxy.endpoint(), || {
            thread::sleep(Duration::from_millis(800));
            proxy.set_delay(Duration::from_millis(700));
            thread::sleep(Duration::from_millis(1000));
            proxy.set_delay(Duration::ZERO);
        });
        settle(&c);
        let (sum, lost) = received_and_lost(&c);
        eprintln!("slow: truth {truth}, received {sum}, reported lost {lost}");
        assert!(
            lost > 0,
            "the unconfirmed exports were not reported: {stderr}"
        );
        assert!(
            stderr.contains("were not confirmed by the collector"),
            "no exit line about the loss: {stderr}"
        );
        assert_eq!(sum, truth, "everything arrived, late; nothing twice");
    }
    // Frozen: rotel stopped 1.5 s, then thawed.
    {
        let mut c = Collector::start();
        let endpoint = c.http_endpoint();
        let (truth, _) = delta_run(&endpoint, || {
            thread::sleep(Duration::from_millis(800));
            c.freeze();
            thread::sleep(Duration::from_millis(1500));
            c.thaw();
        });
        settle(&c);
        let (sum, lost) = received_and_lost(&c);
        eprintln!("frozen: truth {truth}, received {sum}, reported lost {lost}");
        assert!(lost > 0);
        assert!(sum <= truth && sum + lost >= truth, "{sum} {lost} {truth}");
    }
    // Killed mid-run: rotel gone 1 s, then restarted. A request under way when it dies may
    // have arrived (lost); the refused ones that follow come with the next export.
    {
        let mut c = Collector::start();
        let endpoint = c.http_endpoint();
        let (truth, _) = delta_run(&endpoint, || {
            thread::sleep(Duration::from_millis(800));
            c.kill();
            thread::sleep(Duration::from_millis(1000));
            c.restart();
        });
        settle(&c);
        let (sum, lost) = received_and_lost(&c);
        eprintln!("killed: truth {truth}, received {sum}, reported lost {lost}");
        assert!(sum <= truth && sum + lost >= truth, "{sum} {lost} {truth}");
    }
}

#[test]
fn delta_data_the_collector_certainly_did_not_take_comes_with_the_next_export() {
    // Down: rotel not running for the first second (every connection refused). Before, each
    // refused export moved the baseline and was counted lost: the sum fell short of the truth.
    {
        let mut c = Collector::start();
        c.kill();
        let endpoint = c.http_endpoint();
        let (truth, stderr) = delta_run(&endpoint, || {
            thread::sleep(Duration::from_millis(1000));
            c.restart();
        });
        settle(&c);
        let (sum, lost) = received_and_lost(&c);
        eprintln!("down: truth {truth}, received {sum}, reported lost {lost}");
        assert!(stderr.contains("failed"), "never refused: {stderr}");
        assert_eq!((sum, lost), (truth, 0), "{stderr}");
    }
    // A collector answering "not accepted" for a second: 503 (retried with backoff, then
    // given up), or 429 with `Retry-After: 1` (every export held back until then).
    for (status, retry_after) in [(503, None), (429, Some("1"))] {
        let c = Collector::start();
        let mut refusal = Behavior::status(status);
        if let Some(v) = retry_after {
            refusal = refusal.with_retry_after(v);
        }
        let gate = Gate::start(c.http_addr(), refusal).unwrap();
        let (truth, stderr) = delta_run(&gate.endpoint(), || {
            thread::sleep(Duration::from_millis(1000));
            gate.open();
        });
        settle(&c);
        let (sum, lost) = received_and_lost(&c);
        eprintln!(
            "{status} then OK: truth {truth}, received {sum}, reported lost {lost}, {} refused",
            gate.refused()
        );
        assert!(gate.refused() > 0, "{stderr}");
        assert_eq!((sum, lost), (truth, 0), "{status}: {stderr}");
    }
}

/// The `{json}` after `prefix` on a line of `stdout`.
#[test]
fn a_forked_child_exits_at_once_and_counts_stay_exact_in_both() {
    let dir = std::env::temp_dir().join(format!("rtscope-lifecycle-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("fork.jsonl");
    let _ = std::fs::remove_file(&file);
    let mut cmd = Command::new(FORK_BIN);
    cmd.env("RTSCOPE_SUMMARY", "off")
        .env("RTSCOPE_FILE", &file)
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .env("OTEL_METRIC_EXPORT_INTERVAL", "100")
        // Long, so a child that waits for the parent's export thread cannot go unnoticed.
        .env("RTSCOPE_SHUTDOWN_TIMEOUT", "20000");
    let out = run_bounded(cmd, Duration::from_secs(60)).unwrap();
    assert!(out.success(), "{out:?}");
    let fork = json_line(&out.stdout, "FORK ");
    assert_eq!(fork["child_exited"], true, "{out:?}");
    assert_eq!(fork["child_status"], 0, "{out:?}");
    let child_ms = fork["child_ms"].as_u64().unwrap();
    eprintln!("forked child lived {child_ms} ms");
    assert!(
        child_ms < 10_000,
        "the child waited {child_ms} ms at exit for an export thread it does not have: {}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("did not finish"),
        "misleading line from the child: {}",
        out.stderr
    );
    // The child's own counts are exact: 1000 blocks of 3000 B and the Vec holding them
    // (1000 boxed-slice pointers of 16 B).
    let child = json_line(&out.stdout, "CHILD ");
    assert_eq!(child["allocations"], 1001, "{child}");
    assert_eq!(child["allocated_bytes"], 3_000_000 + 16_000, "{child}");
    // The parent's final export carries its exact totals.
    let snapshot = json_line(&out.stdout, "SNAPSHOT ");
    let text = std::fs::read_to_string(&file).unwrap();
    let last = text
        .lines()
        .rev()
        .find(|l| l.starts_with(r#"{"resourceMetrics""#))
        .expect("a metrics line");
    let req: Value = serde_json::from_str(last).unwrap();
    let metrics = req["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
        .as_array()
        .unwrap();
    let count = |name: &str| -> u64 {
        let m = metrics.iter().find(|m| m["name"] == name).expect(name);
        m["sum"]["dataPoints"][0]["asInt"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        count("rust.memory.allocations"),
        snapshot["allocations"].as_u64().unwrap()
    );
    assert_eq!(
        count("rust.memory.allocated"),
        snapshot["allocated_bytes"].as_u64().unwrap()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_final_export_that_cannot_finish_in_time_still_leaves_the_summary() {
    let shim = build_preload("hanging_getaddrinfo", HANGING_RESOLVER).unwrap();
    let shutdown = Duration::from_millis(1000);
    let mut cmd = Command::new(BIN);
    cmd.args(["3", "100"])
        .env("LD_PRELOAD", &shim)
        .env("RTSCOPE_SUMMARY", "on")
        .env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "http://collector.rtscope.test:4318",
        )
        .env("OTEL_METRIC_EXPORT_INTERVAL", "100")
        // Longer than the shutdown timeout: the final export is still waiting at the deadline.
        .env("OTEL_EXPORTER_OTLP_TIMEOUT", "30000")
        .env("RTSCOPE_SHUTDOWN_TIMEOUT", shutdown.as_millis().to_string());
    let run = run_watched(cmd, "SNAPSHOT ", Duration::from_secs(60)).unwrap();
    assert!(run.success(), "{run:?}");
    let exit = run.exit_after_marker.expect("SNAPSHOT line");
    assert!(
        exit <= shutdown + Duration::from_secs(1),
        "exit took {exit:?}"
    );
    assert!(
        run.stderr.contains("did not finish within 1s"),
        "{}",
        run.stderr
    );
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("  data: "))
        .unwrap_or_else(|| panic!("no summary: {}", run.stderr));
    // Nothing ever got through: the unfinished final export counts as failed.
    assert!(
        line.contains("data: 1 export to") && line.contains("(1 failed)"),
        "{line}"
    );
}
