//! Latency names are bounded: `MAX_LATENCY_NAMES` histograms, `other` included; later names
//! share the histogram named `other`. Alone in its binary: it fills the process's name table.

use rtscope::OTHER;
use rtscope::latency::{Latency, MAX_LATENCY_NAMES};
use std::time::Duration;

#[test]
fn names_past_the_limit_fold_into_other() {
    let own: Vec<Latency> = (0..MAX_LATENCY_NAMES - 1)
        .map(|i| Latency::new(&format!("l{i}")))
        .collect();
    assert!(
        own.iter()
            .enumerate()
            .all(|(i, l)| l.name() == format!("l{i}"))
    );
    let late = Latency::new("one-too-many");
    assert_eq!(late.name(), OTHER);
    late.record(Duration::from_millis(2));
    rtscope::latency("yet-another", Duration::from_millis(3));
    // Every late name and `other` by name are one histogram.
    let other = Latency::new(OTHER).stats();
    assert_eq!((other.count, other.sum), (2, Duration::from_millis(5)));
    // Known names keep their own histogram.
    assert_eq!(Latency::new("l3").name(), "l3");
    assert_eq!(own[3].stats().count, 0);
}

/// The paths under `rtscope::spike` that latencies had before they were a part of their own
/// name the same things, for one release.
#[test]
#[allow(deprecated)]
fn the_old_spike_paths_name_the_same_latencies() {
    assert_eq!(rtscope::spike::MAX_LATENCY_NAMES, MAX_LATENCY_NAMES);
    let old: rtscope::spike::Latency = rtscope::spike::Latency::new("l0");
    let before = old.stats();
    rtscope::spike::latency("l0", Duration::from_millis(1));
    assert_eq!(Latency::new("l0").stats().since(&before).count, 1);
    assert_eq!(old.name(), Latency::new("l0").name());
}
