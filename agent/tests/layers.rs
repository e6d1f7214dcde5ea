//! The plan of the house, checked. Every module of `agent/src/` has a row in [`ALLOWED`]: the
//! modules it may name. The test reads every `crate::` and `super::` path in `agent/src/**`
//! and fails on
//!
//! - a path from one module to another that its row does not allow (or a row that allows a
//!   module it never names: the table says what the code does, no more);
//! - a circle in the table (so none in the imports);
//! - a circle inside a module: between the files (or folders) of one folder, read the same
//!   way at every depth (`base/shard.rs` naming `base/hot_sampling.rs` and back is one), where a
//!   name a `mod.rs` re-exports counts as its file's;
//! - the table and the one drawn in docs/architecture.md ("The layers") differing.
//!
//! A file's `mod.rs` (or the file a folder belongs to) and the files below it may name each
//! other: that is a module and its own parts, not a circle. `lib.rs` and `private.rs` (the
//! crate's face: re-exports and what the macros call) may name anything, and the command
//! under `src/bin/` is a crate of its own. The reader works on the source text (comments
//! skipped, `$crate` ignored), so it needs no build of its own and names the file and path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each module and the modules it may name, the lowest first. A part (`alloc` to `process`)
/// names only what is below the parts; `spike` reads the parts it watches; `export` names
/// its stages (`sampling`, `spike`, `profile`) and no measured part; `agent` names every
/// part, in `SOURCES`.
const ALLOWED: &[(&str, &[&str])] = &[
    ("sys", &[]),
    ("base", &["sys"]),
    ("model", &["base"]),
    ("names", &["base"]),
    ("scope", &["base", "names"]),
    ("alloc", &["base", "model", "sys"]),
    ("pool", &["base", "model", "names"]),
    ("time", &["base", "model"]),
    ("task", &["base", "model", "names", "sys"]),
    ("latency", &["base", "model", "names", "scope", "sys"]),
    ("process", &["model", "sys"]),
    ("sampling", &["base", "model", "names", "scope", "sys"]),
    ("tracing", &["base", "model", "scope"]),
    ("profile", &["base", "model", "sys"]),
    (
        "spike",
        &[
            "alloc", "base", "latency", "model", "pool", "sys", "task", "time",
        ],
    ),
    ("config", &["base", "spike", "task"]),
    (
        "export",
        &[
            "base", "config", "model", "profile", "sampling", "spike", "sys",
        ],
    ),
    (
        "agent",
        &[
            "alloc", "base", "config", "export", "latency", "model", "pool", "process", "profile",
            "spike", "sys", "task", "time", "tracing",
        ],
    ),
];

/// The module path a file under `src/` is (`None`: the crate's face, or the command under
/// `src/bin/`, not checked): `base/shard.rs` is `base::shard`, `export/transport/mod.rs` is
/// `export::transport`. Two files are mounted under another name: `tracing_layer.rs` is
/// `tracing`, the folder `sched/` is `task`.
fn module_path(rel: &Path) -> Option<Vec<String>> {
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_str().expect("utf-8 path").to_owned())
        .collect();
    let last = parts.pop()?;
    let stem = last.strip_suffix(".rs")?.to_owned();
    if stem != "mod" {
        parts.push(stem);
    }
    match parts.first().map(String::as_str) {
        None | Some("lib" | "private" | "bin") => return None,
        Some("tracing_layer") => parts[0] = "tracing".to_owned(),
        Some("sched") => parts[0] = "task".to_owned(),
        Some(_) => {}
    }
    Some(parts)
}

/// The code of `src` without its comment lines.
fn code(src: &str) -> String {
    src.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident(s: &str) -> &str {
    let end = s
        .char_indices()
        .find(|&(_, c)| !(c.is_alphanumeric() || c == '_'))
        .map_or(s.len(), |(i, _)| i);
    &s[..end]
}

/// The text of the `{ ... }` group `s` starts with (without its braces).
fn group(s: &str) -> &str {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &s[1..i];
                }
            }
            _ => {}
        }
    }
    &s[1..]
}

/// The items of a group body, split at its top-level commas.
fn items(body: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0usize, 0);
    for (i, c) in body.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                out.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&body[start..]);
    out.into_iter().filter(|s| !s.trim().is_empty()).collect()
}

