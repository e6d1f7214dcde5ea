//! What is measured: sampling, spikes, heap profiles, and the file's cap.

use super::*;

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
