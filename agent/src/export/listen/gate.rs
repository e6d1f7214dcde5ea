//! Who gets a connection, and how much CPU a listener may spend: one [`Gate`] per listener,
//! shared by its sockets and connections. Everything here runs on the export thread's
//! runtime (the locks are never contended by an application thread).

use super::Limits;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// One listener's connections, accept pace and CPU budget.
#[derive(Debug)]
pub(crate) struct Gate {
    limits: Limits,
    born: Instant,
    state: Mutex<State>,
    /// Notified when a connection closes or finishes a request: there may be room now.
    changed: Notify,
    stats: Stats,
}

#[derive(Debug)]
struct State {
    /// Connections being served (hyper's), at most `connections`.
    open: Vec<Arc<Conn>>,
    /// Connections waiting for their first request head, oldest first, at most `lobby`.
    lobby: std::collections::VecDeque<Arc<Waiting>>,
    /// Accept tokens (one per connection), refilled at `accepts_per_second`.
    accept_tokens: f64,
    /// CPU nanoseconds the listener may still spend (negative: in debt), refilled at
    /// `cpu_per_second` up to `cpu_burst`.
    cpu_tokens: i64,
    refilled: Instant,
}

/// What a gate did, for tests and measurements.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// Connections accepted (into the lobby).
    pub(crate) accepted: AtomicU64,
    /// Connections closed in the lobby: pushed out by newer ones, or no whole request head
    /// within the head timeout.
    pub(crate) unfinished: AtomicU64,
    /// Connections served (out of the lobby, with a request head).
    pub(crate) admitted: AtomicU64,
    /// Served connections closed to make room for a new one.
    pub(crate) shed: AtomicU64,
    /// CPU nanoseconds the listener's tasks spent.
    pub(crate) cpu_nanos: AtomicU64,
    /// Times its tasks waited for the CPU budget.
    pub(crate) paused: AtomicU64,
}

/// One open connection, as the gate sees it.
#[derive(Debug)]
pub(crate) struct Conn {
    /// Inside a request: from its head read to its response's body handed over.
    busy: AtomicBool,
    /// Requests answered on it.
    served: AtomicU32,
    /// When it was accepted or last finished a request, milliseconds since the gate's start.
    idle_since: AtomicU64,
    /// Its requests have been looked for at least once: what was already in its socket when
    /// it was taken has been read (so a request waiting there is never shed unread).
    polled: AtomicBool,
    /// Set (and notified) when the gate closes it to make room for another.
    shed: AtomicBool,
    shed_notify: Notify,
}

impl Conn {
    /// Ready once the gate closes this connection to make room.
    pub(crate) async fn shed_signal(&self) {
        while !self.shed.load(Relaxed) {
            self.shed_notify.notified().await;
        }
    }

    /// Called after each poll of the connection.
    pub(crate) fn polled(&self) {
        self.polled.store(true, Relaxed);
    }

    fn sheddable(&self) -> bool {
        self.polled.load(Relaxed) && !self.busy.load(Relaxed) && !self.shed.load(Relaxed)
    }

    /// Which to close first: a connection that never completed a request (silent or
    /// slowloris) before one that did (an idle keep-alive), each the longest idle first.
    fn shed_order(&self) -> (bool, u64) {
        (self.served.load(Relaxed) > 0, self.idle_since.load(Relaxed))
    }
}

/// A connection in the lobby: accepted, its first request head not whole yet.
#[derive(Debug, Default)]
pub(crate) struct Waiting {
    /// Set (and notified) when a newer connection pushes it out of the full lobby.
    evicted: AtomicBool,
    notify: Notify,
}

impl Waiting {
    /// Ready once it is pushed out of the lobby.
    pub(crate) async fn evicted(&self) {
        while !self.evicted.load(Relaxed) {
            self.notify.notified().await;
        }
    }
}

