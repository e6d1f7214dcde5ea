//! Go's delta profiles (`net/http/pprof` with `?seconds=N`): what changed between two
//! snapshots of the stack table. Go scales the first profile by -1 and merges it into the
//! second; per stack that is the difference of each of the four values, and a stack whose
//! four differences are all zero is left out. In-use values may be negative (a stack freed
//! more than it allocated in the window); allocated ones never are.

use super::{Show, StackStats, build, pprof};
use std::collections::HashMap;

/// Per stack, `after` minus `before`, in `after`'s order, then the stacks only `before` has
/// (negated). Stacks without any change are left out.
pub(crate) fn difference(before: &[StackStats], after: &[StackStats]) -> Vec<StackStats> {
    let mut earlier: HashMap<&[usize], &StackStats> =
        before.iter().map(|s| (s.frames.as_slice(), s)).collect();
    let zero = StackStats::default();
    let mut out = Vec::new();
    let mut push = |frames: &[usize], a: &StackStats, b: &StackStats| {
        let d = StackStats {
            frames: frames.to_vec(),
            alloc_objects: a.alloc_objects.saturating_sub(b.alloc_objects),
            alloc_bytes: a.alloc_bytes.saturating_sub(b.alloc_bytes),
            inuse_objects: a.inuse_objects.saturating_sub(b.inuse_objects),
            inuse_bytes: a.inuse_bytes.saturating_sub(b.inuse_bytes),
        };
        if (
            d.alloc_objects,
            d.alloc_bytes,
            d.inuse_objects,
            d.inuse_bytes,
        ) != (0, 0, 0, 0)
        {
            out.push(d);
        }
    };
    for a in after {
        let b = earlier.remove(a.frames.as_slice()).unwrap_or(&zero);
        push(&a.frames, a, b);
    }
    for b in before {
        if earlier.contains_key(b.frames.as_slice()) {
            push(&b.frames, &zero, b);
        }
    }
    out
}

/// The delta profile of `before` and `after` as gzipped pprof, `default` first (agent
/// account).
pub(crate) fn encode_delta(before: &[StackStats], after: &[StackStats], default: Show) -> Vec<u8> {
    pprof::gzipped(&build(&difference(before, after), default))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stack(frames: &[usize], alloc: i64, inuse: i64) -> StackStats {
        StackStats {
            frames: frames.to_vec(),
            alloc_objects: alloc / 100,
            alloc_bytes: alloc,
            inuse_objects: inuse / 100,
            inuse_bytes: inuse,
        }
    }

    #[test]
    fn the_difference_keeps_what_changed_per_stack() {
        let before = [
            stack(&[1, 2], 1000, 500),
            stack(&[3], 700, 700),
            stack(&[], 100, 0),
            stack(&[9], 300, 300),
        ];
        let after = [
            stack(&[1, 2], 1800, 200),
            stack(&[3], 700, 700),
            stack(&[], 100, 0),
            stack(&[4, 5], 400, 400),
        ];
        assert_eq!(
            difference(&before, &after),
            [
                // Allocated 800 more, holds 300 less.
                stack(&[1, 2], 800, -300),
                // New in the window.
                stack(&[4, 5], 400, 400),
                // Gone from the second snapshot: negated.
                stack(&[9], -300, -300),
            ]
        );
        assert!(difference(&after, &after).is_empty());
    }
}
