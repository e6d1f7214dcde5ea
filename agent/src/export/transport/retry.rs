//! Retries of a collector's request: what a failed attempt allows ([`Retry`]), the failure
//! it ends in ([`Failure`]), backoff with jitter, and the waits a collector asks for
//! (`Retry-After`, a `google.rpc.RetryInfo` in an RPC status). Names nothing else of the
//! transport: both collector sinks stand on it.

#[cfg(feature = "export-grpc")]
use prost::Message;
use std::time::{Duration, Instant, SystemTime};

/// Longest wait a collector can impose (opentelemetry-otlp caps `Retry-After` likewise).
pub(super) const MAX_THROTTLE: Duration = Duration::from_secs(600);

/// What a failed attempt allows, as opentelemetry-otlp 0.33 classifies it: HTTP 429/503
/// (with `Retry-After`: wait that long), 502, 504 and transport errors; gRPC UNAVAILABLE
/// (with `RetryInfo`: wait that long), RESOURCE_EXHAUSTED only with `RetryInfo`, CANCELLED,
/// DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, DATA_LOSS. Everything else is final.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Retry {
    No,
    /// Exponential backoff with jitter.
    Backoff,
    /// The collector asked for this wait (capped at [`MAX_THROTTLE`]).
    After(Duration),
}

/// Retries after backoff (opentelemetry-otlp's recommended policy).
pub(super) const MAX_RETRIES: u32 = 3;
const INITIAL_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_millis(1600);
const MAX_JITTER_MS: u64 = 100;

#[derive(Debug)]
pub(super) struct Failure {
    pub(super) message: String,
    pub(super) retry: Retry,
    /// See `SendError::maybe_delivered`.
    pub(super) maybe_delivered: bool,
    /// The collector has no such endpoint or service (HTTP 404, 405, 501; gRPC
    /// UNIMPLEMENTED): it does not take the signal.
    pub(super) not_taken: bool,
    /// See `SendError::cause`; `None`: the message.
    pub(super) cause: Option<String>,
}

impl Failure {
    /// A failure that certainly delivered nothing.
    pub(super) fn not_delivered(message: String, retry: Retry) -> Failure {
        Failure {
            message,
            retry,
            maybe_delivered: false,
            not_taken: false,
            cause: None,
        }
    }

    /// A failure after which the request may have arrived.
    pub(super) fn maybe_delivered(message: String, retry: Retry) -> Failure {
        Failure {
            message,
            retry,
            maybe_delivered: true,
            not_taken: false,
            cause: None,
        }
    }
}

/// Runs `attempt` (given the time left) until it succeeds, fails for good, the retries run
/// out, or the next try would pass `deadline`. A requested wait that does not fit is returned
/// (as [`Retry::After`]) so the caller holds every later request back until it is over. An
/// attempt that may have delivered the request is retried only when `resend_safe`; the
/// result may have delivered it when any attempt may have. An attempt cut at `deadline` may
/// have delivered it unless `could_have_sent` says no connection could have carried it.
pub(super) async fn with_retries(
    deadline: Instant,
    timeout: Duration,
    resend_safe: bool,
    could_have_sent: impl Fn() -> bool,
    mut attempt: impl AsyncFnMut(Duration) -> Result<(), Failure>,
) -> Result<(), Failure> {
    let mut backoff = INITIAL_BACKOFF;
    let mut retries = 0;
    let mut maybe_delivered = false;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        // At `deadline` itself, which an attempt's connect deadline can equal: the attempt
        // is polled first, so a connection that did not come in time fails as one.
        let at = tokio::time::Instant::from_std(deadline);
        let mut failure = match tokio::time::timeout_at(at, attempt(left)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(f)) => f,
            // The request may be out, and the collector may still take it.
            Err(_) if could_have_sent() => {
                return Err(Failure::maybe_delivered(
                    format!("no answer within {timeout:?}"),
                    Retry::No,
                ));
            }
            Err(_) => {
                return Err(Failure {
                    maybe_delivered,
                    ..Failure::not_delivered(
                        format!("no connection to the collector within {timeout:?}; nothing sent"),
                        Retry::No,
                    )
                });
            }
        };
        maybe_delivered |= failure.maybe_delivered;
        failure.maybe_delivered = maybe_delivered;
        if failure.maybe_delivered && !resend_safe {
            return Err(Failure {
                retry: Retry::No,
                ..failure
            });
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let wait = match failure.retry {
            Retry::No => return Err(failure),
            Retry::After(wait) => {
                if retries == MAX_RETRIES || wait >= left {
                    return Err(failure);
                }
                wait
            }
            Retry::Backoff => {
                let wait = (backoff + Duration::from_millis(jitter_ms())).min(MAX_BACKOFF);
                if retries == MAX_RETRIES || wait >= left {
                    return Err(Failure {
                        retry: Retry::No,
                        ..failure
                    });
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                wait
            }
        };
        retries += 1;
        tokio::time::sleep(wait).await;
    }
}

