//! The trace a spike event carries, read back from a real collector (rotel) beside the
//! spans the application's own SDK exported there: a slow `rtscope::latency` inside an SDK
//! span right after install spikes in the first window (an absolute threshold needs no
//! baseline), with that span's ids on the event and on the exemplar alike; a slow one
//! outside any span in a later window spikes without a trace, although the bucket still
//! holds the first one's exemplar.
//!
//! The agent runs in this test process (one test per binary: it installs the agent once).

use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
use rtscope::config::Protocol;
use rtscope::spike::SpikeSettings;
use rtscope_integration::otlp::any_value_str;
use rtscope_integration::{Collector, LogRecord};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// The `rust.spike` records of the latency `checkout` so far.
fn checkout_spikes(c: &Collector) -> Vec<LogRecord> {
    c.log_records()
        .into_iter()
        .filter(|r| {
            r["eventName"] == "rust.spike"
                && r.attr("rust.spike.name").and_then(any_value_str) == Some("checkout")
        })
        .collect()
}

/// Waits (bounded) until there are `n` of them.
fn wait_for_spikes(c: &Collector, n: usize) -> Vec<LogRecord> {
    let deadline = Instant::now() + WAIT;
    loop {
        let spikes = checkout_spikes(c);
        if spikes.len() >= n || Instant::now() >= deadline {
            return spikes;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ids(v: &serde_json::Value) -> (&str, &str) {
    (
        v["traceId"].as_str().unwrap_or_default(),
        v["spanId"].as_str().unwrap_or_default(),
    )
}

#[test]
fn a_spike_carries_the_trace_of_its_own_window_from_the_first_window_on() {
    let c = Collector::start();
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("spike-trace-test")
        .build();
    let provider =
        rtscope_integration::app_sdk::tracer_provider(c.grpc_endpoint(), resource.clone());
    let tracer = provider.tracer("app");
    let guard = rtscope::Agent::builder()
        .with_resource(&resource)
        .with_endpoint(c.grpc_endpoint())
        .with_protocol(Protocol::Grpc)
        .with_export_interval(Duration::from_millis(300))
        .with_summary(false)
        // An absolute threshold for one latency (a bucket bound: nothing rounds it).
        .with_spikes(
            SpikeSettings::builder().with_latency_threshold("checkout", Duration::from_millis(200)),
        )
        .install()
        .expect("the only agent of this test binary");
    let checkout = rtscope::latency::Latency::new("checkout");

    // Finding 4: in the first window, inside the SDK span `slow-checkout`.
    tracer.in_span("slow-checkout", |cx| {
        assert!(cx.span().span_context().is_sampled());
        checkout.record(Duration::from_millis(300));
    });
    let first = wait_for_spikes(&c, 1);
    assert_eq!(first.len(), 1, "no spike for the first window: {first:#?}");

    // Finding 3: in a later window, outside any span, into the same bucket.
    checkout.record(Duration::from_millis(400));
    let spikes = wait_for_spikes(&c, 2);
    assert_eq!(spikes.len(), 2, "{spikes:#?}");
    guard.shutdown();
    provider.shutdown().expect("the SDK's spans exported");

    let span = c
        .wait_for_span("slow-checkout", WAIT)
        .expect("the SDK exported its span");
    let want = span.ids();
    assert!(!want.0.is_empty() && !want.1.is_empty(), "{span:?}");
    assert_eq!(ids(&spikes[0]), want, "the first spike: {:#?}", spikes[0]);
    // Its exemplar agrees with it.
    let exemplars: Vec<serde_json::Value> = c
        .metric_points("rust.latency")
        .iter()
        .filter(|p| p.attr_str("rust.latency.name") == Some("checkout"))
        .flat_map(|p| p["exemplars"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(exemplars.len(), 1, "{exemplars:#?}");
    assert_eq!(ids(&exemplars[0]), want, "{exemplars:#?}");
    assert_eq!(exemplars[0]["asDouble"].as_f64(), Some(0.3));
    // The second crossed the threshold outside any span: no trace, not the first one's.
    assert_eq!(
        ids(&spikes[1]),
        ("", ""),
        "the second spike: {:#?}",
        spikes[1]
    );
}
