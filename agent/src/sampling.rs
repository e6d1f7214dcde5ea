//! The export side of sampling: the [`Sampler`], owned by the export pipeline, drains the
//! sample queue each collection tick, keeps per-scope estimates with bounded cardinality,
//! runs the rate controller, and turns samples into log records. The hot side (per-thread
//! streams, the mean, the budget, the queue) is `crate::base::sampling`.

use crate::base::classes::CLASS_SIZES;
use crate::base::sampling::{
    DROPPED, Sample, TAKEN, adjust, drain, mean, queue_depth, set_mean, take_dropped_weight,
};
use crate::model::events::{EventBuffer, LogEvent};
use crate::model::series::{Data, Metric, Value};
use crate::names::OTHER;
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;

/// Scopes with their own `rust.memory.sampled.allocated` series; later ones fold into
/// [`OTHER`].
const MAX_SCOPES: usize = 100;
/// Series of samples taken outside any scope.
pub(crate) const NO_SCOPE: &str = "<none>";
/// Export-thread state of the sampler.
#[derive(Debug)]
pub(crate) struct Sampler {
    target: f64,
    /// Cumulative estimated bytes per series name.
    per_scope: HashMap<String, f64>,
    taken_at_last_tick: u64,
    achieved: f64,
    thread_names: HashMap<u32, String>,
    /// Estimated bytes per scope name in the last window, largest first (spike context).
    recent: Vec<(String, u64)>,
    /// The heap profile's stack entry that allocated the most sampled bytes in the last
    /// window, with those bytes (spike context; none without stacks).
    recent_stack: Option<(u32, u64)>,
}

impl Sampler {
    /// A sampler aiming for `target_per_sec` samples per second.
    pub(crate) fn new(target_per_sec: f64) -> Self {
        Sampler {
            target: target_per_sec,
            per_scope: HashMap::new(),
            taken_at_last_tick: TAKEN.load(Relaxed),
            achieved: 0.0,
            thread_names: HashMap::new(),
            recent: Vec::new(),
            recent_stack: None,
        }
    }

    fn series_name(&mut self, scope: u32) -> String {
        let name = if scope == 0 {
            NO_SCOPE.to_owned()
        } else {
            crate::scope::name_of(scope).map_or_else(|| OTHER.to_owned(), |n| n.to_string())
        };
        if self.per_scope.contains_key(&name) || self.per_scope.len() < MAX_SCOPES {
            name
        } else {
            OTHER.to_owned()
        }
    }

    fn thread_name(&mut self, tid: u32) -> String {
        self.thread_names
            .entry(tid)
            .or_insert_with(|| crate::sys::thread_name(tid).unwrap_or_default())
            .clone()
    }

    /// One collection tick of `seconds`: drain, estimate, adjust the rate, queue log records.
    pub(crate) fn tick(&mut self, seconds: f64, events: &mut EventBuffer) {
        let mut samples: Vec<Sample> = Vec::new();
        drain(&mut samples);
        let taken = TAKEN.load(Relaxed);
        let in_window = taken.wrapping_sub(self.taken_at_last_tick);
        self.taken_at_last_tick = taken;
        if seconds > 0.0 {
            self.achieved = in_window as f64 / seconds;
            let m = mean();
            if m != 0 {
                set_mean(m, adjust(m, self.achieved, self.target));
            }
        }
        let mut window: HashMap<String, f64> = HashMap::new();
        // Samples the queue could not take still count toward the estimates.
        let mut dropped = Vec::new();
        take_dropped_weight(|scope, weight| dropped.push((scope, weight)));
        for (scope, weight) in dropped {
            let scope = self.series_name(scope);
            *self.per_scope.entry(scope.clone()).or_insert(0.0) += weight as f64;
            *window.entry(scope).or_insert(0.0) += weight as f64;
        }
        let mut stacks: HashMap<u32, f64> = HashMap::new();
        for s in &samples {
            if s.stack != 0 {
                *stacks.entry(s.stack).or_insert(0.0) += s.weight;
            }
        }
        self.recent_stack = stacks
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .map(|(id, w)| (id, w.round() as u64));
        for s in samples {
            let scope = self.series_name(s.scope);
            *self.per_scope.entry(scope.clone()).or_insert(0.0) += s.weight;
            *window.entry(scope.clone()).or_insert(0.0) += s.weight;
            let thread = self.thread_name(s.tid);
            events.push(LogEvent {
                name: "rust.memory.allocation.sample",
                time_unix_nano: s.time_unix_nano,
                severity: 9,
                body: format!("sampled allocation of {} B in {scope}", s.size),
                attributes: vec![
                    (
                        "rust.memory.allocation.size".into(),
                        Value::Int(s.size as i64),
                    ),
                    (
                        "rust.memory.size_class".into(),
                        Value::Int(CLASS_SIZES[usize::from(s.class)].min(i64::MAX as u64) as i64),
                    ),
                    (
                        "rust.memory.sample.weight".into(),
                        Value::Int(s.weight.round() as i64),
                    ),
                    ("rust.scope".into(), Value::Str(scope)),
                    ("thread.id".into(), Value::Int(i64::from(s.tid))),
                    ("thread.name".into(), Value::Str(thread)),
                ],
                trace: s.trace,
            });
        }
        let mut recent: Vec<(String, u64)> = window
            .into_iter()
            .map(|(k, v)| (k, v.round() as u64))
            .collect();
        recent.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        self.recent = recent;
    }

