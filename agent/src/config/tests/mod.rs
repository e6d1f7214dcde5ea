use super::test_env as env;
use super::*;

mod exporters;
mod measurement;
mod otlp;
pub(crate) mod vars;

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
        slow_poll_threshold: crate::task::DEFAULT_SLOW_POLL,
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
        slow_poll_threshold: crate::task::DEFAULT_SLOW_POLL,
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
