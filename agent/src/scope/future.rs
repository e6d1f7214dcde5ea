//! [`Scoped`]: a future that runs each of its polls in a scope, so attribution follows the
//! future across `.await` points and from thread to thread.

use super::{Scope, Trace, entered_trace, replace, replace_trace};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future whose every poll runs in a scope. Made by [`ScopeExt::in_scope`] or
/// [`Scoped::new`].
#[derive(Debug)]
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct Scoped<F> {
    inner: F,
    scope: Scope,
}

impl<F> Scoped<F> {
    /// Wraps `future` to run each poll in `scope`.
    pub fn new(scope: Scope, future: F) -> Scoped<F> {
        Scoped {
            inner: future,
            scope,
        }
    }

    /// The scope each poll runs in.
    pub fn scope(&self) -> Scope {
        self.scope
    }

    /// The wrapped future.
    pub fn into_inner(self) -> F {
        self.inner
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        /// Restores the scope and its trace after the poll, also when it panics.
        struct Restore(u32, Option<Trace>);
        impl Drop for Restore {
            fn drop(&mut self) {
                replace(self.0);
                replace_trace(self.1);
            }
        }
        // SAFETY: `inner` is structurally pinned: `Scoped` has no `Drop` impl and no method
        // moves `inner` out of a pinned `Scoped` (`into_inner` takes `self` by value,
        // unpinned). `scope` is `Copy` and not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // As `Scope::enter`, on every poll: the trace of the span current where this poll
        // runs (a `with_context` or an instrumented span around it), not where the future
        // was made, so nothing leaks into a task spawned without context.
        let _restore = Restore(replace(this.scope.id()), replace_trace(entered_trace()));
        // SAFETY: `this.inner` stays where the pinned `Scoped` is (above).
        unsafe { Pin::new_unchecked(&mut this.inner) }.poll(cx)
    }
}

/// Puts any future in a scope.
///
/// ```
/// use rtscope::scope::{Scope, ScopeExt};
/// use std::future::Future;
/// use std::task::{Context, Poll, Waker};
///
/// let fut = std::future::poll_fn(|_| Poll::Ready(Scope::current())).in_scope("fetch");
/// let mut fut = std::pin::pin!(fut);
/// let seen = fut.as_mut().poll(&mut Context::from_waker(Waker::noop()));
/// assert_eq!(seen, Poll::Ready(Some(Scope::new("fetch"))));
/// assert_eq!(Scope::current(), None); // only during the poll
/// ```
pub trait ScopeExt: Future + Sized {
    /// Runs each poll of this future in the scope named `name`.
    fn in_scope(self, name: &str) -> Scoped<Self> {
        Scoped::new(Scope::new(name), self)
    }
}

impl<F: Future> ScopeExt for F {}
