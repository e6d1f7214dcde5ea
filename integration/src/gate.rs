//! A collector that refuses for a while: an HTTP proxy on 127.0.0.1 in front of the real one
//! that, while closed, reads each new connection's first request whole and answers it with
//! a status (503, 429, optionally with `Retry-After`) and `Connection: close`, so nothing
//! reaches the collector; once opened, new connections are passed through untouched. The
//! case where the collector says "not accepted" and the data must come with a later export.
//!
//! ```no_run
//! use rtscope_integration::{Collector, Gate};
//!
//! let collector = Collector::start();
//! let gate = Gate::start(collector.http_addr(), 503, None).unwrap();
//! // ... export to gate.endpoint() ...
//! gate.open();
//! ```

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use crate::Error;

/// Largest request head and body the gate reads before refusing (an OTLP export is smaller).
const MAX_REQUEST: usize = 16 * 1024 * 1024;

/// The refusing proxy; stops accepting when dropped.
#[derive(Debug)]
#[must_use = "the gate stops when dropped"]
pub struct Gate {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    refused: Arc<AtomicU64>,
}

impl Gate {
    /// Listens on a free port of 127.0.0.1, closed: every request is answered `status`
    /// (with `Retry-After: retry_after` when given) until [`Gate::open`].
    ///
    /// # Errors
    ///
    /// If it cannot listen.
    pub fn start(
        upstream: SocketAddr,
        status: u16,
        retry_after: Option<&str>,
    ) -> Result<Gate, Error> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| Error::io("bind the gate on 127.0.0.1", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("gate address", e))?;
        let open = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(AtomicU64::new(0));
        let mut answer = format!("HTTP/1.1 {status} Refused\r\ncontent-length: 0\r\n");
        if let Some(v) = retry_after {
            answer.push_str(&format!("retry-after: {v}\r\n"));
        }
        answer.push_str("connection: close\r\n\r\n");
        let (o, s, r) = (open.clone(), stop.clone(), refused.clone());
        thread::Builder::new()
            .name("gate".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if s.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let (o, r, answer) = (o.clone(), r.clone(), answer.clone());
                    thread::spawn(move || serve(client, upstream, &o, &r, &answer));
                }
            })
            .map_err(|e| Error::io("start the gate thread", e))?;
        Ok(Gate {
            addr,
            open,
            stop,
            refused,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// From now on, new connections go through to the collector.
    pub fn open(&self) {
        self.open.store(true, Ordering::Release);
    }

    /// Requests refused so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Acquire)
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(100));
    }
}

fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    open: &AtomicBool,
    refused: &AtomicU64,
    answer: &str,
) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(10)));
    if open.load(Ordering::Acquire) {
        let Ok(server) = TcpStream::connect(upstream) else {
            return;
        };
        let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
            return;
        };
        let _ = client.set_read_timeout(None);
        thread::spawn(move || pipe(c2, s2));
        pipe(server, client);
        return;
    }
    // Reads the request whole (head, then content-length bytes of body), then refuses it.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    while request_end(&buf).is_none_or(|end| buf.len() < end) {
        if buf.len() > MAX_REQUEST {
            return;
        }
        match client.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    refused.fetch_add(1, Ordering::AcqRel);
    let _ = client.write_all(answer.as_bytes());
    let _ = client.shutdown(Shutdown::Both);
}

/// Where the first request in `buf` ends, once its head is complete.
fn request_end(buf: &[u8]) -> Option<usize> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    Some(head_end + length)
}

/// Copies `from` to `to` until either ends, then passes the end on.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
