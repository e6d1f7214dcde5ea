//! Attribution: name the part of the program that is running, so that sampled allocations
//! (and spike reports) say *where*, not only *how much*.
//!
//! A scope is a name set on the current thread for the duration of a closure, a guard, or
//! each poll of a future; scopes nest (the innermost wins) and the previous scope comes back
//! when the inner one ends, also when it ends by a panic.
//!
//! ```
//! let total = rtscope::scope("parse", || {
//!     let words: Vec<String> = "a b c".split(' ').map(String::from).collect();
//!     rtscope::scope("count", || {
//!         assert_eq!(rtscope::scope::Scope::current().unwrap().name(), "count");
//!         words.len()
//!     })
//! });
//! assert_eq!(total, 3);
//! assert!(rtscope::scope::Scope::current().is_none());
//! ```
//!
//! `rtscope::scope` is also a function and an attribute (the crate docs, "Names that are more
//! than one thing"): this module holds what the two do not, the [`Scope`] handle, futures'
//! scopes and the guard. The four ways to enter a scope:
//!
//! | form | for |
//! |---|---|
//! | [`rtscope::scope("name", \|\| ...)`](crate::scope()) | a closure; returns its value |
//! | `#[rtscope::scope]` / `#[rtscope::scope("name")]` | a whole `fn` or `async fn` (default name: the function's) |
//! | [`future.in_scope("name")`](ScopeExt::in_scope) | a future: the scope is set around each poll, so it follows the future across `.await` points and threads |
//! | [`Scope::enter`] | a guard, for the rest of a block (not across `.await`: the guard is not `Send`) |
//!
//! With the `tracing` layer ([`crate::tracing::RtscopeLayer`]) an entered span is a scope too.
//!
//! # Trace ids (feature `opentelemetry`)
//!
//! A sample taken in a scope carries the ids of the innermost sampled OpenTelemetry span:
//!
//! 1. the span of the context current on the thread when the allocation happens, however it
//!    was made current (`Tracer::in_span`, `Context::attach`, `FutureExt::with_context`
//!    around a poll, tracing-opentelemetry entering a span); so an SDK span opened inside an
//!    entered scope wins over the span the scope was entered in, and an allocation in an SDK
//!    span needs no scope at all;
//! 2. else the span current where the scope was entered (for a future: where each poll
//!    began), else the caller's;
//! 3. else none (a task spawned without context gets none from where it was spawned).
//!
//! Rule 1 works through an OpenTelemetry context observer that rtscope installs with the
//! agent and that copies the current span's ids into a thread-local `Cell` on every attach
//! and detach; the allocator reads only that cell, because OpenTelemetry's own context is a
//! `RefCell` an allocation can find borrowed. Without the agent installed, or when the
//! application installed its own observer first (one per process), only rules 2 and 3 apply.
//! Exemplars of [`crate::latency`](fn@crate::latency) take the same ids. `docs/metrics.md` (Trace context) has
//! every case.
//!
//! # Cost and bounds
//!
//! Entering a scope by name hashes the name and looks it up in a lock-free table; a
//! [`Scope`] made once does not even do that. Setting and restoring is a thread-local write.
//! Nothing is allocated or locked except the first time a name is seen. Names are bounded:
//! the first [`MAX_SCOPE_NAMES`]` - 1` distinct names get their own id, every later name
//! shares the id named [`OTHER`].

mod future;

pub use future::{ScopeExt, Scoped};

pub use crate::base::attribution::MAX_SCOPE_NAMES;
#[cfg(feature = "tracing")]
pub(crate) use crate::base::attribution::replace_span_bytes;
#[cfg(feature = "tracing-opentelemetry")]
pub(crate) use crate::base::attribution::trace_in;
pub(crate) use crate::base::attribution::{Trace, current, entered_trace, replace, replace_trace};
use crate::names::{Entry, Interner, OTHER};

use std::marker::PhantomData;

/// Scope ids are the table's ids plus one (0 is no scope): `1..=MAX_SCOPE_NAMES`, the last
/// one [`OTHER`]'s.
static NAMES: Interner<(), MAX_SCOPE_NAMES> = Interner::new();

