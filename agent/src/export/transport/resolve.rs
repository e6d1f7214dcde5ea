//! Connecting to a collector: one name resolver shared by the HTTP and gRPC sinks, then TCP.
//!
//! `getaddrinfo` blocks and cannot be cancelled, and a dead DNS server can hold it for any
//! time. So at most one lookup is in flight per process, on a thread of its own
//! (`rtscope-lookup`, in the agent's account). A connect attempt that finds a lookup in
//! flight waits for that same lookup's answer, up to its connect deadline, instead of
//! starting another; one that runs out of time fails at once, nothing sent ("name lookup
//! still in progress"), and leaves no blocking job queued behind the hung one: the next
//! attempt, whenever it comes, finds the same lookup or its answer. IP-literal hosts are never
//! looked up, and a successful answer is reused for [`CACHE_FOR`].

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::sync::watch;

/// How long a successful lookup's addresses are reused.
const CACHE_FOR: Duration = Duration::from_secs(30);
/// Most addresses of one answer tried.
const MAX_ADDRESSES: usize = 8;

/// A lookup's answer: the addresses, or why there are none.
type Answer = Result<Arc<[SocketAddr]>, String>;

struct InFlight {
    host: String,
    answer: watch::Receiver<Option<Answer>>,
}

struct Cached {
    host: String,
    addresses: Arc<[SocketAddr]>,
    at: Instant,
}

struct State {
    in_flight: Option<InFlight>,
    cached: Option<Cached>,
}

static STATE: Mutex<State> = Mutex::new(State {
    in_flight: None,
    cached: None,
});

fn locked() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A TCP connection to `host:port` (`host` a name, an IPv4 address or a bracketed IPv6 one)
/// by `deadline`; the error is one line, and every error means nothing was sent.
pub(super) async fn connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, String> {
    let addresses = lookup(host, port, deadline).await?;
    let mut last = None;
    for address in addresses.iter() {
        let deadline = tokio::time::Instant::from_std(deadline);
        match tokio::time::timeout_at(deadline, TcpStream::connect(*address)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => last = Some(e),
            Err(_) => return Err(format!("no connection to {host}:{port} in time")),
        }
    }
    Err(match last {
        Some(e) => format!("cannot connect to {host}:{port}: {e}"),
        None => format!("{host} has no address"),
    })
}

/// The addresses of `host:port`, waiting at most until `deadline` (see the module's docs).
pub(super) async fn lookup(host: &str, port: u16, deadline: Instant) -> Answer {
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(Arc::from([SocketAddr::new(ip, port)]));
    }
    loop {
        let (mut answer, in_flight) = {
            let mut state = locked();
            if let Some(c) = &state.cached
                && c.host == host
                && c.at.elapsed() < CACHE_FOR
            {
                return Ok(with_port(&c.addresses, port));
            }
            match &state.in_flight {
                Some(l) => (l.answer.clone(), l.host.clone()),
                None => (start(&mut state, host)?, host.to_owned()),
            }
        };
        let waited = tokio::time::timeout_at(
            tokio::time::Instant::from_std(deadline),
            answer.wait_for(Option::is_some),
        )
        .await
        .map(|got| got.map(|a| a.clone()));
        let answer = match waited {
            Ok(Ok(got)) => got.unwrap_or_else(|| Err(String::new())),
            // The lookup thread ended without a word (it cannot, short of a bug): forget it.
            Ok(Err(_)) => {
                let mut state = locked();
                if state
                    .in_flight
                    .as_ref()
                    .is_some_and(|l| l.answer.same_channel(&answer))
                {
                    state.in_flight = None;
                }
                Err(format!(
                    "the name lookup of {in_flight} ended without an answer"
                ))
            }
            Err(_) => {
                return Err(format!(
                    "name lookup of {in_flight} still in progress; nothing sent (a slow or dead \
                     DNS server: at most one lookup runs at a time)"
                ));
            }
        };
        // Another name's lookup ended: now there is room for this one.
        if in_flight == host {
            return answer.map(|found| with_port(&found, port));
        }
    }
}

/// `addresses` with `port`: a lookup's answer serves every port of its host.
fn with_port(addresses: &[SocketAddr], port: u16) -> Arc<[SocketAddr]> {
    addresses
        .iter()
        .map(|a| SocketAddr::new(a.ip(), port))
        .collect()
}

/// Starts the lookup of `host` on its own thread; `state` holds no lookup in flight.
fn start(state: &mut State, host: &str) -> Result<watch::Receiver<Option<Answer>>, String> {
    let (tx, rx) = watch::channel(None);
    let name = host.to_owned();
    std::thread::Builder::new()
        .name("rtscope-lookup".into())
        .spawn(move || {
            crate::base::shard::enter_agent_thread();
            let answer: Answer = match (name.as_str(), 0).to_socket_addrs() {
                Ok(found) => {
                    let found: Arc<[SocketAddr]> = found.take(MAX_ADDRESSES).collect();
                    if found.is_empty() {
                        Err(format!("{name} has no address"))
                    } else {
                        Ok(found)
                    }
                }
                Err(e) => Err(format!("name lookup of {name}: {e}")),
            };
            // Under the lock that `start` held while registering this lookup, so it is ours.
            let mut state = locked();
            state.in_flight = None;
            if let Ok(addresses) = &answer {
                state.cached = Some(Cached {
                    host: name,
                    addresses: addresses.clone(),
                    at: Instant::now(),
                });
            }
            drop(state);
            let _ = tx.send(Some(answer));
        })
        .map_err(|e| format!("cannot start a name lookup thread: {e}"))?;
    state.in_flight = Some(InFlight {
        host: host.to_owned(),
        answer: rx.clone(),
    });
    Ok(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The resolver is one per process: its tests take turns (one's lookup of a name would
    /// be in flight while another checks that none is).
    static TURN: Mutex<()> = Mutex::new(());

    #[test]
    fn ip_literals_are_never_looked_up() {
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        for (host, shown) in [("127.0.0.1", "127.0.0.1:9"), ("[::1]", "[::1]:9")] {
            let found = rt.block_on(lookup(host, 9, deadline)).unwrap();
            assert_eq!(found.len(), 1);
            assert_eq!(found[0].to_string(), shown);
        }
        assert!(locked().in_flight.is_none());
    }

    #[test]
    fn an_answer_serves_every_port_of_its_host_from_the_cache() {
        let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let first = rt.block_on(lookup("localhost", 9, deadline)).unwrap();
        assert!(
            first.iter().all(|a| a.port() == 9 && a.ip().is_loopback()),
            "{first:?}"
        );
        let cached = locked().cached.as_ref().map(|c| c.host.clone());
        assert_eq!(cached.as_deref(), Some("localhost"));
        let second = rt.block_on(lookup("localhost", 10, deadline)).unwrap();
        assert_eq!(
            second.iter().map(|a| a.ip()).collect::<Vec<_>>(),
            first.iter().map(|a| a.ip()).collect::<Vec<_>>()
        );
        assert!(second.iter().all(|a| a.port() == 10));
    }
}
