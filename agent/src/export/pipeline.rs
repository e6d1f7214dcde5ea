//! The export thread: collects on a collection tick, encodes and ships on the export interval.

use super::otlp::{Encoder, Sent, now_nanos};
use super::recent::RecentSpikes;
use super::self_stats::SelfStats;
use super::summary;
use super::transport::{self, Delivery, Held, Payload, Request, Signal, Sink};
use crate::config::{Config, Signals};
use crate::model::Source;
use crate::model::events::EventBuffer;
use crate::model::series::Metric;
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often shards are read between exports (peak refresh; event queues drain here).
const COLLECTION_TICK: Duration = Duration::from_secs(1);
/// When the first export is made (at the first collection tick), unless the interval is
/// shorter: a user sees data within seconds, not after a whole interval (60 s by default).
const FIRST_EXPORT: Duration = COLLECTION_TICK;

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
    report_file: Option<String>,
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
            stats.count_unfinished();
        }
        summary::render(
            self.sources,
            &summary::ExitFacts {
                destination: &self.destination,
                self_stats: &stats,
                top_scopes: &self.top_scopes,
                backlog_dropped: self.backlog_dropped,
                report_file: self.report_file.as_deref(),
            },
        )
    }
}

/// Wakes the export thread waiting for a command: while it serves listeners it waits inside
/// its runtime (so connections are served meanwhile), where a channel's wait cannot reach it.
#[derive(Clone, Debug, Default)]
struct Wake {
    #[cfg(feature = "_listen")]
    notify: Arc<tokio::sync::Notify>,
}

impl Wake {
    fn wake(&self) {
        #[cfg(feature = "_listen")]
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
        #[cfg(feature = "_listen")]
        rt.block_on(async {
            // A wake sent before this wait began is kept by `Notify` (one permit): not lost.
            let _ = tokio::time::timeout(tick, self.notify.notified()).await;
        });
        #[cfg(not(feature = "_listen"))]
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
            crate::base::hot_sampling::enable(
                s.enabled,
                s.target_per_sec,
                s.interval,
                s.cpu_percent,
                s.seed,
            );
            crate::base::hot_profile::enable(config.profiles.enabled);
        });
        // Here, not on the export thread: the first spike window starts at install.
        let spikes =
            crate::base::agent_scope(|| crate::spike::Detector::new(config.spikes.clone()));
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
                let run = std::panic::AssertUnwindSafe(|| {
                    run(config, sources, spikes, rx, woken, shared)
                });
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

/// Says each outage once: its first failure, one line for all the signals that failed for
/// the same cause (the same HTTP status or gRPC code, else the same message), and its end. A
/// signal failing for a cause already said joins that outage silently; one failing for
/// another cause (profiles the collector does not take, a logs endpoint that refuses) gets a
/// line of its own.
#[derive(Debug, Default)]
struct Outages {
    said: Vec<Outage>,
    /// Delta temporality: what a failed export that may have arrived carried is not re-sent
    /// (see `otlp::Encoder`).
    delta: bool,
}

/// One outage that was said, and the signals failing in it.
#[derive(Debug)]
struct Outage {
    /// Its [`transport::SendError::cause`].
    cause: String,
    signals: Vec<Signal>,
    /// Exports in which one of its signals failed.
    failed_attempts: u64,
}

impl Outages {
    /// The lines to print for the outcome of one export's `deliveries`.
    fn report(&mut self, sink: &Sink, deliveries: &[Delivery], interval: Duration) -> Vec<String> {
        let mut lines = Vec::new();
        // An outage ends when one of its signals gets through again.
        for d in deliveries.iter().filter(|d| d.result.is_ok()) {
            if let Some(i) = self.said.iter().position(|o| o.signals.contains(&d.signal)) {
                let o = self.said.remove(i);
                lines.push(format!(
                    "rtscope: export of {} to {} recovered after {} failed attempt(s)",
                    transport::signal_names(&o.signals),
                    sink.describe_signals(&o.signals),
                    o.failed_attempts
                ));
            }
        }
        let mut counted = vec![false; self.said.len()];
        let mut new: Vec<(&transport::SendError, Vec<Signal>)> = Vec::new();
        for d in deliveries {
            let Err(e) = &d.result else { continue };
            let known = self
                .said
                .iter()
                .position(|o| o.signals.contains(&d.signal))
                .or_else(|| self.said.iter().position(|o| o.cause == e.cause));
            match known {
                Some(i) => {
                    if !self.said[i].signals.contains(&d.signal) {
                        self.said[i].signals.push(d.signal);
                    }
                    counted[i] = true;
                }
                None => match new.iter_mut().find(|(n, _)| n.cause == e.cause) {
                    Some((_, signals)) => signals.push(d.signal),
                    None => new.push((e, vec![d.signal])),
                },
            }
        }
        for (o, counted) in self.said.iter_mut().zip(counted) {
            o.failed_attempts += u64::from(counted);
        }
        for (e, signals) in new {
            lines.push(self.first_failure(sink, e, &signals, interval));
            self.said.push(Outage {
                cause: e.cause.clone(),
                signals,
                failed_attempts: 1,
            });
        }
        lines
    }

