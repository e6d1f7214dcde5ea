//! Reads a gzipped pprof profile (`profile.proto`) as `go tool pprof` does: the parts the
//! tests check, decoded with prost from the bytes rtscope wrote.

use std::io::Read as _;

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Profile {
    #[prost(message, repeated, tag = "1")]
    pub(crate) sample_type: Vec<ValueType>,
    #[prost(message, repeated, tag = "2")]
    pub(crate) sample: Vec<Sample>,
    #[prost(message, repeated, tag = "4")]
    pub(crate) location: Vec<Location>,
    #[prost(message, repeated, tag = "5")]
    pub(crate) function: Vec<Function>,
    #[prost(string, repeated, tag = "6")]
    pub(crate) string_table: Vec<String>,
    #[prost(int64, tag = "14")]
    pub(crate) default_sample_type: i64,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub(crate) struct ValueType {
    #[prost(int64, tag = "1")]
    pub(crate) r#type: i64,
    #[prost(int64, tag = "2")]
    pub(crate) unit: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Sample {
    #[prost(uint64, repeated, tag = "1")]
    pub(crate) location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    pub(crate) value: Vec<i64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Location {
    #[prost(uint64, tag = "1")]
    pub(crate) id: u64,
    #[prost(message, repeated, tag = "4")]
    pub(crate) line: Vec<Line>,
}

#[derive(Clone, Copy, PartialEq, prost::Message)]
pub(crate) struct Line {
    #[prost(uint64, tag = "1")]
    pub(crate) function_id: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct Function {
    #[prost(uint64, tag = "1")]
    pub(crate) id: u64,
    #[prost(int64, tag = "2")]
    pub(crate) name: i64,
}

/// Decodes gzipped pprof bytes.
pub(crate) fn decode(gz: &[u8]) -> Profile {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut raw)
        .expect("gzip");
    prost::Message::decode(raw.as_slice()).expect("profile.proto")
}

impl Profile {
    /// The function names of sample `s`'s stack, innermost first (inlined frames included).
    pub(crate) fn names(&self, s: &Sample) -> Vec<&str> {
        s.location_id
            .iter()
            .filter_map(|id| self.location.iter().find(|l| l.id == *id))
            .flat_map(|l| &l.line)
            .filter_map(|line| self.function.iter().find(|f| f.id == line.function_id))
            .map(|f| self.string_table[f.name as usize].as_str())
            .collect()
    }

    /// The sample types as `type/unit`, in order.
    pub(crate) fn types(&self) -> Vec<String> {
        self.sample_type
            .iter()
            .map(|t| {
                format!(
                    "{}/{}",
                    self.string_table[t.r#type as usize], self.string_table[t.unit as usize]
                )
            })
            .collect()
    }

    /// Sums value `index` over the samples whose stack has a function containing `marker`.
    pub(crate) fn sum_where(&self, marker: &str, index: usize) -> i64 {
        self.sample
            .iter()
            .filter(|s| self.names(s).iter().any(|n| n.contains(marker)))
            .map(|s| s.value[index])
            .sum()
    }
}
