//! A child process for the tokio runtime metrics test: known runtime state under the agent.
//!
//! - `#[rtscope::main]`'s own runtime (registered by the macro): prints
//!   `MAIN <runtime id> <workers>`.
//! - a second runtime with 2 workers, registered with `rtscope::task::register_runtime`:
//!   one task holds a worker for 400 ms (busy, not parked), then 5 tasks wait forever, so
//!   from then on it has exactly 5 alive tasks. Prints `SECOND <runtime id>`, then, after
//!   `RTSCOPE_TEST_HOLD_MS` (default 1500) in which the agent exports, `DONE`.

use std::time::Duration;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

#[rtscope::main]
async fn main() {
    let main = tokio::runtime::Handle::current();
    println!("MAIN {} {}", main.id(), main.metrics().num_workers());

    let second = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("a runtime");
    assert!(rtscope::task::register_runtime(second.handle()));
    second
        .spawn(async { std::thread::sleep(Duration::from_millis(400)) })
        .await
        .expect("the busy task");
    // A finished task is released a moment after its join: wait for it (bounded), so the
    // runtime never has more than the 5 below.
    for _ in 0..500 {
        if second.metrics().num_alive_tasks() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for _ in 0..5 {
        second.spawn(std::future::pending::<()>());
    }
    println!("SECOND {}", second.handle().id());
    let hold = std::env::var("RTSCOPE_TEST_HOLD_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    tokio::time::sleep(Duration::from_millis(hold)).await;
    println!("DONE");
    // Kept running to the end, so the final flush still sees its 5 alive tasks (dropping a
    // runtime inside another's async context is not allowed anyway).
    std::mem::forget(second);
}