    /// The line of a new outage: `signals` failed with `e`.
    fn first_failure(
        &self,
        sink: &Sink,
        e: &transport::SendError,
        signals: &[Signal],
        interval: Duration,
    ) -> String {
        let what = transport::signal_names(signals);
        let to = sink.describe_signals(signals);
        if e.held == Some(Held::NotTaken) {
            return format!(
                "rtscope: {to} does not take {what} ({}); not sending {what} for {:?}, then \
                 trying again; the other signals go on",
                e.message,
                transport::NOT_TAKEN_PAUSE
            );
        }
        let kept = if self.delta {
            "under delta temporality what a failed export carried goes with the next one when it certainly did not arrive, else it is counted in rtscope.export.lost"
        } else {
            "totals are cumulative, so the next export that arrives carries everything"
        };
        let retrying = match e.held {
            Some(_) => "retrying once the pause is over".to_owned(),
            None => format!("retrying every {interval:?}"),
        };
        format!(
            "rtscope: export of {what} to {to} failed: {}; {retrying} ({kept}); further failures are not logged until it recovers",
            e.message
        )
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
    outages: Outages,
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
    /// The last spike events, for the listener's `/debug/rtscope/spikes`.
    recent: RecentSpikes,
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
            self.recent.push(&e);
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
        let served = self.scraped.as_ref().and_then(|(_, at)| at.get());
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
        inputs.report_file = self
            .sink
            .file_path()
            .filter(|_| self.signals.any())
            .map(summary::shell_word);
    }

    /// Sends each enabled signal (`OTEL_METRICS_EXPORTER` / `OTEL_LOGS_EXPORTER` not `none`,
    /// `OTEL_PROFILES_EXPORTER=otlp`), each in a request of its own, all at once; with none,
    /// nothing is sent and no export is counted. A signal the collector holds back (its
    /// `Retry-After` is not over, or it does not take profiles) is not encoded or sent, and
    /// its data waits for the next export. Events a disabled logs signal would carry are
    /// discarded here, so they do not pile up.
    fn export(&mut self) {
        #[cfg(feature = "profiles")]
        if let Some(files) = &mut self.profile_files {
            files.write();
        }
        if !self.signals.any() && !self.profiles_otlp() {
            self.events.take();
            return;
        }
        let mut requests = Vec::with_capacity(3);
        // Per signal, the time its encoding took.
        let mut encoding = [Duration::ZERO; 3];
        if self.signals.metrics && self.ready(Signal::Metrics) {
            let started = Instant::now();
            let mut metrics = Vec::with_capacity(64);
            crate::model::collect(self.sources, &mut metrics);
            self.self_stats.metrics(&mut metrics);
            self.sampler.metrics(&self.events, &mut metrics);
            let request = self.encoder.encode(&metrics, now_nanos());
            requests.push(Request {
                payload: Payload::Metrics(request),
                // Cumulative totals sent twice count nothing twice; deltas would.
                resend_safe: !self.outages.delta,
            });
            encoding[Signal::Metrics.index()] = started.elapsed();
        }
        let mut events = None;
        if !self.signals.logs {
            self.events.take();
        } else if self.events.len() > 0 && self.ready(Signal::Logs) {
            let started = Instant::now();
            let taken = self.events.take();
            requests.push(Request {
                payload: Payload::Logs(self.encoder.encode_logs(&taken)),
                // Events sent twice would be counted twice.
                resend_safe: false,
            });
            events = Some(taken);
            encoding[Signal::Logs.index()] = started.elapsed();
        }
        #[cfg(feature = "profiles")]
        if self.profiles_otlp && self.ready(Signal::Profiles) {
            let started = Instant::now();
            requests.push(Request {
                payload: Payload::Profiles(self.encoder.encode_profiles()),
                // Profiles are cumulative, like the metrics.
                resend_safe: true,
            });
            encoding[Signal::Profiles.index()] = started.elapsed();
        }
        let deliveries = self.sink.send(&self.rt, requests);
        for d in &deliveries {
            match d.signal {
                Signal::Metrics => self.encoder.sent(match &d.result {
                    Ok(()) => Sent::Confirmed,
                    Err(e) if e.maybe_delivered => Sent::MaybeDelivered,
                    Err(_) => Sent::NotDelivered,
                }),
                // Re-queued only when they certainly did not arrive.
                Signal::Logs => match (&d.result, events.take()) {
                    (Err(e), Some(events)) if e.maybe_delivered => {
                        self.encoder.events_lost(&events);
                    }
                    (Err(_), Some(events)) => self.events.restore(events),
                    _ => {}
                },
                Signal::Profiles => {}
            }
            let took = encoding[d.signal.index()] + d.took;
            self.self_stats
                .record_export(d.signal, took.as_secs_f64(), d.result.is_ok());
        }
        for line in self.outages.report(&self.sink, &deliveries, self.interval) {
            eprintln!("{line}");
        }
        self.self_stats.refresh_cpu();
        self.publish_own_series();
        self.share_summary();
    }

