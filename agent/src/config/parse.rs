//! Value parsers and URL helpers. Each parser returns the problem as the end of a sentence
//! starting with the value.

use super::*;

/// `url` for a message, with its userinfo (`user:password@`) and its query replaced by `[redacted]`,
/// so that credentials in an endpoint never reach stderr: `http://u:pw@host:4318/p?k=v` shows
/// as `http://[redacted]@host:4318/p?[redacted]`. Any string is accepted, a malformed URL too:
/// there everything before the last `@` and after the first `?` is hidden. The result
/// still needs [`quoted`] (it is neither escaped nor cut).
pub(crate) fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) if has_scheme(url) => (Some(scheme), rest),
        _ => (None, url),
    };
    if check_url(url).is_err() {
        // Not a URL (what a warning shows): a password written with `/`, `?` or `#` unescaped
        // ends the authority early, so where the userinfo ends is unknown.
        let start = rest.rfind('@').map_or(0, |at| at + 1);
        let query = rest.find('?');
        let end = query.map_or(rest.len(), |q| q.max(start));
        let mut out = scheme.map_or_else(String::new, |s| format!("{s}://"));
        if start > 0 {
            out.push_str("[redacted]@");
        }
        out.push_str(&rest[start..end]);
        if query.is_some() {
            out.push_str("?[redacted]");
        }
        return out;
    }
    let (authority, tail) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let mut out = String::with_capacity(url.len());
    if let Some(scheme) = scheme {
        out.push_str(scheme);
        out.push_str("://");
    }
    match authority.rsplit_once('@') {
        Some((_, host)) => {
            out.push_str("[redacted]@");
            out.push_str(host);
        }
        None => out.push_str(authority),
    }
    match tail.split_once('?') {
        Some((path, _)) => {
            out.push_str(path);
            out.push_str("?[redacted]");
        }
        None => out.push_str(tail),
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Value parsers. Each returns the problem as the end of a sentence starting with the value.
// ---------------------------------------------------------------------------------------------

pub(super) fn parse_ms(raw: &str, allow_zero: bool) -> Result<Duration, &'static str> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match raw.parse::<u64>() {
        Ok(0) if !allow_zero => Err("must be greater than 0 milliseconds"),
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(_) if raw.strip_prefix('-').is_some_and(digits) => Err(if allow_zero {
            "must not be negative"
        } else {
            "must be greater than 0 milliseconds"
        }),
        Err(_) if digits(raw) => Err("is too large a number of milliseconds"),
        Err(_) => Err("is not a number of milliseconds"),
    }
}

pub(super) fn parse_rate(raw: &str) -> Result<f64, &'static str> {
    match raw.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(_) => Err("must be a positive number of samples per second"),
        Err(_) => Err("is not a number of samples per second"),
    }
}

pub(super) fn parse_percent(raw: &str) -> Result<f64, &'static str> {
    match raw.trim_end_matches('%').parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 100.0 => Ok(v),
        Ok(_) => Err("must be a percent of one core above 0 and at most 100"),
        Err(_) => Err("is not a percent of one core"),
    }
}

pub(super) fn parse_seed(raw: &str) -> Result<Option<u64>, &'static str> {
    raw.parse::<u64>()
        .map(Some)
        .map_err(|_| "is not a whole number from 0 to 18446744073709551615")
}

pub(super) fn parse_bytes(raw: &str) -> Result<u64, &'static str> {
    match raw.parse::<u64>() {
        Ok(0) => Err("must be greater than 0 bytes"),
        Ok(v) => Ok(v),
        Err(_) => Err("is not a whole number of bytes"),
    }
}

pub(super) fn parse_events(raw: &str) -> Result<u32, &'static str> {
    match raw.parse::<u32>() {
        Ok(0) => Err("must be at least 1 event"),
        Ok(n) => Ok(n),
        Err(_) if raw.bytes().all(|b| b.is_ascii_digit()) => Err("is too large a number of events"),
        Err(_) => Err("is not a whole number of events"),
    }
}

pub(super) fn parse_bool(raw: &str) -> Result<bool, &'static str> {
    if raw.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if raw.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err("is not true or false")
    }
}

pub(super) fn parse_on_off(raw: &str) -> Result<bool, &'static str> {
    match raw.to_ascii_lowercase().as_str() {
        "on" | "true" | "1" => Ok(true),
        "off" | "false" | "0" => Ok(false),
        _ => Err("is not on or off"),
    }
}

