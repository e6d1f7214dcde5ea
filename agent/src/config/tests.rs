use super::test_env as env;
use super::*;

fn run(o: &Overrides, vars: &[(&str, &str)]) -> (Config, Vec<String>) {
    resolve(o, env(vars))
}

fn defaults() -> Config {
    Config {
        disabled: false,
        service_name: default_service_name(),
        resource_attributes: vec![],
        export_interval: Duration::from_secs(60),
        temporality: Temporality::Cumulative,
        shutdown_timeout: Duration::from_secs(2),
        destination: Destination::File(PathBuf::from("./rtscope-otlp.jsonl")),
        signals: Signals::default(),
        prometheus: None,
        listen: ListenLimits::default(),
        file_max_bytes: DEFAULT_FILE_MAX_BYTES,
        fallback_file: PathBuf::from(DEFAULT_FILE),
        summary_at_exit: true,
        sampling: Sampling::default(),
        spikes: SpikeSettings::default(),
        profiles: Profiles {
            enabled: cfg!(feature = "profiles"),
            ..Profiles::default()
        },
        #[cfg(feature = "opentelemetry")]
        resource: None,
    }
}

fn http_target(metrics: &str, logs: &str) -> OtlpTarget {
    OtlpTarget {
        protocol: Protocol::HttpProtobuf,
        metrics_endpoint: metrics.to_owned(),
        logs_endpoint: logs.to_owned(),
        headers: vec![],
        timeout: Duration::from_secs(10),
        compression: Compression::None,
        tls: TlsFiles::default(),
    }
}

