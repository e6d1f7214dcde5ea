//! Run-queue delay of OS threads, from the kernel's per-thread scheduler statistics.
//!
//! `/proc/self/task/<tid>/schedstat` holds three numbers per thread: time on a CPU, time
//! spent runnable but waiting in a run queue (both in ns), and the number of times it was
//! put on a CPU. Each read adds, per thread, the wait and the run count since the previous
//! read to the histogram of its name, every run of that stretch counted at the stretch's
//! mean wait per run (the kernel keeps totals, not single waits). Sum and count are exact;
//! the buckets show the mean per collection interval, per thread.
//!
//! The agent's own threads (the export thread) are self-telemetry, not the application's:
//! their waits go to one histogram of their own ([`agent_delay`]), never to a user series.

use crate::base::agent_scope;
use crate::base::agent_threads::{any_agent_thread, is_agent};
use crate::base::counters::{HistogramSnapshot, PlainHistogram};
use crate::names::Interner;
use std::sync::{Mutex, PoisonError};

/// Distinct thread names with their own series, [`OTHER`](crate::OTHER) included: later
/// names share the series named [`OTHER`](crate::OTHER).
pub const MAX_THREAD_NAMES: usize = 32;

/// Thread names in order of first sight; the histogram of id `i` is `State::delays[i]`.
/// Interned only by `State::refresh`, under the `STATE` lock.
static NAMES: Interner<(), MAX_THREAD_NAMES> = Interner::new();

/// Run-queue delay of the threads of one name, since the process started (threads that
/// exited included, up to their last read).
///
/// ```
/// for t in rtscope::task::thread_delays() {
///     println!("{}: waited {:?} over {} runs", t.name, t.delay.sum, t.delay.count);
/// }
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadDelay {
    /// The thread name (the kernel's `comm`, at most 15 bytes), or [`OTHER`](crate::OTHER).
    pub name: String,
    /// Waits in a run queue: `count` runs, `sum` total wait.
    pub delay: HistogramSnapshot,
}

#[derive(Debug)]
struct Last {
    tid: u32,
    wait_ns: u64,
    runs: u64,
}

#[derive(Debug)]
struct State {
    /// Per live thread: the totals already accounted, sorted by tid.
    last: Vec<Last>,
    /// Per thread name, by its id in `NAMES`.
    delays: [PlainHistogram; MAX_THREAD_NAMES],
    /// The agent's own threads, all names together.
    agent: PlainHistogram,
}

static STATE: Mutex<State> = Mutex::new(State {
    last: Vec::new(),
    delays: [const { PlainHistogram::new() }; MAX_THREAD_NAMES],
    agent: PlainHistogram::new(),
});

impl State {
    /// The histogram of thread name `name` (ids are below `MAX_THREAD_NAMES`: always some).
    fn histogram(&mut self, name: &str) -> Option<&mut PlainHistogram> {
        self.delays.get_mut(NAMES.intern(name, || ()).id() as usize)
    }

    fn refresh(&mut self) {
        let mut now = Vec::with_capacity(self.last.len() + 8);
        crate::sys::for_each_thread(|tid, name, wait_ns, runs| {
            let prev = self
                .last
                .binary_search_by_key(&tid, |l| l.tid)
                .ok()
                .map(|i| (self.last[i].wait_ns, self.last[i].runs))
                // A reused tid (counts went back): a new thread, counted from zero.
                .filter(|&(w, r)| w <= wait_ns && r <= runs)
                .unwrap_or((0, 0));
            let (dw, dr) = (wait_ns - prev.0, runs - prev.1);
            if let Some(mean) = dw.checked_div(dr) {
                if is_agent(tid) {
                    self.agent.record_n(mean, dr, dw);
                } else {
                    let name = String::from_utf8_lossy(name);
                    if let Some(h) = self.histogram(&name) {
                        h.record_n(mean, dr, dw);
                    }
                }
                now.push(Last { tid, wait_ns, runs });
            } else {
                // No run since: keep the wait for when the run comes.
                now.push(Last {
                    tid,
                    wait_ns: prev.0,
                    runs: prev.1,
                });
            }
        });
        now.sort_unstable_by_key(|l| l.tid);
        self.last = now;
    }
}

/// Reads the kernel's counts of every thread now, and returns the run-queue delay of every
/// thread name so far. Empty where `/proc/self/task/*/schedstat` is missing (not Linux, or
/// a kernel without `CONFIG_SCHED_INFO`). The agent's own export thread is not among them:
/// its waits are self-telemetry (`rtscope.agent.schedule.duration`).
///
/// ```
/// let before = rtscope::task::thread_delays();
/// # let _ = before;
/// ```
pub fn thread_delays() -> Vec<ThreadDelay> {
    let mut st = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    // The tables are the agent's, and freed by it; the copy returned is the caller's.
    agent_scope(|| st.refresh());
    NAMES
        .iter()
        .filter_map(|e| {
            Some(ThreadDelay {
                name: e.name().to_owned(),
                delay: st.delays.get(e.id() as usize)?.snapshot(),
            })
        })
        .collect()
}

/// The run-queue delay of the agent's own threads so far (as of the last read of every
/// thread), or `None` while no agent thread exists or where the system keeps no counts.
pub(crate) fn agent_delay() -> Option<HistogramSnapshot> {
    if !crate::sys::THREAD_SCHEDSTAT || !any_agent_thread() {
        return None;
    }
    let st = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    Some(st.agent.snapshot())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(not(rtscope_linux))]
    fn no_thread_series_where_the_system_keeps_no_counts() {
        crate::base::agent_threads::mark_agent_thread();
        assert_eq!(thread_delays(), Vec::new());
        assert_eq!(agent_delay(), None, "no empty self-telemetry series either");
    }

    #[test]
    #[cfg(rtscope_linux)]
    fn sees_this_thread_by_name() {
        let name = "rts-unit-seen";
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                // Run a few times so the kernel counts runs.
                for _ in 0..3 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                let d = thread_delays();
                let mine = d
                    .iter()
                    .find(|t| t.name == name)
                    .expect("this thread's series");
                assert!(mine.delay.count > 0);
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