/// A connection inside a request; the request ends when this is dropped.
pub(crate) struct Busy {
    gate: Arc<Gate>,
    conn: Arc<Conn>,
}

impl Busy {
    pub(crate) fn enter(gate: &Arc<Gate>, conn: &Arc<Conn>) -> Busy {
        conn.busy.store(true, Relaxed);
        Busy {
            gate: gate.clone(),
            conn: conn.clone(),
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.conn.served.fetch_add(1, Relaxed);
        self.conn.idle_since.store(self.gate.millis(), Relaxed);
        self.conn.busy.store(false, Relaxed);
        self.gate.changed.notify_waiters();
    }
}

impl Gate {
    pub(crate) fn new(limits: Limits) -> Gate {
        Gate {
            limits,
            born: Instant::now(),
            state: Mutex::new(State {
                open: Vec::new(),
                lobby: std::collections::VecDeque::new(),
                accept_tokens: limits.connections as f64,
                cpu_tokens: nanos(limits.cpu_burst),
                refilled: Instant::now(),
            }),
            changed: Notify::new(),
            stats: Stats::default(),
        }
    }

    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Connections open now.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn open(&self) -> usize {
        self.state().open.len()
    }

    fn millis(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The state, its tokens refilled for the time since the last refill.
    fn state(&self) -> MutexGuard<'_, State> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let elapsed = now.duration_since(s.refilled).as_secs_f64();
        s.refilled = now;
        let l = &self.limits;
        s.accept_tokens = (s.accept_tokens + elapsed * f64::from(l.accepts_per_second))
            .min(l.connections.max(1) as f64);
        let earned = (elapsed * l.cpu_per_second.as_nanos() as f64) as i64;
        s.cpu_tokens = s.cpu_tokens.saturating_add(earned).min(nanos(l.cpu_burst));
        s
    }

    /// Puts a newly accepted connection in the lobby, pushing the oldest one out when it is
    /// full (it has waited longest without sending a whole request head).
    pub(crate) fn enter_lobby(&self) -> Arc<Waiting> {
        let mut s = self.state();
        if s.lobby.len() >= self.limits.lobby.max(1)
            && let Some(oldest) = s.lobby.pop_front()
        {
            oldest.evicted.store(true, Relaxed);
            oldest.notify.notify_one();
        }
        let waiting = Arc::new(Waiting::default());
        s.lobby.push_back(waiting.clone());
        self.stats.accepted.fetch_add(1, Relaxed);
        waiting
    }

    /// A connection leaves the lobby (`admitted`: to be served; else closed).
    pub(crate) fn leave_lobby(&self, waiting: &Arc<Waiting>, admitted: bool) {
        self.state().lobby.retain(|w| !Arc::ptr_eq(w, waiting));
        if !admitted {
            self.stats.unfinished.fetch_add(1, Relaxed);
        }
    }

    /// Takes a connection with a request head into service: when the limit is reached,
    /// closes the served connection that has waited longest without a request in progress
    /// (one that never completed a request first; never one not yet read), waiting for one
    /// while every connection is inside a request.
    pub(crate) async fn admit(&self) -> Arc<Conn> {
        loop {
            let mut changed = std::pin::pin!(self.changed.notified());
            changed.as_mut().enable();
            if let Some(conn) = self.try_admit() {
                return conn;
            }
            changed.await;
        }
    }

    fn try_admit(&self) -> Option<Arc<Conn>> {
        let mut s = self.state();
        if s.open.len() >= self.limits.connections {
            let victim = s
                .open
                .iter()
                .enumerate()
                .filter(|(_, c)| c.sheddable())
                .min_by_key(|(_, c)| c.shed_order())
                .map(|(i, _)| i)?;
            let victim = s.open.swap_remove(victim);
            victim.shed.store(true, Relaxed);
            victim.shed_notify.notify_one();
            self.stats.shed.fetch_add(1, Relaxed);
        }
        let conn = Arc::new(Conn {
            busy: AtomicBool::new(false),
            served: AtomicU32::new(0),
            idle_since: AtomicU64::new(self.millis()),
            polled: AtomicBool::new(false),
            shed: AtomicBool::new(false),
            shed_notify: Notify::new(),
        });
        s.open.push(conn.clone());
        self.stats.admitted.fetch_add(1, Relaxed);
        Some(conn)
    }

