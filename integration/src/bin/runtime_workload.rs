//! A child process for the pool, timer and scheduler export tests: known counts under the
//! agent, configured by the environment. Prints `DONE` when its work is finished.
//!
//! - pool `buffers` (capacity 10), one thread: 12 gets held and put back, twice, then 100
//!   get/put pairs: 111 hits, 13 misses, 122 stored, 2 discarded.
//! - meter `legacy`: 5 hits, 2 misses, 6 puts, 1 discard.
//! - 20 thread sleeps of 2 ms: 20 timers started and fired, 20 lateness observations.
//! - on a current-thread tokio runtime: task `blocker` holds the thread for 20 ms while task
//!   `victim` is ready behind it, so `victim` waits at least 20 ms to be polled.

use rtscope::pool::PoolMeter;
use std::time::Duration;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

#[rtscope::main]
fn main() {
    let _pool = rtscope_integration::known_pool("buffers");

    let meter = PoolMeter::new("legacy");
    (0..5).for_each(|_| meter.hit());
    (0..2).for_each(|_| meter.miss());
    (0..6).for_each(|_| meter.put());
    meter.discard();

    for _ in 0..20 {
        rtscope::time::sleep(Duration::from_millis(2));
    }

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let blocker = tokio::spawn(rtscope::task::instrument(async {
            std::thread::sleep(Duration::from_millis(20));
        }));
        let victim = tokio::spawn(rtscope::task::instrument(async {}));
        blocker.await.unwrap();
        victim.await.unwrap();
    });
    println!("DONE");
}
