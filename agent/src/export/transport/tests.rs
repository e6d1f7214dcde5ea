// The transport's tests need both collector transports and TLS.
#![cfg(all(feature = "export-http", feature = "export-grpc", feature = "tls"))]

use super::grpc::{grpc_maybe_delivered, grpc_retry};
use super::http::http_maybe_delivered;
use super::retry::*;
use super::*;
use prost::Message;
use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

/// Sends `payload` alone; its outcome.
fn send_one(
    sink: &mut Sink,
    rt: &Runtime,
    payload: Payload,
    resend_safe: bool,
) -> Result<(), SendError> {
    let mut out = sink.send(
        rt,
        vec![Request {
            payload,
            resend_safe,
        }],
    );
    assert_eq!(out.len(), 1);
    out.pop().unwrap().result
}

#[test]
fn retry_after_seconds_and_http_dates() {
    assert_eq!(parse_retry_after("30"), Some(Duration::from_secs(30)));
    assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
    assert_eq!(parse_retry_after("99999999"), Some(MAX_THROTTLE));
    assert_eq!(parse_retry_after("soon"), None);
    assert_eq!(
        http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777))
    );
    assert_eq!(http_date("Sun, 06 Nov 1994 08:49:37 CET"), None);
    assert_eq!(http_date("Sun, 32 Nov 1994 08:49:37 GMT"), None);
    // A date in the past asks for no wait.
    assert_eq!(
        parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
        Some(Duration::ZERO)
    );
    // A date far ahead is capped.
    let far = parse_retry_after("Fri, 01 Jan 2100 00:00:00 GMT").unwrap();
    assert_eq!(far, MAX_THROTTLE);
}

fn status_with_retry_info(code: tonic::Code, seconds: i64) -> tonic::Status {
    let info = RetryInfo {
        retry_delay: Some(PbDuration { seconds, nanos: 0 }),
    };
    let details = RpcStatus {
        code: code as i32,
        message: "slow down".into(),
        details: vec![Any {
            type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
            value: info.encode_to_vec(),
        }],
    };
    tonic::Status::with_details(code, "slow down", details.encode_to_vec().into())
}

#[test]
fn grpc_statuses_are_classified_as_opentelemetry_otlp_does() {
    use tonic::Code;
    assert_eq!(
        grpc_retry(&tonic::Status::new(Code::Unavailable, "")),
        Retry::Backoff
    );
    assert_eq!(
        grpc_retry(&tonic::Status::new(Code::ResourceExhausted, "")),
        Retry::No
    );
    assert_eq!(
        grpc_retry(&status_with_retry_info(Code::ResourceExhausted, 45)),
        Retry::After(Duration::from_secs(45))
    );
    assert_eq!(
        grpc_retry(&status_with_retry_info(Code::Unavailable, 5)),
        Retry::After(Duration::from_secs(5))
    );
    assert_eq!(
        grpc_retry(&status_with_retry_info(Code::Unavailable, 100_000)),
        Retry::After(MAX_THROTTLE)
    );
    for code in [Code::InvalidArgument, Code::Unauthenticated, Code::Internal] {
        assert_eq!(grpc_retry(&tonic::Status::new(code, "")), Retry::No);
    }
}

#[test]
fn answers_are_classified_by_whether_the_data_may_have_arrived() {
    use tonic::Code;
    for status in [400, 401, 404, 413, 429, 503] {
        assert!(!http_maybe_delivered(status), "HTTP {status}");
    }
    for status in [500, 502, 504] {
        assert!(http_maybe_delivered(status), "HTTP {status}");
    }
    // Answered by the collector.
    for code in [
        Code::Unavailable,
        Code::ResourceExhausted,
        Code::Unauthenticated,
    ] {
        assert!(
            !grpc_maybe_delivered(&tonic::Status::new(code, "")),
            "{code:?}"
        );
    }
    for code in [
        Code::DeadlineExceeded,
        Code::Cancelled,
        Code::Internal,
        Code::Unknown,
    ] {
        assert!(
            grpc_maybe_delivered(&tonic::Status::new(code, "")),
            "{code:?}"
        );
    }
    // From the connection: connecting failed, or it broke with the request under way.
    let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    let connect = tonic::Status::from_error(Box::new(tonic::ConnectError(refused.into())));
    assert!(!grpc_maybe_delivered(&connect), "{connect:?}");
    let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
    let reset = tonic::Status::from_error(Box::new(reset));
    assert!(grpc_maybe_delivered(&reset), "{reset:?}");
}