/// A `host:port` to listen on: an IP address and a port (`127.0.0.1:6060`, `[::1]:6060`).
pub(super) fn parse_socket_addr(raw: &str) -> Result<Option<std::net::SocketAddr>, &'static str> {
    raw.parse()
        .map(Some)
        .map_err(|_| "is not an IP address and port, like 127.0.0.1:6060")
}

pub(super) fn parse_protocol(raw: &str) -> Result<Protocol, &'static str> {
    match raw.to_ascii_lowercase().as_str() {
        "grpc" => Ok(Protocol::Grpc),
        "http/protobuf" => Ok(Protocol::HttpProtobuf),
        "http/json" => Err("is not supported by rtscope (use grpc or http/protobuf)"),
        _ => Err("is not a known protocol (use grpc or http/protobuf)"),
    }
}

pub(super) fn parse_compression(raw: &str) -> Result<Compression, &'static str> {
    match raw.to_ascii_lowercase().as_str() {
        "gzip" => Ok(Compression::Gzip),
        "none" => Ok(Compression::None),
        _ => Err("is not a supported compression (use gzip or none)"),
    }
}

pub(super) fn parse_temporality(raw: &str) -> Result<Temporality, &'static str> {
    match raw.to_ascii_lowercase().as_str() {
        "cumulative" => Ok(Temporality::Cumulative),
        // See `Temporality`: the difference lies in asynchronous counters only.
        "delta" | "lowmemory" => Ok(Temporality::Delta),
        _ => Err("is not a temporality preference (use cumulative, delta or lowmemory)"),
    }
}

pub(super) fn ms_str(d: &Duration) -> String {
    d.as_millis().to_string()
}

pub(super) fn threshold_str(t: &Option<Duration>) -> String {
    match t {
        Some(d) => ms_str(d),
        None => "the rolling P99".to_owned(),
    }
}

pub(super) fn bool_str(b: &bool) -> String {
    b.to_string()
}

pub(super) fn on_off_str(b: &bool) -> String {
    if *b { "on" } else { "off" }.to_owned()
}

/// The non-empty, trimmed entries of a comma-separated list.
pub(super) fn split_list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(',').map(str::trim).filter(|e| !e.is_empty())
}

pub(super) enum PairError {
    NoEquals,
    EmptyKey,
    BadPercent,
}

/// `key=value` (split at the first `=`), key trimmed, value trimmed and percent-decoded.
pub(super) fn parse_pair(entry: &str) -> Result<(String, String), PairError> {
    let (key, value) = entry.split_once('=').ok_or(PairError::NoEquals)?;
    let key = key.trim();
    if key.is_empty() {
        return Err(PairError::EmptyKey);
    }
    let value = percent_decode(value.trim()).ok_or(PairError::BadPercent)?;
    Ok((key.to_owned(), value))
}

