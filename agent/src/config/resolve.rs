//! Resolution: builder settings over the environment over defaults, one reader and one
//! message style for every setting.

use super::*;

// ---------------------------------------------------------------------------------------------
// Resolution.
// ---------------------------------------------------------------------------------------------

/// Resolves from the process environment and prints the warnings to stderr.
pub(crate) fn resolve_from_process_env(overrides: &Overrides) -> Config {
    let (config, warnings) = resolve(overrides, |name| std::env::var_os(name));
    print_warnings(&warnings);
    config
}

/// Writes each line to stderr; a failing stderr is ignored (never panics, unlike `eprintln!`).
pub(crate) fn print_warnings(lines: &[String]) {
    use std::io::Write as _;
    let mut err = std::io::stderr().lock();
    for line in lines {
        let _ = writeln!(err, "{line}");
    }
}

/// Resolves a [`Config`] from settings made in code over the environment `env` (a lookup such
/// as `std::env::var_os`) over defaults. Pure apart from reading the executable name for the
/// default service name; never fails and never panics.
///
/// Returns the configuration and one line per value that could not be used (and one line when
/// OTLP is asked for without an endpoint, naming the default endpoint used). A bad value counts
/// as unset: the next source in precedence order is used and the warning says which. Endpoints
/// are the exception: a set but unusable endpoint sends everything to the file destination
/// instead, so that no data is lost.
pub(crate) fn resolve<V: Into<OsString>>(
    overrides: &Overrides,
    env: impl Fn(&str) -> Option<V>,
) -> (Config, Vec<String>) {
    let env = |name: &str| env(name).map(Into::into);
    let mut r = Reader {
        env: &env,
        warnings: Vec::new(),
        unshown: 0,
    };
    let o = overrides;

    let disabled = r.pick(&[OTEL_SDK_DISABLED], parse_bool, false, bool_str);

    // Service name and resource attributes.
    let mut attributes = r.pairs_attributes();
    let env_attr_service = take_key(&mut attributes, "service.name");
    let mut code_attr_service = None;
    for (key, value) in &o.resource_attributes {
        let key = key.trim();
        if key.is_empty() {
            r.warn(format!(
                "with_resource_attribute(\"\", {}) has an empty key; skipping it",
                quoted(value)
            ));
        } else if key == "service.name" {
            code_attr_service = Some(value.clone());
        } else {
            upsert(&mut attributes, key, value, |a, b| a == b);
        }
    }
    #[cfg(feature = "opentelemetry")]
    let code_attr_service = code_attr_service.or_else(|| {
        let key = opentelemetry::Key::from_static_str("service.name");
        Some(o.resource.as_ref()?.get(&key)?.to_string())
    });
    let service_name = match o
        .service_name
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or(code_attr_service)
    {
        Some(name) => name,
        None => r
            .get(OTEL_SERVICE_NAME)
            .or(env_attr_service)
            .unwrap_or_else(default_service_name),
    };

    let export_interval = match o.export_interval.filter(|d| !d.is_zero()) {
        Some(d) => d,
        None => r.pick(
            &[OTEL_METRIC_EXPORT_INTERVAL],
            |v| parse_ms(v, false),
            DEFAULT_EXPORT_INTERVAL,
            ms_str,
        ),
    };
    let temporality = match o.temporality {
        Some(t) => t,
        None => r.pick(
            &[OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE],
            parse_temporality,
            Temporality::Cumulative,
            |t| t.as_str().to_owned(),
        ),
    };
    let shutdown_timeout = match o.shutdown_timeout {
        Some(d) => d,
        None => r.pick(
            &[RTSCOPE_SHUTDOWN_TIMEOUT],
            |v| parse_ms(v, true),
            DEFAULT_SHUTDOWN_TIMEOUT,
            ms_str,
        ),
    };
    let summary_at_exit = match o.summary {
        Some(b) => b,
        None => r.pick(&[RTSCOPE_SUMMARY], parse_on_off, true, on_off_str),
    };
    let sampling = Sampling {
        enabled: match o.sampling {
            Some(b) => b,
            None => r.pick(&[RTSCOPE_SAMPLING], parse_on_off, true, on_off_str),
        },
        target_per_sec: match o.sampling_target {
            Some(t) => t,
            None => r.pick(
                &[RTSCOPE_SAMPLING_TARGET],
                parse_rate,
                DEFAULT_SAMPLING_TARGET,
                |t| t.to_string(),
            ),
        },
        interval: match o.sampling_interval {
            Some(b) => b,
            None => r.pick(
                &[RTSCOPE_SAMPLING_INTERVAL],
                parse_bytes,
                DEFAULT_SAMPLING_INTERVAL,
                |b| b.to_string(),
            ),
        },
        cpu_percent: match o.sampling_cpu {
            Some(p) => p,
            None => r.pick(
                &[RTSCOPE_SAMPLING_CPU],
                parse_percent,
                DEFAULT_SAMPLING_CPU,
                |p| p.to_string(),
            ),
        },
        seed: match o.sampling_seed {
            Some(s) => Some(s),
            None => r.pick(&[RTSCOPE_SAMPLING_SEED], parse_seed, None, |s| {
                s.map_or_else(|| "a random seed".to_owned(), |s| s.to_string())
            }),
        },
    };
    let spikes = r.spikes(&o.spikes);
    let profiles = r.profiles(o, sampling.enabled);

    let (mut metrics, prometheus_asked) = r.exporter(OTEL_METRICS_EXPORTER);
    let (logs, _) = r.exporter(OTEL_LOGS_EXPORTER);
    let prometheus = r.prometheus(o, prometheus_asked);
    if prometheus.is_some() && metrics == Choice::Unset {
        // `with_prometheus` with the variable unset: Prometheus alone, as if it said so.
        metrics = Choice::Off;
    }
    // Prometheus alone names no destination: log records (samples, spikes) then go where
    // something asks for them (`OTEL_LOGS_EXPORTER=otlp`, an endpoint, a file), not to the
    // default file (the export thread says so at start).
    let unasked = prometheus.is_some()
        && metrics == Choice::Off
        && logs == Choice::Unset
        && !r.destination_named(o);
    let signals = Signals {
        metrics: metrics != Choice::Off,
        logs: logs != Choice::Off && !unasked,
    };
    let listen = ListenLimits {
        connections: r.pick(
            &[RTSCOPE_LISTEN_CONNECTIONS],
            parse_listen_connections,
            DEFAULT_LISTEN_CONNECTIONS,
            |n| n.to_string(),
        ),
        cpu_percent: r.pick(
            &[RTSCOPE_LISTEN_CPU],
            parse_listen_cpu,
            DEFAULT_LISTEN_CPU_PERCENT,
            |p| p.to_string(),
        ),
    };
    let file = r.file(o);
    let file_max_bytes = match o.file_max_bytes {
        Some(b) => b,
        None => r.pick(
            &[RTSCOPE_FILE_MAX_BYTES],
            parse_bytes,
            DEFAULT_FILE_MAX_BYTES,
            |b| b.to_string(),
        ),
    };
    let asked = [(OTEL_METRICS_EXPORTER, metrics), (OTEL_LOGS_EXPORTER, logs)]
        .into_iter()
        .find(|&(_, choice)| choice == Choice::Otlp)
        .map(|(var, _)| format!("{var}=otlp"));
    // Profiles go where the other signals go (the file without an endpoint): asking for
    // them does not pick a collector by itself.
    let destination = r.destination(o, signals, profiles.otlp, asked);

    let config = Config {
        disabled,
        service_name,
        resource_attributes: attributes,
        export_interval,
        temporality,
        shutdown_timeout,
        destination,
        signals,
        prometheus,
        listen,
        file_max_bytes,
        fallback_file: file,
        summary_at_exit,
        sampling,
        spikes,
        profiles,
        #[cfg(feature = "opentelemetry")]
        resource: o.resource.clone(),
    };
    let mut warnings = r.warnings;
    if r.unshown > 0 {
        warnings.push(format!(
            "rtscope: {} more configuration problems not shown; fix the ones above first",
            r.unshown
        ));
    }
    (config, warnings)
}