    /// The heap profile's stack entry that allocated the most sampled bytes in the last
    /// window, and those bytes.
    pub(crate) fn recent_top_stack(&self) -> Option<(u32, u64)> {
        self.recent_stack
    }

    /// Estimated bytes per scope during the last collection window, largest first.
    pub(crate) fn recent_scope_bytes(&self) -> &[(String, u64)] {
        &self.recent
    }

    /// Cumulative estimated bytes per scope, largest first.
    pub(crate) fn top_scopes(&self, n: usize) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .per_scope
            .iter()
            .map(|(k, v)| (k.clone(), v.round() as u64))
            .collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// Cumulative estimates and the sampler's self-telemetry.
    pub(crate) fn metrics(&self, events: &EventBuffer, out: &mut Vec<Metric>) {
        let mut scopes: Vec<(&String, &f64)> = self.per_scope.iter().collect();
        scopes.sort_by(|a, b| a.0.cmp(b.0));
        for (scope, bytes) in scopes {
            out.push(
                Metric::new(
                    "rust.memory.sampled.allocated",
                    "By",
                    "Bytes allocated, estimated from Poisson byte samples (unbiased), per scope or span.",
                    // An estimate of a number of bytes: a count, sent as an integer.
                    Data::Counter((bytes.round() as u64).into()),
                )
                .with_attr("rust.scope", scope.as_str()),
            );
        }
        out.push(Metric::new(
            "rtscope.sampling.interval",
            "By",
            "Current mean bytes between two allocation samples (0 = sampling off).",
            Data::Gauge(mean().into()),
        ));
        out.push(Metric::new(
            "rtscope.sampling.rate",
            "{sample}/s",
            "Samples per second achieved in the last collection window (the export thread's 1 s tick).",
            Data::Gauge(self.achieved.into()),
        ));
        for (queue, dropped) in [
            ("samples", DROPPED.load(Relaxed)),
            ("export", events.dropped),
        ] {
            out.push(
                Metric::new(
                    "rtscope.events.dropped",
                    "{event}",
                    "Events dropped because a bounded queue was full.",
                    Data::Counter(dropped.into()),
                )
                .with_attr("rtscope.queue", queue),
            );
        }
        for (queue, depth) in [("samples", queue_depth()), ("export", events.len())] {
            out.push(
                Metric::new(
                    "rtscope.queue.depth",
                    "{event}",
                    "Events waiting in a queue at collection time.",
                    Data::Gauge((depth as u64).into()),
                )
                .with_attr("rtscope.queue", queue),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_says_its_window() {
        let mut out = Vec::new();
        Sampler::new(100.0).metrics(&EventBuffer::default(), &mut out);
        let rate = out
            .iter()
            .find(|m| m.name == "rtscope.sampling.rate")
            .expect("the rate gauge");
        assert!(
            rate.description.contains("1 s tick"),
            "{}",
            rate.description
        );
    }
}
