//! Spike events read back from a real collector (rotel): a slow `rtscope::latency` after an
//! allocation burst in a scope arrives (over OTLP/gRPC) as exactly one `rust.spike` log record
//! with the window's context, and the latency histogram and spike counters arrive as metrics.
//!
//! The agent runs in this test process (one test per binary: it installs the agent once).

use rtscope::config::Protocol;
use rtscope::spike::{SpikeKind, SpikeSettings};
use rtscope_integration::Collector;
use rtscope_integration::otlp::{any_value_i64, any_value_str};
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

const WAIT: Duration = Duration::from_secs(20);

#[test]
fn spike_events_arrive_as_log_records() {
    let c = Collector::start();
    let mut spikes = SpikeSettings::builder();
    for kind in SpikeKind::ALL {
        // Only the latency below can spike: this machine's own hiccups stay out of it.
        spikes = spikes.with_threshold(kind, Duration::from_secs(10));
    }
    let guard = rtscope::Agent::builder()
        .with_service_name("spike-test")
        .with_endpoint(c.grpc_endpoint())
        .with_protocol(Protocol::Grpc)
        .with_export_interval(Duration::from_millis(300))
        .with_summary(false)
        .with_spikes(spikes.with_latency_threshold("it-request", Duration::from_millis(10)))
        .install()
        .expect("the only agent of this test binary");
    // A first export means a first collection tick: the detector has its baseline.
    assert!(
        !c.wait_for_metric("rtscope.spikes.emitted", WAIT).is_empty(),
        "no export within {WAIT:?}"
    );
    let request = rtscope::latency::Latency::new("it-request");
    for _ in 0..20 {
        request.record(Duration::from_micros(300));
    }
    let kept = rtscope::scope("it-burst", || {
        (0..256).map(|_| vec![1u8; 64 * 1024]).collect::<Vec<_>>()
    });
    request.record(Duration::from_millis(40));
    drop(kept);
    guard.shutdown();

    let deadline = Instant::now() + WAIT;
    let spikes = loop {
        let spikes: Vec<_> = c
            .log_records()
            .into_iter()
            .filter(|r| r["eventName"] == "rust.spike")
            .collect();
        if !spikes.is_empty() || Instant::now() >= deadline {
            break spikes;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(spikes.len(), 1, "{spikes:#?}");
    let r = &spikes[0];
    let s = |k: &str| r.attr(k).and_then(any_value_str);
    let i = |k: &str| r.attr(k).and_then(any_value_i64);
    assert_eq!(r.resource_str("service.name"), Some("spike-test"));
    assert_eq!(r["severityNumber"], 13);
    assert_eq!(s("rust.spike.kind"), Some("latency"));
    assert_eq!(s("rust.spike.name"), Some("it-request"));
    assert_eq!(s("rust.spike.max_bucket"), Some("(20ms, 50ms]"));
    assert_eq!(i("rust.spike.count_above"), Some(1));
    assert_eq!(i("rust.spike.threshold_us"), Some(10_000));
    assert_eq!(i("rust.spike.suppressed"), Some(0));
    assert!(i("rust.memory.allocated").unwrap_or(0) >= 16 << 20);
    assert_eq!(s("rust.scope"), Some("it-burst"));
    let body = r["body"]["stringValue"].as_str().unwrap_or_default();
    assert!(body.contains("top sampled scope it-burst"), "{body}");
    // The heap profile's stacks name the code that allocated the burst.
    let stack = s("rust.spike.top_stack").unwrap_or_default();
    assert!(
        stack.starts_with("spikes::spike_events_arrive_as_log_records"),
        "top stack {stack:?}; body {body}"
    );
    assert!(i("rust.spike.top_stack.bytes").unwrap_or(0) >= 8 << 20);
    assert!(
        body.contains(&format!("top allocating stack {stack}")),
        "{body}"
    );
    // The latency histogram and the spike counters are metrics.
    let emitted = c.wait_for_metric("rtscope.spikes.emitted", WAIT);
    assert!(
        emitted.iter().any(|p| p.as_f64() == Some(1.0)),
        "{emitted:?}"
    );
    let latency = c.wait_for_metric("rust.latency", WAIT);
    assert!(
        latency
            .iter()
            .any(|p| p.attr_str("rust.latency.name") == Some("it-request") && p.count() == 21)
    );
}