/// Every path `s` starts with, groups expanded (`a::{b, c::d}` is `a::b` and `a::c::d`);
/// a glob or a group's `self` ends its path where it is.
fn paths(s: &str) -> Vec<Vec<String>> {
    let s = s.trim_start();
    if s.starts_with('{') {
        return items(group(s))
            .into_iter()
            .flat_map(|item| {
                let item = item.trim_start();
                if item.starts_with("self")
                    && !item[4..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
                {
                    vec![Vec::new()]
                } else {
                    paths(item)
                }
            })
            .collect();
    }
    let head = ident(s);
    if head.is_empty() {
        return vec![Vec::new()];
    }
    let rest = &s[head.len()..];
    match rest.strip_prefix("::") {
        Some(more) => paths(more)
            .into_iter()
            .map(|mut p| {
                p.insert(0, head.to_owned());
                p
            })
            .collect(),
        None => vec![vec![head.to_owned()]],
    }
}

/// Every `crate::` and `super::` path of a file whose module path is `module`, as a path
/// from the crate root. Inline modules (`mod tests { .. }`) are followed, so their
/// `super::` is theirs.
fn resolved_paths(src: &str, module: &[String]) -> Vec<Vec<String>> {
    let code = code(src);
    // Inline modules open at these byte offsets and close at those.
    let mut inline: Vec<(usize, usize, String)> = Vec::new();
    let mut stack: Vec<(usize, String, usize)> = Vec::new();
    let (mut depth, bytes) = (0usize, code.as_bytes());
    let mut i = 0;
    while i < bytes.len() {
        if !code.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let rest = &code[i..];
        let at_word = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if at_word && rest.starts_with("mod ") {
            let name = ident(&rest[4..]);
            let after = rest[4 + name.len()..].trim_start();
            if !name.is_empty() && after.starts_with('{') {
                let open = i + rest.len() - after.len();
                stack.push((open, name.to_owned(), depth));
            }
        }
        match bytes[i] {
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if let Some((open, _, d)) = stack.last()
                    && *d == depth
                    && *open < i
                {
                    let (open, name, _) = stack.pop().expect("open module");
                    inline.push((open, i, name));
                }
            }
            _ => {}
        }
        i += 1;
    }
    let inside = |at: usize| -> Vec<String> {
        let mut m = module.to_vec();
        let mut opened: Vec<&(usize, usize, String)> = inline
            .iter()
            .filter(|(o, c, _)| *o < at && at < *c)
            .collect();
        opened.sort_by_key(|(o, _, _)| *o);
        m.extend(opened.into_iter().map(|(_, _, n)| n.clone()));
        m
    };
    let mut out = Vec::new();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(found) = code[from..].find(start) {
            let at = from + found;
            from = at + start.len();
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c == '$' || c == ':' || c.is_alphanumeric() || c == '_') {
                continue;
            }
            for p in paths(&code[at..]) {
                let (mut base, mut rest) = match p.first().map(String::as_str) {
                    Some("crate") => (Vec::new(), &p[1..]),
                    _ => (inside(at), &p[..]),
                };
                while rest.first().map(String::as_str) == Some("super") {
                    base.pop();
                    rest = &rest[1..];
                }
                base.extend(rest.iter().cloned());
                if !base.is_empty() {
                    out.push(base);
                }
            }
        }
    }
    out
}

/// What a module's own file re-exports from its children: `pub(crate) use shard::agent_scope;`
/// in `base/mod.rs` makes `base::agent_scope` the file `base::shard`'s.
fn reexports(src: &str) -> BTreeMap<String, String> {
    /// The names a use tree (after its first segment) brings in: an alias, else the last
    /// segment of each path.
    fn names(tree: &str, out: &mut Vec<String>) {
        let tree = tree.trim();
        if tree.starts_with('{') {
            for item in items(group(tree)) {
                names(item, out);
            }
        } else if let Some((_, alias)) = tree.split_once(" as ") {
            out.push(ident(alias.trim()).to_owned());
        } else {
            match tree.rsplit_once("::") {
                Some((_, last)) if last.trim_start().starts_with('{') => {
                    names(&tree[tree.len() - last.len()..], out)
                }
                Some((_, last)) => out.push(ident(last.trim()).to_owned()),
                None => out.push(ident(tree).to_owned()),
            }
        }
    }
    let mut out = BTreeMap::new();
    for stmt in code(src).split(';') {
        let stmt = stmt.trim();
        let Some(at) = stmt.find("use ") else {
            continue;
        };
        let line = stmt[..at].rsplit('\n').next().unwrap_or("");
        if !line.trim_start().starts_with("pub") {
            continue;
        }
        let body = stmt[at + 4..].trim_start();
        let child = ident(body);
        if matches!(child, "" | "crate" | "super" | "self" | "std") {
            continue;
        }
        let Some(tree) = body[child.len()..].strip_prefix("::") else {
            continue;
        };
        let mut found = Vec::new();
        names(tree, &mut found);
        for name in found.into_iter().filter(|n| !n.is_empty() && n != "self") {
            out.insert(name, child.to_owned());
        }
    }
    out
}

