//! The export side of sampling: the [`Sampler`], owned by the export pipeline, adds every
//! sample's weight to the per-scope estimates each collection tick (bounded cardinality),
//! brings the mean back toward the configured interval after the CPU budget raised it, sets
//! the log records' keep probability for the target rate, and turns the kept samples into
//! log records. The hot side (per-thread streams, the mean, the budgets, the queue) is
//! `crate::base::hot_sampling`.

use crate::base::classes::CLASS_SIZES;
use crate::base::hot_sampling::{
    CPU_NS, DROPPED, RAISED, Sample, TAKEN, base, cpu_budget, drain, keep, keep_for, mean,
    queue_depth, recover, set_keep, set_mean, take_scope_weights,
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
    /// Log records per second.
    target: f64,
    /// Cumulative estimated bytes per series name.
    per_scope: HashMap<String, f64>,
    taken_at_last_tick: u64,
    cpu_ns_at_last_tick: u64,
    /// Samples per second in the last window.
    achieved: f64,
    thread_names: HashMap<u32, String>,
    /// Estimated bytes per scope name in the last window, largest first (spike context).
    recent: Vec<(String, u64)>,
    /// The heap profile's stack entry that allocated the most sampled bytes in the last
    /// window, with those bytes (spike context; none without stacks).
    recent_stack: Option<(u32, u64)>,
}

impl Sampler {
    /// A sampler exporting about `target_per_sec` log records per second.
    pub(crate) fn new(target_per_sec: f64) -> Self {
        Sampler {
            target: target_per_sec,
            per_scope: HashMap::new(),
            taken_at_last_tick: TAKEN.load(Relaxed),
            cpu_ns_at_last_tick: CPU_NS.load(Relaxed),
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

    /// One collection tick of `seconds`: estimate, recover the mean, set the keep
    /// probability, queue log records.
    pub(crate) fn tick(&mut self, seconds: f64, events: &mut EventBuffer) {
        let mut samples: Vec<Sample> = Vec::new();
        drain(&mut samples);
        let taken = TAKEN.load(Relaxed);
        let in_window = taken.wrapping_sub(self.taken_at_last_tick);
        self.taken_at_last_tick = taken;
        let cpu_ns = CPU_NS.load(Relaxed);
        let spent = cpu_ns.wrapping_sub(self.cpu_ns_at_last_tick);
        self.cpu_ns_at_last_tick = cpu_ns;
        if seconds > 0.0 {
            self.achieved = in_window as f64 / seconds;
            let m = mean();
            if m != 0 {
                let cost = spent as f64 / (seconds * 1e9);
                set_mean(m, recover(m, base(), cost, cpu_budget()));
            }
            set_keep(keep_for(self.achieved, self.target));
        }
        let mut window: HashMap<String, f64> = HashMap::new();
        // Every sample's weight, kept as a record or not.
        let mut weights = Vec::new();
        take_scope_weights(|scope, weight| weights.push((scope, weight)));
        for (scope, weight) in weights {
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
        out.push(Metric::new(
            "rtscope.sampling.samples",
            "{sample}",
            "Samples taken: every one feeds the estimates and the heap profile.",
            Data::Counter(TAKEN.load(Relaxed).into()),
        ));
        out.push(Metric::new(
            "rtscope.sampling.time",
            "s",
            "Time the allocating threads spent in the sample path (stack capture, interning, the record), as charged to the CPU budget.",
            Data::Counter((CPU_NS.load(Relaxed) as f64 / 1e9).into()),
        ));
        out.push(Metric::new(
            "rtscope.sampling.raised",
            "{raise}",
            "Times the CPU budget raised the mean interval.",
            Data::Counter(RAISED.load(Relaxed).into()),
        ));
        out.push(Metric::new(
            "rtscope.sampling.keep",
            "1",
            "Probability a sample is exported as a log record (the subsample bounded by the target rate).",
            Data::Gauge(keep().into()),
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