/// The name of scope `id` (0 and unknown ids have none). Lock-free.
pub(crate) fn name_of(id: u32) -> Option<&'static str> {
    NAMES.get(id.checked_sub(1)?).map(Entry::name)
}

/// An interned scope name: make it once and enter it many times without a lookup.
///
/// ```
/// use rtscope::scope::Scope;
///
/// let db = Scope::new("db");
/// let rows = db.run(|| vec![1, 2, 3]);
/// assert_eq!(rows.len(), 3);
/// assert_eq!(db.name(), "db");
/// assert_eq!(Scope::new("db"), db);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scope {
    id: u32,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Scope").field(&self.name()).finish()
    }
}

impl Scope {
    /// The scope named `name` (or [`OTHER`] once [`MAX_SCOPE_NAMES`] names are taken).
    /// Lock-free unless the name is new.
    pub fn new(name: &str) -> Scope {
        Scope {
            id: NAMES.intern(name, || ()).id() + 1,
        }
    }

    /// The scope in effect on this thread, if any.
    pub fn current() -> Option<Scope> {
        match current() {
            0 => None,
            id => Some(Scope { id }),
        }
    }

    /// The scope's name as exported (attribute `rust.scope`).
    pub fn name(&self) -> &'static str {
        name_of(self.id).unwrap_or(OTHER)
    }

    /// Runs `f` in this scope and returns its value; the previous scope comes back after,
    /// also if `f` panics.
    pub fn run<R>(self, f: impl FnOnce() -> R) -> R {
        let _guard = self.enter();
        f()
    }

    /// Enters this scope until the guard drops.
    ///
    /// ```
    /// use rtscope::scope::Scope;
    ///
    /// {
    ///     let _in = Scope::new("startup").enter();
    ///     assert_eq!(Scope::current(), Some(Scope::new("startup")));
    /// }
    /// assert_eq!(Scope::current(), None);
    /// ```
    pub fn enter(self) -> ScopeGuard {
        ScopeGuard {
            previous: replace(self.id),
            // With the `opentelemetry` feature: the trace of the OpenTelemetry span current at
            // its entry, for samples taken in it while no span is made current inside it.
            previous_trace: replace_trace(entered_trace()),
            _not_send: PhantomData,
        }
    }

    pub(crate) fn id(self) -> u32 {
        self.id
    }

    /// The scope of id `id`, as [`id`](Self::id) gave it.
    pub(crate) fn from_id(id: u32) -> Scope {
        Scope { id }
    }
}

/// Restores the previous scope when dropped. Returned by [`Scope::enter`].
///
/// Not `Send`: it restores a thread-local, so it must drop on the thread that made it. Hold it
/// across an `.await` and the future stops being `Send`; use [`ScopeExt::in_scope`] there.
#[must_use = "the scope ends when the guard drops: bind it with `let _guard = ...`"]
#[derive(Debug)]
pub struct ScopeGuard {
    previous: u32,
    previous_trace: Option<Trace>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for ScopeGuard {
    fn drop(&mut self) {
        replace(self.previous);
        replace_trace(self.previous_trace);
    }
}

/// Runs `f` in the scope named `name` and returns its value. Allocations sampled while it
/// runs on this thread are attributed to `name` (the innermost scope wins); the previous
/// scope comes back after, also if `f` panics. With the `opentelemetry` feature they carry
/// the ids of the innermost sampled OpenTelemetry span current at the allocation, else of
/// the one current when `f` began ([module docs](mod@crate::scope#trace-ids-feature-opentelemetry)).
///
/// ```
/// let v = rtscope::scope("load-config", || vec![0u8; 1024]);
/// assert_eq!(v.len(), 1024);
/// ```
pub fn scope<R>(name: &str, f: impl FnOnce() -> R) -> R {
    Scope::new(name).run(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nests_and_restores() {
        assert_eq!(current(), 0);
        scope("mod-outer", || {
            let outer = current();
            assert_eq!(name_of(outer), Some("mod-outer"));
            scope("mod-inner", || {
                assert_eq!(name_of(current()), Some("mod-inner"));
            });
            assert_eq!(current(), outer);
        });
        assert_eq!(current(), 0);
    }
}
