//! tokio's `tokio_unstable` histograms, read back from a real collector (rotel). The
//! `tokio_histograms` workload (see its docs) runs 40 tasks of one poll each on a runtime
//! with both histograms in 1 ms buckets: 4 polls spin 5 ms, and 4 tasks wait behind them.
//! Built with `--cfg tokio_unstable` (by `scripts/test.sh`, into `target/tokio-unstable`),
//! every sample arrives exactly; the workspace's normal build of the same program sends
//! neither series.

use rtscope_integration::{
    Collector, DataPoint, MetricKind, RunOutput, run_exporting, settle, workspace_dir,
};
use std::path::PathBuf;
use std::time::Duration;

const POLL_TIME: &str = "tokio.worker.poll_time";
const SCHEDULE_LATENCY: &str = "tokio.worker.schedule_latency";
/// The workload's tasks, each scheduled once and polled once.
const TASKS: u64 = 40;
/// Its polls of at least 5 ms, and its tasks that waited at least 5 ms to be polled.
const SLOW: u64 = 4;
/// How `scripts/test.sh` builds the workload under the cfg.
const BUILD: &str = "RUSTFLAGS=\"--cfg tokio_unstable -D warnings\" cargo build \
    -p rtscope-integration --bin tokio_histograms --target-dir target/tokio-unstable";

/// The workload built with `--cfg tokio_unstable`, or `None` if it is not built (the test
/// then skips, except under `CI=true`, where it fails).
fn unstable_bin() -> Option<PathBuf> {
    let bin = workspace_dir().join("target/tokio-unstable/debug/tokio_histograms");
    if bin.is_file() {
        return Some(bin);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{} is not built; scripts/test.sh builds it with {BUILD}",
        bin.display()
    );
    eprintln!(
        "skipped: {} is not built (build it with {BUILD})",
        bin.display()
    );
    None
}

/// The words after `tag` on the workload's line starting with it.
fn words<'a>(out: &'a RunOutput, tag: &str) -> Vec<&'a str> {
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix(tag))
        .unwrap_or_else(|| panic!("no {tag:?} in {out:?}"))
        .split_whitespace()
        .collect()
}

fn numbers(out: &RunOutput, tag: &str) -> Vec<u64> {
    words(out, tag)
        .iter()
        .map(|w| w.parse().unwrap_or_else(|_| panic!("{tag}{w:?}")))
        .collect()
}

/// The last point of `name` for runtime `id`.
fn last(c: &Collector, name: &str, id: &str) -> DataPoint {
    let mut p: Vec<_> = c
        .metric_points(name)
        .into_iter()
        .filter(|p| p.attr_str("tokio.runtime.id") == Some(id))
        .collect();
    p.sort_by_key(DataPoint::request_index);
    p.pop()
        .unwrap_or_else(|| panic!("no {name} for runtime {id}"))
}

#[test]
fn tokio_unstable_histograms_arrive_with_every_poll_and_schedule_counted_exactly() {
    let Some(bin) = unstable_bin() else { return };
    let c = Collector::start();
    let out = run_exporting(&bin, &c, &[]);
    let id = words(&out, "RUNTIME ")[0];
    // Samples the workload cannot bound under 5 ms (a round descheduled that long): 0
    // unless the machine is overloaded; each may add one to a last bucket.
    let unsure = numbers(&out, "UNSURE ");
    c.wait_for_metric(POLL_TIME, Duration::from_secs(15));
    settle(&c);

    for (name, tag, unsure) in [
        (POLL_TIME, "POLL_TIME ", unsure[0]),
        (SCHEDULE_LATENCY, "SCHEDULE_LATENCY ", unsure[1]),
    ] {
        let p = last(&c, name, id);
        assert_eq!((p.kind(), p.unit()), (MetricKind::Histogram, "s"), "{name}");
        // tokio's buckets as the runtime configured them: 1 ms wide, the last one open.
        assert_eq!(
            p.explicit_bounds(),
            [0.001, 0.002, 0.003, 0.004, 0.005],
            "{name}"
        );
        let counts = p.bucket_counts();
        // Exactly what the runtime itself counted, and one sample per task.
        assert_eq!(counts, numbers(&out, tag), "{name}");
        assert_eq!(p.count(), TASKS, "{name}: {counts:?}");
        assert_eq!(counts.iter().sum::<u64>(), p.count(), "{name}");
        assert!(p.get("sum").is_none(), "{name}: tokio keeps no sum: {p:?}");
        let top = counts[counts.len() - 1];
        assert!(
            (SLOW..=SLOW + unsure).contains(&top),
            "{name}: {top} samples of 5 ms or more, {SLOW} made ({unsure} unsure): {counts:?}"
        );
    }
}

#[test]
fn without_tokio_unstable_the_same_program_sends_neither_histogram() {
    let c = Collector::start();
    let out = run_exporting(env!("CARGO_BIN_EXE_tokio_histograms"), &c, &[]);
    let id = words(&out, "RUNTIME ")[0];
    c.wait_for_metric("tokio.workers", Duration::from_secs(15));
    settle(&c);
    // Its runtime is read (one worker), without the histograms.
    assert_eq!(last(&c, "tokio.workers", id).as_i64(), Some(1));
    let names = c.metric_names();
    assert!(
        !names.contains(POLL_TIME) && !names.contains(SCHEDULE_LATENCY),
        "{names:?}"
    );
    assert!(!out.stdout.contains("POLL_TIME"), "{out:?}");
}
