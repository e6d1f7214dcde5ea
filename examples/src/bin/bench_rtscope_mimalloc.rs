//! Overhead benchmark worker: rtscope over mimalloc. Run by `alloc_overhead`.

#[path = "../bench/workloads.rs"]
mod workloads;

#[global_allocator]
static ALLOC: rtscope::Alloc<mimalloc::MiMalloc> = rtscope::Alloc::new(mimalloc::MiMalloc);

fn main() {
    workloads::main();
}
