//! What `top` shows, worked out from the scrapes: the figures of the last one, rates over
//! the last second (the previous scrape), quantiles over the last [`WINDOW`] scrapes, the
//! heap's history for the sparkline, and the recent spike events.

use super::prom::{Buckets, Scrape};
use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

/// Scrapes the windowed quantiles span (one a second: about ten seconds).
pub(crate) const WINDOW: usize = 10;
/// Points of live heap kept for the sparkline.
pub(crate) const HISTORY: usize = 240;
/// Spike events kept (the listener serves its own bounded list).
const MAX_SPIKES: usize = 64;

/// One pool's totals.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PoolTotals {
    pub(crate) hits: f64,
    pub(crate) misses: f64,
    pub(crate) discarded: f64,
    pub(crate) idle: f64,
}

/// One tokio worker: runtime id, index and its busy ratio since the agent's previous
/// collection.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Worker {
    pub(crate) runtime: String,
    pub(crate) index: String,
    pub(crate) busy: f64,
}

/// The figures of one scrape.
#[derive(Clone, Debug, Default)]
pub(crate) struct Figures {
    pub(crate) service: String,
    pub(crate) pid: String,
    pub(crate) live: f64,
    pub(crate) peak: f64,
    pub(crate) resident: Option<f64>,
    pub(crate) objects: f64,
    pub(crate) allocated: f64,
    pub(crate) allocations: f64,
    /// Allocations by size class (bounds in bytes).
    pub(crate) classes: Buckets,
    pub(crate) pools: BTreeMap<String, PoolTotals>,
    /// Duration histograms (bounds in seconds) by what they measure: `timer lateness`,
    /// `scheduler delay task`, `latency request`, ...
    pub(crate) durations: BTreeMap<String, Buckets>,
    pub(crate) workers: Vec<Worker>,
    pub(crate) alive_tasks: Option<f64>,
    pub(crate) agent_cpu: f64,
    pub(crate) agent_live: f64,
    pub(crate) process_cpu: f64,
    pub(crate) spikes_emitted: f64,
    /// Whether any rtscope series was in the scrape (else it is someone else's `/metrics`).
    pub(crate) is_rtscope: bool,
}

impl Figures {
    pub(crate) fn of(s: &Scrape) -> Figures {
        let v = |name: &str| s.sum(name).unwrap_or(0.0);
        let info = s.named("target_info").next();
        let mut pools: BTreeMap<String, PoolTotals> = BTreeMap::new();
        for sample in s
            .named("rust_pool_gets_total")
            .chain(s.named("rust_pool_puts_total"))
            .chain(s.named("rust_pool_idle"))
        {
            let Some(name) = sample.label("rust_pool_name") else {
                continue;
            };
            let p = pools.entry(name.to_owned()).or_default();
            match (sample.name.as_str(), sample.label("rust_pool_result")) {
                ("rust_pool_gets_total", Some("hit")) => p.hits += sample.value,
                ("rust_pool_gets_total", Some("miss")) => p.misses += sample.value,
                ("rust_pool_puts_total", Some("discarded")) => p.discarded += sample.value,
                ("rust_pool_idle", _) => p.idle += sample.value,
                _ => {}
            }
        }
        let mut durations = BTreeMap::new();
        let mut add = |label: String, b: Buckets| {
            if b.count() > 0.0 {
                durations.insert(label, b);
            }
        };
        for (_, b) in s.histograms("rust_timer_lateness_seconds", "") {
            add("timer lateness".to_owned(), b);
        }
        for (kind, b) in s.histograms("rust_schedule_duration_seconds", "rust_schedule_kind") {
            add(format!("scheduler delay {kind}"), b);
        }
        for (_, b) in s.histograms("rust_task_poll_duration_seconds", "") {
            add("task poll".to_owned(), b);
        }
        for (name, b) in s.histograms("rust_latency_seconds", "rust_latency_name") {
            add(format!("latency {name}"), b);
        }
        let workers = s
            .named("tokio_worker_busy_ratio")
            .map(|w| Worker {
                runtime: w.label("tokio_runtime_id").unwrap_or("").to_owned(),
                index: w.label("tokio_worker_index").unwrap_or("").to_owned(),
                busy: w.value,
            })
            .collect();
        Figures {
            service: info
                .and_then(|i| i.label("service_name"))
                .unwrap_or("")
                .to_owned(),
            pid: info
                .and_then(|i| i.label("process_pid"))
                .unwrap_or("")
                .to_owned(),
            live: v("rust_memory_used_bytes"),
            peak: v("rust_memory_used_peak_bytes"),
            resident: s.sum("process_memory_usage_bytes"),
            objects: v("rust_memory_objects"),
            allocated: v("rust_memory_allocated_bytes_total"),
            allocations: v("rust_memory_allocations_total"),
            classes: s
                .histograms("rust_memory_allocation_size_bytes", "")
                .remove("")
                .unwrap_or_default(),
            pools,
            durations,
            workers,
            alive_tasks: s.sum("tokio_alive_tasks"),
            agent_cpu: v("rtscope_agent_cpu_time_seconds_total"),
            agent_live: v("rtscope_agent_memory_used_bytes"),
            process_cpu: v("process_cpu_time_seconds_total"),
            spikes_emitted: v("rtscope_spikes_emitted_total"),
            is_rtscope: s.sum("rust_memory_used_bytes").is_some(),
        }
    }
}

