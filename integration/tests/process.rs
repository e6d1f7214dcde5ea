//! Process metrics (semantic-convention names, units, attributes), read back from a real
//! collector (rotel): `process_workload` makes known process state (see its docs).
#![cfg(target_os = "linux")]

use rtscope_integration::{Collector, DataPoint, run_exporting, settle};
use std::collections::HashMap;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_process_workload");

fn figures(line: &str) -> HashMap<&str, f64> {
    line.split_whitespace()
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k, v.parse().unwrap_or_else(|_| panic!("{line}"))))
        .collect()
}

fn with(c: &Collector, name: &str, attr: Option<(&str, &str)>) -> Vec<DataPoint> {
    let mut p: Vec<_> = c
        .metric_points(name)
        .into_iter()
        .filter(|p| attr.is_none_or(|(k, v)| p.attr_str(k) == Some(v)))
        .collect();
    assert!(!p.is_empty(), "no {name} {attr:?}");
    p.sort_by_key(DataPoint::request_index);
    p
}

fn last(c: &Collector, name: &str, attr: Option<(&str, &str)>) -> f64 {
    with(c, name, attr)
        .last()
        .and_then(DataPoint::as_f64)
        .unwrap()
}

#[test]
fn process_cpu_memory_threads_descriptors_switches_and_faults_arrive() {
    let c = Collector::start();
    let out = run_exporting(BIN, &c, &[]);
    let holds: Vec<_> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("HOLD "))
        .collect();
    let end = figures(out.stdout.lines().find(|l| l.starts_with("END ")).unwrap());
    c.wait_for_metric("process.thread.count", Duration::from_secs(15));
    settle(&c);

    // While held, the thread and descriptor counts are the kernel's, exactly (taken when the
    // child saw the same before and after the hold).
    if holds[0] == holds[1] {
        let held = figures(holds[0]);
        for (name, key) in [
            ("process.thread.count", "threads"),
            ("process.open_file_descriptor.count", "fds"),
        ] {
            let seen: Vec<_> = with(&c, name, None)
                .iter()
                .filter_map(DataPoint::as_i64)
                .collect();
            assert!(
                seen.contains(&(held[key] as i64)),
                "{name}: {seen:?}, the kernel said {}",
                held[key]
            );
        }
    }
    let threads = with(&c, "process.thread.count", None);
    assert_eq!(
        (threads[0].unit(), threads[0].is_monotonic()),
        ("{thread}", Some(false))
    );

    // CPU: at least the 300 ms burnt, at most what the child counted plus its exit.
    let user = last(&c, "process.cpu.time", Some(("cpu.mode", "user")));
    assert!(
        user >= 0.3 && user >= end["user"] - 1e-6 && user < end["user"] + 0.5,
        "{user} {end:?}"
    );
    assert!(last(&c, "process.cpu.time", Some(("cpu.mode", "system"))) >= 0.0);
    assert_eq!(with(&c, "process.cpu.time", None)[0].unit(), "s");
    let util: Vec<_> = with(&c, "process.cpu.utilization", Some(("cpu.mode", "user")))
        .iter()
        .filter_map(DataPoint::as_f64)
        .collect();
    assert!(util.iter().all(|u| (0.0..=1.0).contains(u)), "{util:?}");

    let switches = last(
        &c,
        "process.context_switches",
        Some(("process.context_switch.type", "voluntary")),
    );
    assert!(
        switches >= 50.0 && switches >= end["nvcsw"],
        "{switches} {end:?}"
    );
    let minor = last(
        &c,
        "process.paging.faults",
        Some(("system.paging.fault.type", "minor")),
    );
    assert!(minor >= end["minflt"], "{minor} {end:?}");
    with(
        &c,
        "process.paging.faults",
        Some(("system.paging.fault.type", "major")),
    );
    let vsize = last(&c, "process.memory.virtual", None);
    assert!(
        vsize > last(&c, "process.memory.usage", None),
        "virtual {vsize}"
    );
}