/// A random number of milliseconds in `0..=MAX_JITTER_MS`.
fn jitter_ms() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos(),
    );
    h.finish() % (MAX_JITTER_MS + 1)
}

/// `Retry-After`: delay seconds or an HTTP date (IMF-fixdate), capped at [`MAX_THROTTLE`].
#[cfg(feature = "export-http")]
pub(super) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds.min(MAX_THROTTLE.as_secs())),
        Err(_) => http_date(value)?
            .duration_since(SystemTime::now())
            .unwrap_or_default(),
    };
    Some(wait.min(MAX_THROTTLE))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`, RFC 9110 5.6.7).
#[cfg(feature = "export-http")]
pub(super) fn http_date(s: &str) -> Option<SystemTime> {
    let (_, rest) = s.split_once(", ")?;
    let mut parts = rest.split(' ');
    let day: u64 = parts.next()?.parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month)? as u64 + 1;
    let year: u64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, sec) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT" || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm), from 1970-01-01.
    let (y, mo) = if month <= 2 {
        (year.checked_sub(1)?, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y / 400;
    let yoe = y % 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe).checked_sub(719_468)?;
    let secs = days.checked_mul(86_400)? + h * 3600 + m * 60 + sec;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

// ---------------------------------------------------------------------------------------------
// RPC status.
// ---------------------------------------------------------------------------------------------

/// `google.rpc.Status`, the payload of `grpc-status-details-bin` and of an OTLP/HTTP error.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub(super) code: i32,
    #[prost(string, tag = "2")]
    pub(super) message: String,
    #[prost(message, repeated, tag = "3")]
    pub(super) details: Vec<Any>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Any {
    #[prost(string, tag = "1")]
    pub(super) type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub(super) value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
#[cfg(feature = "export-grpc")]
pub(super) struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub(super) retry_delay: Option<PbDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
#[cfg(feature = "export-grpc")]
pub(super) struct PbDuration {
    #[prost(int64, tag = "1")]
    pub(super) seconds: i64,
    #[prost(int32, tag = "2")]
    pub(super) nanos: i32,
}

/// The delay of a `google.rpc.RetryInfo` in a status's details, capped at [`MAX_THROTTLE`].
#[cfg(feature = "export-grpc")]
pub(super) fn retry_info(details: &[u8]) -> Option<Duration> {
    let status = RpcStatus::decode(details).ok()?;
    let info = status
        .details
        .iter()
        .find(|a| a.type_url.ends_with("/google.rpc.RetryInfo"))?;
    let delay = RetryInfo::decode(info.value.as_slice()).ok()?.retry_delay?;
    let seconds = u64::try_from(delay.seconds).ok()?;
    let nanos = u32::try_from(delay.nanos).unwrap_or(0).min(999_999_999);
    Some(Duration::new(seconds.min(MAX_THROTTLE.as_secs()), nanos).min(MAX_THROTTLE))
}
