//! Overhead benchmark worker: bare system allocator. Run by `alloc_overhead`.

#[path = "../bench/workloads.rs"]
mod workloads;

#[global_allocator]
static ALLOC: std::alloc::System = std::alloc::System;

fn main() {
    workloads::main();
}
