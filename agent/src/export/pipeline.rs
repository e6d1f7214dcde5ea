//! The export thread: collects on a collection tick, encodes and ships on the export interval.

use super::otlp::{Encoder, Sent, now_nanos};
use super::self_stats::SelfStats;
use super::summary;
use super::transport::{self, Payload, Sink};
use crate::config::{Config, Signals};
use crate::model::events::EventBuffer;
use crate::model::series::Metric;
use crate::model::{Source, bytes};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often shards are read between exports (peak refresh; event queues drain here).
const COLLECTION_TICK: Duration = Duration::from_secs(1);

enum Command {
    /// Final collection and export, then acknowledge and exit.
    Shutdown(mpsc::SyncSender<()>),
}

/// What the exit summary needs from the export thread, refreshed after every export, so
/// that the thread shutting the exporter down can print the summary itself when the
/// export thread is still stuck in an export at the deadline.
#[derive(Debug, Default)]
struct SummaryInputs {
    sources: &'static [Source],
    destination: String,
    self_stats: SelfStats,
    top_scopes: Vec<(String, u64)>,
    backlog_dropped: u64,
    /// Whoever printed the summary (at most one of the two threads).
    printed: bool,
}

type SharedSummary = Arc<Mutex<SummaryInputs>>;

impl SummaryInputs {
    /// Prints the summary unless it was; `unfinished`: counting one more export, not
    /// finished, as failed.
    fn print_once(&mut self, unfinished: bool) {
        if !self.printed {
            self.printed = true;
            eprint!("{}", self.render(unfinished));
        }
    }

    fn render(&self, unfinished: bool) -> String {
        let mut stats = self.self_stats.clone();
        if unfinished {
            stats.exports += 1;
            stats.export_failures += 1;
        }
        summary::render(
            self.sources,
            &summary::ExitFacts {
                destination: &self.destination,
                self_stats: &stats,
                top_scopes: &self.top_scopes,
                backlog_dropped: self.backlog_dropped,
            },
        )
    }
}

/// Wakes the export thread waiting for a command: while it serves listeners it waits inside
/// its runtime (so connections are served meanwhile), where a channel's wait cannot reach it.
#[derive(Clone, Debug, Default)]
struct Wake {
    #[cfg(feature = "listen")]
    notify: Arc<tokio::sync::Notify>,
}

impl Wake {
    fn wake(&self) {
        #[cfg(feature = "listen")]
        self.notify.notify_one();
    }

    /// The next command, waiting at most `tick`; with `serving`, inside `rt`.
    fn wait(
        &self,
        rx: &mpsc::Receiver<Command>,
        rt: &BackgroundRuntime,
        serving: bool,
        tick: Duration,
    ) -> Result<Command, RecvTimeoutError> {
        if !serving {
            return rx.recv_timeout(tick);
        }
        #[cfg(feature = "listen")]
        rt.block_on(async {
            // A wake sent before this wait began is kept by `Notify` (one permit): not lost.
            let _ = tokio::time::timeout(tick, self.notify.notified()).await;
        });
        #[cfg(not(feature = "listen"))]
        let _ = rt;
        rx.try_recv().map_err(|e| match e {
            TryRecvError::Empty => RecvTimeoutError::Timeout,
            TryRecvError::Disconnected => RecvTimeoutError::Disconnected,
        })
    }
}

/// Handle to the background export thread.
#[derive(Debug)]
pub(crate) struct Exporter {
    tx: Option<mpsc::Sender<Command>>,
    wake: Wake,
    thread: Option<JoinHandle<()>>,
    /// Present when the summary is on.
    summary: Option<SharedSummary>,
}

