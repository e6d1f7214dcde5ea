//! Property tests of what configuration resolution promises (`config` module docs,
//! `config::resolve`, docs/configuration.md "Bad values") for any environment, which is what
//! [`AgentBuilder::install`](super::AgentBuilder::install) resolves: it never panics; it
//! returns at most 32 warning lines and one more counting the rest; each line is one line
//! (values escaped and cut); header values and an endpoint's userinfo and query never appear;
//! and it is pure (the same environment gives the same answer).
//!
//! The variables are every name resolution asks for, found by asking it (so variables added
//! later are covered without a list here); their values are the words the parsers know, text
//! full of control, bidirectional and line-ending characters, lists of thousands of bad
//! entries, strings of up to 200 000 bytes, and bytes that are not UTF-8.

use crate::config::{self, Overrides};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::sync::OnceLock;

/// docs/configuration.md: "At most 32 such lines are printed; past that, one more line counts
/// the rest".
const MAX_LINES: usize = 32 + 1;

/// Characters of a warning at most: its words, one value (64 characters, escaped, and its
/// length) and up to two paths (`base::text::PATH_CHARS` each, quoted).
const MAX_LINE_CHARS: usize = 2 * (4096 + 32) + 1024;

/// Words the parsers know, and near misses.
const WORDS: &[&str] = &[
    "otlp",
    "none",
    "prometheus",
    "otlp,prometheus",
    "otlp,none",
    "console",
    "grpc",
    "http/protobuf",
    "http/json",
    "gzip",
    "zstd",
    "true",
    "false",
    "TRUE",
    "on",
    "off",
    "yes",
    "cumulative",
    "delta",
    "lowmemory",
    "0",
    "1",
    "100",
    "-1",
    "1e3",
    "NaN",
    "inf",
    "18446744073709551616",
    "4294967296",
    "65536",
    "localhost",
    "0.0.0.0",
    "[::1]",
    "127.0.0.1:6060",
    "[::1]:0",
    "localhost:4317",
    "http://localhost:4318",
    "https://collector:4317/",
    "http://",
    "http://[::1",
    "ftp://x",
    "/tmp/rtscope-proptest.jsonl",
    "k=v,k2=v%20x",
    "service.name=s,a=%zz",
    "=v",
    "k",
    ",,,",
    " ",
    "%",
];

/// Every variable resolution reads (`config::tests::vars::read_by_resolve`), found once.
fn names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let names: Vec<String> = config::tests::vars::read_by_resolve().into_iter().collect();
        assert!(names.len() >= 50, "only {} variables found", names.len());
        names
    })
}

/// Characters an attacker or a typo puts in a value.
fn tricky_text() -> impl Strategy<Value = String> {
    let tricky = proptest::sample::select(vec![
        '\n', '\r', '\t', '\0', '\u{1b}', '\u{7f}', '\u{85}', '\u{202e}', '\u{2066}', '\u{61c}',
        '\u{200b}', '\u{feff}', '\u{2028}', '"', '\\', '%', ',', '=', '@', ':', '/', '?', '#', ' ',
        'é', 'a', '0',
    ]);
    proptest::collection::vec(prop_oneof![any::<char>(), tricky], 0..80).prop_map(String::from_iter)
}

/// A value of any kind (see the module docs).
fn value() -> impl Strategy<Value = OsString> {
    let word = proptest::sample::select(WORDS);
    let huge = (
        proptest::sample::select(&["9", "a,", "k=%zz,", "\u{202e}", "é", "\n", "x"][..]),
        1usize..100_000,
    )
        .prop_map(|(unit, n)| unit.repeat(n));
    let list = proptest::collection::vec(
        prop_oneof![word.clone().prop_map(str::to_owned), tricky_text()],
        0..8,
    )
    .prop_map(|entries| entries.join(","));
    // Distinct bad entries: each is a warning of its own.
    let flood = (1usize..3_000).prop_map(|n| {
        let entries: Vec<String> = (0..n).map(|i| format!("bad{i}")).collect();
        entries.join(",")
    });
    #[cfg(unix)]
    let not_utf8 = proptest::collection::vec(any::<u8>(), 0..40).prop_map(|mut bytes| {
        bytes.push(0xff);
        std::os::unix::ffi::OsStringExt::from_vec(bytes)
    });
    #[cfg(not(unix))]
    let not_utf8 = Just(OsString::new());
    prop_oneof![
        4 => word.prop_map(OsString::from),
        3 => tricky_text().prop_map(OsString::from),
        2 => list.prop_map(OsString::from),
        1 => huge.prop_map(OsString::from),
        1 => flood.prop_map(OsString::from),
        1 => not_utf8,
    ]
}

/// An environment: up to 16 of the variables resolution reads, each with any value.
fn environment() -> impl Strategy<Value = BTreeMap<String, OsString>> {
    let name = proptest::sample::select(names());
    proptest::collection::btree_map(name, value(), 0..16)
}

/// A credential: a marker no other value holds, then what people put in passwords (every
/// character a URL or a header list gives a meaning to, but the list's `,`).
fn secret() -> impl Strategy<Value = String> {
    "[A-Za-z0-9#/?:@%!$&'()*+;=\\[\\]~ -]{1,12}".prop_map(|s| format!("Zq7{s}"))
}

