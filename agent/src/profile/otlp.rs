//! The heap profile as OTLP Profiles (`opentelemetry.proto.profiles.v1development`, the
//! in-development signal): one dictionary, and one profile per sample type (this version of
//! the protocol carries one sample type per profile), in Go's order. Index 0 of every table
//! is its empty entry, as the protocol asks.

use super::StackStats;
use opentelemetry_proto::tonic::profiles::v1development::{
    Function, Line, Location, Mapping, Profile, ProfilesDictionary, Sample, Stack, ValueType,
};

/// The dictionary and the four profiles (`alloc_objects`, `alloc_space`, `inuse_objects`,
/// `inuse_space`) of `stacks`, at `time_unix_nano`, with the sampling `period` in bytes.
pub(crate) fn profiles(
    stacks: &[StackStats],
    time_unix_nano: u64,
    period: i64,
) -> (ProfilesDictionary, Vec<Profile>) {
    let super::Symbolized {
        mut strings,
        segments,
        functions,
        locations,
        stacks: location_ids,
    } = super::symbolize(stacks);
    // Numbers from 1 are indices past each table's empty entry 0.
    let index = |n: u64| i32::try_from(n).unwrap_or(0);
    let string = |id: i64| i32::try_from(id).unwrap_or(0);
    let mut d = ProfilesDictionary {
        mapping_table: vec![Mapping::default()],
        location_table: vec![Location::default()],
        function_table: vec![Function::default()],
        stack_table: vec![Stack::default()],
        ..ProfilesDictionary::default()
    };
    for s in &segments {
        d.mapping_table.push(Mapping {
            memory_start: s.start,
            memory_limit: s.end,
            file_offset: s.file_offset,
            filename_strindex: strings.id32(&s.file),
            attribute_indices: Vec::new(),
        });
    }
    d.function_table
        .extend(functions.into_iter().map(|(name, file)| Function {
            name_strindex: string(name),
            system_name_strindex: string(name),
            filename_strindex: string(file),
            start_line: 0,
        }));
    d.location_table.extend(locations.into_iter().map(|l| {
        Location {
            mapping_index: index(l.mapping),
            address: l.address,
            lines: l
                .lines
                .into_iter()
                .map(|(function, line)| Line {
                    function_index: index(function),
                    line,
                    column: 0,
                })
                .collect(),
            attribute_indices: Vec::new(),
        }
    }));
    let mut stack_index = Vec::with_capacity(stacks.len());
    for ids in location_ids {
        d.stack_table.push(Stack {
            location_indices: ids.into_iter().map(index).collect(),
        });
        stack_index.push(index(d.stack_table.len() as u64 - 1));
    }
    let kinds: [Kind; 4] = [
        ("alloc_objects", "count", |s| s.alloc_objects),
        ("alloc_space", "bytes", |s| s.alloc_bytes),
        ("inuse_objects", "count", |s| s.inuse_objects),
        ("inuse_space", "bytes", |s| s.inuse_bytes),
    ];
    let period_type = Some(ValueType {
        type_strindex: strings.id32("space"),
        unit_strindex: strings.id32("bytes"),
    });
    let profiles = kinds
        .iter()
        .map(|&(kind, unit, value)| Profile {
            sample_type: Some(ValueType {
                type_strindex: strings.id32(kind),
                unit_strindex: strings.id32(unit),
            }),
            samples: stacks
                .iter()
                .zip(&stack_index)
                .filter(|(s, _)| value(s) > 0)
                .map(|(s, &stack_index)| Sample {
                    stack_index,
                    values: vec![value(s)],
                    ..Sample::default()
                })
                .collect(),
            time_unix_nano,
            period_type,
            period,
            ..Profile::default()
        })
        .collect();
    d.string_table = strings.into_table();
    (d, profiles)
}

/// A sample type: its name, its unit and its value of a stack.
type Kind = (&'static str, &'static str, fn(&StackStats) -> i64);
