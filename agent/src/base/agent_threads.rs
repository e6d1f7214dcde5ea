//! Which kernel threads are the agent's own (the export thread): their allocations go to the
//! agent's account (`super::shard::enter_agent_thread`) and their run-queue wait is
//! self-telemetry (`crate::task`).

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// Kernel thread ids of the agent's own threads (0 = free). The agent runs one (the export
/// thread); a few places leave room for tests that mark their own.
static AGENT_TIDS: [AtomicU32; 4] = [const { AtomicU32::new(0) }; 4];

/// Marks the calling thread as the agent's: its run-queue wait is self-telemetry from now on.
/// No allocation, no lock.
// Marked by the export side's threads (through `shard::enter_agent_thread`).
#[cfg_attr(not(feature = "_export"), allow(dead_code))]
pub(crate) fn mark_agent_thread() {
    let tid = crate::sys::thread_id();
    if tid == 0 || is_agent(tid) {
        return;
    }
    for slot in &AGENT_TIDS {
        if slot.compare_exchange(0, tid, Relaxed, Relaxed).is_ok() {
            return;
        }
    }
}

pub(crate) fn is_agent(tid: u32) -> bool {
    AGENT_TIDS.iter().any(|t| t.load(Relaxed) == tid)
}

/// Whether any thread was marked as the agent's.
pub(crate) fn any_agent_thread() -> bool {
    AGENT_TIDS.iter().any(|t| t.load(Relaxed) != 0)
}
