//! Overhead benchmark worker: rtscope over the system allocator. Run by `alloc_overhead`.

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

fn main() {
    rtscope_examples::bench::workloads::main();
}
