//! Poisson byte sampling end to end: a large known workload in two scopes, a fixed seed,
//! and the per-scope estimates the exporter writes (OTLP/JSON file) within a few percent of
//! the truth.

#[path = "support/sampling.rs"]
mod support;

use std::alloc::{Layout, alloc, dealloc};
use support::{estimates, install};

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

#[test]
fn per_scope_estimates_are_within_a_few_percent() {
    let dir = std::env::temp_dir().join(format!("rtscope-sampling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.jsonl");
    let _ = std::fs::remove_file(&path);
    let guard = install(&path, 64 * 1024);
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
