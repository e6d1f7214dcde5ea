//! Tests of the builder, install and the exit paths.

use super::*;
use crate::config::{Destination, OtlpTarget};

#[cfg(feature = "_export")]
pub(super) const CHILD_VAR: &str = "RTSCOPE_TEST_EXIT_CHILD";

#[test]
fn builder_settings_win_over_the_environment() {
    let env = |name: &str| {
        let v = match name {
            "OTEL_SERVICE_NAME" => "env",
            "OTEL_EXPORTER_OTLP_ENDPOINT" => "http://env:4318",
            "OTEL_EXPORTER_OTLP_PROTOCOL" => "http/protobuf",
            "OTEL_METRIC_EXPORT_INTERVAL" => "1000",
            "OTEL_EXPORTER_OTLP_HEADERS" => "a=env,b=env",
            "OTEL_RESOURCE_ATTRIBUTES" => "k=env,j=env",
            "RTSCOPE_SUMMARY" => "on",
            "RTSCOPE_SPIKE_BURST" => "2",
            "RTSCOPE_SPIKE_FLOOR_MS" => "7",
            _ => return None,
        };
        Some(v.to_owned())
    };
    let (config, warnings) = Agent::builder()
        .with_service_name("code")
        .with_endpoint("http://code:4317")
        .with_protocol(Protocol::Grpc)
        .with_export_interval(Duration::from_secs(10))
        .with_header("A", "code")
        .with_resource_attribute("k", "code")
        .with_summary(false)
        .with_shutdown_timeout(Duration::from_millis(500))
        .with_spikes(crate::spike::SpikeSettings::builder().with_burst(9))
        .resolve_with(env)
        .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert_eq!(config.service_name, "code");
    assert_eq!(config.export_interval, Duration::from_secs(10));
    assert_eq!(config.shutdown_timeout, Duration::from_millis(500));
    assert!(!config.summary_at_exit);
    assert_eq!(config.spikes.burst, 9);
    assert_eq!(config.spikes.floor, Duration::from_millis(7));
    assert_eq!(
        config.resource_attributes,
        pairs(&[("k", "code"), ("j", "env")])
    );
    let Destination::Otlp(OtlpTarget {
        protocol,
        metrics_endpoint,
        logs_endpoint,
        headers,
        ..
    }) = config.destination
    else {
        panic!("expected OTLP, got {:?}", config.destination);
    };
    assert_eq!(protocol, Protocol::Grpc);
    assert_eq!(metrics_endpoint, "http://code:4317");
    assert_eq!(logs_endpoint, "http://code:4317");
    assert_eq!(headers, pairs(&[("A", "code"), ("b", "env")]));
}

#[test]
fn invalid_code_settings_are_errors_that_say_how_to_fix() {
    let err = Agent::builder()
        .with_endpoint("collector:4318")
        .install()
        .unwrap_err();
    assert!(matches!(err, InstallError::InvalidConfig(_)));
    assert_eq!(
        err.to_string(),
        "invalid rtscope setting with_endpoint(\"collector:4318\"): not an http:// or \
         https:// URL (it has no scheme); pass a full URL such as \"http://127.0.0.1:4318\""
    );
    assert!(err.into_builder().is_none());
    let err = Agent::builder()
        .with_spikes(crate::spike::SpikeSettings::builder().with_burst(0))
        .install()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid rtscope setting with_spikes(.. with_burst(0)): the burst must be at least 1 \
         event; to turn spikes off use with_enabled(false)"
    );
}

fn resolved(builder: AgentBuilder) -> Config {
    builder.resolve_with(|_| None).unwrap().0
}

