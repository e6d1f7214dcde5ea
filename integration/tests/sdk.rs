//! The application's OpenTelemetry SDK and rtscope on one resource, read back from a real
//! collector (rotel): `sdk_workload` builds one SDK `Resource`, gives it to its own
//! `MeterProvider` and to rtscope (`AgentBuilder::with_resource`), and both export.

use rtscope_integration::{Collector, DataPoint, run_bounded, settle};
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_sdk_workload");

/// The resource's attributes, sorted by key: what a backend groups series by.
fn attributes(p: &DataPoint) -> Vec<(String, Value)> {
    let mut attrs: Vec<_> = p.resource_json()["attributes"]
        .as_array()
        .expect("resource attributes")
        .iter()
        .map(|a| (a["key"].as_str().unwrap().to_owned(), a["value"].clone()))
        .collect();
    attrs.sort_by(|a, b| a.0.cmp(&b.0));
    attrs
}

#[test]
fn rtscope_data_carries_the_applications_sdk_resource_exactly() {
    let c = Collector::start();
    let mut cmd = Command::new(BIN);
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", c.http_endpoint())
        .env("RTSCOPE_TEST_SDK_ENDPOINT", c.grpc_endpoint())
        .env("OTEL_METRIC_EXPORT_INTERVAL", "200")
        .env("RTSCOPE_SUMMARY", "off");
    let out = run_bounded(cmd, Duration::from_secs(60)).unwrap();
    assert!(out.success() && out.stdout.contains("DONE"), "{out:?}");
    let sdk = c.wait_for_metric("app.requests", Duration::from_secs(15));
    let ours = c.wait_for_metric("rust.memory.allocations", Duration::from_secs(15));
    settle(&c);
    assert_eq!(sdk[0].as_i64(), Some(7));
    assert_eq!(sdk[0].scope_name(), Some("app"));
    assert_eq!(ours[0].scope_name(), Some("rtscope"));

    let app = attributes(&sdk[0]);
    assert_eq!(attributes(&ours[0]), app, "one resource for both");
    assert_eq!(ours[0].resource_str("service.name"), Some("checkout"));
    assert_eq!(ours[0].resource_str("service.version"), Some("1.2.3"));
    assert_eq!(
        ours[0].resource_str("deployment.environment.name"),
        Some("staging")
    );
    // Typed as the application typed it.
    assert_eq!(
        ours[0].resource_attr("service.instance.number"),
        Some(&serde_json::json!({"intValue": "42"}))
    );
    assert_eq!(
        ours[0].resource_str("telemetry.sdk.name"),
        Some("opentelemetry")
    );
}
