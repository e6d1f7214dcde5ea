//! `rtscope top` under tmux against the running `service` example, as a user runs it: the
//! service serves `/metrics` (`OTEL_METRICS_EXPORTER=prometheus`, nothing else set), this test
//! starts `top` in a detached tmux session, drives the service (pool requests, a cache
//! fill, one slow request that spikes), then reads the screen with `capture-pane`, presses
//! keys with `send-keys`, and compares what the screen says with a `/metrics` scrape and a
//! `/debug/rtscope/spikes` read of its own. Then the service stops (the screen says it
//! cannot reach it) and `q` quits. The memory pane's text is kept in `target/rtscope-top.txt`
//! (and copied to `RTSCOPE_TOP_SCREENSHOT` when set): the screenshot in the docs.
//!
//! A missing tmux skips the test, except under `CI=true`.

use rtscope_integration::{HttpClient, Service, TempDir, cargo_bin, tool, workspace_dir};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

const WIDTH: u16 = 110;
const HEIGHT: u16 = 36;
/// How long the screen may take to show what is asked (the view reads every second).
const SCREEN_WAIT: Duration = Duration::from_secs(30);

/// A tmux server of this test's own (`-L`), killed on drop with everything in it.
struct Tmux {
    binary: PathBuf,
    socket: String,
}

impl Tmux {
    fn new(binary: PathBuf) -> Tmux {
        Tmux {
            binary,
            socket: format!("rtscope-top-test-{}", std::process::id()),
        }
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(&self.binary)
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", "top"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn keys(&self, keys: &str) {
        let out = self.run(&["send-keys", "-t", "top", keys]);
        assert!(out.status.success(), "send-keys {keys}: {out:?}");
    }

    fn alive(&self) -> bool {
        self.run(&["has-session", "-t", "top"]).status.success()
    }

