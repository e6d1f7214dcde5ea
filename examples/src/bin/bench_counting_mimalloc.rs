//! Overhead benchmark worker: one global fetch_add wrapper over mimalloc. Run by `alloc_overhead`.

#[path = "../bench/counting.rs"]
mod counting;
#[path = "../bench/workloads.rs"]
mod workloads;
#[global_allocator]
static ALLOC: counting::Counting<mimalloc::MiMalloc> = counting::Counting(mimalloc::MiMalloc);

fn main() {
    workloads::main();
}