/// One spike event as the listener serves it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SpikeEvent {
    pub(crate) time_unix_nano: u64,
    pub(crate) kind: String,
    pub(crate) name: String,
    /// Its sentence: a headline, then one line per part of the window's context.
    pub(crate) sentence: String,
}

/// `{"spikes":[{"time_unix_nano":"..","kind":"..","name":"..","sentence":".."}, ...]}`,
/// oldest first; `None` when it is not that.
pub(crate) fn parse_spikes(body: &[u8]) -> Option<Vec<SpikeEvent>> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let list = v.get("spikes")?.as_array()?;
    let text = |e: &serde_json::Value, k: &str| e[k].as_str().unwrap_or("").to_owned();
    Some(
        list.iter()
            .rev()
            .take(MAX_SPIKES)
            .rev()
            .map(|e| SpikeEvent {
                time_unix_nano: e["time_unix_nano"]
                    .as_str()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0),
                kind: text(e, "kind"),
                name: text(e, "name"),
                sentence: text(e, "sentence"),
            })
            .collect(),
    )
}

/// Which pane is shown under the header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pane {
    Memory,
    Pools,
    Latency,
    Spikes,
}

impl Pane {
    pub(crate) const ALL: [Pane; 4] = [Pane::Memory, Pane::Pools, Pane::Latency, Pane::Spikes];

    pub(crate) fn title(self) -> &'static str {
        match self {
            Pane::Memory => "size classes",
            Pane::Pools => "pools",
            Pane::Latency => "latency",
            Pane::Spikes => "spikes",
        }
    }

    /// The orders its rows can be sorted in; the first is the default.
    pub(crate) fn sorts(self) -> &'static [&'static str] {
        match self {
            Pane::Memory => &["allocations/s", "allocations", "size"],
            Pane::Pools => &["misses/s", "hit ratio", "gets", "name"],
            Pane::Latency => &["p99", "p50", "name"],
            Pane::Spikes => &["newest"],
        }
    }
}

/// Everything `top` knows.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) url: String,
    /// The last scrapes, newest last, at most [`WINDOW`] + 1.
    frames: VecDeque<(Instant, Figures)>,
    pub(crate) heap: VecDeque<u64>,
    /// Why the last scrape failed, when it did, and since when it fails.
    pub(crate) error: Option<(String, Instant)>,
    pub(crate) spikes: Vec<SpikeEvent>,
    /// Why there are no spike events to show, when the route cannot be read.
    pub(crate) spikes_error: Option<String>,
    pub(crate) pane: Pane,
    /// The sort chosen in each pane (an index into [`Pane::sorts`]).
    pub(crate) sort: [usize; 4],
}

impl State {
    pub(crate) fn new(url: String) -> State {
        State {
            url,
            frames: VecDeque::new(),
            heap: VecDeque::new(),
            error: None,
            spikes: Vec::new(),
            spikes_error: None,
            pane: Pane::Memory,
            sort: [0; 4],
        }
    }

