//! The tokio side of the scheduler part (feature `tokio`): [`spawn`] an instrumented task,
//! and runtime metrics: what tokio's stable `RuntimeMetrics` says about each registered
//! runtime, read on the export thread (never on a worker) when the series are collected,
//! named as `opentelemetry-instrumentation-tokio` names them (with the busy duration in
//! seconds, not milliseconds), plus a busy ratio per worker.
//!
//! The runtime `#[rtscope::main]` builds is registered by the macro; any other runtime is
//! registered with [`register_runtime`].

use crate::base::shard::agent_scope;
use crate::model::Source;
use crate::model::series::{Data, Metric, Number};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::runtime::Handle;

/// How many runtimes [`register_runtime`] accepts; later ones are refused.
pub const MAX_RUNTIMES: usize = 16;

struct Runtime {
    handle: Handle,
    /// `tokio.runtime.id`: tokio's id of the runtime, as text (as the instrumentation crate).
    id: String,
    /// Per worker: busy time at the last collection, for the ratio.
    last_busy: Vec<Duration>,
    /// Per worker: the busy ratio over the last interval between two collections.
    ratio: Vec<f64>,
    last_at: Instant,
}

static RUNTIMES: Mutex<Vec<Runtime>> = Mutex::new(Vec::new());

/// Spawns `future` on the current tokio runtime, [instrumented](super::instrument): like
/// [`tokio::spawn`], and its scheduling delay counts from this call.
///
/// # Panics
///
/// Outside a tokio runtime, as [`tokio::spawn`] does.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let answer = rtscope::task::spawn(async { 42 }).await.unwrap();
/// assert_eq!(answer, 42);
/// # }
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    tokio::spawn(super::instrument(future))
}

/// Reports `handle`'s runtime as `tokio.*` series (workers, alive tasks, global queue depth,
/// and per worker busy time, busy ratio, parks): read from tokio's stable `RuntimeMetrics`
/// on the export thread when the series are collected, never on a worker. The runtime
/// `#[rtscope::main]` builds is registered already.
///
/// Returns `false` when [`MAX_RUNTIMES`] runtimes are registered already (this one is not
/// reported); registering a runtime again is a no-op that returns `true`. A registered
/// runtime is reported for the rest of the process: after it shuts down its series keep
/// their last values.
///
/// ```
/// let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
/// assert!(rtscope::task::register_runtime(rt.handle()));
/// ```
pub fn register_runtime(handle: &Handle) -> bool {
    // The table lives for the process: the agent's (it is never freed by the application).
    agent_scope(|| {
        let mut all = RUNTIMES.lock().unwrap_or_else(PoisonError::into_inner);
        let id = handle.id().to_string();
        if all.iter().any(|r| r.id == id) {
            return true;
        }
        if all.len() >= MAX_RUNTIMES {
            return false;
        }
        let workers = handle.metrics().num_workers();
        let m = handle.metrics();
        all.push(Runtime {
            handle: handle.clone(),
            id,
            last_busy: (0..workers)
                .map(|w| m.worker_total_busy_duration(w))
                .collect(),
            ratio: vec![0.0; workers],
            last_at: Instant::now(),
        });
        true
    })
}

pub(crate) const SOURCE: Source = Source {
    series,
    ..Source::NONE
};

const WORKERS: &str = "tokio.workers";
const ALIVE: &str = "tokio.alive_tasks";
const QUEUE: &str = "tokio.global_queue_depth";
const BUSY: &str = "tokio.worker.busy_duration";
const BUSY_RATIO: &str = "tokio.worker.busy_ratio";
const PARKS: &str = "tokio.worker.park_count";
const PARK_UNPARKS: &str = "tokio.worker.park_unpark_count";
const RUNTIME_ID: &str = "tokio.runtime.id";
const WORKER_INDEX: &str = "tokio.worker.index";

fn int(n: usize) -> Number {
    Number::Int(n as u64)
}