impl Exporter {
    /// Spawns the export thread. Never fails or panics: a problem is one stderr line and the
    /// application runs on unexported.
    /// `sources`: every part whose series are exported and whose lines are in the summary.
    pub(crate) fn start(config: Config, sources: &'static [Source]) -> Exporter {
        // Before returning, so allocations right after install are sampled.
        let s = &config.sampling;
        crate::base::agent_scope(|| {
            crate::base::sampling::enable(
                s.enabled,
                s.target_per_sec,
                s.interval,
                s.cpu_percent,
                s.seed,
            );
            crate::base::profile::enable(config.profiles.enabled);
        });
        let (tx, rx) = mpsc::channel();
        let summary = config.summary_at_exit.then(|| {
            Arc::new(Mutex::new(SummaryInputs {
                sources,
                ..SummaryInputs::default()
            }))
        });
        let shared = summary.clone();
        let wake = Wake::default();
        let woken = wake.clone();
        let spawned = std::thread::Builder::new()
            .name("rtscope-export".into())
            .spawn(move || {
                crate::base::shard::enter_agent_thread();
                // A bug here must not take anything else down: say so once and stop exporting.
                let run = std::panic::AssertUnwindSafe(|| run(config, sources, rx, woken, shared));
                if std::panic::catch_unwind(run).is_err() {
                    eprintln!("rtscope: the export thread panicked (a bug in rtscope, please report it); metrics are no longer exported");
                }
            });
        match spawned {
            Ok(thread) => Exporter {
                tx: Some(tx),
                wake,
                thread: Some(thread),
                summary,
            },
            Err(e) => {
                eprintln!(
                    "rtscope: cannot start the export thread ({e}); metrics will not be exported"
                );
                Exporter {
                    tx: None,
                    wake,
                    thread: None,
                    summary: None,
                }
            }
        }
    }

    /// Final collection and flush; returns within `timeout` whatever the destination (or
    /// name resolution) does. The thread acknowledges only once it has nothing left to wait
    /// for (its runtime is shut down in the background), so the join after the
    /// acknowledgement is immediate; without one in time the thread is left to the exit.
    pub(crate) fn shutdown(mut self, timeout: Duration) {
        let Some(tx) = self.tx.take() else { return };
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        if tx.send(Command::Shutdown(done_tx)).is_err() {
            return;
        }
        self.wake.wake();
        match done_rx.recv_timeout(timeout) {
            Ok(()) => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                eprintln!(
                    "rtscope: the final export did not finish within {timeout:?}; exiting without it"
                );
                // The export thread holds the lock only to refresh the inputs or to print the
                // summary itself; never wait for it.
                if let Some(Ok(mut inputs)) = self.summary.as_ref().map(|s| s.try_lock()) {
                    inputs.print_once(true);
                }
            }
            // The thread ended without acknowledging (it said why).
            Err(RecvTimeoutError::Disconnected) => {}
        }
    }
}

/// Logs an outage once, not once per attempt, and its end.
#[derive(Debug, Default)]
struct Outage {
    failed_attempts: u64,
    /// Delta temporality: what a failed export that may have arrived carried is not re-sent
    /// (see `otlp::Encoder`).
    delta: bool,
}

impl Outage {
    fn failed(&mut self, sink: &Sink, err: &transport::SendError, interval: Duration) {
        if self.failed_attempts == 0 {
            let kept = if self.delta {
                "under delta temporality what a failed export carried goes with the next one when it certainly did not arrive, else it is counted in rtscope.export.lost"
            } else {
                "totals are cumulative, so the next export that arrives carries everything"
            };
            eprintln!(
                "rtscope: export to {} failed: {}; retrying every {interval:?} ({kept}); further failures are not logged until it recovers",
                sink.describe(),
                err.message
            );
        }
        self.failed_attempts += 1;
    }

    fn succeeded(&mut self, sink: &Sink) {
        if self.failed_attempts > 0 {
            eprintln!(
                "rtscope: export to {} recovered after {} failed attempt(s)",
                sink.describe(),
                self.failed_attempts
            );
            self.failed_attempts = 0;
        }
    }
}

/// The export thread's tokio runtime. Dropping a `Runtime` waits for its blocking threads,
/// which can take any time, so this one is always shut down in the background: nothing on
/// the exit path ever waits for the network or DNS. Name lookups do not run here: the sinks'
/// one resolver (`transport::resolve`) has its own thread, one lookup at a time.
struct BackgroundRuntime(std::mem::ManuallyDrop<tokio::runtime::Runtime>);

impl BackgroundRuntime {
    /// A current-thread runtime with at most one blocking thread (the sinks need none).
    fn new() -> std::io::Result<Self> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .max_blocking_threads(1)
            .build()
            .map(|rt| BackgroundRuntime(std::mem::ManuallyDrop::new(rt)))
    }
}

