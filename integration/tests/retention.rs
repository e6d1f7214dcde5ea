//! Allocator retention, read back from a real collector (rotel): the `retention` examples
//! (glibc malloc, jemalloc, mimalloc) free a ~100 MiB burst of small objects but keep the
//! RSS, the `rust.memory.allocator.*` series show the bytes held free, and
//! `rtscope::alloc::trim` gives them back, counted exactly in
//! `rust.memory.allocator.released`.
#![cfg(target_os = "linux")]

use rtscope_integration::{Collector, DataPoint, RunOutput, cargo_bin, run_exporting, settle};
use std::collections::HashMap;
use std::time::Duration;

/// 500 000 objects of 200 bytes.
const BURST: i64 = 100_000_000;

struct Run {
    c: Collector,
    out: RunOutput,
    allocator: &'static str,
}

impl Run {
    fn of(bin: &str, allocator: &'static str) -> Run {
        let c = Collector::start();
        let out = run_exporting(cargo_bin(bin), &c, &[("RTSCOPE_HOLD_MS", "600")]);
        c.wait_for_metric("rust.memory.allocator.released", Duration::from_secs(15));
        settle(&c);
        Run { c, out, allocator }
    }

    /// The `key=value` figures the example printed for `step`.
    fn step(&self, step: &str) -> HashMap<String, i64> {
        let line = self
            .out
            .stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(step))
            .unwrap_or_else(|| panic!("no {step} line in {:?}", self.out));
        line.split_whitespace()
            .skip(1)
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.parse().unwrap_or_else(|_| panic!("{line}"))))
            .collect()
    }

    /// The points of `rust.memory.allocator.<name>` of this allocator, in arrival order.
    fn series(&self, name: &str) -> Vec<DataPoint> {
        let mut p: Vec<_> = self
            .c
            .metric_points(&format!("rust.memory.allocator.{name}"))
            .into_iter()
            .filter(|p| p.attr_str("rust.allocator.name") == Some(self.allocator))
            .collect();
        p.sort_by_key(DataPoint::request_index);
        p
    }

    /// What every allocator shows: the live heap back but the RSS up and the bytes held
    /// free, in the example's figures and in an export while they were held; the RSS down
    /// after the trim, and the bytes it returned counted exactly. Returns what was returned.
    fn common(&self) -> i64 {
        let (burst, freed, after) = (self.step("burst"), self.step("freed"), self.step("after"));
        let out = &self.out;
        assert!(
            burst["live"] >= BURST && freed["live"] < BURST / 100,
            "{out:?}"
        );
        assert!(burst["mapped"] >= BURST, "{out:?}");
        assert!(freed["rss"] > burst["rss"] - BURST / 5, "{out:?}");
        assert!(freed["free"] >= BURST * 9 / 10, "{out:?}");
        assert!(after["rss"] <= freed["rss"] - BURST * 8 / 10, "{out:?}");

        let free = self.series("free");
        assert!(
            free.iter().any(|p| p.as_i64().unwrap() >= BURST * 9 / 10),
            "an export while the burst was held free: {:?}",
            free.iter().map(DataPoint::as_i64).collect::<Vec<_>>()
        );
        assert_eq!(free[0].unit(), "By");
        let returned = self.step("trimmed")["returned"];
        let released = self.series("released");
        assert_eq!(released.last().and_then(DataPoint::as_i64), Some(returned));
        assert_eq!(released[0].is_monotonic(), Some(true));
        for name in ["mapped", "in_use"] {
            assert!(!self.series(name).is_empty(), "{name}");
        }
        returned
    }
}

#[test]
#[cfg(target_env = "gnu")]
fn glibc_a_freed_burst_stays_resident_shows_as_held_free_and_trim_returns_it() {
    let run = Run::of("retention", "glibc");
    assert!(run.common() >= BURST * 8 / 10, "{:?}", run.out);
    let freed = run.step("freed");
    assert_eq!(freed["mapped"], freed["in_use"] + freed["free"]);
    assert!(!run.series("releasable").is_empty());
    assert!(run.series("retained").is_empty(), "glibc does not track it");
}

#[test]
fn jemalloc_holds_the_burst_in_dirty_pages_until_the_trim_purges_them() {
    let run = Run::of("retention_jemalloc", "jemalloc");
    assert!(run.common() >= BURST * 8 / 10, "{:?}", run.out);
    let (freed, after) = (run.step("freed"), run.step("after"));
    // Dirty pages, releasable at once, and purged by the trim: jemalloc's own figures drop.
    assert!(freed["releasable"] >= BURST * 9 / 10, "{:?}", run.out);
    assert!(after["releasable"] < BURST / 100, "{:?}", run.out);
    assert!(
        after["mapped"] <= freed["mapped"] - BURST * 8 / 10,
        "{:?}",
        run.out
    );
    assert!(after["free"] < BURST / 10, "{:?}", run.out);
    let releasable = run.series("releasable");
    assert!(
        releasable
            .iter()
            .any(|p| p.as_i64().unwrap() >= BURST * 9 / 10),
        "{:?}",
        releasable.iter().map(DataPoint::as_i64).collect::<Vec<_>>()
    );
    assert!(!run.series("retained").is_empty());
}

#[test]
fn mimalloc_commits_the_burst_and_the_trim_purges_it() {
    let run = Run::of("retention_mimalloc", "mimalloc");
    let returned = run.common();
    let (freed, held) = (run.step("freed"), run.step("held"));
    // mimalloc purges free pages on its own after a delay (1 s): the trim returned them,
    // unless mimalloc had purged them already while they were held.
    assert!(
        returned >= BURST * 8 / 10 || held["rss"] <= freed["rss"] - BURST * 8 / 10,
        "{:?}",
        run.out
    );
    // In use is rtscope's own count of the live heap.
    assert!(freed["in_use"] >= freed["live"], "{:?}", run.out);
    assert!(freed["in_use"] < BURST / 50, "{:?}", run.out);
    assert!(
        run.series("releasable").is_empty() && run.series("retained").is_empty(),
        "mimalloc's release build does not know them: nothing is sent"
    );
}
