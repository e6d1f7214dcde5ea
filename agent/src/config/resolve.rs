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
/// default service name and, while the deprecated `task::set_slow_poll_threshold` exists, the
/// process's slow-poll threshold for its default; never fails and never panics.
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

    let disabled = r.pick(SDK_DISABLED);

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

    let export_interval = r.setting(o.export_interval.filter(|d| !d.is_zero()), EXPORT_INTERVAL);
    let temporality = r.setting(o.temporality, TEMPORALITY);
    let shutdown_timeout = r.setting(o.shutdown_timeout, SHUTDOWN_TIMEOUT);
    let summary_at_exit = r.setting(o.summary, SUMMARY);
    let sampling = Sampling {
        enabled: r.setting(o.sampling, SAMPLING),
        target_per_sec: r.setting(o.sampling_target, SAMPLING_TARGET),
        interval: r.setting(o.sampling_interval, SAMPLING_INTERVAL),
        cpu_percent: r.setting(o.sampling_cpu, SAMPLING_CPU),
        seed: r.setting(o.sampling_seed.map(Some), SAMPLING_SEED),
    };
    let spikes = r.spikes(&o.spikes);
    // Until the deprecated `task::set_slow_poll_threshold` goes, what it set before install is
    // the default (`DEFAULT_SLOW_POLL` when it was not called), so install keeps it.
    let slow_poll_threshold = o
        .slow_poll_threshold
        .unwrap_or_else(crate::task::slow_poll_threshold);
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
        connections: r.pick(LISTEN_CONNECTIONS),
        cpu_percent: r.pick(LISTEN_CPU),
    };
    let file = r.file(o);
    let file_max_bytes = r.setting(o.file_max_bytes, FILE_MAX_BYTES);
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
        slow_poll_threshold,
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

/// The environment being read and the warnings so far.
pub(super) struct Reader<'a> {
    pub(super) env: &'a dyn Fn(&str) -> Option<OsString>,
    warnings: Vec<String>,
    /// Distinct lines past [`MAX_WARNINGS`].
    unshown: usize,
}

impl Reader<'_> {
    /// The trimmed value of `name`; empty counts as unset, as the specification requires. A
    /// value that is not UTF-8 is warned about and counts as unset.
    pub(super) fn get(&mut self, name: &str) -> Option<String> {
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
    pub(super) fn get_path(&mut self, name: &str) -> Option<PathBuf> {
        let raw = (self.env)(name)?;
        match raw.to_str() {
            Some(v) => Some(PathBuf::from(v.trim())).filter(|p| !p.as_os_str().is_empty()),
            None => Some(PathBuf::from(raw)),
        }
    }

    /// Records one line, once (at most [`MAX_WARNINGS`] are kept, the rest counted).
    pub(super) fn warn(&mut self, line: String) {
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

    /// The first usable value of `setting`'s variables (highest precedence first), else its
    /// default. Each unusable value met on the way is warned about, naming what is used
    /// instead.
    pub(super) fn pick<T>(&mut self, setting: Setting<T>) -> T {
        let Setting {
            vars,
            parse,
            default,
            show,
        } = setting;
        let mut bad = Vec::new();
        let mut chosen = None;
        for &name in vars {
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

    /// The value set in code when there is one (the variables are then not read), else
    /// [`pick`](Self::pick).
    pub(super) fn setting<T>(&mut self, code: Option<T>, setting: Setting<T>) -> T {
        match code {
            Some(value) => value,
            None => self.pick(setting),
        }
    }

    /// Spike settings made in code over the `RTSCOPE_SPIKE*` variables over defaults. A
    /// code value that `validate` rejects is ignored here (never a panic).
    fn spikes(&mut self, code: &SpikeBuilder) -> SpikeSettings {
        let d = SpikeSettings::default();
        let mut thresholds = d.thresholds;
        for ((t, code), setting) in thresholds
            .iter_mut()
            .zip(code.thresholds)
            .zip(SPIKE_THRESHOLDS)
        {
            *t = self.setting(code.filter(|t| !t.is_zero()).map(Some), setting);
        }
        SpikeSettings {
            enabled: self.setting(code.enabled, SPIKES),
            thresholds,
            latency_thresholds: code
                .latency_thresholds
                .iter()
                .filter(|(_, t)| !t.is_zero())
                .cloned()
                .collect(),
            floor: self.setting(code.floor.filter(|f| !f.is_zero()), SPIKE_FLOOR),
            p99_factor: code
                .p99_factor
                .filter(|f| f.is_finite() && *f >= 1.0)
                .unwrap_or(d.p99_factor),
            burst: self.setting(code.burst.filter(|&b| b > 0), SPIKE_BURST),
            rate_per_minute: self.setting(
                code.rate_per_minute.filter(|r| r.is_finite() && *r > 0.0),
                SPIKE_RATE,
            ),
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
        let enabled = self.setting(o.heap_profile, HEAP_PROFILE);
        Profiles {
            enabled: enabled && sampling,
            pprof_addr: self.setting(o.pprof_addr.map(Some), PPROF_ADDR),
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
        let host = self
            .pick(PROMETHEUS_HOST)
            .unwrap_or_else(|| DEFAULT_PROMETHEUS_HOST.to_owned());
        let port = self.pick(PROMETHEUS_PORT);
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
}
