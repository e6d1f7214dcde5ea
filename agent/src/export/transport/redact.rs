//! The secrets no line may show, and their removal from text a collector sent.
//!
//! A collector may echo what it received in any form: the header value as configured
//! (`Bearer SECRET123`), the token alone (`SECRET123`), lower-cased, or, for URL userinfo, the
//! `Authorization: Basic` header the HTTP sink made of it (`YWRtaW46aHVudGVyMnB3`) and what that
//! decodes to (`admin:hunter2pw`, the password alone). [`Secrets::of`] derives every such
//! form once, when the sink is built, and [`Secrets::scrub`] replaces each, matched without
//! regard to ASCII case, by `[redacted]` wherever text from outside is shown: HTTP bodies,
//! gRPC status messages, partial-success messages, error chains.

use base64::Engine;

/// Shortest secret scrubbed (shorter ones would mangle status codes and ordinary words).
const MIN_SECRET_LEN: usize = 4;

/// What replaces a secret.
const REDACTED: &str = "[redacted]";

/// Every form of every configured secret, ASCII-lower-cased, longest first.
#[derive(Debug, Default)]
pub(crate) struct Secrets(Vec<String>);

impl Secrets {
    /// The forms of the header values `headers` and of the userinfo of `urls` a collector
    /// may echo.
    pub(crate) fn of<'a>(
        headers: impl IntoIterator<Item = &'a str>,
        urls: impl IntoIterator<Item = &'a str>,
    ) -> Secrets {
        let mut out = Vec::new();
        for value in headers {
            header_forms(value, &mut out);
        }
        for url in urls {
            if let Some(info) = userinfo(url) {
                userinfo_forms(info, &mut out);
            }
        }
        let mut forms: Vec<String> = out
            .into_iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| s.chars().count() >= MIN_SECRET_LEN)
            .collect();
        forms.sort_by_key(|s| std::cmp::Reverse(s.len()));
        forms.dedup();
        Secrets(forms)
    }

    /// `text` with every occurrence of every form replaced by `[redacted]`, matched without
    /// regard to ASCII case; overlapping occurrences become one.
    pub(crate) fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            return text.to_owned();
        }
        // ASCII lower-casing keeps every byte offset, and a match of a whole UTF-8 string
        // starts and ends on character boundaries.
        let lower = text.to_ascii_lowercase();
        let mut hidden = vec![false; text.len()];
        let mut any = false;
        for secret in &self.0 {
            for (at, _) in lower.match_indices(secret.as_str()) {
                hidden[at..at + secret.len()].fill(true);
                any = true;
            }
        }
        if !any {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut in_secret = false;
        for (i, c) in text.char_indices() {
            if hidden[i] {
                if !in_secret {
                    out.push_str(REDACTED);
                }
                in_secret = true;
            } else {
                out.push(c);
                in_secret = false;
            }
        }
        out
    }

    #[cfg(test)]
    pub(crate) fn forms(&self) -> &[String] {
        &self.0
    }
}

/// The `user:password` of `url`, if any, as written in it (percent-encoded).
pub(crate) fn userinfo(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    Some(authority.rsplit_once('@')?.0)
}

/// The `user:password` the HTTP sink sends for userinfo `info`: each part percent-decoded, as
/// reqwest and curl send it.
pub(crate) fn basic_pair(info: &str) -> String {
    let (user, password) = info.split_once(':').unwrap_or((info, ""));
    let decoded = |s: &str| crate::config::percent_decode(s).unwrap_or_else(|| s.into());
    format!("{}:{}", decoded(user), decoded(password))
}

/// A header value, the credentials after its scheme (`Bearer x`: `x`), and for `Basic`
/// credentials what they decode to.
fn header_forms(value: &str, out: &mut Vec<String>) {
    out.push(value.to_owned());
    let Some((scheme, credentials)) = value.trim().split_once(char::is_whitespace) else {
        return;
    };
    let credentials = credentials.trim();
    out.push(credentials.to_owned());
    if scheme.eq_ignore_ascii_case("basic")
        && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(credentials)
        && let Ok(pair) = String::from_utf8(bytes)
    {
        pair_forms(&pair, out);
    }
}

/// Userinfo as written and decoded, its parts, and the `Basic` credentials made of it.
fn userinfo_forms(info: &str, out: &mut Vec<String>) {
    out.push(info.to_owned());
    out.extend(info.split(':').map(str::to_owned));
    let pair = basic_pair(info);
    out.push(base64::engine::general_purpose::STANDARD.encode(&pair));
    pair_forms(&pair, out);
}

/// `user:password`, the password alone and the user alone.
fn pair_forms(pair: &str, out: &mut Vec<String>) {
    out.push(pair.to_owned());
    out.extend(
        pair.split_once(':')
            .into_iter()
            .flat_map(|(u, p)| [u, p])
            .map(str::to_owned),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_token_and_of_userinfo_is_redacted() {
        let s = Secrets::of(
            ["Bearer SECRET123"],
            ["http://admin:hunter2pw@127.0.0.1:4318/v1/metrics"],
        );
        for (echoed, shown) in [
            ("invalid token SECRET123", "invalid token [redacted]"),
            ("got bearer secret123.", "got [redacted]."),
            (
                "authorization: Basic YWRtaW46aHVudGVyMnB3\r\nhost: x",
                "authorization: Basic [redacted]\r\nhost: x",
            ),
            ("user admin:hunter2pw", "user [redacted]"),
            ("password HUNTER2PW wrong", "password [redacted] wrong"),
            ("nothing secret", "nothing secret"),
        ] {
            assert_eq!(s.scrub(echoed), shown, "{echoed}");
        }
    }

    #[test]
    fn basic_credentials_configured_as_a_header_are_redacted_decoded_too() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("svc:pa55word");
        let s = Secrets::of([format!("Basic {encoded}").as_str()], []);
        assert_eq!(s.scrub("who is svc:pa55word"), "who is [redacted]");
        assert_eq!(s.scrub("pa55word?"), "[redacted]?");
        assert_eq!(s.scrub(&encoded.to_ascii_lowercase()), "[redacted]");
    }

    #[test]
    fn percent_encoded_userinfo_is_redacted_as_written_and_as_decoded() {
        let s = Secrets::of([], ["https://me:p%40ss%20w0rd@h/"]);
        assert_eq!(s.scrub("p%40ss%20w0rd"), "[redacted]");
        assert_eq!(s.scrub("secret is p@ss w0rd"), "secret is [redacted]");
        let basic = base64::engine::general_purpose::STANDARD.encode("me:p@ss w0rd");
        assert_eq!(s.scrub(&basic), "[redacted]");
    }

    #[test]
    fn short_values_are_left_alone_and_overlaps_become_one() {
        let s = Secrets::of(["abc", "Token abcdef"], []);
        assert_eq!(s.forms(), ["token abcdef", "abcdef"]);
        assert_eq!(s.scrub("HTTP 401: abc"), "HTTP 401: abc");
        assert_eq!(s.scrub("Token abcdefabcdef"), "[redacted]");
        // Multi-byte text around a secret stays whole.
        assert_eq!(s.scrub("é abcdef ü"), "é [redacted] ü");
    }
}