/// Runs `with_retries` over attempts that all fail with `failure`; returns how many
/// attempts were made and the result's `maybe_delivered`.
fn attempts(resend_safe: bool, maybe: bool) -> (u32, bool) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut calls = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    let result = rt.block_on(with_retries(
        deadline,
        Duration::from_secs(10),
        resend_safe,
        || true,
        |_| {
            calls += 1;
            let failure = Failure {
                message: "reset".into(),
                retry: Retry::Backoff,
                maybe_delivered: maybe,
                not_taken: false,
                cause: None,
            };
            async move { Err(failure) }
        },
    ));
    (calls, result.unwrap_err().maybe_delivered)
}

#[test]
fn a_request_that_may_have_arrived_is_retried_only_when_resending_is_safe() {
    assert_eq!(attempts(false, true), (1, true));
    assert_eq!(attempts(true, true), (MAX_RETRIES + 1, true));
    assert_eq!(attempts(false, false), (MAX_RETRIES + 1, false));
}

#[test]
fn a_refused_connection_certainly_delivered_nothing_over_http_and_grpc() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
        let mut t = target(&format!("http://127.0.0.1:{port}"));
        t.protocol = protocol;
        if protocol == Protocol::Grpc {
            t.metrics_endpoint = format!("http://127.0.0.1:{port}");
            t.logs_endpoint = t.metrics_endpoint.clone();
        }
        let mut sink = Sink::new(&Destination::Otlp(t), 1 << 20, &rt).unwrap();
        for resend_safe in [false, true] {
            let err =
                send_one(&mut sink, &rt, record(10, 0), resend_safe).expect_err("nothing listens");
            assert!(!err.maybe_delivered, "{protocol:?}: {}", err.message);
        }
    }
}

fn target(url: &str) -> OtlpTarget {
    let (config, _) = crate::config::resolve(
        &crate::config::Overrides::default(),
        crate::config::test_env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", url),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer SECRET-TOKEN",
            ),
        ]),
    );
    match config.destination {
        Destination::Otlp(t) => t,
        other => panic!("{other:?}"),
    }
}

#[test]
fn userinfo_and_header_values_never_appear_in_descriptions_or_errors() {
    let t = target("http://user:PASSWORD@127.0.0.1:9/base");
    let shown = format!("{t:?}");
    assert!(
        !shown.contains("PASSWORD") && !shown.contains("SECRET-TOKEN"),
        "{shown}"
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut sink = Sink::new(&Destination::Otlp(t.clone()), 1 << 20, &rt).unwrap();
    assert_eq!(
        sink.describe(),
        "OTLP/HTTP http://[redacted]@127.0.0.1:9/base/v1/metrics"
    );
    let echoed = sink.failed(
        Signal::Metrics,
        Failure::not_delivered(
            "401: bad token Bearer SECRET-TOKEN for user:PASSWORD; secret-token, SECRET-TOKEN"
                .into(),
            Retry::No,
        ),
    );
    assert_eq!(
        echoed.message,
        "401: bad token [redacted] for [redacted]; [redacted], [redacted]"
    );
    // A secret where the echo is cut leaves no prefix behind.
    let body = format!("{}Bearer SECRET-TOKEN", "x".repeat(190));
    assert!(!echo_without(&body, &sink.secrets).contains("SEC"));
}

/// An HTTP/1.1 collector on 127.0.0.1 answering 200 with an empty body to every request
/// of up to 4 connections; sends (connection number, request head) for each request.
/// With `close_each`, it closes every connection after its first answer, unannounced
/// (as an idle timeout does).
fn http_collector(close_each: bool) -> (u16, std::sync::mpsc::Receiver<(usize, String)>) {
    use std::io::{BufRead, BufReader, Read};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for (n, conn) in listener.incoming().take(4).enumerate() {
            let Ok(conn) = conn else { return };
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut conn = conn;
            for _ in 0..10 {
                let mut head = String::new();
                while reader.read_line(&mut head).is_ok_and(|n| n > 2) {}
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(str::to_owned)
                    })
                    .and_then(|v| v.trim().parse::<usize>().ok());
                let Some(length) = length else { break };
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    break;
                }
                let _ = tx.send((n, head));
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
                if close_each {
                    break;
                }
            }
        }
    });
    (port, rx)
}

