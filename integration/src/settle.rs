//! Waiting for late requests: a collector can still be receiving after the child exited.

use crate::Collector;
use std::thread;
use std::time::{Duration, Instant};

/// Polls until the metrics requests `c` received stop changing for 500 ms (late requests
/// still arriving), at most 15 s.
pub fn settle(c: &Collector) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut seen = c.metric_requests().len();
    let mut stable_since = Instant::now();
    while Instant::now() < deadline && stable_since.elapsed() < Duration::from_millis(500) {
        thread::sleep(Duration::from_millis(50));
        let now = c.metric_requests().len();
        if now != seen {
            seen = now;
            stable_since = Instant::now();
        }
    }
}
