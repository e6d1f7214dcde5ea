//! A bounded HTTP/1.1 GET over plain TCP, enough for rtscope's own listener: one request per
//! connection (`Connection: close`), a deadline on the whole exchange, at most [`MAX_BODY`]
//! bytes read, `Content-Length` or chunked bodies. Nothing in the answer is trusted.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Largest answer read (head and body).
pub(crate) const MAX_BODY: usize = 32 << 20;
/// Longest one exchange may take, connection included.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(3);

/// Where `rtscope top` reads: the listener's address and the paths of `/metrics` and of the
/// recent spike events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// `host:port` as given (the `Host` header).
    pub(crate) authority: String,
    pub(crate) metrics_path: String,
}

/// The path of the recent spike events on the same listener.
pub(crate) const SPIKES_PATH: &str = "/debug/rtscope/spikes";

impl Target {
    /// `http://host:port[/path]`, `host:port[/path]` or `:port`; the path defaults to
    /// `/metrics`. The error is one line saying what to write instead (never echoing a
    /// userinfo part).
    pub(crate) fn parse(url: &str) -> Result<Target, String> {
        let rest = if let Some(r) = url.strip_prefix("http://") {
            r
        } else if url.starts_with("https://") {
            return Err(
                "rtscope top: rtscope's listener serves plain http:// (it has no TLS); give \
                 http://HOST:PORT/metrics"
                    .to_owned(),
            );
        } else if url.contains("://") {
            return Err("rtscope top: the URL must start with http://".to_owned());
        } else {
            url
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err(
                "rtscope top: the URL has a user part, which rtscope's listener does not use; \
                 give http://HOST:PORT/metrics"
                    .to_owned(),
            );
        }
        let authority = if authority.starts_with(':') {
            format!("localhost{authority}")
        } else if authority.is_empty() {
            return Err("rtscope top: the URL has no host; give http://HOST:PORT/metrics".into());
        } else if has_port(authority) {
            authority.to_owned()
        } else {
            format!("{authority}:9464")
        };
        if authority
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
        {
            return Err("rtscope top: the host has spaces or control characters".to_owned());
        }
        let path = match path {
            "" | "/" => "/metrics".to_owned(),
            p => p.to_owned(),
        };
        if path.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("rtscope top: the path has spaces or control characters".to_owned());
        }
        Ok(Target {
            authority,
            metrics_path: path,
        })
    }

    /// `http://host:port/metrics`, as shown.
    pub(crate) fn url(&self) -> String {
        format!("http://{}{}", self.authority, self.metrics_path)
    }
}

fn has_port(authority: &str) -> bool {
    let port = match authority.strip_prefix('[') {
        // `[::1]:9464`; a bracketed IPv6 address alone has no port.
        Some(v6) => v6.split_once("]:").map(|(_, p)| p),
        None => authority.rsplit_once(':').map(|(_, p)| p),
    };
    port.is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

/// An answer: its status and body.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
}

/// `GET path` from `authority`, within [`TIMEOUT`]. The error is short, for a status line.
pub(crate) fn get(authority: &str, path: &str, accept: &str) -> Result<Answer, String> {
    let deadline = Instant::now() + TIMEOUT;
    let addrs: Vec<SocketAddr> = authority
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .collect();
    let mut last = String::from("no address");
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = e.to_string(),
        }
    }
    let mut stream = stream.ok_or(last)?;
    let left = |deadline: Instant| {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    stream
        .set_write_timeout(Some(left(deadline)))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: {accept}\r\nUser-Agent: rtscope-top/{}\r\nConnection: close\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        stream
            .set_read_timeout(Some(left(deadline)))
            .map_err(|e| e.to_string())?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if raw.len() > MAX_BODY {
                    return Err(format!("the answer is over {} MiB", MAX_BODY >> 20));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("no complete answer in {TIMEOUT:?} ({e})")),
        }
        if Instant::now() >= deadline {
            return Err(format!("no complete answer in {TIMEOUT:?}"));
        }
    }
    parse_answer(&raw)
}

/// Splits a whole HTTP/1.1 answer into status and body.
fn parse_answer(raw: &[u8]) -> Result<Answer, String> {
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("not an HTTP answer")?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| "not an HTTP answer")?;
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.strip_prefix("HTTP/1."))
        .and_then(|l| l.get(2..5))
        .and_then(|s| s.parse().ok())
        .ok_or("not an HTTP answer")?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-length") {
            length = v.parse::<usize>().ok();
        } else if k.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.eq_ignore_ascii_case("chunked");
        }
    }
    let body = &raw[head_end + 4..];
    let body = if chunked {
        dechunk(body).ok_or("a broken chunked body")?
    } else if let Some(n) = length {
        if body.len() < n {
            return Err("the answer ended early".to_owned());
        }
        body[..n].to_vec()
    } else {
        body.to_vec()
    };
    Ok(Answer { status, body })
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_and_bad_ones_say_what_to_write() {
        let t = Target::parse("http://127.0.0.1:9464/metrics").unwrap();
        assert_eq!(t.authority, "127.0.0.1:9464");
        assert_eq!(t.metrics_path, "/metrics");
        assert_eq!(
            Target::parse("127.0.0.1:1234").unwrap().url(),
            "http://127.0.0.1:1234/metrics"
        );
        assert_eq!(
            Target::parse(":1234").unwrap().url(),
            "http://localhost:1234/metrics"
        );
        assert_eq!(
            Target::parse("localhost").unwrap().url(),
            "http://localhost:9464/metrics"
        );
        assert_eq!(Target::parse("[::1]:9").unwrap().authority, "[::1]:9");
        assert_eq!(Target::parse("[::1]").unwrap().authority, "[::1]:9464");
        assert_eq!(Target::parse("h:1/m?x").unwrap().metrics_path, "/m?x");
        let https = Target::parse("https://h:1/metrics").unwrap_err();
        assert!(https.contains("plain http://"), "{https}");
        let secret = Target::parse("http://user:secret@h:1/").unwrap_err();
        assert!(!secret.contains("secret"), "{secret}");
        assert!(Target::parse("http://h:1/a b").is_err());
        assert!(Target::parse("http://").is_err());
    }

    #[test]
    fn answers_are_split_whatever_their_framing() {
        let a = parse_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef").unwrap();
        assert_eq!((a.status, a.body.as_slice()), (200, &b"abc"[..]));
        let c = parse_answer(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .unwrap();
        assert_eq!(c.body, b"abcde");
        let closed = parse_answer(b"HTTP/1.1 404 Not Found\r\n\r\nnope").unwrap();
        assert_eq!((closed.status, closed.body.as_slice()), (404, &b"nope"[..]));
        assert!(parse_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc").is_err());
        assert!(parse_answer(b"garbage").is_err());
        assert!(
            parse_answer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
    }
}