#[test]
fn one_http_connection_is_kept_across_exports_and_replaced_when_closed() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (port, requests) = http_collector(false);
    let mut t = target(&format!("http://user:pa%20ss@127.0.0.1:{port}/base"));
    // A configured `authorization` header wins over the userinfo.
    t.headers = vec![("x-api-key".into(), "k3y".into())];
    let mut sink = Sink::new(&Destination::Otlp(t), 1 << 20, &rt).unwrap();
    for _ in 0..3 {
        send_one(&mut sink, &rt, record(10, 0), false).unwrap();
    }
    let seen: Vec<(usize, String)> = requests.try_iter().collect();
    assert_eq!(seen.iter().map(|(n, _)| *n).collect::<Vec<_>>(), [0, 0, 0]);
    let head = seen[0].1.to_ascii_lowercase();
    for line in [
        "post /base/v1/metrics http/1.1\r\n",
        &format!("host: 127.0.0.1:{port}\r\n"),
        "content-type: application/x-protobuf\r\n",
        // `user:pa ss`, as reqwest sent it.
        "authorization: basic dxnlcjpwysbzcw==\r\n",
        "x-api-key: k3y\r\n",
    ] {
        assert!(head.contains(line), "{line:?} not in {head:?}");
    }

    // The collector closes each connection after one answer: each export finds the
    // connection closed and sends on a new one, never on the dead one (which could lose a
    // delta export as "may have arrived").
    let (port, requests) = http_collector(true);
    let mut sink = Sink::new(
        &Destination::Otlp(target(&format!("http://127.0.0.1:{port}"))),
        1 << 20,
        &rt,
    )
    .unwrap();
    for _ in 0..3 {
        send_one(&mut sink, &rt, record(10, 0), false).unwrap();
        std::thread::sleep(Duration::from_millis(50));
    }
    let connections: Vec<usize> = requests.try_iter().map(|(n, _)| n).collect();
    assert_eq!(connections, [0, 1, 2]);
}

#[test]
fn a_plaintext_answer_to_https_fails_the_handshake_and_delivered_nothing() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        // The first attempt and its three retries.
        for mut conn in listener.incoming().take(4).flatten() {
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let t = target(&format!("https://127.0.0.1:{port}"));
    let mut sink = Sink::new(&Destination::Otlp(t), 1 << 20, &rt).unwrap();
    let err = send_one(&mut sink, &rt, record(10, 0), false).unwrap_err();
    assert!(!err.maybe_delivered, "{}", err.message);
    assert!(
        err.message.starts_with("TLS handshake with 127.0.0.1"),
        "{}",
        err.message
    );
}

#[test]
fn building_an_http_sink_leaves_the_process_crypto_provider_alone() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let t = target("https://127.0.0.1:9");
    Sink::new(&Destination::Otlp(t), 1 << 20, &rt).unwrap();
    assert!(
        rustls::crypto::ring::default_provider()
            .install_default()
            .is_ok(),
        "rtscope installed a process-wide rustls provider"
    );
}

/// A metrics request whose JSON line is about `bytes` long.
fn record(bytes: usize, tag: usize) -> Payload {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value::Value};
    use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    let value = format!("{tag}:{}", "x".repeat(bytes));
    Payload::Metrics(ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "k".into(),
                    value: Some(AnyValue {
                        value: Some(Value::StringValue(value)),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }],
    })
}

fn temp_path(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rtscope-file-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("out.jsonl")
}

/// Every line of `path` is a JSON object; returns how many there are.
fn whole_lines(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    for (i, line) in text.lines().enumerate() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "line {i} of {} is not a record: {:.80}",
            path.display(),
            line
        );
    }
    text.lines().count()
}

