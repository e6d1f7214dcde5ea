//! The file destination: OTLP/JSON lines in a file capped with its rotated predecessor.

use super::{Payload, SendError};
use std::io::Write;
use std::path::{Path, PathBuf};

/// OTLP/JSON lines appended to a file that, with its rotated predecessor `<file>.1`, stays
/// under `max_bytes`. Each record is one `write(2)` on an `O_APPEND` descriptor, so lines of
/// several writers (processes, sinks) never interleave.
pub(super) struct FileSink {
    pub(super) path: PathBuf,
    max_bytes: u64,
    /// A write was cut short: the next record starts with a newline, so it stays readable.
    torn: bool,
}

impl FileSink {
    pub(super) fn new(path: &Path, max_bytes: u64) -> FileSink {
        FileSink {
            path: path.to_owned(),
            max_bytes,
            torn: false,
        }
    }

    /// Appends `payload` as one line, or, when that line would not fit in half the cap, as
    /// several: its log records or metrics split in halves until each part fits. Only a part
    /// that cannot be split further (one log record, one metric, a profiles request) and
    /// still does not fit is refused.
    pub(super) fn write(&mut self, payload: &Payload) -> Result<(), SendError> {
        let line = encode(payload)?;
        // Each of the two files holds at most half the cap.
        let half = self.max_bytes / 2;
        if (line.len() as u64) < half {
            return self.append(line);
        }
        match halves(payload) {
            Some((first, second)) => {
                self.write(&first)?;
                self.write(&second)
            }
            None => Err(SendError::new(format!(
                "a record of {} bytes ({}) does not fit in half of the file cap ({} bytes); \
                 raise RTSCOPE_FILE_MAX_BYTES",
                line.len() + 1,
                single(payload),
                self.max_bytes
            ))),
        }
    }

    /// Appends `record` (without its newline) as one line, rotating first when the file
    /// would pass half the cap.
    fn append(&mut self, record: Vec<u8>) -> Result<(), SendError> {
        let mut line = Vec::with_capacity(record.len() + 2);
        if self.torn {
            line.push(b'\n');
        }
        line.extend_from_slice(&record);
        line.push(b'\n');
        let path = crate::base::text::path(&self.path);
        let len = line.len() as u64;
        let half = self.max_bytes / 2;
        let cannot = |e: std::io::Error| SendError::new(format!("cannot write {path}: {e}"));
        let mut file = open_append(&self.path).map_err(|e| self.open_error(e))?;
        if file.metadata().map_err(cannot)?.len() + len > half {
            let mut rotated = self.path.clone().into_os_string();
            rotated.push(".1");
            match std::fs::rename(&self.path, &rotated) {
                // Another writer of the same file rotated it first.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(SendError::new(format!("cannot rotate {path}: {e}"))),
                Ok(()) => {}
            }
            file = open_append(&self.path).map_err(|e| self.open_error(e))?;
        }
        // One write is the whole record; only a short one (a full disk) is followed by more,
        // which end in the error that says why, or complete the record.
        let mut written = 0;
        while written < line.len() {
            match file.write(&line[written..]) {
                Ok(0) => {
                    self.torn |= written > 0;
                    return Err(cannot(std::io::ErrorKind::WriteZero.into()));
                }
                Ok(n) => written += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.torn |= written > 0;
                    return Err(cannot(e));
                }
            }
        }
        self.torn = false;
        Ok(())
    }

    fn open_error(&self, e: std::io::Error) -> SendError {
        let path = crate::base::text::path(&self.path);
        #[cfg(unix)]
        if e.raw_os_error() == Some(libc::ELOOP) {
            return SendError::new(format!(
                "{path} is a symbolic link, which rtscope does not follow; remove it or set \
                 RTSCOPE_FILE to another path"
            ));
        }
        SendError::new(format!("cannot open {path}: {e}"))
    }
}

/// Opens `path` for appending, creating it with mode 0644; never through a symbolic link.
fn open_append(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    options.open(path)
}

/// The OTLP/JSON of `payload`, without a newline.
fn encode(payload: &Payload) -> Result<Vec<u8>, SendError> {
    let mut line = Vec::with_capacity(4096);
    match payload {
        Payload::Metrics(req) => serde_json::to_writer(&mut line, req),
        Payload::Logs(req) => serde_json::to_writer(&mut line, req),
        #[cfg(feature = "profiles")]
        Payload::Profiles(req) => serde_json::to_writer(&mut line, req),
    }
    .map_err(|e| SendError::new(format!("encode JSON: {e}")))?;
    Ok(line)
}

/// What a payload that cannot be split holds, for the message.
fn single(payload: &Payload) -> &'static str {
    match payload {
        Payload::Metrics(_) => "one metric",
        Payload::Logs(_) => "one log record",
        #[cfg(feature = "profiles")]
        Payload::Profiles(_) => "a profiles request, which is not split",
    }
}

/// `payload` in two parts, each with half of its outermost list that has more than one entry
/// (resources, then scopes, then log records or metrics), the rest of the request copied into
/// both; `None` when it holds one entry at every level.
fn halves(payload: &Payload) -> Option<(Payload, Payload)> {
    match payload {
        Payload::Metrics(req) => {
            let (a, b) = split_nested(
                &req.resource_metrics,
                |r| &mut r.scope_metrics,
                |s| &mut s.metrics,
            )?;
            let part = |resource_metrics| {
                Payload::Metrics(
                    opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest {
                        resource_metrics,
                    },
                )
            };
            Some((part(a), part(b)))
        }
        Payload::Logs(req) => {
            let (a, b) = split_nested(
                &req.resource_logs,
                |r| &mut r.scope_logs,
                |s| &mut s.log_records,
            )?;
            let part = |resource_logs| {
                Payload::Logs(
                    opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest {
                        resource_logs,
                    },
                )
            };
            Some((part(a), part(b)))
        }
        #[cfg(feature = "profiles")]
        Payload::Profiles(_) => None,
    }
}

/// Splits a three-level list (resources of scopes of items) in two at the outermost level
/// with more than one entry.
fn split_nested<R: Clone, S: Clone, I>(
    resources: &[R],
    scopes: impl Fn(&mut R) -> &mut Vec<S>,
    items: impl Fn(&mut S) -> &mut Vec<I>,
) -> Option<(Vec<R>, Vec<R>)> {
    if resources.len() > 1 {
        let (a, b) = resources.split_at(resources.len() / 2);
        return Some((a.to_vec(), b.to_vec()));
    }
    let mut first = resources.first()?.clone();
    let mut second = first.clone();
    let (a, b) = (scopes(&mut first), scopes(&mut second));
    if a.len() > 1 {
        let at = a.len() / 2;
        a.truncate(at);
        b.drain(..at);
        return Some((vec![first], vec![second]));
    }
    let (a, b) = (items(a.first_mut()?), items(b.first_mut()?));
    if a.len() < 2 {
        return None;
    }
    let at = a.len() / 2;
    a.truncate(at);
    b.drain(..at);
    Some((vec![first], vec![second]))
}
