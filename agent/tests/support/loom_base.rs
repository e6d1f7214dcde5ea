//! What a loom model gives the files it includes in place of the crate's `base`: `sync`, with
//! loom's atomics and lock behind the names of `base::sync` those files use, an
//! `agent_scope` that just runs its closure (a model has no allocator accounts), and
//! [`model`], which runs a model.
//!
//! Every model must run through [`model`]: outside it these types are `std`'s, which loom
//! does not see.
//!
//! `names::Interner::new` is a `const fn` (its tables are statics in the crate) and loom's
//! types have no `const` constructor, so `AtomicPtr` and `Mutex` here are `const` handles
//! that get their object at first use. Inside [`model`] that is loom's: an atomic from a
//! stock the model's first thread makes before anything else (loom requires every access to
//! an atomic to happen after its creation, which holds for a table built before the threads
//! that share it are spawned, as in the crate), and a lock made then. Outside a model it is
//! `std`'s, so the unit tests of an included file (its `#[cfg(test)] mod tests`, compiled
//! here too) run as they do in the crate.

#![allow(dead_code, unreachable_pub)]

use std::cell::RefCell;

/// Atomics one execution may hand out.
const ATOMICS: usize = 32;

thread_local! {
    /// The atomics not yet handed out in the running execution; `None` outside a model.
    /// (loom runs every modelled thread on the calling OS thread.)
    static STOCK: RefCell<Option<Vec<&'static loom::sync::atomic::AtomicPtr<()>>>> =
        const { RefCell::new(None) };
}

/// Checks `f` under every interleaving with up to `LOOM_MAX_PREEMPTIONS` preemptions (3
/// unless set: loom's suggested bound; the registry's known bugs, e.g. a Relaxed claim losing
/// a count, show at 1 or 2, and every bug the name and pool models were checked against at
/// 1).
pub(crate) fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = b.preemption_bound.or(Some(3));
    b.check(move || {
        // Leaked: loom's objects of one execution are never used after it.
        let stock = (0..ATOMICS)
            .map(|_| {
                &*Box::leak(Box::new(loom::sync::atomic::AtomicPtr::new(
                    std::ptr::null_mut(),
                )))
            })
            .collect();
        STOCK.set(Some(stock));
        f();
        STOCK.set(None);
    });
}

/// An atomic of the running execution's stock, or `None` outside a model.
fn stock_atomic() -> Option<&'static loom::sync::atomic::AtomicPtr<()>> {
    STOCK.with_borrow_mut(|stock| {
        let stock = stock.as_mut()?;
        Some(
            stock
                .pop()
                .expect("the model uses more atomics than ATOMICS"),
        )
    })
}

fn in_model() -> bool {
    STOCK.with_borrow(Option::is_some)
}

pub(crate) fn agent_scope<R>(f: impl FnOnce() -> R) -> R {
    f()
}

pub(crate) mod sync {
    use super::{in_model, stock_atomic};
    use std::ops::{Deref, DerefMut};
    pub(crate) use std::sync::atomic::Ordering;
    use std::sync::{LockResult, OnceLock, PoisonError};

    #[derive(Debug)]
    enum Ptr<T> {
        Std(std::sync::atomic::AtomicPtr<T>),
        Loom(&'static loom::sync::atomic::AtomicPtr<()>),
    }

    /// An `AtomicPtr`, null, made at first use: loom's (from the stock) in a model.
    #[derive(Debug)]
    pub(crate) struct AtomicPtr<T> {
        inner: OnceLock<Ptr<T>>,
    }

    impl<T> AtomicPtr<T> {
        /// Only null: what every table of the crate starts from.
        pub(crate) const fn new(p: *mut T) -> Self {
            assert!(p.is_null(), "the model's AtomicPtr starts null");
            AtomicPtr {
                inner: OnceLock::new(),
            }
        }

        fn get(&self) -> &Ptr<T> {
            self.inner.get_or_init(|| match stock_atomic() {
                Some(a) => Ptr::Loom(a),
                None => Ptr::Std(std::sync::atomic::AtomicPtr::new(std::ptr::null_mut())),
            })
        }

        pub(crate) fn load(&self, order: Ordering) -> *mut T {
            match self.get() {
                Ptr::Std(a) => a.load(order),
                Ptr::Loom(a) => a.load(order).cast(),
            }
        }

        pub(crate) fn store(&self, p: *mut T, order: Ordering) {
            match self.get() {
                Ptr::Std(a) => a.store(p, order),
                Ptr::Loom(a) => a.store(p.cast(), order),
            }
        }

