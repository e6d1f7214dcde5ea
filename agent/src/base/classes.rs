//! Size classes: Go's 68 runtime classes up to 32 KiB, then powers of two, then overflow.
//!
//! The class of a request is its smallest class whose size is at least the request, found in
//! O(1) by one table load for sizes up to 64 KiB (one entry per size) and by a leading-zero
//! count above.

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

/// Largest request the allocator's fast path counts (its countdowns are never armed
/// above it, so larger ones always take the slow path): 64 KiB, the first power-of-two class.
pub(crate) const FAST_MAX: usize = 64 * 1024;
/// Classes of requests up to [`FAST_MAX`]: Go's 68 and the 64 KiB one.
pub(crate) const FAST_CLASSES: usize = FIRST_POW2_CLASS + 1;

/// Smallest Go class whose size is at least `size` (`size <= SMALL_MAX`), by binary search:
/// used only at compile time to build the lookup table.
const fn go_class_for(size: usize) -> u8 {
    let (mut lo, mut hi) = (0, GO_CLASSES.len() - 1);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if (GO_CLASSES[mid] as usize) < size {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo as u8
}

/// The class of every request up to [`FAST_MAX`], indexed by the size itself: one load on
/// the fast path, whose address needs no arithmetic on the size (Go splits its table in two
/// by granules of 8 and 128 bytes to save memory; this one is 64 KiB of read-only data,
/// shared by every thread, of which only the pages of sizes in use are ever read).
static FAST_TABLE: [u8; FAST_MAX + 1] = {
    let mut t = [0u8; FAST_MAX + 1];
    let mut i = 0;
    while i <= FAST_MAX {
        t[i] = if i <= SMALL_MAX {
            go_class_for(i)
        } else {
            FIRST_POW2_CLASS as u8
        };
        i += 1;
    }
    t
};

// Every table entry is a fast class's index, which the hot path relies on to index its
// counters of the fast classes without a bounds check.
const _: () = {
    let mut i = 0;
    while i <= FAST_MAX {
        assert!((FAST_TABLE[i] as usize) < FAST_CLASSES);
        i += 1;
    }
};

/// Class of a request of `size <= FAST_MAX` bytes, with no check of the size: for the
/// allocator's fast path, whose countdown (never above `FAST_MAX`) already proved it.
///
/// # Safety
/// `size <= FAST_MAX`.
#[inline(always)]
pub(super) unsafe fn fast_class(size: usize) -> usize {
    debug_assert!(size <= FAST_MAX);
    // SAFETY: size <= FAST_MAX (the caller's contract) < the table's length.
    (unsafe { *FAST_TABLE.get_unchecked(size) }) as usize
}

/// Class of a request of any size.
#[inline(always)]
pub fn class_of(size: usize) -> usize {
    if size <= FAST_MAX {
        // SAFETY: checked just above.
        unsafe { fast_class(size) }
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
