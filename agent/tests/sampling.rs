//! Poisson byte sampling end to end: a large known workload in two scopes, a fixed seed,
//! and the per-scope estimates the exporter writes (OTLP/JSON file) within a few percent of
//! the truth.

use std::alloc::{Layout, alloc, dealloc};

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

/// Allocates and frees blocks of pseudo-random sizes in 16..=16384 B until `total` bytes;
/// returns the exact bytes allocated. Allocates nothing else.
fn churn(total: u64, seed: &mut u64) -> u64 {
    let mut done = 0;
    while done < total {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        let size = 16 + (*seed % 16_369) as usize;
        let layout = Layout::from_size_align(size, 8).unwrap();
        // SAFETY: non-zero size, freed right away with the same layout.
        unsafe { dealloc(std::hint::black_box(alloc(layout)), layout) };
        done += size as u64;
    }
    done
}

fn estimates(path: &std::path::Path) -> Vec<(String, f64)> {
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

#[test]
fn per_scope_estimates_are_within_a_few_percent() {
    let dir = std::env::temp_dir().join(format!("rtscope-sampling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.jsonl");
    let _ = std::fs::remove_file(&path);
    let guard = rtscope::Agent::builder()
        .with_file(&path)
        .with_summary(false)
        .with_export_interval(std::time::Duration::from_secs(60))
        .with_sampling_interval(64 * 1024)
        .with_sampling_seed(42)
        .install()
        .expect("install");
    let mut seed = 0x1234_5678u64;
    let a = rtscope::scope("parse", || churn(400 << 20, &mut seed));
    let b = rtscope::scope("render", || churn(100 << 20, &mut seed));
    guard.shutdown();

    let est = estimates(&path);
    let get = |name: &str| {
        est.iter()
            .find(|(s, _)| s == name)
            .map(|(_, v)| *v)
            .unwrap_or(0.0)
    };
    for (name, truth) in [("parse", a as f64), ("render", b as f64)] {
        let e = get(name);
        let err = (e - truth).abs() / truth;
        assert!(
            err < 0.05,
            "{name}: estimated {e:.0} B, allocated {truth} B ({:.2}% off)",
            err * 100.0
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
