//! Overhead benchmark worker: bare mimalloc. Run by `alloc_overhead`.

#[path = "../bench/workloads.rs"]
mod workloads;

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    workloads::main();
}