fn series(out: &mut Vec<Metric>) {
    let mut all = RUNTIMES.lock().unwrap_or_else(PoisonError::into_inner);
    let now = Instant::now();
    for r in all.iter_mut() {
        let m = r.handle.metrics();
        let rt = |metric: Metric| metric.with_attr(RUNTIME_ID, r.id.clone());
        let workers = m.num_workers();
        out.push(rt(Metric::new(
            WORKERS,
            "{worker}",
            "The number of worker threads of the runtime",
            Data::Gauge(int(workers)),
        )));
        out.push(rt(Metric::new(
            ALIVE,
            "{task}",
            "The number of alive tasks in the runtime",
            Data::Gauge(int(m.num_alive_tasks())),
        )));
        out.push(rt(Metric::new(
            QUEUE,
            "{task}",
            "The number of tasks in the runtime's global queue",
            Data::Gauge(int(m.global_queue_depth())),
        )));
        let elapsed = now.duration_since(r.last_at);
        r.last_busy.resize(workers, Duration::ZERO);
        r.ratio.resize(workers, 0.0);
        for w in 0..workers {
            let busy = m.worker_total_busy_duration(w);
            if !elapsed.is_zero() {
                let d = busy.saturating_sub(r.last_busy[w]);
                r.ratio[w] = (d.as_secs_f64() / elapsed.as_secs_f64()).min(1.0);
            }
            r.last_busy[w] = busy;
            let worker = |metric: Metric| rt(metric).with_attr(WORKER_INDEX, w as i64);
            out.push(worker(Metric::new(
                BUSY,
                "s",
                "The time the worker thread has been busy (not parked)",
                Data::Counter(Number::Real(busy.as_secs_f64())),
            )));
            out.push(worker(Metric::new(
                BUSY_RATIO,
                "1",
                "The worker's busy time over the wall time since the previous export",
                Data::Gauge(Number::Real(r.ratio[w])),
            )));
            out.push(worker(Metric::new(
                PARKS,
                "{park}",
                "The number of times the worker thread has parked",
                Data::Counter(Number::Int(m.worker_park_count(w))),
            )));
            out.push(worker(Metric::new(
                PARK_UNPARKS,
                "{event}",
                "The number of times the worker thread has parked or unparked",
                Data::Counter(Number::Int(m.worker_park_unpark_count(w))),
            )));
        }
        r.last_at = now;
        #[cfg(tokio_unstable)]
        unstable::histograms(&m, workers, rt, out);
    }
}

/// Built with `--cfg tokio_unstable`: tokio's poll-time and schedule-latency histograms of
/// a runtime that enables them (`Builder::enable_metrics_poll_time_histogram`,
/// `enable_metrics_schedule_latency_histogram`), summed over its workers, with tokio's own
/// buckets: exact counts, no sum (tokio keeps none).
#[cfg(tokio_unstable)]
mod unstable {
    use super::*;
    use std::ops::Range;
    use tokio::runtime::RuntimeMetrics;

    pub(super) const POLL_TIME: &str = "tokio.worker.poll_time";
    pub(super) const SCHEDULE_LATENCY: &str = "tokio.worker.schedule_latency";

    fn histogram(
        buckets: usize,
        range: impl Fn(usize) -> Range<Duration>,
        count: impl Fn(usize) -> u64,
    ) -> Data {
        let bounds: Vec<f64> = (0..buckets.saturating_sub(1))
            .map(|b| range(b).end.as_secs_f64())
            .collect();
        let counts: Vec<u64> = (0..buckets).map(count).collect();
        Data::Histogram {
            bounds,
            count: counts.iter().sum(),
            counts,
            sum: f64::NAN,
        }
    }

