//! The allocator-overhead benchmark: workloads and the `fetch_add` peer allocator.

pub mod counting;
pub mod workloads;
