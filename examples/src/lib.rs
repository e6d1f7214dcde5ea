//! Code shared by the example binaries: the allocator-overhead workloads and the peer
//! allocator they are compared with. It is compiled once, in this library, so every
//! `bench_*` worker runs the same machine code for the workload and reaches its global
//! allocator the way real code does, through a call to `__rust_alloc`; only the allocator
//! differs between workers.

pub mod bench;
pub mod retention;
