//! Overhead benchmark worker: one global fetch_add wrapper over the system allocator. Run by `alloc_overhead`.

#[path = "../bench/counting.rs"]
mod counting;
#[path = "../bench/workloads.rs"]
mod workloads;
#[global_allocator]
static ALLOC: counting::Counting<std::alloc::System> = counting::Counting(std::alloc::System);

fn main() {
    workloads::main();
}
