//! The table of variables (`config/vars.rs`) against what resolution reads and against
//! docs/configuration.md, as docs/metrics.md is checked against the exporter's names.

use super::*;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// Every variable resolution asks for: with nothing set, and with every variable set to each
/// of a few words (some variables are read only when others ask for them). The property tests
/// of `resolve` (`agent/any_environment.rs`) set these names too.
pub(crate) fn read_by_resolve() -> BTreeSet<String> {
    let asked = RefCell::new(BTreeSet::new());
    for probe in [
        None,
        Some("x"),
        Some("otlp,prometheus"),
        Some("grpc"),
        Some("true"),
        Some("on"),
        Some("localhost:4317"),
    ] {
        resolve(&Overrides::default(), |name| {
            asked.borrow_mut().insert(name.to_owned());
            probe.map(str::to_owned)
        });
    }
    asked.into_inner()
}

/// The variables docs/configuration.md's "All settings" table names (backticked in its
/// variables column), each with the Default cells of the rows naming it.
fn documented() -> BTreeMap<&'static str, Vec<&'static str>> {
    let doc = include_str!("../../../../docs/configuration.md");
    let table = doc
        .split_once("## All settings")
        .expect("docs/configuration.md has an \"All settings\" section")
        .1;
    let table = table.split("\n## ").next().unwrap_or(table);
    let mut out: BTreeMap<_, Vec<_>> = BTreeMap::new();
    for row in table.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&'static str> = row.split(" | ").collect();
        let [_, _, vars, default] = cells[..] else {
            panic!("docs/configuration.md: a row of All settings has not 4 cells: {row}");
        };
        for ticked in vars.split('`').skip(1).step_by(2) {
            if ticked.starts_with("OTEL_") || ticked.starts_with("RTSCOPE_") {
                out.entry(ticked)
                    .or_default()
                    .push(default.trim_end_matches(" |"));
            }
        }
    }
    out
}

/// Whether `word` is in `text` (backticks dropped) with no letter or digit next to it.
fn has_word(text: &str, word: &str) -> bool {
    let text = text.replace('`', "");
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[test]
fn the_table_is_every_variable_resolution_reads() {
    let table: BTreeSet<String> = VARS.iter().map(|v| v.name.to_owned()).collect();
    assert_eq!(
        table.len(),
        VARS.len(),
        "a variable is twice in config/vars.rs"
    );
    let read = read_by_resolve();
    let unlisted: Vec<_> = read.difference(&table).collect();
    let unread: Vec<_> = table.difference(&read).collect();
    assert!(
        unlisted.is_empty(),
        "read by resolve but not in config/vars.rs: {unlisted:?}"
    );
    assert!(
        unread.is_empty(),
        "in config/vars.rs but never read: {unread:?}"
    );
    assert!(VARS.len() >= 60, "only {} variables", VARS.len());
}

#[test]
fn configuration_md_names_every_variable_with_its_default() {
    let documented = documented();
    for var in VARS {
        let Some(defaults) = documented.get(var.name) else {
            panic!(
                "{} is in config/vars.rs but not in docs/configuration.md's All settings table \
                 (name it, in full and in backticks, in the row of its setting)",
                var.name
            );
        };
        assert!(
            defaults.iter().any(|cell| has_word(cell, var.default)),
            "docs/configuration.md: no Default cell of the rows naming {}, {defaults:?}, says \
             its default {:?} (config/vars.rs)",
            var.name,
            var.default
        );
    }
    for name in documented.keys() {
        assert!(
            VARS.iter().any(|v| v.name == *name),
            "docs/configuration.md names {name}, which rtscope does not read (config/vars.rs)"
        );
    }
}

#[test]
fn every_setting_defaults_to_what_its_variables_document() {
    let mut checked = 0;
    for (vars, shown) in settings() {
        for name in vars {
            let var = VARS.iter().find(|v| v.name == *name);
            let var = var.unwrap_or_else(|| panic!("{name} is not in VARS"));
            assert_eq!(
                var.default, shown,
                "{name}: the documented default is not what a warning says is used"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 40,
        "only {checked} variables of settings checked"
    );
}

/// A default is found as a whole word only (`on` is not in `none`).
#[test]
fn has_word_needs_the_whole_word() {
    assert!(has_word("`on` with the `profiles` feature", "on"));
    assert!(has_word("60000 ms", "60000"));
    assert!(!has_word("none", "on"));
    assert!(!has_word("600000 ms", "60000"));
    assert!(has_word("`localhost`, 9464", "9464"));
}
