use super::*;
use std::io::BufRead;

fn input(text: &str) -> Vec<Box<dyn BufRead>> {
    vec![Box::new(std::io::Cursor::new(text.as_bytes().to_vec()))]
}

fn resource(pid: u32) -> String {
    format!(
        r#"{{"attributes":[{{"key":"service.name","value":{{"stringValue":"svc<1>"}}}},{{"key":"process.pid","value":{{"intValue":"{pid}"}}}}]}}"#
    )
}

fn metrics(pid: u32, t: u64, used: u64, temporality: u32, gets: u64) -> String {
    format!(
        r#"{{"resourceMetrics":[{{"resource":{},"scopeMetrics":[{{"metrics":[
{{"name":"rust.memory.used","sum":{{"aggregationTemporality":2,"dataPoints":[{{"timeUnixNano":"{t}","asInt":"{used}"}}]}}}},
{{"name":"rust.memory.used.peak","gauge":{{"dataPoints":[{{"timeUnixNano":"{t}","asInt":"{}"}}]}}}},
{{"name":"rust.memory.allocation.size","histogram":{{"aggregationTemporality":{temporality},"dataPoints":[{{"timeUnixNano":"{t}","bucketCounts":["1","2","0"],"explicitBounds":[8,16],"sum":40}}]}}}},
{{"name":"rust.pool.gets","sum":{{"aggregationTemporality":{temporality},"dataPoints":[{{"timeUnixNano":"{t}","asInt":"{gets}","attributes":[{{"key":"rust.pool.name","value":{{"stringValue":"bufs"}}}},{{"key":"rust.pool.result","value":{{"stringValue":"hit"}}}}]}}]}}}}
]}}]}}]}}"#,
        resource(pid),
        used * 2
    )
    .replace('\n', "")
}

fn spike(pid: u32, t: u64, sentence: &str) -> String {
    format!(
        r#"{{"resourceLogs":[{{"resource":{},"scopeLogs":[{{"logRecords":[{{"timeUnixNano":"{t}","eventName":"rust.spike","body":{{"stringValue":"{sentence}"}},"attributes":[{{"key":"rust.spike.kind","value":{{"stringValue":"latency"}}}}]}}]}}]}}]}}"#,
        resource(pid)
    )
}

#[test]
fn the_last_run_is_read_cumulative_points_replace_and_deltas_add() {
    let text = [
        metrics(1, 5_000_000_000, 999, 2, 7),
        metrics(2, 10_000_000_000, 100, 1, 3),
        "not json".to_owned(),
        metrics(2, 11_000_000_000, 300, 1, 4),
        spike(2, 10_500_000_000, "request took 15 ms <b>"),
        String::new(),
    ]
    .join("\n");
    let run = read(input(&text));
    assert_eq!(run.service, "svc<1>");
    assert_eq!(run.pid, "2");
    assert_eq!(run.other_runs, 1);
    assert_eq!(run.lines, 5);
    assert_eq!(run.skipped, 2, "the bad line and the other run's");
    assert_eq!(run.heap.len(), 2);
    assert_eq!(run.heap[1].t_ns, 1_000_000_000);
    assert_eq!((run.heap[1].live, run.heap[1].peak), (300.0, 600.0));
    assert_eq!(run.classes.as_ref().unwrap().counts, [2, 4, 0]);
    assert_eq!(run.pools["bufs"].hits, 7);
    assert_eq!(run.spikes.len(), 1);
    assert_eq!(run.spikes[0].t_ns, 500_000_000);
}

#[test]
fn the_page_is_self_contained_and_escapes_what_it_read() {
    let text = [
        metrics(2, 10_000_000_000, 100, 2, 3),
        metrics(2, 11_000_000_000, 300, 2, 4),
        spike(
            2,
            10_500_000_000,
            "request took 15 ms <script>alert(1)</script>",
        ),
    ]
    .join("\n");
    let page = page(&read(input(&text)), &["a<b>.jsonl".to_owned()]);
    assert!(page.starts_with("<!doctype html>"));
    assert!(page.contains("Content-Security-Policy\" content=\"default-src 'none'"));
    for id in ["chart-heap", "chart-classes", "chart-pools", "chart-spikes"] {
        assert!(page.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert!(page.contains("<title>rtscope report: svc&lt;1&gt;</title>"));
    assert!(page.contains("a&lt;b&gt;.jsonl"));
    assert!(page.contains("request took 15 ms &lt;script&gt;alert(1)&lt;/script&gt;"));
    // One script, rtscope's own; nothing fetched.
    assert_eq!(page.matches("<script").count(), 1);
    for fetch in ["src=", "href=", "url(", "@import"] {
        assert!(!page.contains(fetch), "{fetch}");
    }
    // Nothing read: a page that says so.
    let empty = super::page(&read(input("")), &["x".to_owned()]);
    assert!(empty.contains("No metrics in this file"));
}

#[test]
fn an_overlong_line_is_skipped_and_the_rest_read() {
    let long = format!("{{\"x\":\"{}\"}}", "a".repeat(MAX_LINE + 10));
    let text = format!("{long}\n{}\n", metrics(3, 1, 5, 2, 1));
    let run = read(input(&text));
    assert_eq!(run.skipped, 1);
    assert_eq!(run.heap.len(), 1);
    assert_eq!(run.heap[0].live, 5.0);
}

#[test]
fn numbers_read_well() {
    assert_eq!(bytes(300.0), "300 B");
    assert_eq!(bytes(1536.0), "1.5 KiB");
    assert_eq!(bytes(64.0 * 1024.0), "64 KiB");
    assert_eq!(duration(0.0005), "500µs");
    assert_eq!(duration(0.015), "15ms");
    assert_eq!(duration(2.5), "2.5s");
    assert_eq!(count(1_234_567.0), "1.2 M");
    assert_eq!(esc("a\u{1b}[2J\"<"), "a\\u{1b}[2J&quot;&lt;");
}

#[test]
fn empty_top_stacks_name_only_what_is_missing() {
    // Heap profiles on (their own series are in the file) but not exported: only
    // OTEL_PROFILES_EXPORTER is missing, not the feature.
    let with_series = metrics(4, 1, 5, 2, 1).replace(
        r#"{"name":"rust.memory.used","#,
        r#"{"name":"rtscope.profile.stacks","gauge":{"dataPoints":[{"timeUnixNano":"1","asInt":"12"}]}},{"name":"rust.memory.used","#,
    );
    let on = page(&read(input(&with_series)), &["f".to_owned()]);
    assert!(
        on.contains("heap profiles were on but not exported"),
        "{on}"
    );
    assert!(
        !on.contains("build with rtscope&#39;s profiles feature"),
        "{on}"
    );
    let off = page(&read(input(&metrics(4, 1, 5, 2, 1))), &["f".to_owned()]);
    assert!(
        off.contains("build with rtscope&#39;s profiles feature"),
        "{off}"
    );
}
