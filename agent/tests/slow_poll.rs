//! The slow-poll threshold is a setting of the configuration: `with_slow_poll_threshold` is
//! resolved into `Config::slow_poll_threshold`, and `install` sets it for the process (polls
//! of instrumented tasks longer than it count in `rust.task.slow_polls`). The deprecated
//! `task::set_slow_poll_threshold` still works until then, and the builder wins over it.

use rtscope::task;
use std::future::Future;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// Polls one instrumented future that blocks for `busy` in its poll, and returns how many
/// slow polls it added.
fn slow_polls_of_a_poll_taking(busy: Duration) -> u64 {
    let before = task::stats().slow_polls;
    let mut fut = std::pin::pin!(task::instrument(async move {
        std::thread::sleep(busy);
    }));
    assert_eq!(
        fut.as_mut().poll(&mut Context::from_waker(Waker::noop())),
        Poll::Ready(())
    );
    task::stats().slow_polls - before
}

#[test]
fn install_sets_the_configured_threshold_over_the_deprecated_one() {
    #[allow(deprecated)]
    task::set_slow_poll_threshold(Duration::from_millis(7));
    // Until install, the deprecated setter's value is the threshold, and what the
    // environment alone resolves to.
    assert_eq!(task::slow_poll_threshold(), Duration::from_millis(7));
    assert_eq!(
        rtscope::config::Config::from_env().slow_poll_threshold,
        Duration::from_millis(7)
    );

    let path = std::env::temp_dir().join(format!("rtscope-slow-poll-{}.jsonl", std::process::id()));
    let guard = rtscope::Agent::builder()
        .with_file(&path)
        .with_summary(false)
        .with_slow_poll_threshold(Duration::from_millis(200))
        .install()
        .expect("install");
    assert_eq!(
        guard.config().slow_poll_threshold,
        Duration::from_millis(200)
    );
    assert_eq!(task::slow_poll_threshold(), Duration::from_millis(200));

    // 20 ms is slow under the old 7 ms and not under the configured 200 ms; 250 ms is slow.
    assert_eq!(slow_polls_of_a_poll_taking(Duration::from_millis(20)), 0);
    assert_eq!(slow_polls_of_a_poll_taking(Duration::from_millis(250)), 1);
    drop(guard);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(path.with_extension("jsonl.1"));
}
