//! Heap profiles: which code allocates, and which code holds the memory, by call stack.
//!
//! Every allocation the Poisson byte sampler picks (one every 512 KiB on average by default,
//! as Go's `runtime.MemProfileRate`; only a CPU budget raises it, see docs/configuration.md)
//! also records its call stack, and a sampled block leaves the in-use profile when it is
//! freed, on any thread, by `realloc` too, also after the thread that allocated it exited. So the profile holds Go's four
//! estimates per stack, unbiased (each sample weighs `s / (1 - exp(-s/T))` bytes):
//!
//! | sample type | what |
//! | --- | --- |
//! | `alloc_objects/count`, `alloc_space/bytes` | allocated since the start |
//! | `inuse_objects/count`, `inuse_space/bytes` | allocated and not freed: what each stack holds now |
//!
//! ```no_run
//! # #[global_allocator] static A: rtscope::Alloc = rtscope::Alloc::system();
//! let _agent = rtscope::Agent::builder().install()?;
//! // ... work ...
//! std::fs::write("heap.pb.gz", rtscope::profile::pprof_heap())?;
//! // go tool pprof -top -sample_index=inuse_space heap.pb.gz
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Or serve it as Go's `net/http/pprof` does, with `RTSCOPE_PPROF_ADDR=127.0.0.1:6060`:
//! `go tool pprof http://127.0.0.1:6060/debug/pprof/heap`. `RTSCOPE_PPROF_DIR` writes a file
//! every export interval and at exit. See docs/profiles.md.
//!
//! - **Stacks** are captured on the allocating thread, in the sample path only (the fast path
//!   gains nothing): by walking frame pointers when the build keeps them
//!   (`RUSTFLAGS="-C force-frame-pointers=yes"`, detected at build time), else with the DWARF
//!   unwinder. At most 64 frames per stack and 8192 distinct stacks (more fold into one
//!   `[stacks past the table]` entry).
//! - **Symbols** are resolved on the export side (or the thread calling [`pprof_heap`]), in
//!   the agent's account, from the loaded objects' symbol tables (a few MiB, read once; debug
//!   info is never parsed, so locations have functions but no lines, and an inlined call
//!   shows as its caller); frames inside rtscope and the allocator shims are dropped from the
//!   top of each stack. Mappings carry each object's file and GNU build id, so a backend can
//!   symbolize again with lines.
//! - **The in-use set**: small sampled blocks (up to 32 KiB) are served from an address range
//!   rtscope reserves, so a free is checked with one range compare; larger ones are
//!   remembered by address and looked up by frees over 32 KiB only. The range holds up to
//!   32768 live sampled blocks of each power-of-two size; past that a sample counts in its
//!   stack's allocated estimates only (`rtscope.profile.untracked`), and what such blocks
//!   hold shows as one `[in use, untracked]` entry: for each size range with any, the exact
//!   live bytes of its size classes less the tracked samples' estimate, at most what the
//!   untracked samples were estimated to allocate.
//!
//! Off with `RTSCOPE_HEAP_PROFILE=off` (or `with_heap_profile(false)`), or with sampling.

mod delta;
mod otlp;
mod pprof;
mod symbols;

use crate::base::hot_profile::{self as hot, OBJECT_SCALE};
use crate::model::Source;
use crate::model::series::{Data, Metric, Number};
pub(crate) use delta::encode_delta;
use std::sync::atomic::Ordering::Relaxed;
pub(crate) use symbols::leaf_function;

/// The profile's part of the export: its own series and its summary lines.
pub(crate) const SOURCE: Source = Source {
    series,
    summary,
    ..Source::NONE
};

/// One stack of the heap profile with its four estimates.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct StackStats {
    /// Return addresses, innermost first (empty for the entry of stacks past the table).
    pub(crate) frames: Vec<usize>,
    pub(crate) alloc_objects: i64,
    pub(crate) alloc_bytes: i64,
    pub(crate) inuse_objects: i64,
    pub(crate) inuse_bytes: i64,
}

