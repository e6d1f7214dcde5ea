//! The report page: an rtscope OTLP/JSON-lines file (the embedded default destination,
//! `./rtscope-otlp.jsonl`) turned into one self-contained HTML page with inline SVG charts:
//! heap over time, the size-class histogram, timer lateness, scheduler delay, latencies and
//! task polls, pool hit ratios, spike events on a timeline with their sentences, and the top
//! scopes by sampled bytes. Nothing is loaded at view time. See the `report` binary.

mod html;
mod read;

pub use html::{bytes, count, duration, esc, page};
pub use read::{HeapPoint, Hist, MAX_LINE, MAX_SPIKES, PoolCounts, Run, Spike, read};

#[cfg(test)]
mod tests;