    /// Ready when the accept pace allows one more connection (taking its token).
    pub(crate) async fn accept_token(&self) {
        loop {
            let wait = {
                let mut s = self.state();
                if s.accept_tokens >= 1.0 {
                    s.accept_tokens -= 1.0;
                    return;
                }
                let rate = f64::from(self.limits.accepts_per_second.max(1));
                Duration::from_secs_f64((1.0 - s.accept_tokens) / rate)
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// A connection closed.
    pub(crate) fn leave(&self, conn: &Arc<Conn>) {
        self.state().open.retain(|c| !Arc::ptr_eq(c, conn));
        self.changed.notify_waiters();
    }

    /// How long a task must wait for CPU budget (`None`: not at all) when it may spend only
    /// what is above `reserve` nanoseconds.
    fn cpu_wait(&self, reserve: i64) -> Option<Duration> {
        let s = self.state();
        if s.cpu_tokens > reserve {
            return None;
        }
        let rate = self.limits.cpu_per_second.as_nanos().max(1) as f64;
        // Until the debt is paid and a millisecond's work is earned.
        let owed = (reserve + 1_000_000 - s.cpu_tokens) as f64;
        Some(Duration::from_secs_f64(owed / rate))
    }

    fn charge(&self, cpu_nanos: u64) {
        self.stats.cpu_nanos.fetch_add(cpu_nanos, Relaxed);
        let mut s = self.state();
        s.cpu_tokens = s
            .cpu_tokens
            .saturating_sub(i64::try_from(cpu_nanos).unwrap_or(i64::MAX));
    }
}

fn nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// CPU nanoseconds of the calling thread (where the system does not say: monotonic
/// nanoseconds, an upper bound of it).
fn cpu_now() -> u64 {
    match crate::sys::thread_cpu_seconds() {
        Some(s) => (s * 1e9) as u64,
        None => crate::sys::monotonic_nanos(),
    }
}

/// A listener task whose every poll is charged to its gate's CPU budget, and which waits
/// while the budget is spent.
pub(crate) struct Metered<F> {
    inner: Pin<Box<F>>,
    gate: Arc<Gate>,
    /// Budget this task leaves to the others (the accept loop leaves half the burst to
    /// the connections, so serving comes before taking more).
    reserve: i64,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<F: Future> Metered<F> {
    /// A connection's task: it may spend the whole budget.
    pub(crate) fn new(inner: F, gate: Arc<Gate>) -> Metered<F> {
        Metered {
            inner: Box::pin(inner),
            gate,
            reserve: 0,
            pause: None,
        }
    }

    /// The accept loop: it stops while less than half the burst is left.
    pub(crate) fn accepting(inner: F, gate: Arc<Gate>) -> Metered<F> {
        let reserve = nanos(gate.limits.cpu_burst) / 2;
        Metered {
            reserve,
            ..Metered::new(inner, gate)
        }
    }
}

impl<F: Future> Future for Metered<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        loop {
            if let Some(pause) = &mut this.pause {
                if pause.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.pause = None;
            }
            match this.gate.cpu_wait(this.reserve) {
                Some(wait) => {
                    this.gate.stats.paused.fetch_add(1, Relaxed);
                    this.pause = Some(Box::pin(tokio::time::sleep(wait)));
                }
                None => break,
            }
        }
        let start = cpu_now();
        let out = this.inner.as_mut().poll(cx);
        this.gate.charge(cpu_now().saturating_sub(start));
        out
    }
}
