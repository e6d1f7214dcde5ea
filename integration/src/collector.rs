//! The collector under test: rotel, forwarding everything it receives to the
//! JSON-lines receiver (`integration/receiver.py`).
//!
//! ```text
//! test ──OTLP gRPC / HTTP──▶ rotel-agent ──OTLP/HTTP protobuf, gzip──▶ receiver.py ──▶ received.jsonl
//!                            (grpc_endpoint, http_endpoint)                              (metric_requests)
//! ```

use std::fs::{self, File, OpenOptions};
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::Error;
use crate::otlp::{self, DataPoint, LogRecord};
use crate::process::spawn_tied;

/// Environment variable naming the venv made by `scripts/install-collector.sh`
/// (default `<workspace>/.venv`; a relative path is taken from the workspace
/// root).
pub const VENV_ENV: &str = "RTSCOPE_COLLECTOR_VENV";

/// Environment variable that, set to `1`, makes rotel log every metric and
/// log it receives (`--debug-log ... --debug-log-verbosity detailed`) and
/// keeps the collector's work directory after the test.
pub const DEBUG_ENV: &str = "RTSCOPE_COLLECTOR_DEBUG";

const RECEIVER_PY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/receiver.py");
const POLL: Duration = Duration::from_millis(10);
const PROBE_TIMEOUT: Duration = Duration::from_millis(100);
const START_ATTEMPTS: u32 = 5;

/// The workspace root (parent of the `integration` crate).
pub fn workspace_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().unwrap_or(manifest).to_path_buf()
}

/// The collector venv: `$RTSCOPE_COLLECTOR_VENV`, else `<workspace>/.venv`.
pub fn venv_dir() -> PathBuf {
    match std::env::var_os(VENV_ENV) {
        Some(v) if !v.is_empty() => workspace_dir().join(v),
        _ => workspace_dir().join(".venv"),
    }
}

/// Finds `rotel-agent` inside a venv made by `scripts/install-collector.sh`.
///
/// # Errors
///
/// [`Error::VenvMissing`] or [`Error::RotelMissing`].
pub fn rotel_agent_path(venv: &Path) -> Result<PathBuf, Error> {
    if !venv.join("bin/python").exists() {
        return Err(Error::VenvMissing {
            venv: venv.to_path_buf(),
        });
    }
    let lib = venv.join("lib");
    let found = fs::read_dir(&lib)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .map(|e| e.path().join("site-packages/rotel/rotel-agent"))
        .find(|p| p.is_file());
    found.ok_or_else(|| Error::RotelMissing {
        venv: venv.to_path_buf(),
    })
}

/// Settings for [`Collector`]; start with [`Collector::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until .start()"]
pub struct CollectorBuilder {
    venv: Option<PathBuf>,
    batch_timeout: Option<Duration>,
    debug_log: bool,
    ready_timeout: Duration,
    extra_args: Vec<String>,
}

impl Default for CollectorBuilder {
    fn default() -> Self {
        CollectorBuilder {
            venv: None,
            batch_timeout: None,
            debug_log: std::env::var_os(DEBUG_ENV).is_some_and(|v| v == "1"),
            ready_timeout: Duration::from_secs(20),
            extra_args: Vec::new(),
        }
    }
}

impl CollectorBuilder {
    /// Uses this venv instead of [`venv_dir`].
    pub fn with_venv(mut self, venv: impl Into<PathBuf>) -> Self {
        self.venv = Some(venv.into());
        self
    }

    /// Turns rotel's batching on with this timeout (rotel's own default is
    /// 200 ms). Off by default: rotel then forwards each incoming request as
    /// one request, at once (`--disable-batching`), so what the receiver
    /// sees maps one to one onto what was sent. With batching, requests
    /// arriving within the timeout are merged into one (their
    /// `resourceMetrics` concatenated).
    pub fn with_batching(mut self, timeout: Duration) -> Self {
        self.batch_timeout = Some(timeout);
        self
    }

    /// Makes rotel print every metric and log it receives into its log
    /// ([`Collector::rotel_log`]) and keeps the work directory. Also turned
    /// on by `RTSCOPE_COLLECTOR_DEBUG=1`.
    pub fn with_debug_log(mut self, on: bool) -> Self {
        self.debug_log = on;
        self
    }

