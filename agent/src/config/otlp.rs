//! Resolution of where the data goes: the destination (a collector or the file), the OTLP
//! settings both signals share (protocol, headers, timeouts, compression, TLS files), and
//! each signal's endpoint.

use super::*;

/// Where an endpoint came from, for warnings.
enum EndpointSource {
    Code,
    Env(&'static str),
    Default,
}

/// The OTLP settings both signals share, resolved before the endpoints.
struct Shared {
    protocol: Protocol,
    headers: Vec<(String, String)>,
    timeout: Duration,
    compression: Compression,
    tls: TlsFiles,
}

impl Reader<'_> {
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
    pub(super) fn destination(
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
    pub(super) fn destination_named(&self, o: &Overrides) -> bool {
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
        let protocol = self.setting(o.protocol, PROTOCOL);
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

        let timeout = self.setting(o.timeout.filter(|d| !d.is_zero()), TIMEOUT);
        self.logs_variant(
            OTEL_EXPORTER_OTLP_LOGS_TIMEOUT,
            "timeout",
            |v| parse_ms(v, false) == Ok(timeout),
            &ms_str(&timeout),
        );
        let cap = self.pick(EXPORT_TIMEOUT);
        let timeout = cap.map_or(timeout, |cap| timeout.min(cap));
        let compression = self.setting(o.compression, COMPRESSION);
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
            (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, METRICS_INSECURE),
            "/v1/metrics",
            protocol,
        );
        let logs = self.endpoint(
            o,
            (OTEL_EXPORTER_OTLP_LOGS_ENDPOINT, LOGS_INSECURE),
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
    /// warning naming the file written instead) when it is not an http(s) URL. `signal` is the
    /// signal's endpoint variable and its insecure setting.
    fn endpoint(
        &mut self,
        o: &Overrides,
        (signal_var, insecure): (&'static str, Setting<bool>),
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
            let insecure = self.pick(insecure);
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
    pub(super) fn file(&mut self, o: &Overrides) -> PathBuf {
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