    pub(super) fn histograms(
        m: &RuntimeMetrics,
        workers: usize,
        rt: impl Fn(Metric) -> Metric,
        out: &mut Vec<Metric>,
    ) {
        if m.poll_time_histogram_enabled() {
            let data = histogram(
                m.poll_time_histogram_num_buckets(),
                |b| m.poll_time_histogram_bucket_range(b),
                |b| {
                    (0..workers)
                        .map(|w| m.poll_time_histogram_bucket_count(w, b))
                        .sum()
                },
            );
            out.push(rt(Metric::new(
                POLL_TIME,
                "s",
                "Durations of task polls on the runtime's workers (tokio's buckets)",
                data,
            )));
        }
        if m.schedule_latency_histogram_enabled() {
            let data = histogram(
                m.schedule_latency_histogram_num_buckets(),
                |b| m.schedule_latency_histogram_bucket_range(b),
                |b| {
                    (0..workers)
                        .map(|w| m.schedule_latency_histogram_bucket_count(w, b))
                        .sum()
                },
            );
            out.push(rt(Metric::new(
                SCHEDULE_LATENCY,
                "s",
                "Time tasks waited from being scheduled to being polled (tokio's buckets)",
                data,
            )));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(out: &[Metric], name: &str, id: &str, worker: Option<i64>) -> Option<Data> {
        out.iter()
            .find(|m| {
                m.name == name
                    && m.attributes.iter().any(|(k, v)| {
                        *k == RUNTIME_ID && *v == crate::model::series::Value::from(id)
                    })
                    && worker.is_none_or(|w| {
                        m.attributes
                            .iter()
                            .any(|(k, v)| *k == WORKER_INDEX && *v == w.into())
                    })
            })
            .map(|m| m.data.clone())
    }

    #[test]
    fn a_registered_runtime_reports_its_workers_tasks_and_busy_time() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        assert!(register_runtime(rt.handle()));
        assert!(register_runtime(rt.handle()), "registering twice is a no-op");
        let id = rt.handle().id().to_string();
        for _ in 0..3 {
            rt.spawn(std::future::pending::<()>());
        }
        rt.block_on(rt.spawn(async move {
            std::thread::sleep(Duration::from_millis(50));
        }))
        .unwrap();
        // The finished task is released, and a worker publishes its busy time when it
        // parks, a moment after the join: wait for both, bounded.
        let collect = || {
            let mut out = Vec::new();
            series(&mut out);
            let busy: f64 = (0..2)
                .map(|w| match value(&out, BUSY, &id, Some(w)) {
                    Some(Data::Counter(Number::Real(s))) => s,
                    other => panic!("{other:?}"),
                })
                .sum();
            (out, busy)
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let (out, busy) = loop {
            let (out, busy) = collect();
            let settled =
                busy >= 0.05 && value(&out, ALIVE, &id, None) == Some(Data::Gauge(Number::Int(3)));
            if settled || std::time::Instant::now() > deadline {
                break (out, busy);
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(
            value(&out, WORKERS, &id, None),
            Some(Data::Gauge(Number::Int(2)))
        );
        assert_eq!(
            value(&out, ALIVE, &id, None),
            Some(Data::Gauge(Number::Int(3)))
        );
        assert!(busy >= 0.05, "busy {busy}");
        assert!(value(&out, PARKS, &id, Some(1)).is_some());
        rt.shutdown_background();
    }

    #[test]
    #[cfg(tokio_unstable)]
    fn tokio_histograms_count_every_poll_exactly() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_metrics_poll_time_histogram()
            .enable_metrics_schedule_latency_histogram()
            .build()
            .unwrap();
        assert!(register_runtime(rt.handle()));
        let id = rt.handle().id().to_string();
        // 6 tasks of one poll each, 3 of them 2 ms long.
        for i in 0..6u64 {
            rt.block_on(rt.spawn(async move {
                if i % 2 == 0 {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }))
            .unwrap();
        }
        // A worker publishes its counts when it parks: wait for that, bounded.
        let histogram = |name| {
            let mut out = Vec::new();
            series(&mut out);
            match value(&out, name, &id, None) {
                Some(Data::Histogram {
                    bounds,
                    counts,
                    count,
                    sum,
                }) => (bounds, counts, count, sum),
                other => panic!("no {name} histogram: {other:?}"),
            }
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while (histogram(unstable::POLL_TIME).2 < 6 || histogram(unstable::SCHEDULE_LATENCY).2 < 6)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(10));
        }
        let (bounds, counts, count, sum) = histogram(unstable::POLL_TIME);
        assert_eq!(count, 6);
        assert_eq!(counts.len(), bounds.len() + 1);
        assert!(sum.is_nan(), "tokio keeps no sum");
        // Bucket i holds polls up to bounds[i] (the last one: any longer).
        let upper = |i: usize| bounds.get(i).copied().unwrap_or(f64::INFINITY);
        let polls = |keep: &dyn Fn(f64) -> bool| -> u64 {
            (0..counts.len())
                .filter(|&i| keep(upper(i)))
                .map(|i| counts[i])
                .sum()
        };
        assert_eq!(polls(&|u| u > 0.002), 3, "{bounds:?} {counts:?}");
        assert_eq!(polls(&|u| u <= 0.001), 3, "{bounds:?} {counts:?}");
        assert_eq!(histogram(unstable::SCHEDULE_LATENCY).2, 6);
        rt.shutdown_background();
    }
}