impl std::ops::Deref for BackgroundRuntime {
    type Target = tokio::runtime::Runtime;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Drop for BackgroundRuntime {
    fn drop(&mut self) {
        // SAFETY: the runtime is taken out exactly once, here, and `self.0` is never used
        // again (this is the end of `self`).
        let rt = unsafe { std::mem::ManuallyDrop::take(&mut self.0) };
        rt.shutdown_background();
    }
}

struct Pipeline {
    sources: &'static [Source],
    rt: BackgroundRuntime,
    sink: Sink,
    encoder: Encoder,
    self_stats: SelfStats,
    outage: Outage,
    interval: Duration,
    sampler: crate::sampling::Sampler,
    spikes: crate::spike::Detector,
    events: EventBuffer,
    last_tick: Instant,
    signals: Signals,
    summary: Option<SharedSummary>,
    /// `RTSCOPE_PPROF_DIR`: a heap profile file each export and at exit.
    #[cfg(feature = "profiles")]
    profile_files: Option<crate::profile::Files>,
    /// `OTEL_PROFILES_EXPORTER=otlp`: profiles pushed with every export.
    #[cfg(feature = "profiles")]
    profiles_otlp: bool,
    /// The pipeline's own series for `/metrics` to add to the parts' (refreshed every tick),
    /// and where it is served, when it is.
    scraped: Scraped,
}

impl Pipeline {
    /// Collection tick: drain event queues (samples, spikes), adjust the sampling rate.
    fn tick(&mut self) {
        let now = Instant::now();
        let seconds = now.duration_since(self.last_tick).as_secs_f64();
        self.last_tick = now;
        for source in self.sources {
            (source.tick)();
        }
        self.sampler.tick(seconds, &mut self.events);
        let mut spikes = Vec::new();
        let top_stack = self.sampler.recent_top_stack();
        let stack_name = move || {
            #[cfg(feature = "profiles")]
            return top_stack.map(|(id, b)| (crate::profile::leaf_of(id), b));
            #[cfg(not(feature = "profiles"))]
            {
                let _ = top_stack;
                None
            }
        };
        self.spikes
            .drain(&mut spikes, self.sampler.recent_scope_bytes(), stack_name);
        for e in spikes {
            self.events.push(e);
        }
        self.publish_own_series();
    }

    /// The self-telemetry and the sampler's series, for the next scrapes (only this thread
    /// can compute them: its CPU time, the sampler it owns).
    fn publish_own_series(&self) {
        let Some((shared, _)) = &self.scraped else {
            return;
        };
        let mut own = Vec::with_capacity(16);
        self.self_stats.metrics(&mut own);
        self.sampler.metrics(&self.events, &mut own);
        *shared.lock().unwrap_or_else(PoisonError::into_inner) = own;
    }

    /// Refreshes what the shutting-down thread needs to print the summary without us.
    fn share_summary(&self) {
        let Some(shared) = &self.summary else { return };
        let mut inputs = shared.lock().unwrap_or_else(PoisonError::into_inner);
        let served = self.scraped.as_ref().map(|(_, at)| at.as_str());
        inputs.destination = match (self.signals.any(), served) {
            (true, None) => self.sink.describe(),
            (true, Some(at)) => format!("{}, metrics served on {at}", self.sink.describe()),
            (false, Some(at)) => format!("nowhere, metrics served on {at}"),
            (false, None) => {
                "nowhere (OTEL_METRICS_EXPORTER and OTEL_LOGS_EXPORTER are none)".to_owned()
            }
        };
        inputs.self_stats = self.self_stats.clone();
        inputs.top_scopes = self.sampler.top_scopes(5);
        inputs.backlog_dropped = self.events.dropped;
    }

