//! The bottom of the house: what every measurement shares. Nothing here imports a module
//! above it (only `crate::sys`); everything else builds on it.
//!
//! - [`shard`]: the per-thread state (`Local`: the fast-path countdown, the shard pointer,
//!   the sampler's per-thread stream, the class table) and the per-thread shards of
//!   counters it finds, with the generic counter slots, the agent's account
//!   ([`agent_scope`]) and the allocator's record functions the `GlobalAlloc` wrapper in
//!   `crate::alloc` calls.
//! - [`registry`]: the lock-free, grow-only list of shards (checked with loom and miri).
//! - [`classes`]: the size classes the shards are indexed by.
//! - [`counters`]: counter groups and duration histograms in the slots, and the
//!   histogram snapshot type every part reports with.
//! - [`hot_sampling`]: the hot side of Poisson byte sampling (per-thread streams, the mean, the
//!   CPU budget that raises it, the log records' subsample, the sample queue); its export
//!   side is `crate::sampling::Sampler`, owned by the export pipeline.
//! - [`hot_profile`]: the hot side of heap profiles: a stack per sample, the stack table and
//!   the in-use set (the arena of sampled small blocks, the table of sampled large ones).
//! - [`attribution`]: the scope current on each thread, which samples are attributed to.
//! - [`agent_threads`]: which kernel threads are the agent's own.
//! - [`text`]: outside text (environment values, paths, collector bodies) made safe for one
//!   line of output.

pub(crate) mod agent_threads;
pub(crate) mod attribution;
pub(crate) mod classes;
pub(crate) mod counters;
pub(crate) mod hot_profile;
pub(crate) mod registry;
// Its control side (enabling, draining, the sampler's inputs) is the export pipeline's; the
// hot side runs in every build.
#[cfg_attr(not(feature = "_export"), allow(dead_code))]
pub(crate) mod hot_sampling;
pub(crate) mod shard;
pub(crate) mod text;
/// The atomics and locks of the structures with loom models: `std`'s here. The models
/// (`agent/tests/loom_*.rs`) include the files of those structures (`registry.rs`,
/// `crate::names`, `crate::pool`'s cache cells) with a `sync` of loom's types in its place,
/// as tokio's `src/loom` switches its own.
pub(crate) mod sync {
    pub(crate) use std::sync::Mutex;
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};
}

pub(crate) use shard::agent_scope;

// A thread with sampling off re-checks it at every peak check: `shard.rs` holds the sampler's
// per-thread stream, so `hot_sampling.rs` keeps its own copy of the step instead of naming it.
const _: () = assert!(hot_sampling::OFF_RECHECK == shard::PEAK_STEP as u64);
