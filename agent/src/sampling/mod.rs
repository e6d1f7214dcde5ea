//! Poisson byte sampling of allocations (stand-in: the real module lands with issue 5).

/// Estimated bytes allocated per scope during the last collection window, largest first.
pub(crate) fn recent_scope_bytes() -> Vec<(String, u64)> {
    Vec::new()
}