    /// Whether `signal` may be sent now; one held back is counted as such.
    fn ready(&mut self, signal: Signal) -> bool {
        let held = self.sink.held(signal).is_some();
        if held {
            self.self_stats.record_held(signal);
        }
        !held
    }

    /// Whether profiles are pushed over OTLP with every export.
    fn profiles_otlp(&self) -> bool {
        #[cfg(feature = "profiles")]
        return self.profiles_otlp;
        #[cfg(not(feature = "profiles"))]
        false
    }
}

fn run(
    config: Config,
    sources: &'static [Source],
    spikes: crate::spike::Detector,
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
    let recent = RecentSpikes::default();
    let (serving, scraped) = serve(&config, sources, &rt, &recent);
    // Soon after start, whatever the interval, so that data shows within seconds.
    let first_export = config.export_interval.min(FIRST_EXPORT);
    // Known at once for an address or `localhost`; a host name is still being looked up
    // (its own line says where it serves once bound).
    let served = scraped
        .as_ref()
        .and_then(|(_, at)| at.get())
        .map(String::as_str);
    for line in super::announce::start(&config, &sink, first_export, served) {
        eprintln!("{line}");
    }
    #[cfg(feature = "profiles")]
    let profiles_otlp = config.profiles.otlp && config.profiles.enabled;
    #[cfg(not(feature = "profiles"))]
    let profiles_otlp = false;
    let mut p = Pipeline {
        sources,
        sampler: crate::sampling::Sampler::new(config.sampling.target_per_sec),
        spikes,
        events: EventBuffer::default(),
        last_tick: Instant::now(),
        encoder: Encoder::new(&config),
        rt,
        sink,
        self_stats: SelfStats::new([config.signals.metrics, config.signals.logs, profiles_otlp]),
        outages: Outages {
            said: Vec::new(),
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
        profiles_otlp,
        scraped,
        recent,
    };
    p.publish_own_series();
    p.share_summary();
    let tick = COLLECTION_TICK.min(config.export_interval);
    let mut next_export = Instant::now() + first_export;
    loop {
        match wake.wait(&rx, &p.rt, serving, tick) {
            Ok(Command::Shutdown(done)) => {
                p.tick();
                p.export();
                crate::base::hot_sampling::disable();
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

/// The pipeline's own series shared with `/metrics`, and where it is served (set once its
/// listener is bound).
type Scraped = Option<(Arc<Mutex<Vec<Metric>>>, Arc<std::sync::OnceLock<String>>)>;

/// Starts rtscope's HTTP listeners for what `config` asks to serve, without waiting for any
/// name lookup: whether any is serving (or may be, once its name resolves), and what the
/// Prometheus exporter reads from the pipeline.
#[cfg(feature = "_listen")]
fn serve(
    config: &Config,
    sources: &'static [Source],
    rt: &BackgroundRuntime,
    recent: &RecentSpikes,
) -> (bool, Scraped) {
    #[cfg_attr(
        not(any(feature = "export-prometheus", feature = "profiles")),
        allow(unused_mut)
    )]
    let mut routes = super::listen::Routes::default();
    let limits = super::listen::Limits::configured(&config.listen);
    // Each exporter that serves over HTTP adds its routes here.
    #[cfg(feature = "profiles")]
    if let Some(addr) = config.profiles.pprof_addr {
        super::pprof::add(&mut routes, addr, &limits);
    }
    #[cfg(feature = "export-prometheus")]
    let own = config.prometheus.as_ref().map(|at| {
        let own = Arc::new(Mutex::new(Vec::new()));
        let scrape = super::prometheus::Scrape::new(config, sources, own.clone());
        routes.add(at, "/metrics", move |request| scrape.answer(request));
        // What `/metrics` cannot carry: the sentences of the last spike events.
        let recent = recent.clone();
        routes.add(at, super::recent::PATH, move |_| {
            super::listen::Reply::ok("application/json", recent.json())
        });
        own
    });
    #[cfg(not(feature = "export-prometheus"))]
    let own: Option<Arc<Mutex<Vec<Metric>>>> = {
        let _ = (config, sources, recent);
        None
    };
    if routes.is_empty() {
        return (false, None);
    }
    let at = routes.url_of("/metrics");
    let started = routes.start(rt, limits, crate::config::print_warnings);
    (started.serving(), own.map(|own| (own, at)))
}

#[cfg(not(feature = "_listen"))]
fn serve(
    _: &Config,
    _: &'static [Source],
    _: &BackgroundRuntime,
    _: &RecentSpikes,
) -> (bool, Scraped) {
    (false, None)
}

#[cfg(test)]
mod tests;
