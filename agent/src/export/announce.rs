//! What the export thread says once at start: where the data goes and when the first of it
//! gets there, and that log records go nowhere when nothing asks for them.

use super::transport::Sink;
use crate::config::Config;
use crate::model::bytes;
use std::time::Duration;

/// The start lines (no I/O, so tests can read them). `first`: when the first export is made;
/// `served`: where `/metrics` is served, when it is.
pub(crate) fn start(
    config: &Config,
    sink: &Sink,
    first: Duration,
    served: Option<&str>,
) -> Vec<String> {
    let mut lines = Vec::new();
    let signals = config.signals;
    let what = match (signals.metrics, signals.logs) {
        (true, true) => "metrics and log records",
        (true, false) => "metrics",
        (false, true) => "log records",
        (false, false) => "",
    };
    let when = format!(
        "every {:?}, the first {:?} after start",
        config.export_interval, first
    );
    if signals.any() {
        match sink.file_path() {
            Some(path) => {
                let path = crate::base::text::path(path);
                lines.push(format!(
                    "rtscope: writing {what} as OTLP/JSON lines to {path} (with {path}.1 at \
                     most {}) {when}; set OTEL_EXPORTER_OTLP_ENDPOINT to send them to a \
                     collector instead",
                    bytes(config.file_max_bytes)
                ));
            }
            None => lines.push(format!(
                "rtscope: sending {what} to {} {when}",
                sink.describe()
            )),
        }
    }
    if !signals.logs
        && let Some(at) = served
    {
        let spikes = at.strip_suffix("/metrics").unwrap_or(at);
        lines.push(format!(
            "rtscope: log records (allocation samples, spike events) are not exported, as \
             nothing asks for them: set RTSCOPE_FILE to write them to a file, or \
             OTEL_EXPORTER_OTLP_ENDPOINT to send them to a collector; the last spike events \
             are served on {spikes}{}",
            super::recent::PATH
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Destination, Signals};
    use std::path::PathBuf;

    fn config(signals: Signals) -> Config {
        let (mut c, _) =
            crate::config::resolve(&crate::config::Overrides::default(), |_| None::<String>);
        c.signals = signals;
        c
    }

    #[test]
    fn the_file_mode_says_where_and_when() {
        let c = config(Signals::default());
        let sink = Sink::file(&PathBuf::from("./x.jsonl"), c.file_max_bytes);
        let lines = start(&c, &sink, Duration::from_secs(1), None);
        assert_eq!(
            lines,
            [
                "rtscope: writing metrics and log records as OTLP/JSON lines to ./x.jsonl (with \
              ./x.jsonl.1 at most 64.0 MiB) every 60s, the first 1s after start; set \
              OTEL_EXPORTER_OTLP_ENDPOINT to send them to a collector instead"
            ]
        );
        assert_eq!(
            c.destination,
            Destination::File(PathBuf::from("./rtscope-otlp.jsonl"))
        );
    }

    #[test]
    fn prometheus_alone_says_log_records_go_nowhere_and_where_spikes_are() {
        let c = config(Signals {
            metrics: false,
            logs: false,
        });
        let sink = Sink::file(&PathBuf::from("./x.jsonl"), c.file_max_bytes);
        let lines = start(
            &c,
            &sink,
            Duration::from_secs(1),
            Some("http://127.0.0.1:9464/metrics"),
        );
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with(
                "rtscope: log records (allocation samples, spike events) are not exported"
            ),
            "{lines:?}"
        );
        assert!(
            lines[0].ends_with("served on http://127.0.0.1:9464/debug/rtscope/spikes"),
            "{lines:?}"
        );
    }
}
