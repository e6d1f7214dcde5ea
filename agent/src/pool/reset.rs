//! [`Reset`]: how a pooled object is cleaned before reuse, and how big it has grown.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, VecDeque};
use std::ffi::OsString;
use std::hash::BuildHasher;
use std::mem::size_of;
use std::path::PathBuf;

/// An object a [`Pool`](super::Pool) can clean for reuse.
///
/// [`reset`](Reset::reset) must leave the object as a fresh one would be for every reader
/// (contents gone), while keeping what makes reuse worthwhile (its allocation).
/// [`retained_bytes`](Reset::retained_bytes) tells the pool how much heap memory the object
/// keeps, so a pool with a size limit drops objects that ballooned.
///
/// ```
/// use rtscope::pool::Reset;
///
/// struct Frame {
///     header: Vec<u8>,
///     body: String,
/// }
///
/// impl Reset for Frame {
///     fn reset(&mut self) {
///         self.header.reset();
///         self.body.reset();
///     }
///     fn retained_bytes(&self) -> usize {
///         self.header.retained_bytes() + self.body.retained_bytes()
///     }
/// }
/// ```
pub trait Reset {
    /// Clears the object for reuse.
    fn reset(&mut self);

    /// Heap bytes the object keeps after [`reset`](Reset::reset) (its capacity); `0` when
    /// unknown. Compared with the pool's size limit.
    fn retained_bytes(&self) -> usize {
        0
    }
}

impl<T> Reset for Vec<T> {
    fn reset(&mut self) {
        self.clear();
    }
    fn retained_bytes(&self) -> usize {
        self.capacity().saturating_mul(size_of::<T>())
    }
}

impl<T> Reset for VecDeque<T> {
    fn reset(&mut self) {
        self.clear();
    }
    fn retained_bytes(&self) -> usize {
        self.capacity().saturating_mul(size_of::<T>())
    }
}

impl<T: Ord> Reset for BinaryHeap<T> {
    fn reset(&mut self) {
        self.clear();
    }
    fn retained_bytes(&self) -> usize {
        self.capacity().saturating_mul(size_of::<T>())
    }
}

impl Reset for String {
    fn reset(&mut self) {
        self.clear();
    }
    fn retained_bytes(&self) -> usize {
        self.capacity()
    }
}

impl Reset for OsString {
    fn reset(&mut self) {
        self.clear();
    }
    fn retained_bytes(&self) -> usize {
        self.capacity()
    }
}

impl Reset for PathBuf {
    fn reset(&mut self) {
        self.as_mut_os_string().clear();
    }
    fn retained_bytes(&self) -> usize {
        self.capacity()
    }
}

impl<K, V, S: BuildHasher> Reset for HashMap<K, V, S> {
    fn reset(&mut self) {
        self.clear();
    }
    fn retained_bytes(&self) -> usize {
        self.capacity().saturating_mul(size_of::<(K, V)>())
    }
}

impl<T, S: BuildHasher> Reset for HashSet<T, S> {
    fn reset(&mut self) {
        self.clear();
    }
    fn retained_bytes(&self) -> usize {
        self.capacity().saturating_mul(size_of::<T>())
    }
}

/// A cleared B-tree frees its nodes: nothing is retained.
impl<K, V> Reset for BTreeMap<K, V> {
    fn reset(&mut self) {
        self.clear();
    }
}

/// A cleared B-tree frees its nodes: nothing is retained.
impl<T> Reset for BTreeSet<T> {
    fn reset(&mut self) {
        self.clear();
    }
}

impl<T: Reset + ?Sized> Reset for Box<T> {
    fn reset(&mut self) {
        (**self).reset();
    }
    fn retained_bytes(&self) -> usize {
        (**self).retained_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_empties_and_keeps_capacity() {
        let mut v: Vec<u32> = Vec::with_capacity(100);
        v.extend([1, 2, 3]);
        v.reset();
        assert!(v.is_empty());
        assert_eq!(v.retained_bytes(), v.capacity() * 4);
        assert!(v.capacity() >= 100);

        let mut m: HashMap<u8, u64> = (0..10).map(|i| (i, 0)).collect();
        m.reset();
        assert!(m.is_empty());
        assert!(m.retained_bytes() >= 10 * 16);

        let mut b: BTreeMap<u8, u8> = [(1, 1)].into();
        b.reset();
        assert!(b.is_empty());
        assert_eq!(b.retained_bytes(), 0);

        let mut p = PathBuf::from("/tmp/x");
        p.reset();
        assert_eq!(p.as_os_str(), "");

        let mut s = Box::new(String::from("dirty"));
        s.reset();
        assert!(s.is_empty());
    }
}
