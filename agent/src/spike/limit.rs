//! Adaptive rate limit of spike events: a token bucket whose refill rate halves in every
//! window that had to suppress events (a storm) and doubles back, up to the configured rate,
//! in every window that did not.

/// The slowest the refill may get, as a fraction of the configured rate.
const MIN_RATE_FRACTION: f64 = 1.0 / 64.0;

#[derive(Debug)]
pub(crate) struct Limiter {
    tokens: f64,
    burst: f64,
    /// Configured events per second.
    base: f64,
    /// Current events per second.
    rate: f64,
    /// Suppressed since the last emitted event (reported on it).
    pending_suppressed: u64,
    /// Suppressed in all.
    pub(crate) suppressed_total: u64,
    /// Emitted in all.
    pub(crate) emitted_total: u64,
}

impl Limiter {
    pub(crate) fn new(burst: u32, per_minute: f64) -> Limiter {
        let base = per_minute / 60.0;
        Limiter {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            base,
            rate: base,
            pending_suppressed: 0,
            suppressed_total: 0,
            emitted_total: 0,
        }
    }

    /// Starts a window of `seconds`: refills the bucket.
    pub(crate) fn refill(&mut self, seconds: f64) {
        self.tokens = (self.tokens + self.rate * seconds.max(0.0)).min(self.burst);
    }

    /// Asks to emit one event: `Some(suppressed before it)` if allowed, `None` if suppressed.
    pub(crate) fn admit(&mut self) -> Option<u64> {
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.emitted_total += 1;
            Some(std::mem::take(&mut self.pending_suppressed))
        } else {
            self.pending_suppressed += 1;
            self.suppressed_total += 1;
            None
        }
    }

    /// Ends a window that suppressed `suppressed` events: adapts the rate.
    pub(crate) fn end_window(&mut self, suppressed: u64) {
        self.rate = if suppressed > 0 {
            (self.rate / 2.0).max(self.base * MIN_RATE_FRACTION)
        } else {
            (self.rate * 2.0).min(self.base)
        };
    }

    /// Events per minute allowed now.
    pub(crate) fn rate_per_minute(&self) -> f64 {
        self.rate * 60.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_suppressed_and_reported_on_the_next() {
        let mut l = Limiter::new(2, 60.0);
        assert_eq!(l.admit(), Some(0));
        assert_eq!(l.admit(), Some(0));
        assert_eq!(l.admit(), None);
        assert_eq!(l.admit(), None);
        l.end_window(2);
        assert_eq!(l.rate_per_minute(), 30.0, "halved in a storm");
        l.refill(1.0); // half a token
        assert_eq!(l.admit(), None);
        l.end_window(1);
        l.refill(4.0); // 0.5 + 4 * 0.25 = 1.5 tokens
        assert_eq!(
            l.admit(),
            Some(3),
            "the suppressed count rides on the next event"
        );
        assert_eq!((l.emitted_total, l.suppressed_total), (3, 3));
        l.end_window(0);
        l.end_window(0);
        assert_eq!(l.rate_per_minute(), 60.0, "back to the configured rate");
    }

    #[test]
    fn storms_bottom_out() {
        let mut l = Limiter::new(1, 60.0);
        for _ in 0..20 {
            l.end_window(5);
        }
        assert_eq!(l.rate_per_minute(), 60.0 / 64.0);
    }
}
