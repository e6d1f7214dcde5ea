//! The Prometheus text format (0.0.4), as rtscope's `/metrics` writes it: one sample per
//! line, `name{label="value",...} value`, `#` lines skipped. Nothing read is trusted: lines
//! past [`MAX_LINE`] bytes and samples past [`MAX_SAMPLES`] are dropped, a line that does not
//! parse is skipped.

use std::collections::BTreeMap;

/// Longest line kept.
const MAX_LINE: usize = 64 * 1024;
/// Most samples kept from one scrape.
const MAX_SAMPLES: usize = 200_000;

/// One sample.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Sample {
    pub(crate) name: String,
    pub(crate) labels: Vec<(String, String)>,
    pub(crate) value: f64,
}

impl Sample {
    pub(crate) fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Every sample of one scrape.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scrape {
    pub(crate) samples: Vec<Sample>,
}

impl Scrape {
    pub(crate) fn parse(text: &str) -> Scrape {
        let samples = text
            .lines()
            .filter(|l| l.len() <= MAX_LINE && !l.starts_with('#'))
            .filter_map(parse_line)
            .take(MAX_SAMPLES)
            .collect();
        Scrape { samples }
    }

    /// The samples named `name`.
    pub(crate) fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| s.name == name)
    }

    /// The sum of every sample named `name` (`None` when there is none).
    pub(crate) fn sum(&self, name: &str) -> Option<f64> {
        self.named(name)
            .map(|s| s.value)
            .fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v))
    }

    /// The histogram `base` (its `_bucket` series) grouped by the value of `by` (`""` for
    /// one group), each group's buckets summed over its other labels: upper bounds (the last
    /// `+Inf`) with the count in each bucket (not cumulative).
    pub(crate) fn histograms(&self, base: &str, by: &str) -> BTreeMap<String, Buckets> {
        let bucket = format!("{base}_bucket");
        let mut cumulative: BTreeMap<String, BTreeMap<Bound, f64>> = BTreeMap::new();
        for s in self.named(&bucket) {
            let Some(le) = s.label("le").and_then(parse_value) else {
                continue;
            };
            let group = if by.is_empty() {
                String::new()
            } else {
                s.label(by).unwrap_or("").to_owned()
            };
            *cumulative
                .entry(group)
                .or_default()
                .entry(Bound(le))
                .or_default() += s.value;
        }
        cumulative
            .into_iter()
            .map(|(group, buckets)| {
                let mut previous = 0.0;
                let per_bucket = buckets
                    .into_iter()
                    .map(|(le, c)| {
                        let n = (c - previous).max(0.0);
                        previous = c.max(previous);
                        (le.0, n)
                    })
                    .collect();
                (group, Buckets(per_bucket))
            })
            .collect()
    }
}

/// A histogram's buckets: upper bound and the count in that bucket, in bound order.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Buckets(pub(crate) Vec<(f64, f64)>);

impl Buckets {
    pub(crate) fn count(&self) -> f64 {
        self.0.iter().map(|(_, c)| c).sum()
    }

    /// `self - earlier`, bucket by bucket (by bound; a bucket missing earlier counts from 0).
    pub(crate) fn since(&self, earlier: &Buckets) -> Buckets {
        Buckets(
            self.0
                .iter()
                .map(|(le, c)| {
                    let before = earlier
                        .0
                        .iter()
                        .find(|(b, _)| b == le)
                        .map_or(0.0, |(_, c)| *c);
                    (*le, (c - before).max(0.0))
                })
                .collect(),
        )
    }

    /// The upper bound of the bucket holding quantile `q` (`None` without observations;
    /// infinite for the overflow bucket).
    pub(crate) fn quantile_bound(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n <= 0.0 {
            return None;
        }
        let rank = (q * n).ceil().max(1.0);
        let mut seen = 0.0;
        for (le, c) in &self.0 {
            seen += c;
            if seen >= rank {
                return Some(*le);
            }
        }
        self.0.last().map(|(le, _)| *le)
    }
}

/// An `le` bound, ordered as a number (`+Inf` last).
#[derive(Clone, Copy, Debug, PartialEq)]
struct Bound(f64);

impl Eq for Bound {}

impl PartialOrd for Bound {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Bound {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

fn parse_value(v: &str) -> Option<f64> {
    match v {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => v.parse().ok(),
    }
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .unwrap_or(line.len());
    let name = &line[..name_end];
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(body) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(body)?;
        labels = parsed;
        rest = after;
    }
    let value = rest.split_whitespace().next()?;
    Some(Sample {
        name: name.to_owned(),
        labels,
        value: parse_value(value)?,
    })
}

/// `k="v",k2="v2"}` and what follows the closing brace.
fn parse_labels(mut s: &str) -> Option<(Vec<(String, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start_matches([' ', ',']);
        if let Some(after) = s.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = s.find('=')?;
        let key = s[..eq].trim().to_owned();
        s = s[eq + 1..].trim_start().strip_prefix('"')?;
        let mut value = String::new();
        let mut chars = s.char_indices();
        let end = loop {
            let (i, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                '"' => break i,
                c => value.push(c),
            }
        };
        labels.push((key, value));
        s = &s[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# HELP rust_pool_gets_total Gets.
# TYPE rust_pool_gets_total counter
rust_pool_gets_total{rust_pool_name=\"a \\\"b\\\"\",rust_pool_result=\"hit\"} 7
rust_pool_gets_total{rust_pool_name=\"a \\\"b\\\"\",rust_pool_result=\"miss\"} 3
rust_memory_used_bytes 1.5e3
h_bucket{k=\"x\",le=\"0.001\"} 2
h_bucket{k=\"x\",le=\"0.01\"} 5
h_bucket{k=\"x\",le=\"+Inf\"} 6
h_bucket{k=\"y\",le=\"0.001\"} 1
h_bucket{k=\"y\",le=\"0.01\"} 1
h_bucket{k=\"y\",le=\"+Inf\"} 1
not a {sample
";

    #[test]
    fn samples_labels_and_histograms_are_read() {
        let s = Scrape::parse(TEXT);
        assert_eq!(s.samples.len(), 9, "{:?}", s.samples);
        assert_eq!(s.sum("rust_pool_gets_total"), Some(10.0));
        assert_eq!(s.sum("rust_memory_used_bytes"), Some(1500.0));
        assert_eq!(s.sum("absent"), None);
        let first = s.named("rust_pool_gets_total").next().unwrap();
        assert_eq!(first.label("rust_pool_name"), Some("a \"b\""));
        let by_k = s.histograms("h", "k");
        assert_eq!(
            by_k["x"].0,
            [(0.001, 2.0), (0.01, 3.0), (f64::INFINITY, 1.0)]
        );
        let all = s.histograms("h", "");
        assert_eq!(all[""].0, [(0.001, 3.0), (0.01, 3.0), (f64::INFINITY, 1.0)]);
        assert_eq!(all[""].quantile_bound(0.5), Some(0.01));
        assert_eq!(all[""].quantile_bound(0.99), Some(f64::INFINITY));
        let earlier = Buckets(vec![(0.001, 3.0)]);
        assert_eq!(
            all[""].since(&earlier).0,
            [(0.001, 0.0), (0.01, 3.0), (f64::INFINITY, 1.0)]
        );
    }
}
