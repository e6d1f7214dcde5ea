//! Addresses to function names, files and lines, with `backtrace`'s resolver (gimli and
//! addr2line over the loaded objects' debug info and symbol tables), cached per address.
//! Runs on the export side only, in the agent's account.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};

/// One frame of a location: the innermost function first, then those it was inlined into.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Frame {
    pub(crate) function: String,
    pub(crate) file: String,
    pub(crate) line: u32,
}

/// Addresses cached at most; the cache starts again past it.
const MAX_CACHED: usize = 1 << 16;

static CACHE: Mutex<Option<HashMap<usize, Vec<Frame>>>> = Mutex::new(None);
/// Whether the resolver parsed debug info since [`done`] last let it go.
static RESOLVER_HOLDS: AtomicBool = AtomicBool::new(false);

/// Lets the resolver's parsed debug info go (tens of MiB for a binary with line tables)
/// once a profile, a summary or an event is built: the names stay cached here per address,
/// so only new addresses parse again. Call at the end of every batch of lookups.
pub(crate) fn done() {
    if RESOLVER_HOLDS.swap(false, Relaxed) {
        let _guard = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
        backtrace::clear_symbol_cache();
    }
}

/// The global allocator's entry points: where a captured stack leaves the application.
const ENTRY: &[&str] = &[
    "__rust_alloc",
    "__rust_realloc",
    "__rust_alloc_zeroed",
    "__rustc::__rust_alloc",
    "__rustc::__rust_realloc",
    "__rustc::__rust_alloc_zeroed",
    "<rtscope::alloc::Alloc",
];

/// Prefixes of the functions dropped from the top of a stack: rtscope itself, the capture,
/// and the global allocator's shims.
const INTERNAL: &[&str] = &[
    "rtscope::",
    "<rtscope::",
    "backtrace::",
    "<backtrace::",
    "_Unwind_",
    "__rust_",
    "__rustc::",
    "__rg_",
    "__rdl_",
    "alloc::alloc::",
    "<alloc::alloc::Global",
    "std::alloc::",
];

/// Crates of the standard library (and its hash map), whose functions a stack's leaf name
/// skips.
const STANDARD: &[&str] = &["alloc::", "core::", "std::", "hashbrown::"];

/// Whether `path` (a type or function path) is in the standard library.
fn std_path(path: &str) -> bool {
    let path = path.trim_start_matches(['&', '*', '[', '(', ' ']);
    let path = path.strip_prefix("mut ").unwrap_or(path);
    let path = path.strip_prefix("dyn ").unwrap_or(path);
    STANDARD.iter().any(|p| path.starts_with(p))
}

/// Whether function `name` is the standard library's: a std path, or an impl of a std type,
/// or of a std trait for a type without a path (`<u8 as alloc::..::SpecFromElem>`). An impl
/// of a std trait for the application's type (`<myapp::Row as core::fmt::Display>::fmt`) is
/// the application's.
fn standard(name: &str) -> bool {
    match name.strip_prefix('<').and_then(|n| n.split_once(" as ")) {
        Some((ty, tr)) => std_path(ty) || (!ty.contains("::") && std_path(tr)),
        None => std_path(name.strip_prefix('<').unwrap_or(name)),
    }
}

/// The frames of return address `addr` (looked up at `addr - 1`, inside the call).
fn resolve(addr: usize, cache: &mut HashMap<usize, Vec<Frame>>) -> Vec<Frame> {
    if let Some(f) = cache.get(&addr) {
        return f.clone();
    }
    let mut frames = Vec::new();
    backtrace::resolve(addr.saturating_sub(1) as *mut std::ffi::c_void, |sym| {
        frames.push(Frame {
            function: sym
                .name()
                .map_or_else(|| format!("{addr:#x}"), |n| format!("{n:#}")),
            file: sym
                .filename()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default(),
            line: sym.lineno().unwrap_or(0),
        });
    });
    if frames.is_empty() {
        frames.push(Frame {
            function: format!("{addr:#x}"),
            ..Frame::default()
        });
    }
    if cache.len() >= MAX_CACHED {
        cache.clear();
    }
    cache.insert(addr, frames.clone());
    frames
}

fn internal(frames: &[Frame]) -> bool {
    frames
        .iter()
        .all(|f| INTERNAL.iter().any(|p| f.function.starts_with(p)))
}

/// The locations of a captured stack (innermost first), each with its frames, rtscope's own
/// and the allocator shims dropped from the top. An empty stack is the table's overflow
/// entry, shown as one `[stacks past the table]` location.
pub(crate) fn resolve_stack(addrs: &[usize]) -> Vec<(usize, Vec<Frame>)> {
    if addrs.is_empty() {
        return vec![(
            0,
            vec![Frame {
                function: "[stacks past the table]".into(),
                ..Frame::default()
            }],
        )];
    }
    let mut guard = CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    let cache = guard.get_or_insert_with(HashMap::new);
    if addrs.iter().any(|a| !cache.contains_key(a)) {
        RESOLVER_HOLDS.store(true, Relaxed);
    }
    let resolved: Vec<(usize, Vec<Frame>)> =
        addrs.iter().map(|&a| (a, resolve(a, cache))).collect();
    drop(guard);
    // Every capture starts inside the global allocator: everything up to its entry (the last
    // allocator frame) is rtscope's, then the allocator shims.
    let entry = resolved
        .iter()
        .rposition(|(_, f)| {
            f.iter()
                .any(|f| ENTRY.iter().any(|p| f.function.starts_with(p)))
        })
        .map_or(0, |i| i + 1);
    let skip = entry
        + resolved[entry..]
            .iter()
            .take_while(|(_, f)| internal(f))
            .count();
    if skip == resolved.len() {
        resolved
    } else {
        resolved.into_iter().skip(skip).collect()
    }
}

/// The name a person looks for in a stack: its innermost function outside rtscope and the
/// standard library (the innermost one if all are).
pub(crate) fn leaf_function(addrs: &[usize]) -> String {
    let resolved = resolve_stack(addrs);
    let all = || resolved.iter().flat_map(|(_, f)| f.iter());
    all()
        .find(|f| !standard(&f.function))
        .or_else(|| all().next())
        .map(|f| f.function.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::standard;

    #[test]
    fn standard_library_frames_are_told_from_the_applications() {
        for name in [
            "alloc::raw_vec::RawVecInner<A>::finish_grow",
            "<alloc::vec::Vec<T> as core::clone::Clone>::clone",
            "<u8 as alloc::vec::spec_from_elem::SpecFromElem>::from_elem",
            "<&str as core::fmt::Display>::fmt",
            "std::collections::hash::map::HashMap<K,V,S>::insert",
            "hashbrown::raw::RawTable<T,A>::reserve_rehash",
        ] {
            assert!(standard(name), "{name}");
        }
        for name in [
            "myapp::cache::Cache::insert",
            "<myapp::Row as core::fmt::Display>::fmt",
            "<myapp::Pool<T> as alloc::borrow::ToOwned>::to_owned",
            "spikes::spike_events_arrive_as_log_records::{{closure}}",
        ] {
            assert!(!standard(name), "{name}");
        }
    }
}