struct House {
    /// Every file's module path, with its file (relative to `src/`).
    files: BTreeMap<Vec<String>, PathBuf>,
    /// Every module file's re-exports from its children.
    reexports: BTreeMap<Vec<String>, BTreeMap<String, String>>,
}

impl House {
    fn read(src: &Path) -> (House, Vec<(Vec<String>, PathBuf, String)>) {
        let mut all = Vec::new();
        walk(src, &mut all);
        all.sort();
        let (mut files, mut reexports, mut texts) = (BTreeMap::new(), BTreeMap::new(), Vec::new());
        for file in all {
            let rel = file.strip_prefix(src).expect("under src").to_owned();
            let Some(module) = module_path(&rel) else {
                continue;
            };
            let text = std::fs::read_to_string(&file).expect("read file");
            reexports.insert(module.clone(), self::reexports(&text));
            files.insert(module.clone(), rel.clone());
            texts.push((module, rel, text));
        }
        (House { files, reexports }, texts)
    }

    /// The file (module path) a path from the crate root lands in: the longest prefix that
    /// is a file, through re-exports of its module files.
    fn file_of(&self, path: &[String]) -> Vec<String> {
        let mut at: Vec<String> = Vec::new();
        for seg in path {
            let mut next = at.clone();
            next.push(seg.clone());
            if self.files.contains_key(&next) {
                at = next;
                continue;
            }
            match self.reexports.get(&at).and_then(|r| r.get(seg)) {
                Some(child) => {
                    let mut next = at.clone();
                    next.push(child.clone());
                    if self.files.contains_key(&next) {
                        at = next;
                        continue;
                    }
                    break;
                }
                None => break,
            }
        }
        at
    }
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            walk(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// A circle in `edges` (each node's targets), if any, as the nodes along it.
fn circle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let from = path.iter().position(|p| p == n).expect("on the path");
                let mut c = path[from..].to_vec();
                c.push(n.to_owned());
                return Some(c);
            }
            _ => {}
        }
        state.insert(n.to_owned(), 1);
        path.push(n.to_owned());
        for t in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(t, edges, state, path) {
                return Some(c);
            }
        }
        path.pop();
        state.insert(n.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if let Some(c) = visit(n, edges, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

/// Every path between two modules, and between two files of one folder: (the folder, the
/// part naming, the part named) with the file and the path that does it.
type Edges = BTreeMap<(Vec<String>, String, String), (PathBuf, String)>;

fn edges(src: &Path) -> (Edges, Vec<String>) {
    let (house, texts) = House::read(src);
    let mut out = Edges::new();
    let mut wrong = Vec::new();
    for (module, rel, text) in &texts {
        for path in resolved_paths(text, module) {
            let target = house.file_of(&path);
            if target.is_empty() {
                wrong.push(format!(
                    "{}: uses `crate::{}`, a name at the crate root: import it from the module that defines it",
                    rel.display(),
                    path.join("::")
                ));
                continue;
            }
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common == module.len() || common == target.len() {
                // A module and its own parts.
                continue;
            }
            out.entry((
                module[..common].to_vec(),
                module[common].clone(),
                target[common].clone(),
            ))
            .or_insert_with(|| (rel.clone(), path.join("::")));
        }
    }
    (out, wrong)
}

fn table() -> BTreeMap<String, BTreeSet<String>> {
    ALLOWED
        .iter()
        .map(|(m, may)| {
            (
                (*m).to_owned(),
                may.iter().map(|s| (*s).to_owned()).collect(),
            )
        })
        .collect()
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn every_path_between_modules_is_in_the_table_and_the_table_has_no_circle() {
    let (edges, mut wrong) = edges(&src());
    assert!(edges.len() > 20, "found only {} paths", edges.len());
    let table = table();
    let mut used: BTreeSet<(String, String)> = BTreeSet::new();
    for ((folder, from, to), (file, path)) in &edges {
        if !folder.is_empty() {
            continue;
        }
        match table.get(from) {
            None => wrong.push(format!(
                "{}: module `{from}` has no row: add it to ALLOWED (and docs/architecture.md)",
                file.display()
            )),
            Some(may) if !may.contains(to) => wrong.push(format!(
                "{}: `{from}` names `crate::{path}`, and its row does not allow `{to}`",
                file.display()
            )),
            Some(_) => {
                used.insert((from.clone(), to.clone()));
            }
        }
    }
    for (m, may) in &table {
        for to in may {
            if !used.contains(&(m.clone(), to.clone())) {
                wrong.push(format!(
                    "ALLOWED: `{m}` never names `{to}`: take it off its row"
                ));
            }
            if !table.contains_key(to) {
                wrong.push(format!("ALLOWED: `{m}` may name `{to}`, which has no row"));
            }
        }
    }
    if let Some(c) = circle(&table) {
        wrong.push(format!("ALLOWED has a circle: {}", c.join(" -> ")));
    }
    assert!(
        wrong.is_empty(),
        "the house against its plan:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_circle_inside_a_module() {
    let (edges, _) = edges(&src());
    let mut folders: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (folder, from, to) in edges.keys() {
        if !folder.is_empty() {
            folders
                .entry(folder.clone())
                .or_default()
                .entry(from.clone())
                .or_default()
                .insert(to.clone());
        }
    }
    assert!(
        folders.len() >= 4,
        "read the files of only {} folders",
        folders.len()
    );
    let mut wrong = Vec::new();
    for (folder, graph) in &folders {
        if let Some(c) = circle(graph) {
            let how: Vec<String> = c
                .windows(2)
                .map(|w| {
                    let (file, path) = &edges[&(folder.clone(), w[0].clone(), w[1].clone())];
                    format!("{} names `{path}`", file.display())
                })
                .collect();
            wrong.push(format!(
                "a circle in `{}`: {} ({})",
                folder.join("::"),
                c.join(" -> "),
                how.join("; ")
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The table drawn in docs/architecture.md: the `text` block after "## The layers", one
/// line a module, `module -> what it may name`, the rest of a line after two spaces and a
/// `|` being words for the reader.
fn drawn() -> BTreeMap<String, BTreeSet<String>> {
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/architecture.md"),
    )
    .expect("read docs/architecture.md");
    let at = doc.find("## The layers").expect("a section \"The layers\"");
    let block = doc[at..]
        .split("```text\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a text block in \"The layers\"");
    let mut out = BTreeMap::new();
    for line in block.lines() {
        let line = line.split(" |").next().unwrap_or("");
        let Some((m, may)) = line.split_once("->") else {
            continue;
        };
        out.insert(
            m.trim().to_owned(),
            may.split_whitespace().map(str::to_owned).collect(),
        );
    }
    out
}

#[test]
fn architecture_md_draws_the_table() {
    let (table, drawn) = (table(), drawn());
    let mut wrong = Vec::new();
    for m in table.keys().chain(drawn.keys()).collect::<BTreeSet<_>>() {
        match (table.get(m), drawn.get(m)) {
            (Some(t), Some(d)) if t == d => {}
            (t, d) => wrong.push(format!("`{m}`: ALLOWED {t:?}, architecture.md {d:?}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_reader_sees_groups_supers_and_inline_modules_and_skips_comments() {
    let m = |s: &str| s.split("::").map(str::to_owned).collect::<Vec<_>>();
    let src = "use crate::{a::b, c::{d, e}};\n// crate::hidden\nlet x = crate::f::g();\n$crate::no\n\
               use super::super::h::i;\nmod tests {\n    use super::j;\n}\n";
    assert_eq!(
        resolved_paths(src, &m("top::file")),
        [
            m("a::b"),
            m("c::d"),
            m("c::e"),
            m("f::g"),
            m("h::i"),
            m("top::file::j")
        ]
    );
    let r = reexports(
        "pub(crate) use shard::agent_scope;\npub use future::{ScopeExt, Scoped};\nuse own::Thing;\npub(crate) use runtime::SOURCE as RUNTIME_SOURCE;",
    );
    assert_eq!(r.get("agent_scope").map(String::as_str), Some("shard"));
    assert_eq!(r.get("Scoped").map(String::as_str), Some("future"));
    assert_eq!(r.get("RUNTIME_SOURCE").map(String::as_str), Some("runtime"));
    assert_eq!(r.get("Thing"), None);
    let mut g = BTreeMap::new();
    g.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    g.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(circle(&g), Some(vec!["a".into(), "b".into(), "a".into()]));
}
