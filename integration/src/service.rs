//! A long-running child process that serves HTTP on 127.0.0.1 (the `service` example), a
//! small HTTP/1.1 client to drive it, and a temporary directory.
//!
//! ```no_run
//! use std::time::Duration;
//! use rtscope_integration::{Service, cargo_bin};
//!
//! let mut cmd = std::process::Command::new(cargo_bin("service"));
//! cmd.arg("127.0.0.1:0");
//! let service = Service::start(cmd, Duration::from_secs(20)).unwrap();
//! let mut client = service.client().unwrap();
//! assert_eq!(client.get("/health").unwrap().status, 200);
//! let out = service.stop(Duration::from_secs(10));
//! assert!(out.success(), "{out:?}");
//! ```

use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::process::spawn_tied;
use crate::{Error, RunOutput};

/// The stdout line a service prints once it accepts connections: `listening on http://ADDR`.
pub const LISTENING_PREFIX: &str = "listening on http://";

/// Longest response head (status line and headers) the client reads.
const MAX_HEAD: usize = 16 * 1024;
/// Largest response body the client reads.
const MAX_BODY: usize = 16 << 20;
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// A child process serving HTTP, started by [`Service::start`]; SIGKILLed on drop (and by
/// the kernel if the test process dies) unless [`stop`](Service::stop)ped.
#[derive(Debug)]
#[must_use = "the service is killed when dropped"]
pub struct Service {
    child: Option<Child>,
    addr: SocketAddr,
    started: Instant,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<thread::JoinHandle<()>>,
}

impl Service {
    /// Spawns `cmd` with stdout and stderr captured and waits (at most `timeout`) for its
    /// `listening on http://ADDR` line.
    ///
    /// # Errors
    ///
    /// If it cannot be spawned, exits first, or prints no address within `timeout`.
    pub fn start(mut cmd: Command, timeout: Duration) -> Result<Service, Error> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = spawn_tied(cmd).map_err(|e| Error::io(format!("spawn {program}"), e))?;
        let stdout = Arc::new(Mutex::new(String::new()));
        let stderr = Arc::new(Mutex::new(String::new()));
        let (addr_tx, addr_rx) = mpsc::channel::<SocketAddr>();
        let mut readers = Vec::new();
        if let Some(pipe) = child.stdout.take() {
            let out = stdout.clone();
            readers.push(thread::spawn(move || {
                collect_lines(pipe, &out, |line| {
                    if let Some(a) = line.trim().strip_prefix(LISTENING_PREFIX)
                        && let Ok(a) = a.parse()
                    {
                        let _ = addr_tx.send(a);
                    }
                });
            }));
        }
        if let Some(pipe) = child.stderr.take() {
            let err = stderr.clone();
            readers.push(thread::spawn(move || collect_lines(pipe, &err, |_| {})));
        }
        let mut service = Service {
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            started,
            stdout,
            stderr,
            readers,
        };
        let deadline = started + timeout;
        loop {
            match addr_rx.recv_timeout(Duration::from_millis(20)) {
                Ok(addr) => {
                    service.addr = addr;
                    return Ok(service);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                // Its stdout is closed: it is exiting (checked below).
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    thread::sleep(Duration::from_millis(20));
                }
            }
            let child = service.child.as_mut().expect("child until stopped");
            if let Ok(Some(status)) = child.try_wait() {
                return Err(Error::Exited {
                    what: "service",
                    status,
                    log: service.log(),
                });
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    what: "service",
                    waited: timeout,
                    log: service.log(),
                });
            }
        }
    }

    /// The address it listens on (from its stdout line).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its process id (`None` once stopped).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A new keep-alive connection to it.
    ///
    /// # Errors
    ///
    /// If the connection cannot be made.
    pub fn client(&self) -> io::Result<HttpClient> {
        HttpClient::connect(self.addr)
    }

    /// One request on a connection of its own.
    ///
    /// # Errors
    ///
    /// On a connection or protocol error.
    pub fn get(&self, path: &str) -> io::Result<HttpResponse> {
        self.client()?.get(path)
    }

    /// Its stdout and stderr so far.
    pub fn log(&self) -> String {
        format!(
            "stdout:\n{}\nstderr:\n{}",
            lock(&self.stdout),
            lock(&self.stderr)
        )
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Asks it to stop with `GET /quit`, waits at most `timeout` for it to exit (SIGKILL
    /// after that: `timed_out`), and returns what it printed.
    pub fn stop(self, timeout: Duration) -> RunOutput {
        let _ = self.get("/quit");
        self.wait(timeout)
    }

    /// Waits at most `timeout` for it to exit by itself (SIGKILL after that: `timed_out`).
    pub fn wait(mut self, timeout: Duration) -> RunOutput {
        let mut child = self.child.take().expect("child until stopped");
        let status = crate::process::wait_until(
            &mut child,
            Instant::now() + timeout,
            crate::process::POLL,
            || {},
        );
        let timed_out = matches!(status, Ok(None));
        let status = status.ok().flatten();
        let elapsed = self.started.elapsed();
        // The pipes close when it exits; a grandchild holding them is not waited for long.
        let grace = Instant::now() + Duration::from_secs(1);
        for r in self.readers.drain(..) {
            while !r.is_finished() && Instant::now() < grace {
                thread::sleep(Duration::from_millis(5));
            }
        }
        RunOutput {
            status,
            stdout: lock(&self.stdout).clone(),
            stderr: lock(&self.stderr).clone(),
            timed_out,
            elapsed,
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn lock(s: &Mutex<String>) -> std::sync::MutexGuard<'_, String> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

fn collect_lines(pipe: impl Read, into: &Mutex<String>, mut each: impl FnMut(&str)) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                each(&text);
                lock(into).push_str(&text);
            }
        }
    }
}

