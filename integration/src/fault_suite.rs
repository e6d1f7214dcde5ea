//! The fault suite's cases, shared by `tests/faults.rs`, which asserts for each what cannot
//! be noise (no iteration stalled as long as the export timeout, peak memory, exit time, the
//! data at the collector), and by `examples/fault_ratios.rs`, a benchmark that times the
//! application loop against a run without the agent beside it. Timing ratios on a shared
//! 2-core machine are measurements, never test assertions.
//!
//! Each case runs `timed_loop` (built by `cargo build -p rtscope-integration --bins`) for
//! [`LOOP_MS`] while a fault acts: a misbehaving collector through a [`Gate`] that opens
//! after 1.5 s, or rotel itself frozen or killed for about a second.

use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::Duration;

use crate::hostile::Behavior;
use crate::{Collector, DataPoint, Gate, WatchedRun, cargo_bin, json_line, run_watched, settle};

/// How long the application loop runs; every fault is over well before it ends.
pub const LOOP_MS: u64 = 3000;
/// `RTSCOPE_SHUTDOWN_TIMEOUT` of the loop.
pub const LOOP_SHUTDOWN: Duration = Duration::from_millis(1000);
/// `OTEL_EXPORTER_OTLP_TIMEOUT` of the loop: an iteration this long would be a stall.
pub const LOOP_EXPORT_TIMEOUT: Duration = Duration::from_millis(500);

/// What goes wrong, and how it ends.
#[derive(Debug)]
#[non_exhaustive]
pub enum Fault {
    /// A misbehaving collector in front of rotel, until the gate opens.
    Hostile(Behavior),
    /// rotel stopped (SIGSTOP) for a second.
    Frozen,
    /// rotel killed, restarted a second later.
    Killed,
}

/// One case: a name, the fault, and whether the loop exports delta temporality.
#[derive(Debug)]
pub struct Case {
    /// For messages.
    pub what: &'static str,
    /// What goes wrong.
    pub fault: Fault,
    /// Delta temporality (else cumulative).
    pub delta: bool,
}

/// Every fault of the suite.
pub fn cases() -> Vec<Case> {
    let case = |what, fault, delta| Case { what, fault, delta };
    vec![
        case(
            "slow",
            Fault::Hostile(Behavior::status(200).with_delay(Duration::from_secs(3))),
            false,
        ),
        case(
            "503 Retry-After",
            Fault::Hostile(Behavior::status(503).with_retry_after("1")),
            true,
        ),
        case("502", Fault::Hostile(Behavior::status(502)), false),
        case(
            "429 Retry-After",
            Fault::Hostile(Behavior::status(429).with_retry_after("1")),
            false,
        ),
        case(
            "1 GiB body",
            Fault::Hostile(Behavior::status(500).with_huge_body(1 << 30)),
            false,
        ),
        case(
            "hostile body",
            Fault::Hostile(Behavior::status(400).with_body("x\nrtscope: recovered\u{1b}[2J")),
            false,
        ),
        case(
            "never reads",
            Fault::Hostile(Behavior::AcceptNeverRead),
            true,
        ),
        case("resets", Fault::Hostile(Behavior::Reset), true),
        case("rotel frozen", Fault::Frozen, true),
        case("rotel killed", Fault::Killed, false),
    ]
}

/// What one run of `timed_loop` measured.
#[derive(Debug)]
pub struct Timed {
    /// The loop's p99 by the wall clock (waits for a core included), in nanoseconds.
    pub p99_ns: u64,
    /// The loop's p99 by its thread's CPU clock: what the loop itself executed.
    pub p99_cpu_ns: u64,
    /// The longest iteration, by the wall clock.
    pub max_ns: u64,
    /// Peak resident memory (`VmHWM`).
    pub peak_rss: u64,
    /// The true allocation count (the SNAPSHOT line).
    pub allocations: u64,
    /// The run itself.
    pub run: WatchedRun,
}

/// The `timed_loop` binary: `RTSCOPE_TIMED_LOOP` when set (a benchmark comparing another
/// build), else this build's.
pub fn loop_bin() -> PathBuf {
    std::env::var_os("RTSCOPE_TIMED_LOOP").map_or_else(|| cargo_bin("timed_loop"), PathBuf::from)
}

