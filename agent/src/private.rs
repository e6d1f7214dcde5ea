//! What `#[rtscope::main]` expands to calls. Not a public API: it changes with the macro.
//!
//! The contract with `rtscope-macros` (same version):
//!
//! ```text
//! fn main() -> R {
//!     let guard = <crate>::__private::install_for_main(
//!         <crate>::__private::MainOptions::new()
//!             .service_name("...")        // if given
//!             .export_interval_ms(N),     // if given
//!     );
//!     <the original body>                 // sync main
//!     // or, for `async fn main`:
//!     // let body = async { <the original body> };
//!     // return <crate>::__private::async_main!(body);
//! }
//! ```

pub use crate::agent::AgentGuard;

use crate::agent::Agent;
use crate::scope::Scope;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::time::Duration;

/// The arguments of `#[rtscope::main]`, checked at compile time by the macro.
#[derive(Clone, Copy, Debug, Default)]
pub struct MainOptions {
    service_name: Option<&'static str>,
    export_interval_ms: Option<u64>,
}

impl MainOptions {
    /// No arguments.
    pub const fn new() -> Self {
        MainOptions {
            service_name: None,
            export_interval_ms: None,
        }
    }

    /// `service_name = "..."`
    pub const fn service_name(mut self, name: &'static str) -> Self {
        self.service_name = Some(name);
        self
    }

    /// `export_interval_ms = N`
    pub const fn export_interval_ms(mut self, ms: u64) -> Self {
        self.export_interval_ms = Some(ms);
        self
    }
}

/// Installs the agent for `main`. Never panics: on error it prints one stderr line and
/// returns `None`, and the program runs on without the agent.
pub fn install_for_main(opts: MainOptions) -> Option<AgentGuard> {
    let result = std::panic::catch_unwind(|| {
        let mut builder = Agent::builder();
        if let Some(name) = opts.service_name {
            builder = builder.with_service_name(name);
        }
        if let Some(ms) = opts.export_interval_ms {
            builder = builder.with_export_interval(Duration::from_millis(ms));
        }
        builder.install()
    });
    let line = match result {
        Ok(Ok(guard)) => return Some(guard),
        Ok(Err(e)) => format!("rtscope: {e}; running without the agent"),
        Err(_) => "rtscope: installing the agent panicked; running without the agent".to_owned(),
    };
    crate::config::print_warnings(&[line]);
    None
}

/// Runs `async fn main`'s body on a tokio multi-thread runtime with all drivers enabled, as
/// `#[tokio::main]` does.
///
/// # Panics
///
/// If the runtime cannot be built (as `#[tokio::main]` does): there is no way to run the body.
#[cfg(feature = "tokio")]
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => {
            // The runtime-wide scheduling-delay probe (`rust.schedule.duration`, kind `probe`).
            let _probe = crate::task::start_probe(runtime.handle());
            // Its `tokio.*` runtime metrics.
            crate::task::register_runtime(runtime.handle());
            runtime.block_on(future)
        }
        Err(e) => panic!("rtscope: failed to build the tokio runtime for #[rtscope::main]: {e}"),
    }
}

/// The median time one collection of each part's series takes, over `rounds` collections,
/// named by the part's first series (`examples/src/bin/collect_cost.rs` prints them; not an
/// API). Runs on the calling thread, in the agent's account as on the export thread.
pub fn series_costs(rounds: usize) -> Vec<(&'static str, Duration)> {
    crate::base::agent_scope(|| {
        crate::agent::SOURCES
            .iter()
            .map(|source| {
                let mut out = Vec::new();
                (source.series)(&mut out);
                let name = out
                    .first()
                    .map_or("(a part with no series yet)", |m| m.name);
                let mut times: Vec<Duration> = (0..rounds.max(1))
                    .map(|_| {
                        out.clear();
                        let start = std::time::Instant::now();
                        (source.series)(&mut out);
                        start.elapsed()
                    })
                    .collect();
                times.sort();
                (name, times[times.len() / 2])
            })
            .collect()
    })
}

/// `async_main!(future)`: runs the future to completion on a tokio runtime.
#[cfg(feature = "tokio")]
#[doc(hidden)]
#[macro_export]
macro_rules! __rtscope_async_main {
    ($future:expr) => {
        $crate::__private::block_on($future)
    };
}

/// `async_main!(future)` without the `tokio` feature: a compile error saying how to fix it.
#[cfg(not(feature = "tokio"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __rtscope_async_main {
    ($future:expr) => {
        ::core::compile_error!(
            "`#[rtscope::main]` on `async fn main` needs rtscope's `tokio` feature: \
             add `features = [\"tokio\"]` to the `rtscope` dependency in Cargo.toml"
        )
    };
}

pub use crate::__rtscope_async_main as async_main;

/// A scope whose name is interned on first use: what `#[rtscope::scope]` puts in a `static`
/// at each annotated function.
#[derive(Debug)]
pub struct LazyScope {
    name: &'static str,
    id: AtomicU32,
}

impl LazyScope {
    /// Not interned yet.
    pub const fn new(name: &'static str) -> LazyScope {
        LazyScope {
            name,
            id: AtomicU32::new(0),
        }
    }

    /// The interned scope.
    #[inline]
    pub fn get(&self) -> Scope {
        match self.id.load(Relaxed) {
            0 => {
                let s = Scope::new(self.name);
                self.id.store(s.id(), Relaxed);
                s
            }
            id => Scope::from_id(id),
        }
    }
}

/// What `#[rtscope::scope]` on an `async fn` expands to: the body as a future that runs each
/// poll in `scope`. `R` is named by the macro so that `?` in the body can infer its type.
pub fn scoped<R, F: std::future::Future<Output = R>>(
    scope: &'static LazyScope,
    body: F,
) -> crate::scope::Scoped<F> {
    crate::scope::Scoped::new(scope.get(), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_scope_interns_once() {
        static S: LazyScope = LazyScope::new("mod-lazy");
        assert_eq!(S.get(), Scope::new("mod-lazy"));
        assert_eq!(S.get().name(), "mod-lazy");
    }
}
