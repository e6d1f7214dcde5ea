//! tokio runtime metrics, read back from a real collector (rotel): `tokio_workload` builds
//! known runtime state (see its docs) and every `tokio.*` series must arrive with it.

use rtscope_integration::{Collector, DataPoint, otlp::any_value_i64, run_exporting, settle};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_tokio_workload");

/// The points of `name` for runtime `id` (and worker `worker`), in arrival order.
fn points(c: &Collector, name: &str, id: &str, worker: Option<i64>) -> Vec<DataPoint> {
    let mut p: Vec<_> = c
        .metric_points(name)
        .into_iter()
        .filter(|p| p.attr_str("tokio.runtime.id") == Some(id))
        .filter(|p| {
            worker.is_none_or(|w| p.attr("tokio.worker.index").and_then(any_value_i64) == Some(w))
        })
        .collect();
    p.sort_by_key(DataPoint::request_index);
    p
}

fn last(c: &Collector, name: &str, id: &str, worker: Option<i64>) -> DataPoint {
    points(c, name, id, worker)
        .pop()
        .unwrap_or_else(|| panic!("no {name} for runtime {id} worker {worker:?}"))
}

#[test]
fn runtime_metrics_of_the_main_and_a_registered_runtime_arrive_with_known_values() {
    let c = Collector::start();
    let out = run_exporting(BIN, &c, &[]);
    let word = |tag: &str, i: usize| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(tag))
            .and_then(|l| l.split_whitespace().nth(i))
            .unwrap_or_else(|| panic!("no {tag} in {out:?}"))
            .to_owned()
    };
    let (main_id, main_workers, second) = (word("MAIN ", 0), word("MAIN ", 1), word("SECOND ", 0));
    c.wait_for_metric("tokio.workers", Duration::from_secs(15));
    settle(&c);

    // The runtime `#[rtscope::main]` built, registered by the macro.
    let workers = last(&c, "tokio.workers", &main_id, None);
    assert_eq!(workers.as_i64().map(|n| n.to_string()), Some(main_workers));
    assert_eq!(workers.unit(), "{worker}");

    // The registered one: 2 workers, 5 alive tasks at the end and never more.
    assert_eq!(last(&c, "tokio.workers", &second, None).as_i64(), Some(2));
    let alive = points(&c, "tokio.alive_tasks", &second, None);
    assert_eq!(alive.last().and_then(DataPoint::as_i64), Some(5));
    assert_eq!(alive.iter().filter_map(DataPoint::as_i64).max(), Some(5));
    assert_eq!(
        last(&c, "tokio.global_queue_depth", &second, None).as_i64(),
        Some(0)
    );

    // One worker was held 400 ms; both are otherwise parked.
    let mut busy = 0.0;
    for w in 0..2 {
        let b = last(&c, "tokio.worker.busy_duration", &second, Some(w));
        assert_eq!((b.unit(), b.is_monotonic()), ("s", Some(true)));
        busy += b.as_f64().unwrap();
        let parks = last(&c, "tokio.worker.park_count", &second, Some(w))
            .as_i64()
            .unwrap();
        assert!(parks >= 1, "worker {w} parked {parks} times");
        let unparks = last(&c, "tokio.worker.park_unpark_count", &second, Some(w));
        assert!(unparks.as_i64().unwrap() >= parks);
    }
    assert!((0.4..0.9).contains(&busy), "busy {busy} s, held 0.4 s");
    let ratios: Vec<f64> = (0..2)
        .flat_map(|w| points(&c, "tokio.worker.busy_ratio", &second, Some(w)))
        .filter_map(|p| p.as_f64())
        .collect();
    assert!(ratios.iter().all(|r| (0.0..=1.0).contains(r)), "{ratios:?}");
    assert!(
        ratios.iter().any(|&r| r >= 0.5),
        "the held worker's interval: {ratios:?}"
    );
}
