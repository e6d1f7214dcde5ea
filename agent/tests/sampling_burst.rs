//! Poisson sampling under a burst that overflows the sample queue: the estimates stay
//! unbiased (dropped samples keep their weight), only log records are lost and counted.

#[path = "support/sampling.rs"]
mod support;

use std::alloc::{Layout, alloc, dealloc};
use support::{estimates, install, scope_estimate};

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

/// At the 4 KiB floor, 200 000 blocks of 8 KiB are each sampled with p = 0.86: far more
/// samples than the 16 384-entry queue holds before the export thread drains it. The log
/// records of the overflow are lost (and counted); their weight is not.
#[test]
fn a_burst_that_overflows_the_queue_keeps_estimates_unbiased() {
    let dir = std::env::temp_dir().join(format!("rtscope-burst-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.jsonl");
    let _ = std::fs::remove_file(&path);
    let guard = install(&path, 4096);
    let layout = Layout::from_size_align(8192, 8).unwrap();
    let truth = rtscope::scope("burst", || {
        for _ in 0..200_000 {
            // SAFETY: non-zero size, freed right away with the same layout.
            unsafe { dealloc(std::hint::black_box(alloc(layout)), layout) };
        }
        200_000.0 * 8192.0
    });
    guard.shutdown();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("rtscope.events.dropped"));
    let e = scope_estimate(&estimates(&path), "burst");
    let err = (e - truth).abs() / truth;
    assert!(
        err < 0.05,
        "burst: estimated {e:.0} B, allocated {truth} B ({:.2}% off)",
        err * 100.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
