//! Overhead benchmark worker: the `cap` crate's limiting wrapper over System (a peer, one
//! shared atomic of allocated bytes), with no limit. Run by `scripts/callgrind.sh`.

#[global_allocator]
static ALLOC: cap::Cap<std::alloc::System> = cap::Cap::new(std::alloc::System, usize::MAX);

fn main() {
    rtscope_examples::bench::workloads::main();
}
