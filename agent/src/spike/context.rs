//! The context of a collection window: what else happened while a latency spiked.
//! Allocation counts and bytes by size class, pool gets and misses, timers fired (deltas of
//! the cumulative totals), and the top sampled allocation scopes.

use crate::alloc::{AllocStats, NUM_CLASSES};
use crate::model::bytes;
use crate::model::series::Value;
use crate::pool::PoolStats;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Size classes, pools and scopes listed in an event.
const TOP: usize = 3;
const TOP_SCOPES: usize = 5;

/// The totals at the start of the current window.
#[derive(Debug)]
pub(crate) struct Baseline {
    at: Instant,
    /// `at` on the clock exemplars are stamped with ([`crate::sys::monotonic_nanos`]).
    mono: u64,
    alloc: AllocStats,
    pools: Vec<(String, PoolStats)>,
    timers_fired: u64,
}

/// Totals read now, the end of a window.
#[derive(Debug)]
pub(crate) struct Totals {
    pub(crate) at: Instant,
    /// `at` on the clock exemplars are stamped with ([`crate::sys::monotonic_nanos`]).
    pub(crate) mono: u64,
    pub(crate) alloc: AllocStats,
    pub(crate) pools: Vec<(String, PoolStats)>,
    pub(crate) timers_fired: u64,
}

impl Totals {
    pub(crate) fn read() -> Totals {
        Totals {
            at: Instant::now(),
            mono: crate::sys::monotonic_nanos(),
            alloc: crate::alloc::stats(),
            pools: crate::pool::all_stats(),
            timers_fired: crate::time::stats().fired,
        }
    }
}

/// One size class in a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClassDelta {
    /// Upper bound of the class (`u64::MAX`: overflow).
    pub(crate) size: u64,
    pub(crate) allocations: u64,
    pub(crate) bytes: u64,
}

/// One pool in a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PoolDelta {
    pub(crate) name: String,
    pub(crate) gets: u64,
    pub(crate) misses: u64,
}

/// What happened in one window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Context {
    pub(crate) window: Duration,
    pub(crate) allocations: u64,
    pub(crate) allocated_bytes: u64,
    /// Largest first, at most [`TOP`].
    pub(crate) classes: Vec<ClassDelta>,
    /// Most misses first, pools with gets only, at most [`TOP`].
    pub(crate) pools: Vec<PoolDelta>,
    pub(crate) pool_gets: u64,
    pub(crate) pool_misses: u64,
    pub(crate) timers_fired: u64,
    /// Estimated bytes per scope, largest first, at most [`TOP_SCOPES`].
    pub(crate) scopes: Vec<(String, u64)>,
    /// The stack that allocated the most sampled bytes in the window (heap profiles): its
    /// leaf function outside the standard library, and its estimated bytes.
    pub(crate) stack: Option<(String, u64)>,
}

impl Baseline {
    /// When the window started.
    pub(crate) fn at(&self) -> Instant {
        self.at
    }

    /// When the window started, on the exemplars' clock.
    pub(crate) fn mono(&self) -> u64 {
        self.mono
    }

    pub(crate) fn new(t: Totals) -> Baseline {
        Baseline {
            at: t.at,
            mono: t.mono,
            alloc: t.alloc,
            pools: t.pools,
            timers_fired: t.timers_fired,
        }
    }