/// A response read by [`HttpClient`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// The body (at most 16 MiB).
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    ///
    /// # Errors
    ///
    /// If it is not JSON.
    pub fn json(&self) -> serde_json::Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
    }
}

/// A minimal HTTP/1.1 client on one keep-alive connection: requests with a body of known
/// length, responses with `Content-Length` (what hyper sends for full bodies). Every read
/// and write times out after 20 s.
#[derive(Debug)]
pub struct HttpClient {
    stream: BufReader<TcpStream>,
}

impl HttpClient {
    /// Connects to `addr`.
    ///
    /// # Errors
    ///
    /// If the connection cannot be made.
    pub fn connect(addr: SocketAddr) -> io::Result<HttpClient> {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(HttpClient {
            stream: BufReader::new(stream),
        })
    }

    /// `GET path`.
    ///
    /// # Errors
    ///
    /// On a connection or protocol error.
    pub fn get(&mut self, path: &str) -> io::Result<HttpResponse> {
        self.request("GET", path, None)
    }

    /// `POST path` with a JSON body.
    ///
    /// # Errors
    ///
    /// On a connection or protocol error.
    pub fn post_json(&mut self, path: &str, body: &[u8]) -> io::Result<HttpResponse> {
        self.request("POST", path, Some(body))
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
    ) -> io::Result<HttpResponse> {
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
        if let Some(body) = body {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes())?;
        if let Some(body) = body {
            stream.write_all(body)?;
        }
        self.read_response()
    }

    fn read_response(&mut self) -> io::Result<HttpResponse> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
        let mut status = None;
        let mut length = None;
        let mut head_bytes = 0;
        let mut line = String::new();
        loop {
            line.clear();
            let n = (&mut self.stream)
                .take((MAX_HEAD - head_bytes) as u64)
                .read_line(&mut line)?;
            if n == 0 {
                return Err(bad("connection closed before the end of the response head"));
            }
            head_bytes += n;
            let l = line.trim_end();
            if status.is_none() {
                let code = l
                    .strip_prefix("HTTP/1.1 ")
                    .and_then(|r| r.get(..3))
                    .and_then(|c| c.parse::<u16>().ok());
                status = Some(code.ok_or_else(|| bad("bad status line"))?);
            } else if l.is_empty() {
                break;
            } else if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = Some(v.trim().parse::<usize>().map_err(|_| bad("bad length"))?);
            }
            if head_bytes >= MAX_HEAD {
                return Err(bad("response head too long"));
            }
        }
        let length = length.ok_or_else(|| bad("no Content-Length"))?;
        if length > MAX_BODY {
            return Err(bad("response body too large"));
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body)?;
        Ok(HttpResponse {
            status: status.unwrap_or(0),
            body,
        })
    }
}

/// A directory under the system temp directory, removed on drop (kept, and its path
/// printed, when the test panics).
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A new empty directory named after `label`, the process and a counter.
    ///
    /// # Panics
    ///
    /// If it cannot be created.
    pub fn new(label: &str) -> TempDir {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "rtscope-it-{label}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir { path }
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The regular files in it (not recursive), with their sizes, sorted by name.
    pub fn files(&self) -> Vec<(String, u64)> {
        let mut files: Vec<(String, u64)> = fs::read_dir(&self.path)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let meta = e.metadata().ok()?;
                meta.is_file()
                    .then(|| (e.file_name().to_string_lossy().into_owned(), meta.len()))
            })
            .collect();
        files.sort();
        files
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("rtscope-integration: kept {}", self.path.display());
        } else {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}