    pub(crate) fn scraped(&mut self, at: Instant, figures: Figures) {
        if self.heap.len() == HISTORY {
            self.heap.pop_front();
        }
        self.heap.push_back(figures.live.max(0.0) as u64);
        if self.frames.len() > WINDOW {
            self.frames.pop_front();
        }
        self.frames.push_back((at, figures));
        self.error = None;
    }

    pub(crate) fn failed(&mut self, at: Instant, why: String) {
        let since = self.error.as_ref().map_or(at, |(_, since)| *since);
        self.error = Some((why, since));
    }

    pub(crate) fn now(&self) -> Option<&Figures> {
        self.frames.back().map(|(_, f)| f)
    }

    /// When the figures shown were scraped.
    pub(crate) fn scraped_at(&self) -> Option<Instant> {
        self.frames.back().map(|(at, _)| *at)
    }

    /// `(now - previous) / seconds` of a figure over the last second, when two scrapes are
    /// there.
    pub(crate) fn rate(&self, figure: impl Fn(&Figures) -> f64) -> Option<f64> {
        let n = self.frames.len();
        if n < 2 {
            return None;
        }
        let (t0, a) = &self.frames[n - 2];
        let (t1, b) = &self.frames[n - 1];
        let dt = t1.saturating_duration_since(*t0).as_secs_f64();
        (dt > 0.0).then(|| ((figure(b) - figure(a)) / dt).max(0.0))
    }

    /// The histogram `label` over the window (the oldest kept scrape to now), and over the
    /// last second.
    pub(crate) fn window(&self, label: &str) -> (Buckets, Buckets) {
        let now = self.now().and_then(|f| f.durations.get(label));
        let Some(now) = now else {
            return Default::default();
        };
        let at = |i: usize| {
            self.frames
                .get(i)
                .and_then(|(_, f)| f.durations.get(label))
                .cloned()
                .unwrap_or_default()
        };
        let n = self.frames.len();
        let window = if n >= 2 {
            now.since(&at(0))
        } else {
            now.clone()
        };
        let second = if n >= 2 {
            now.since(&at(n - 2))
        } else {
            now.clone()
        };
        (window, second)
    }

    /// Per size class: upper bound, allocations per second, total.
    pub(crate) fn classes(&self) -> Vec<(f64, f64, f64)> {
        let Some(now) = self.now() else {
            return Vec::new();
        };
        let n = self.frames.len();
        let previous = (n >= 2).then(|| &self.frames[n - 2]);
        let dt = previous.map_or(0.0, |(t0, _)| {
            self.frames[n - 1]
                .0
                .saturating_duration_since(*t0)
                .as_secs_f64()
        });
        let delta = previous.map(|(_, f)| now.classes.since(&f.classes));
        now.classes
            .0
            .iter()
            .enumerate()
            .filter(|(_, (_, total))| *total > 0.0)
            .map(|(i, (le, total))| {
                let rate = match &delta {
                    Some(d) if dt > 0.0 => d.0.get(i).map_or(0.0, |(_, c)| c / dt),
                    _ => 0.0,
                };
                (*le, rate, *total)
            })
            .collect()
    }

    /// Per pool: name, totals, misses per second, gets per second.
    pub(crate) fn pools(&self) -> Vec<(String, PoolTotals, f64, f64)> {
        let Some(now) = self.now() else {
            return Vec::new();
        };
        now.pools
            .iter()
            .map(|(name, p)| {
                let of =
                    |f: &Figures, get: fn(&PoolTotals) -> f64| f.pools.get(name).map_or(0.0, get);
                let misses = self.rate(|f| of(f, |p| p.misses)).unwrap_or(0.0);
                let gets = self.rate(|f| of(f, |p| p.hits + p.misses)).unwrap_or(0.0);
                (name.clone(), p.clone(), misses, gets)
            })
            .collect()
    }

