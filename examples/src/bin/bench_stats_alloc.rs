//! Overhead benchmark worker: the `stats_alloc` crate's counting wrapper over System (a peer,
//! shared atomic counters). Run by `scripts/callgrind.sh`.

#[global_allocator]
static ALLOC: &stats_alloc::StatsAlloc<std::alloc::System> = &stats_alloc::INSTRUMENTED_SYSTEM;

fn main() {
    rtscope_examples::bench::workloads::main();
}
