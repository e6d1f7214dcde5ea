//! A misbehaving OTLP/HTTP collector on 127.0.0.1, for the fault suite: it can be slow,
//! answer an error status with `Retry-After`, stream a huge body (never buffered: the same
//! 64 KiB are written again and again), send a hostile body, echo the request head it got
//! (credentials included), accept and never read, or reset the connection; each path can
//! behave otherwise ([`Behavior::on_path`]). It counts requests (per path), their arrival
//! times and the body bytes it got out, so a test can tell what the agent did.
//! [`grpc::GrpcHostile`] is its OTLP/gRPC counterpart.
//!
//! ```no_run
//! use rtscope_integration::hostile::{Behavior, Hostile};
//!
//! let server = Hostile::start(
//!     Behavior::status(200).on_path("/v1development/profiles", Behavior::status(404)),
//! );
//! // ... point OTEL_EXPORTER_OTLP_ENDPOINT at server.endpoint() ...
//! assert_eq!(server.requests_to("/v1development/profiles"), 1);
//! ```

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::{Error, RunOutput};

pub mod grpc;

/// What the server does with each request.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Behavior {
    /// Reads the request, waits `delay`, then answers `status` with `body` (or a body of
    /// `huge` bytes streamed, when set) and the `Retry-After` header when set.
    Answer {
        /// Time before the answer starts.
        delay: Duration,
        /// HTTP status code.
        status: u16,
        /// `Retry-After` value.
        retry_after: Option<String>,
        /// Response body.
        body: Vec<u8>,
        /// When set, a body of this many bytes instead, streamed.
        huge: Option<u64>,
        /// The body is followed by the head of the request answered (request line and
        /// headers, as received).
        echo_head: bool,
    },
    /// Requests to a path of `routes` get its behavior, the others `other`'s.
    Routes {
        /// Exact request paths and what they get.
        routes: Vec<(String, Behavior)>,
        /// For every other path.
        other: Box<Behavior>,
    },
    /// Accepts connections and never reads from them or answers.
    AcceptNeverRead,
    /// Reads the request and resets the connection (TCP RST).
    Reset,
}

impl Behavior {
    /// Answers `status` at once with an empty body.
    pub fn status(status: u16) -> Behavior {
        Behavior::Answer {
            delay: Duration::ZERO,
            status,
            retry_after: None,
            body: Vec::new(),
            huge: None,
            echo_head: false,
        }
    }

    /// Requests to `path` get `behavior` instead (`Answer`s only; `AcceptNeverRead` and
    /// `Reset` act on the connection, before any path is known).
    pub fn on_path(self, path: &str, behavior: Behavior) -> Behavior {
        match self {
            Behavior::Routes { mut routes, other } => {
                routes.push((path.to_owned(), behavior));
                Behavior::Routes { routes, other }
            }
            other => Behavior::Routes {
                routes: vec![(path.to_owned(), behavior)],
                other: Box::new(other),
            },
        }
    }

    /// Ends the body with the request head it answers (an `Answer` only), as a collector
    /// that echoes what it got does.
    pub fn with_echoed_head(mut self) -> Behavior {
        if let Behavior::Answer { echo_head, .. } = &mut self {
            *echo_head = true;
        }
        self
    }

    /// What a request to `path` gets.
    fn for_path(&self, path: &str) -> &Behavior {
        match self {
            Behavior::Routes { routes, other } => routes
                .iter()
                .find(|(p, _)| p == path)
                .map_or(other.for_path(path), |(_, b)| b.for_path(path)),
            b => b,
        }
    }

    /// Adds a `Retry-After` header (an `Answer` only).
    pub fn with_retry_after(mut self, value: &str) -> Behavior {
        if let Behavior::Answer { retry_after, .. } = &mut self {
            *retry_after = Some(value.to_owned());
        }
        self
    }

    /// Sets the body (an `Answer` only).
    pub fn with_body(mut self, text: impl Into<Vec<u8>>) -> Behavior {
        if let Behavior::Answer { body, .. } = &mut self {
            *body = text.into();
        }
        self
    }

    /// Streams a body of `bytes` bytes (an `Answer` only).
    pub fn with_huge_body(mut self, bytes: u64) -> Behavior {
        if let Behavior::Answer { huge, .. } = &mut self {
            *huge = Some(bytes);
        }
        self
    }

