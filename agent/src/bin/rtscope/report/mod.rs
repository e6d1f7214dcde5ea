//! The report page: an rtscope OTLP/JSON-lines file (the embedded default destination,
//! `./rtscope-otlp.jsonl`) turned into one self-contained HTML page with inline SVG charts:
//! heap over time, the size-class histogram, timer lateness, scheduler delay, latencies and
//! task polls, pool hit ratios, spike events on a timeline with their sentences, and the top
//! scopes and stacks by sampled bytes. Nothing is loaded at view time (`rtscope report`).
//! The same reading gives `rtscope summary` its figures.

mod html;
mod read;

pub(crate) use html::page;
#[cfg(test)]
use html::{bytes, count, duration, esc};
#[cfg(test)]
pub(crate) use read::MAX_LINE;
pub(crate) use read::{Hist, Run, read};

#[cfg(test)]
mod tests;