/// Every stack of the table with its estimates (the export side's read: allocates).
pub(crate) fn snapshot() -> Vec<StackStats> {
    let Some(table) = hot::stacks() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut frames = Vec::new();
    for (i, e) in table.iter().enumerate() {
        let written = e.frames(&mut frames);
        if !written && i != 0 {
            continue;
        }
        let objects = |v: u64| ((v as i64).max(0) as f64 / OBJECT_SCALE).round() as i64;
        let s = StackStats {
            frames: if written { frames.clone() } else { Vec::new() },
            alloc_objects: objects(e.alloc_objects.load(Relaxed)),
            alloc_bytes: (e.alloc_bytes.load(Relaxed) as i64).max(0),
            inuse_objects: objects(e.inuse_objects.load(Relaxed)),
            inuse_bytes: (e.inuse_bytes.load(Relaxed) as i64).max(0),
        };
        if s.alloc_bytes > 0 {
            out.push(s);
        }
    }
    if let Some(untracked) = untracked_inuse() {
        out.push(untracked);
    }
    out
}

/// The `[in use, untracked]` entry: what the blocks past the in-use tables hold, estimated
/// per size range that has any as the exact live heap of the range's size classes (the
/// shards' counters) less the tracked samples' in-use estimate there, and at most what the
/// untracked samples were estimated to allocate. `None` while every sample was tracked.
fn untracked_inuse() -> Option<StackStats> {
    use crate::base::classes::CLASS_SIZES;
    if hot::UNTRACKED.load(Relaxed) == 0 {
        return None;
    }
    let mut live = [(0u64, 0u64); hot::RANGES];
    for shard in crate::base::shard::user_shards() {
        for (c, &size) in CLASS_SIZES.iter().enumerate() {
            let r = hot::range_of(size);
            let (objects, bytes) = &mut live[r];
            *objects = objects
                .wrapping_add(shard.allocs[c].load(Relaxed))
                .wrapping_sub(shard.frees[c].load(Relaxed));
            *bytes = bytes
                .wrapping_add(shard.alloc_bytes[c].load(Relaxed))
                .wrapping_sub(shard.free_bytes[c].load(Relaxed));
        }
    }
    let (mut objects, mut bytes) = (0f64, 0i64);
    for (r, &(live_objects, live_bytes)) in live.iter().enumerate() {
        let most_bytes = hot::UNTRACKED_ALLOC.bytes[r].load(Relaxed) as i64;
        if most_bytes <= 0 {
            continue;
        }
        let tracked_bytes = hot::TRACKED_INUSE.bytes[r].load(Relaxed) as i64;
        bytes += (live_bytes as i64 - tracked_bytes).clamp(0, most_bytes);
        let most = hot::UNTRACKED_ALLOC.objects[r].load(Relaxed) as f64 / OBJECT_SCALE;
        let tracked = hot::TRACKED_INUSE.objects[r].load(Relaxed) as i64 as f64 / OBJECT_SCALE;
        objects += (live_objects as i64 as f64 - tracked).clamp(0.0, most);
    }
    Some(StackStats {
        frames: vec![symbols::UNTRACKED_FRAME],
        inuse_objects: objects.round() as i64,
        inuse_bytes: bytes,
        ..StackStats::default()
    })
}

/// Which of Go's sample types a profile shows first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Show {
    /// `inuse_space` (`/debug/pprof/heap`).
    InUse,
    /// `alloc_space` (`/debug/pprof/allocs`).
    Allocs,
}

/// The current heap profile as gzipped pprof (`profile.proto`), as `go tool pprof`,
/// Pyroscope and Grafana read it: the sample types `alloc_objects/count`,
/// `alloc_space/bytes`, `inuse_objects/count`, `inuse_space/bytes` in that order, the
/// period type `space/bytes` with the mean sampling interval as period, and `inuse_space`
/// as the default sample type. Values are the unbiased estimates.
///
/// Empty profile (no samples) when profiles are off. Safe to call from any thread; costs a
/// symbol lookup per new address (cached) and an encode, in the agent's account; the
/// returned bytes are the caller's.
pub fn pprof_heap() -> Vec<u8> {
    encode_for_caller(Show::InUse)
}

