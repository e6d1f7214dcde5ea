//! `fork` while readers sum other threads' counters and threads exit: the child never waits on
//! the lock readers and exiting threads share (its holder may be a thread the child does not
//! have), and its counts stay exact when its new threads get the memory the parent's threads
//! left (their counters must no longer be published there).
//!
//! Each child sets an alarm (a deadlock kills it with SIGALRM, which the parent sees), sums
//! the counters, runs threads that allocate a known amount and exit, sums again, and exits
//! with 0 only if the difference is that amount.

#![cfg(unix)]

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Duration;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

/// Forks made; each child checks itself.
const FORKS: usize = 40;
/// Threads each child runs, and the blocks each allocates (of `BLOCK` bytes).
const CHILD_THREADS: usize = 6;
const BLOCKS: u64 = 1000;
const BLOCK: usize = 100;

/// A thread's known work: `BLOCKS` blocks of `BLOCK` bytes, each freed at once.
fn known_work() {
    for _ in 0..BLOCKS {
        std::hint::black_box(vec![0u8; BLOCK]);
    }
}

/// What a child does: exit status 0 if its counts are exact, else what went wrong.
fn child() -> i32 {
    // SAFETY: alarm has no preconditions; SIGALRM's default action ends the child.
    unsafe { libc::alarm(20) };
    let before = rtscope::alloc::stats();
    let threads: Vec<_> = (0..CHILD_THREADS)
        .map(|_| std::thread::spawn(known_work))
        .collect();
    for t in threads {
        if t.join().is_err() {
            return 3;
        }
    }
    let after = rtscope::alloc::stats();
    let counted = after.allocations - before.allocations;
    let known = CHILD_THREADS as u64 * BLOCKS;
    // Spawning and joining allocate too (a few blocks a thread); a thread's counters read
    // twice (published where a parent's thread left them and where they are) would add
    // about BLOCKS more per thread.
    if counted < known || counted > known + 40 * CHILD_THREADS as u64 {
        return 4;
    }
    if after.live_bytes > before.live_bytes + 64 * 1024 {
        return 5;
    }
    0
}

#[test]
fn a_forked_child_never_waits_on_the_readers_lock_and_counts_exactly() {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        // A reader summing every thread's counters, as the export thread does on a timer,
        // here without a pause, so the lock is often held when the fork comes.
        s.spawn(|| {
            while !stop.load(Relaxed) {
                std::hint::black_box(rtscope::alloc::stats());
            }
        });
        // Threads that come and go: each exit retires its counters under the lock.
        for _ in 0..2 {
            s.spawn(|| {
                while !stop.load(Relaxed) {
                    std::thread::spawn(known_work).join().unwrap();
                }
            });
        }
        std::thread::sleep(Duration::from_millis(50));
        let mut failures = Vec::new();
        for i in 0..FORKS {
            // SAFETY: fork has no preconditions; the child only runs `child` and `_exit`s.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                let code = child();
                // SAFETY: ends the child without running the parent's exit handlers.
                unsafe { libc::_exit(code) };
            }
            assert!(pid > 0, "fork failed");
            let mut status = 0;
            // SAFETY: `status` is writable; `pid` is our child.
            let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
            assert_eq!(rc, pid);
            if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
                failures.push(if libc::WIFSIGNALED(status) {
                    format!(
                        "fork {i}: child killed by signal {}",
                        libc::WTERMSIG(status)
                    )
                } else {
                    format!("fork {i}: child exited {}", libc::WEXITSTATUS(status))
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        stop.store(true, Relaxed);
        assert!(
            failures.is_empty(),
            "{} of {FORKS} children failed (signal 14 is the alarm: a child waited on a \
             lock; exit 4 is a count not exact): {failures:?}",
            failures.len()
        );
    });
}