/// What each destination needs, and what a build without it does.
#[test]
fn a_destination_whose_feature_is_off_is_named() {
    let grpc = resolved(
        Agent::builder()
            .with_endpoint("http://127.0.0.1:4317")
            .with_protocol(Protocol::Grpc),
    );
    let http = resolved(Agent::builder().with_endpoint("http://127.0.0.1:4318"));
    let https = resolved(Agent::builder().with_endpoint("https://127.0.0.1:4318"));
    let file = resolved(Agent::builder().with_file("out.jsonl"));
    let on = |f: bool, name| (!f).then_some(name);
    assert_eq!(
        missing_feature(&grpc),
        on(cfg!(feature = "export-grpc"), "export-grpc")
    );
    assert_eq!(
        missing_feature(&http),
        on(cfg!(feature = "export-http"), "export-http")
    );
    let https_needs = if cfg!(feature = "tls") {
        on(cfg!(feature = "export-http"), "export-http")
    } else {
        Some("tls")
    };
    assert_eq!(missing_feature(&https), https_needs);
    // An https:// logs endpoint alone needs TLS too (gRPC would go in plaintext without).
    let mut logs_https = http.clone();
    if let Destination::Otlp(t) = &mut logs_https.destination {
        t.logs_endpoint = "https://127.0.0.1:4318/v1/logs".into();
    }
    assert_eq!(missing_feature(&logs_https), https_needs);
    assert_eq!(
        missing_feature(&file),
        on(cfg!(feature = "export-file"), "export-file")
    );
    let mut disabled = grpc.clone();
    disabled.disabled = true;
    assert_eq!(missing_feature(&disabled), None);

    let mut fitted = grpc.clone();
    let result = fit_to_features(&mut fitted);
    if cfg!(feature = "export-grpc") {
        assert_eq!((result, &fitted.destination), (Ok(()), &grpc.destination));
    } else if cfg!(feature = "_export") {
        assert_eq!(result, Ok(()));
        assert_eq!(
            fitted.destination,
            Destination::File(grpc.fallback_file.clone())
        );
    } else {
        assert_eq!(result, Err("export-grpc"));
    }
    let err = InstallError::FeatureDisabled {
        feature: "export-grpc",
        destination: describe_destination(&grpc.destination),
    };
    assert_eq!(
        err.to_string(),
        "OTLP/gRPC to http://127.0.0.1:4317 needs rtscope's `export-grpc` feature, which is \
         off in this build: add it to the rtscope dependency's features (or set \
         OTEL_SDK_DISABLED=true)"
    );
}

/// Without any exporter, install is refused with the feature to enable, and nothing is
/// installed.
#[cfg(not(feature = "_export"))]
#[test]
fn without_an_exporter_install_names_the_feature() {
    let err = Agent::builder()
        .with_file("out.jsonl")
        .install()
        .unwrap_err();
    assert!(
        matches!(
            err,
            InstallError::FeatureDisabled {
                feature: "export-file",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the OTLP/JSON file \"out.jsonl\" needs rtscope's `export-file` feature, which is off \
         in this build: add it to the rtscope dependency's features (or set \
         OTEL_SDK_DISABLED=true)"
    );
    assert!(!Agent::is_installed());
}

/// The only test of this binary that installs (one agent per process).
#[cfg(feature = "export-file")]
#[test]
fn second_install_is_refused_and_hands_the_builder_back() {
    let file = std::env::temp_dir().join(format!("rtscope-unit-{}.jsonl", std::process::id()));
    let guard = Agent::builder()
        .with_file(&file)
        .with_summary(false)
        .with_service_name("first")
        .with_spikes(crate::spike::SpikeSettings::builder().with_rate_per_minute(60.0))
        .install()
        .expect("first install");
    assert!(Agent::is_installed());
    assert_eq!(guard.config().service_name, "first");
    assert_eq!(guard.config().spikes.rate_per_minute, 60.0);
    assert_eq!(guard.config().destination, Destination::File(file.clone()));

    let err = Agent::builder()
        .with_service_name("second")
        .install()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "an rtscope agent is already installed in this process; install it once, at the \
         start of main (with #[rtscope::main] or Agent::builder().install(), not both), and \
         keep its AgentGuard alive until main returns"
    );
    let builder = err.into_builder().expect("builder handed back");
    assert_eq!(builder.overrides.service_name.as_deref(), Some("second"));

    guard.shutdown();
    assert!(!shutdown_running(false), "the guard shut the exporter down");
    // Still once per process after the guard dropped.
    assert!(matches!(
        Agent::builder().install(),
        Err(InstallError::AlreadyInstalled(_))
    ));
    let _ = std::fs::remove_file(&file);
}

/// Runs in a child process (see below): installs and calls `exit` with the guard alive.
#[cfg(feature = "export-file")]
#[test]
#[ignore = "run in a child process by process_exit_flushes_through_atexit"]
fn exit_child() {
    if std::env::var_os(CHILD_VAR).is_none() {
        return;
    }
    let file = std::env::temp_dir().join(format!("rtscope-exit-{}.jsonl", std::process::id()));
    let guard = Agent::builder()
        .with_file(&file)
        .with_summary(false)
        .install()
        .expect("install in the child");
    let _ = std::fs::remove_file(&file);
    std::mem::forget(guard);
    std::process::exit(0);
}

#[cfg(all(any(unix, windows), feature = "export-file"))]
#[test]
fn process_exit_flushes_through_atexit() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "--ignored",
            "agent::tests::exit_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_VAR, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("rtscope-test: flushed at exit"), "{stderr}");
}
