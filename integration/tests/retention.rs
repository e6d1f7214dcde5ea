//! Allocator retention, read back from a real collector (rotel): the `retention` example
//! (glibc malloc) frees a ~100 MiB burst of small objects but keeps the RSS, the
//! `rust.memory.allocator.*` series show the bytes held free, and `rtscope::alloc::trim`
//! gives them back, counted exactly in `rust.memory.allocator.released`.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

use rtscope_integration::{Collector, DataPoint, cargo_bin, run_exporting, settle};
use std::collections::HashMap;
use std::time::Duration;

/// 500 000 objects of 200 bytes (glibc chunks of 208).
const BURST: i64 = 100_000_000;

fn figures(stdout: &str, step: &str) -> HashMap<String, i64> {
    let line = stdout
        .lines()
        .find(|l| l.split_whitespace().next() == Some(step))
        .unwrap_or_else(|| panic!("no {step} line in {stdout}"));
    line.split_whitespace()
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.parse().unwrap_or_else(|_| panic!("{line}"))))
        .collect()
}

fn glibc(c: &Collector, name: &str) -> Vec<DataPoint> {
    let mut p: Vec<_> = c
        .metric_points(name)
        .into_iter()
        .filter(|p| p.attr_str("rust.allocator.name") == Some("glibc"))
        .collect();
    p.sort_by_key(DataPoint::request_index);
    p
}

#[test]
fn a_freed_burst_stays_resident_shows_as_held_free_and_trim_returns_it() {
    let c = Collector::start();
    let out = run_exporting(cargo_bin("retention"), &c, &[("RTSCOPE_HOLD_MS", "1000")]);
    let (burst, freed, trimmed, after) = (
        figures(&out.stdout, "burst"),
        figures(&out.stdout, "freed"),
        figures(&out.stdout, "trimmed"),
        figures(&out.stdout, "after"),
    );
    // Freed: the live heap is back, the RSS is not, glibc holds the bytes free.
    assert!(
        burst["live"] >= BURST && freed["live"] < BURST / 100,
        "{out:?}"
    );
    assert!(freed["rss"] > burst["rss"] - BURST / 5, "{out:?}");
    assert!(freed["free"] >= BURST * 9 / 10, "{out:?}");
    assert_eq!(freed["mapped"], freed["in_use"] + freed["free"]);
    // The trim returned them.
    let returned = trimmed["returned"];
    assert!(returned >= BURST * 8 / 10, "{out:?}");
    assert!(after["rss"] <= freed["rss"] - BURST * 8 / 10, "{out:?}");

    c.wait_for_metric("rust.memory.allocator.released", Duration::from_secs(15));
    settle(&c);
    let free = glibc(&c, "rust.memory.allocator.free");
    assert!(
        free.iter().any(|p| p.as_i64().unwrap() >= BURST * 9 / 10),
        "an export while the burst was held free: {:?}",
        free.iter().map(DataPoint::as_i64).collect::<Vec<_>>()
    );
    assert_eq!(free[0].unit(), "By");
    let released = glibc(&c, "rust.memory.allocator.released");
    assert_eq!(released.last().and_then(DataPoint::as_i64), Some(returned));
    assert_eq!(released[0].is_monotonic(), Some(true));
    for name in ["mapped", "in_use", "releasable"] {
        assert!(
            !glibc(&c, &format!("rust.memory.allocator.{name}")).is_empty(),
            "{name}"
        );
    }
}
