//! Each signal (metrics, logs, profiles) is a request of its own with its own outcome: one
//! signal's failure, `Retry-After` or absence at the collector never holds the others back.
//! The requests of one export go out at once ([`join_all`]), so the export takes as long as
//! its slowest request, never the sum of their timeouts.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

/// An OTLP signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Signal {
    Metrics,
    Logs,
    /// OTLP Profiles (`v1development`).
    Profiles,
}

impl Signal {
    pub(crate) const ALL: [Signal; 3] = [Signal::Metrics, Signal::Logs, Signal::Profiles];

    /// As in the self-telemetry's `rtscope.signal` attribute and in messages.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
            Signal::Profiles => "profiles",
        }
    }

    /// Its place in per-signal arrays (`Signal::ALL[s.index()] == s`).
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// `metrics`, `metrics and logs`, `metrics, logs and profiles`.
pub(crate) fn names(signals: &[Signal]) -> String {
    let names: Vec<&str> = signals.iter().map(|s| s.name()).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// Why a signal is held back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Held {
    /// The collector asked for the pause (`Retry-After`, `RetryInfo`).
    Asked,
    /// The collector does not take the signal (HTTP 404, gRPC UNIMPLEMENTED on profiles): it is
    /// tried again after [`NOT_TAKEN_PAUSE`].
    NotTaken,
}

/// How long profiles wait after a collector said it does not take them, before they are tried
/// again (a collector may be upgraded meanwhile).
pub(crate) const NOT_TAKEN_PAUSE: Duration = Duration::from_secs(600);

/// Per signal: the earliest time another request may go out, and why.
#[derive(Debug, Default)]
pub(super) struct Holds([Option<(Instant, Held)>; 3]);

impl Holds {
    /// Why `signal` is held back at `now`, with the time left, if it is.
    pub(super) fn at(&self, signal: Signal, now: Instant) -> Option<(Held, Duration)> {
        self.0[signal.index()]
            .filter(|(until, _)| *until > now)
            .map(|(until, why)| (why, until - now))
    }

    pub(super) fn hold(&mut self, signal: Signal, until: Instant, why: Held) {
        self.0[signal.index()] = Some((until, why));
    }
}

/// Runs `futures` at once on the current task and returns their outputs in order.
pub(super) async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(v) => *output = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_are_listed_as_a_sentence() {
        assert_eq!(names(&[Signal::Metrics]), "metrics");
        assert_eq!(names(&[Signal::Metrics, Signal::Logs]), "metrics and logs");
        assert_eq!(names(&Signal::ALL), "metrics, logs and profiles");
        for s in Signal::ALL {
            assert_eq!(Signal::ALL[s.index()], s);
        }
    }

    #[test]
    fn futures_joined_run_at_once_and_keep_their_order() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let finished = std::cell::RefCell::new(Vec::new());
        let out = rt.block_on(join_all(
            [300, 100, 200]
                .into_iter()
                .map(|ms| {
                    let finished = &finished;
                    async move {
                        tokio::time::sleep(Duration::from_millis(ms)).await;
                        finished.borrow_mut().push(ms);
                        ms
                    }
                })
                .collect(),
        ));
        assert_eq!(out, [300, 100, 200]);
        // Run at once, they finish shortest first; one after the other, in order.
        assert_eq!(finished.into_inner(), [100, 200, 300]);
    }
}
