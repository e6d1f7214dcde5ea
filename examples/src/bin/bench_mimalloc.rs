//! Overhead benchmark worker: bare mimalloc. Run by `alloc_overhead`.

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    rtscope_examples::bench::workloads::main();
}
