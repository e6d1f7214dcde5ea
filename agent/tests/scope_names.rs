//! The scope name table is bounded: past `MAX_SCOPE_NAMES` names, every new name shares the
//! id named `other`. Its own binary: it fills the process-wide table.

use rtscope::OTHER;
use rtscope::scope::{MAX_SCOPE_NAMES, Scope};

#[test]
fn names_past_the_bound_fold_into_other() {
    let first = Scope::new("name-0");
    let mut distinct = std::collections::HashSet::new();
    for i in 0..MAX_SCOPE_NAMES + 500 {
        distinct.insert(Scope::new(&format!("name-{i}")));
    }
    // MAX - 1 own ids, plus `other`.
    assert_eq!(distinct.len(), MAX_SCOPE_NAMES);
    let late = Scope::new("a name seen late");
    assert_eq!(late.name(), OTHER);
    assert_eq!(late, Scope::new(OTHER));
    // Names interned before the table filled keep their id.
    assert_eq!(Scope::new("name-0"), first);
    assert_eq!(first.name(), "name-0");
    // Concurrent interning of the same names agrees.
    let ids: Vec<Vec<Scope>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4)
            .map(|_| s.spawn(|| (0..50).map(|i| Scope::new(&format!("name-{i}"))).collect()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.windows(2).all(|w| w[0] == w[1]));
    rtscope::scope("yet another late name", || {
        assert_eq!(Scope::current().map(|s| s.name()), Some(OTHER));
    });
}