#[test]
fn four_writers_appending_to_one_file_leave_only_whole_records() {
    // Records larger than a pipe buffer, so two writes per record would interleave.
    let path = temp_path("four");
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut sink = FileSink::new(&path, u64::MAX);
                for i in 0..200 {
                    sink.write(&record(6000, w * 1000 + i)).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(whole_lines(&path), 800);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn the_file_and_its_predecessor_stay_under_the_cap() {
    let path = temp_path("cap");
    let cap = 64 * 1024;
    let mut sink = FileSink::new(&path, cap);
    for i in 0..100 {
        sink.write(&record(3000, i)).unwrap();
    }
    let rotated = PathBuf::from(format!("{}.1", path.display()));
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    assert!(size(&rotated) > 0, "never rotated");
    assert!(size(&path) + size(&rotated) <= cap);
    assert!(whole_lines(&path) > 0 && whole_lines(&rotated) > 0);
    // A record that cannot fit is refused with a line naming the setting.
    let err = sink.write(&record(40_000, 0)).unwrap_err();
    assert!(
        err.message.contains("RTSCOPE_FILE_MAX_BYTES"),
        "{}",
        err.message
    );
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[test]
fn a_symlink_planted_at_the_path_is_not_followed_and_the_file_is_0644() {
    let path = temp_path("link");
    let victim = path.with_file_name("victim");
    std::fs::write(&victim, b"keep").unwrap();
    std::os::unix::fs::symlink(&victim, &path).unwrap();
    let err = FileSink::new(&path, u64::MAX)
        .write(&record(10, 0))
        .unwrap_err();
    assert!(err.message.contains("symbolic link"), "{}", err.message);
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep");

    use std::os::unix::fs::PermissionsExt;
    let fresh = path.with_file_name("fresh.jsonl");
    // SAFETY: umask only changes this process's file creation mask; restored below.
    let old = unsafe { libc::umask(0) };
    let written = FileSink::new(&fresh, u64::MAX).write(&record(10, 0));
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    written.unwrap();
    let mode = std::fs::metadata(&fresh).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

/// On a full disk a record is cut short; once there is room again the next record starts
/// on a fresh line. Needs root to mount a 1 MiB tmpfs; elsewhere it says so and passes.
#[test]
fn after_a_short_write_on_a_full_disk_the_next_record_starts_a_fresh_line() {
    let dir = temp_path("full").parent().unwrap().to_owned();
    let mount = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&dir)
        .output();
    if !mount.is_ok_and(|o| o.status.success()) {
        eprintln!("cannot mount a tmpfs here (not root?); the full-disk case is untested");
        return;
    }
    let path = dir.join("out.jsonl");
    let filler = dir.join("filler");
    // Fill all but about 10 KB.
    std::fs::write(&filler, vec![0u8; 1024 * 1024 - 10 * 1024]).ok();
    let mut sink = FileSink::new(&path, u64::MAX);
    let mut failed = 0;
    for i in 0..10 {
        if sink.write(&record(3000, i)).is_err() {
            failed += 1;
        }
    }
    std::fs::remove_file(&filler).unwrap();
    sink.write(&record(100, 99)).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let _ = std::process::Command::new("umount").arg(&dir).status();
    assert!(failed > 0, "the disk never filled");
    let bad = text
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_err())
        .count();
    assert!(bad <= 1, "{bad} broken lines");
    let last = text.lines().last().unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(last).is_ok());
    assert!(last.contains("99:"));
}

#[test]
#[cfg(all(feature = "export-http", feature = "export-grpc", feature = "tls"))]
fn an_unusable_tls_file_fails_the_sink_naming_its_variable() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("rtscope-tls-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "no certificate in here\n").unwrap();
    let file = |path: &Path, var| {
        Some(crate::config::TlsFile {
            path: path.to_owned(),
            var,
        })
    };
    for protocol in [Protocol::HttpProtobuf, Protocol::Grpc] {
        let mut t = target("https://127.0.0.1:9");
        t.protocol = protocol;
        t.tls.certificate = file(&dir.join("missing.pem"), "OTEL_EXPORTER_OTLP_CERTIFICATE");
        let err = Sink::new(&Destination::Otlp(t.clone()), 1 << 20, &rt)
            .err()
            .expect("a missing CA file");
        assert!(
            err.message
                .starts_with("TLS: OTEL_EXPORTER_OTLP_CERTIFICATE=")
                && err.message.contains("missing.pem: cannot open it"),
            "{protocol:?}: {}",
            err.message
        );
        t.tls.certificate = None;
        t.tls.client_certificate = file(&not_pem, "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE");
        t.tls.client_key = file(&not_pem, "OTEL_EXPORTER_OTLP_CLIENT_KEY");
        let err = Sink::new(&Destination::Otlp(t), 1 << 20, &rt)
            .err()
            .expect("a client certificate file without a certificate");
        assert!(
            err.message
                .contains("OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE=")
                && err.message.contains("holds no PEM certificate"),
            "{protocol:?}: {}",
            err.message
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// An HTTP/1.1 collector on 127.0.0.1 answering each request with `answer(path)` (a whole
/// response head, `content-length: 0` included) on any number of connections, for 30 s;
/// sends the path of each request.
fn routed_collector(answer: fn(&str) -> &'static str) -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::{BufRead, BufReader, Read};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming().take(16) {
            let Ok(conn) = conn else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                conn.set_read_timeout(Some(Duration::from_secs(30)))
                    .unwrap();
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut conn = conn;
                loop {
                    let mut head = String::new();
                    while reader.read_line(&mut head).is_ok_and(|n| n > 2) {}
                    let Some(path) = head.split(' ').nth(1).map(str::to_owned) else {
                        return;
                    };
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length: ")
                                .map(str::to_owned)
                        })
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; length];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let reply = answer(&path);
                    let _ = tx.send(path);
                    if conn.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, rx)
}

#[cfg(feature = "profiles")]
fn three_signals() -> Vec<Request> {
    use opentelemetry_proto::tonic::collector::profiles::v1development::ExportProfilesServiceRequest;
    let Payload::Metrics(metrics) = record(10, 0) else {
        unreachable!()
    };
    vec![
        Request {
            payload: Payload::Metrics(metrics),
            resend_safe: true,
        },
        Request {
            payload: Payload::Logs(ExportLogsServiceRequest::default()),
            resend_safe: false,
        },
        Request {
            payload: Payload::Profiles(ExportProfilesServiceRequest::default()),
            resend_safe: true,
        },
    ]
}

#[test]
#[cfg(feature = "profiles")]
fn a_signal_the_collector_pauses_or_does_not_take_holds_back_only_itself() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
    for (answer, held) in [
        (
            (|path: &str| match path {
                "/v1development/profiles" => {
                    "HTTP/1.1 429 Too Many Requests\r\nretry-after: 30\r\ncontent-length: 0\r\n\r\n"
                }
                _ => OK,
            }) as fn(&str) -> &'static str,
            Held::Asked,
        ),
        (
            |path: &str| match path {
                "/v1development/profiles" => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
                _ => OK,
            },
            Held::NotTaken,
        ),
    ] {
        let (port, paths) = routed_collector(answer);
        let t = target(&format!("http://127.0.0.1:{port}"));
        let mut sink = Sink::new(&Destination::Otlp(t), 1 << 20, &rt).unwrap();
        let out = sink.send(&rt, three_signals());
        let results: Vec<_> = out
            .iter()
            .map(|d| (d.signal, d.result.as_ref().map(|_| ()).map_err(|e| e.held)))
            .collect();
        assert_eq!(
            results,
            [
                (Signal::Metrics, Ok(())),
                (Signal::Logs, Ok(())),
                (Signal::Profiles, Err(Some(held)))
            ],
            "{out:?}"
        );
        assert_eq!(sink.held(Signal::Profiles), Some(held));
        assert_eq!(sink.held(Signal::Metrics), None);
        assert_eq!(sink.held(Signal::Logs), None);
        // The next export: metrics and logs go, profiles wait.
        let out = sink.send(&rt, three_signals());
        assert!(out[0].result.is_ok() && out[1].result.is_ok(), "{out:?}");
        let mut seen: Vec<String> = paths.try_iter().collect();
        seen.sort();
        assert_eq!(
            seen,
            [
                "/v1/logs",
                "/v1/logs",
                "/v1/metrics",
                "/v1/metrics",
                "/v1development/profiles"
            ]
        );
    }
}

