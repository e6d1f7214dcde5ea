//! Helpers shared by the sampling test binaries (each installs the agent once).

#![allow(dead_code)]

pub(crate) fn estimates(path: &std::path::Path) -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(path).unwrap();
    // The last metrics line is the final export; cumulative estimates.
    let last = text
        .lines()
        .rev()
        .find(|l| l.starts_with(r#"{"resourceMetrics""#))
        .unwrap();
    let req: serde_json::Value = serde_json::from_str(last).unwrap();
    let metrics = req["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
        .as_array()
        .unwrap();
    let m = metrics
        .iter()
        .find(|m| m["name"] == "rust.memory.sampled.allocated")
        .expect("sampled estimates exported");
    m["sum"]["dataPoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let scope = p["attributes"][0]["value"]["stringValue"]
                .as_str()
                .unwrap()
                .to_owned();
            let v = p["asInt"]
                .as_str()
                .map(|s| s.parse::<f64>().unwrap())
                .or(p["asDouble"].as_f64())
                .unwrap();
            (scope, v)
        })
        .collect()
}

pub(crate) fn install(path: &std::path::Path, interval: u64) -> rtscope::AgentGuard {
    rtscope::Agent::builder()
        .with_file(path)
        .with_summary(false)
        .with_export_interval(std::time::Duration::from_secs(60))
        .with_sampling_interval(interval)
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