/// The same data as [`pprof_heap`] with `alloc_space` as the default sample type, as Go's
/// `/debug/pprof/allocs`.
pub fn pprof_allocs() -> Vec<u8> {
    encode_for_caller(Show::Allocs)
}

/// Encodes in the agent's account, then copies the bytes into a block of the caller's.
fn encode_for_caller(default: Show) -> Vec<u8> {
    let agent_bytes = crate::base::agent_scope(|| encode(default));
    let out = agent_bytes.clone();
    crate::base::agent_scope(|| drop(agent_bytes));
    out
}

/// The profile, gzipped (agent account: call inside the agent scope or on the export
/// thread).
pub(crate) fn encode(default: Show) -> Vec<u8> {
    pprof::gzipped(&build(&snapshot(), default))
}

/// What pprof and OTLP Profiles share: the stacks' symbols, deduplicated into functions
/// and locations numbered from 1 (pprof's ids start at 1; OTLP's tables keep an empty
/// entry at 0, so an entry's number is its index there too), and the string table.
pub(crate) struct Symbolized {
    pub(crate) strings: pprof::Strings,
    /// The executable segments; mapping number `i + 1` is `segments[i]`, 0 none.
    pub(crate) segments: Vec<crate::sys::Segment>,
    /// Function `i + 1`: its name's and its file's string ids.
    pub(crate) functions: Vec<(i64, i64)>,
    /// Location `i + 1`.
    pub(crate) locations: Vec<SymbolizedLocation>,
    /// Per stack (in the order given), its location numbers, innermost first.
    pub(crate) stacks: Vec<Vec<u64>>,
}

/// A return address with its mapping number and its (function number, line) frames,
/// innermost first (more than one where calls were inlined).
pub(crate) struct SymbolizedLocation {
    pub(crate) address: u64,
    pub(crate) mapping: u64,
    pub(crate) lines: Vec<(u64, i64)>,
}

/// Symbolizes `stacks`, each address and function once.
pub(crate) fn symbolize(stacks: &[StackStats]) -> Symbolized {
    use std::collections::HashMap;
    let mut out = Symbolized {
        strings: pprof::Strings::new(),
        segments: crate::sys::executable_segments(),
        functions: Vec::new(),
        locations: Vec::new(),
        stacks: Vec::with_capacity(stacks.len()),
    };
    let mut location_ids: HashMap<usize, u64> = HashMap::new();
    let mut function_ids: HashMap<(String, String), u64> = HashMap::new();
    for stack in stacks {
        let resolved = symbols::resolve_stack(&stack.frames);
        let mut ids = Vec::with_capacity(resolved.len());
        for (addr, frames) in &resolved {
            let id = *location_ids.entry(*addr).or_insert_with(|| {
                let lines = frames
                    .iter()
                    .map(|f| {
                        let key = (f.function.clone(), f.file.clone());
                        let function = *function_ids.entry(key).or_insert_with(|| {
                            let name = out.strings.id(&f.function);
                            out.functions.push((name, out.strings.id(&f.file)));
                            out.functions.len() as u64
                        });
                        (function, i64::from(f.line))
                    })
                    .collect();
                let mapping = out
                    .segments
                    .iter()
                    .position(|s| (s.start..s.end).contains(&(*addr as u64)))
                    .map_or(0, |i| i as u64 + 1);
                out.locations.push(SymbolizedLocation {
                    address: *addr as u64,
                    mapping,
                    lines,
                });
                out.locations.len() as u64
            });
            ids.push(id);
        }
        out.stacks.push(ids);
    }
    out
}

