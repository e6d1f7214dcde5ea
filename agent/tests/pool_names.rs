//! Pool names are bounded: `MAX_POOL_NAMES` series, `other` included; later names share the
//! `other` series. Alone in its binary: it fills the process's name table.

use rtscope::OTHER;
use rtscope::pool::{MAX_POOL_NAMES, PoolMeter};

#[test]
fn names_past_the_limit_fold_into_other() {
    let meters: Vec<_> = (0..MAX_POOL_NAMES - 1)
        .map(|i| PoolMeter::new(&format!("p{i}")))
        .collect();
    assert!(
        meters
            .iter()
            .enumerate()
            .all(|(i, m)| m.name() == format!("p{i}"))
    );
    let late = PoolMeter::new("one-too-many");
    assert_eq!(late.name(), OTHER);
    late.miss();
    assert_eq!(PoolMeter::new("yet-another").stats().misses, 1);
    // `other` by name is the same series.
    assert_eq!(PoolMeter::new(OTHER).stats().misses, 1);
    // Known names keep their own series.
    assert_eq!(PoolMeter::new("p3").name(), "p3");
}
