//! Thread names are bounded: `MAX_THREAD_NAMES` series, `other` included, and later names
//! share the series named `other`. Alone in its binary: it fills the process's name table.
#![cfg(rtscope_linux)]

use rtscope::OTHER;
use rtscope::task::{MAX_THREAD_NAMES, thread_delays};
use std::sync::Barrier;

#[test]
fn names_past_the_limit_fold_into_other() {
    let n = MAX_THREAD_NAMES + 8;
    let started = Barrier::new(n + 1);
    let read = Barrier::new(n + 1);
    let delays = std::thread::scope(|s| {
        for i in 0..n {
            let (started, read) = (&started, &read);
            std::thread::Builder::new()
                .name(format!("tn-{i}"))
                .spawn_scoped(s, move || {
                    started.wait();
                    read.wait();
                })
                .unwrap();
        }
        // Every thread has run and is alive (so listed) while the kernel's counts are read.
        started.wait();
        let delays = thread_delays();
        read.wait();
        delays
    });
    let names: Vec<&str> = delays.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.len(), MAX_THREAD_NAMES, "{names:?}");
    // Own names first, in order of first sight, then the one overflow series.
    assert_eq!(names.last(), Some(&OTHER), "{names:?}");
    assert_eq!(names.iter().filter(|&&n| n == OTHER).count(), 1);
    assert!(delays.iter().all(|t| t.delay.count > 0), "{delays:?}");
}
