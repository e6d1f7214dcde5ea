//! The allocator-retention story (see `rtscope_examples::retention`) on jemalloc
//! (tikv-jemallocator, rtscope's feature `jemalloc`).
//!
//! ```text
//! cargo run --release -p rtscope-examples --bin retention_jemalloc
//! ```

#[global_allocator]
static ALLOC: rtscope::Alloc<tikv_jemallocator::Jemalloc> = rtscope::Alloc::jemalloc();

#[rtscope::main]
fn main() {
    rtscope_examples::retention::run();
}