    /// How long to wait for the receiver and rotel to accept connections
    /// (default 20 s; they normally take ~200 ms and ~10 ms).
    pub fn with_ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Passes more arguments to `rotel-agent start`.
    pub fn with_rotel_arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// Starts the receiver, then rotel, and waits until both accept
    /// connections.
    ///
    /// # Panics
    ///
    /// If the collector cannot be started; the message says why and how to
    /// fix it (usually: run `bash scripts/install-collector.sh`).
    pub fn start(self) -> Collector {
        self.try_start().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`start`](Self::start), as a `Result`.
    ///
    /// # Errors
    ///
    /// A missing venv or rotel binary, a child process that exits early or
    /// does not accept connections within the ready timeout, or an I/O error
    /// in the work directory.
    pub fn try_start(self) -> Result<Collector, Error> {
        let venv = self.venv.clone().unwrap_or_else(venv_dir);
        let rotel_bin = rotel_agent_path(&venv)?;
        let python = venv.join("bin/python");

        let dir = new_work_dir()?;
        let out = dir.join("received.jsonl");
        File::create(&out).map_err(|e| Error::io(format!("create {}", out.display()), e))?;

        let (receiver, receiver_port) = start_receiver(&python, &dir, &out, self.ready_timeout)?;
        // Written before the HTTP port, so present now.
        let receiver_grpc_port = fs::read_to_string(dir.join("receiver-grpc.port"))
            .ok()
            .and_then(|s| s.trim().parse::<u16>().ok())
            .unwrap_or(0);
        let mut collector = Collector {
            keep_dir: self.debug_log,
            config: self,
            rotel_bin,
            dir,
            out,
            receiver,
            receiver_port,
            receiver_grpc_port,
            rotel: None,
            grpc_port: 0,
            http_port: 0,
            frozen: false,
        };
        // Ports are picked free, then released for rotel to bind (it cannot
        // bind port 0 and report it); if another process takes one in between,
        // rotel exits and we try again with new ports.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let (grpc, http) =
                free_port_pair().map_err(|e| Error::io("pick free ports on 127.0.0.1", e))?;
            collector.grpc_port = grpc;
            collector.http_port = http;
            match collector.spawn_rotel() {
                Ok(()) => return Ok(collector),
                Err(Error::Exited { log, .. })
                    if attempt < START_ATTEMPTS && is_bind_error(&log) => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// A real OpenTelemetry collector (rotel) on 127.0.0.1 whose received data
/// can be read back exactly.
///
/// It owns two child processes: `receiver.py` (stays up for the collector's
/// whole life) and `rotel-agent` (can be killed, restarted on the same ports,
/// frozen and thawed). Both are SIGKILLed on drop, and by the kernel if the
/// test process dies.
#[derive(Debug)]
#[must_use = "the collector stops when dropped"]
pub struct Collector {
    config: CollectorBuilder,
    rotel_bin: PathBuf,
    dir: PathBuf,
    keep_dir: bool,
    out: PathBuf,
    receiver: Child,
    receiver_port: u16,
    receiver_grpc_port: u16,
    rotel: Option<Child>,
    grpc_port: u16,
    http_port: u16,
    frozen: bool,
}

impl Collector {
    /// Starts a collector with the default settings; see
    /// [`CollectorBuilder::start`].
    ///
    /// # Panics
    ///
    /// If the venv is missing (run `bash scripts/install-collector.sh`) or a
    /// process does not come up in time.
    pub fn start() -> Collector {
        Collector::builder().start()
    }

    /// Settings for a collector.
    pub fn builder() -> CollectorBuilder {
        CollectorBuilder::default()
    }

    /// rotel's OTLP/gRPC receiver, e.g. `http://127.0.0.1:41234`.
    pub fn grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// rotel's OTLP/HTTP receiver base URL, e.g. `http://127.0.0.1:41235`
    /// (append `/v1/metrics` or `/v1/logs`).
    pub fn http_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The receiver endpoint for an `OTEL_EXPORTER_OTLP_PROTOCOL` value: the gRPC one for
    /// `grpc`, the HTTP base URL otherwise.
    pub fn endpoint_for(&self, protocol: &str) -> String {
        if protocol == "grpc" {
            self.grpc_endpoint()
        } else {
            self.http_endpoint()
        }
    }

    /// rotel's gRPC socket address.
    pub fn grpc_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.grpc_port))
    }