/// At most this many configuration lines are printed; the rest are counted in one more line
/// (a list variable with thousands of bad entries must not flood stderr).
pub(super) const MAX_WARNINGS: usize = 32;

/// `unknown_service:<executable name>` as the specification defines the default, or
/// `unknown_service` when the executable name cannot be read.
pub(crate) fn default_service_name() -> String {
    match executable_name() {
        Some(name) => format!("unknown_service:{name}"),
        None => "unknown_service".to_owned(),
    }
}

/// The `process.executable.name` resource attribute: the file name of the running executable.
pub(super) fn executable_name() -> Option<String> {
    let from_exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    from_exe.or_else(|| {
        let arg0 = PathBuf::from(std::env::args_os().next()?);
        Some(arg0.file_name()?.to_string_lossy().into_owned())
    })
}

/// The fixed threshold variable of each spike kind, in [`SpikeKind::ALL`] order.
pub(super) const SPIKE_KIND_THRESHOLD_VARS: [&str; 4] = [
    RTSCOPE_SPIKE_SCHEDULE_THRESHOLD_MS,
    RTSCOPE_SPIKE_POLL_THRESHOLD_MS,
    RTSCOPE_SPIKE_TIMER_THRESHOLD_MS,
    RTSCOPE_SPIKE_LATENCY_THRESHOLD_MS,
];

/// The three variables that name a collector.
pub(super) const ENDPOINT_VARS: [&str; 3] = [
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
    OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
];

