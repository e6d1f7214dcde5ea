//! Overhead benchmark worker: one global fetch_add wrapper over the system allocator. Run by `alloc_overhead`.

use rtscope_examples::bench::counting;

#[global_allocator]
static ALLOC: counting::Counting<std::alloc::System> = counting::Counting(std::alloc::System);

fn main() {
    rtscope_examples::bench::workloads::main();
}
