//! Per-thread memory cost worker: rtscope over the system allocator. Run by `thread_cost`.

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

#[path = "../thread_cost_worker.rs"]
mod worker;

fn main() {
    worker::main();
}
