//! How a program under the agent lives and ends whatever the network does: exit bounded by
//! the shutdown timeout even while name resolution hangs; the exit summary counts every
//! export with its result.

use rtscope_integration::{build_preload, run_watched};
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_known_workload");

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
        .find(|l| l.contains(" exports to "))
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
