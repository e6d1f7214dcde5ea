//! Overhead benchmark worker: bare system allocator. Run by `alloc_overhead`.

#[global_allocator]
static ALLOC: std::alloc::System = std::alloc::System;

fn main() {
    rtscope_examples::bench::workloads::main();
}
