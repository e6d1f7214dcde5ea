//! The allocator-retention story (see `rtscope_examples::retention`) on mimalloc (rtscope's
//! feature `mimalloc`).
//!
//! ```text
//! cargo run --release -p rtscope-examples --bin retention_mimalloc
//! ```

#[global_allocator]
static ALLOC: rtscope::Alloc<mimalloc::MiMalloc> = rtscope::Alloc::mimalloc();

#[rtscope::main]
fn main() {
    rtscope_examples::retention::run();
}
