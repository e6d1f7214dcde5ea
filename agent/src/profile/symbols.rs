//! Addresses to function names from the loaded objects' own symbol tables (`.symtab`, else
//! `.dynsym`, read with the `object` crate from the files `dl_iterate_phdr` names, mapped
//! read-only), demangled, cached per address. A few MiB for a large binary, kept for the
//! process: debug info is never parsed (a binary's line tables cost tens of MiB to read), so
//! a location has its function but no file or line, and an inlined call shows as the function
//! it was inlined into; the mappings carry each object's build id for tools that symbolize
//! again. Runs on the export side only, in the agent's account.

use std::collections::HashMap;
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
/// Largest object file read for its symbols (a larger one is left unsymbolized).
const MAX_OBJECT_BYTES: u64 = 4 << 30;

/// The function symbols of one loaded object.
struct Table {
    /// Its executable segments' range in this process.
    start: u64,
    end: u64,
    /// Process address minus file address.
    bias: u64,
    /// (file address, size, mangled name), sorted by address.
    functions: Vec<(u64, u64, &'static [u8])>,
}

#[derive(Default)]
struct State {
    tables: Option<Vec<Table>>,
    cache: HashMap<usize, Vec<Frame>>,
}

static STATE: Mutex<Option<State>> = Mutex::new(None);

/// The tables of every loaded object, read once.
fn load() -> Vec<Table> {
    let mut by_file: Vec<(String, u64, u64, u64)> = Vec::new();
    for s in crate::sys::executable_segments() {
        match by_file.iter_mut().find(|(f, ..)| *f == s.file) {
            Some((_, start, end, _)) => {
                *start = (*start).min(s.start);
                *end = (*end).max(s.end);
            }
            None => by_file.push((s.file, s.start, s.end, s.bias)),
        }
    }
    by_file
        .into_iter()
        .filter_map(|(file, start, end, bias)| {
            let data = map_file(&file)?;
            Some(Table {
                start,
                end,
                bias,
                functions: functions(data),
            })
        })
        .collect()
}

/// `path` mapped read-only for the rest of the process (clean, file-backed pages the kernel
/// may drop), or `None`.
fn map_file(path: &str) -> Option<&'static [u8]> {
    let file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    if len == 0 || len > MAX_OBJECT_BYTES {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd as _;
        // SAFETY: a private read-only mapping of a file we opened; it is never unmapped, so the
        // slice below stays valid for the process. The file changing under it would change
        // what is read, never memory safety (the parser reads bytes, bounds-checked).
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len as usize,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return None;
        }
        // SAFETY: `len` readable bytes at `p`, mapped for the rest of the process.
        Some(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len as usize) })
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        None
    }
}

/// The function symbols of an object file, sorted by address; symbols without a size reach
/// to the next one.
fn functions(data: &'static [u8]) -> Vec<(u64, u64, &'static [u8])> {
    use object::{Object as _, ObjectSymbol as _, SymbolKind};
    let Ok(file) = object::File::parse(data) else {
        return Vec::new();
    };
    let pick = |symbols: object::SymbolIterator<'static, 'static, &'static [u8]>| {
        symbols
            .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
            .filter_map(|s| Some((s.address(), s.size(), s.name_bytes().ok()?)))
            .filter(|(_, _, name)| !name.is_empty())
            .collect::<Vec<_>>()
    };
    // The file lives for the process: `file` borrows `data` only.
    let file: &'static object::File<'static, &'static [u8]> = Box::leak(Box::new(file));
    let mut out = pick(file.symbols());
    if out.is_empty() {
        out = pick(file.dynamic_symbols());
    }
    out.sort_by_key(|f| f.0);
    out.dedup_by_key(|f| f.0);
    out
}

/// The function at process address `addr`, demangled without its hash.
fn name_at(tables: &[Table], addr: u64) -> Option<String> {
    let t = tables.iter().find(|t| (t.start..t.end).contains(&addr))?;
    let at = addr.wrapping_sub(t.bias);
    let i = t.functions.partition_point(|f| f.0 <= at).checked_sub(1)?;
    let (start, size, name) = t.functions[i];
    let next = t.functions.get(i + 1).map_or(u64::MAX, |f| f.0);
    if (size > 0 && at >= start + size) || at >= next {
        return None;
    }
    let name = std::str::from_utf8(name).ok()?;
    Some(match rustc_demangle::try_demangle(name) {
        Ok(d) => format!("{d:#}"),
        Err(_) => name.to_owned(),
    })
}

/// The frames of return address `addr` (looked up at `addr - 1`, inside the call).
fn resolve(addr: usize, state: &mut State) -> Vec<Frame> {
    if let Some(f) = state.cache.get(&addr) {
        return f.clone();
    }
    let tables = state.tables.get_or_insert_with(load);
    let function =
        name_at(tables, addr.saturating_sub(1) as u64).unwrap_or_else(|| format!("{addr:#x}"));
    let frames = vec![Frame {
        function,
        ..Frame::default()
    }];
    if state.cache.len() >= MAX_CACHED {
        state.cache.clear();
    }
    state.cache.insert(addr, frames.clone());
    frames
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

fn internal(frames: &[Frame]) -> bool {
    frames
        .iter()
        .all(|f| INTERNAL.iter().any(|p| f.function.starts_with(p)))
}

/// The one frame of the profile's `[in use, untracked]` entry: an address no code has.
pub(crate) const UNTRACKED_FRAME: usize = 1;
/// The function names of the two entries that are not stacks.
pub(crate) const UNTRACKED: &str = "[in use, untracked]";
pub(crate) const PAST_THE_TABLE: &str = "[stacks past the table]";

/// The locations of a captured stack (innermost first), each with its frames, rtscope's own
/// and the allocator shims dropped from the top. An empty stack is the table's overflow
/// entry, shown as one `[stacks past the table]` location.
pub(crate) fn resolve_stack(addrs: &[usize]) -> Vec<(usize, Vec<Frame>)> {
    let label = |addr: usize, function: &str| {
        vec![(
            addr,
            vec![Frame {
                function: function.into(),
                ..Frame::default()
            }],
        )]
    };
    if addrs.is_empty() {
        return label(0, PAST_THE_TABLE);
    }
    if addrs == [UNTRACKED_FRAME] {
        return label(UNTRACKED_FRAME, UNTRACKED);
    }
    let mut guard = STATE.lock().unwrap_or_else(PoisonError::into_inner);
    let state = guard.get_or_insert_with(State::default);
    let resolved: Vec<(usize, Vec<Frame>)> =
        addrs.iter().map(|&a| (a, resolve(a, state))).collect();
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
    let ours = |name: &str| name.starts_with("rtscope::") || name.starts_with("<rtscope::");
    all()
        .find(|f| !standard(&f.function) && !ours(&f.function))
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
