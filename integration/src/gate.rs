//! A collector that misbehaves for a while, then recovers: a proxy on 127.0.0.1 in front of
//! the real one that, while closed, treats each new connection as the misbehaving collector
//! of [`crate::hostile`] does (an error status with `Retry-After`, slow, huge or hostile
//! bodies, never reads, resets), one request per connection (`connection: close`), so
//! nothing reaches the collector and no connection outlives the misbehaviour; once opened, the
//! misbehaving connections end and new ones pass through to the collector untouched. The
//! data the collector holds afterwards can then be compared with the truth.
//!
//! ```no_run
//! use rtscope_integration::{Collector, Gate, hostile::Behavior};
//!
//! let collector = Collector::start();
//! let gate = Gate::start(collector.http_addr(), Behavior::status(503)).unwrap();
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
use crate::hostile::{Behavior, Shared, serve};

/// The gate; stops accepting when dropped.
#[derive(Debug)]
#[must_use = "the gate stops when dropped"]
pub struct Gate {
    addr: SocketAddr,
    open: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    closed: Arc<Shared>,
    /// Connections held unread (they are let go when the gate opens).
    held: Arc<AtomicU64>,
}

impl Gate {
    /// Listens on a free port of 127.0.0.1, closed: every connection gets `behavior` until
    /// [`Gate::open`].
    ///
    /// # Errors
    ///
    /// If it cannot listen.
    pub fn start(upstream: SocketAddr, behavior: Behavior) -> Result<Gate, Error> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| Error::io("bind the gate on 127.0.0.1", e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::io("gate address", e))?;
        let open = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let closed = Arc::new(Shared {
            one_per_connection: true,
            ..Shared::default()
        });
        let held = Arc::new(AtomicU64::new(0));
        let (o, s, c, h) = (open.clone(), stop.clone(), closed.clone(), held.clone());
        thread::Builder::new()
            .name("gate".into())
            .spawn(move || {
                for client in listener.incoming() {
                    if s.load(Ordering::Acquire) {
                        break;
                    }
                    let Ok(client) = client else { continue };
                    if o.load(Ordering::Acquire) {
                        pass_through(client, upstream);
                    } else if matches!(behavior, Behavior::AcceptNeverRead) {
                        c.held.lock().unwrap().push(client);
                        h.fetch_add(1, Ordering::AcqRel);
                    } else {
                        let (c, behavior) = (c.clone(), behavior.clone());
                        thread::spawn(move || serve(client, &behavior, &c));
                    }
                }
            })
            .map_err(|e| Error::io("start the gate thread", e))?;
        Ok(Gate {
            addr,
            open,
            stop,
            closed,
            held,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Recovers: the misbehaving connections end (at their next read, or at once for those
    /// never read), new connections go through to the collector.
    pub fn open(&self) {
        self.open.store(true, Ordering::Release);
        self.closed.stop.store(true, Ordering::Release);
        self.closed.held.lock().unwrap().clear();
    }

    /// Requests the closed gate took (read whole; connections, for `AcceptNeverRead`).
    pub fn refused(&self) -> u64 {
        self.closed.requests.load(Ordering::Acquire) + self.held.load(Ordering::Acquire)
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.closed.stop.store(true, Ordering::Release);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(100));
    }
}

fn pass_through(client: TcpStream, upstream: SocketAddr) {
    let Ok(server) = TcpStream::connect(upstream) else {
        return;
    };
    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    thread::spawn(move || pipe(client, server));
    thread::spawn(move || pipe(s2, c2));
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
