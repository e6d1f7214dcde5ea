//! Loom models of the bounded name interner (`src/names.rs`, included here with loom's atomics
//! and lock in place of std's: `support/loom_base.rs`). They check what `names.rs` promises:
//! threads racing for one name get one entry, its value made once; ids are unique and the
//! capacity holds, with one `OTHER`; and a lock-free reader (a known name in `intern`, `get`,
//! `iter`) that finds an entry sees it whole, value included.
//!
//! Each model explores every interleaving up to `LOOM_MAX_PREEMPTIONS` preemptions (3 unless
//! set; `cargo test -p rtscope --test loom_names`).

#[path = "support/loom_base.rs"]
mod base;
#[path = "../src/names.rs"]
#[allow(dead_code, unreachable_pub)]
mod names;

use base::model;
use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use loom::thread;
use names::{Entry, Interner, OTHER};

/// A value made with a plain write: loom fails the model if a thread reads it without that
/// write happening before the read (an entry published without Release/Acquire).
#[derive(Debug)]
struct Value(UnsafeCell<u64>);

// SAFETY: written only while it is made, before its entry is published; read-only afterwards
// (which is what the models check).
unsafe impl Sync for Value {}

impl Value {
    fn read(&self) -> u64 {
        // SAFETY: nobody writes a value after it is made (loom checks the read is ordered
        // after that write).
        self.0.with(|p| unsafe { *p })
    }
}

/// Interns `name` with a value of `v`, counting how often a value is made.
fn intern<const N: usize>(
    t: &Interner<Value, N>,
    name: &str,
    v: u64,
    made: &AtomicUsize,
) -> &'static Entry<Value> {
    t.intern(name, || {
        made.fetch_add(1, Relaxed);
        Value(UnsafeCell::new(v))
    })
}

#[test]
fn threads_racing_for_one_name_get_one_entry_made_once() {
    model(|| {
        let t = Arc::new(Interner::<Value, 3>::new());
        let made = Arc::new(AtomicUsize::new(0));
        let other = {
            let (t, made) = (t.clone(), made.clone());
            thread::spawn(move || {
                let e = intern(&t, "a", 7, &made);
                assert_eq!(e.value().read(), 7);
                e as *const Entry<Value> as usize
            })
        };
        let mine = intern(&t, "a", 7, &made);
        assert_eq!(mine.value().read(), 7);
        let theirs = other.join().unwrap();
        assert_eq!(
            mine as *const Entry<Value> as usize, theirs,
            "two entries for one name"
        );
        assert_eq!(made.load(Relaxed), 1, "the value was made twice");
        assert_eq!((mine.name(), mine.id()), ("a", 0));
        assert_eq!(t.iter().count(), 1);
    });
}

#[test]
fn racing_names_past_the_capacity_share_the_one_other() {
    model(|| {
        // Room for one own name and OTHER.
        let t = Arc::new(Interner::<Value, 2>::new());
        let made = Arc::new(AtomicUsize::new(0));
        let other = {
            let (t, made) = (t.clone(), made.clone());
            thread::spawn(move || {
                let e = intern(&t, "b", 2, &made);
                (e.id(), e.name(), e.value().read())
            })
        };
        let a = intern(&t, "a", 1, &made);
        let b = other.join().unwrap();
        let a = (a.id(), a.name(), a.value().read());
        // Whoever came first has id 0 under its own name; the other got OTHER, id 1.
        let mut got = [a, b];
        got.sort();
        assert!(
            got == [(0, "a", 1), (1, OTHER, 2)] || got == [(0, "b", 2), (1, OTHER, 1)],
            "{got:?}"
        );
        assert_eq!(made.load(Relaxed), 2);
        let names: Vec<_> = t.iter().map(|e| (e.id(), e.name())).collect();
        assert_eq!(names, [(0, got[0].1), (1, OTHER)]);
        // Known names are found again, and a third name is OTHER too.
        assert_eq!(intern(&t, got[0].1, 0, &made).id(), 0);
        assert_eq!(intern(&t, "c", 0, &made).id(), 1);
        assert_eq!(made.load(Relaxed), 2);
    });
}

#[test]
fn three_threads_fill_the_table_once() {
    model(|| {
        // Room for two own names and OTHER; three threads, three names.
        let t = Arc::new(Interner::<Value, 3>::new());
        let made = Arc::new(AtomicUsize::new(0));
        let spawn = |name: &'static str, v: u64| {
            let (t, made) = (t.clone(), made.clone());
            thread::spawn(move || {
                let e = intern(&t, name, v, &made);
                (e.id(), e.name(), e.value().read())
            })
        };
        let (b, c) = (spawn("b", 2), spawn("c", 3));
        let a = intern(&t, "a", 1, &made);
        let mut got = [
            (a.id(), a.name(), a.value().read()),
            b.join().unwrap(),
            c.join().unwrap(),
        ];
        got.sort();
        // Ids 0 and 1 went to two of the names, with their own values; the third got OTHER.
        assert_eq!([got[0].0, got[1].0, got[2].0], [0, 1, 2], "{got:?}");
        assert_ne!(got[0].1, got[1].1);
        assert_eq!(got[2].1, OTHER);
        for (_, name, v) in &got[..2] {
            assert_eq!(u64::from(name.as_bytes()[0] - b'a' + 1), *v);
        }
        assert_eq!(made.load(Relaxed), 3);
        assert_eq!(t.iter().count(), 3);
    });
}

#[test]
fn a_lock_free_reader_sees_an_entry_whole() {
    model(|| {
        let t = Arc::new(Interner::<Value, 2>::new());
        let made = Arc::new(AtomicUsize::new(0));
        let writer = {
            let (t, made) = (t.clone(), made.clone());
            thread::spawn(move || {
                intern(&t, "a", 7, &made);
            })
        };
        // Without the lock: by id, and every entry so far.
        if let Some(e) = t.get(0) {
            assert_eq!((e.name(), e.value().read()), ("a", 7));
        }
        for e in t.iter() {
            assert_eq!((e.id(), e.name(), e.value().read()), (0, "a", 7));
        }
        writer.join().unwrap();
        assert_eq!(t.get(0).map(|e| e.value().read()), Some(7));
    });
}