fn build(stacks: &[StackStats], default: Show) -> pprof::Profile {
    use pprof::{Function, Line, Location, Mapping, Profile, Sample, ValueType};
    let Symbolized {
        mut strings,
        segments,
        functions,
        locations,
        stacks: location_ids,
    } = symbolize(stacks);
    let vt = |t: &str, u: &str, s: &mut pprof::Strings| ValueType {
        r#type: s.id(t),
        unit: s.id(u),
    };
    let sample_type = vec![
        vt("alloc_objects", "count", &mut strings),
        vt("alloc_space", "bytes", &mut strings),
        vt("inuse_objects", "count", &mut strings),
        vt("inuse_space", "bytes", &mut strings),
    ];
    let period_type = Some(vt("space", "bytes", &mut strings));
    let mapping: Vec<Mapping> = segments
        .iter()
        .enumerate()
        .map(|(i, s)| Mapping {
            id: i as u64 + 1,
            memory_start: s.start,
            memory_limit: s.end,
            file_offset: s.file_offset,
            filename: strings.id(&s.file),
            build_id: strings.id(&s.build_id),
            has_functions: true,
            has_filenames: true,
            has_line_numbers: true,
            has_inline_frames: true,
        })
        .collect();
    let function = (1..)
        .zip(functions)
        .map(|(id, (name, filename))| Function {
            id,
            name,
            system_name: name,
            filename,
        })
        .collect();
    let location = (1..)
        .zip(locations)
        .map(|(id, l)| Location {
            id,
            mapping_id: l.mapping,
            address: l.address,
            line: l
                .lines
                .into_iter()
                .map(|(function_id, line)| Line { function_id, line })
                .collect(),
        })
        .collect();
    let sample = stacks
        .iter()
        .zip(location_ids)
        .map(|(stack, location_id)| Sample {
            location_id,
            value: vec![
                stack.alloc_objects,
                stack.alloc_bytes,
                stack.inuse_objects,
                stack.inuse_bytes,
            ],
        })
        .collect();
    let default_sample_type = match default {
        Show::InUse => strings.id("inuse_space"),
        Show::Allocs => strings.id("alloc_space"),
    };
    let comment =
        vec![strings.id("rtscope heap profile: unbiased estimates from Poisson byte sampling")];
    Profile {
        sample_type,
        sample,
        mapping,
        location,
        function,
        time_nanos: crate::sys::realtime_nanos().min(i64::MAX as u64) as i64,
        period_type,
        period: period(),
        comment,
        default_sample_type,
        string_table: strings.into_table(),
    }
}

/// The heap profile as OTLP Profiles: the dictionary and one profile per sample type (Go's
/// four, in order), for the export pipeline to wrap with its resource. Agent account.
pub(crate) fn otlp_profiles() -> (
    opentelemetry_proto::tonic::profiles::v1development::ProfilesDictionary,
    Vec<opentelemetry_proto::tonic::profiles::v1development::Profile>,
) {
    otlp::profiles(&snapshot(), crate::sys::realtime_nanos(), period())
}

/// The mean sampling interval now, the profiles' period (the start value while off).
fn period() -> i64 {
    match crate::base::hot_sampling::mean() {
        0 => 512 * 1024,
        mean => mean.min(i64::MAX as u64) as i64,
    }
}

/// The leaf function (outside the standard library) of stack-table entry `id`.
pub(crate) fn leaf_of(id: u32) -> String {
    let mut frames = Vec::new();
    match hot::stacks().and_then(|t| t.get(id as usize)) {
        Some(e) if e.frames(&mut frames) => leaf_function(&frames),
        _ => symbols::PAST_THE_TABLE.to_owned(),
    }
}

/// The `n` stacks holding the most bytes now: (leaf function outside the standard library,
/// estimated bytes in use), largest first.
pub(crate) fn top_inuse(n: usize) -> Vec<(String, i64)> {
    top(n, |s| s.inuse_bytes)
}

/// The `n` leaf functions whose stacks have the largest `value` together, largest first.
fn top(n: usize, value: fn(&StackStats) -> i64) -> Vec<(String, i64)> {
    let mut by_leaf: Vec<(String, i64)> = Vec::new();
    for s in snapshot().iter().filter(|s| value(s) > 0) {
        let leaf = leaf_function(&s.frames);
        match by_leaf.iter_mut().find(|(f, _)| *f == leaf) {
            Some((_, v)) => *v += value(s),
            None => by_leaf.push((leaf, value(s))),
        }
    }
    by_leaf.sort_by_key(|(_, v)| std::cmp::Reverse(*v));
    by_leaf.truncate(n);
    by_leaf
}