    pub(crate) fn next_pane(&mut self, step: isize) {
        let i = Pane::ALL.iter().position(|p| *p == self.pane).unwrap_or(0) as isize;
        let n = Pane::ALL.len() as isize;
        self.pane = Pane::ALL[(i + step).rem_euclid(n) as usize];
    }

    pub(crate) fn pane_index(&self) -> usize {
        Pane::ALL.iter().position(|p| *p == self.pane).unwrap_or(0)
    }

    pub(crate) fn next_sort(&mut self) {
        let i = self.pane_index();
        self.sort[i] = (self.sort[i] + 1) % self.pane.sorts().len();
    }

    pub(crate) fn sort_name(&self) -> &'static str {
        self.pane.sorts()[self.sort[self.pane_index()]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn scrape(allocations: u64, hits: u64, misses: u64) -> Figures {
        Figures::of(&Scrape::parse(&format!(
            "target_info{{service_name=\"svc\",process_pid=\"7\"}} 1\n\
             rust_memory_used_bytes 100\n\
             rust_memory_allocations_total {allocations}\n\
             rust_memory_allocation_size_bytes_bucket{{le=\"8\"}} {allocations}\n\
             rust_memory_allocation_size_bytes_bucket{{le=\"+Inf\"}} {allocations}\n\
             rust_pool_gets_total{{rust_pool_name=\"p\",rust_pool_result=\"hit\"}} {hits}\n\
             rust_pool_gets_total{{rust_pool_name=\"p\",rust_pool_result=\"miss\"}} {misses}\n\
             rust_timer_lateness_seconds_bucket{{le=\"0.001\"}} {hits}\n\
             rust_timer_lateness_seconds_bucket{{le=\"+Inf\"}} {hits}\n"
        )))
    }

    #[test]
    fn rates_are_over_the_last_second_and_quantiles_over_the_window() {
        let mut s = State::new("u".into());
        let t = Instant::now();
        s.scraped(t, scrape(10, 5, 1));
        assert_eq!(s.rate(|f| f.allocations), None, "one scrape: no rate yet");
        s.scraped(t + Duration::from_secs(2), scrape(30, 9, 3));
        assert_eq!(s.rate(|f| f.allocations), Some(10.0));
        let f = s.now().unwrap();
        assert_eq!((f.service.as_str(), f.pid.as_str()), ("svc", "7"));
        assert!(f.is_rtscope);
        assert_eq!(s.classes(), [(8.0, 10.0, 30.0)]);
        let pools = s.pools();
        assert_eq!(pools[0].0, "p");
        assert_eq!((pools[0].2, pools[0].3), (1.0, 3.0));
        let (window, second) = s.window("timer lateness");
        assert_eq!(window.count(), 4.0);
        assert_eq!(second.count(), 4.0);
        s.failed(t, "refused".into());
        s.failed(t + Duration::from_secs(1), "refused".into());
        assert_eq!(
            s.error.as_ref().unwrap().1,
            t,
            "failing since the first failure"
        );
        s.scraped(t + Duration::from_secs(3), scrape(30, 9, 3));
        assert!(s.error.is_none());
    }

    #[test]
    fn spike_events_are_read_and_bounded() {
        let body = br#"{"spikes":[{"time_unix_nano":"5","kind":"latency","name":"request","sentence":"spike in x\nsame window"}]}"#;
        let spikes = parse_spikes(body).unwrap();
        assert_eq!(spikes[0].time_unix_nano, 5);
        assert_eq!(spikes[0].sentence, "spike in x\nsame window");
        assert!(parse_spikes(b"nope").is_none());
        let many = format!(
            "{{\"spikes\":[{}]}}",
            vec![r#"{"kind":"k"}"#; 100].join(",")
        );
        assert_eq!(parse_spikes(many.as_bytes()).unwrap().len(), MAX_SPIKES);
    }

    #[test]
    fn panes_and_sorts_cycle() {
        let mut s = State::new("u".into());
        s.next_pane(-1);
        assert_eq!(s.pane, Pane::Spikes);
        s.next_pane(1);
        assert_eq!(s.pane, Pane::Memory);
        assert_eq!(s.sort_name(), "allocations/s");
        s.next_sort();
        assert_eq!(s.sort_name(), "allocations");
    }
}
