use super::*;
use transport::SendError;

fn failed(signal: Signal, cause: &str, message: &str, held: Option<Held>) -> Delivery {
    Delivery {
        signal,
        result: Err(SendError {
            message: message.to_owned(),
            maybe_delivered: false,
            held,
            cause: cause.to_owned(),
        }),
        took: Duration::ZERO,
    }
}

fn ok(signal: Signal) -> Delivery {
    Delivery {
        signal,
        result: Ok(()),
        took: Duration::ZERO,
    }
}

#[test]
fn an_outage_is_one_line_per_cause_whatever_the_signals() {
    let sink = Sink::file(std::path::Path::new("/tmp/x.jsonl"), 1 << 20);
    let mut o = Outages::default();
    let tick = Duration::from_secs(1);
    let http_500 = |s, body| failed(s, "HTTP 500", body, None);
    // Metrics and logs fail for one cause, each with its own body: one line.
    let lines = o.report(
        &sink,
        &[
            http_500(Signal::Metrics, "HTTP 500: metrics down"),
            http_500(Signal::Logs, "HTTP 500: logs down"),
        ],
        tick,
    );
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("rtscope: export of metrics and logs to OTLP/JSON file")
            && lines[0].contains("failed: HTTP 500: metrics down; retrying every 1s"),
        "{}",
        lines[0]
    );
    // Profiles the collector does not take: a line of their own; the outage goes on
    // silently.
    let not_taken = failed(
        Signal::Profiles,
        "HTTP 404 Not Found",
        "HTTP 404 Not Found",
        Some(Held::NotTaken),
    );
    let lines = o.report(
        &sink,
        &[http_500(Signal::Metrics, "HTTP 500: again"), not_taken],
        tick,
    );
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("does not take profiles (HTTP 404 Not Found)")
            && lines[0].contains("the other signals go on"),
        "{}",
        lines[0]
    );
    // Metrics get through: the outage of metrics and logs ends, in one line.
    let lines = o.report(&sink, &[ok(Signal::Metrics)], tick);
    assert_eq!(
        lines,
        [
            "rtscope: export of metrics and logs to OTLP/JSON file /tmp/x.jsonl recovered \
          after 2 failed attempt(s)"
        ]
    );
    // Logs failing again now is news.
    let lines = o.report(&sink, &[http_500(Signal::Logs, "HTTP 500: x")], tick);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("rtscope: export of logs to"),
        "{}",
        lines[0]
    );
}
