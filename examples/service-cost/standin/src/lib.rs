//! The parts of rtscope the `service` example uses, done as a service without rtscope
//! would: tokio's timers and spawn, no tracing layer, no latency or scope records, a plain
//! mutex-guarded pool, the system allocator unwrapped. Built in place of rtscope (a renamed
//! dependency) for the baseline of `scripts/service_cost.sh`, so both builds run the same
//! source, `examples/src/bin/service.rs`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::time::Duration;

pub use rtscope_standin_macros::main;

/// The system allocator, unwrapped.
#[derive(Debug)]
pub struct Alloc(System);

impl Alloc {
    /// The system allocator.
    pub const fn system() -> Self {
        Alloc(System)
    }
}

// SAFETY: every method forwards to `System` unchanged.
unsafe impl GlobalAlloc for Alloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds the contract.
        unsafe { self.0.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        unsafe { self.0.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { self.0.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` (no attribution without rtscope).
pub fn scope<R>(_name: &'static str, f: impl FnOnce() -> R) -> R {
    f()
}

/// Nothing (no latency histogram without rtscope).
pub fn latency(_name: &'static str, _took: Duration) {}

/// tokio's spawn.
pub mod task {
    pub use tokio::spawn;
}

/// tokio's timers.
pub mod time {
    /// tokio's timers.
    pub mod tokio {
        pub use ::tokio::time::{interval, sleep, timeout};
    }
}

/// A layer that does nothing, in place of `RtscopeLayer`.
pub mod tracing {
    use tracing::Subscriber;

    /// Does nothing.
    #[derive(Debug, Default)]
    pub struct RtscopeLayer;

    impl RtscopeLayer {
        /// A layer that does nothing.
        pub fn new() -> Self {
            RtscopeLayer
        }

        /// Still nothing.
        pub fn with_scope_field(self, _field: &'static str) -> Self {
            self
        }
    }

    impl<S: Subscriber> tracing_subscriber::Layer<S> for RtscopeLayer {}
}

/// A plain pool: a mutex-guarded stack of cleared buffers.
pub mod pool {
    use std::ops::{Deref, DerefMut};
    use std::sync::Mutex;

    type Make = Box<dyn Fn() -> Vec<u8> + Send + Sync>;

    /// A pool of buffers.
    pub struct Pool<T> {
        name: &'static str,
        make: Make,
        free: Mutex<Vec<T>>,
        capacity: usize,
    }

    impl<T> std::fmt::Debug for Pool<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Pool").field("name", &self.name).finish()
        }
    }

    /// Builds a [`Pool`].
    pub struct Builder {
        name: &'static str,
        make: Make,
        capacity: usize,
    }

    impl std::fmt::Debug for Builder {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Builder").field("name", &self.name).finish()
        }
    }

    impl Pool<Vec<u8>> {
        /// A builder of a pool named `name` whose buffers `make` makes.
        pub fn builder(
            name: &'static str,
            make: impl Fn() -> Vec<u8> + Send + Sync + 'static,
        ) -> Builder {
            Builder {
                name,
                make: Box::new(make),
                capacity: 16,
            }
        }

        /// A cleared buffer, back in the pool when dropped.
        pub fn get(&self) -> Pooled<'_> {
            let buf = self
                .free
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop()
                .unwrap_or_else(|| (self.make)());
            Pooled {
                pool: self,
                buf: Some(buf),
            }
        }

        /// The pool's name.
        pub fn name(&self) -> &str {
            self.name
        }
    }

    impl Builder {
        /// Buffers kept at most.
        pub fn with_capacity(mut self, n: usize) -> Self {
            self.capacity = n;
            self
        }

        /// Ignored.
        pub fn with_max_retained_bytes(self, _bytes: usize) -> Self {
            self
        }

        /// The pool.
        pub fn build(self) -> Pool<Vec<u8>> {
            Pool {
                name: self.name,
                make: self.make,
                free: Mutex::new(Vec::with_capacity(self.capacity)),
                capacity: self.capacity,
            }
        }
    }

    /// A buffer taken from a pool.
    #[derive(Debug)]
    pub struct Pooled<'a> {
        pool: &'a Pool<Vec<u8>>,
        buf: Option<Vec<u8>>,
    }

    impl Deref for Pooled<'_> {
        type Target = Vec<u8>;
        fn deref(&self) -> &Vec<u8> {
            self.buf.as_ref().expect("held until dropped")
        }
    }

    impl DerefMut for Pooled<'_> {
        fn deref_mut(&mut self) -> &mut Vec<u8> {
            self.buf.as_mut().expect("held until dropped")
        }
    }

    impl Drop for Pooled<'_> {
        fn drop(&mut self) {
            if let Some(mut buf) = self.buf.take() {
                buf.clear();
                let mut free = self.pool.free.lock().unwrap_or_else(|e| e.into_inner());
                if free.len() < self.pool.capacity {
                    free.push(buf);
                }
            }
        }
    }
}
