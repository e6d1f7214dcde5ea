//! Overhead benchmark worker: rtscope over mimalloc. Run by `alloc_overhead`.

#[global_allocator]
static ALLOC: rtscope::Alloc<mimalloc::MiMalloc> = rtscope::Alloc::new(mimalloc::MiMalloc);

fn main() {
    rtscope_examples::bench::workloads::main();
}
