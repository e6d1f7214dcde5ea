//! The export side: a named background thread that collects the per-thread shards on a
//! collection tick and ships OTLP on the export interval. Nothing here runs on, locks or
//! slows the application's threads: they only write their own shards, which this thread
//! reads. The thread's own allocations are the agent's (self-telemetry), never the user's.
//!
//! The data model, the series sources and the event buffer are always built (every part
//! offers its series through them); the thread, the encoder and the sinks only with an
//! exporter feature (`export-file`, `export-http`, `export-grpc`).

pub(crate) mod logs;
pub(crate) mod model;
pub(crate) mod sources;

#[cfg(feature = "export")]
mod collect;
#[cfg(feature = "export")]
mod otlp;
#[cfg(feature = "export")]
mod pipeline;
#[cfg(feature = "export")]
mod summary;
#[cfg(feature = "export")]
mod transport;

#[cfg(feature = "export")]
pub(crate) use pipeline::Exporter;
