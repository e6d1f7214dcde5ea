//! Helpers shared by the sampling test binaries (each installs the agent once).

#![allow(dead_code)]

/// The data points of metric `name` in the last metrics line of the OTLP/JSON file (the final
/// export; cumulative sums): the first attribute's string value (or "") and the value.
pub(crate) fn points(path: &std::path::Path, name: &str) -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(path).unwrap();
    let last = text
        .lines()
        .rev()
        .find(|l| l.starts_with(r#"{"resourceMetrics""#))
        .unwrap();
    let req: serde_json::Value = serde_json::from_str(last).unwrap();
    let metrics = req["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
        .as_array()
        .unwrap();
    let Some(m) = metrics.iter().find(|m| m["name"] == name) else {
        return Vec::new();
    };
    let data = if m["sum"].is_object() {
        &m["sum"]
    } else {
        &m["gauge"]
    };
    data["dataPoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let attr = p["attributes"][0]["value"]["stringValue"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            (
                attr,
                number(&p["asInt"]).or(p["asDouble"].as_f64()).unwrap(),
            )
        })
        .collect()
}

/// A JSON number, or a 64-bit integer written as a string (the OTLP/JSON mapping).
fn number(v: &serde_json::Value) -> Option<f64> {
    v.as_str().map(|s| s.parse::<f64>().unwrap()).or(v.as_f64())
}

/// Estimated bytes per scope (`rust.memory.sampled.allocated`), cumulative at the last export.
pub(crate) fn estimates(path: &std::path::Path) -> Vec<(String, f64)> {
    let est = points(path, "rust.memory.sampled.allocated");
    assert!(!est.is_empty(), "sampled estimates exported");
    est
}

/// One allocation sample exported as a log record.
pub(crate) struct Sampled {
    /// Nanoseconds since the Unix epoch.
    pub(crate) time: u64,
    pub(crate) size: i64,
    /// Bytes the record stands for (`rust.memory.sample.weight`).
    pub(crate) weight: f64,
    pub(crate) scope: String,
}

/// Every allocation sample exported as a log record, in file order (for one thread, the
/// order they were taken in).
pub(crate) fn samples(path: &std::path::Path) -> Vec<Sampled> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    for line in text.lines().filter(|l| l.starts_with(r#"{"resourceLogs""#)) {
        let req: serde_json::Value = serde_json::from_str(line).unwrap();
        for rl in req["resourceLogs"].as_array().into_iter().flatten() {
            for sl in rl["scopeLogs"].as_array().into_iter().flatten() {
                for r in sl["logRecords"].as_array().into_iter().flatten() {
                    if r["eventName"] != "rust.memory.allocation.sample" {
                        continue;
                    }
                    let attr = |key: &str| {
                        r["attributes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .find(|a| a["key"] == key)
                            .map(|a| a["value"].clone())
                            .unwrap_or_default()
                    };
                    out.push(Sampled {
                        time: number(&r["timeUnixNano"]).unwrap() as u64,
                        size: number(&attr("rust.memory.allocation.size")["intValue"]).unwrap()
                            as i64,
                        weight: number(&attr("rust.memory.sample.weight")["intValue"]).unwrap(),
                        scope: attr("rust.scope")["stringValue"]
                            .as_str()
                            .unwrap_or("")
                            .to_owned(),
                    });
                }
            }
        }
    }
    out
}

/// The most timestamps (ns) that fall within any window of `window` ns.
pub(crate) fn max_in_window(times: &[u64], window: u64) -> usize {
    let mut t = times.to_vec();
    t.sort_unstable();
    let mut start = 0;
    let mut best = 0;
    for end in 0..t.len() {
        while t[end] - t[start] >= window {
            start += 1;
        }
        best = best.max(end + 1 - start);
    }
    best
}

/// Installs the agent writing to `path`, sampling every `interval` bytes on average with a
/// fixed seed, with the CPU budget off (a whole core): a test of the estimates at a fine
/// interval gets every sample it pays for (at 64 KiB, 500 MiB in a debug build takes about
/// 8000 samples and 30 ms, past the default budget's 20 ms burst, which would raise the
/// interval and make the seeded run depend on the clock). The log-record target is far
/// above what the test takes, so every sample is also a record.
pub(crate) fn install(path: &std::path::Path, interval: u64) -> rtscope::AgentGuard {
    rtscope::Agent::builder()
        .with_file(path)
        .with_summary(false)
        .with_export_interval(std::time::Duration::from_secs(60))
        .with_sampling_interval(interval)
        .with_sampling_cpu(100.0)
        .with_sampling_target(1e6)
        .with_sampling_seed(42)
        .install()
        .expect("install")
}

pub(crate) fn scope_estimate(est: &[(String, f64)], name: &str) -> f64 {
    est.iter()
        .find(|(s, _)| s == name)
        .map(|(_, v)| *v)
        .unwrap_or(0.0)
}