    /// The window from this baseline to `now`; `now` becomes the baseline.
    pub(crate) fn advance(&mut self, now: Totals) -> Context {
        let mut classes: Vec<ClassDelta> = (0..NUM_CLASSES)
            .map(|i| {
                let (a, b) = (&now.alloc.classes[i], &self.alloc.classes[i]);
                ClassDelta {
                    size: a.size,
                    allocations: a.allocations.wrapping_sub(b.allocations),
                    bytes: a.allocated_bytes.wrapping_sub(b.allocated_bytes),
                }
            })
            .filter(|c| c.allocations > 0)
            .collect();
        classes.sort_by_key(|c| std::cmp::Reverse(c.bytes));
        classes.truncate(TOP);
        let mut pools: Vec<PoolDelta> = now
            .pools
            .iter()
            .map(|(name, s)| {
                let before = self
                    .pools
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, s)| *s)
                    .unwrap_or_default();
                PoolDelta {
                    name: name.clone(),
                    gets: s.gets().wrapping_sub(before.gets()),
                    misses: s.misses.wrapping_sub(before.misses),
                }
            })
            .filter(|p| p.gets > 0)
            .collect();
        let pool_gets = pools.iter().map(|p| p.gets).sum();
        let pool_misses = pools.iter().map(|p| p.misses).sum();
        pools.sort_by(|a, b| b.misses.cmp(&a.misses).then(b.gets.cmp(&a.gets)));
        pools.truncate(TOP);
        let ctx = Context {
            window: now.at.saturating_duration_since(self.at),
            allocations: now.alloc.allocations.wrapping_sub(self.alloc.allocations),
            allocated_bytes: now
                .alloc
                .allocated_bytes
                .wrapping_sub(self.alloc.allocated_bytes),
            classes,
            pools,
            pool_gets,
            pool_misses,
            timers_fired: now.timers_fired.wrapping_sub(self.timers_fired),
            scopes: Vec::new(),
            stack: None,
        };
        *self = Baseline::new(now);
        ctx
    }
}

fn class_name(size: u64) -> String {
    if size == u64::MAX {
        "huge".to_owned()
    } else {
        format!("<={size}")
    }
}

impl Context {
    /// Bytes allocated per second over the window.
    pub(crate) fn rate(&self) -> u64 {
        let s = self.window.as_secs_f64();
        if s <= 0.0 {
            return self.allocated_bytes;
        }
        (self.allocated_bytes as f64 / s) as u64
    }

    /// The event attributes of the context.
    pub(crate) fn attributes(&self, out: &mut Vec<(String, Value)>) {
        let int = |v: u64| Value::Int(i64::try_from(v).unwrap_or(i64::MAX));
        let mut push = |k: &str, v: Value| out.push((k.to_owned(), v));
        push(
            "rust.spike.window_ms",
            int(self.window.as_millis().try_into().unwrap_or(u64::MAX)),
        );
        push("rust.memory.allocations", int(self.allocations));
        push("rust.memory.allocated", int(self.allocated_bytes));
        push("rust.memory.allocation_rate", int(self.rate()));
        if !self.classes.is_empty() {
            let s = self
                .classes
                .iter()
                .map(|c| format!("{}:{}/{}", class_name(c.size), c.bytes, c.allocations))
                .collect::<Vec<_>>()
                .join(",");
            push("rust.memory.top_classes", Value::Str(s));
        }
        if self.pool_gets > 0 {
            push("rust.pool.gets", int(self.pool_gets));
            push("rust.pool.misses", int(self.pool_misses));
            let s = self
                .pools
                .iter()
                .map(|p| format!("{}:{:.2}", p.name, p.misses as f64 / p.gets as f64))
                .collect::<Vec<_>>()
                .join(",");
            push("rust.pool.miss_ratios", Value::Str(s));
        }
        push("rust.timer.fired", int(self.timers_fired));
        if let Some((top, b)) = self.scopes.first() {
            push("rust.scope", Value::Str(top.clone()));
            push("rust.scope.bytes", int(*b));
            let s = self
                .scopes
                .iter()
                .map(|(n, b)| format!("{n}:{b}"))
                .collect::<Vec<_>>()
                .join(",");
            push("rust.scope.top", Value::Str(s));
        }
        if let Some((function, b)) = &self.stack {
            push("rust.spike.top_stack", Value::Str(function.clone()));
            push("rust.spike.top_stack.bytes", int(*b));
        }
    }

