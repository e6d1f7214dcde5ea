//! The export side: a named background thread that collects the per-thread shards on a
//! collection tick and ships OTLP on the export interval. Nothing here runs on, locks or
//! slows the application's threads: they only write their own shards, which this thread
//! reads. The thread's own allocations are the agent's (self-telemetry), never the user's.

mod collect;
pub(crate) mod logs;
pub(crate) mod model;
mod otlp;
pub(crate) mod sources;
mod summary;
mod transport;

use crate::config::Config;
use collect::{SelfStats, collect_all};
use logs::EventBuffer;
use otlp::{Encoder, now_nanos};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use transport::{Payload, Sink};

/// How often shards are read between exports (peak refresh; event queues drain here).
const COLLECTION_TICK: Duration = Duration::from_secs(1);

enum Command {
    /// Final collection and export, then acknowledge and exit.
    Shutdown(mpsc::SyncSender<()>),
}

/// Handle to the background export thread.
#[derive(Debug)]
pub(crate) struct Exporter {
    tx: Option<mpsc::Sender<Command>>,
    thread: Option<JoinHandle<()>>,
}

impl Exporter {
    /// Spawns the export thread. Never fails or panics: a problem is one stderr line and the
    /// application runs on unexported.
    pub(crate) fn start(config: Config) -> Exporter {
        // Before returning, so allocations right after install are sampled.
        crate::alloc::agent_scope(|| crate::sampling::enable(&config.sampling));
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("rtscope-export".into())
            .spawn(move || {
                crate::alloc::enter_agent_thread();
                // A bug here must not take anything else down: say so once and stop exporting.
                let run = std::panic::AssertUnwindSafe(|| run(config, rx));
                if std::panic::catch_unwind(run).is_err() {
                    eprintln!("rtscope: the export thread panicked (a bug in rtscope, please report it); metrics are no longer exported");
                }
            });
        match spawned {
            Ok(thread) => Exporter {
                tx: Some(tx),
                thread: Some(thread),
            },
            Err(e) => {
                eprintln!(
                    "rtscope: cannot start the export thread ({e}); metrics will not be exported"
                );
                Exporter {
                    tx: None,
                    thread: None,
                }
            }
        }
    }

    /// Final collection and flush; returns within `timeout` whatever the destination does.
    pub(crate) fn shutdown(mut self, timeout: Duration) {
        let Some(tx) = self.tx.take() else { return };
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        if tx.send(Command::Shutdown(done_tx)).is_err() {
            return;
        }
        match done_rx.recv_timeout(timeout) {
            Ok(()) => {
                if let Some(t) = self.thread.take() {
                    let _ = t.join();
                }
            }
            Err(_) => eprintln!(
                "rtscope: the final export did not finish within {timeout:?}; exiting without it"
            ),
        }
    }
}

/// Logs an outage once, not once per attempt, and its end.
#[derive(Debug, Default)]
struct Outage {
    failed_attempts: u64,
}

impl Outage {
    fn failed(&mut self, sink: &Sink, err: &transport::SendError, interval: Duration) {
        if self.failed_attempts == 0 {
            eprintln!(
                "rtscope: export to {} failed: {}; retrying every {interval:?} (counts are kept, nothing is lost); further failures are not logged until it recovers",
                sink.describe(),
                err.0
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

struct Pipeline {
    rt: tokio::runtime::Runtime,
    sink: Sink,
    encoder: Encoder,
    self_stats: SelfStats,
    outage: Outage,
    interval: Duration,
    sampler: crate::sampling::Sampler,
    events: EventBuffer,
    last_tick: Instant,
}

impl Pipeline {
    /// Collection tick: drain event queues (samples, spikes), adjust the sampling rate.
    fn tick(&mut self) {
        let now = Instant::now();
        let seconds = now.duration_since(self.last_tick).as_secs_f64();
        self.last_tick = now;
        // Raises the recorded peak to the live total now, between exports.
        crate::alloc::check_peak();
        self.sampler.tick(seconds, &mut self.events);
        let mut spikes = Vec::new();
        crate::spike::drain(&mut spikes);
        for e in spikes {
            self.events.push(e);
        }
        crate::tracing::check_spans_seen();
    }

    fn export(&mut self) {
        let started = Instant::now();
        let (_, mut metrics) = collect_all(&self.self_stats);
        self.sampler.metrics(&self.events, &mut metrics);
        let request = self.encoder.encode(&metrics, now_nanos());
        let mut result = self.sink.send(&self.rt, Payload::Metrics(request));
        if result.is_ok() {
            self.encoder.commit();
            let events = self.events.take();
            if !events.is_empty() {
                let logs = self.encoder.encode_logs(&events);
                result = self.sink.send(&self.rt, Payload::Logs(logs));
                if result.is_err() {
                    self.events.restore(events);
                }
            }
        }
        let ok = result.is_ok();
        match result {
            Ok(()) => self.outage.succeeded(&self.sink),
            Err(e) => self.outage.failed(&self.sink, &e, self.interval),
        }
        self.self_stats
            .record_export(started.elapsed().as_secs_f64(), ok);
    }
}

fn run(config: Config, rx: mpsc::Receiver<Command>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!(
                "rtscope: cannot start the export runtime ({e}); metrics will not be exported"
            );
            return;
        }
    };
    let sink = Sink::new(&config.destination, &rt).unwrap_or_else(|e| {
        let fallback = std::path::PathBuf::from(crate::config::DEFAULT_FILE);
        eprintln!(
            "rtscope: cannot export to {:?}: {}; writing to {} instead",
            config.destination,
            e.0,
            fallback.display()
        );
        Sink::File { path: fallback }
    });
    let mut p = Pipeline {
        sampler: crate::sampling::Sampler::new(&config.sampling),
        events: EventBuffer::default(),
        last_tick: Instant::now(),
        encoder: Encoder::new(&config),
        rt,
        sink,
        self_stats: SelfStats::default(),
        outage: Outage::default(),
        interval: config.export_interval,
    };
    let tick = COLLECTION_TICK.min(config.export_interval);
    let mut next_export = Instant::now() + config.export_interval;
    loop {
        match rx.recv_timeout(tick) {
            Ok(Command::Shutdown(done)) => {
                p.tick();
                if config.summary_at_exit {
                    summary::print(
                        &p.sink.describe(),
                        &p.self_stats,
                        &p.sampler.top_scopes(5),
                        p.events.dropped,
                    );
                }
                p.export();
                crate::sampling::disable();
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
