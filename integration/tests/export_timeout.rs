//! `OTEL_METRIC_EXPORT_TIMEOUT` against a real collector (rotel) behind a proxy that holds
//! every request 1.5 s: with only `OTEL_EXPORTER_OTLP_TIMEOUT=10000` the requests arrive
//! late but arrive; with `OTEL_METRIC_EXPORT_TIMEOUT=300` as well, each one gives up after
//! 300 ms and says so.

use rtscope_integration::{Collector, SlowProxy, run_exporting};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_runtime_workload");

fn run(c: &Collector, endpoint: &str, export_timeout: Option<&str>) -> String {
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "10000"),
        ("RTSCOPE_SHUTDOWN_TIMEOUT", "3000"),
    ];
    env.extend(export_timeout.map(|ms| ("OTEL_METRIC_EXPORT_TIMEOUT", ms)));
    run_exporting(BIN, c, &env).stderr
}

#[test]
fn the_metric_export_timeout_caps_each_request() {
    let c = Collector::start();
    let proxy = SlowProxy::start(c.http_addr()).unwrap();
    proxy.set_delay(Duration::from_millis(1500));

    let stderr = run(&c, &proxy.endpoint(), None);
    assert!(!stderr.contains("no answer within"), "{stderr}");

    let stderr = run(&c, &proxy.endpoint(), Some("300"));
    assert!(stderr.contains("no answer within 300ms"), "{stderr}");
}
