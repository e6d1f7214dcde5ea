//! Text from outside (an environment value, a path, a collector's body) shown in one line of
//! output: one function, [`shown`], escapes what could forge a line or drive a terminal and
//! caps the length. Never pass a secret: see `config::redact_url`.

use std::path::Path;

/// Most characters of a configuration value echoed in a message.
pub(crate) const VALUE_CHARS: usize = 64;
/// Most characters of a path shown (never below `PATH_MAX`, so a real path is never cut).
pub(crate) const PATH_CHARS: usize = 4096;

/// `text` for one line: control characters, the line and paragraph separators (U+2028,
/// U+2029) and invisible or bidirectional formatting characters (which reorder what a terminal
/// shows: every Bidi_Control character) escaped as `\n` or `\u{202e}`, in double quotes when
/// `quote`. Past `limit` characters of output it is cut and followed by the
/// whole length, as in `"aaaa"... (100000 bytes)`.
pub(crate) fn shown(text: &str, limit: usize, quote: bool) -> String {
    let mut out = String::new();
    if quote {
        out.push('"');
    }
    let mut count = 0;
    let mut cut = false;
    for c in text.chars() {
        let invisible = matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}');
        let escaped = (c.is_control() || invisible || (quote && matches!(c, '"' | '\\')))
            .then(|| c.escape_default());
        let width = escaped.clone().map_or(1, Iterator::count);
        if count + width > limit {
            cut = true;
            break;
        }
        count += width;
        match escaped {
            Some(e) => out.extend(e),
            None => out.push(c),
        }
    }
    if quote {
        out.push('"');
    }
    if cut {
        out.push_str(&format!("... ({} bytes)", text.len()));
    }
    out
}

/// A configuration value for a message: quoted, escaped, at most [`VALUE_CHARS`] shown.
pub(crate) fn quoted(raw: &str) -> String {
    shown(raw, VALUE_CHARS, true)
}