    /// The log body's account of the window, one part a line (a person scans them): `in the
    /// same 1.0 s: ...`, the top sampled scopes, the top allocating stack, pool misses,
    /// timers fired.
    pub(crate) fn describe(&self) -> String {
        let mut s = format!(
            "in the same {:.1} s: {} allocated ({}/s, {} allocations",
            self.window.as_secs_f64(),
            bytes(self.allocated_bytes),
            bytes(self.rate()),
            self.allocations
        );
        if let Some(c) = self.classes.first() {
            let _ = write!(
                s,
                "; most in size class {} B: {}",
                class_name(c.size),
                bytes(c.bytes)
            );
        }
        s.push(')');
        if let Some((top, b)) = self.scopes.first() {
            let _ = write!(s, "\ntop sampled scope {top}: ~{}", bytes(*b));
            for (n, b) in self.scopes.iter().skip(1) {
                let _ = write!(s, ", {n}: ~{}", bytes(*b));
            }
        }
        if let Some((function, b)) = &self.stack {
            let _ = write!(s, "\ntop allocating stack {function}: ~{}", bytes(*b));
        }
        if self.pool_gets > 0 {
            let _ = write!(
                s,
                "\npool misses {} of {} gets",
                self.pool_misses, self.pool_gets
            );
            if let Some(p) = self.pools.first().filter(|p| p.misses > 0) {
                let _ = write!(
                    s,
                    " (most in {}: {:.0}%)",
                    p.name,
                    100.0 * p.misses as f64 / p.gets as f64
                );
            }
        }
        let _ = write!(s, "\n{} timers fired", self.timers_fired);
        s
    }
}

/// The top sampled scopes of the window, from the sampler's `recent` (largest first).
pub(crate) fn top_scopes(recent: &[(String, u64)]) -> Vec<(String, u64)> {
    recent[..recent.len().min(TOP_SCOPES)].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_and_description() {
        let ctx = Context {
            window: Duration::from_secs(2),
            allocations: 10,
            allocated_bytes: 4096,
            classes: vec![ClassDelta {
                size: 4096,
                allocations: 1,
                bytes: 4000,
            }],
            pools: vec![PoolDelta {
                name: "conns".into(),
                gets: 4,
                misses: 2,
            }],
            pool_gets: 4,
            pool_misses: 2,
            timers_fired: 3,
            scopes: vec![("parse".into(), 4000), ("db".into(), 96)],
            stack: Some(("myapp::render".into(), 3000)),
        };
        let mut attrs = Vec::new();
        ctx.attributes(&mut attrs);
        let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        assert_eq!(get("rust.memory.allocation_rate"), Some(Value::Int(2048)));
        assert_eq!(
            get("rust.memory.top_classes"),
            Some(Value::Str("<=4096:4000/1".into()))
        );
        assert_eq!(
            get("rust.pool.miss_ratios"),
            Some(Value::Str("conns:0.50".into()))
        );
        assert_eq!(get("rust.scope"), Some(Value::Str("parse".into())));
        assert_eq!(
            get("rust.scope.top"),
            Some(Value::Str("parse:4000,db:96".into()))
        );
        assert_eq!(
            get("rust.spike.top_stack"),
            Some(Value::Str("myapp::render".into()))
        );
        assert_eq!(get("rust.spike.top_stack.bytes"), Some(Value::Int(3000)));
        let d = ctx.describe();
        assert!(d.contains("top sampled scope parse"), "{d}");
        assert!(
            d.contains("top allocating stack myapp::render: ~2.9 KiB"),
            "{d}"
        );
        assert!(d.contains("(most in conns: 50%)"), "{d}");
        let parts: Vec<&str> = d.lines().collect();
        assert_eq!(parts.len(), 5, "one part a line: {d}");
        assert!(parts[0].starts_with("in the same 2.0 s: "), "{d}");
        assert_eq!(parts[4], "3 timers fired");
    }
}
