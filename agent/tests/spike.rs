//! Spike events end to end in one process: the agent writes OTLP/JSON lines to a file, and
//! a slow `rtscope::latency` after an allocation burst in a scope produces exactly one
//! `rust.spike` log record naming the latency and the scope.

use rtscope::spike::{SpikeKind, SpikeSettings};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

/// Every log record in the file so far.
fn log_records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        for rl in v["resourceLogs"].as_array().into_iter().flatten() {
            for sl in rl["scopeLogs"].as_array().into_iter().flatten() {
                out.extend(sl["logRecords"].as_array().into_iter().flatten().cloned());
            }
        }
    }
    out
}

fn attr<'a>(record: &'a Value, key: &str) -> Option<&'a Value> {
    record["attributes"]
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .map(|kv| &kv["value"])
}

fn str_attr<'a>(record: &'a Value, key: &str) -> Option<&'a str> {
    attr(record, key)?["stringValue"].as_str()
}

fn int_attr(record: &Value, key: &str) -> Option<i64> {
    match &attr(record, key)?["intValue"] {
        Value::String(s) => s.parse().ok(),
        v => v.as_i64(),
    }
}

#[test]
fn a_slow_latency_makes_one_spike_event_naming_the_scope() {
    let path = std::env::temp_dir().join(format!("rtscope-spike-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let mut spikes = SpikeSettings::builder();
    for kind in SpikeKind::ALL {
        // Only the latency below can spike: this machine's own hiccups stay out of it.
        spikes = spikes.with_threshold(kind, Duration::from_secs(10));
    }
    let guard = rtscope::Agent::builder()
        .with_file(&path)
        .with_export_interval(Duration::from_millis(300))
        .with_summary(false)
        .with_spikes(spikes.with_latency_threshold("it-request", Duration::from_millis(10)))
        .install()
        .expect("the only agent of this test binary");
    assert_eq!(
        guard.config().spikes.latency_thresholds,
        [("it-request".to_owned(), Duration::from_millis(10))]
    );
    // The first export comes after the first collection tick, which set the baseline.
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::metadata(&path).map_or(true, |m| m.len() == 0) {
        assert!(Instant::now() < deadline, "no export within 20 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    let request = rtscope::latency::Latency::new("it-request");
    for _ in 0..20 {
        request.record(Duration::from_micros(300));
    }
    // A burst of allocations in a scope, then one slow request: the same window.
    let kept = rtscope::scope("it-burst", || {
        (0..256).map(|_| vec![1u8; 64 * 1024]).collect::<Vec<_>>()
    });
    request.record(Duration::from_millis(40));
    drop(kept);
    guard.shutdown(); // the final tick and export

    let records = log_records(&path);
    let spikes: Vec<&Value> = records
        .iter()
        .filter(|r| r["eventName"] == "rust.spike")
        .filter(|r| str_attr(r, "rust.spike.name") == Some("it-request"))
        .collect();
    let _ = std::fs::remove_file(&path);
    assert_eq!(spikes.len(), 1, "{spikes:#?}");
    let e = spikes[0];
    assert_eq!(str_attr(e, "rust.spike.kind"), Some("latency"));
    assert_eq!(int_attr(e, "rust.spike.count_above"), Some(1));
    assert_eq!(int_attr(e, "rust.spike.threshold_us"), Some(10_000));
    assert_eq!(str_attr(e, "rust.spike.max_bucket"), Some("(20ms, 50ms]"));
    assert!(
        int_attr(e, "rust.memory.allocated").unwrap() >= 16 << 20,
        "{e:#}"
    );
    assert!(str_attr(e, "rust.memory.top_classes").is_some());
    assert_eq!(str_attr(e, "rust.scope"), Some("it-burst"), "{e:#}");
    let body = e["body"]["stringValue"].as_str().unwrap();
    assert!(body.starts_with("spike in latency 'it-request'"), "{body}");
    assert!(body.contains("top sampled scope it-burst"), "{body}");
}
