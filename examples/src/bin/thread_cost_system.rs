//! Per-thread memory cost worker: bare system allocator. Run by `thread_cost`.

#[global_allocator]
static ALLOC: std::alloc::System = std::alloc::System;

#[path = "../thread_cost_worker.rs"]
mod worker;

fn main() {
    worker::main();
}