/// Strict percent-decoding: every `%` starts two hex digits and the result is UTF-8.
pub(crate) fn percent_decode(raw: &str) -> Option<String> {
    if !raw.contains('%') {
        return Some(raw.to_owned());
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Replaces every entry whose key matches `key` (the first one's position, the new spelling),
/// or appends.
pub(super) fn upsert(
    list: &mut Vec<(String, String)>,
    key: &str,
    value: &str,
    same: impl Fn(&str, &str) -> bool,
) {
    match list.iter().position(|(k, _)| same(k, key)) {
        Some(i) => {
            list[i] = (key.to_owned(), value.to_owned());
            let mut j = i + 1;
            while j < list.len() {
                if same(&list[j].0, key) {
                    list.remove(j);
                } else {
                    j += 1;
                }
            }
        }
        None => list.push((key.to_owned(), value.to_owned())),
    }
}

/// Removes `key` from `list`, returning its value.
pub(super) fn take_key(list: &mut Vec<(String, String)>, key: &str) -> Option<String> {
    let i = list.iter().position(|(k, _)| k == key)?;
    Some(list.remove(i).1)
}

/// A header name must be an HTTP token; a value must hold no control character.
pub(super) fn check_header(name: &str, value: &str) -> Result<(), String> {
    const SPECIAL: &[u8] = b"!#$%&'*+-.^_`|~";
    if name.is_empty() {
        return Err("has an empty name; pass a name such as \"x-api-key\"".to_owned());
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || SPECIAL.contains(&b))
    {
        return Err(
            "is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_`|~ only)".to_owned(),
        );
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err("has a control character in its value".to_owned());
    }
    Ok(())
}

/// Whether `url` starts with `scheme://` (the `://` before any path, query or fragment).
pub(super) fn has_scheme(url: &str) -> bool {
    url.split_once("://")
        .is_some_and(|(scheme, _)| !scheme.is_empty() && !scheme.contains(['/', '?', '#']))
}

/// A small URL check: `http` or `https` scheme, a host (name, IPv4 or `[IPv6]`), an optional
/// port up to 65535, then anything. Returns what is wrong, for a warning.
pub(crate) fn check_url(url: &str) -> Result<(), &'static str> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains whitespace");
    }
    if !has_scheme(url) {
        return Err("it has no scheme");
    }
    let (scheme, rest) = url.split_once("://").unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err("its scheme is neither http nor https");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (addr, after) = v6
            .split_once(']')
            .ok_or("its IPv6 address has no closing ]")?;
        if addr.is_empty()
            || !addr
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err("its IPv6 address is malformed");
        }
        match after {
            "" => (addr, None),
            _ => (
                addr,
                Some(
                    after
                        .strip_prefix(':')
                        .ok_or("it has junk after the IPv6 address")?,
                ),
            ),
        }
    } else {
        match host_port.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err("it has no host");
    }
    if !host_port.starts_with('[')
        && !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return Err("its host is malformed");
    }
    if let Some(port) = port
        && (port.is_empty()
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().is_err())
    {
        return Err("its port is not a number from 0 to 65535");
    }
    Ok(())
}

/// For HTTP, `base` + `path` with exactly one `/` between them; for gRPC, `base` as is.
pub(super) fn join_base(base: &str, path: &str, protocol: Protocol) -> String {
    match protocol {
        Protocol::Grpc => base.to_owned(),
        Protocol::HttpProtobuf => {
            format!(
                "{}/{}",
                base.trim_end_matches('/'),
                path.trim_start_matches('/')
            )
        }
    }
}

/// A host to listen on: an IP address (IPv6 in brackets or not) or a host name.
pub(super) fn check_listen_host(host: &str) -> Result<(), &'static str> {
    let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'%');
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.is_empty() {
        Err("the host is empty; use an IP address such as 0.0.0.0, or localhost")
    } else if bare.len() > 253 || !bare.bytes().all(ok) {
        Err("is not an IP address or host name; use one such as 0.0.0.0, or localhost")
    } else if bare.parse::<std::net::IpAddr>().is_err() && ends_in_a_number(bare) {
        Err(
            "is neither a full IP address nor a host name: the system reads such shortened \
             forms as IPv4 addresses (0 is 0.0.0.0, every interface; 127.1 is 127.0.0.1); \
             write the address in full, such as 127.0.0.1 or 0.0.0.0",
        )
    } else {
        Ok(())
    }
}

/// Whether the last label of `host` is a number (decimal, or hex after `0x`), which makes
/// it no host name (RFC 1123; the URL standard's "ends in a number") but what `inet_aton`
/// reads as a shortened or numeric IPv4 address.
fn ends_in_a_number(host: &str) -> bool {
    let host = host.strip_suffix('.').unwrap_or(host);
    let last = host.rsplit('.').next().unwrap_or(host);
    let hex = last
        .strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"))
        .map(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    match hex {
        Some(all_hex) => all_hex,
        None => !last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()),
    }
}

pub(super) fn parse_listen_connections(raw: &str) -> Result<usize, &'static str> {
    match raw.parse::<usize>() {
        Ok(n) if (1..=1024).contains(&n) => Ok(n),
        _ => Err("is not a number of connections from 1 to 1024"),
    }
}

pub(super) fn parse_listen_cpu(raw: &str) -> Result<f64, &'static str> {
    match raw.trim_end_matches('%').parse::<f64>() {
        Ok(p) if (0.1..=100.0).contains(&p) => Ok(p),
        _ => Err("is not a percentage of one core from 0.1 to 100"),
    }
}

pub(super) fn parse_listen_port(raw: &str) -> Result<u16, &'static str> {
    match raw.parse::<u16>() {
        Ok(0) | Err(_) => Err("is not a port (1 to 65535)"),
        Ok(p) => Ok(p),
    }
}