    /// Sends each enabled signal (`OTEL_METRICS_EXPORTER` / `OTEL_LOGS_EXPORTER` not `none`);
    /// with neither, nothing is sent and no export is counted. Events a disabled logs signal
    /// would carry are discarded here, so they do not pile up.
    fn export(&mut self) {
        #[cfg(feature = "profiles")]
        if let Some(files) = &mut self.profile_files {
            files.write();
        }
        #[cfg(feature = "profiles")]
        let profiles = self.profiles_otlp;
        #[cfg(not(feature = "profiles"))]
        let profiles = false;
        if !self.signals.any() && !profiles {
            self.events.take();
            return;
        }
        let started = Instant::now();
        let mut result = Ok(());
        if self.signals.metrics {
            let mut metrics = Vec::with_capacity(64);
            crate::model::collect(self.sources, &mut metrics);
            self.self_stats.metrics(&mut metrics);
            self.sampler.metrics(&self.events, &mut metrics);
            let request = self.encoder.encode(&metrics, now_nanos());
            // Cumulative totals sent twice count nothing twice; deltas would.
            let resend_safe = !self.outage.delta;
            result = self
                .sink
                .send(&self.rt, Payload::Metrics(request), resend_safe);
            self.encoder.sent(match &result {
                Ok(()) => Sent::Confirmed,
                Err(e) if e.maybe_delivered => Sent::MaybeDelivered,
                Err(_) => Sent::NotDelivered,
            });
        }
        if result.is_ok() {
            let events = self.events.take();
            if self.signals.logs && !events.is_empty() {
                let logs = self.encoder.encode_logs(&events);
                // Events sent twice would be counted twice: re-queued only when they
                // certainly did not arrive.
                result = self.sink.send(&self.rt, Payload::Logs(logs), false);
                match &result {
                    Err(e) if e.maybe_delivered => self.encoder.events_lost(&events),
                    Err(_) => self.events.restore(events),
                    Ok(()) => {}
                }
            }
        }
        // Profiles are cumulative, like the metrics: sending one twice counts nothing twice.
        #[cfg(feature = "profiles")]
        if result.is_ok() && self.profiles_otlp {
            let profiles = self.encoder.encode_profiles();
            result = self.sink.send(&self.rt, Payload::Profiles(profiles), true);
        }
        let ok = result.is_ok();
        match result {
            Ok(()) => self.outage.succeeded(&self.sink),
            Err(e) => self.outage.failed(&self.sink, &e, self.interval),
        }
        self.self_stats
            .record_export(started.elapsed().as_secs_f64(), ok);
        self.publish_own_series();
        self.share_summary();
    }
}

fn run(
    config: Config,
    sources: &'static [Source],
    rx: mpsc::Receiver<Command>,
    wake: Wake,
    summary: Option<SharedSummary>,
) {
    let rt = match BackgroundRuntime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!(
                "rtscope: cannot start the export runtime ({e}); metrics will not be exported"
            );
            return;
        }
    };
    let sink = Sink::new(&config.destination, config.file_max_bytes, &rt).unwrap_or_else(|e| {
        let fallback = &config.fallback_file;
        let shown = match &config.destination {
            crate::config::Destination::Otlp(t) => crate::config::redact_url(&t.metrics_endpoint),
            other => format!("{other:?}"),
        };
        eprintln!(
            "rtscope: cannot export to {shown}: {}; writing to {} instead",
            e.message,
            crate::base::text::path(fallback)
        );
        Sink::file(fallback, config.file_max_bytes)
    });
    if config.signals.any()
        && let Some(path) = sink.file_path()
    {
        let path = crate::base::text::path(path);
        let what = if config.signals.metrics {
            "metrics"
        } else {
            "log records"
        };
        eprintln!(
            "rtscope: writing {what} as OTLP/JSON lines to {} (with {}.1 at most {}); set \
             OTEL_EXPORTER_OTLP_ENDPOINT to send them to a collector instead",
            path,
            path,
            bytes(config.file_max_bytes)
        );
    }
    let (serving, scraped) = serve(&config, sources, &rt);
    let mut p = Pipeline {
        sources,
        sampler: crate::sampling::Sampler::new(config.sampling.target_per_sec),
        spikes: crate::spike::Detector::new(config.spikes.clone()),
        events: EventBuffer::default(),
        last_tick: Instant::now(),
        encoder: Encoder::new(&config),
        rt,
        sink,
        self_stats: SelfStats::default(),
        outage: Outage {
            failed_attempts: 0,
            delta: config.temporality == crate::config::Temporality::Delta,
        },
        interval: config.export_interval,
        signals: config.signals,
        summary,
        #[cfg(feature = "profiles")]
        profile_files: config
            .profiles
            .dir
            .clone()
            .filter(|_| config.profiles.enabled)
            .map(crate::profile::Files::new),
        #[cfg(feature = "profiles")]
        profiles_otlp: config.profiles.otlp && config.profiles.enabled,
        scraped,
    };
    p.publish_own_series();
    p.share_summary();
    let tick = COLLECTION_TICK.min(config.export_interval);
    let mut next_export = Instant::now() + config.export_interval;
    loop {
        match wake.wait(&rx, &p.rt, serving, tick) {
            Ok(Command::Shutdown(done)) => {
                p.tick();
                p.export();
                crate::base::sampling::disable();
                // After the final export, so the summary counts it with its result (unless the
                // shutdown gave up waiting and printed it meanwhile).
                if let Some(shared) = &p.summary {
                    shared
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .print_once(false);
                }
                let unconfirmed = p.encoder.unconfirmed();
                if unconfirmed > 0 {
                    let lost = p.encoder.lost();
                    let allocations = lost.get("rust.memory.allocations").copied().unwrap_or(0);
                    eprintln!(
                        "rtscope: {unconfirmed} delta export(s) may have arrived but were not confirmed by the collector; what they carried was not re-sent (rtscope.export.lost; {allocations} allocations among it)"
                    );
                }
                // Shuts the runtime down in the background before acknowledging.
                drop(p);
                let _ = done.send(());
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                p.tick();
                if Instant::now() >= next_export {
                    p.export();
                    next_export = Instant::now() + config.export_interval;
                }
            }
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// The pipeline's own series shared with `/metrics`, and where it is served.
type Scraped = Option<(Arc<Mutex<Vec<Metric>>>, String)>;

/// Starts rtscope's HTTP listeners for what `config` asks to serve: whether any is serving,
/// and what the Prometheus exporter reads from the pipeline.
#[cfg(feature = "listen")]
fn serve(config: &Config, sources: &'static [Source], rt: &BackgroundRuntime) -> (bool, Scraped) {
    #[cfg_attr(
        not(any(feature = "export-prometheus", feature = "profiles")),
        allow(unused_mut)
    )]
    let mut routes = super::listen::Routes::default();
    // Each exporter that serves over HTTP adds its routes here.
    #[cfg(feature = "profiles")]
    if let Some(addr) = config.profiles.pprof_addr {
        use super::listen::Reply;
        use crate::profile::{Show, encode};
        let at = crate::config::Listen {
            host: addr.ip().to_string(),
            port: addr.port(),
            set_by: "RTSCOPE_PPROF_ADDR (or with_pprof_addr)",
        };
        let pprof = |default| {
            move |_: &super::listen::Request<'_>| Reply {
                content_type: "application/octet-stream",
                body: encode(default),
            }
        };
        routes.add(&at, "/debug/pprof/heap", pprof(Show::InUse));
        routes.add(&at, "/debug/pprof/allocs", pprof(Show::Allocs));
    }
    #[cfg(feature = "export-prometheus")]
    let own = config.prometheus.as_ref().map(|at| {
        let own = Arc::new(Mutex::new(Vec::new()));
        let scrape = super::prometheus::Scrape::new(config, sources, own.clone());
        routes.add(at, "/metrics", move |request| scrape.answer(request));
        own
    });
    #[cfg(not(feature = "export-prometheus"))]
    let own: Option<Arc<Mutex<Vec<Metric>>>> = {
        let _ = (config, sources);
        None
    };
    if routes.is_empty() {
        return (false, None);
    }
    let started = routes.start(rt);
    started.report();
    let at = started
        .bound
        .iter()
        .find(|(_, paths)| paths.split(", ").any(|p| p == "/metrics"))
        .map(|(addr, _)| format!("http://{addr}/metrics"));
    let scraped = own.zip(at);
    (!started.bound.is_empty(), scraped)
}

#[cfg(not(feature = "listen"))]
fn serve(_: &Config, _: &'static [Source], _: &BackgroundRuntime) -> (bool, Scraped) {
    (false, None)
}
