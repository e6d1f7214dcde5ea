//! Text from outside (an environment value, a path, a collector's body) shown in one line of
//! output: one function, [`shown`], escapes what could forge a line or drive a terminal and
//! caps the length. Never pass a secret: see `config::redact_url`.

use std::path::Path;

/// Most characters of a configuration value echoed in a message.
pub(crate) const VALUE_CHARS: usize = 64;
/// Most characters of a path shown (never below `PATH_MAX`, so a real path is never cut).
pub(crate) const PATH_CHARS: usize = 4096;

/// `text` for one line: control characters and invisible or bidirectional formatting
/// characters (which reorder what a terminal shows) escaped as `\n` or `\u{202e}`, in double
/// quotes when `quote`. Past `limit` characters of output it is cut and followed by the
/// whole length, as in `"aaaa"... (100000 bytes)`.
pub(crate) fn shown(text: &str, limit: usize, quote: bool) -> String {
    let mut out = String::new();
    if quote {
        out.push('"');
    }
    let mut count = 0;
    let mut cut = false;
    for c in text.chars() {
        let invisible = matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}');
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

    #[test]
    fn paths_are_shown_as_they_are_unless_they_need_escaping() {
        assert_eq!(path(Path::new("/tmp/a b.jsonl")), "/tmp/a b.jsonl");
        assert_eq!(path(Path::new("/tmp/\n")), r#""/tmp/\n""#);
        let long = format!("/{}", "d".repeat(99));
        assert_eq!(path(Path::new(&long)), long);
    }
}
