//! The export side: a named background thread that collects the per-thread shards on a
//! collection tick and ships OTLP on the export interval. Nothing here runs on, locks or
//! slows the application's threads: they only write their own shards, which this thread
//! reads. The thread's own allocations are the agent's (self-telemetry), never the user's.
//!
//! The series and events it ships are `crate::model`'s, offered by the parts through the
//! list of sources the pipeline is given at start. Of the parts this module names only its
//! stages (`sampling`, `spike`, `profile`) and `alloc`, for the summary's agent line
//! (`alloc::agent_stats`). Built only with an exporter feature (`export-file`,
//! `export-http`, `export-grpc`).

mod announce;
#[cfg(feature = "listen")]
mod listen;
mod otlp;
mod pipeline;
#[cfg(feature = "profiles")]
mod pprof;
#[cfg(feature = "export-prometheus")]
mod prometheus;
mod recent;
mod self_stats;
mod summary;
mod transport;

pub(crate) use pipeline::Exporter;
