//! Reading an rtscope OTLP/JSON-lines file into one [`Run`]: the last process that wrote to
//! it (a file appended by several runs keeps each run's resource), its series accumulated
//! over the lines (cumulative points replace, delta points add) and its events.

use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Read};

/// Longest line read (the file and its rotated predecessor hold 64 MiB by default); a
/// longer one is skipped and counted.
pub(crate) const MAX_LINE: usize = 64 << 20;
/// Most spike events kept (the first ones; the rest are counted).
pub(crate) const MAX_SPIKES: usize = 500;

/// An explicit-bucket histogram: `counts.len() == bounds.len() + 1`.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Hist {
    pub(crate) bounds: Vec<f64>,
    pub(crate) counts: Vec<u64>,
    pub(crate) sum: f64,
}

impl Hist {
    pub(crate) fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Adds `other` bucket by bucket (same bounds; otherwise `other` replaces it).
    fn add(&mut self, other: &Hist) {
        if self.bounds != other.bounds || self.counts.len() != other.counts.len() {
            *self = other.clone();
            return;
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a = a.saturating_add(*b);
        }
        self.sum += other.sum;
    }
}

/// One point of the heap over time.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct HeapPoint {
    /// Nanoseconds since the run started.
    pub(crate) t_ns: u64,
    pub(crate) live: f64,
    pub(crate) peak: f64,
    pub(crate) resident: Option<f64>,
}

/// Gets and puts of one pool.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct PoolCounts {
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) stored: u64,
    pub(crate) discarded: u64,
}

/// One `rust.spike` event.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Spike {
    /// Nanoseconds since the run started (0 when it came before it).
    pub(crate) t_ns: u64,
    pub(crate) kind: String,
    pub(crate) sentence: String,
}

/// What the report shows of one run.
#[derive(Clone, Debug, Default)]
pub(crate) struct Run {
    pub(crate) service: String,
    pub(crate) pid: String,
    /// When the run started (its first points' start time) and its last point (Unix
    /// nanoseconds).
    pub(crate) start_ns: u64,
    pub(crate) end_ns: u64,
    pub(crate) heap: Vec<HeapPoint>,
    pub(crate) classes: Option<Hist>,
    pub(crate) lateness: Option<Hist>,
    /// Scheduler delay per kind (`task`, `probe`, `thread`: every thread's summed).
    pub(crate) schedule: BTreeMap<String, Hist>,
    pub(crate) polls: Option<Hist>,
    pub(crate) latencies: BTreeMap<String, Hist>,
    pub(crate) pools: BTreeMap<String, PoolCounts>,
    /// Estimated bytes allocated per scope.
    pub(crate) scopes: BTreeMap<String, u64>,
    /// The last heap profile's stacks by leaf function (outside the standard library):
    /// estimated bytes in use and allocated (OTLP Profiles lines, `OTEL_PROFILES_EXPORTER`).
    pub(crate) stacks_inuse: Vec<(String, u64)>,
    pub(crate) stacks_allocated: Vec<(String, u64)>,
    pub(crate) spikes: Vec<Spike>,
    pub(crate) spikes_not_kept: usize,
    pub(crate) allocations: u64,
    pub(crate) allocated_bytes: u64,
    pub(crate) samples: u64,
    /// The last value of every number series (counters, gauges), summed over its
    /// attribute sets: `rust.memory.reallocations` is both kinds'.
    pub(crate) totals: BTreeMap<String, f64>,
    /// Metrics lines of this run: one per export.
    pub(crate) exports: usize,
    /// Lines of each signal (metrics, logs, profiles): one per request, as the exit summary
    /// counts exports.
    pub(crate) signal_lines: [usize; 3],
    /// Lines read, lines skipped (not JSON, too long, another run's).
    pub(crate) lines: usize,
    pub(crate) skipped: usize,
    pub(crate) other_runs: usize,
}

/// A series' identity: metric name and its attributes, rendered.
type Key = (String, String);

#[derive(Clone, Debug)]
enum Point {
    Number(f64),
    Hist(Hist),
}

