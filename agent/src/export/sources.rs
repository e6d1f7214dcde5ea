//! Metrics of the parts other than the allocator (pools, timers, scheduler delay): each part
//! appends its cumulative series here. Called on the export thread, inside the agent scope.

use super::model::Metric;

/// Appends every non-allocator series.
pub(crate) fn collect(out: &mut Vec<Metric>) {
    crate::pool::collect(out);
    crate::time::collect(out);
    crate::sched::collect(out);
    crate::spike::collect(out);
}