/// A path for a message: as is when [`shown`] leaves it unchanged, quoted otherwise (a path
/// that is not UTF-8 shows U+FFFD for its invalid bytes, and is quoted).
pub(crate) fn path(path: &Path) -> String {
    let text = path.to_string_lossy();
    let plain = shown(&text, PATH_CHARS, false);
    if plain == text && !text.contains(char::REPLACEMENT_CHARACTER) {
        plain
    } else {
        shown(&text, PATH_CHARS, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_escaped_and_the_length_capped() {
        let forged = "oops\nrtscope: export recovered\u{1b}[2J\u{202e}";
        let echoed = shown(forged, 200, false);
        assert_eq!(
            echoed,
            "oops\\nrtscope: export recovered\\u{1b}[2J\\u{202e}"
        );
        assert!(!echoed.chars().any(char::is_control));
        assert_eq!(
            shown(&"x".repeat(100_000), 200, false),
            format!("{}... (100000 bytes)", "x".repeat(200))
        );
        // The cut keeps whole characters and whole escapes.
        assert_eq!(
            quoted(&"é".repeat(70)),
            format!("\"{}\"... (140 bytes)", "é".repeat(64))
        );
        assert_eq!(
            shown(&format!("{}\n", "a".repeat(63)), 64, false),
            format!("{}... (64 bytes)", "a".repeat(63))
        );
        assert_eq!(quoted("say \"hi\""), r#""say \"hi\"""#);
    }

    /// Found by `shown_is_one_bounded_line`: the line and paragraph separators break a line
    /// wherever Unicode line breaking is followed (browsers, log viewers), and U+061C (the
    /// Arabic letter mark) is a bidirectional formatting character; all three went through.
    #[test]
    fn line_separators_and_every_bidi_control_are_escaped() {
        assert_eq!(
            shown("a\u{2028}b\u{2029}c\u{61c}d", 64, false),
            "a\\u{2028}b\\u{2029}c\\u{61c}d"
        );
        assert_eq!(path(Path::new("/tmp/\u{2028}")), r#""/tmp/\u{2028}""#);
    }

    #[test]
    fn paths_are_shown_as_they_are_unless_they_need_escaping() {
        assert_eq!(path(Path::new("/tmp/a b.jsonl")), "/tmp/a b.jsonl");
        assert_eq!(path(Path::new("/tmp/\n")), r#""/tmp/\n""#);
        let long = format!("/{}", "d".repeat(99));
        assert_eq!(path(Path::new(&long)), long);
    }

    /// Properties of what the module docs and [`shown`] state, for any text and limit.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Unicode's Bidi_Control characters (PropList.txt): every "bidirectional formatting
        /// character", which reorders what a terminal shows.
        const BIDI_CONTROLS: &[char] = &[
            '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}',
            '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ];
        /// The invisible characters `shown` names: zero-width space, non-joiner, joiner and
        /// the byte order mark.
        const INVISIBLE: &[char] = &['\u{200B}', '\u{200C}', '\u{200D}', '\u{FEFF}'];
        /// Characters that end a line (UAX #14 mandatory breaks) and are not `is_control`:
        /// the line and paragraph separators.
        const LINE_ENDS: &[char] = &['\u{2028}', '\u{2029}'];

        /// What must never reach a line of output as itself.
        fn forges(c: char) -> bool {
            c.is_control()
                || BIDI_CONTROLS.contains(&c)
                || INVISIBLE.contains(&c)
                || LINE_ENDS.contains(&c)
        }

        /// Characters of output a character of `text` takes: its `escape_default` when it
        /// must be escaped (and `"` or `\` when quoted), else 1.
        fn width(c: char, quote: bool) -> usize {
            if forges(c) || (quote && matches!(c, '"' | '\\')) {
                c.escape_default().count()
            } else {
                1
            }
        }

        /// The text a quoted body stands for, reading Rust's escapes back; `None` if an
        /// escape is cut or unknown.
        fn unescape(body: &str) -> Option<String> {
            let mut out = String::new();
            let mut chars = body.chars();
            while let Some(c) = chars.next() {
                if c != '\\' {
                    out.push(c);
                    continue;
                }
                out.push(match chars.next()? {
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    '\\' => '\\',
                    '"' => '"',
                    '\'' => '\'',
                    'u' => {
                        if chars.next()? != '{' {
                            return None;
                        }
                        let hex: String = chars.by_ref().take_while(|&c| c != '}').collect();
                        char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?
                    }
                    _ => return None,
                });
            }
            Some(out)
        }

        /// Text full of what an attacker would put in an environment value.
        fn text() -> impl Strategy<Value = String> {
            let tricky: Vec<char> = ['\n', '\r', '\t', '\0', '\u{1b}', '\u{7f}', '\u{85}']
                .into_iter()
                .chain(BIDI_CONTROLS.iter().copied())
                .chain(INVISIBLE.iter().copied())
                .chain(LINE_ENDS.iter().copied())
                .chain(['"', '\\', '\'', 'é', '\u{FFFD}', '{', '}', 'a', ' '])
                .collect();
            let c = prop_oneof![any::<char>(), proptest::sample::select(tricky)];
            proptest::collection::vec(c, 0..120).prop_map(String::from_iter)
        }

        fn config() -> ProptestConfig {
            // Failures become regression tests in this file, not files beside it.
            ProptestConfig {
                failure_persistence: None,
                ..ProptestConfig::default()
            }
        }

        proptest! {
            #![proptest_config(config())]

            /// One line (no control, bidirectional, invisible or line-ending character as
            /// itself), at most `limit` characters of text, cut only when the whole does not
            /// fit, and then followed by the whole length.
            #[test]
            fn shown_is_one_bounded_line(text in text(), limit in 0usize..100, quote: bool) {
                let out = shown(&text, limit, quote);
                prop_assert!(!out.chars().any(forges), "{out:?}");
                let total: usize = text.chars().map(|c| width(c, quote)).sum();
                let suffix = format!("... ({} bytes)", text.len());
                let body = if total > limit {
                    out.strip_suffix(&suffix).expect("a cut text ends with its length")
                } else {
                    &out
                };
                let body = if quote {
                    body.strip_prefix('"').and_then(|b| b.strip_suffix('"')).expect("quoted")
                } else {
                    body
                };
                prop_assert!(body.chars().count() <= limit, "{} > {limit}", body.chars().count());
                if !quote && !text.chars().any(forges) && total <= limit {
                    // Text with nothing to escape is shown as it is.
                    prop_assert_eq!(body, &text);
                }
            }

            /// Quoted, the output reads back (Rust's escapes) as the text, or as its longest
            /// prefix of whole characters that fits when cut.
            #[test]
            fn quoted_output_reads_back_as_the_text(text in text(), limit in 0usize..100) {
                let out = shown(&text, limit, true);
                let total: usize = text.chars().map(|c| width(c, true)).sum();
                let body = out.strip_prefix('"').unwrap();
                let body = match total > limit {
                    true => body.strip_suffix(&format!("\"... ({} bytes)", text.len())).unwrap(),
                    false => body.strip_suffix('"').unwrap(),
                };
                let back = unescape(body).expect("whole escapes");
                prop_assert!(text.starts_with(&back), "{back:?} is not a prefix of {text:?}");
                let used: usize = back.chars().map(|c| width(c, true)).sum();
                match text[back.len()..].chars().next() {
                    None => prop_assert!(total <= limit),
                    // Cut where the next character would not fit.
                    Some(next) => prop_assert!(used + width(next, true) > limit),
                }
            }

            /// A path is one line whatever its bytes: shown as it is when that is safe, else
            /// quoted.
            #[test]
            fn paths_are_one_line_and_as_is_only_when_plain(
                bytes in proptest::collection::vec(any::<u8>(), 0..64),
                text in text(),
                raw: bool,
            ) {
                #[cfg(unix)]
                let p: std::path::PathBuf = if raw {
                    use std::os::unix::ffi::OsStrExt as _;
                    Path::new(std::ffi::OsStr::from_bytes(&bytes)).to_path_buf()
                } else {
                    text.clone().into()
                };
                #[cfg(not(unix))]
                let p: std::path::PathBuf = text.clone().into();
                let out = path(&p);
                prop_assert!(!out.chars().any(forges), "{out:?}");
                // U+FFFD may stand for bytes that are not UTF-8: such a path is quoted too.
                let plain = p
                    .to_str()
                    .is_some_and(|t| !t.chars().any(|c| forges(c) || c == char::REPLACEMENT_CHARACTER));
                if plain {
                    prop_assert_eq!(&out, p.to_str().unwrap());
                } else {
                    prop_assert!(out.starts_with('"'), "{out:?}");
                }
            }
        }
    }
}
