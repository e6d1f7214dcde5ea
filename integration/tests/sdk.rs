//! The application's OpenTelemetry SDK and rtscope on one resource, read back from a real
//! collector (rotel): `sdk_workload` builds one SDK `Resource`, gives it to its own
//! `MeterProvider` and to rtscope (`AgentBuilder::with_resource`), and both export; a
//! latency recorded inside an SDK span arrives as an exemplar with its trace and span ids,
//! and the spike event it makes carries them as the log record's trace and span ids.
//! `trace_workload`'s SDK exports its spans to the same collector: every sample carries the
//! innermost span's ids (async scopes, a span inside an entered scope, a span without scope)
//! as the SDK exported them; `skew_workload` (an application on OpenTelemetry 0.32) loses
//! them and rtscope says so once.

use rtscope_integration::otlp::{any_value_i64, any_value_str};
use rtscope_integration::{Collector, DataPoint, run_exporting, settle};
use serde_json::Value;
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
    run_exporting(
        BIN,
        &c,
        &[("RTSCOPE_TEST_SDK_ENDPOINT", &c.grpc_endpoint())],
    );
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

/// Standard base64, as protobuf's JSON mapping writes `bytes` (the receiver's OTLP/JSON).
/// The exemplars of every `rust.latency` point of the latency `request`.
fn request_exemplars(c: &Collector) -> Vec<Value> {
    c.metric_points("rust.latency")
        .iter()
        .filter(|p| p.attr_str("rust.latency.name") == Some("request"))
        .flat_map(|p| {
            p.json()["exemplars"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect()
}

/// The allocation samples of `scope` (at least 32 of them) all carry `ids` (trace and span
/// id, base64, as OTLP/JSON spells them) as their log records' ids, or none.
///
/// At the defaults (512 KiB interval, 100 records/s): the workloads' scopes allocate 576
/// blocks of 64 KiB, paced so that every sample is a log record
/// (`rtscope_integration::sampling::{CASE_BLOCKS, paced_blocks}`): 67.7 samples expected,
/// fewer than 32 with probability 1.3e-7.
fn samples_carry(c: &Collector, scope: &str, ids: Option<(&str, &str)>) {
    let samples: Vec<_> = c
        .log_records()
        .into_iter()
        .filter(|r| {
            r["eventName"] == "rust.memory.allocation.sample"
                && r.attr("rust.scope").and_then(any_value_str) == Some(scope)
        })
        .collect();
    assert!(samples.len() >= 32, "{} samples in {scope}", samples.len());
    for r in &samples {
        let got = (r["traceId"].as_str(), r["spanId"].as_str());
        match ids {
            Some((trace, span)) => assert_eq!(got, (Some(trace), Some(span)), "{r:?}"),
            None => assert!(
                got.0.unwrap_or_default().is_empty(),
                "a sample outside any span has a trace: {r:?}"
            ),
        }
    }
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| n << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            out.push(if i <= chunk.len() {
                A[(n >> (18 - 6 * i) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn a_latency_inside_an_sdk_span_arrives_as_an_exemplar_and_a_spike_with_its_trace() {
    let c = Collector::start();
    let out = run_exporting(
        BIN,
        &c,
        &[
            ("RTSCOPE_TEST_SDK_ENDPOINT", &c.grpc_endpoint()),
            ("RTSCOPE_SPIKE_LATENCY_THRESHOLD_MS", "5"),
            ("RTSCOPE_TEST_HOLD_MS", "1500"),
        ],
    );
    let ids: Vec<&str> = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("TRACE "))
        .expect("TRACE line")
        .split_whitespace()
        .collect();
    c.wait_for_metric("rust.latency", Duration::from_secs(15));
    settle(&c);
    let exemplars = request_exemplars(&c);
    // Once, for the measurement in the span; none for the one outside.
    assert_eq!(exemplars.len(), 1, "{exemplars:?}");
    let e = &exemplars[0];
    assert_eq!(
        e["traceId"].as_str(),
        Some(base64(&hex_bytes(ids[0])).as_str()),
        "{e}"
    );
    assert_eq!(
        e["spanId"].as_str(),
        Some(base64(&hex_bytes(ids[1])).as_str()),
        "{e}"
    );
    assert_eq!(e["asDouble"].as_f64(), Some(0.007));
    // Allocation samples taken in a scope entered inside the span carry its ids as the log
    // records' trace and span ids; those of the scope outside any span carry none.
    let (trace, span) = (base64(&hex_bytes(ids[0])), base64(&hex_bytes(ids[1])));
    samples_carry(&c, "traced-burst", Some((&trace, &span)));
    samples_carry(&c, "untraced-burst", None);
    assert!(
        e["timeUnixNano"].as_str().is_some_and(|t| t.len() >= 19),
        "{e}"
    );
}

/// Through `tracing` (rtscope's feature `tracing-opentelemetry`): the samples of a tracing
/// span carry the ids of the OpenTelemetry span tracing-opentelemetry makes of it (the
/// child's own span id, the parent's trace), whichever layer comes first, and a latency
/// inside it its exemplar.
#[test]
fn samples_in_tracing_spans_carry_the_ids_tracing_opentelemetry_gives_them() {
    tracing_spans_carry_their_ids(&[]);
}

/// The same with rtscope's layer before tracing-opentelemetry's (the order its
/// `alloc.bytes` field wants): without the feature, the samples would carry the parent's
/// span id, read before the child's context is current.
#[test]
fn with_rtscope_s_layer_first_the_samples_still_carry_their_own_span_s_ids() {
    tracing_spans_carry_their_ids(&[("RTSCOPE_TEST_RTSCOPE_FIRST", "1")]);
}

fn tracing_spans_carry_their_ids(env: &[(&str, &str)]) {
    let c = Collector::start();
    let mut env = env.to_vec();
    env.extend([("RTSCOPE_TEST_HOLD_MS", "600")]);
    let out = run_exporting(env!("CARGO_BIN_EXE_tracing_otel_workload"), &c, &env);
    let ids = |tag: &str| -> Vec<String> {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(tag))
            .unwrap_or_else(|| panic!("no {tag} in {out:?}"))
            .split_whitespace()
            .map(|id| base64(&hex_bytes(id)))
            .collect()
    };
    let (request, parse) = (ids("REQUEST "), ids("PARSE "));
    assert_eq!(request[0], parse[0], "one trace: {out:?}");
    assert_ne!(request[1], parse[1], "two spans: {out:?}");
    assert_ne!(parse[0], base64(&[0; 16]), "a valid trace: {out:?}");
    c.wait_for_metric("rust.latency", Duration::from_secs(15));
    settle(&c);

    samples_carry(&c, "parse", Some((&parse[0], &parse[1])));
    samples_carry(&c, "outside", None);
    let exemplars = request_exemplars(&c);
    assert_eq!(exemplars.len(), 1, "{exemplars:?}");
    assert_eq!(exemplars[0]["spanId"].as_str(), Some(parse[1].as_str()));
    assert_eq!(exemplars[0]["asDouble"].as_f64(), Some(0.009));
}

/// The allocation samples of the blocks of `size` bytes (at least 32: more than 67.7
/// expected of the 576 blocks of more than 64 KiB a case allocates at the default interval,
/// paced so that each sample is a log record; fewer than 32 with probability under 1.3e-7
/// per case), each with its log record's `(traceId, spanId)`.
fn samples_of_size(c: &Collector, size: u64) -> Vec<(String, String)> {
    let samples: Vec<_> = c
        .log_records()
        .into_iter()
        .filter(|r| {
            r["eventName"] == "rust.memory.allocation.sample"
                && r.attr("rust.memory.allocation.size")
                    .and_then(any_value_i64)
                    == Some(size as i64)
        })
        .map(|r| {
            let id = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (id("traceId"), id("spanId"))
        })
        .collect();
    assert!(samples.len() >= 32, "{} samples of {size} B", samples.len());
    samples
}

/// Async scopes, an SDK span inside an entered scope, an SDK span without any scope: every
/// sample carries the ids of the innermost span it was taken in, as the application's SDK
/// exported that span to the same collector; the case outside any span carries none.
#[test]
fn every_sample_carries_the_innermost_sdk_span_it_was_taken_in() {
    let c = Collector::start();
    let out = run_exporting(
        env!("CARGO_BIN_EXE_trace_workload"),
        &c,
        &[("RTSCOPE_TEST_SDK_ENDPOINT", &c.grpc_endpoint())],
    );
    let cases: Vec<(String, u64)> = out
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("CASE "))
        .map(|l| {
            let (name, size) = l.split_once(' ').expect("CASE <name> <size>");
            (name.to_owned(), size.parse().expect("a size"))
        })
        .collect();
    assert_eq!(cases.len(), 5, "{out:?}");
    c.wait_for_span("bare", Duration::from_secs(15))
        .expect("the SDK's spans reach the collector");
    settle(&c);
    let mut wrong = Vec::new();
    for (name, size) in &cases {
        let samples = samples_of_size(&c, *size);
        let want = match name.as_str() {
            "-" => (String::new(), String::new()),
            span => {
                let s = c
                    .spans()
                    .into_iter()
                    .find(|s| s.name() == span)
                    .unwrap_or_else(|| panic!("the SDK exported no span {span}"));
                let (t, id) = s.ids();
                (t.to_owned(), id.to_owned())
            }
        };
        let carrying = samples.iter().filter(|s| **s == want).count();
        if carrying != samples.len() {
            wrong.push(format!(
                "{name}: {carrying} of {} samples carry its ids {want:?}, others {:?}",
                samples.len(),
                samples.iter().find(|s| **s != want)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // The async function's span is the child of the propagated parent.
    let remote: Vec<String> = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("REMOTE "))
        .expect("REMOTE line")
        .split_whitespace()
        .map(|id| base64(&hex_bytes(id)))
        .collect();
    let f = c
        .spans()
        .into_iter()
        .find(|s| s.name() == "async-fn")
        .unwrap();
    assert_eq!(f.ids().0, remote[0]);
    assert_eq!(f.parent_span_id(), remote[1]);
}

/// Version skew: an application on OpenTelemetry 0.32 (SDK and tracing-opentelemetry 0.33)
/// with rtscope on 0.33. Its span reaches the collector with its ids, the samples taken in
/// it carry none (rtscope cannot see a 0.32 context), and rtscope says so once, naming the
/// cause (here at exit, the run being shorter than the minute after which it warns).
#[test]
fn a_version_skew_loses_the_ids_and_says_so_once() {
    let c = Collector::start();
    let out = run_exporting(
        env!("CARGO_BIN_EXE_skew_workload"),
        &c,
        &[
            ("RTSCOPE_TEST_SDK_ENDPOINT", &c.grpc_endpoint()),
            ("RTSCOPE_SUMMARY", "on"),
        ],
    );
    let span = c
        .wait_for_span("request", Duration::from_secs(15))
        .expect("the 0.32 SDK's span reaches the collector");
    settle(&c);
    let (trace, _) = span.ids();
    assert!(!trace.is_empty(), "{span:?}");
    let samples = samples_of_size(&c, 65_632);
    let traced = samples.iter().filter(|(t, _)| !t.is_empty()).count();
    assert_eq!(traced, 0, "{samples:?}");
    let said: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("carried an OpenTelemetry trace id"))
        .collect();
    assert_eq!(said.len(), 1, "{}", out.stderr);
    assert!(
        said[0].contains("samples taken in tracing spans"),
        "{}",
        said[0]
    );
    assert!(
        said[0].contains("cargo tree -d -i opentelemetry"),
        "{}",
        said[0]
    );
    assert!(said[0].contains("with_resource"), "{}", said[0]);
}
