//! Overhead benchmark worker: rtscope over the system allocator. Run by `alloc_overhead`.

#[path = "../bench/workloads.rs"]
mod workloads;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

fn main() {
    workloads::main();
}
