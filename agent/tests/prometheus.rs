//! `/metrics` served by the installed agent: the parts' series in the Prometheus text format
//! and in OpenMetrics, exact pool counts, `target_info`, 404 elsewhere, and the scrape's work
//! done in the agent's own account.
#![cfg(feature = "export-prometheus")]

use rtscope::pool::Pool;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// One request (`Connection: close`); `None` while the listener is not up yet.
fn get(addr: SocketAddr, path: &str, accept: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let req =
        format!("GET {path} HTTP/1.1\r\nHost: t\r\nAccept: {accept}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

/// The value of the sample line starting with `series` (name and labels as written).
fn value(page: &str, series: &str) -> Option<String> {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ').map(str::to_owned))
}

#[test]
fn the_installed_agent_serves_its_series_for_prometheus() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("rtscope-prom-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let guard = rtscope::Agent::builder()
        .with_service_name("prom-test")
        .with_resource_attribute("deployment.environment", "ci")
        .with_prometheus("127.0.0.1", port)
        .with_file(dir.join("out.jsonl"))
        .with_summary(false)
        .install()
        .unwrap();
    let pool = Pool::builder("t-prom", || Vec::<u8>::with_capacity(16))
        .with_capacity(10)
        .build();
    let held: Vec<_> = (0..12).map(|_| pool.get()).collect();
    drop(held);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // The listener is bound by the export thread shortly after install.
    let mut first = None;
    for _ in 0..100 {
        first = get(addr, "/metrics", "text/plain");
        if first.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let page = first.expect("/metrics was not served within 2 s of install");
    let (head, body) = page.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
        "{head}"
    );
    let scope = format!(
        "otel_scope_name=\"rtscope\",otel_scope_version=\"{}\"",
        env!("CARGO_PKG_VERSION")
    );
    let pool_series = |what: &str, result: &str| {
        format!(
            "rust_pool_{what}_total{{rust_pool_name=\"t-prom\",rust_pool_result=\"{result}\",{scope}}}"
        )
    };
    assert_eq!(
        value(body, &pool_series("gets", "miss")).as_deref(),
        Some("12")
    );
    assert_eq!(
        value(body, &pool_series("gets", "hit")).as_deref(),
        Some("0")
    );
    assert_eq!(
        value(body, &pool_series("puts", "stored")).as_deref(),
        Some("11")
    );
    assert_eq!(
        value(body, &pool_series("puts", "discarded")).as_deref(),
        Some("1")
    );
    let target = body
        .lines()
        .find(|l| l.starts_with("target_info{"))
        .unwrap();
    assert!(target.contains("service_name=\"prom-test\""), "{target}");
    assert!(target.contains("deployment_environment=\"ci\""), "{target}");
    assert!(target.ends_with("} 1"), "{target}");
    for family in [
        "# TYPE rust_memory_allocated_bytes_total counter",
        "# TYPE rust_memory_allocation_size_bytes histogram",
        "# TYPE rust_memory_used_bytes gauge",
        "# TYPE rtscope_agent_memory_allocated_bytes_total counter",
        "# TYPE rtscope_sampling_rate_per_second gauge",
    ] {
        assert!(
            body.contains(&format!("\n{family}\n")),
            "no {family:?} in\n{body}"
        );
    }
    let allocs: u64 = value(body, &format!("rust_memory_allocations_total{{{scope}}}"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(allocs > 12, "{allocs}");

    // OpenMetrics when asked for it; the pool counts unchanged.
    let agent_before = rtscope::alloc::agent_stats().allocations;
    let om = get(
        addr,
        "/metrics",
        "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.2",
    )
    .unwrap();
    let (head, body) = om.split_once("\r\n\r\n").unwrap();
    assert!(
        head.contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    assert!(body.contains("\n# TYPE rust_pool_gets counter\n"), "{body}");
    assert_eq!(
        value(body, &pool_series("gets", "miss")).as_deref(),
        Some("12")
    );
    // The page was built by the export thread, in the agent's account.
    assert!(rtscope::alloc::agent_stats().allocations > agent_before);

    let other = get(addr, "/", "*/*").unwrap();
    assert!(other.starts_with("HTTP/1.1 404 Not Found"), "{other}");
    drop(guard);
    let _ = std::fs::remove_dir_all(&dir);
}