/// Runs `timed_loop` with `env` while `during` acts; parses its LOOP and SNAPSHOT lines.
///
/// # Panics
///
/// If the loop fails, hangs or prints no LOOP or SNAPSHOT line.
pub fn timed(env: &[(&str, String)], during: impl FnOnce()) -> Timed {
    let mut cmd = Command::new(loop_bin());
    cmd.arg(LOOP_MS.to_string())
        .env("RTSCOPE_SUMMARY", "off")
        .env("OTEL_METRIC_EXPORT_INTERVAL", "200")
        .env(
            "OTEL_EXPORTER_OTLP_TIMEOUT",
            LOOP_EXPORT_TIMEOUT.as_millis().to_string(),
        )
        .env(
            "RTSCOPE_SHUTDOWN_TIMEOUT",
            LOOP_SHUTDOWN.as_millis().to_string(),
        );
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = thread::spawn(move || {
        run_watched(cmd, "SNAPSHOT ", Duration::from_secs(60)).expect("run timed_loop")
    });
    during();
    let run = child.join().unwrap();
    assert!(run.success(), "timed_loop failed or hung: {run:?}");
    let json = |prefix| json_line(&run.stdout, prefix);
    let (looped, snapshot) = (json("LOOP "), json("SNAPSHOT "));
    Timed {
        p99_ns: looped["p99_ns"].as_u64().unwrap(),
        p99_cpu_ns: looped["p99_cpu_ns"].as_u64().unwrap(),
        max_ns: looped["max_ns"].as_u64().unwrap(),
        peak_rss: looped["peak_rss"].as_u64().unwrap(),
        allocations: snapshot["allocations"].as_u64().unwrap(),
        run,
    }
}

/// The loop with no agent exporting (`OTEL_SDK_DISABLED=true`).
pub fn baseline() -> Timed {
    timed(&[("OTEL_SDK_DISABLED", "true".into())], || {})
}

/// What one case left behind.
#[derive(Debug)]
pub struct Outcome {
    /// The faulted loop.
    pub timed: Timed,
    /// What rotel holds of `rust.memory.allocations` after recovery: the latest cumulative
    /// value or the sum of the deltas.
    pub received: u64,
    /// What the agent reported lost of it (`rtscope.export.lost`).
    pub lost: u64,
    /// Requests the closed gate took (a `Hostile` fault only).
    pub refused: Option<u64>,
}

/// Runs `case` against a fresh rotel, and `beside` (e.g. [`baseline`]) at the same time on
/// its own thread, so both see the same machine.
pub fn run_case<T: Send + 'static>(
    case: &Case,
    beside: impl FnOnce() -> T + Send + 'static,
) -> (Outcome, T) {
    let mut c = Collector::start();
    let temporality = if case.delta { "delta" } else { "cumulative" };
    let mut env = vec![(
        "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
        temporality.to_owned(),
    )];
    let gate = match &case.fault {
        Fault::Hostile(b) => Some(Gate::start(c.http_addr(), b.clone()).unwrap()),
        _ => None,
    };
    let endpoint = gate
        .as_ref()
        .map_or_else(|| c.http_endpoint(), Gate::endpoint);
    env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint));
    let beside = thread::spawn(beside);
    let timed = timed(&env, || match &case.fault {
        Fault::Hostile(_) => {
            thread::sleep(Duration::from_millis(1500));
            gate.as_ref().unwrap().open();
        }
        Fault::Frozen => {
            thread::sleep(Duration::from_millis(500));
            c.freeze();
            thread::sleep(Duration::from_millis(1000));
            c.thaw();
        }
        Fault::Killed => {
            thread::sleep(Duration::from_millis(500));
            c.kill();
            thread::sleep(Duration::from_millis(1000));
            c.restart();
        }
    });
    let beside = beside.join().unwrap();
    settle(&c);
    let (received, lost) = received_and_lost(&c, case.delta);
    let outcome = Outcome {
        timed,
        received,
        lost,
        refused: gate.as_ref().map(Gate::refused),
    };
    (outcome, beside)
}

/// (what the collector holds of `rust.memory.allocations`: the latest cumulative value or
/// the sum of the deltas, what the agent reports lost of it).
fn received_and_lost(c: &Collector, delta: bool) -> (u64, u64) {
    let value = |p: &DataPoint| u64::try_from(p.as_i64().unwrap()).unwrap();
    let points = c.metric_points("rust.memory.allocations");
    let received = if delta {
        points.iter().map(value).sum()
    } else {
        points
            .iter()
            .max_by_key(|p| p.time_unix_nano())
            .map_or(0, value)
    };
    let lost = c
        .metric_points("rtscope.export.lost")
        .iter()
        .filter(|p| p.attr_str("rtscope.metric") == Some("rust.memory.allocations"))
        .max_by_key(|p| p.time_unix_nano())
        .map_or(0, value);
    (received, lost)
}
