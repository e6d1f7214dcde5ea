//! A real Prometheus (Debian's `prometheus`, from `scripts/install-collector.sh`) on
//! 127.0.0.1 scraping one target, queried over its HTTP API, and the small HTTP/1.0 client
//! the tests read pages with.
//!
//! ```no_run
//! use rtscope_integration::prometheus::Prometheus;
//! use std::time::Duration;
//!
//! let binary = rtscope_integration::tool("prometheus").unwrap();
//! let target = "127.0.0.1:9464".parse().unwrap();
//! let prom = Prometheus::start(&binary, target, "my-job", Duration::from_secs(1), None);
//! let up = prom.value("up{job=\"my-job\"}").unwrap();
//! ```

use crate::{Service, TempDir};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// One HTTP/1.0 GET (no chunked answer, the body ends at close): status and body.
///
/// # Errors
///
/// If the connection or the exchange fails.
pub fn get(addr: SocketAddr, path: &str, accept: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: {accept}\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.take(64 << 20).read_to_end(&mut raw)?;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_owned()))
}

/// `query` percent-encoded for a URL.
pub fn encode(query: &str) -> String {
    let mut out = String::new();
    for b in query.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The value of one sample of a query result.
pub fn value_of(sample: &Value) -> Option<f64> {
    sample["value"][1].as_str()?.parse().ok()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A real Prometheus on 127.0.0.1 scraping `target` (job `job`) every `interval` (the scrape
/// timeout the same), with `rules` when given; killed when dropped.
#[derive(Debug)]
pub struct Prometheus {
    service: Service,
    _dir: TempDir,
}

impl Prometheus {
    /// Starts it and waits (at most 30 s) until it is ready.
    ///
    /// # Panics
    ///
    /// If it cannot be started or does not get ready.
    pub fn start(
        binary: &Path,
        target: SocketAddr,
        job: &str,
        interval: Duration,
        rules: Option<&Path>,
    ) -> Prometheus {
        let dir = TempDir::new("prometheus");
        let config = dir.path().join("prometheus.yml");
        let every = format!("{}ms", interval.as_millis());
        let rules = rules.map_or(String::new(), |r| {
            format!("rule_files:\n  - {}\n", r.display())
        });
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: {every}\n  scrape_timeout: {every}\n  evaluation_interval: {every}\n\
                 {rules}\
                 scrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: ['{target}']\n",
            ),
        )
        .expect("write prometheus.yml");
        let port = free_port();
        // The helper waits for a `listening on` line; Prometheus logs to stderr, so a shell
        // prints the address and then becomes Prometheus (same process: killed on drop).
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "echo listening on http://127.0.0.1:{port}; exec \"$0\" \"$@\"",
            ))
            .arg(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn");
        let service = Service::start(cmd, Duration::from_secs(20)).expect("start prometheus");
        let p = Prometheus { service, _dir: dir };
        let ready = p.wait("Prometheus to be ready", Duration::from_secs(30), || {
            matches!(get(p.addr(), "/-/ready", "*/*"), Ok((200, _))).then_some(())
        });
        ready.unwrap_or_else(|e| panic!("{e}\n{}", p.service.log()));
        p
    }

    /// Its HTTP address.
    pub fn addr(&self) -> SocketAddr {
        self.service.addr()
    }

    /// What it printed.
    pub fn log(&self) -> String {
        self.service.log()
    }

    /// The result vector of an instant query (`[]` on an error, kept in the second value).
    pub fn query(&self, expr: &str) -> (Vec<Value>, String) {
        let path = format!("/api/v1/query?query={}", encode(expr));
        match get(self.addr(), &path, "application/json") {
            Ok((200, body)) => {
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
                (result, String::new())
            }
            Ok((status, body)) => (Vec::new(), format!("HTTP {status}: {body}")),
            Err(e) => (Vec::new(), e.to_string()),
        }
    }

    /// The one value `expr` gives, once it gives exactly one finite value (within 20 s).
    ///
    /// # Errors
    ///
    /// If it gives none in time.
    pub fn value(&self, expr: &str) -> Result<f64, String> {
        self.wait(expr, Duration::from_secs(20), || {
            match self.query(expr).0.as_slice() {
                [one] => value_of(one).filter(|v| v.is_finite()),
                _ => None,
            }
        })
    }

    /// Every sample value of a range query `expr` such as `up{job="x"}[30s]` (one series).
    pub fn range_values(&self, expr: &str) -> Vec<f64> {
        let (result, _) = self.query(expr);
        result
            .first()
            .and_then(|s| s["values"].as_array())
            .map(|v| {
                v.iter()
                    .filter_map(|p| p[1].as_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Polls `f` every 200 ms until it gives a value, for at most `limit`.
    ///
    /// # Errors
    ///
    /// If it gives none in time.
    pub fn wait<T>(
        &self,
        what: &str,
        limit: Duration,
        mut f: impl FnMut() -> Option<T>,
    ) -> Result<T, String> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = f() {
                return Ok(v);
            }
            if Instant::now() >= deadline {
                return Err(format!("no answer for {what} within {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