/// OTLP exporter variables other than endpoints and temporality (which also shapes the file):
/// setting one asks for OTLP, so without an endpoint the specification's default is used.
pub(super) const OTLP_SETTING_VARS: [&str; 24] = [
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
    OTEL_EXPORTER_OTLP_LOGS_PROTOCOL,
    OTEL_EXPORTER_OTLP_HEADERS,
    OTEL_EXPORTER_OTLP_METRICS_HEADERS,
    OTEL_EXPORTER_OTLP_LOGS_HEADERS,
    OTEL_EXPORTER_OTLP_TIMEOUT,
    OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
    OTEL_EXPORTER_OTLP_LOGS_TIMEOUT,
    OTEL_EXPORTER_OTLP_COMPRESSION,
    OTEL_EXPORTER_OTLP_METRICS_COMPRESSION,
    OTEL_EXPORTER_OTLP_LOGS_COMPRESSION,
    OTEL_EXPORTER_OTLP_INSECURE,
    OTEL_EXPORTER_OTLP_METRICS_INSECURE,
    OTEL_EXPORTER_OTLP_LOGS_INSECURE,
    OTEL_EXPORTER_OTLP_CERTIFICATE,
    OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE,
    OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE,
    OTEL_EXPORTER_OTLP_CLIENT_KEY,
    OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY,
    OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY,
];

// The logs variants of settings rtscope shares between its two signals: read only to say,
// when one asks for something else, that it is not used.
pub(super) const OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL";
pub(super) const OTEL_EXPORTER_OTLP_LOGS_HEADERS: &str = "OTEL_EXPORTER_OTLP_LOGS_HEADERS";
pub(super) const OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: &str = "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT";
pub(super) const OTEL_EXPORTER_OTLP_LOGS_COMPRESSION: &str = "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION";

// The logs variants of the TLS files: read only to say, when one names another file, that it
// is not used.
pub(super) const OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE: &str = "OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE";
pub(super) const OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE: &str =
    "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE";
pub(super) const OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY: &str = "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY";

/// What an `OTEL_*_EXPORTER` variable asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Choice {
    /// Unset, or nothing usable in it: rtscope's default (the file unless OTLP is asked for).
    Unset,
    /// `otlp` written: OTLP, to the specification's default endpoint if none is set.
    Otlp,
    /// `none`: the signal is not exported.
    Off,
}

/// Where an endpoint came from, for warnings.
pub(super) enum EndpointSource {
    Code,
    Env(&'static str),
    Default,
}

/// The OTLP settings both signals share, resolved before the endpoints.
pub(super) struct Shared {
    protocol: Protocol,
    headers: Vec<(String, String)>,
    timeout: Duration,
    compression: Compression,
    tls: TlsFiles,
}

pub(super) struct Reader<'a> {
    env: &'a dyn Fn(&str) -> Option<OsString>,
    warnings: Vec<String>,
    /// Distinct lines past [`MAX_WARNINGS`].
    unshown: usize,
}

