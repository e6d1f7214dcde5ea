//! The heap profile as OTLP Profiles (`opentelemetry.proto.profiles.v1development`, the
//! in-development signal): one dictionary, and one profile per sample type (this version of
//! the protocol carries one sample type per profile), in Go's order. Index 0 of every table
//! is its empty entry, as the protocol asks.

use super::{StackStats, symbols};
use opentelemetry_proto::tonic::profiles::v1development::{
    Function, Line, Location, Mapping, Profile, ProfilesDictionary, Sample, Stack, ValueType,
};
use std::collections::HashMap;

/// The dictionary and the four profiles (`alloc_objects`, `alloc_space`, `inuse_objects`,
/// `inuse_space`) of `stacks`, at `time_unix_nano`, with the sampling `period` in bytes.
pub(crate) fn profiles(
    stacks: &[StackStats],
    time_unix_nano: u64,
    period: i64,
) -> (ProfilesDictionary, Vec<Profile>) {
    let mut strings = super::pprof::Strings::new();
    let segments = crate::sys::executable_segments();
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
    let mut locations: HashMap<usize, i32> = HashMap::new();
    let mut functions: HashMap<(String, String), i32> = HashMap::new();
    let mut stack_index = Vec::with_capacity(stacks.len());
    for stack in stacks {
        let mut location_indices = Vec::new();
        for (addr, frames) in symbols::resolve_stack(&stack.frames) {
            let index = *locations.entry(addr).or_insert_with(|| {
                let lines = frames
                    .iter()
                    .map(|f| {
                        let function_index = *functions
                            .entry((f.function.clone(), f.file.clone()))
                            .or_insert_with(|| {
                                let name = strings.id32(&f.function);
                                d.function_table.push(Function {
                                    name_strindex: name,
                                    system_name_strindex: name,
                                    filename_strindex: strings.id32(&f.file),
                                    start_line: 0,
                                });
                                (d.function_table.len() - 1) as i32
                            });
                        Line {
                            function_index,
                            line: i64::from(f.line),
                            column: 0,
                        }
                    })
                    .collect();
                let mapping_index = segments
                    .iter()
                    .position(|s| (s.start..s.end).contains(&(addr as u64)))
                    .map_or(0, |i| i as i32 + 1);
                d.location_table.push(Location {
                    mapping_index,
                    address: addr as u64,
                    lines,
                    attribute_indices: Vec::new(),
                });
                (d.location_table.len() - 1) as i32
            });
            location_indices.push(index);
        }
        d.stack_table.push(Stack { location_indices });
        stack_index.push((d.stack_table.len() - 1) as i32);
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