        pub(crate) fn swap(&self, p: *mut T, order: Ordering) -> *mut T {
            match self.get() {
                Ptr::Std(a) => a.swap(p, order),
                Ptr::Loom(a) => a.swap(p.cast(), order).cast(),
            }
        }

        pub(crate) fn compare_exchange_weak(
            &self,
            current: *mut T,
            new: *mut T,
            success: Ordering,
            failure: Ordering,
        ) -> Result<*mut T, *mut T> {
            match self.get() {
                Ptr::Std(a) => a.compare_exchange_weak(current, new, success, failure),
                Ptr::Loom(a) => a
                    .compare_exchange_weak(current.cast(), new.cast(), success, failure)
                    .map(<*mut ()>::cast)
                    .map_err(<*mut ()>::cast),
            }
        }

        pub(crate) fn compare_exchange(
            &self,
            current: *mut T,
            new: *mut T,
            success: Ordering,
            failure: Ordering,
        ) -> Result<*mut T, *mut T> {
            match self.get() {
                Ptr::Std(a) => a.compare_exchange(current, new, success, failure),
                Ptr::Loom(a) => a
                    .compare_exchange(current.cast(), new.cast(), success, failure)
                    .map(<*mut ()>::cast)
                    .map_err(<*mut ()>::cast),
            }
        }
    }

    /// An `AtomicBool`: loom's in a model (made where `new` is called, as in the crate).
    #[derive(Debug)]
    pub(crate) enum AtomicBool {
        Std(std::sync::atomic::AtomicBool),
        Loom(loom::sync::atomic::AtomicBool),
    }

    impl AtomicBool {
        pub(crate) fn new(v: bool) -> Self {
            if in_model() {
                AtomicBool::Loom(loom::sync::atomic::AtomicBool::new(v))
            } else {
                AtomicBool::Std(std::sync::atomic::AtomicBool::new(v))
            }
        }

        pub(crate) fn load(&self, order: Ordering) -> bool {
            match self {
                AtomicBool::Std(a) => a.load(order),
                AtomicBool::Loom(a) => a.load(order),
            }
        }

        pub(crate) fn store(&self, v: bool, order: Ordering) {
            match self {
                AtomicBool::Std(a) => a.store(v, order),
                AtomicBool::Loom(a) => a.store(v, order),
            }
        }

        pub(crate) fn compare_exchange(
            &self,
            current: bool,
            new: bool,
            success: Ordering,
            failure: Ordering,
        ) -> Result<bool, bool> {
            match self {
                AtomicBool::Std(a) => a.compare_exchange(current, new, success, failure),
                AtomicBool::Loom(a) => a.compare_exchange(current, new, success, failure),
            }
        }
    }

    #[derive(Debug)]
    enum Lock<T> {
        Std(std::sync::Mutex<T>),
        Loom(loom::sync::Mutex<T>),
    }

    /// A `Mutex`, made at first use with the value given to `new`: loom's in a model.
    #[derive(Debug)]
    pub(crate) struct Mutex<T> {
        init: std::sync::Mutex<Option<T>>,
        inner: OnceLock<Lock<T>>,
    }

    /// The guard of either lock.
    #[derive(Debug)]
    pub(crate) enum MutexGuard<'a, T> {
        Std(std::sync::MutexGuard<'a, T>),
        Loom(loom::sync::MutexGuard<'a, T>),
    }

    impl<T> Mutex<T> {
        pub(crate) const fn new(value: T) -> Self {
            Mutex {
                init: std::sync::Mutex::new(Some(value)),
                inner: OnceLock::new(),
            }
        }

        pub(crate) fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
            let lock = self.inner.get_or_init(|| {
                let value = self.init.lock().unwrap().take().unwrap();
                if in_model() {
                    Lock::Loom(loom::sync::Mutex::new(value))
                } else {
                    Lock::Std(std::sync::Mutex::new(value))
                }
            });
            match lock {
                Lock::Std(m) => m
                    .lock()
                    .map(MutexGuard::Std)
                    .map_err(|e| PoisonError::new(MutexGuard::Std(e.into_inner()))),
                Lock::Loom(m) => m
                    .lock()
                    .map(MutexGuard::Loom)
                    .map_err(|e| PoisonError::new(MutexGuard::Loom(e.into_inner()))),
            }
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            match self {
                MutexGuard::Std(g) => g,
                MutexGuard::Loom(g) => g,
            }
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            match self {
                MutexGuard::Std(g) => g,
                MutexGuard::Loom(g) => g,
            }
        }
    }
}