fn series(out: &mut Vec<Metric>) {
    if !hot::enabled() {
        return;
    }
    let stacks = hot::stacks().map_or(0, |t| {
        t.iter().filter(|e| e.alloc_bytes.load(Relaxed) > 0).count()
    });
    out.push(Metric::new(
        "rtscope.profile.stacks",
        "{stack}",
        "Distinct call stacks of sampled allocations in the heap profile's table (at most 8192; later ones are counted together)",
        Data::Gauge(Number::Int(stacks as u64)),
    ));
    out.push(Metric::new(
        "rtscope.profile.untracked",
        "{sample}",
        "Sampled allocations whose blocks the in-use tables could not follow (the arena or address table had no room); what they hold shows as the [in use, untracked] entry",
        Data::Counter(Number::Int(hot::UNTRACKED.load(Relaxed))),
    ));
}

fn summary(out: &mut String) {
    if !hot::enabled() {
        return;
    }
    let list = |v: Vec<(String, i64)>| {
        v.iter()
            .map(|(f, b)| format!("{f} {}", crate::model::bytes(*b as u64)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let allocating = top(3, |s| s.alloc_bytes);
    if allocating.is_empty() {
        return;
    }
    let holding = top_inuse(3);
    let holding = if holding.is_empty() {
        // Blocks were sampled (they are in "allocated most"), and every one was freed.
        "nothing held at exit".to_owned()
    } else {
        list(holding)
    };
    let untracked = match untracked_inuse() {
        Some(u) => format!(
            "; {} {} in {} objects ({} samples past the in-use tables)",
            symbols::UNTRACKED,
            crate::model::bytes(u.inuse_bytes as u64),
            u.inuse_objects,
            hot::UNTRACKED.load(Relaxed)
        ),
        None => String::new(),
    };
    out.push_str(&format!(
        "  heap profile: in use by stack (top 3): {holding}; allocated most: {}{untracked}\n",
        list(allocating)
    ));
}

/// The profile files of `RTSCOPE_PPROF_DIR`: one `heap-<unix ms>.pb.gz` per write, the
/// newest [`KEPT`](Files::KEPT) kept. A write that fails is one line, once per kind of failure
/// in a row; the application never waits on it beyond the write itself.
#[derive(Debug)]
pub(crate) struct Files {
    dir: std::path::PathBuf,
    failing: bool,
}

impl Files {
    /// Files kept in the directory (the oldest removed first).
    pub(crate) const KEPT: usize = 10;

    pub(crate) fn new(dir: std::path::PathBuf) -> Self {
        Files {
            dir,
            failing: false,
        }
    }

    /// Writes the current heap profile (agent account) and removes the oldest files past
    /// [`Files::KEPT`].
    pub(crate) fn write(&mut self) {
        let name = format!(
            "heap-{:013}.pb.gz",
            crate::sys::realtime_nanos() / 1_000_000
        );
        let path = self.dir.join(name);
        let result = std::fs::create_dir_all(&self.dir)
            .and_then(|()| std::fs::write(&path, encode(Show::InUse)));
        match result {
            Ok(()) => {
                self.failing = false;
                self.prune();
            }
            Err(e) if !self.failing => {
                self.failing = true;
                let shown = crate::base::text::shown(
                    &self.dir.to_string_lossy(),
                    crate::base::text::PATH_CHARS,
                    true,
                );
                eprintln!(
                    "rtscope: cannot write a heap profile into {shown} ({e}); set RTSCOPE_PPROF_DIR to a writable directory"
                );
            }
            Err(_) => {}
        }
    }

    fn prune(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut ours: Vec<std::path::PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("heap-") && n.ends_with(".pb.gz"))
            })
            .collect();
        ours.sort();
        let excess = ours.len().saturating_sub(Self::KEPT);
        for old in &ours[..excess] {
            let _ = std::fs::remove_file(old);
        }
    }
}