impl Reader<'_> {
    /// The trimmed value of `name`; empty counts as unset, as the specification requires. A
    /// value that is not UTF-8 is warned about and counts as unset.
    fn get(&mut self, name: &str) -> Option<String> {
        match (self.env)(name)?.into_string() {
            Ok(v) => Some(v.trim().to_owned()).filter(|v| !v.is_empty()),
            Err(_) => {
                self.warn(format!(
                    "{name} is not valid UTF-8; ignoring it (write the value in UTF-8)"
                ));
                None
            }
        }
    }

    /// A path variable: kept byte for byte when it is not UTF-8 (a path need not be);
    /// trimmed, and empty counts as unset, when it is.
    fn get_path(&mut self, name: &str) -> Option<PathBuf> {
        let raw = (self.env)(name)?;
        match raw.to_str() {
            Some(v) => Some(PathBuf::from(v.trim())).filter(|p| !p.as_os_str().is_empty()),
            None => Some(PathBuf::from(raw)),
        }
    }

    /// Records one line, once (at most [`MAX_WARNINGS`] are kept, the rest counted).
    fn warn(&mut self, line: String) {
        let line = format!("rtscope: {line}");
        if self.warnings.contains(&line) {
            return;
        }
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(line);
        } else {
            self.unshown += 1;
        }
    }

    /// The first usable value among `names` (highest precedence first), else `default`. Each
    /// unusable value met on the way is warned about, naming what is used instead.
    fn pick<T>(
        &mut self,
        names: &[&'static str],
        parse: impl Fn(&str) -> Result<T, &'static str>,
        default: T,
        show: impl Fn(&T) -> String,
    ) -> T {
        let mut bad = Vec::new();
        let mut chosen = None;
        for &name in names {
            let Some(raw) = self.get(name) else { continue };
            match parse(&raw) {
                Ok(value) => {
                    chosen = Some((value, name));
                    break;
                }
                Err(problem) => bad.push((name, raw, problem)),
            }
        }
        let (value, used) = match chosen {
            Some((value, name)) => {
                let used = format!("{} from {name}", show(&value));
                (value, used)
            }
            None => {
                let used = show(&default);
                (default, used)
            }
        };
        for (name, raw, problem) in bad {
            self.warn(format!("{name}={} {problem}; using {used}", quoted(&raw)));
        }
        value
    }

    /// Spike settings made in code over the `RTSCOPE_SPIKE*` variables over defaults. A
    /// code value that `validate` rejects is ignored here (never a panic).
    fn spikes(&mut self, code: &SpikeBuilder) -> SpikeSettings {
        let d = SpikeSettings::default();
        let threshold = |v: &str| parse_ms(v, false).map(Some);
        let mut thresholds = d.thresholds;
        for ((t, code), var) in thresholds
            .iter_mut()
            .zip(code.thresholds)
            .zip(SPIKE_KIND_THRESHOLD_VARS)
        {
            *t = match code.filter(|t| !t.is_zero()) {
                Some(t) => Some(t),
                None => self.pick(
                    &[var, RTSCOPE_SPIKE_THRESHOLD_MS],
                    threshold,
                    None,
                    threshold_str,
                ),
            };
        }
        SpikeSettings {
            enabled: match code.enabled {
                Some(b) => b,
                None => self.pick(&[RTSCOPE_SPIKES], parse_on_off, d.enabled, on_off_str),
            },
            thresholds,
            latency_thresholds: code
                .latency_thresholds
                .iter()
                .filter(|(_, t)| !t.is_zero())
                .cloned()
                .collect(),
            floor: match code.floor.filter(|f| !f.is_zero()) {
                Some(f) => f,
                None => self.pick(
                    &[RTSCOPE_SPIKE_FLOOR_MS],
                    |v| parse_ms(v, false),
                    d.floor,
                    ms_str,
                ),
            },
            p99_factor: code
                .p99_factor
                .filter(|f| f.is_finite() && *f >= 1.0)
                .unwrap_or(d.p99_factor),
            burst: match code.burst.filter(|&b| b > 0) {
                Some(b) => b,
                None => self.pick(&[RTSCOPE_SPIKE_BURST], parse_events, d.burst, |b| {
                    b.to_string()
                }),
            },
            rate_per_minute: match code.rate_per_minute.filter(|r| r.is_finite() && *r > 0.0) {
                Some(r) => r,
                None => self.pick(
                    &[RTSCOPE_SPIKE_RATE_PER_MIN],
                    |v| parse_events(v).map(f64::from),
                    d.rate_per_minute,
                    |r| r.to_string(),
                ),
            },
        }
    }

    /// The heap profile settings. Without the `profiles` feature they are all off, and a
    /// variable asking for them is one line naming the feature.
    fn profiles(&mut self, o: &Overrides, sampling: bool) -> Profiles {
        if !cfg!(feature = "profiles") {
            for var in [
                RTSCOPE_HEAP_PROFILE,
                RTSCOPE_PPROF_ADDR,
                RTSCOPE_PPROF_DIR,
                OTEL_PROFILES_EXPORTER,
            ] {
                if self.get(var).is_some() {
                    self.warn(format!(
                        "{var} is set but this build of rtscope has no heap profiles; add the \
                         `profiles` feature to the rtscope dependency; ignoring it"
                    ));
                }
            }
            return Profiles::default();
        }
        let enabled = match o.heap_profile {
            Some(b) => b,
            None => self.pick(&[RTSCOPE_HEAP_PROFILE], parse_on_off, true, on_off_str),
        };
        Profiles {
            enabled: enabled && sampling,
            pprof_addr: match o.pprof_addr {
                Some(a) => Some(a),
                None => self.pick(&[RTSCOPE_PPROF_ADDR], parse_socket_addr, None, |_| {
                    "off".into()
                }),
            },
            dir: match &o.pprof_dir {
                Some(d) => Some(d.clone()),
                None => self.get_path(RTSCOPE_PPROF_DIR),
            },
            otlp: match o.profiles_otlp {
                Some(b) => b,
                None => self.exporter(OTEL_PROFILES_EXPORTER).0 == Choice::Otlp,
            },
        }
    }

    /// `OTEL_METRICS_EXPORTER` or `OTEL_LOGS_EXPORTER`: a comma-separated list, of which rtscope
    /// understands `otlp`, `none` and (for metrics) `prometheus`; every other entry is warned
    /// about and ignored. Returns the OTLP choice and whether `prometheus` is named.
    fn exporter(&mut self, var: &'static str) -> (Choice, bool) {
        let Some(raw) = self.get(var) else {
            return (Choice::Unset, false);
        };
        let (mut otlp, mut none, mut prometheus) = (false, false, false);
        let list = split_list(&raw).count() > 1;
        let known = if var == OTEL_METRICS_EXPORTER {
            "otlp, prometheus or none"
        } else {
            "otlp or none"
        };
        for entry in split_list(&raw) {
            let what = if list {
                format!("{var} entry {}", quoted(entry))
            } else {
                format!("{var}={}", quoted(entry))
            };
            match entry.to_ascii_lowercase().as_str() {
                "otlp" => otlp = true,
                "none" => none = true,
                "prometheus" if var == OTEL_METRICS_EXPORTER => {
                    if cfg!(feature = "export-prometheus") {
                        prometheus = true;
                    } else {
                        self.warn(format!(
                            "{what} needs rtscope's export-prometheus feature, which this build \
                             does not have (add it to rtscope's features); ignoring it"
                        ));
                    }
                }
                "console" | "logging" => self.warn(format!(
                    "{what} is a standard exporter rtscope does not support (use {known}; \
                     rtscope's console output is its summary at exit, RTSCOPE_SUMMARY); \
                     ignoring it"
                )),
                _ => self.warn(format!(
                    "{what} is not a known exporter (use {known}); ignoring it"
                )),
            }
        }
        let other = match (otlp, prometheus) {
            (true, true) => Some("otlp,prometheus"),
            (true, false) => Some("otlp"),
            (false, true) => Some("prometheus"),
            (false, false) => None,
        };
        match (other, none) {
            (Some(used), true) => {
                self.warn(format!(
                    "{var}={}: none cannot be combined with another exporter; using {used}",
                    quoted(&raw)
                ));
            }
            (None, true) => return (Choice::Off, false),
            _ => {}
        }
        let choice = match (otlp, prometheus) {
            (true, _) => Choice::Otlp,
            // Prometheus alone: metrics are not sent over OTLP.
            (false, true) => Choice::Off,
            (false, false) => Choice::Unset,
        };
        (choice, prometheus)
    }

    /// Where `/metrics` is served: `with_prometheus`, else the two variables (read, and a bad
    /// value warned about, only when Prometheus is asked for; set otherwise, they are named).
    fn prometheus(&mut self, o: &Overrides, asked: bool) -> Option<Listen> {
        let vars = [OTEL_EXPORTER_PROMETHEUS_HOST, OTEL_EXPORTER_PROMETHEUS_PORT];
        if let Some((host, port)) = &o.prometheus {
            if !cfg!(feature = "export-prometheus") {
                self.warn(format!(
                    "with_prometheus({}, {port}) needs rtscope's export-prometheus feature, which \
                     this build does not have (add it to rtscope's features); not serving /metrics",
                    quoted(host)
                ));
                return None;
            }
            return Some(Listen {
                host: host.clone(),
                port: *port,
                set_by: "the address given to with_prometheus(host, port)",
            });
        }
        if !asked {
            for var in vars {
                if self.get(var).is_some() {
                    self.warn(format!(
                        "{var} is set but {OTEL_METRICS_EXPORTER} does not name prometheus \
                         (set it to prometheus or otlp,prometheus to serve /metrics); ignoring it"
                    ));
                }
            }
            return None;
        }
        let host = match self.get(OTEL_EXPORTER_PROMETHEUS_HOST) {
            Some(h) => match check_listen_host(&h) {
                Ok(()) => h,
                Err(problem) => {
                    self.warn(format!(
                        "{OTEL_EXPORTER_PROMETHEUS_HOST}={} {problem}; using \
                         {DEFAULT_PROMETHEUS_HOST}",
                        quoted(&h)
                    ));
                    DEFAULT_PROMETHEUS_HOST.to_owned()
                }
            },
            None => DEFAULT_PROMETHEUS_HOST.to_owned(),
        };
        let port = self.pick(
            &[OTEL_EXPORTER_PROMETHEUS_PORT],
            parse_listen_port,
            DEFAULT_PROMETHEUS_PORT,
            |p| p.to_string(),
        );
        Some(Listen {
            host,
            port,
            set_by: "OTEL_EXPORTER_PROMETHEUS_PORT (or OTEL_EXPORTER_PROMETHEUS_HOST)",
        })
    }

    /// `OTEL_RESOURCE_ATTRIBUTES`, malformed entries warned about and skipped.
    fn pairs_attributes(&mut self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Some(raw) = self.get(OTEL_RESOURCE_ATTRIBUTES) else {
            return out;
        };
        for entry in split_list(&raw) {
            let var = OTEL_RESOURCE_ATTRIBUTES;
            let shown = quoted(entry);
            match parse_pair(entry) {
                Ok((key, value)) => upsert(&mut out, &key, &value, |a, b| a == b),
                Err(PairError::NoEquals) => {
                    self.warn(format!("{var} entry {shown} is not key=value; skipping it"))
                }
                Err(PairError::EmptyKey) => {
                    self.warn(format!("{var} entry {shown} has an empty key; skipping it"))
                }
                Err(PairError::BadPercent) => self.warn(format!(
                    "{var} entry {shown} has invalid percent-encoding (write a literal % as \
                     %25); skipping it"
                )),
            }
        }
        out
    }

    /// Headers from `var`; values never appear in warnings (they often hold credentials).
    fn headers(&mut self, var: &'static str, raw: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (i, entry) in split_list(raw).enumerate() {
            let n = i + 1;
            match parse_pair(entry) {
                Ok((name, value)) => match check_header(&name, &value) {
                    Ok(()) => out.push((name, value)),
                    Err(problem) => self.warn(format!(
                        "{var} header {} {problem}; skipping it",
                        quoted(&name)
                    )),
                },
                Err(PairError::NoEquals) => self.warn(format!(
                    "{var} entry {n} is not key=value (value not shown); skipping it"
                )),
                Err(PairError::EmptyKey) => self.warn(format!(
                    "{var} entry {n} has an empty header name; skipping it"
                )),
                Err(PairError::BadPercent) => {
                    let name = entry.split_once('=').map_or(entry, |(k, _)| k).trim();
                    self.warn(format!(
                        "{var} header {} has invalid percent-encoding in its value (write a \
                         literal % as %25); skipping it",
                        quoted(name)
                    ))
                }
            }
        }
        out
    }

    /// Where the data goes, highest first: `with_endpoint`; `with_file`; an endpoint variable;
    /// `RTSCOPE_FILE`; OTLP to the specification's default endpoint when something asks for
    /// OTLP (`asked`, an `OTEL_*_EXPORTER=otlp`, or an OTLP setting in code or the
    /// environment); else the default file. The OTLP variables are read (and a bad value
    /// reported) whenever code has not chosen the file. With no signal exported the endpoints
    /// are not read and the file (never written) stands in.
    fn destination(
        &mut self,
        o: &Overrides,
        signals: Signals,
        profiles: bool,
        asked: Option<String>,
    ) -> Destination {
        if o.endpoint.is_none()
            && let Some(file) = &o.file
        {
            return Destination::File(file.clone());
        }
        let shared = self.shared(o);
        if !signals.any() && !profiles {
            // Nothing goes anywhere: the endpoints do not matter.
            return Destination::File(self.file(o));
        }
        let asked = asked.or_else(|| self.asked_in_settings(o));
        let endpoint_set =
            o.endpoint.is_some() || ENDPOINT_VARS.iter().any(|var| self.get(var).is_some());
        if !endpoint_set {
            if let Some(file) = self.get_path(RTSCOPE_FILE) {
                return Destination::File(file);
            }
            let Some(asked) = asked else {
                return Destination::File(PathBuf::from(DEFAULT_FILE));
            };
            self.warn(format!(
                "no OTLP endpoint is set but {asked}; sending to the specification's default {} \
                 (set OTEL_EXPORTER_OTLP_ENDPOINT to choose the collector)",
                default_base(shared.protocol)
            ));
        }
        match self.otlp_target(o, shared) {
            Some(target) => Destination::Otlp(target),
            None => Destination::File(self.file(o)),
        }
    }

    /// Whether code or a variable names where data goes: an endpoint or the file (read as
    /// present only; their values are read, and warned about, where they are used).
    fn destination_named(&self, o: &Overrides) -> bool {
        o.endpoint.is_some()
            || o.file.is_some()
            || ENDPOINT_VARS
                .iter()
                .chain(&[RTSCOPE_FILE])
                .any(|var| (self.env)(var).is_some_and(|v| !v.is_empty()))
    }

    /// What asks for OTLP among the settings other than endpoints, for the line saying the
    /// default endpoint is used.
    fn asked_in_settings(&mut self, o: &Overrides) -> Option<String> {
        let code = [
            ("with_protocol", o.protocol.is_some()),
            ("with_header", !o.headers.is_empty()),
            ("with_timeout", o.timeout.is_some()),
            ("with_compression", o.compression.is_some()),
        ];
        if let Some((method, _)) = code.iter().find(|(_, set)| *set) {
            return Some(format!("{method} is called"));
        }
        OTLP_SETTING_VARS
            .iter()
            .find(|var| self.get(var).is_some())
            .map(|var| format!("{var} is set"))
    }

    /// Protocol, headers, timeout and compression: code, else the metrics variable, else the
    /// generic one, for both signals. A logs variable asking for something else is warned
    /// about (rtscope has one setting of each for both signals).
    fn shared(&mut self, o: &Overrides) -> Shared {
        let protocol = match o.protocol {
            Some(p) => p,
            None => self.pick(
                &[
                    OTEL_EXPORTER_OTLP_METRICS_PROTOCOL,
                    OTEL_EXPORTER_OTLP_PROTOCOL,
                ],
                parse_protocol,
                Protocol::HttpProtobuf,
                |p| p.as_str().to_owned(),
            ),
        };
        self.logs_variant(
            OTEL_EXPORTER_OTLP_LOGS_PROTOCOL,
            "protocol",
            |v| parse_protocol(v) == Ok(protocol),
            protocol.as_str(),
        );

        let mut headers_var = None;
        let mut headers = Vec::new();
        for var in [
            OTEL_EXPORTER_OTLP_METRICS_HEADERS,
            OTEL_EXPORTER_OTLP_HEADERS,
        ] {
            if let Some(raw) = self.get(var) {
                headers = self.headers(var, &raw);
                headers_var = Some(raw);
                break;
            }
        }
        let logs_headers = self.get(OTEL_EXPORTER_OTLP_LOGS_HEADERS);
        if logs_headers.is_some() && logs_headers != headers_var {
            self.warn(format!(
                "{OTEL_EXPORTER_OTLP_LOGS_HEADERS} differs from the headers rtscope uses (value \
                 not shown): logs are sent with the metrics headers \
                 ({OTEL_EXPORTER_OTLP_METRICS_HEADERS}, else {OTEL_EXPORTER_OTLP_HEADERS}, and \
                 with_header); set those instead"
            ));
        }
        for (name, value) in &o.headers {
            match check_header(name, value) {
                Ok(()) => upsert(&mut headers, name, value, str::eq_ignore_ascii_case),
                Err(problem) => self.warn(format!(
                    "with_header({}, ..) {problem}; skipping it",
                    quoted(name)
                )),
            }
        }

        let timeout = match o.timeout.filter(|d| !d.is_zero()) {
            Some(d) => d,
            None => self.pick(
                &[
                    OTEL_EXPORTER_OTLP_METRICS_TIMEOUT,
                    OTEL_EXPORTER_OTLP_TIMEOUT,
                ],
                |v| parse_ms(v, false),
                DEFAULT_TIMEOUT,
                ms_str,
            ),
        };
        self.logs_variant(
            OTEL_EXPORTER_OTLP_LOGS_TIMEOUT,
            "timeout",
            |v| parse_ms(v, false) == Ok(timeout),
            &ms_str(&timeout),
        );
        let cap = self.pick(
            &[OTEL_METRIC_EXPORT_TIMEOUT],
            |v| parse_ms(v, false).map(Some),
            None,
            |d| d.map_or_else(|| "no cap".to_owned(), |d| ms_str(&d)),
        );
        let timeout = cap.map_or(timeout, |cap| timeout.min(cap));
        let compression = match o.compression {
            Some(c) => c,
            None => self.pick(
                &[
                    OTEL_EXPORTER_OTLP_METRICS_COMPRESSION,
                    OTEL_EXPORTER_OTLP_COMPRESSION,
                ],
                parse_compression,
                Compression::None,
                |c| c.as_str().to_owned(),
            ),
        };
        self.logs_variant(
            OTEL_EXPORTER_OTLP_LOGS_COMPRESSION,
            "compression",
            |v| parse_compression(v) == Ok(compression),
            compression.as_str(),
        );
        let tls = self.tls_files();
        Shared {
            protocol,
            headers,
            timeout,
            compression,
            tls,
        }
    }

    /// The TLS files: the metrics variable, else the generic one; a logs variable naming
    /// another file is warned about. A client certificate without its key (or the reverse)
    /// is warned about and neither is used.
    fn tls_files(&mut self) -> TlsFiles {
        let file = |r: &mut Self, [metrics, generic, logs]: [&'static str; 3]| {
            let chosen = [metrics, generic].into_iter().find_map(|var| {
                Some(TlsFile {
                    path: r.get_path(var)?,
                    var,
                })
            });
            if let Some(other) = r.get_path(logs)
                && chosen.as_ref().is_none_or(|c| c.path != other)
            {
                let used = chosen.as_ref().map_or("none".to_owned(), |c| {
                    format!("{} from {}", crate::base::text::path(&c.path), c.var)
                });
                r.warn(format!(
                    "{logs}={} is not used: rtscope sends logs with the metrics TLS files \
                     ({metrics}, else {generic}); using {used}",
                    crate::base::text::path(&other)
                ));
            }
            chosen
        };
        let certificate = file(
            self,
            [
                OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE,
                OTEL_EXPORTER_OTLP_CERTIFICATE,
                OTEL_EXPORTER_OTLP_LOGS_CERTIFICATE,
            ],
        );
        let cert = file(
            self,
            [
                OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE,
                OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE,
                OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE,
            ],
        );
        let key = file(
            self,
            [
                OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY,
                OTEL_EXPORTER_OTLP_CLIENT_KEY,
                OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY,
            ],
        );
        let (client_certificate, client_key) = match (cert, key) {
            (Some(c), None) => {
                self.warn(format!(
                    "{} is set but no client key ({OTEL_EXPORTER_OTLP_CLIENT_KEY}): no client \
                     certificate is sent; set both",
                    c.var
                ));
                (None, None)
            }
            (None, Some(k)) => {
                self.warn(format!(
                    "{} is set but no client certificate ({OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE}): \
                     no client certificate is sent; set both",
                    k.var
                ));
                (None, None)
            }
            both => both,
        };
        TlsFiles {
            certificate,
            client_certificate,
            client_key,
        }
    }

    /// Warns when the logs variant `var` of a shared setting is set to something other than
    /// `used` (`same` says whether a value agrees with it).
    fn logs_variant(
        &mut self,
        var: &'static str,
        setting: &str,
        same: impl Fn(&str) -> bool,
        used: &str,
    ) {
        if let Some(raw) = self.get(var)
            && !same(&raw)
        {
            let generic = var.replace("_LOGS_", "_");
            let metrics = var.replace("_LOGS_", "_METRICS_");
            self.warn(format!(
                "{var}={} is not used: rtscope sends logs with the metrics {setting} ({metrics}, \
                 else {generic}); using {used}",
                quoted(&raw)
            ));
        }
    }

    /// The OTLP target, or `None` (after a warning) when an endpoint in use is not a URL.
    fn otlp_target(&mut self, o: &Overrides, shared: Shared) -> Option<OtlpTarget> {
        let protocol = shared.protocol;
        let metrics = self.endpoint(
            o,
            [
                OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
                OTEL_EXPORTER_OTLP_METRICS_INSECURE,
            ],
            "/v1/metrics",
            protocol,
        );
        let logs = self.endpoint(
            o,
            [
                OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
                OTEL_EXPORTER_OTLP_LOGS_INSECURE,
            ],
            "/v1/logs",
            protocol,
        );
        Some(OtlpTarget {
            protocol,
            metrics_endpoint: metrics?,
            logs_endpoint: logs?,
            headers: shared.headers,
            timeout: shared.timeout,
            compression: shared.compression,
            tls: shared.tls,
        })
    }

    /// One signal's URL: the code's base URL, else the signal's variable as is, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` as a base, else the protocol's default. `None` (after a
    /// warning naming the file written instead) when it is not an http(s) URL. `vars` are the
    /// signal's endpoint and insecure variables.
    fn endpoint(
        &mut self,
        o: &Overrides,
        [signal_var, insecure_var]: [&'static str; 2],
        path: &str,
        protocol: Protocol,
    ) -> Option<String> {
        let (source, written) = if let Some(base) = &o.endpoint {
            (EndpointSource::Code, base.trim().to_owned())
        } else if let Some(url) = self.get(signal_var) {
            (EndpointSource::Env(signal_var), url)
        } else if let Some(base) = self.get(OTEL_EXPORTER_OTLP_ENDPOINT) {
            (EndpointSource::Env(OTEL_EXPORTER_OTLP_ENDPOINT), base)
        } else {
            (EndpointSource::Default, default_base(protocol).to_owned())
        };
        let mut url = written.clone();
        if protocol == Protocol::Grpc && !has_scheme(&url) {
            // The specification (and opentelemetry-otlp 0.33): a gRPC endpoint without a scheme
            // is TLS unless OTEL_EXPORTER_OTLP_INSECURE says otherwise.
            let insecure = self.pick(
                &[insecure_var, OTEL_EXPORTER_OTLP_INSECURE],
                parse_bool,
                false,
                bool_str,
            );
            let scheme = if insecure { "http" } else { "https" };
            url = format!("{scheme}://{url}");
        }
        // Checked as written, before a signal path is joined to a base (which would turn
        // `http://` into `http:/v1/metrics`, a URL with no scheme).
        if let Err(problem) = check_url(&url) {
            let shown = quoted(&redact_url(&written));
            let what = match source {
                EndpointSource::Code => format!("with_endpoint({shown})"),
                EndpointSource::Env(var) => format!("{var}={shown}"),
                EndpointSource::Default => format!("the default endpoint {shown}"),
            };
            let file = self.file(o);
            self.warn(format!(
                "{what} is not an http:// or https:// URL ({problem}); writing to {} instead",
                crate::base::text::path(&file)
            ));
            return None;
        }
        Some(match source {
            EndpointSource::Env(var) if var == signal_var => url,
            _ => join_base(&url, path, protocol),
        })
    }

    /// The file written when no collector is used: `with_file`, else `RTSCOPE_FILE`, else the
    /// default.
    fn file(&mut self, o: &Overrides) -> PathBuf {
        o.file
            .clone()
            .or_else(|| self.get_path(RTSCOPE_FILE))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_FILE))
    }
}

/// The specification's default collector base URL for `protocol`.
pub(super) fn default_base(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Grpc => DEFAULT_GRPC_ENDPOINT,
        Protocol::HttpProtobuf => DEFAULT_HTTP_ENDPOINT,
    }
}