/// Reads every line of `inputs` (oldest first) and builds the report of the last run. Each
/// line is folded in as it is read, so memory stays that of one line and the runs' state.
pub(crate) fn read(inputs: Vec<Box<dyn BufRead>>) -> Run {
    let mut runs: Vec<Partial> = Vec::new();
    let mut last: Option<usize> = None;
    let (mut lines, mut unusable) = (0, 0);
    for mut input in inputs {
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let limit = MAX_LINE as u64 + 1;
            let n = match input.by_ref().take(limit).read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if n > MAX_LINE {
                // An overlong line: the rest of it is skipped, a bounded piece at a time.
                lines += 1;
                unusable += 1;
                loop {
                    buf.clear();
                    match input.by_ref().take(limit).read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if buf.ends_with(b"\n") => break,
                        Ok(_) => {}
                    }
                }
                continue;
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            lines += 1;
            let Some((line, id)) = serde_json::from_slice::<Value>(&buf)
                .ok()
                .and_then(|v| identity(&v).map(|id| (v, id)))
            else {
                unusable += 1;
                continue;
            };
            let i = match runs.iter().position(|r| r.id == id) {
                Some(i) => i,
                None => {
                    runs.push(Partial::new(id));
                    runs.len() - 1
                }
            };
            runs[i].fold(&line);
            last = Some(i);
        }
    }
    let Some(last) = last else {
        return Run {
            lines,
            skipped: unusable,
            ..Run::default()
        };
    };
    let other_lines: usize = runs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != last)
        .map(|(_, r)| r.lines)
        .sum();
    let other_runs = runs.len() - 1;
    let mut run = runs.swap_remove(last).finish();
    run.lines = lines;
    run.skipped = unusable + other_lines;
    run.other_runs = other_runs;
    run
}

/// One run's state while its lines are read.
struct Partial {
    id: (String, String),
    run: Run,
    state: HashMap<Key, Point>,
    first_ns: Option<u64>,
    lines: usize,
}

impl Partial {
    fn new(id: (String, String)) -> Partial {
        Partial {
            id,
            run: Run::default(),
            state: HashMap::new(),
            first_ns: None,
            lines: 0,
        }
    }

    fn fold(&mut self, line: &Value) {
        self.lines += 1;
        let run = &mut self.run;
        for (i, key) in ["resourceMetrics", "resourceLogs", "resourceProfiles"]
            .into_iter()
            .enumerate()
        {
            run.signal_lines[i] += usize::from(line.get(key).is_some());
        }
        if let Some(rm) = line.get("resourceMetrics")
            && let Some((t, started)) = metrics_line(rm, &mut self.state)
        {
            // The run starts when its first points' interval does (the process's start).
            let start = *self
                .first_ns
                .get_or_insert(started.filter(|&s| s <= t).unwrap_or(t));
            run.end_ns = run.end_ns.max(t);
            run.exports += 1;
            let state = &self.state;
            run.heap.push(HeapPoint {
                t_ns: t.saturating_sub(start),
                live: number(state, "rust.memory.used").unwrap_or(0.0),
                peak: number(state, "rust.memory.used.peak").unwrap_or(0.0),
                resident: number(state, "process.memory.usage"),
            });
        }
        if let Some(rl) = line.get("resourceLogs") {
            logs_line(rl, run, self.first_ns.unwrap_or(0));
        }
        if line.get("resourceProfiles").is_some() {
            // Cumulative: the last profile has everything.
            run.stacks_inuse = profile_by_leaf(line, "inuse_space");
            run.stacks_allocated = profile_by_leaf(line, "alloc_space");
        }
    }

    fn finish(self) -> Run {
        let mut run = self.run;
        run.service = self.id.0;
        run.pid = self.id.1;
        run.start_ns = self.first_ns.unwrap_or(0);
        finish(&mut run, &self.state);
        run
    }
}

/// The resource's `service.name` and `process.pid` of a line.
fn identity(line: &Value) -> Option<(String, String)> {
    let resource = line
        .get("resourceMetrics")
        .or_else(|| line.get("resourceLogs"))
        .or_else(|| line.get("resourceProfiles"))?
        .get(0)?
        .get("resource")?;
    let attrs = resource.get("attributes")?;
    Some((
        attr_str(attrs, "service.name").unwrap_or_default(),
        attr_str(attrs, "process.pid").unwrap_or_default(),
    ))
}

