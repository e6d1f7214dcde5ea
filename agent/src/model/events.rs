//! Event-like data (allocation samples, spike events) exported as OTLP log records.

use super::series::Value;

/// One event, exported as an OTLP log record whose `event_name` is `name` and whose
/// attributes are `attributes`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct LogEvent {
    /// Event name, e.g. `rust.memory.allocation.sample`.
    pub(crate) name: &'static str,
    /// When it happened, in nanoseconds since the Unix epoch.
    pub(crate) time_unix_nano: u64,
    /// OTLP severity number (9 = INFO, 13 = WARN).
    pub(crate) severity: i32,
    /// Human-readable body.
    pub(crate) body: String,
    pub(crate) attributes: Vec<(String, Value)>,
    /// The trace id and span id of the OpenTelemetry span it belongs to, if any.
    pub(crate) trace: Option<([u8; 16], [u8; 8])>,
}

/// Events waiting for the next export, bounded: past `MAX_PENDING` the oldest are dropped
/// and counted (a collector down for long must not grow the agent's memory).
#[derive(Debug, Default)]
pub(crate) struct EventBuffer {
    pending: std::collections::VecDeque<LogEvent>,
    pub(crate) dropped: u64,
}

const MAX_PENDING: usize = 16 * 1024;

impl EventBuffer {
    pub(crate) fn push(&mut self, event: LogEvent) {
        if self.pending.len() >= MAX_PENDING {
            self.pending.pop_front();
            self.dropped += 1;
        }
        self.pending.push_back(event);
    }

    /// Takes everything to send now.
    pub(crate) fn take(&mut self) -> Vec<LogEvent> {
        self.pending.drain(..).collect()
    }

    /// Gives back events whose export failed, ahead of newer ones, within the bound.
    pub(crate) fn restore(&mut self, events: Vec<LogEvent>) {
        for e in events.into_iter().rev() {
            if self.pending.len() >= MAX_PENDING {
                self.dropped += 1;
            } else {
                self.pending.push_front(e);
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(i: u64) -> LogEvent {
        LogEvent {
            name: "test",
            time_unix_nano: i,
            severity: 9,
            body: String::new(),
            attributes: Vec::new(),
            trace: None,
        }
    }

    #[test]
    fn bounded_and_restores_in_order() {
        let mut b = EventBuffer::default();
        for i in 0..(MAX_PENDING as u64 + 10) {
            b.push(event(i));
        }
        assert_eq!(b.len(), MAX_PENDING);
        assert_eq!(b.dropped, 10);
        let taken = b.take();
        assert_eq!(taken[0].time_unix_nano, 10);
        b.push(event(u64::MAX));
        b.restore(taken);
        assert_eq!(b.len(), MAX_PENDING);
        assert_eq!(b.dropped, 11);
        // Full again: the oldest (10) was the one dropped; order is kept, newest last.
        let again = b.take();
        assert_eq!(again[0].time_unix_nano, 11);
        assert_eq!(again.last().unwrap().time_unix_nano, u64::MAX);
    }
}