    /// Waits `d` before answering (an `Answer` only).
    pub fn with_delay(mut self, d: Duration) -> Behavior {
        if let Behavior::Answer { delay, .. } = &mut self {
            *delay = d;
        }
        self
    }
}

#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub(crate) stop: AtomicBool,
    pub(crate) requests: AtomicU64,
    pub(crate) body_bytes_sent: AtomicU64,
    /// When each request arrived, and its path.
    pub(crate) arrivals: Mutex<Vec<(Instant, String)>>,
    /// Sockets held open by `AcceptNeverRead`.
    pub(crate) held: Mutex<Vec<TcpStream>>,
    /// Answer one request per connection (`connection: close`), as a [`crate::Gate`] does,
    /// so no connection outlives the misbehaviour.
    pub(crate) one_per_connection: bool,
}

/// The running server; stops when dropped.
#[derive(Debug)]
pub struct Hostile {
    port: u16,
    shared: Arc<Shared>,
    acceptor: Option<thread::JoinHandle<()>>,
}

/// Longest time any connection thread lives, so every test stops by itself.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);

impl Hostile {
    /// Starts the server on a free port of 127.0.0.1.
    ///
    /// # Panics
    ///
    /// If no port can be bound.
    pub fn start(behavior: Behavior) -> Hostile {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let acceptor = thread::Builder::new()
            .name("hostile-accept".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if s.stop.load(Ordering::Acquire) {
                        return;
                    }
                    let Ok(conn) = conn else { continue };
                    if matches!(behavior, Behavior::AcceptNeverRead) {
                        s.held.lock().unwrap().push(conn);
                        continue;
                    }
                    let (s, behavior) = (s.clone(), behavior.clone());
                    thread::spawn(move || serve(conn, &behavior, &s));
                }
            })
            .expect("spawn the acceptor");
        Hostile {
            port,
            shared,
            acceptor: Some(acceptor),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Requests read completely so far (with `AcceptNeverRead`: connections accepted).
    pub fn requests(&self) -> u64 {
        let held = self.shared.held.lock().unwrap().len() as u64;
        self.shared.requests.load(Ordering::Acquire) + held
    }

    /// Requests to `path` read completely so far.
    pub fn requests_to(&self, path: &str) -> u64 {
        self.arrivals_to(path).len() as u64
    }

    /// When each request arrived.
    pub fn arrivals(&self) -> Vec<Instant> {
        let arrivals = self.shared.arrivals.lock().unwrap();
        arrivals.iter().map(|(t, _)| *t).collect()
    }

    /// When each request to `path` arrived.
    pub fn arrivals_to(&self, path: &str) -> Vec<Instant> {
        let arrivals = self.shared.arrivals.lock().unwrap();
        arrivals
            .iter()
            .filter(|(_, p)| p == path)
            .map(|(t, _)| *t)
            .collect()
    }

    /// Response body bytes the clients accepted (written into their sockets).
    pub fn body_bytes_sent(&self) -> u64 {
        self.shared.body_bytes_sent.load(Ordering::Acquire)
    }
}

impl Drop for Hostile {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        // Wake the acceptor.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
        self.shared.held.lock().unwrap().clear();
    }
}

/// Serves requests on `conn` until the client closes, the server stops, or its time is up.
pub(crate) fn serve(mut conn: TcpStream, behavior: &Behavior, s: &Shared) {
    let born = Instant::now();
    let _ = conn.set_read_timeout(Some(Duration::from_millis(200)));
    let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    while !s.stop.load(Ordering::Acquire) && born.elapsed() < CONNECTION_LIFETIME {
        let head = match read_request(&mut conn, &mut buf, s) {
            Ok(Some(head)) => head,
            Ok(None) => continue,
            Err(_) => return,
        };
        let path = head.split(' ').nth(1).unwrap_or_default().to_owned();
        s.requests.fetch_add(1, Ordering::AcqRel);
        s.arrivals
            .lock()
            .unwrap()
            .push((Instant::now(), path.clone()));
        match behavior.for_path(&path) {
            Behavior::Reset => {
                reset(&conn);
                return;
            }
            Behavior::AcceptNeverRead | Behavior::Routes { .. } => return,
            Behavior::Answer {
                delay,
                status,
                retry_after,
                body,
                huge,
                echo_head,
            } => {
                let until = Instant::now() + *delay;
                while Instant::now() < until && !s.stop.load(Ordering::Acquire) {
                    thread::sleep(Duration::from_millis(10));
                }
                let mut body = body.clone();
                if *echo_head {
                    body.extend_from_slice(head.as_bytes());
                }
                if answer(&mut conn, *status, retry_after.as_deref(), &body, *huge, s).is_err()
                    || s.one_per_connection
                {
                    return;
                }
            }
        }
    }
}

