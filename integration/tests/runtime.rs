//! Pools, timers and scheduler delay, read back exactly from a real collector (rotel).
//! `runtime_workload` makes known counts (see its docs); every series must arrive with
//! exactly those values, and never more.

use rtscope_integration::{Collector, DataPoint, run_bounded};
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_runtime_workload");
const WAIT: Duration = Duration::from_secs(15);

fn matches(p: &DataPoint, attrs: &[(&str, &str)]) -> bool {
    attrs.iter().all(|(k, v)| p.attr_str(k) == Some(*v))
}

/// Waits until a point of `name` with `attrs` has the value `want` (an integer sum), and
/// checks no point of that series ever went past it.
fn assert_sum(c: &Collector, name: &str, attrs: &[(&str, &str)], want: i64) {
    let deadline = Instant::now() + WAIT;
    loop {
        let points: Vec<_> = c
            .metric_points(name)
            .into_iter()
            .filter(|p| matches(p, attrs))
            .collect();
        if points.iter().any(|p| p.as_i64() == Some(want)) {
            let max = points.iter().filter_map(DataPoint::as_i64).max();
            assert_eq!(max, Some(want), "{name} {attrs:?} went past {want}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} {attrs:?}: never {want}; got {:?}",
            points.iter().map(DataPoint::as_i64).collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The histogram point of `name` with `attrs` from the last request that has one.
fn last_histogram(c: &Collector, name: &str, attrs: &[(&str, &str)]) -> DataPoint {
    c.wait_for_metric(name, WAIT);
    let mut points: Vec<_> = c
        .metric_points(name)
        .into_iter()
        .filter(|p| matches(p, attrs))
        .collect();
    points.sort_by_key(DataPoint::request_index);
    points
        .pop()
        .unwrap_or_else(|| panic!("no {name} {attrs:?}"))
}

#[test]
fn pools_timers_and_scheduler_delay_arrive_exactly() {
    let c = Collector::start();
    let mut cmd = Command::new(BIN);
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", c.http_endpoint())
        .env("OTEL_METRIC_EXPORT_INTERVAL", "200")
        .env("RTSCOPE_SUMMARY", "off");
    let out = run_bounded(cmd, Duration::from_secs(60)).unwrap();
    assert!(out.success() && out.stdout.contains("DONE"), "{out:?}");

    let pool = [("rust.pool.name", "buffers")];
    assert_sum(
        &c,
        "rust.pool.gets",
        &[pool[0], ("rust.pool.result", "hit")],
        111,
    );
    assert_sum(
        &c,
        "rust.pool.gets",
        &[pool[0], ("rust.pool.result", "miss")],
        13,
    );
    assert_sum(
        &c,
        "rust.pool.puts",
        &[pool[0], ("rust.pool.result", "stored")],
        122,
    );
    assert_sum(
        &c,
        "rust.pool.puts",
        &[pool[0], ("rust.pool.result", "discarded")],
        2,
    );
    // The pool is dropped before the final export: its 11 idle objects are evicted,
    // 122 stored - 111 hits - 11 evicted.
    assert_sum(&c, "rust.pool.idle", &pool, 0);
    let legacy = ("rust.pool.name", "legacy");
    assert_sum(
        &c,
        "rust.pool.gets",
        &[legacy, ("rust.pool.result", "hit")],
        5,
    );
    assert_sum(
        &c,
        "rust.pool.gets",
        &[legacy, ("rust.pool.result", "miss")],
        2,
    );
    assert_sum(
        &c,
        "rust.pool.puts",
        &[legacy, ("rust.pool.result", "stored")],
        6,
    );
    assert_sum(
        &c,
        "rust.pool.puts",
        &[legacy, ("rust.pool.result", "discarded")],
        1,
    );

    assert_sum(&c, "rust.timer.started", &[], 20);
    assert_sum(&c, "rust.timer.fired", &[], 20);
    assert_sum(&c, "rust.timer.cancelled", &[], 0);
    assert_sum(&c, "rust.timer.pending", &[], 0);
    let lateness = last_histogram(&c, "rust.timer.lateness", &[]);
    assert_eq!(lateness.count(), 20);
    assert_eq!(lateness.unit(), "s");
    assert_eq!(lateness.bucket_counts().iter().sum::<u64>(), 20);
    assert!(lateness.sum().unwrap() >= 0.0);

    // The victim waited behind a task holding the only worker for 20 ms.
    let task = last_histogram(
        &c,
        "rust.schedule.duration",
        &[("rust.schedule.kind", "task")],
    );
    let bounds = task.explicit_bounds();
    let buckets = task.bucket_counts();
    let over_10ms: u64 = bounds
        .iter()
        .zip(&buckets)
        .filter(|(b, _)| **b > 0.010)
        .map(|(_, n)| n)
        .sum::<u64>()
        + buckets.last().copied().unwrap_or(0);
    assert!(
        over_10ms >= 1,
        "no scheduling delay over 10 ms: bounds {bounds:?} buckets {buckets:?}"
    );
    let polls = last_histogram(&c, "rust.task.poll.duration", &[]);
    assert_eq!(polls.count(), 2, "one poll each for blocker and victim");
    assert_sum(&c, "rust.task.slow_polls", &[], 1);
}
