//! The exporter variables, Prometheus and rtscope's own listener.

use super::*;

#[test]
fn exporter_none_turns_a_signal_off() {
    let off = |metrics, logs| Signals { metrics, logs };
    let c = warned(&[(OTEL_METRICS_EXPORTER, "none")], &[]);
    assert_eq!(
        c,
        Config {
            signals: off(false, true),
            ..defaults()
        }
    );
    let c = warned(&[(OTEL_LOGS_EXPORTER, "NONE")], &[]);
    assert_eq!(c.signals, off(true, false));
    // Both off: nothing is exported, so no OTLP setting asks for the default endpoint.
    let c = warned(
        &[
            (OTEL_METRICS_EXPORTER, "none"),
            (OTEL_LOGS_EXPORTER, "none"),
            (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
        ],
        &[],
    );
    assert!(!c.signals.any());
    assert_eq!(c.destination, defaults().destination);
    // ... and an endpoint is not even read (no false "writing to the file instead" line),
    // while a bad setting is still reported.
    let c = warned(
        &[
            (OTEL_METRICS_EXPORTER, "none"),
            (OTEL_LOGS_EXPORTER, "none"),
            (OTEL_EXPORTER_OTLP_ENDPOINT, "localhost:4318"),
            (OTEL_EXPORTER_OTLP_COMPRESSION, "zstd"),
        ],
        &[
            r#"rtscope: OTEL_EXPORTER_OTLP_COMPRESSION="zstd" is not a supported compression (use gzip or none); using none"#,
        ],
    );
    assert_eq!(c.destination, defaults().destination);
    // One signal off, the other explicitly otlp: the default endpoint, for that one.
    let c = warned(
        &[
            (OTEL_METRICS_EXPORTER, "none"),
            (OTEL_LOGS_EXPORTER, "otlp"),
        ],
        &[
            r#"rtscope: no OTLP endpoint is set but OTEL_LOGS_EXPORTER=otlp; sending to the specification's default http://localhost:4318 (set OTEL_EXPORTER_OTLP_ENDPOINT to choose the collector)"#,
        ],
    );
    assert_eq!(
        c,
        Config {
            signals: off(false, true),
            ..otlp(http_target(
                "http://localhost:4318/v1/metrics",
                "http://localhost:4318/v1/logs"
            ))
        }
    );
}

#[test]
fn unsupported_and_unknown_exporters_are_named() {
    let console = r#"rtscope: OTEL_METRICS_EXPORTER="console" is a standard exporter rtscope does not support (use otlp, prometheus or none; rtscope's console output is its summary at exit, RTSCOPE_SUMMARY); ignoring it"#;
    let c = warned(&[(OTEL_METRICS_EXPORTER, "console")], &[console]);
    assert_eq!(c, defaults());
    // `prometheus` is no logs exporter; unknown values say what is known.
    warned(
        &[(OTEL_LOGS_EXPORTER, "prometheus")],
        &[
            r#"rtscope: OTEL_LOGS_EXPORTER="prometheus" is not a known exporter (use otlp or none); ignoring it"#,
        ],
    );
    // In a list the usable entry is used and the others named.
    let c = warned(
        &[
            (OTEL_METRICS_EXPORTER, "none, logging"),
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://c:4318"),
        ],
        &[
            r#"rtscope: OTEL_METRICS_EXPORTER entry "logging" is a standard exporter rtscope does not support (use otlp, prometheus or none; rtscope's console output is its summary at exit, RTSCOPE_SUMMARY); ignoring it"#,
        ],
    );
    assert!(!c.signals.metrics);
    let c = warned(
        &[
            (OTEL_LOGS_EXPORTER, "none,otlp"),
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://c:4318"),
        ],
        &[
            r#"rtscope: OTEL_LOGS_EXPORTER="none,otlp": none cannot be combined with another exporter; using otlp"#,
        ],
    );
    assert!(c.signals.logs);
}

#[cfg(feature = "export-prometheus")]
fn sig(metrics: bool, logs: bool) -> Signals {
    Signals { metrics, logs }
}

#[cfg(feature = "export-prometheus")]
fn prometheus_at(host: &str, port: u16) -> Option<Listen> {
    Some(Listen {
        host: host.to_owned(),
        port,
        set_by: "OTEL_EXPORTER_PROMETHEUS_PORT (or OTEL_EXPORTER_PROMETHEUS_HOST)",
    })
}

#[cfg(feature = "export-prometheus")]
#[test]
fn prometheus_serves_metrics_alone_or_beside_otlp() {
    // Alone: metrics are served, not sent; log records go nowhere, since nothing names a
    // destination (the default file would fill with samples nobody asked for).
    let c = warned(&[(OTEL_METRICS_EXPORTER, "prometheus")], &[]);
    assert_eq!(c.prometheus, prometheus_at("localhost", 9464));
    assert_eq!(c.signals, sig(false, false));
    // Log records go where a file or an endpoint is named, or where OTLP is asked for.
    let file = warned(
        &[
            (OTEL_METRICS_EXPORTER, "prometheus"),
            (RTSCOPE_FILE, "/tmp/x.jsonl"),
        ],
        &[],
    );
    assert_eq!(file.signals, sig(false, true));
    assert_eq!(file.destination, Destination::File("/tmp/x.jsonl".into()));
    let endpoint = warned(
        &[
            (OTEL_METRICS_EXPORTER, "prometheus"),
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://c:4318"),
        ],
        &[],
    );
    assert_eq!(endpoint.signals, sig(false, true));
    assert!(matches!(endpoint.destination, Destination::Otlp(_)));
    let asked = run(
        &Overrides::default(),
        &[
            (OTEL_METRICS_EXPORTER, "prometheus"),
            (OTEL_LOGS_EXPORTER, "otlp"),
        ],
    )
    .0;
    assert_eq!(asked.signals, sig(false, true));
    // Both, with the host and port of the variables.
    let c = warned(
        &[
            (OTEL_METRICS_EXPORTER, "otlp, Prometheus"),
            (OTEL_EXPORTER_PROMETHEUS_HOST, "0.0.0.0"),
            (OTEL_EXPORTER_PROMETHEUS_PORT, "9100"),
            (OTEL_EXPORTER_OTLP_ENDPOINT, "http://c:4318"),
        ],
        &[],
    );
    assert_eq!(c.prometheus, prometheus_at("0.0.0.0", 9100));
    assert_eq!(c.signals, Signals::default());
    assert!(matches!(c.destination, Destination::Otlp(_)));
    // Logs off too: nothing goes to OTLP or the file, /metrics is still served.
    let c = warned(
        &[
            (OTEL_METRICS_EXPORTER, "prometheus"),
            (OTEL_LOGS_EXPORTER, "none"),
        ],
        &[],
    );
    assert!(!c.signals.any());
    assert!(c.prometheus.is_some());
    // `prometheus` is no logs exporter.
    let c = warned(
        &[(OTEL_LOGS_EXPORTER, "prometheus")],
        &[
            r#"rtscope: OTEL_LOGS_EXPORTER="prometheus" is not a known exporter (use otlp or none); ignoring it"#,
        ],
    );
    assert_eq!(c.prometheus, None);
}

#[cfg(feature = "export-prometheus")]
#[test]
fn bad_prometheus_settings_are_named_and_the_defaults_used() {
    let c = warned(
        &[
            (OTEL_METRICS_EXPORTER, "prometheus,none"),
            (OTEL_EXPORTER_PROMETHEUS_HOST, "evil\u{1b}[2Jhost"),
            (OTEL_EXPORTER_PROMETHEUS_PORT, "99999"),
        ],
        &[
            r#"rtscope: OTEL_METRICS_EXPORTER="prometheus,none": none cannot be combined with another exporter; using prometheus"#,
            r#"rtscope: OTEL_EXPORTER_PROMETHEUS_HOST="evil\u{1b}[2Jhost" is not an IP address or host name; use one such as 0.0.0.0, or localhost; using localhost"#,
            r#"rtscope: OTEL_EXPORTER_PROMETHEUS_PORT="99999" is not a port (1 to 65535); using 9464"#,
        ],
    );
    assert_eq!(c.prometheus, prometheus_at("localhost", 9464));
    // Host and port without the exporter: named, not served.
    let c = warned(
        &[(OTEL_EXPORTER_PROMETHEUS_PORT, "9100")],
        &[
            r#"rtscope: OTEL_EXPORTER_PROMETHEUS_PORT is set but OTEL_METRICS_EXPORTER does not name prometheus (set it to prometheus or otlp,prometheus to serve /metrics); ignoring it"#,
        ],
    );
    assert_eq!(c, defaults());
}

#[test]
fn the_listener_limits_are_read_and_bad_values_named() {
    let c = warned(
        &[
            (RTSCOPE_LISTEN_CONNECTIONS, "64"),
            (RTSCOPE_LISTEN_CPU, "5%"),
        ],
        &[],
    );
    assert_eq!(
        c.listen,
        ListenLimits {
            connections: 64,
            cpu_percent: 5.0
        }
    );
    let c = warned(
        &[
            (RTSCOPE_LISTEN_CONNECTIONS, "0"),
            (RTSCOPE_LISTEN_CPU, "200"),
        ],
        &[
            r#"rtscope: RTSCOPE_LISTEN_CONNECTIONS="0" is not a number of connections from 1 to 1024; using 16"#,
            r#"rtscope: RTSCOPE_LISTEN_CPU="200" is not a percentage of one core from 0.1 to 100; using 2"#,
        ],
    );
    assert_eq!(c.listen, ListenLimits::default());
}

// Issue 21, finding 6: `0` was taken as a host name, and glibc's lookup read it as 0.0.0.0,
// serving /metrics on every interface.
#[cfg(feature = "export-prometheus")]
#[test]
fn a_shortened_ipv4_host_is_refused_and_localhost_used() {
    for host in [
        "0",
        "127.1",
        "0x7f.1",
        "2130706433",
        "017.0.0.1",
        "1.2.3.4.5",
        "10.0.0.1.",
    ] {
        let c = warned(
            &[
                (OTEL_METRICS_EXPORTER, "prometheus"),
                (OTEL_EXPORTER_PROMETHEUS_HOST, host),
            ],
            &[&format!(
                "rtscope: OTEL_EXPORTER_PROMETHEUS_HOST=\"{host}\" is neither a full IP address \
                 nor a host name: the system reads such shortened forms as IPv4 addresses (0 is \
                 0.0.0.0, every interface; 127.1 is 127.0.0.1); write the address in full, such \
                 as 127.0.0.1 or 0.0.0.0; using localhost"
            )],
        );
        assert_eq!(c.prometheus, prometheus_at("localhost", 9464), "{host}");
    }
    // Full addresses and names (even with digits) are kept.
    for host in [
        "0.0.0.0",
        "127.0.0.1",
        "::",
        "[::1]",
        "metrics-1",
        "host.example",
        "1a.example",
    ] {
        let c = warned(
            &[
                (OTEL_METRICS_EXPORTER, "prometheus"),
                (OTEL_EXPORTER_PROMETHEUS_HOST, host),
            ],
            &[],
        );
        assert_eq!(c.prometheus, prometheus_at(host, 9464), "{host}");
    }
    let code = Overrides {
        prometheus: Some(("0".to_owned(), 9464)),
        ..Overrides::default()
    };
    let e = code.validate().unwrap_err();
    assert!(
        e.problem.starts_with("is neither a full IP address"),
        "{e:?}"
    );
}

#[cfg(feature = "export-prometheus")]
#[test]
fn with_prometheus_wins_and_alone_means_prometheus_only() {
    let code = Overrides {
        prometheus: Some(("127.0.0.1".to_owned(), 9200)),
        ..Overrides::default()
    };
    let (c, warnings) = run(&code, &[(OTEL_EXPORTER_PROMETHEUS_PORT, "9100")]);
    assert_eq!(warnings, Vec::<String>::new());
    let at = c.prometheus.unwrap();
    assert_eq!((at.host.as_str(), at.port), ("127.0.0.1", 9200));
    assert_eq!(
        at.set_by,
        "the address given to with_prometheus(host, port)"
    );
    assert_eq!(c.signals, sig(false, false));
    // With the variable naming otlp as well, both.
    let (c, _) = run(&code, &[(OTEL_METRICS_EXPORTER, "otlp")]);
    assert!(c.signals.metrics && c.prometheus.is_some());
}

#[test]
fn with_prometheus_of_an_unusable_address_is_refused() {
    for (host, port, problem) in [
        (
            "",
            9464,
            "the host is empty; use an IP address such as 0.0.0.0, or localhost",
        ),
        (
            "a b",
            9464,
            "is not an IP address or host name; use one such as 0.0.0.0, or localhost",
        ),
        (
            "localhost",
            0,
            "the port must be between 1 and 65535, e.g. 9464",
        ),
    ] {
        let code = Overrides {
            prometheus: Some((host.to_owned(), port)),
            ..Overrides::default()
        };
        let e = code.validate().unwrap_err();
        assert_eq!(e.setting, format!("with_prometheus(\"{host}\", {port})"));
        assert_eq!(e.problem, problem);
    }
}

#[cfg(not(feature = "export-prometheus"))]
#[test]
fn prometheus_without_its_feature_is_named_and_metrics_go_as_if_unset() {
    let c = warned(
        &[(OTEL_METRICS_EXPORTER, "prometheus")],
        &[
            r#"rtscope: OTEL_METRICS_EXPORTER="prometheus" needs rtscope's export-prometheus feature, which this build does not have (add it to rtscope's features); ignoring it"#,
        ],
    );
    assert_eq!(c, defaults());
    let code = Overrides {
        prometheus: Some(("127.0.0.1".to_owned(), 9200)),
        ..Overrides::default()
    };
    let (c, warnings) = run(&code, &[]);
    assert_eq!(
        warnings,
        [
            r#"rtscope: with_prometheus("127.0.0.1", 9200) needs rtscope's export-prometheus feature, which this build does not have (add it to rtscope's features); not serving /metrics"#
        ]
    );
    assert_eq!(c.prometheus, None);
    assert!(c.signals.metrics);
}