fn otlp(target: OtlpTarget) -> Config {
    Config {
        destination: Destination::Otlp(target),
        ..defaults()
    }
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Resolves with no overrides; asserts the exact warning lines and returns the config.
fn warned(vars: &[(&str, &str)], expected: &[&str]) -> Config {
    let (config, warnings) = run(&Overrides::default(), vars);
    assert_eq!(warnings, expected, "warnings for {vars:?}");
    config
}

#[test]
fn empty_environment_gives_defaults_and_no_warnings() {
    assert_eq!(run(&Overrides::default(), &[]), (defaults(), vec![]));
}

#[test]
fn default_service_name_follows_the_spec() {
    let name = default_service_name();
    let exe = std::env::current_exe().unwrap();
    let exe = exe.file_name().unwrap().to_string_lossy();
    assert_eq!(name, format!("unknown_service:{exe}"));
}

#[test]
fn empty_and_blank_values_count_as_unset() {
    let vars = [
        (OTEL_SDK_DISABLED, ""),
        (OTEL_SERVICE_NAME, "  "),
        (OTEL_METRIC_EXPORT_INTERVAL, ""),
        (OTEL_EXPORTER_OTLP_ENDPOINT, " "),
        (RTSCOPE_SUMMARY, ""),
        (RTSCOPE_FILE, ""),
    ];
    assert_eq!(warned(&vars, &[]), defaults());
}

#[test]
fn every_plain_setting_from_the_environment() {
    let vars = [
        (OTEL_SDK_DISABLED, "TRUE"),
        (OTEL_SERVICE_NAME, "checkout"),
        (
            OTEL_RESOURCE_ATTRIBUTES,
            "deployment.environment=prod, team=pay%20ments",
        ),
        (OTEL_METRIC_EXPORT_INTERVAL, " 15000 "),
        (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, "Delta"),
        (RTSCOPE_FILE, "/tmp/out.jsonl"),
        (RTSCOPE_FILE_MAX_BYTES, "1048576"),
        (RTSCOPE_SUMMARY, "off"),
        (RTSCOPE_SHUTDOWN_TIMEOUT, "0"),
    ];
    let expected = Config {
        disabled: true,
        service_name: "checkout".to_owned(),
        resource_attributes: pairs(&[("deployment.environment", "prod"), ("team", "pay ments")]),
        export_interval: Duration::from_secs(15),
        temporality: Temporality::Delta,
        shutdown_timeout: Duration::ZERO,
        destination: Destination::File(PathBuf::from("/tmp/out.jsonl")),
        signals: Signals::default(),
        prometheus: None,
        listen: ListenLimits::default(),
        file_max_bytes: 1 << 20,
        fallback_file: PathBuf::from("/tmp/out.jsonl"),
        summary_at_exit: false,
        sampling: Sampling::default(),
        spikes: SpikeSettings::default(),
        profiles: defaults().profiles,
        #[cfg(feature = "opentelemetry")]
        resource: None,
    };
    assert_eq!(warned(&vars, &[]), expected);
}

#[test]
fn lowmemory_is_delta() {
    let vars = [(
        OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE,
        "lowmemory",
    )];
    assert_eq!(warned(&vars, &[]).temporality, Temporality::Delta);
}

#[test]
fn sdk_disabled_false_and_bad_value() {
    assert!(!warned(&[(OTEL_SDK_DISABLED, "false")], &[]).disabled);
    let c = warned(
        &[(OTEL_SDK_DISABLED, "yes")],
        &[r#"rtscope: OTEL_SDK_DISABLED="yes" is not true or false; using false"#],
    );
    assert!(!c.disabled);
}

#[test]
fn export_interval_bad_values() {
    for (raw, line) in [
        (
            "abc",
            r#"rtscope: OTEL_METRIC_EXPORT_INTERVAL="abc" is not a number of milliseconds; using 60000"#,
        ),
        (
            "0",
            r#"rtscope: OTEL_METRIC_EXPORT_INTERVAL="0" must be greater than 0 milliseconds; using 60000"#,
        ),
        (
            "-5",
            r#"rtscope: OTEL_METRIC_EXPORT_INTERVAL="-5" must be greater than 0 milliseconds; using 60000"#,
        ),
        (
            "1.5",
            r#"rtscope: OTEL_METRIC_EXPORT_INTERVAL="1.5" is not a number of milliseconds; using 60000"#,
        ),
        (
            "99999999999999999999",
            r#"rtscope: OTEL_METRIC_EXPORT_INTERVAL="99999999999999999999" is too large a number of milliseconds; using 60000"#,
        ),
        (
            "10s",
            r#"rtscope: OTEL_METRIC_EXPORT_INTERVAL="10s" is not a number of milliseconds; using 60000"#,
        ),
    ] {
        let c = warned(&[(OTEL_METRIC_EXPORT_INTERVAL, raw)], &[line]);
        assert_eq!(c, defaults());
    }
}

#[test]
fn warning_quotes_values_on_one_line() {
    warned(
        &[(OTEL_METRIC_EXPORT_INTERVAL, "1\n\"2\"")],
        &[
            r#"rtscope: OTEL_METRIC_EXPORT_INTERVAL="1\n\"2\"" is not a number of milliseconds; using 60000"#,
        ],
    );
}

#[test]
fn rtscope_variables_bad_values() {
    let c = warned(
        &[
            (RTSCOPE_SUMMARY, "maybe"),
            (RTSCOPE_SHUTDOWN_TIMEOUT, "-1"),
            (
                OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE,
                "sometimes",
            ),
        ],
        &[
            r#"rtscope: OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE="sometimes" is not a temporality preference (use cumulative, delta or lowmemory); using cumulative"#,
            r#"rtscope: RTSCOPE_SHUTDOWN_TIMEOUT="-1" must not be negative; using 2000"#,
            r#"rtscope: RTSCOPE_SUMMARY="maybe" is not on or off; using on"#,
        ],
    );
    assert_eq!(c, defaults());
    let c = warned(
        &[(RTSCOPE_SHUTDOWN_TIMEOUT, "soon")],
        &[
            r#"rtscope: RTSCOPE_SHUTDOWN_TIMEOUT="soon" is not a number of milliseconds; using 2000"#,
        ],
    );
    assert_eq!(c.shutdown_timeout, Duration::from_secs(2));
}

#[test]
fn resource_attributes_malformed_entries_are_skipped() {
    let c = warned(
        &[(
            OTEL_RESOURCE_ATTRIBUTES,
            "a=1,novalue,=x,b=%zz,c=%E2%82%AC,d=e=f,,a=2,g=",
        )],
        &[
            r#"rtscope: OTEL_RESOURCE_ATTRIBUTES entry "novalue" is not key=value; skipping it"#,
            r#"rtscope: OTEL_RESOURCE_ATTRIBUTES entry "=x" has an empty key; skipping it"#,
            r#"rtscope: OTEL_RESOURCE_ATTRIBUTES entry "b=%zz" has invalid percent-encoding (write a literal % as %25); skipping it"#,
        ],
    );
    assert_eq!(
        c.resource_attributes,
        pairs(&[("a", "2"), ("c", "€"), ("d", "e=f"), ("g", "")])
    );
}

#[test]
fn invalid_utf8_after_decoding_is_malformed() {
    warned(
        &[(OTEL_RESOURCE_ATTRIBUTES, "k=%FF")],
        &[
            r#"rtscope: OTEL_RESOURCE_ATTRIBUTES entry "k=%FF" has invalid percent-encoding (write a literal % as %25); skipping it"#,
        ],
    );
}

#[test]
fn service_name_precedence() {
    let attrs = (OTEL_RESOURCE_ATTRIBUTES, "service.name=from-attrs,x=1");
    let name = (OTEL_SERVICE_NAME, "from-env");
    // The attribute alone; it is moved out of the attribute list.
    let c = warned(&[attrs], &[]);
    assert_eq!(c.service_name, "from-attrs");
    assert_eq!(c.resource_attributes, pairs(&[("x", "1")]));
    // OTEL_SERVICE_NAME wins over the attribute.
    assert_eq!(warned(&[attrs, name], &[]).service_name, "from-env");
    // Code wins over both: a builder resource attribute, then with_service_name.
    let mut o = Overrides {
        resource_attributes: pairs(&[("service.name", "code-attr")]),
        ..Overrides::default()
    };
    assert_eq!(run(&o, &[attrs, name]).0.service_name, "code-attr");
    o.service_name = Some("code".to_owned());
    let (c, w) = run(&o, &[attrs, name]);
    assert_eq!((c.service_name.as_str(), w), ("code", vec![]));
    assert_eq!(c.resource_attributes, pairs(&[("x", "1")]));
}

#[test]
fn builder_attributes_merge_over_environment_ones() {
    let o = Overrides {
        resource_attributes: pairs(&[("b", "code"), ("c", "3"), ("c", "4")]),
        ..Overrides::default()
    };
    let (c, w) = run(&o, &[(OTEL_RESOURCE_ATTRIBUTES, "a=1,b=env")]);
    assert!(w.is_empty());
    assert_eq!(
        c.resource_attributes,
        pairs(&[("a", "1"), ("b", "code"), ("c", "4")])
    );
}

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
fn echoed_values_are_capped_and_escaped() {
    // A 100 KB value used to make a 100 KB warning line.
    let huge = "9".repeat(99_995) + "\u{1b}[2Jx";
    let (_, w) = run(
        &Overrides::default(),
        &[(OTEL_METRIC_EXPORT_INTERVAL, huge.as_str())],
    );
    assert_eq!(
        w,
        [format!(
            r#"rtscope: OTEL_METRIC_EXPORT_INTERVAL="{}"... (100000 bytes) is not a number of milliseconds; using 60000"#,
            "9".repeat(64)
        )]
    );
    // Control characters are escaped wherever they sit, an escape counts as what it shows
    // (the cut keeps whole characters: see `text`'s tests).
    let attrs = format!("{}=1,k\u{1b}[2J{}", "é".repeat(70), "x".repeat(100));
    let (_, w) = run(&Overrides::default(), &[(OTEL_RESOURCE_ATTRIBUTES, &attrs)]);
    assert_eq!(
        w,
        [format!(
            r#"rtscope: OTEL_RESOURCE_ATTRIBUTES entry "k\u{{1b}}[2J{}"... (105 bytes) is not key=value; skipping it"#,
            "x".repeat(54)
        )]
    );
}

#[test]
fn thousands_of_bad_entries_make_a_bounded_number_of_lines() {
    let attrs = (0..10_000)
        .map(|i| format!("bad{i}"))
        .collect::<Vec<_>>()
        .join(",");
    let (_, w) = run(&Overrides::default(), &[(OTEL_RESOURCE_ATTRIBUTES, &attrs)]);
    assert_eq!(w.len(), MAX_WARNINGS + 1);
    assert_eq!(
        w[0],
        r#"rtscope: OTEL_RESOURCE_ATTRIBUTES entry "bad0" is not key=value; skipping it"#
    );
    assert_eq!(
        w[MAX_WARNINGS],
        format!(
            "rtscope: {} more configuration problems not shown; fix the ones above first",
            10_000 - MAX_WARNINGS
        )
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
fn code_settings_win_over_the_environment() {
    let o = Overrides {
        service_name: Some("code".to_owned()),
        export_interval: Some(Duration::from_secs(5)),
        temporality: Some(Temporality::Cumulative),
        shutdown_timeout: Some(Duration::from_millis(300)),
        endpoint: Some("https://code:4318/".to_owned()),
        protocol: Some(Protocol::HttpProtobuf),
        headers: pairs(&[("X-Key", "code")]),
        timeout: Some(Duration::from_secs(3)),
        compression: Some(Compression::None),
        summary: Some(true),
        ..Overrides::default()
    };
    // Bad environment values that code settings replace are not even read: no warnings.
    let vars = [
        (OTEL_SERVICE_NAME, "env"),
        (OTEL_METRIC_EXPORT_INTERVAL, "abc"),
        (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, "delta"),
        (RTSCOPE_SHUTDOWN_TIMEOUT, "x"),
        (OTEL_EXPORTER_OTLP_ENDPOINT, "http://env:4318"),
        (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, "not a url"),
        (OTEL_EXPORTER_OTLP_PROTOCOL, "grpc"),
        (OTEL_EXPORTER_OTLP_HEADERS, "x-key=env,other=1"),
        (OTEL_EXPORTER_OTLP_TIMEOUT, "x"),
        (OTEL_EXPORTER_OTLP_COMPRESSION, "gzip"),
        (RTSCOPE_SUMMARY, "off"),
    ];
    let (c, w) = run(&o, &vars);
    assert_eq!(w, Vec::<String>::new());
    assert_eq!(
        c,
        Config {
            service_name: "code".to_owned(),
            export_interval: Duration::from_secs(5),
            shutdown_timeout: Duration::from_millis(300),
            destination: Destination::Otlp(OtlpTarget {
                protocol: Protocol::HttpProtobuf,
                metrics_endpoint: "https://code:4318/v1/metrics".to_owned(),
                logs_endpoint: "https://code:4318/v1/logs".to_owned(),
                headers: pairs(&[("X-Key", "code"), ("other", "1")]),
                timeout: Duration::from_secs(3),
                compression: Compression::None,
                tls: TlsFiles::default(),
            }),
            ..defaults()
        }
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

#[test]
fn bad_code_values_are_still_handled_defensively() {
    // `validate` rejects these first; `resolve` must still never panic on them.
    let o = Overrides {
        endpoint: Some("nowhere".to_owned()),
        export_interval: Some(Duration::ZERO),
        ..Overrides::default()
    };
    let (c, w) = run(&o, &[]);
    assert_eq!(c, defaults());
    assert_eq!(
        w,
        [
            r#"rtscope: with_endpoint("nowhere") is not an http:// or https:// URL (it has no scheme); writing to ./rtscope-otlp.jsonl instead"#
        ]
    );
}

#[test]
fn validate_rejects_bad_code_values_with_a_fix() {
    let check = |o: Overrides, expected: &str| {
        assert_eq!(o.validate().unwrap_err().to_string(), expected);
    };
    check(
        Overrides {
            endpoint: Some("localhost:4318".to_owned()),
            ..Overrides::default()
        },
        r#"with_endpoint("localhost:4318"): not an http:// or https:// URL (it has no scheme); pass a full URL such as "http://127.0.0.1:4318""#,
    );
    check(
        Overrides {
            export_interval: Some(Duration::ZERO),
            ..Overrides::default()
        },
        "with_export_interval(0): the interval must be greater than zero, e.g. Duration::from_secs(10)",
    );
    check(
        Overrides {
            timeout: Some(Duration::ZERO),
            ..Overrides::default()
        },
        "with_timeout(0): the export timeout must be greater than zero, e.g. Duration::from_secs(10)",
    );
    check(
        Overrides {
            headers: pairs(&[("bad name", "v")]),
            ..Overrides::default()
        },
        r#"with_header("bad name", ..): is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)"#,
    );
    check(
        Overrides {
            service_name: Some(" ".to_owned()),
            ..Overrides::default()
        },
        r#"with_service_name(" "): the service name is empty; pass a name such as "checkout", or do not call it to use OTEL_SERVICE_NAME"#,
    );
    check(
        Overrides {
            resource_attributes: pairs(&[("", "v")]),
            ..Overrides::default()
        },
        r#"with_resource_attribute("", ..): the key is empty; pass a key such as "deployment.environment""#,
    );
    assert_eq!(Overrides::default().validate(), Ok(()));
}

#[test]
fn url_check() {
    for ok in [
        "http://localhost",
        "https://a.b-c_d.example:443/path?q=1#f",
        "HTTP://127.0.0.1:4318",
        "http://[::1]:4318/v1",
        "http://[fe80::1]",
        "http://user:pw@host:1",
    ] {
        assert_eq!(check_url(ok), Ok(()), "{ok}");
    }
    for (bad, problem) in [
        ("localhost:4318", "it has no scheme"),
        ("://x", "it has no scheme"),
        ("unix:///tmp/s", "its scheme is neither http nor https"),
        ("http://", "it has no host"),
        ("http://:80", "it has no host"),
        ("http://h:", "its port is not a number from 0 to 65535"),
        ("http://h:x1", "its port is not a number from 0 to 65535"),
        ("http://h:65536", "its port is not a number from 0 to 65535"),
        ("http://[::1", "its IPv6 address has no closing ]"),
        ("http://[]:1", "its IPv6 address is malformed"),
        ("http://[::1]x", "it has junk after the IPv6 address"),
        ("http://ho!st", "its host is malformed"),
        ("http://a b", "it contains whitespace"),
    ] {
        assert_eq!(check_url(bad), Err(problem), "{bad}");
    }
}

#[test]
fn percent_decoding_is_strict() {
    assert_eq!(percent_decode("a%20b%2C%3d").as_deref(), Some("a b,="));
    assert_eq!(percent_decode("100%"), None);
    assert_eq!(percent_decode("%4"), None);
    assert_eq!(percent_decode("%g0"), None);
    assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
    assert_eq!(percent_decode("%C3"), None);
}

#[test]
fn sampling_from_env_and_builder() {
    let (c, w) = resolve(
        &Overrides::default(),
        env(&[
            (RTSCOPE_SAMPLING_TARGET, "250"),
            (RTSCOPE_SAMPLING_INTERVAL, "65536"),
            (RTSCOPE_SAMPLING_CPU, "2.5"),
            (RTSCOPE_SAMPLING_SEED, "42"),
        ]),
    );
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c.sampling.target_per_sec, 250.0);
    assert_eq!(c.sampling.interval, 65536);
    assert_eq!(c.sampling.cpu_percent, 2.5);
    assert_eq!(c.sampling.seed, Some(42));
    assert!(c.sampling.enabled);
    let (c, _) = resolve(&Overrides::default(), env(&[]));
    assert_eq!(c.sampling.cpu_percent, 1.0, "1 % of one core by default");
    assert_eq!(c.sampling.seed, None);

    let (c, _) = resolve(&Overrides::default(), env(&[(RTSCOPE_SAMPLING, "off")]));
    assert!(!c.sampling.enabled);

    let o = Overrides {
        sampling: Some(true),
        sampling_target: Some(10.0),
        ..Overrides::default()
    };
    let (c, w) = resolve(
        &o,
        env(&[(RTSCOPE_SAMPLING, "off"), (RTSCOPE_SAMPLING_TARGET, "x")]),
    );
    assert!(
        w.is_empty(),
        "builder settings win, env not even read: {w:?}"
    );
    assert!(c.sampling.enabled);
    assert_eq!(c.sampling.target_per_sec, 10.0);
}

#[test]
fn bad_sampling_values_are_named() {
    let (c, w) = resolve(
        &Overrides::default(),
        env(&[
            (RTSCOPE_SAMPLING_TARGET, "-3"),
            (RTSCOPE_SAMPLING_INTERVAL, "lots"),
            (RTSCOPE_SAMPLING_CPU, "150"),
            (RTSCOPE_SAMPLING_SEED, "-1"),
        ]),
    );
    assert_eq!(c.sampling, Sampling::default());
    assert_eq!(
        w,
        [
            r#"rtscope: RTSCOPE_SAMPLING_TARGET="-3" must be a positive number of samples per second; using 100"#,
            r#"rtscope: RTSCOPE_SAMPLING_INTERVAL="lots" is not a whole number of bytes; using 524288"#,
            r#"rtscope: RTSCOPE_SAMPLING_CPU="150" must be a percent of one core above 0 and at most 100; using 1"#,
            r#"rtscope: RTSCOPE_SAMPLING_SEED="-1" is not a whole number from 0 to 18446744073709551615; using a random seed"#,
        ]
    );
    let o = Overrides {
        sampling_cpu: Some(0.0),
        ..Overrides::default()
    };
    let e = o.validate().unwrap_err();
    assert_eq!(e.setting, "with_sampling_cpu(0)");
}

#[test]
fn spikes_from_code_then_environment_then_defaults() {
    let vars = [
        (RTSCOPE_SPIKE_THRESHOLD_MS, "100"),
        (RTSCOPE_SPIKE_POLL_THRESHOLD_MS, "30"),
        (RTSCOPE_SPIKE_TIMER_THRESHOLD_MS, "40"),
        (RTSCOPE_SPIKE_FLOOR_MS, "8"),
        (RTSCOPE_SPIKE_BURST, "2"),
        (RTSCOPE_SPIKE_RATE_PER_MIN, "30"),
        (RTSCOPE_SPIKES, "x"),
    ];
    let o = Overrides {
        spikes: SpikeSettings::builder()
            .with_enabled(true)
            .with_threshold(SpikeKind::Timer, Duration::from_millis(7))
            .with_latency_threshold("checkout", Duration::from_millis(250))
            .with_p99_factor(3.0)
            .with_rate_per_minute(12.0),
        ..Overrides::default()
    };
    // Code settings win, and the variables they replace are not even read: no warning
    // about RTSCOPE_SPIKES.
    let (c, w) = run(&o, &vars);
    assert!(w.is_empty(), "{w:?}");
    let ms = |n| Some(Duration::from_millis(n));
    assert_eq!(
        c.spikes,
        SpikeSettings {
            enabled: true,
            // schedule, poll, timer, latency
            thresholds: [ms(100), ms(30), ms(7), ms(100)],
            latency_thresholds: vec![("checkout".to_owned(), Duration::from_millis(250))],
            floor: Duration::from_millis(8),
            p99_factor: 3.0,
            burst: 2,
            rate_per_minute: 12.0,
        }
    );
    let c = warned(&[(RTSCOPE_SPIKES, "OFF")], &[]);
    assert_eq!(
        c.spikes,
        SpikeSettings {
            enabled: false,
            ..SpikeSettings::default()
        }
    );
    assert_eq!(defaults().spikes.burst, crate::spike::DEFAULT_BURST);
}

#[test]
fn bad_spike_values_are_named() {
    let c = warned(
        &[
            (RTSCOPE_SPIKES, "maybe"),
            (RTSCOPE_SPIKE_THRESHOLD_MS, "-3"),
            (RTSCOPE_SPIKE_FLOOR_MS, "0"),
            (RTSCOPE_SPIKE_BURST, "99999999999"),
            (RTSCOPE_SPIKE_RATE_PER_MIN, "lots\u{1b}[2J"),
        ],
        &[
            r#"rtscope: RTSCOPE_SPIKE_THRESHOLD_MS="-3" must be greater than 0 milliseconds; using the rolling P99"#,
            r#"rtscope: RTSCOPE_SPIKES="maybe" is not on or off; using on"#,
            r#"rtscope: RTSCOPE_SPIKE_FLOOR_MS="0" must be greater than 0 milliseconds; using 5"#,
            r#"rtscope: RTSCOPE_SPIKE_BURST="99999999999" is too large a number of events; using 5"#,
            r#"rtscope: RTSCOPE_SPIKE_RATE_PER_MIN="lots\u{1b}[2J" is not a whole number of events; using 6"#,
        ],
    );
    assert_eq!(c.spikes, SpikeSettings::default());
    // A bad kind variable falls through to the one for every kind.
    let c = warned(
        &[
            (RTSCOPE_SPIKE_POLL_THRESHOLD_MS, "soon"),
            (RTSCOPE_SPIKE_THRESHOLD_MS, "100"),
        ],
        &[
            r#"rtscope: RTSCOPE_SPIKE_POLL_THRESHOLD_MS="soon" is not a number of milliseconds; using 100 from RTSCOPE_SPIKE_THRESHOLD_MS"#,
        ],
    );
    assert_eq!(c.spikes.thresholds, [Some(Duration::from_millis(100)); 4]);
}

#[test]
fn bad_spike_settings_in_code_are_errors_and_ignored_by_resolve() {
    let check = |b: SpikeBuilder, expected: &str| {
        let o = Overrides {
            spikes: b,
            ..Overrides::default()
        };
        assert_eq!(o.validate().unwrap_err().to_string(), expected);
        // `resolve` never panics on them either: each counts as unset.
        assert_eq!(run(&o, &[]), (defaults(), vec![]));
    };
    let b = SpikeSettings::builder;
    check(
        b().with_p99_factor(0.5),
        "with_spikes(.. with_p99_factor(0.5)): the factor must be a finite number of at \
         least 1, e.g. 2.0",
    );
    check(
        b().with_burst(0),
        "with_spikes(.. with_burst(0)): the burst must be at least 1 event; to turn spikes \
         off use with_enabled(false)",
    );
    check(
        b().with_rate_per_minute(f64::NAN),
        "with_spikes(.. with_rate_per_minute(NaN)): the rate must be a finite number of \
         events per minute above 0, e.g. 6.0",
    );
    check(
        b().with_floor(Duration::ZERO),
        "with_spikes(.. with_floor(0)): the floor must be greater than zero, e.g. \
         Duration::from_millis(5)",
    );
    check(
        b().with_threshold(SpikeKind::Poll, Duration::ZERO),
        "with_spikes(.. with_threshold(SpikeKind::Poll, 0)): a threshold must be greater \
         than zero, e.g. Duration::from_millis(50)",
    );
    check(
        b().with_latency_threshold("a\nb", Duration::ZERO),
        r#"with_spikes(.. with_latency_threshold("a\nb", 0)): a threshold must be greater than zero, e.g. Duration::from_millis(50)"#,
    );
}

#[test]
fn debug_never_shows_header_values_or_userinfo() {
    let o = Overrides {
        endpoint: Some("http://user:PASSWORD@h:4318".to_owned()),
        headers: pairs(&[("authorization", "Bearer TOKEN")]),
        ..Overrides::default()
    };
    let vars = [
        (OTEL_EXPORTER_OTLP_ENDPOINT, "http://user:PASSWORD@h:4318"),
        (OTEL_EXPORTER_OTLP_HEADERS, "x-api-key=TOKEN"),
    ];
    let config = warned(&vars, &[]);
    for shown in [format!("{o:?}"), format!("{config:?}")] {
        assert!(
            !shown.contains("PASSWORD") && !shown.contains("TOKEN"),
            "{shown}"
        );
        assert!(shown.contains("http://[redacted]@h:4318"), "{shown}");
        assert!(shown.contains("[redacted]\")"), "{shown}");
    }
    assert_eq!(redact_url("http://h:1/a@b"), "http://h:1/a@b");
    assert_eq!(redact_url("https://a@b@h"), "https://[redacted]@h");
    // A bad endpoint's warning does not show its userinfo either.
    warned(
        &[(OTEL_EXPORTER_OTLP_ENDPOINT, "ftp://user:PASSWORD@h")],
        &[
            "rtscope: OTEL_EXPORTER_OTLP_ENDPOINT=\"ftp://[redacted]@h\" is not an http:// or \
           https:// URL (its scheme is neither http nor https); writing to \
           ./rtscope-otlp.jsonl instead",
        ],
    );
}

#[test]
fn file_max_bytes_from_code_then_environment_then_default() {
    assert_eq!(defaults().file_max_bytes, 64 << 20);
    let vars = [(RTSCOPE_FILE_MAX_BYTES, "1000")];
    assert_eq!(warned(&vars, &[]).file_max_bytes, 1000);
    let o = Overrides {
        file_max_bytes: Some(5),
        ..Overrides::default()
    };
    assert_eq!(run(&o, &vars).0.file_max_bytes, 5);
    let config = warned(
        &[(RTSCOPE_FILE_MAX_BYTES, "64MB")],
        &[
            "rtscope: RTSCOPE_FILE_MAX_BYTES=\"64MB\" is not a whole number of bytes; using \
           67108864",
        ],
    );
    assert_eq!(config.file_max_bytes, DEFAULT_FILE_MAX_BYTES);
    let zero = Overrides {
        file_max_bytes: Some(0),
        ..Overrides::default()
    };
    assert_eq!(
        zero.validate().unwrap_err().setting,
        "with_file_max_bytes(0)"
    );
}

#[test]
fn heap_profile_settings() {
    if !cfg!(feature = "profiles") {
        return; // bad_heap_profile_values_are_named_and_ignored covers the build without
    }
    let c = warned(
        &[
            (RTSCOPE_PPROF_ADDR, "127.0.0.1:6060"),
            (RTSCOPE_PPROF_DIR, "/tmp/heap"),
            (OTEL_PROFILES_EXPORTER, "otlp"),
        ],
        &[],
    );
    // Without an endpoint they go where the rest goes: the file.
    assert_eq!(c.destination, defaults().destination);
    assert_eq!(
        c.profiles.pprof_addr,
        Some("127.0.0.1:6060".parse().unwrap())
    );
    assert_eq!(
        c.profiles.dir.as_deref(),
        Some(std::path::Path::new("/tmp/heap"))
    );
    assert!(c.profiles.otlp);
    assert!(c.profiles.enabled);
    // Off by itself, and with sampling.
    assert!(
        !warned(&[(RTSCOPE_HEAP_PROFILE, "off")], &[])
            .profiles
            .enabled
    );
    assert!(!warned(&[(RTSCOPE_SAMPLING, "off")], &[]).profiles.enabled);
    // Code wins.
    let o = Overrides {
        heap_profile: Some(false),
        pprof_addr: Some("127.0.0.1:7070".parse().unwrap()),
        ..Overrides::default()
    };
    let (c, _) = run(&o, &[(RTSCOPE_PPROF_ADDR, "127.0.0.1:6060")]);
    assert!(!c.profiles.enabled);
    assert_eq!(
        c.profiles.pprof_addr,
        Some("127.0.0.1:7070".parse().unwrap())
    );
    // `with_profiles(true)` without an endpoint keeps the file (the demo's case: it once
    // switched to the specification's default collector and exported nowhere).
    let o = Overrides {
        profiles_otlp: Some(true),
        ..Overrides::default()
    };
    let (c, warnings) = run(&o, &[]);
    assert!(c.profiles.otlp);
    assert_eq!(c.destination, defaults().destination);
    assert_eq!(warnings, Vec::<String>::new());
}

#[test]
fn bad_heap_profile_values_are_named_and_ignored() {
    let (c, warnings) = run(
        &Overrides::default(),
        &[
            (RTSCOPE_PPROF_ADDR, "localhost:6060\u{1b}[2J"),
            (RTSCOPE_HEAP_PROFILE, "maybe"),
            (OTEL_PROFILES_EXPORTER, "zipkin"),
        ],
    );
    assert_eq!(c.profiles.pprof_addr, None);
    assert_eq!(c.profiles.enabled, cfg!(feature = "profiles"));
    assert!(!c.profiles.otlp);
    let text = warnings.join("\n");
    for var in [
        RTSCOPE_PPROF_ADDR,
        RTSCOPE_HEAP_PROFILE,
        OTEL_PROFILES_EXPORTER,
    ] {
        assert!(text.contains(var), "{var} not named: {text}");
    }
    assert!(!text.contains('\u{1b}'), "control characters shown: {text}");
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
