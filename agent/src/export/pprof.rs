//! `/debug/pprof/`: the heap profiles served at `RTSCOPE_PPROF_ADDR` as Go's
//! `net/http/pprof` serves them, so `go tool pprof http://ADDR/debug/pprof/heap` works.
//!
//! - `/debug/pprof/heap` (`inuse_space` first) and `/debug/pprof/allocs` (`alloc_space`
//!   first): the profile since the start. A request gets a profile built at most
//!   [`CACHE_FOR`] before it arrived, never an older one: each kind is built at most once
//!   per [`CACHE_FOR`], and at most so often that its builds take a quarter of the
//!   listener's CPU bound (a build of 25 ms under a bound of 20 ms a second: once every
//!   5 s), but at least once every [`MAX_WAIT`] (5 s) for requests waiting; a request that comes sooner waits on the runtime (blocking nothing) for the next
//!   build, which every request waiting gets, so a flood of requests costs a bounded number
//!   of builds and the listener's CPU bound covers the rest.
//! - `?seconds=N` (1 to [`MAX_SECONDS`]): Go's delta profile, the difference between now and
//!   N seconds later (`go tool pprof -seconds N` asks for it). The wait is a timer on the
//!   export thread's runtime, so it blocks nothing; at most one delta is in progress (another
//!   is answered 503 with `Retry-After`), so at most one snapshot is held.
//! - `/debug/pprof/`: what is served here.
//!
//! `?debug=N` (Go's legacy text format) is not served: 400 saying so.

use super::listen::{Answer, Limits, Reply, Request, Routes};
use crate::config::Listen;
use crate::profile::Show;
use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::{self, HeaderName};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The least time a built profile is served before a request builds a new one.
pub(crate) const CACHE_FOR: Duration = Duration::from_secs(1);
/// The share of the listener's CPU bound one kind of profile's builds may take.
const BUILD_SHARE: f64 = 0.25;
/// The longest a request waits for a fresh build, whatever the last one cost: clients time
/// out (10 s is common), and a build's CPU cost read on a loaded machine can be many times
/// its cost on a quiet one.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(5);
/// Longest delta profile (`?seconds=`).
pub(crate) const MAX_SECONDS: u64 = 300;

const PROTOBUF: &str = "application/octet-stream";

/// A built profile: when, what it cost, the bytes.
struct Built {
    at: Instant,
    cost: Duration,
    bytes: Bytes,
}

/// The profiles' shared state: the cache of each kind and the delta in progress.
pub(crate) struct Profiles {
    /// The listener's CPU bound per second.
    cpu_per_second: Duration,
    /// `[heap, allocs]`.
    cache: Mutex<[Option<Built>; 2]>,
    /// When the delta in progress ends.
    delta_until: Mutex<Option<Instant>>,
    builds: AtomicU64,
}

/// Ends the delta in progress when dropped (answered, or its client gone).
struct DeltaSlot(Arc<Profiles>);

impl Drop for DeltaSlot {
    fn drop(&mut self) {
        *self
            .0
            .delta_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }
}

