//! The allocator-retention story (see `rtscope_examples::retention`) on glibc malloc.
//!
//! ```text
//! cargo run --release -p rtscope-examples --bin retention
//! ```

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

#[rtscope::main]
fn main() {
    rtscope_examples::retention::run();
}
