//! The plan of the house, checked: every `crate::` path in `agent/src/**` points down the
//! layers below (or within its own module), so no module imports one above it and there is
//! no import circle. The same order is drawn in docs/architecture.md.
//!
//! It reads the source text (comment lines skipped, `$crate` ignored), so it needs no build
//! of its own and fails with the file and the offending path.

use std::path::Path;

/// The layers, lowest first. A module may import its own module and modules of lower layers
/// only; modules of one layer are independent of each other. `lib.rs` and `private.rs` (the
/// crate's face: re-exports and what the macros call) may import anything.
const LAYERS: &[&[&str]] = &[
    &["sys"],
    &["base"],
    &["model"],
    &["names"],
    &["scope"],
    &[
        "alloc", "pool", "time", "sched", "sampling", "tracing", "profile", "runtime", "process",
    ],
    &["task", "spike"],
    &["config"],
    &["export"],
    &["agent"],
];

/// The module a file under `src/` belongs to (`None`: the crate's face, or the command
/// under `src/bin/`, not checked).
fn module_of(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    match name {
        "lib" | "private" => None,
        // The `rtscope` command: a crate of its own, over the library's public API.
        "bin" => None,
        "tracing_layer" => Some("tracing".to_owned()),
        other => Some(other.to_owned()),
    }
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

/// The leading identifier of each item of a `use` group body (`a::b, c, d::{e, f}`).
fn group_heads(body: &str) -> Vec<String> {
    let (mut heads, mut depth, mut item) = (Vec::new(), 0usize, String::new());
    for ch in body.chars().chain(std::iter::once(',')) {
        match ch {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                let head: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !head.is_empty() {
                    heads.push(head);
                }
                item.clear();
                continue;
            }
            _ => {}
        }
        if depth == 0 {
            item.push(ch);
        }
    }
    heads
}

/// Every top-level name a `crate::` path in `src` starts with.
fn crate_paths(src: &str) -> Vec<String> {
    let code: String = src
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        let after = &rest[at + "crate::".len()..];
        rest = after;
        if before.is_some_and(|c| c == '$' || c.is_alphanumeric() || c == '_') {
            continue;
        }
        if let Some(group) = after.strip_prefix('{') {
            let mut depth = 1usize;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            out.extend(group_heads(&group[..end]));
        } else {
            let head: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            out.push(head);
        }
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            walk(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

#[test]
fn no_module_imports_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files.sort();
    assert!(files.len() > 20, "found only {} files", files.len());
    let mut wrong = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        let Some(module) = module_of(rel) else {
            continue;
        };
        let Some(mine) = layer_of(&module) else {
            wrong.push(format!(
                "{}: module `{module}` is in no layer: add it to LAYERS (and docs/architecture.md)",
                rel.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read file");
        for target in crate_paths(&text) {
            if target == module {
                continue;
            }
            match layer_of(&target) {
                Some(theirs) if theirs < mine => {}
                Some(_) => wrong.push(format!(
                    "{}: `{module}` imports `crate::{target}`, which is not below it",
                    rel.display()
                )),
                None => wrong.push(format!(
                    "{}: `{module}` uses `crate::{target}`, a name at the crate root: import it from the module that defines it",
                    rel.display()
                )),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_reader_sees_groups_and_skips_comments() {
    let src = "use crate::{a::b, c::{d, e}};\n// crate::hidden\nlet x = crate::f::g();\n$crate::no";
    assert_eq!(crate_paths(src), ["a", "c", "f"]);
}
