//! The running exporter (built with an exporter): started by `install`, shut down once by
//! whoever comes first (the guard's drop, the `exit` handler, the panic hook under
//! `panic = "abort"`), and never in a forked child.

use crate::config::Config;
use crate::export::Exporter;
use crate::model::Source;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError, TryLockError};
use std::time::Duration;

/// Starts the exporter of `config` over `sources` and registers its flushes.
pub(super) fn start(config: &Config, sources: &'static [Source]) {
    let exporter = crate::base::agent_scope(|| Exporter::start(config.clone(), sources));
    *lock(&EXPORTER) = Some(Running {
        exporter,
        timeout: config.shutdown_timeout,
    });
    register_exit_flush();
}

/// The running exporter; whoever takes it (guard drop, `atexit`, panic hook) shuts it down.
static EXPORTER: Mutex<Option<Running>> = Mutex::new(None);

struct Running {
    exporter: Exporter,
    timeout: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Set in a child made by `fork` (see [`in_forked_child`]): the exporter belongs to the parent.
static FORKED_CHILD: AtomicBool = AtomicBool::new(false);

/// Shuts the running exporter down if nobody has yet. `from_hook`: called from `atexit` or a
/// panic hook, where blocking on the lock could deadlock, so it only tries. In a forked child
/// it does nothing: the export thread is the parent's (the child has only the thread that
/// forked), and even the lock may have been held by a parent thread at the fork.
pub(super) fn shutdown_running(from_hook: bool) -> bool {
    if FORKED_CHILD.load(Ordering::Acquire) {
        return false;
    }
    let taken = if from_hook {
        match EXPORTER.try_lock() {
            Ok(mut slot) => slot.take(),
            Err(TryLockError::Poisoned(p)) => p.into_inner().take(),
            Err(TryLockError::WouldBlock) => None,
        }
    } else {
        lock(&EXPORTER).take()
    };
    match taken {
        Some(Running { exporter, timeout }) => {
            // The exporter promises not to panic; a destructor must not risk an abort anyway.
            let shutdown = std::panic::AssertUnwindSafe(|| exporter.shutdown(timeout));
            let _ = std::panic::catch_unwind(|| crate::base::agent_scope(shutdown));
            true
        }
        None => false,
    }
}

/// Registers the `exit` flush (and, under `panic = "abort"`, the panic-hook flush) and the
/// `fork` handler once.
fn register_exit_flush() {
    static REGISTERED: std::sync::Once = std::sync::Once::new();
    REGISTERED.call_once(|| {
        crate::sys::at_exit(flush_at_exit);
        // SAFETY: `in_forked_child` only stores to atomics (async-signal-safe).
        unsafe { crate::sys::at_fork_child(in_forked_child) };
        #[cfg(panic = "abort")]
        if !std::thread::panicking() {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                previous(info);
                shutdown_running(true);
            }));
        }
    });
}

/// Runs in the child right after `fork`: marks the exporter as the parent's and stops
/// sampling, whose samples nothing would collect here. Only atomic stores.
extern "C" fn in_forked_child() {
    FORKED_CHILD.store(true, Ordering::Release);
    crate::base::hot_sampling::disable();
}

/// Runs at `exit` (after `main` returns, or on [`std::process::exit`]): flushes if the guard
/// did not.
extern "C" fn flush_at_exit() {
    let _ = std::panic::catch_unwind(|| {
        let flushed = shutdown_running(true);
        #[cfg(test)]
        if flushed && std::env::var_os(super::tests::CHILD_VAR).is_some() {
            crate::config::print_warnings(&["rtscope-test: flushed at exit".to_owned()]);
        }
        let _ = flushed;
    });
}