    /// Waits (bounded) until the screen satisfies `ok`; the last screen either way.
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + SCREEN_WAIT;
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline && self.alive(),
                "the screen never showed {what} (alive: {}):\n{screen}",
                self.alive()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

/// Reads the screen and then `/metrics` until `check(screen, metrics)` agrees (bounded);
/// the screen that agreed.
fn agree(
    tmux: &Tmux,
    listener: SocketAddr,
    what: &str,
    check: impl Fn(&str, &str) -> Result<(), String>,
) -> String {
    let deadline = Instant::now() + SCREEN_WAIT;
    loop {
        let screen = tmux.screen();
        let metrics = get(listener, "/metrics");
        match check(&screen, &metrics) {
            Ok(()) => return screen,
            Err(why) if Instant::now() >= deadline || !tmux.alive() => {
                panic!("{what} never showed the service's figures: {why}\n{screen}")
            }
            Err(_) => thread::sleep(Duration::from_millis(300)),
        }
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The sum of the samples of `name` whose labels contain every one of `labels`.
fn value(metrics: &str, name: &str, labels: &[&str]) -> f64 {
    metrics
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// `16.1 MiB`, as the view (and the agent's summary) says it.
fn bytes(n: f64) -> String {
    let units = ["B", "KiB", "MiB", "GiB"];
    let (mut v, mut u) = (n, 0);
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// The screen line that starts (after blanks) with `first`, split into its words.
fn row(screen: &str, first: &str) -> Vec<String> {
    screen
        .lines()
        .find(|l| l.trim_start().starts_with(first))
        .unwrap_or_else(|| panic!("no row {first:?} on:\n{screen}"))
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

fn get(addr: SocketAddr, path: &str) -> String {
    let r = HttpClient::connect(addr)
        .and_then(|mut c| c.get(path))
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.text()
}

fn start_service(dir: &Path, port: u16) -> Service {
    let mut cmd = Command::new(cargo_bin("service"));
    cmd.arg("127.0.0.1:0").current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("OTEL_") || k.starts_with("RTSCOPE_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("RUST_LOG", "warn")
        .env("OTEL_METRICS_EXPORTER", "prometheus")
        .env("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1")
        .env("OTEL_EXPORTER_PROMETHEUS_PORT", port.to_string());
    Service::start(cmd, Duration::from_secs(30)).expect("start the service")
}

#[test]
fn top_shows_what_the_service_exports_and_says_when_it_is_gone() {
    let Some(tmux) = tool("tmux") else {
        return;
    };
    let dir = TempDir::new("top");
    let port = free_port();
    let listener: SocketAddr = ([127, 0, 0, 1], port).into();
    let service = start_service(dir.path(), port);
    // `top` first: it watches the load come.
    let tmux = Tmux::new(tmux);
    let url = format!("http://127.0.0.1:{port}/metrics");
    let top = format!("exec {} top {url}", cargo_bin("rtscope").display());
    let (w, h) = (WIDTH.to_string(), HEIGHT.to_string());
    let out = tmux.run(&["new-session", "-d", "-s", "top", "-x", &w, "-y", &h, &top]);
    assert!(out.status.success(), "tmux new-session: {out:?}");
    tmux.run(&["set-option", "-t", "top", "remain-on-exit", "off"]);

    // Load: pool requests, the cache fill, then one slow request after 200 fast ones (the
    // rolling threshold has their history): a `request` latency spike.
    let mut client = service.client().expect("connect");
    // Once the spike detector runs (its first tick takes the baseline, which is no window),
    // so that the fast requests are the rolling threshold's history.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !get(listener, "/metrics").contains("rtscope_spikes_emitted_total") {
        assert!(Instant::now() < deadline, "spike detection never started");
        thread::sleep(Duration::from_millis(100));
    }
    for i in 0..200 {
        let path = if i % 3 == 0 { "/health" } else { "/pool" };
        assert_eq!(client.get(path).expect(path).status, 200);
        thread::sleep(Duration::from_millis(15));
    }
    assert_eq!(client.get("/cache/fill").expect("fill").status, 200);
    // A collection tick (1 s) later, so the fast requests are history of their own window.
    thread::sleep(Duration::from_millis(2500));
    assert_eq!(client.get("/slow?ms=600").expect("slow").status, 200);
    drop(client);
    // The spike is found on the next collection tick.
    let deadline = Instant::now() + Duration::from_secs(20);
    let spikes = loop {
        let v: serde_json::Value =
            serde_json::from_str(&get(listener, "/debug/rtscope/spikes")).expect("spikes JSON");
        let list = v["spikes"].as_array().cloned().unwrap_or_default();
        if list.iter().any(|s| s["name"] == "request") || Instant::now() > deadline {
            break list;
        }
        thread::sleep(Duration::from_millis(200));
    };
    let newest = spikes
        .iter()
        .rev()
        .find(|s| s["name"] == "request")
        .unwrap_or_else(|| {
            let metrics = get(listener, "/metrics");
            let latency: Vec<&str> = metrics
                .lines()
                .filter(|l| l.starts_with("rust_latency") || l.starts_with("rtscope_spikes"))
                .collect();
            panic!(
                "no request spike served: {spikes:?}\n{}\n{}",
                latency.join("\n"),
                service.log()
            )
        })
        .clone();

    // Each pane against a scrape of our own, taken after the screen was read (the view reads
    // every second, so a screen that disagrees is read again, within a bound).
    let screen = agree(&tmux, listener, "the memory pane", |screen, metrics| {
        let pid = service_pid(metrics);
        let title = format!("rtscope top  rtscope-service (pid {pid})  {url}");
        let peak = format!(
            "peak {}",
            bytes(value(metrics, "rust_memory_used_peak_bytes", &[]))
        );
        let workers = format!("{:.0} workers busy", value(metrics, "tokio_workers", &[]));
        for want in [&title, &peak, &workers] {
            if !screen.contains(want.as_str()) {
                return Err(format!("no {want:?}"));
            }
        }
        // The cache's class: its 256 blocks of 64 KiB (and whatever else was that large).
        let class = bucket(metrics, "rust_memory_allocation_size_bytes", "65536");
        assert!(class >= 256.0, "{class}");
        // `<= 64.0 KiB  RATE  TOTAL  SHARE`
        let shown = row(screen, "<= 64.0 KiB");
        (shown.get(4) == Some(&format!("{class:.0}")))
            .then_some(())
            .ok_or_else(|| format!("class <= 64 KiB: {class} allocations, shown {shown:?}"))
    });
    let shot = workspace_dir().join("target").join("rtscope-top.txt");
    std::fs::write(&shot, &screen).expect("write the screenshot");
    if let Ok(keep) = std::env::var("RTSCOPE_TOP_SCREENSHOT") {
        std::fs::copy(&shot, keep).expect("copy the screenshot");
    }

    // Pools: the service's pool, exactly as counted.
    tmux.keys("2");
    agree(&tmux, listener, "the pools pane", |screen, metrics| {
        let get = |result: &str| {
            value(
                metrics,
                "rust_pool_gets_total",
                &["response-buffers", &format!("result=\"{result}\"")],
            )
        };
        let (hits, misses) = (get("hit"), get("miss"));
        assert!(hits >= 99.0, "{hits}");
        let want = [
            format!("{:.1}%", 100.0 * hits / (hits + misses)),
            format!("{hits:.0}"),
            format!("{misses:.0}"),
        ];
        if !screen.contains("hit ratio") {
            return Err("not the pools pane".into());
        }
        let pool = row(screen, "response-buffers");
        // `NAME RATIO MISSES/S GETS/S HITS MISSES DISCARDED IDLE`
        let shown = [&pool[1], &pool[4], &pool[5]];
        (shown == [&want[0], &want[1], &want[2]])
            .then_some(())
            .ok_or_else(|| format!("pool {want:?}, shown {shown:?}"))
    });
    tmux.keys("s");
    tmux.wait_for("the pools sorted by hit ratio", |s| {
        s.contains("sort: hit ratio")
    });

    // Latency: the requests' count and p99 since start.
    tmux.keys("3");
    agree(&tmux, listener, "the latency pane", |screen, metrics| {
        let buckets: Vec<(f64, &str)> = metrics
            .lines()
            .filter(|l| l.starts_with("rust_latency_seconds_bucket{rust_latency_name=\"request\""))
            .filter_map(|l| {
                let le = l.split("le=\"").nth(1)?.split('"').next()?;
                Some((l.rsplit(' ').next()?.parse().ok()?, le))
            })
            .collect();
        let count = buckets.last().map_or(0.0, |b| b.0);
        let p99 = buckets
            .iter()
            .find(|(c, _)| *c >= (0.99 * count).ceil())
            .map(|(_, le)| *le)
            .expect("a p99 bucket");
        let p99 = match p99 {
            "+Inf" => "larger".to_owned(),
            le => format!(
                "{:?}",
                Duration::from_nanos((le.parse::<f64>().unwrap() * 1e9).round() as u64)
            ),
        };
        if !screen.contains("latency request") {
            return Err("no latency request row".into());
        }
        // `latency request <= A <= B <= C N M`: p99 since start, then the count since start.
        let row = row(screen, "latency request");
        let shown = (&row[row.len() - 3], &row[row.len() - 1]);
        (shown == (&p99, &format!("{count:.0}")))
            .then_some(())
            .ok_or_else(|| format!("request p99 {p99} of {count}, shown {shown:?}"))
    });

    // Spikes: the newest `request` spike's headline, as the listener serves it.
    tmux.keys("4");
    let headline = newest["sentence"]
        .as_str()
        .unwrap_or("")
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    assert!(
        headline.starts_with("spike in latency 'request': "),
        "{headline}"
    );
    let start: String = headline.chars().take(60).collect();
    let screen = tmux.wait_for("the spike's headline", |s| s.contains(&start));
    assert!(screen.contains("latency request"), "{screen}");
    assert!(
        screen.contains("in the same "),
        "the window's parts under the headline:\n{screen}"
    );

    // The service goes away: one clear line, and `top` goes on.
    tmux.keys("1");
    let out = service.stop(Duration::from_secs(20));
    assert!(out.success(), "{out:?}");
    // Prometheus alone: log records go nowhere, said at start (and no file is written).
    assert!(
        out.stderr.contains(&format!(
            "rtscope: log records (allocation samples, spike events) are not exported, as \
             nothing asks for them: set RTSCOPE_FILE to write them to a file, or \
             OTEL_EXPORTER_OTLP_ENDPOINT to send them to a collector; the last spike events \
             are served on http://127.0.0.1:{port}/debug/rtscope/spikes"
        )),
        "{}",
        out.stderr
    );
    let gone = format!("cannot reach {url}: ");
    let screen = tmux.wait_for("the service unreachable", |s| s.contains(&gone));
    // The reason wraps at the screen's width.
    let words = screen.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("is the service running, with OTEL_METRICS_EXPORTER=prometheus?"),
        "{screen}"
    );
    tmux.keys("q");
    let deadline = Instant::now() + Duration::from_secs(10);
    while tmux.alive() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
    }
    assert!(!tmux.alive(), "q did not quit:\n{}", tmux.screen());
    // Prometheus alone: no file was written into the service's directory.
    assert_eq!(dir.files(), Vec::<(String, u64)>::new());
}

/// The count in the bucket of histogram `base` whose upper bound is `le` (the cumulative
/// counts differenced).
fn bucket(metrics: &str, base: &str, le: &str) -> f64 {
    let prefix = format!("{base}_bucket{{");
    let mut previous = 0.0;
    for line in metrics.lines().filter(|l| l.starts_with(&prefix)) {
        let count: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        if line.contains(&format!("le=\"{le}\"")) {
            return count - previous;
        }
        previous = count;
    }
    panic!("no bucket le={le} of {base}")
}

fn service_pid(metrics: &str) -> String {
    metrics
        .lines()
        .find(|l| l.starts_with("target_info{"))
        .and_then(|l| l.split("process_pid=\"").nth(1))
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no target_info: {metrics:.300}"))
        .to_owned()
}
