//! Hostile clients of an HTTP server on 127.0.0.1, for the listener tests: many connections
//! from one thread (non-blocking sockets), each opened again as soon as the server closes it,
//! until the swarm is dropped or a minute has passed. Also [`probe`] and [`fetch`], one
//! bounded GET, and [`thread_cpu`], the CPU time of a named thread of another process.
//!
//! ```no_run
//! use rtscope_integration::swarm::{Kind, Swarm};
//!
//! let addr = "127.0.0.1:6060".parse().unwrap();
//! let swarm = Swarm::start(addr, 32, Kind::Silent);
//! // ... probe another port ...
//! let connects = swarm.stop();
//! ```

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Longest a swarm runs, so every test stops by itself.
const LIFETIME: Duration = Duration::from_secs(60);

/// What each connection of a swarm does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// Connects and sends nothing.
    Silent,
    /// Sends the start of a request head, then one more byte every 100 ms, never ending it.
    Slowloris,
    /// Sends one whole keep-alive request, reads the answer, then says nothing more.
    IdleKeepAlive,
}

/// The running swarm; stops when dropped.
#[derive(Debug)]
pub struct Swarm {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<u64>>,
}

impl Swarm {
    /// Starts `n` connections of `kind` to `addr`.
    ///
    /// # Panics
    ///
    /// If the thread cannot be spawned.
    pub fn start(addr: SocketAddr, n: usize, kind: Kind) -> Swarm {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = thread::Builder::new()
            .name("swarm".into())
            .spawn(move || run(addr, n, kind, &s))
            .expect("spawn the swarm");
        Swarm {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops it; the connections it opened.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Release);
        self.thread.take().map_or(0, |t| t.join().unwrap_or(0))
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(addr: SocketAddr, n: usize, kind: Kind, stop: &AtomicBool) -> u64 {
    let born = Instant::now();
    let mut connects = 0;
    let mut conns: Vec<Option<TcpStream>> = (0..n).map(|_| None).collect();
    let mut dripped = Instant::now();
    let mut buf = [0u8; 4096];
    while !stop.load(Ordering::Acquire) && born.elapsed() < LIFETIME {
        let drip = kind == Kind::Slowloris && dripped.elapsed() >= Duration::from_millis(100);
        if drip {
            dripped = Instant::now();
        }
        for c in &mut conns {
            let closed = match c {
                None => true,
                Some(stream) => {
                    // Whatever the server sends is read and dropped; 0 bytes: it closed.
                    let closed = loop {
                        match stream.read(&mut buf) {
                            Ok(0) => break true,
                            Ok(_) => {}
                            Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                            Err(_) => break true,
                        }
                    };
                    if !closed && drip {
                        let _ = stream.write(b"X");
                    }
                    closed
                }
            };
            if closed {
                *c = open(addr, kind);
                connects += 1;
            }
        }
        thread::sleep(Duration::from_millis(2));
    }
    connects
}

fn open(addr: SocketAddr, kind: Kind) -> Option<TcpStream> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    match kind {
        Kind::Silent => {}
        Kind::Slowloris => {
            let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nX-");
        }
        Kind::IdleKeepAlive => {
            // One whole request, answered before the connection is left idle.
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = s.write_all(b"GET /nothing-here HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
            let mut head = [0u8; 1024];
            let _ = s.read(&mut head);
        }
    }
    s.set_nonblocking(true).ok()?;
    Some(s)
}

/// One `GET path` on a new connection (`Connection: close`), waiting at most 10 s for the
/// whole answer: its status (0 when none came).
pub fn probe(addr: SocketAddr, path: &str) -> u16 {
    fetch(addr, path).0
}

/// Probes `path` every 50 ms until it answers 200 or `within` has passed: the agent binds
/// its listener on the export thread, after `install` returned. The last status (0: none).
pub fn probe_until_served(addr: SocketAddr, path: &str, within: Duration) -> u16 {
    let until = std::time::Instant::now() + within;
    loop {
        let status = probe(addr, path);
        if status == 200 || std::time::Instant::now() >= until {
            return status;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One `GET path` on a new connection (`Connection: close`), waiting at most 10 s for the
/// whole answer: its status (0 when none came) and its body (at most 64 MiB).
pub fn fetch(addr: SocketAddr, path: &str) -> (u16, Vec<u8>) {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(10)) else {
        return (0, Vec::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    if s.write_all(request.as_bytes()).is_err() {
        return (0, Vec::new());
    }
    let mut out = Vec::new();
    let _ = s.take(64 << 20).read_to_end(&mut out);
    let head = String::from_utf8_lossy(&out[..out.len().min(64)]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or_else(Vec::new, |i| out[i + 4..].to_vec());
    (status, body)
}

/// CPU time the thread named `name` of process `pid` has run, from Linux's schedstat
/// (`None` when there is no such thread or the file cannot be read).
pub fn thread_cpu(pid: u32, name: &str) -> Option<Duration> {
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).ok()? {
        let dir = task.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() == name {
            let stat = std::fs::read_to_string(dir.join("schedstat")).ok()?;
            return stat
                .split_whitespace()
                .next()?
                .parse()
                .ok()
                .map(Duration::from_nanos);
        }
    }
    None
}