/// Reads one request (headers and a `Content-Length` body) from `conn`, through `buf`, and
/// returns its head (request line and headers). `Ok(None)`: nothing complete yet (read
/// timeout); `Err`: the client closed or the request is too large.
fn read_request(conn: &mut TcpStream, buf: &mut Vec<u8>, s: &Shared) -> io::Result<Option<String>> {
    const MAX_REQUEST: usize = 64 * 1024 * 1024;
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let len: usize = head
                .to_ascii_lowercase()
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                buf.drain(..end + 4 + len);
                return Ok(Some(head));
            }
        }
        if buf.len() > MAX_REQUEST || s.stop.load(Ordering::Acquire) {
            return Err(io::Error::other("request too large or server stopping"));
        }
        match conn.read(&mut chunk) {
            Ok(0) => return Err(io::Error::other("closed")),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn answer(
    conn: &mut TcpStream,
    status: u16,
    retry_after: Option<&str>,
    body: &[u8],
    huge: Option<u64>,
    s: &Shared,
) -> io::Result<()> {
    let len = huge.unwrap_or(body.len() as u64);
    let mut head = format!(
        "HTTP/1.1 {status} Hostile\r\ncontent-type: text/plain\r\ncontent-length: {len}\r\n"
    );
    if let Some(v) = retry_after {
        head.push_str(&format!("retry-after: {v}\r\n"));
    }
    if s.one_per_connection {
        head.push_str("connection: close\r\n");
    }
    head.push_str("\r\n");
    conn.write_all(head.as_bytes())?;
    match huge {
        None => {
            conn.write_all(body)?;
            s.body_bytes_sent
                .fetch_add(body.len() as u64, Ordering::AcqRel);
        }
        Some(total) => {
            let block = vec![b'x'; 64 * 1024];
            let mut left = total;
            while left > 0 && !s.stop.load(Ordering::Acquire) {
                let n = left.min(block.len() as u64) as usize;
                conn.write_all(&block[..n])?;
                s.body_bytes_sent.fetch_add(n as u64, Ordering::AcqRel);
                left -= n as u64;
            }
        }
    }
    conn.flush()
}

/// Closes `conn` with a TCP reset (SO_LINGER 0).
fn reset(conn: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt on a socket this thread owns, with a pointer to a live `linger`
    // of the size passed.
    unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
    let _ = conn.shutdown(Shutdown::Read);
}

/// A bounded run (like [`crate::run_bounded`]) that also reports the child's peak resident
/// memory in bytes, from `wait4`'s `ru_maxrss`.
///
/// # Errors
///
/// If the command cannot be spawned.
pub fn run_measured(mut cmd: Command, timeout: Duration) -> Result<(RunOutput, u64), Error> {
    use std::os::unix::process::ExitStatusExt;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child =
        crate::process::spawn_tied(cmd).map_err(|e| Error::io("spawn the measured child", e))?;
    let pid = libc::pid_t::try_from(child.id()).unwrap_or(0);
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut out);
            }
            String::from_utf8_lossy(&out).into_owned()
        })
    };
    let stdout = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let mut timed_out = false;
    let (status, max_rss) = loop {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value for wait4 to overwrite.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: wait4 on our own child, with pointers to live locals.
        let rc = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if rc == pid {
            let rss = u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024;
            break (Some(std::process::ExitStatus::from_raw(status)), rss);
        }
        if rc < 0 {
            return Err(Error::io("wait4", io::Error::last_os_error()));
        }
        if start.elapsed() >= timeout && !timed_out {
            timed_out = true;
            let _ = child.kill();
        }
        thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let out = RunOutput {
        status: if timed_out { None } else { status },
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        timed_out,
        elapsed,
    };
    Ok((out, max_rss))
}
