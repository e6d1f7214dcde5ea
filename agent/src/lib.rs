//! # rtscope
//!
//! In-process runtime instrumentation for Rust services: allocations by size class, live and
//! peak heap, reallocations and failures, measured by a global-allocator wrapper whose hot
//! path takes no lock, writes no shared cache line and never allocates.
//!
//! ```no_run
//! #[global_allocator]
//! static ALLOC: rtscope::Alloc = rtscope::Alloc::system();
//!
//! fn main() {
//!     let _v: Vec<u64> = (0..1000).collect();
//!     let s = rtscope::alloc::stats();
//!     println!("{} allocations, {} live bytes", s.allocations, s.live_bytes);
//! }
//! ```

pub mod alloc;

pub use alloc::Alloc;
mod agent;
pub mod config;
pub(crate) mod export;
mod names;
pub use names::OTHER;
pub(crate) mod sampling;
pub mod scope;
pub use scope::scope;
pub mod pool;
mod sched;
pub mod spike;
mod sys;
#[path = "tracing_layer.rs"]
pub mod tracing;
pub use spike::latency;
pub mod task;
pub mod time;
pub use agent::{Agent, AgentBuilder, AgentGuard, InstallError};
#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
pub use rtscope_macros::main;
pub use rtscope_macros::scope;
