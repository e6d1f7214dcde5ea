//! Overhead benchmark worker: one global fetch_add wrapper over the system allocator. Run by `alloc_overhead`.

#[path = "../bench/workloads.rs"]
mod workloads;
#[path = "../bench/counting.rs"]
mod counting;
#[global_allocator]
static ALLOC: counting::Counting<std::alloc::System> = counting::Counting(std::alloc::System);

fn main() {
    workloads::main();
}
