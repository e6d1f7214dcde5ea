//! Where the data goes: endpoints, the shared OTLP settings, TLS files, headers and the
//! file.

use super::*;

#[test]
fn http_base_endpoint_gets_signal_paths() {
    for base in ["http://collector:4318", "http://collector:4318/"] {
        let c = warned(&[(OTEL_EXPORTER_OTLP_ENDPOINT, base)], &[]);
        assert_eq!(
            c,
            otlp(http_target(
                "http://collector:4318/v1/metrics",
                "http://collector:4318/v1/logs"
            ))
        );
    }
    let c = warned(
        &[(OTEL_EXPORTER_OTLP_ENDPOINT, "https://gw.example.com/otlp")],
        &[],
    );
    assert_eq!(
        c,
        otlp(http_target(
            "https://gw.example.com/otlp/v1/metrics",
            "https://gw.example.com/otlp/v1/logs"
        ))
    );
}

#[test]
fn signal_endpoints_are_used_as_is() {
    let c = warned(
        &[
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://base:4318"),
            (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, "http://m:9000/custom"),
            (OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, "http://l:9001/"),
        ],
        &[],
    );
    assert_eq!(
        c,
        otlp(http_target("http://m:9000/custom", "http://l:9001/"))
    );
    // Only the metrics endpoint: logs go to the specification's default.
    let c = warned(
        &[(OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, "http://m:9000/custom")],
        &[],
    );
    assert_eq!(
        c,
        otlp(http_target(
            "http://m:9000/custom",
            "http://localhost:4318/v1/logs"
        ))
    );
}