/// The secrets and where they are: header lists and endpoints holding them in their values,
/// userinfo and query.
#[derive(Debug, Clone)]
struct Secrets {
    vars: Vec<(&'static str, String)>,
    secrets: Vec<String>,
}

fn secrets() -> impl Strategy<Value = Secrets> {
    let header = (
        proptest::sample::select(vec![
            config::OTEL_EXPORTER_OTLP_HEADERS,
            config::OTEL_EXPORTER_OTLP_METRICS_HEADERS,
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        ]),
        proptest::sample::select(vec![
            "authorization",
            "x-api-key",
            "bad name",
            "",
            "a\u{1b}",
        ]),
        secret(),
        proptest::sample::select(vec!["", "%zz", "\u{7}", " "]),
    );
    let endpoint = (
        proptest::sample::select(vec![
            config::OTEL_EXPORTER_OTLP_ENDPOINT,
            config::OTEL_EXPORTER_OTLP_METRICS_ENDPOINT,
            config::OTEL_EXPORTER_OTLP_LOGS_ENDPOINT,
        ]),
        proptest::sample::select(vec![
            "http://", "https://", "", "ftp://", "HTTP://", "http:/",
        ]),
        secret(),
        secret(),
        proptest::sample::select(vec![
            "localhost",
            "127.0.0.1",
            "[::1]",
            "bad host",
            "",
            "[::1",
        ]),
        proptest::sample::select(vec!["", ":4318", ":99999", ":x"]),
        proptest::sample::select(vec!["", "/", "/v1/metrics"]),
        proptest::option::of(secret()),
    );
    (
        proptest::collection::vec(header, 0..3),
        proptest::collection::vec(endpoint, 0..3),
    )
        .prop_map(|(headers, endpoints)| {
            let mut s = Secrets {
                vars: Vec::new(),
                secrets: Vec::new(),
            };
            for (var, name, secret, junk) in headers {
                s.vars.push((var, format!("{name}={secret}{junk},other=x")));
                s.secrets.push(secret);
            }
            for (var, scheme, user, password, host, port, path, query) in endpoints {
                let mut url = format!("{scheme}{user}:{password}@{host}{port}{path}");
                if let Some(q) = &query {
                    url.push_str(&format!("?token={q}"));
                }
                s.vars.push((var, url));
                s.secrets.extend([user, password]);
                s.secrets.extend(query);
            }
            s
        })
}

/// What must never reach a line of output as itself (as in `base::text`'s properties).
fn breaks_the_line(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

fn resolve(env: &BTreeMap<String, OsString>) -> (config::Config, Vec<String>) {
    config::resolve(&Overrides::default(), |name| env.get(name).cloned())
}

fn config() -> ProptestConfig {
    // Failures become regression tests here, not files beside the source.
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn any_environment_resolves_within_the_documented_bounds(
        env in environment(),
        secrets in secrets(),
    ) {
        let mut env = env;
        for (var, value) in &secrets.vars {
            env.insert((*var).to_owned(), value.into());
        }
        let (config, warnings) = resolve(&env);
        prop_assert!(warnings.len() <= MAX_LINES, "{} lines", warnings.len());
        for line in &warnings {
            prop_assert!(line.starts_with("rtscope: "), "{line:?}");
            prop_assert!(!line.chars().any(breaks_the_line), "not one line: {line:?}");
            let chars = line.chars().count();
            prop_assert!(chars <= MAX_LINE_CHARS, "{chars} characters: {line:.200}");
            for secret in &secrets.secrets {
                prop_assert!(!line.contains(secret.as_str()), "{secret:?} shown: {line}");
            }
        }
        // Pure: the same environment, the same answer.
        prop_assert_eq!(resolve(&env), (config, warnings));
    }
}

#[test]
fn a_flood_of_bad_values_gives_the_documented_lines() {
    let bad: Vec<String> = (0..10_000).map(|i| format!("no-equals-{i}")).collect();
    let bad = bad.join(",");
    let (_, warnings) = config::resolve(&Overrides::default(), |name| {
        (name == config::OTEL_RESOURCE_ATTRIBUTES).then(|| bad.clone())
    });
    assert_eq!(warnings.len(), MAX_LINES);
    assert!(
        warnings[MAX_LINES - 1]
            .ends_with("more configuration problems not shown; fix the ones above first"),
        "{}",
        warnings[MAX_LINES - 1]
    );
}

/// Found by the property: a password holding `/` (or `?`, `#`) unescaped ends the authority
/// early, so the endpoint is not a URL, and its warning showed the userinfo after the `/`.
#[test]
fn a_password_with_url_characters_never_reaches_a_warning() {
    for endpoint in [
        "http://Zq7/:Zq7-@bad host",
        "https://user:pa/ss@collector:4318",
        "https://user:p#ss@collector:4318",
        "https://user:p?ss@collector:4318/v1?token=t@k",
        "user:pa/ss@collector:4317",
    ] {
        let env = BTreeMap::from([(
            config::OTEL_EXPORTER_OTLP_ENDPOINT.to_owned(),
            endpoint.into(),
        )]);
        let (_, warnings) = resolve(&env);
        let line = warnings
            .iter()
            .find(|w| w.contains("is not an http"))
            .expect("warned");
        for secret in ["Zq7", "pa/ss", "p#ss", "p?ss", "ss@", "t@k", "user"] {
            assert!(!line.contains(secret), "{secret:?} shown: {line}");
        }
    }
}
