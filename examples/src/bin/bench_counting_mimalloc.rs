//! Overhead benchmark worker: one global fetch_add wrapper over mimalloc. Run by `alloc_overhead`.

use rtscope_examples::bench::counting;

#[global_allocator]
static ALLOC: counting::Counting<mimalloc::MiMalloc> = counting::Counting(mimalloc::MiMalloc);

fn main() {
    rtscope_examples::bench::workloads::main();
}
