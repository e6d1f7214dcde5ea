//! Size classes: Go's 68 runtime classes up to 32 KiB, then powers of two, then overflow.
//!
//! The class of a request is its smallest class whose size is at least the request, found in
//! O(1) by one table load for sizes up to 32 KiB (Go's `size_to_class8`/`size_to_class128`
//! merged into one table) and by a leading-zero count above.

/// Go's `runtime/sizeclasses.go` `class_to_size`. Class 0 holds zero-byte requests.
const GO_CLASSES: [u32; 68] = [
    0, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256, 288, 320,
    352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408, 1536, 1792,
    2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912, 8192, 9472, 9728,
    10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760, 24576, 27264, 28672,
    32768,
];

/// Largest request served by the Go classes (`_MaxSmallSize`).
pub const SMALL_MAX: usize = 32 * 1024;
/// Largest power-of-two class: 2^40 bytes (1 TiB). Larger requests land in the overflow class.
const POW2_MAX_SHIFT: u32 = 40;
/// First power-of-two class is 2^16 bytes.
const POW2_MIN_SHIFT: u32 = 16;
const FIRST_POW2_CLASS: usize = GO_CLASSES.len();
const OVERFLOW_CLASS: usize = FIRST_POW2_CLASS + (POW2_MAX_SHIFT - POW2_MIN_SHIFT + 1) as usize;

/// Number of size classes: 68 Go classes, 25 power-of-two classes (64 KiB ..= 1 TiB), overflow.
pub const NUM_CLASSES: usize = OVERFLOW_CLASS + 1;

/// Upper bound in bytes of every class; the overflow class reports `u64::MAX`.
pub const CLASS_SIZES: [u64; NUM_CLASSES] = {
    let mut sizes = [0u64; NUM_CLASSES];
    let mut i = 0;
    while i < GO_CLASSES.len() {
        sizes[i] = GO_CLASSES[i] as u64;
        i += 1;
    }
    let mut shift = POW2_MIN_SHIFT;
    while shift <= POW2_MAX_SHIFT {
        sizes[FIRST_POW2_CLASS + (shift - POW2_MIN_SHIFT) as usize] = 1u64 << shift;
        shift += 1;
    }
    sizes[OVERFLOW_CLASS] = u64::MAX;
    sizes
};

/// Granule of the small-size table: every Go class up to 32 KiB is a multiple of 8 bytes.
const SMALL_DIV: usize = 8;

/// Smallest Go class whose size is at least `size` (`size <= SMALL_MAX`), by linear search:
/// used only at compile time to build the lookup table.
const fn go_class_for(size: usize) -> u8 {
    let mut c = 0;
    while (GO_CLASSES[c] as usize) < size {
        c += 1;
    }
    c as u8
}

/// Class of every request up to 32 KiB, indexed by `ceil(size / 8)`. Go splits this into two
/// tables (`size_to_class8` up to 1 KiB, `size_to_class128` above) to save memory; one 4 KiB
/// table saves the hot path a compare, a branch and a jump on every allocation and free.
pub(super) const SIZE_TO_CLASS: SmallTable = {
    let mut t = [0u8; SMALL_MAX / SMALL_DIV + 1];
    let mut i = 0;
    while i < t.len() {
        t[i] = go_class_for(i * SMALL_DIV);
        i += 1;
    }
    t
};

/// The small-size lookup table, indexed by `ceil(size / 8)`.
pub(super) type SmallTable = [u8; SMALL_MAX / SMALL_DIV + 1];

/// Class of a request of `size <= SMALL_MAX` bytes: one load from `table` ([`SIZE_TO_CLASS`]
/// or a copy of it; the allocator's fast path reads its thread's copy).
#[inline(always)]
pub(super) fn small_class_in(table: &SmallTable, size: usize) -> usize {
    assert!(size <= SMALL_MAX, "small_class called with a large size");
    // The `assert!` above is optimized out where the caller already checked the size (the
    // allocator's fast path), and keeps the unchecked indexing below sound everywhere else.
    // SAFETY: size <= 32768, so the index is at most 32768 / 8 = 4096 < len 4097.
    (unsafe { *table.get_unchecked(size.div_ceil(SMALL_DIV)) }) as usize
}

/// [`SIZE_TO_CLASS`] at one address, for lookups off the fast path.
static CLASS_TABLE: SmallTable = SIZE_TO_CLASS;

/// Class of a request of `size <= SMALL_MAX` bytes: one table load.
#[inline(always)]
pub(super) fn small_class(size: usize) -> usize {
    small_class_in(&CLASS_TABLE, size)
}

// Every table entry is a valid class index, which the hot path relies on to index shards
// without a bounds check.
const _: () = {
    let mut i = 0;
    while i < SIZE_TO_CLASS.len() {
        assert!((SIZE_TO_CLASS[i] as usize) < NUM_CLASSES);
        i += 1;
    }
};

/// Class of a request of any size.
#[inline(always)]
pub fn class_of(size: usize) -> usize {
    if size <= SMALL_MAX {
        small_class(size)
    } else {
        large_class(size)
    }
}

/// Class of a request above `SMALL_MAX`: the next power of two, or overflow.
#[inline]
fn large_class(size: usize) -> usize {
    // ceil(log2(size)) for size > 1.
    let shift = usize::BITS - (size - 1).leading_zeros();
    if shift > POW2_MAX_SHIFT {
        OVERFLOW_CLASS
    } else {
        FIRST_POW2_CLASS + (shift - POW2_MIN_SHIFT) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference: smallest class whose upper bound holds the request.
    fn slow_class(size: usize) -> usize {
        CLASS_SIZES.iter().position(|&c| c >= size as u64).unwrap()
    }

    #[test]
    fn table_has_go_shape() {
        assert_eq!(GO_CLASSES.len(), 68);
        assert_eq!(NUM_CLASSES, 94);
        assert!(CLASS_SIZES.windows(2).all(|w| w[0] < w[1]));
        assert!(CLASS_SIZES.contains(&3072));
        assert_eq!(CLASS_SIZES[FIRST_POW2_CLASS], 65536);
        assert_eq!(CLASS_SIZES[OVERFLOW_CLASS - 1], 1 << 40);
    }

    #[test]
    fn lookup_matches_linear_search_for_every_small_size() {
        for size in 0..=SMALL_MAX {
            assert_eq!(class_of(size), slow_class(size), "size {size}");
        }
    }

    #[test]
    fn large_sizes_round_up_to_powers_of_two() {
        for shift in 15..=40u32 {
            let p = 1usize << shift;
            for size in [p - 1, p, p + 1] {
                if size > SMALL_MAX {
                    assert_eq!(class_of(size), slow_class(size), "size {size}");
                }
            }
        }
        assert_eq!(class_of((1 << 40) + 1), OVERFLOW_CLASS);
        assert_eq!(class_of(usize::MAX), OVERFLOW_CLASS);
        assert_eq!(class_of(24), 3);
        assert_eq!(class_of(25), 4);
        assert_eq!(CLASS_SIZES[class_of(3000)], 3072);
    }
}