    /// rotel's HTTP socket address.
    pub fn http_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.http_port))
    }

    /// The receiver's base URL, where rotel forwards to.
    pub fn receiver_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.receiver_port)
    }

    /// The receiver's own OTLP/gRPC endpoint, which takes profiles only (rotel does not
    /// carry them), e.g. `http://127.0.0.1:41236`.
    pub fn receiver_grpc_endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.receiver_grpc_port)
    }

    /// The directory holding `received.jsonl`, `rotel.log` and
    /// `receiver.log`.
    pub fn work_dir(&self) -> &Path {
        &self.dir
    }

    /// Everything rotel has printed (all runs of it).
    pub fn rotel_log(&self) -> String {
        read_log(&self.dir.join("rotel.log"))
    }

    /// Everything the receiver has printed (one line per request).
    pub fn receiver_log(&self) -> String {
        read_log(&self.dir.join("receiver.log"))
    }

    /// Every metrics request the receiver got so far, as OTLP/JSON
    /// `ExportMetricsServiceRequest` objects, in arrival order.
    pub fn metric_requests(&self) -> Vec<Value> {
        self.requests("metrics")
    }

    /// Every OTLP Profiles request (`v1development`) the receiver got so far, as OTLP/JSON
    /// `ExportProfilesServiceRequest` objects, in arrival order. rotel does not forward
    /// profiles: send them to [`Collector::receiver_endpoint`].
    pub fn profile_requests(&self) -> Vec<Value> {
        self.requests("profiles")
    }

    /// Every logs request the receiver got so far, as OTLP/JSON
    /// `ExportLogsServiceRequest` objects, in arrival order.
    pub fn log_requests(&self) -> Vec<Value> {
        self.requests("logs")
    }

    /// Every trace request the receiver got so far, as OTLP/JSON
    /// `ExportTraceServiceRequest` objects, in arrival order.
    pub fn trace_requests(&self) -> Vec<Value> {
        self.requests("traces")
    }

    /// All spans received so far.
    pub fn spans(&self) -> Vec<otlp::SpanRecord> {
        otlp::spans(&self.trace_requests())
    }

    /// Polls until the span named `name` has arrived and returns it; `None` if it did not
    /// within `timeout`.
    pub fn wait_for_span(&self, name: &str, timeout: Duration) -> Option<otlp::SpanRecord> {
        let deadline = Instant::now() + timeout;
        loop {
            let found = self.spans().into_iter().find(|s| s.name() == name);
            if found.is_some() || Instant::now() >= deadline {
                return found;
            }
            thread::sleep(POLL);
        }
    }

    /// The data points of metric `name` received so far.
    pub fn metric_points(&self, name: &str) -> Vec<DataPoint> {
        otlp::metric_points(&self.metric_requests(), name)
    }

    /// The names of all metrics received so far.
    pub fn metric_names(&self) -> std::collections::BTreeSet<String> {
        otlp::metric_names(&self.metric_requests())
    }

    /// All log records received so far.
    pub fn log_records(&self) -> Vec<LogRecord> {
        otlp::log_records(&self.log_requests())
    }

    /// Polls until at least one data point of metric `name` has arrived and
    /// returns all of them (with their resource, scope and metric; see
    /// [`DataPoint`]); empty if none arrived within `timeout`.
    pub fn wait_for_metric(&self, name: &str, timeout: Duration) -> Vec<DataPoint> {
        self.wait_for_points(name, 1, timeout)
    }

    /// Polls until at least `min_points` data points of metric `name` have
    /// arrived; returns what arrived by then (possibly fewer on timeout).
    pub fn wait_for_points(
        &self,
        name: &str,
        min_points: usize,
        timeout: Duration,
    ) -> Vec<DataPoint> {
        let deadline = Instant::now() + timeout;
        loop {
            let points = self.metric_points(name);
            if points.len() >= min_points || Instant::now() >= deadline {
                return points;
            }
            thread::sleep(POLL);
        }
    }

    /// Polls until at least `min_records` log records have arrived; returns
    /// what arrived by then.
    pub fn wait_for_logs(&self, min_records: usize, timeout: Duration) -> Vec<LogRecord> {
        let deadline = Instant::now() + timeout;
        loop {
            let records = self.log_records();
            if records.len() >= min_records || Instant::now() >= deadline {
                return records;
            }
            thread::sleep(POLL);
        }
    }

    /// rotel's process id while it runs.
    pub fn rotel_pid(&self) -> Option<u32> {
        self.rotel.as_ref().map(Child::id)
    }

    /// Whether rotel is running (possibly frozen).
    pub fn is_running(&mut self) -> bool {
        match &mut self.rotel {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Whether rotel is frozen by [`freeze`](Self::freeze).
    pub fn is_frozen(&self) -> bool {
        self.frozen
    }

    /// SIGKILLs rotel: the collector is gone and its ports refuse
    /// connections. Data rotel held in a batch is lost; the receiver and what
    /// it got stay. Does nothing if rotel is not running.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.rotel.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.frozen = false;
    }

    /// Starts rotel again on the same ports (killing it first if it runs)
    /// and waits until it accepts connections.
    ///
    /// # Panics
    ///
    /// If rotel does not come up within the ready timeout (e.g. another
    /// process took one of its ports meanwhile).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + self.config.ready_timeout;
        loop {
            match self.spawn_rotel() {
                Ok(()) => return,
                // The old sockets may linger for a moment; try again.
                Err(Error::Exited { log, .. })
                    if is_bind_error(&log) && Instant::now() < deadline =>
                {
                    thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("restarting rotel: {e}"),
            }
        }
    }

    /// SIGSTOPs rotel: the kernel still completes TCP handshakes on its
    /// ports (listen backlog), but nothing is ever answered, as with a hung
    /// collector. Returns once the process is stopped.
    ///
    /// # Panics
    ///
    /// If rotel is not running.
    pub fn freeze(&mut self) {
        self.signal_rotel(libc::SIGSTOP, true);
        self.frozen = true;
    }

    /// SIGCONTs a frozen rotel; it then works through what queued up.
    ///
    /// # Panics
    ///
    /// If rotel is not running.
    pub fn thaw(&mut self) {
        self.signal_rotel(libc::SIGCONT, false);
        self.frozen = false;
    }

    fn signal_rotel(&mut self, signal: libc::c_int, stopped: bool) {
        let child = self
            .rotel
            .as_ref()
            .expect("rotel is not running (killed?): restart() it first");
        let pid = libc::pid_t::try_from(child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) takes plain integers. `pid` is our own child, which
        // has not been reaped (we hold its Child and only wait() after
        // taking it out of `self.rotel`), so the pid cannot have been reused.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(
            rc,
            0,
            "kill({pid}, {signal}): {}",
            io::Error::last_os_error()
        );
        // Signals are delivered asynchronously; wait (bounded) until the
        // scheduler state shows it so the caller's next step sees it.
        let deadline = Instant::now() + Duration::from_secs(2);
        while process_is_stopped(pid) != Some(stopped) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(1));
        }
    }

    fn spawn_rotel(&mut self) -> Result<(), Error> {
        let log_path = self.dir.join("rotel.log");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io(format!("open {}", log_path.display()), e))?;
        let log_err = log.try_clone().map_err(|e| Error::io("dup rotel log", e))?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);

        let mut cmd = Command::new(&self.rotel_bin);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("ROTEL_") {
                cmd.env_remove(key);
            }
        }
        cmd.env("NO_COLOR", "1")
            .arg("start")
            .arg("--otlp-grpc-endpoint")
            .arg(format!("127.0.0.1:{}", self.grpc_port))
            .arg("--otlp-http-endpoint")
            .arg(format!("127.0.0.1:{}", self.http_port))
            .args(["--exporter", "otlp", "--otlp-exporter-protocol", "http"])
            .arg("--otlp-exporter-endpoint")
            .arg(self.receiver_endpoint())
            .args(["--otlp-exporter-compression", "gzip"])
            .args(["--otlp-exporter-retry-initial-backoff", "100ms"])
            .args(["--otlp-exporter-retry-max-backoff", "1s"])
            .arg("--pid-file")
            .arg(self.dir.join("rotel.pid"))
            .arg("--log-file")
            .arg(self.dir.join("rotel-daemon.log"));
        match self.config.batch_timeout {
            None => cmd.arg("--disable-batching"),
            Some(t) => cmd
                .arg("--batch-timeout")
                .arg(format!("{}ms", t.as_millis().max(1))),
        };
        if self.config.debug_log {
            cmd.args(["--debug-log", "metrics", "--debug-log", "logs"])
                .args(["--debug-log-verbosity", "detailed"]);
        }
        cmd.args(&self.config.extra_args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);

        let mut child = spawn_tied(cmd)
            .map_err(|e| Error::io(format!("spawn {}", self.rotel_bin.display()), e))?;
        let ready = wait_ready(
            &mut child,
            "rotel-agent",
            &[self.grpc_addr(), self.http_addr()],
            self.config.ready_timeout,
            || read_log_from(&log_path, log_start),
        );
        match ready {
            Ok(()) => {
                self.rotel = Some(child);
                self.frozen = false;
                Ok(())
            }
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(e)
            }
        }
    }

    fn requests(&self, kind: &str) -> Vec<Value> {
        let text = fs::read_to_string(&self.out).unwrap_or_default();
        text.split_inclusive('\n')
            // A line without its newline is still being written.
            .filter(|line| line.ends_with('\n'))
            .map(|line| {
                serde_json::from_str::<Value>(line)
                    .unwrap_or_else(|e| panic!("receiver wrote a bad line ({e}): {line}"))
            })
            .filter(|v| v.get("kind").and_then(Value::as_str) == Some(kind))
            .map(|mut v| v["request"].take())
            .collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.kill();
        let _ = self.receiver.kill();
        let _ = self.receiver.wait();
        if self.keep_dir || thread::panicking() {
            eprintln!(
                "rtscope-integration: collector files kept in {} (until the next run)",
                self.dir.display()
            );
        } else {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

fn start_receiver(
    python: &Path,
    dir: &Path,
    out: &Path,
    timeout: Duration,
) -> Result<(Child, u16), Error> {
    let log_path = dir.join("receiver.log");
    let port_file = dir.join("receiver.port");
    let grpc_port_file = dir.join("receiver-grpc.port");
    let log = File::create(&log_path)
        .map_err(|e| Error::io(format!("create {}", log_path.display()), e))?;
    let log_err = log
        .try_clone()
        .map_err(|e| Error::io("dup receiver log", e))?;
    let mut cmd = Command::new(python);
    cmd.arg("-u")
        .arg(RECEIVER_PY)
        .arg("--out")
        .arg(out)
        .args(["--port", "0"])
        .arg("--port-file")
        .arg(&port_file)
        .arg("--grpc-port-file")
        .arg(&grpc_port_file)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    let mut child =
        spawn_tied(cmd).map_err(|e| Error::io(format!("spawn {}", python.display()), e))?;

    let started = Instant::now();
    let port = loop {
        if let Some(port) = fs::read_to_string(&port_file)
            .ok()
            .and_then(|s| s.trim().parse::<u16>().ok())
        {
            break port;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::Exited {
                what: "receiver.py",
                status,
                log: read_log(&log_path),
            });
        }
        if started.elapsed() >= timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::NotReady {
                what: "receiver.py",
                waited: timeout,
                log: read_log(&log_path),
            });
        }
        thread::sleep(POLL);
    };
    let left = timeout.saturating_sub(started.elapsed());
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    match wait_ready(&mut child, "receiver.py", &[addr], left, || {
        read_log(&log_path)
    }) {
        Ok(()) => Ok((child, port)),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

/// Waits until every address accepts a TCP connection, failing early if the
/// child exits.
fn wait_ready(
    child: &mut Child,
    what: &'static str,
    addrs: &[SocketAddr],
    timeout: Duration,
    log: impl Fn() -> String,
) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    let mut pending: Vec<SocketAddr> = addrs.to_vec();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::Exited {
                what,
                status,
                log: log(),
            });
        }
        pending.retain(|addr| TcpStream::connect_timeout(addr, PROBE_TIMEOUT).is_err());
        if pending.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(Error::NotReady {
                what,
                waited: timeout,
                log: log(),
            });
        }
        thread::sleep(Duration::from_millis(5));
    }
}

