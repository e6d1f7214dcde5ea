//! A slow collector: a TCP proxy on 127.0.0.1 in front of the real one that, while slowed,
//! holds every chunk the client sends for a while before passing it on. The request still
//! reaches the collector whole (the proxy read it already), after the client gave up
//! waiting: the case where a collector keeps data whose answer came too late.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use crate::Error;

/// A delaying TCP proxy; stops accepting when dropped (open connections end with either side).
#[derive(Debug)]
#[must_use = "the proxy stops when dropped"]
pub struct SlowProxy {
    addr: SocketAddr,
    delay_ms: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl SlowProxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `upstream`,
    /// at first without delay.
    ///
    /// # Errors
    ///
    /// If it cannot listen.
    pub fn start(upstream: SocketAddr) -> Result<SlowProxy, Error> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| Error::io("bind the proxy on 127.0.0.1", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("proxy address", e))?;
        let delay_ms = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (d, s) = (delay_ms.clone(), stop.clone());
        thread::Builder::new()
            .name("slow-proxy".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if s.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    let Ok(server) = TcpStream::connect(upstream) else {
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                        continue;
                    };
                    let d = d.clone();
                    thread::spawn(move || pipe(client, server, Some(d)));
                    thread::spawn(move || pipe(s2, c2, None));
                }
            })
            .map_err(|e| Error::io("start the proxy thread", e))?;
        Ok(SlowProxy {
            addr,
            delay_ms,
            stop,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Holds each client chunk this long before forwarding it (zero: no delay).
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::Release);
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(100));
    }
}

/// Copies `from` to `to` until either ends, sleeping `delay` (client to server) before each
/// chunk.
fn pipe(mut from: TcpStream, mut to: TcpStream, delay: Option<Arc<AtomicU64>>) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(d) = &delay {
            let ms = d.load(Ordering::Acquire);
            if ms > 0 {
                thread::sleep(Duration::from_millis(ms));
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    // Client to server: a client that gave up must not cancel the request at the server
    // (the connection closes once the server answered into the void). Server to client:
    // pass the end on.
    if delay.is_none() {
        let _ = to.shutdown(Shutdown::Write);
    }
}