#[test]
fn grpc_endpoints_are_used_as_is_and_get_a_scheme_when_missing() {
    let grpc = |metrics: &str, logs: &str| {
        otlp(OtlpTarget {
            protocol: Protocol::Grpc,
            ..http_target(metrics, logs)
        })
    };
    let c = warned(
        &[
            (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://collector:4317"),
        ],
        &[],
    );
    assert_eq!(c, grpc("http://collector:4317", "http://collector:4317"));
    let c = warned(
        &[
            (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
            (OTEL_EXPORTER_OTLP_ENDPOINT, "collector:4317"),
        ],
        &[],
    );
    assert_eq!(c, grpc("https://collector:4317", "https://collector:4317"));
    let c = warned(
        &[
            (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
            (OTEL_EXPORTER_OTLP_ENDPOINT, "collector:4317"),
            (OTEL_EXPORTER_OTLP_INSECURE, "true"),
        ],
        &[],
    );
    assert_eq!(c, grpc("http://collector:4317", "http://collector:4317"));
    let c = warned(
        &[
            (OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, "grpc"),
            (OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, "http://l:4317"),
        ],
        &[],
    );
    assert_eq!(c, grpc("http://localhost:4317", "http://l:4317"));
}

#[test]
fn unusable_endpoints_fall_back_to_the_file() {
    for (var, raw, line) in [
        (
            OTEL_EXPORTER_OTLP_ENDPOINT,
            "localhost:4318",
            r#"rtscope: OTEL_EXPORTER_OTLP_ENDPOINT="localhost:4318" is not an http:// or https:// URL (it has no scheme); writing to ./rtscope-otlp.jsonl instead"#,
        ),
        (
            OTEL_EXPORTER_OTLP_ENDPOINT,
            "ftp://host",
            r#"rtscope: OTEL_EXPORTER_OTLP_ENDPOINT="ftp://host" is not an http:// or https:// URL (its scheme is neither http nor https); writing to ./rtscope-otlp.jsonl instead"#,
        ),
        (
            OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
            "http://host:99999/v1/metrics",
            r#"rtscope: OTEL_EXPORTER_OTLP_METRICS_ENDPOINT="http://host:99999/v1/metrics" is not an http:// or https:// URL (its port is not a number from 0 to 65535); writing to ./rtscope-otlp.jsonl instead"#,
        ),
        (
            OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
            "http:///v1/logs",
            r#"rtscope: OTEL_EXPORTER_OTLP_LOGS_ENDPOINT="http:///v1/logs" is not an http:// or https:// URL (it has no host); writing to ./rtscope-otlp.jsonl instead"#,
        ),
    ] {
        assert_eq!(warned(&[(var, raw)], &[line]), defaults());
    }
    // The file named by RTSCOPE_FILE is the one written, and the warning says so.
    let c = warned(
        &[
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://bad host"),
            (RTSCOPE_FILE, "/var/tmp/x.jsonl"),
        ],
        &[
            r#"rtscope: OTEL_EXPORTER_OTLP_ENDPOINT="http://bad host" is not an http:// or https:// URL (it contains whitespace); writing to /var/tmp/x.jsonl instead"#,
        ],
    );
    assert_eq!(
        c.destination,
        Destination::File(PathBuf::from("/var/tmp/x.jsonl"))
    );
}

#[test]
fn protocol_values() {
    let vars = |p| {
        [
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://c:4318"),
            (OTEL_EXPORTER_OTLP_PROTOCOL, p),
        ]
    };
    let target = |c: Config| match c.destination {
        Destination::Otlp(t) => t,
        other => panic!("expected OTLP, got {other:?}"),
    };
    assert_eq!(
        target(warned(&vars("http/protobuf"), &[])).protocol,
        Protocol::HttpProtobuf
    );
    assert_eq!(target(warned(&vars("GRPC"), &[])).protocol, Protocol::Grpc);
    let t = target(warned(
        &vars("http/json"),
        &[
            r#"rtscope: OTEL_EXPORTER_OTLP_PROTOCOL="http/json" is not supported by rtscope (use grpc or http/protobuf); using http/protobuf"#,
        ],
    ));
    assert_eq!(
        t,
        http_target("http://c:4318/v1/metrics", "http://c:4318/v1/logs")
    );
    warned(
        &vars("thrift"),
        &[
            r#"rtscope: OTEL_EXPORTER_OTLP_PROTOCOL="thrift" is not a known protocol (use grpc or http/protobuf); using http/protobuf"#,
        ],
    );
}

#[test]
fn otlp_settings_without_an_endpoint_use_the_spec_default_and_are_checked() {
    // A bad protocol with no endpoint used to pass silently (and wrote the file).
    let c = warned(
        &[(OTEL_EXPORTER_OTLP_PROTOCOL, "carrier-pigeon")],
        &[
            r#"rtscope: OTEL_EXPORTER_OTLP_PROTOCOL="carrier-pigeon" is not a known protocol (use grpc or http/protobuf); using http/protobuf"#,
            r#"rtscope: no OTLP endpoint is set but OTEL_EXPORTER_OTLP_PROTOCOL is set; sending to the specification's default http://localhost:4318 (set OTEL_EXPORTER_OTLP_ENDPOINT to choose the collector)"#,
        ],
    );
    assert_eq!(
        c,
        otlp(http_target(
            "http://localhost:4318/v1/metrics",
            "http://localhost:4318/v1/logs"
        ))
    );
    // gRPC: the default is port 4317, used as is.
    let c = warned(
        &[(OTEL_EXPORTER_OTLP_PROTOCOL, "grpc")],
        &[
            r#"rtscope: no OTLP endpoint is set but OTEL_EXPORTER_OTLP_PROTOCOL is set; sending to the specification's default http://localhost:4317 (set OTEL_EXPORTER_OTLP_ENDPOINT to choose the collector)"#,
        ],
    );
    assert_eq!(
        c,
        otlp(OtlpTarget {
            protocol: Protocol::Grpc,
            ..http_target("http://localhost:4317", "http://localhost:4317")
        })
    );
    // Headers alone ask for OTLP too; their values are still never shown.
    let c = warned(
        &[(OTEL_EXPORTER_OTLP_HEADERS, "api-key=SECRET,broken")],
        &[
            r#"rtscope: OTEL_EXPORTER_OTLP_HEADERS entry 2 is not key=value (value not shown); skipping it"#,
            r#"rtscope: no OTLP endpoint is set but OTEL_EXPORTER_OTLP_HEADERS is set; sending to the specification's default http://localhost:4318 (set OTEL_EXPORTER_OTLP_ENDPOINT to choose the collector)"#,
        ],
    );
    assert!(matches!(c.destination, Destination::Otlp(_)));
    // So does a setting made in code.
    let o = Overrides {
        protocol: Some(Protocol::Grpc),
        ..Overrides::default()
    };
    let (c, w) = run(&o, &[]);
    assert_eq!(
        w,
        [
            r#"rtscope: no OTLP endpoint is set but with_protocol is called; sending to the specification's default http://localhost:4317 (set OTEL_EXPORTER_OTLP_ENDPOINT to choose the collector)"#
        ]
    );
    assert!(matches!(c.destination, Destination::Otlp(_)));
    // RTSCOPE_FILE asks for the file, which wins; a bad value is reported all the same.
    let c = warned(
        &[
            (OTEL_EXPORTER_OTLP_TIMEOUT, "soon"),
            (RTSCOPE_FILE, "/tmp/x.jsonl"),
        ],
        &[
            r#"rtscope: OTEL_EXPORTER_OTLP_TIMEOUT="soon" is not a number of milliseconds; using 10000"#,
        ],
    );
    assert_eq!(
        c.destination,
        Destination::File(PathBuf::from("/tmp/x.jsonl"))
    );
    // Temporality shapes the file as well, so it does not ask for OTLP.
    let c = warned(
        &[(OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, "delta")],
        &[],
    );
    assert_eq!(c.destination, defaults().destination);
}

#[test]
fn exporter_otlp_without_an_endpoint_uses_the_spec_default() {
    let c = warned(
        &[(OTEL_METRICS_EXPORTER, "otlp")],
        &[
            r#"rtscope: no OTLP endpoint is set but OTEL_METRICS_EXPORTER=otlp; sending to the specification's default http://localhost:4318 (set OTEL_EXPORTER_OTLP_ENDPOINT to choose the collector)"#,
        ],
    );
    assert_eq!(
        c,
        otlp(http_target(
            "http://localhost:4318/v1/metrics",
            "http://localhost:4318/v1/logs"
        ))
    );
    // With an endpoint, `otlp` is what happens anyway: no line.
    let c = warned(
        &[
            (OTEL_METRICS_EXPORTER, "otlp"),
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://c:4318"),
        ],
        &[],
    );
    assert_eq!(
        c,
        otlp(http_target(
            "http://c:4318/v1/metrics",
            "http://c:4318/v1/logs"
        ))
    );
}

#[test]
fn logs_variants_of_shared_settings_are_used_or_named() {
    let base = (OTEL_EXPORTER_OTLP_ENDPOINT, "http://c:4318");
    // Agreeing with what is used: silent.
    warned(
        &[
            base,
            (OTEL_EXPORTER_OTLP_TIMEOUT, "5000"),
            (OTEL_EXPORTER_OTLP_LOGS_TIMEOUT, "5000"),
            (OTEL_EXPORTER_OTLP_LOGS_PROTOCOL, "http/protobuf"),
            (OTEL_EXPORTER_OTLP_HEADERS, "k=v"),
            (OTEL_EXPORTER_OTLP_LOGS_HEADERS, "k=v"),
        ],
        &[],
    );
    warned(
        &[
            base,
            (OTEL_EXPORTER_OTLP_LOGS_PROTOCOL, "grpc"),
            (OTEL_EXPORTER_OTLP_LOGS_COMPRESSION, "gzip"),
            (
                OTEL_EXPORTER_OTLP_LOGS_HEADERS,
                "authorization=Bearer SECRET",
            ),
        ],
        &[
            r#"rtscope: OTEL_EXPORTER_OTLP_LOGS_PROTOCOL="grpc" is not used: rtscope sends logs with the metrics protocol (OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL); using http/protobuf"#,
            r#"rtscope: OTEL_EXPORTER_OTLP_LOGS_HEADERS differs from the headers rtscope uses (value not shown): logs are sent with the metrics headers (OTEL_EXPORTER_OTLP_METRICS_HEADERS, else OTEL_EXPORTER_OTLP_HEADERS, and with_header); set those instead"#,
            r#"rtscope: OTEL_EXPORTER_OTLP_LOGS_COMPRESSION="gzip" is not used: rtscope sends logs with the metrics compression (OTEL_EXPORTER_OTLP_METRICS_COMPRESSION, else OTEL_EXPORTER_OTLP_COMPRESSION); using none"#,
        ],
    );
    // The logs endpoint is the logs signal's own, under gRPC as under HTTP, and so is
    // its insecure flag.
    let c = warned(
        &[
            (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
            (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, "m:4317"),
            (OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, "l:4317"),
            (OTEL_EXPORTER_OTLP_LOGS_INSECURE, "true"),
        ],
        &[],
    );
    assert_eq!(
        c,
        otlp(OtlpTarget {
            protocol: Protocol::Grpc,
            ..http_target("https://m:4317", "http://l:4317")
        })
    );
}

#[test]
fn tls_files_come_from_the_metrics_variables_then_the_generic_ones() {
    let c = warned(
        &[
            (OTEL_EXPORTER_OTLP_ENDPOINT, "https://c:4318"),
            (OTEL_EXPORTER_OTLP_CERTIFICATE, "/etc/ca.pem"),
            (
                OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE,
                "/etc/metrics-ca.pem",
            ),
            (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE, "/etc/client.pem"),
            (OTEL_EXPORTER_OTLP_CLIENT_KEY, " /etc/client.key "),
            // The same file as the metrics use: nothing to say.
            ("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", "/etc/metrics-ca.pem"),
        ],
        &[],
    );
    let file = |path: &str, var| {
        Some(TlsFile {
            path: path.into(),
            var,
        })
    };
    assert_eq!(
        c,
        otlp(OtlpTarget {
            tls: TlsFiles {
                certificate: file(
                    "/etc/metrics-ca.pem",
                    OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE
                ),
                client_certificate: file("/etc/client.pem", OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE),
                client_key: file("/etc/client.key", OTEL_EXPORTER_OTLP_CLIENT_KEY),
            },
            ..http_target("https://c:4318/v1/metrics", "https://c:4318/v1/logs")
        })
    );
}

#[test]
fn a_client_certificate_without_its_key_and_another_logs_ca_are_named() {
    let c = warned(
        &[
            (OTEL_EXPORTER_OTLP_ENDPOINT, "https://c:4318"),
            (
                OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE,
                "/etc/client.pem",
            ),
            ("OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE", "/etc/logs-ca.pem"),
        ],
        &[
            r#"rtscope: OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE=/etc/logs-ca.pem is not used: rtscope sends logs with the metrics TLS files (OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE, else OTEL_EXPORTER_OTLP_CERTIFICATE); using none"#,
            r#"rtscope: OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE is set but no client key (OTEL_EXPORTER_OTLP_CLIENT_KEY): no client certificate is sent; set both"#,
        ],
    );
    assert_eq!(
        c,
        otlp(http_target(
            "https://c:4318/v1/metrics",
            "https://c:4318/v1/logs"
        ))
    );
}

#[test]
fn the_export_timeout_caps_the_request_timeout() {
    let timeout = |vars: &[(&str, &str)]| match warned(vars, &[]).destination {
        Destination::Otlp(t) => t.timeout,
        other => panic!("{other:?}"),
    };
    let endpoint = (OTEL_EXPORTER_OTLP_ENDPOINT, "http://c:4318");
    assert_eq!(
        timeout(&[endpoint, (OTEL_METRIC_EXPORT_TIMEOUT, "300")]),
        Duration::from_millis(300)
    );
    assert_eq!(
        timeout(&[
            endpoint,
            (OTEL_EXPORTER_OTLP_TIMEOUT, "5000"),
            (OTEL_METRIC_EXPORT_TIMEOUT, "30000")
        ]),
        Duration::from_secs(5)
    );
    warned(
        &[endpoint, (OTEL_METRIC_EXPORT_TIMEOUT, "0")],
        &[
            r#"rtscope: OTEL_METRIC_EXPORT_TIMEOUT="0" must be greater than 0 milliseconds; using no cap"#,
        ],
    );
}

#[test]
fn a_base_endpoint_without_a_host_says_so() {
    // `http://` joined to `/v1/metrics` used to be reported as having no scheme.
    for raw in ["http://", "https:///", "http://:4318"] {
        warned(
            &[(OTEL_EXPORTER_OTLP_ENDPOINT, raw)],
            &[&format!(
                r#"rtscope: OTEL_EXPORTER_OTLP_ENDPOINT="{raw}" is not an http:// or https:// URL (it has no host); writing to ./rtscope-otlp.jsonl instead"#
            )],
        );
    }
    let o = Overrides {
        endpoint: Some("http://".to_owned()),
        ..Overrides::default()
    };
    assert_eq!(
        o.validate().unwrap_err().problem,
        r#"not an http:// or https:// URL (it has no host); pass a full URL such as "http://127.0.0.1:4318""#
    );
}

#[cfg(unix)]
#[test]
fn a_non_utf8_file_path_is_kept_byte_for_byte() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt as _;
    let bytes: &[u8] = b"/tmp/caf\xe9.jsonl";
    let env = |name: &str| match name {
        RTSCOPE_FILE => Some(OsStr::from_bytes(bytes).to_owned()),
        OTEL_SERVICE_NAME => Some(OsStr::from_bytes(b"caf\xe9").to_owned()),
        _ => None,
    };
    let (c, w) = resolve(&Overrides::default(), env);
    // Used to become "/tmp/caf\u{FFFD}.jsonl", a different file.
    assert_eq!(
        c.destination,
        Destination::File(PathBuf::from(OsStr::from_bytes(bytes)))
    );
    // Any other variable must be text: one line, and the default is used.
    assert_eq!(
        w,
        ["rtscope: OTEL_SERVICE_NAME is not valid UTF-8; ignoring it (write the value in UTF-8)"]
    );
    assert_eq!(c.service_name, default_service_name());
    // Messages show such a path escaped.
    assert_eq!(
        crate::base::text::path(std::path::Path::new(OsStr::from_bytes(bytes))),
        "\"/tmp/caf\u{fffd}.jsonl\""
    );
}

#[test]
fn credentials_in_endpoints_never_reach_a_message() {
    let file = (RTSCOPE_FILE, "/tmp/x.jsonl");
    warned(
        &[
            (
                OTEL_EXPORTER_OTLP_ENDPOINT,
                "http://user:SECRET@bad host/?key=SECRET",
            ),
            file,
        ],
        &[
            r#"rtscope: OTEL_EXPORTER_OTLP_ENDPOINT="http://[redacted]@bad host/?[redacted]" is not an http:// or https:// URL (it contains whitespace); writing to /tmp/x.jsonl instead"#,
        ],
    );
    warned(
        &[(OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, "ftp://SECRET@h"), file],
        &[
            r#"rtscope: OTEL_EXPORTER_OTLP_LOGS_ENDPOINT="ftp://[redacted]@h" is not an http:// or https:// URL (its scheme is neither http nor https); writing to /tmp/x.jsonl instead"#,
        ],
    );
    let o = Overrides {
        endpoint: Some("user:SECRET@host:4318".to_owned()),
        ..Overrides::default()
    };
    let (_, w) = run(&o, &[]);
    assert_eq!(
        w,
        [
            r#"rtscope: with_endpoint("[redacted]@host:4318") is not an http:// or https:// URL (it has no scheme); writing to ./rtscope-otlp.jsonl instead"#
        ]
    );
    assert_eq!(
        o.validate().unwrap_err().to_string(),
        r#"with_endpoint("[redacted]@host:4318"): not an http:// or https:// URL (it has no scheme); pass a full URL such as "http://127.0.0.1:4318""#
    );
}

#[test]
fn redact_url_hides_userinfo_and_query_only() {
    for (url, shown) in [
        ("http://h:4318/v1/metrics", "http://h:4318/v1/metrics"),
        ("http://u:p@h:4318/x", "http://[redacted]@h:4318/x"),
        ("https://a@b@h", "https://[redacted]@h"),
        ("http://h/p?api_key=k#f", "http://h/p?[redacted]"),
        ("u:p@h:1", "[redacted]@h:1"),
        ("http://h/path@not-userinfo", "http://h/path@not-userinfo"),
        ("", ""),
    ] {
        assert_eq!(redact_url(url), shown, "{url}");
    }
}

#[test]
fn metrics_variables_win_and_bad_ones_fall_through_to_the_generic_ones() {
    let base = (OTEL_EXPORTER_OTLP_ENDPOINT, "http://c:4318");
    let c = warned(
        &[
            base,
            (OTEL_EXPORTER_OTLP_PROTOCOL, "http/protobuf"),
            (OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, "grpc"),
            (OTEL_EXPORTER_OTLP_TIMEOUT, "1000"),
            (OTEL_EXPORTER_OTLP_METRICS_TIMEOUT, "2000"),
            (OTEL_EXPORTER_OTLP_COMPRESSION, "none"),
            (OTEL_EXPORTER_OTLP_METRICS_COMPRESSION, "gzip"),
            (OTEL_EXPORTER_OTLP_HEADERS, "a=generic"),
            (OTEL_EXPORTER_OTLP_METRICS_HEADERS, "b=metrics"),
        ],
        &[],
    );
    assert_eq!(
        c,
        otlp(OtlpTarget {
            protocol: Protocol::Grpc,
            metrics_endpoint: "http://c:4318".to_owned(),
            logs_endpoint: "http://c:4318".to_owned(),
            headers: pairs(&[("b", "metrics")]),
            timeout: Duration::from_secs(2),
            compression: Compression::Gzip,
            tls: TlsFiles::default(),
        })
    );
    let c = warned(
        &[
            base,
            (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
            (OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, "http/json"),
            (OTEL_EXPORTER_OTLP_TIMEOUT, "1000"),
            (OTEL_EXPORTER_OTLP_METRICS_TIMEOUT, "0"),
            (OTEL_EXPORTER_OTLP_COMPRESSION, "gzip"),
            (OTEL_EXPORTER_OTLP_METRICS_COMPRESSION, "zstd"),
        ],
        &[
            r#"rtscope: OTEL_EXPORTER_OTLP_METRICS_PROTOCOL="http/json" is not supported by rtscope (use grpc or http/protobuf); using grpc from OTEL_EXPORTER_OTLP_PROTOCOL"#,
            r#"rtscope: OTEL_EXPORTER_OTLP_METRICS_TIMEOUT="0" must be greater than 0 milliseconds; using 1000 from OTEL_EXPORTER_OTLP_TIMEOUT"#,
            r#"rtscope: OTEL_EXPORTER_OTLP_METRICS_COMPRESSION="zstd" is not a supported compression (use gzip or none); using gzip from OTEL_EXPORTER_OTLP_COMPRESSION"#,
        ],
    );
    assert_eq!(
        c,
        otlp(OtlpTarget {
            protocol: Protocol::Grpc,
            metrics_endpoint: "http://c:4318".to_owned(),
            logs_endpoint: "http://c:4318".to_owned(),
            headers: vec![],
            timeout: Duration::from_secs(1),
            compression: Compression::Gzip,
            tls: TlsFiles::default(),
        })
    );
    // Both bad: the default, and one warning each.
    warned(
        &[
            base,
            (OTEL_EXPORTER_OTLP_METRICS_TIMEOUT, "x"),
            (OTEL_EXPORTER_OTLP_TIMEOUT, "-3"),
        ],
        &[
            r#"rtscope: OTEL_EXPORTER_OTLP_METRICS_TIMEOUT="x" is not a number of milliseconds; using 10000"#,
            r#"rtscope: OTEL_EXPORTER_OTLP_TIMEOUT="-3" must be greater than 0 milliseconds; using 10000"#,
        ],
    );
}

#[test]
fn headers_are_decoded_and_malformed_ones_skipped_without_showing_values() {
    let c = warned(
        &[
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://c:4318"),
            (
                OTEL_EXPORTER_OTLP_HEADERS,
                "Authorization=Basic dXNlcjpwYXNz==, api-key=s%20ecret,Bearer token,=v,x y=1,k=%2,ctl=a%0Ab",
            ),
        ],
        &[
            r#"rtscope: OTEL_EXPORTER_OTLP_HEADERS entry 3 is not key=value (value not shown); skipping it"#,
            r#"rtscope: OTEL_EXPORTER_OTLP_HEADERS entry 4 has an empty header name; skipping it"#,
            r#"rtscope: OTEL_EXPORTER_OTLP_HEADERS header "x y" is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only); skipping it"#,
            r#"rtscope: OTEL_EXPORTER_OTLP_HEADERS header "k" has invalid percent-encoding in its value (write a literal % as %25); skipping it"#,
            r#"rtscope: OTEL_EXPORTER_OTLP_HEADERS header "ctl" has a control character in its value; skipping it"#,
        ],
    );
    let Destination::Otlp(t) = c.destination else {
        panic!("expected OTLP")
    };
    assert_eq!(
        t.headers,
        pairs(&[
            ("Authorization", "Basic dXNlcjpwYXNz=="),
            ("api-key", "s ecret")
        ])
    );
}

#[test]
fn with_file_wins_over_environment_endpoints_but_not_over_with_endpoint() {
    let vars = [
        (OTEL_EXPORTER_OTLP_ENDPOINT, "http://env:4318"),
        (RTSCOPE_FILE, "/env.jsonl"),
    ];
    let mut o = Overrides {
        file: Some(PathBuf::from("/code.jsonl")),
        ..Overrides::default()
    };
    let (c, w) = run(&o, &vars);
    assert!(w.is_empty());
    assert_eq!(
        c.destination,
        Destination::File(PathBuf::from("/code.jsonl"))
    );
    o.endpoint = Some("http://code:4318".to_owned());
    // The configured file stays the fallback when the collector's sink cannot be built.
    assert_eq!(
        run(&o, &vars).0,
        Config {
            fallback_file: PathBuf::from("/code.jsonl"),
            ..otlp(http_target(
                "http://code:4318/v1/metrics",
                "http://code:4318/v1/logs"
            ))
        }
    );
    // Without with_file the environment endpoint wins over RTSCOPE_FILE.
    assert_eq!(
        warned(&vars, &[]),
        Config {
            fallback_file: PathBuf::from("/env.jsonl"),
            ..otlp(http_target(
                "http://env:4318/v1/metrics",
                "http://env:4318/v1/logs"
            ))
        }
    );
}
