//! The sampling seed: random by default, and a configured one reaches the threads that
//! existed before install, the installing one included.
//!
//! Each run is a child process (one install per process): this test binary run again with
//! `RTSCOPE_TEST_SEED_CHILD` set, where [`child`] installs the agent and allocates a fixed
//! sequence of blocks on its thread, which the test harness started (and which allocated,
//! claiming its random stream) before the agent was installed.

#[path = "support/sampling.rs"]
mod support;

use std::alloc::{Layout, alloc, dealloc};
use std::process::Command;
use std::time::Duration;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

const CHILD: &str = "RTSCOPE_TEST_SEED_CHILD";
const OUT: &str = "RTSCOPE_TEST_SEED_OUT";

/// Samples compared per run: the first ones, taken within the first fifth of the child's
/// workload, long before the controller's first tick (1 s) could move the mean.
const COMPARED: usize = 100;

/// The sizes of the first [`COMPARED`] blocks sampled in the child's run on its own thread,
/// in order.
fn run(seed: Option<u64>, path: &std::path::Path) -> Vec<i64> {
    let _ = std::fs::remove_file(path);
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(
            CHILD,
            seed.map_or_else(|| "none".to_owned(), |s| s.to_string()),
        )
        .env(OUT, path)
        .output()
        .unwrap();
    assert!(out.status.success(), "child failed: {out:?}");
    let mut sizes: Vec<i64> = support::samples(path)
        .into_iter()
        .filter(|s| s.scope == "seeded")
        .map(|s| s.size)
        .collect();
    // ~32 MB at a 64 KiB mean: about 500 samples.
    assert!(sizes.len() > COMPARED, "{} samples", sizes.len());
    sizes.truncate(COMPARED);
    sizes
}

#[test]
fn no_seed_differs_per_run_and_a_seed_reaches_the_installing_thread() {
    let dir = std::env::temp_dir().join(format!("rtscope-seed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.jsonl");
    let a = run(None, &path);
    let b = run(None, &path);
    assert_ne!(a, b, "two runs without a seed sampled the same blocks");
    let s42 = run(Some(42), &path);
    assert_eq!(s42, run(Some(42), &path), "seed 42 sampled differently");
    assert_ne!(
        s42,
        run(Some(43), &path),
        "seeds 42 and 43 sampled the same blocks"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The child run: nothing unless started by the test above.
#[test]
fn child() {
    let Ok(seed) = std::env::var(CHILD) else {
        return;
    };
    let mut builder = rtscope::Agent::builder()
        .with_file(std::env::var_os(OUT).unwrap())
        .with_summary(false)
        .with_export_interval(Duration::from_secs(60))
        .with_sampling_interval(64 * 1024)
        // Far above what is taken, so neither the budget nor the controller moves the mean.
        .with_sampling_target(1e6);
    if let Ok(seed) = seed.parse() {
        builder = builder.with_sampling_seed(seed);
    }
    let guard = builder.install().expect("install");
    rtscope::scope("seeded", || {
        let mut x = 0x1234_5678u64;
        for _ in 0..4000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let layout = Layout::from_size_align(16 + (x % 16_369) as usize, 8).unwrap();
            // SAFETY: non-zero size, freed right away with the same layout.
            unsafe { dealloc(std::hint::black_box(alloc(layout)), layout) };
        }
    });
    guard.shutdown();
}