impl Profiles {
    /// Profiles built so far (cumulative and delta).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn builds(&self) -> u64 {
        self.builds.load(Relaxed)
    }

    fn new(cpu_per_second: Duration) -> Profiles {
        Profiles {
            cpu_per_second,
            cache: Mutex::default(),
            delta_until: Mutex::default(),
            builds: AtomicU64::new(0),
        }
    }

    /// How long a profile that cost `cost` to build is served: at least [`CACHE_FOR`], and
    /// long enough that its builds take at most [`BUILD_SHARE`] of the CPU bound, but never
    /// longer than [`MAX_WAIT`] (a build dearer than `MAX_WAIT` x the share then takes more).
    fn keep_for(&self, cost: Duration) -> Duration {
        let rate = self.cpu_per_second.as_secs_f64().max(1e-6);
        CACHE_FOR.max(cost.mul_f64(1.0 / (BUILD_SHARE * rate)).min(MAX_WAIT))
    }

    /// The profile of `show` since the start, for a request made at `asked`: the cached one
    /// if it was built at most [`CACHE_FOR`] before the request, else one built now; or, while
    /// the last build's share of the CPU bound is not earned back ([`Profiles::keep_for`]),
    /// how long to wait before asking again. So an answer is never older than its request by
    /// more than [`CACHE_FOR`]: a flood waits for the next build instead of reading a stale one.
    fn cumulative(&self, show: Show, asked: Instant) -> Result<Bytes, Duration> {
        let slot = show as usize;
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(b) = &cache[slot] {
            if b.at + CACHE_FOR >= asked {
                return Ok(b.bytes.clone());
            }
            let next = b.at + self.keep_for(b.cost);
            let now = Instant::now();
            if next > now {
                return Err(next - now);
            }
        }
        let cpu = || crate::sys::thread_cpu_seconds().unwrap_or(0.0);
        let (t0, started) = (cpu(), Instant::now());
        let bytes = Bytes::from(crate::profile::encode(show));
        // The thread's CPU clock where there is one, else the wall clock.
        let cost = match cpu() - t0 {
            c if c > 0.0 => Duration::from_secs_f64(c),
            _ => started.elapsed(),
        };
        self.builds.fetch_add(1, Relaxed);
        cache[slot] = Some(Built {
            at: Instant::now(),
            cost,
            bytes: bytes.clone(),
        });
        Ok(bytes)
    }

    fn answer(self: &Arc<Self>, name: &'static str, show: Show, request: &Request<'_>) -> Answer {
        if request.param("debug").is_some_and(|d| d != "0") {
            return Reply::text(
                StatusCode::BAD_REQUEST,
                "debug=N (Go's legacy text format) is not served; read the profile with \
                 go tool pprof",
            )
            .into();
        }
        let Some(seconds) = request.param("seconds") else {
            let asked = Instant::now();
            return match self.cumulative(show, asked) {
                Ok(bytes) => attachment(Reply::ok(PROTOBUF, bytes), name).into(),
                Err(wait) => {
                    let profiles = self.clone();
                    Answer::Later(Box::pin(async move {
                        let mut wait = wait;
                        let bytes = loop {
                            tokio::time::sleep(wait).await;
                            match profiles.cumulative(show, asked) {
                                Ok(bytes) => break bytes,
                                Err(more) => wait = more,
                            }
                        };
                        attachment(Reply::ok(PROTOBUF, bytes), name)
                    }))
                }
            };
        };
        let seconds = match seconds.parse::<u64>() {
            Ok(s) if (1..=MAX_SECONDS).contains(&s) => Duration::from_secs(s),
            _ => {
                return Reply::text(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "invalid value for \"seconds\": it must be a whole number of seconds \
                         from 1 to {MAX_SECONDS}"
                    ),
                )
                .into();
            }
        };
        let slot = {
            let mut until = self
                .delta_until
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(end) = *until {
                let left = end.saturating_duration_since(Instant::now()).as_secs() + 1;
                return Reply::text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "another delta profile is in progress for {left} s more; one at a time"
                    ),
                )
                .with_header(header::RETRY_AFTER, &left.to_string())
                .into();
            }
            *until = Some(Instant::now() + seconds);
            DeltaSlot(self.clone())
        };
        let before = crate::profile::snapshot();
        let profiles = self.clone();
        Answer::Later(Box::pin(async move {
            tokio::time::sleep(seconds).await;
            let after = crate::profile::snapshot();
            let body = crate::profile::encode_delta(&before, &after, show);
            profiles.builds.fetch_add(1, Relaxed);
            drop(slot);
            attachment(Reply::ok(PROTOBUF, body), &format!("{name}-delta"))
        }))
    }
}

/// Go's download headers.
fn attachment(reply: Reply, filename: &str) -> Reply {
    reply
        .with_header(
            header::CONTENT_DISPOSITION,
            &format!("attachment; filename=\"{filename}\""),
        )
        .with_header(HeaderName::from_static("x-content-type-options"), "nosniff")
}

/// What `/debug/pprof/` lists.
const INDEX: &str = "<html>
<head><title>/debug/pprof/</title></head>
<body>
/debug/pprof/
<br>
<p>Heap profiles of this process, sampled by rtscope, in Go's format (read them with <code>go tool pprof</code>):</p>
<table>
<thead><td>Profile</td><td>What</td></thead>
<tr><td><a href=\"allocs\">allocs</a></td><td>Memory allocated since the start, by call stack (alloc_space first; the in-use values are there too).</td></tr>
<tr><td><a href=\"heap\">heap</a></td><td>Memory in use now, by call stack (inuse_space first; the allocated values are there too).</td></tr>
</table>
<p>Add <code>?seconds=N</code> (1 to 300) to either for what changed over the next N seconds, as <code>go tool pprof -seconds N</code> asks. The other profiles of Go's net/http/pprof (goroutine, profile, trace, ...) are not served.</p>
</body>
</html>
";

/// Adds the `/debug/pprof` routes at `addr`, to be served within `limits`; their shared
/// state.
pub(crate) fn add(routes: &mut Routes, addr: SocketAddr, limits: &Limits) -> Arc<Profiles> {
    let at = Listen {
        host: addr.ip().to_string(),
        port: addr.port(),
        set_by: "RTSCOPE_PPROF_ADDR (or with_pprof_addr)",
    };
    let profiles = Arc::new(Profiles::new(limits.cpu_per_second));
    for (path, name, show) in [
        ("/debug/pprof/heap", "heap", Show::InUse),
        ("/debug/pprof/allocs", "allocs", Show::Allocs),
    ] {
        let p = profiles.clone();
        routes.add(&at, path, move |r: &Request<'_>| p.answer(name, show, r));
    }
    for path in ["/debug/pprof/", "/debug/pprof"] {
        routes.add(&at, path, |_: &Request<'_>| {
            Reply::ok("text/html; charset=utf-8", INDEX)
        });
    }
    profiles
}

#[cfg(test)]
mod tests;