fn free_port_pair() -> io::Result<(u16, u16)> {
    // Both listeners are held at once so the two ports differ.
    let a = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let b = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

fn is_bind_error(log: &str) -> bool {
    let log = log.to_ascii_lowercase();
    // rotel says: "ERROR: unable to bind to 127.0.0.1:41969: Address already in use (os error 98)"
    log.contains("address already in use") || log.contains("unable to bind")
}

const WORK_DIR_PREFIX: &str = "rtscope-collector-";

fn new_work_dir() -> Result<PathBuf, Error> {
    static SEQ: AtomicU32 = AtomicU32::new(0);
    if SEQ.load(Ordering::Relaxed) == 0 {
        remove_dead_work_dirs();
    }
    let dir = std::env::temp_dir().join(format!(
        "{WORK_DIR_PREFIX}{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    // A leftover of an earlier process that had the same pid.
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    Ok(dir)
}

/// Removes the work directories (`rtscope-collector-<pid>-<n>`) of test
/// processes that are gone: killed before they could clean up, or kept for
/// debugging. So a kept directory lasts until the next test run starts a
/// collector.
fn remove_dead_work_dirs() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(WORK_DIR_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn read_log(path: &Path) -> String {
    read_log_from(path, 0)
}

fn read_log_from(path: &Path, start: u64) -> String {
    let bytes = fs::read(path).unwrap_or_default();
    let start = usize::try_from(start).unwrap_or(0).min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

/// `Some(true)` if the process is stopped (state `T`), `Some(false)` if it
/// runs, `None` if `/proc` cannot tell.
fn process_is_stopped(pid: libc::pid_t) -> Option<bool> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ...": comm may hold spaces and parentheses.
    let state = stat[stat.rfind(')')? + 1..].trim_start().chars().next()?;
    Some(state == 'T')
}