/// Folds one metrics line into `state`; the line's time (its last point's) and the earliest
/// start time of its points (the process's start, for cumulative points).
fn metrics_line(rm: &Value, state: &mut HashMap<Key, Point>) -> Option<(u64, Option<u64>)> {
    let mut time = None;
    let mut start: Option<u64> = None;
    for resource in rm.as_array()? {
        for scope in resource["scopeMetrics"].as_array().into_iter().flatten() {
            for m in scope["metrics"].as_array().into_iter().flatten() {
                let Some(name) = m["name"].as_str() else {
                    continue;
                };
                for (kind, data) in [
                    ("sum", &m["sum"]),
                    ("gauge", &m["gauge"]),
                    ("histogram", &m["histogram"]),
                ] {
                    if data.is_null() {
                        continue;
                    }
                    let delta = data["aggregationTemporality"].as_u64() == Some(1);
                    for dp in data["dataPoints"].as_array().into_iter().flatten() {
                        if let Some(t) = int(&dp["timeUnixNano"]) {
                            time = Some(time.map_or(t, |x: u64| x.max(t)));
                        }
                        if let Some(t) = int(&dp["startTimeUnixNano"]).filter(|&t| t > 0) {
                            start = Some(start.map_or(t, |x| x.min(t)));
                        }
                        let key = (name.to_owned(), attrs_key(&dp["attributes"]));
                        let point = if kind == "histogram" {
                            let counts: Vec<u64> = dp["bucketCounts"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .map(|c| int(c).unwrap_or(0))
                                .collect();
                            let bounds: Vec<f64> = dp["explicitBounds"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .filter_map(Value::as_f64)
                                .collect();
                            if counts.len() != bounds.len() + 1 {
                                continue;
                            }
                            Point::Hist(Hist {
                                bounds,
                                counts,
                                sum: dp["sum"].as_f64().unwrap_or(0.0),
                            })
                        } else {
                            let v = int(&dp["asInt"])
                                .map(|i| i as f64)
                                .or_else(|| dp["asDouble"].as_f64())
                                .unwrap_or(0.0);
                            Point::Number(v)
                        };
                        match (delta, state.get_mut(&key), point) {
                            (true, Some(Point::Number(old)), Point::Number(v)) => *old += v,
                            (true, Some(Point::Hist(old)), Point::Hist(h)) => old.add(&h),
                            (_, _, point) => {
                                state.insert(key, point);
                            }
                        }
                    }
                }
            }
        }
    }
    time.map(|t| (t, start))
}

/// The values of the profile of sample type `kind` in an OTLP Profiles line, summed per
/// stack's leaf function (its innermost frame outside the standard library), largest first.
fn profile_by_leaf(line: &Value, kind: &str) -> Vec<(String, u64)> {
    let d = &line["dictionary"];
    let strings: Vec<&str> = d["stringTable"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| s.as_str().unwrap_or(""))
        .collect();
    let string = |i: Option<u64>| strings.get(i.unwrap_or(0) as usize).copied().unwrap_or("");
    let index = |v: &Value, key: &str| int(&v[key]).unwrap_or(0) as usize;
    let table = |key: &str| d[key].as_array().cloned().unwrap_or_default();
    let (stacks, locations, functions) = (
        table("stackTable"),
        table("locationTable"),
        table("functionTable"),
    );
    // As rtscope's own summary: a std path, or a std trait's impl for a type without a path.
    let standard = |name: &str| {
        let std_path = |p: &str| {
            let p = p.trim_start_matches(['<', '&', '*', '[', '(', ' ']);
            ["alloc::", "core::", "std::", "hashbrown::"]
                .iter()
                .any(|s| p.starts_with(s))
        };
        match name.strip_prefix('<').and_then(|n| n.split_once(" as ")) {
            Some((ty, tr)) => std_path(ty) || (!ty.contains("::") && std_path(tr)),
            None => std_path(name),
        }
    };
    let leaf = |stack: usize| -> String {
        let names: Vec<&str> = stacks
            .get(stack)
            .and_then(|s| s["locationIndices"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|li| locations.get(int(li).unwrap_or(0) as usize))
            .flat_map(|l| l["lines"].as_array().cloned().unwrap_or_default())
            .filter_map(|line| functions.get(index(&line, "functionIndex")))
            .map(|f| string(int(&f["nameStrindex"])))
            .collect();
        names
            .iter()
            .find(|n| !standard(n))
            .or(names.first())
            .map_or_else(String::new, |n| (*n).to_owned())
    };
    let profiles = line["resourceProfiles"][0]["scopeProfiles"][0]["profiles"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let Some(profile) = profiles
        .iter()
        .find(|p| string(int(&p["sampleType"]["typeStrindex"])) == kind)
    else {
        return Vec::new();
    };
    let mut by_leaf: Vec<(String, u64)> = Vec::new();
    for s in profile["samples"].as_array().into_iter().flatten() {
        let v = s["values"].get(0).and_then(int).unwrap_or(0);
        let name = leaf(index(s, "stackIndex"));
        match by_leaf.iter_mut().find(|(n, _)| *n == name) {
            Some((_, total)) => *total += v,
            None => by_leaf.push((name, v)),
        }
    }
    by_leaf.retain(|(_, v)| *v > 0);
    by_leaf.sort_by_key(|b| std::cmp::Reverse(b.1));
    by_leaf
}

fn logs_line(rl: &Value, run: &mut Run, start: u64) {
    for resource in rl.as_array().into_iter().flatten() {
        for scope in resource["scopeLogs"].as_array().into_iter().flatten() {
            for r in scope["logRecords"].as_array().into_iter().flatten() {
                let t = int(&r["timeUnixNano"]).unwrap_or(0);
                match r["eventName"].as_str() {
                    Some("rust.spike") => {
                        if run.spikes.len() >= MAX_SPIKES {
                            run.spikes_not_kept += 1;
                            continue;
                        }
                        let attrs = &r["attributes"];
                        run.spikes.push(Spike {
                            t_ns: t.saturating_sub(start),
                            kind: attr_str(attrs, "rust.spike.kind").unwrap_or_default(),
                            sentence: r["body"]["stringValue"].as_str().unwrap_or("").to_owned(),
                        });
                    }
                    Some("rust.memory.allocation.sample") => run.samples += 1,
                    _ => {}
                }
            }
        }
    }
}

/// The last values of the series the report shows.
fn finish(run: &mut Run, state: &HashMap<Key, Point>) {
    let mut keys: Vec<&Key> = state.keys().collect();
    keys.sort();
    for key in keys {
        let (name, attrs) = key;
        let attr = |k: &str| attr_of(attrs, k);
        if let Point::Number(v) = &state[key] {
            *run.totals.entry(name.clone()).or_default() += *v;
        }
        match (name.as_str(), &state[key]) {
            ("rust.memory.allocation.size", Point::Hist(h)) => run.classes = Some(h.clone()),
            ("rust.timer.lateness", Point::Hist(h)) => run.lateness = Some(h.clone()),
            ("rust.task.poll.duration", Point::Hist(h)) => run.polls = Some(h.clone()),
            ("rust.schedule.duration", Point::Hist(h)) => {
                let kind = attr("rust.schedule.kind").unwrap_or_else(|| "?".to_owned());
                run.schedule
                    .entry(kind)
                    .and_modify(|sum| sum.add(h))
                    .or_insert_with(|| h.clone());
            }
            ("rust.latency", Point::Hist(h)) => {
                let name = attr("rust.latency.name").unwrap_or_default();
                run.latencies.insert(name, h.clone());
            }
            ("rust.memory.allocations", Point::Number(v)) => run.allocations = *v as u64,
            ("rust.memory.allocated", Point::Number(v)) => run.allocated_bytes = *v as u64,
            ("rust.memory.sampled.allocated", Point::Number(v)) => {
                let scope = attr("rust.scope").unwrap_or_default();
                *run.scopes.entry(scope).or_default() += *v as u64;
            }
            ("rust.pool.gets" | "rust.pool.puts", Point::Number(v)) => {
                let pool = run
                    .pools
                    .entry(attr("rust.pool.name").unwrap_or_default())
                    .or_default();
                let v = *v as u64;
                match attr("rust.pool.result").as_deref() {
                    Some("hit") => pool.hits = v,
                    Some("miss") => pool.misses = v,
                    Some("stored") => pool.stored = v,
                    Some("discarded") => pool.discarded = v,
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

fn number(state: &HashMap<Key, Point>, name: &str) -> Option<f64> {
    match state.get(&(name.to_owned(), String::new())) {
        Some(Point::Number(v)) => Some(*v),
        _ => None,
    }
}

/// An OTLP/JSON 64-bit integer: a string of digits (or a plain number).
fn int(v: &Value) -> Option<u64> {
    match v {
        Value::String(s) => s.parse::<i64>().ok().map(|i| i.max(0) as u64),
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().map(|f| f.max(0.0) as u64)),
        _ => None,
    }
}

/// Separates the `k=v` pairs of a [`Key`] (a character no name uses).
const SEP: char = '\u{1f}';

/// `k=v` pairs, sorted, joined by [`SEP`]: a series' attributes as one key.
fn attrs_key(attrs: &Value) -> String {
    let mut pairs: Vec<String> = attrs
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| {
            Some(format!(
                "{}={}",
                a["key"].as_str()?,
                any_value(&a["value"])?
            ))
        })
        .collect();
    pairs.sort();
    pairs.join(&SEP.to_string())
}

fn attr_of(key: &str, name: &str) -> Option<String> {
    key.split(SEP)
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
        .map(str::to_owned)
}

fn attr_str(attrs: &Value, name: &str) -> Option<String> {
    attrs
        .as_array()?
        .iter()
        .find(|a| a["key"] == name)
        .and_then(|a| any_value(&a["value"]))
}

fn any_value(v: &Value) -> Option<String> {
    if let Some(s) = v["stringValue"].as_str() {
        return Some(s.to_owned());
    }
    int(&v["intValue"]).map(|i| i.to_string()).or_else(|| {
        v["doubleValue"]
            .as_f64()
            .map(|f| f.to_string())
            .or_else(|| v["boolValue"].as_bool().map(|b| b.to_string()))
    })
}
