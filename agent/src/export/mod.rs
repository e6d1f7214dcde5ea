//! The export side: a named background thread that collects the per-thread shards on a
//! collection tick and ships OTLP on the export interval. Nothing here runs on, locks or
//! slows the application's threads: they only write their own shards, which this thread
//! reads. The thread's own allocations are the agent's (self-telemetry), never the user's.
//!
//! The series and events it ships are `crate::model`'s, offered by the parts through the
//! list of sources the pipeline is given at start, the agent's own account among them (the
//! summary's `agent:` line). Of the rest of the house this module names only its stages
//! (`sampling`, `spike`, `profile`) and what is below the parts, no measured part. Built
//! only with an exporter feature (`export-file`, `export-http`, `export-grpc`: the internal
//! `_export`).

mod announce;
mod otlp;
mod pipeline;
mod recent;
mod self_stats;
mod summary;
mod transport;

feature! {
    #![feature = "_listen"]
    mod listen;
}
feature! {
    #![feature = "export-prometheus"]
    mod prometheus;
}
feature! {
    #![feature = "profiles"]
    mod pprof;
}

pub(crate) use pipeline::Exporter;