/// A logs request of `records` records of about 200 bytes each.
fn logs(records: usize) -> Payload {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value::Value};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
    let record = |i: usize| LogRecord {
        body: Some(AnyValue {
            value: Some(Value::StringValue(format!("{i}:{}", "y".repeat(150)))),
        }),
        ..Default::default()
    };
    Payload::Logs(ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: (0..records).map(record).collect(),
                ..Default::default()
            }],
            ..Default::default()
        }],
    })
}

#[test]
fn a_batch_larger_than_half_the_file_cap_is_split_into_lines_that_fit() {
    let path = temp_path("split");
    let cap = 64 * 1024;
    let mut sink = FileSink::new(&path, cap);
    // About 200 KB of log records in one request, three times half the cap.
    sink.write(&logs(1000)).unwrap();
    let rotated = PathBuf::from(format!("{}.1", path.display()));
    let mut seen = Vec::new();
    for p in [&rotated, &path] {
        let text = std::fs::read_to_string(p).unwrap_or_default();
        for line in text.lines() {
            assert!(line.len() < 32 * 1024, "a line of {} bytes", line.len());
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            for r in v["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
                .as_array()
                .unwrap()
            {
                let body = r["body"]["stringValue"].as_str().unwrap();
                seen.push(body.split(':').next().unwrap().parse::<usize>().unwrap());
            }
        }
    }
    // The file and its predecessor keep the newest records, in order, none cut.
    assert!(!seen.is_empty());
    assert_eq!(*seen.last().unwrap(), 999);
    assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "{seen:?}");
    // One record that cannot fit is still refused, naming the setting.
    let mut tiny = FileSink::new(&path, 200);
    let err = tiny.write(&logs(3)).unwrap_err();
    assert!(
        err.message.contains("one log record") && err.message.contains("RTSCOPE_FILE_MAX_BYTES"),
        "{}",
        err.message
    );
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
