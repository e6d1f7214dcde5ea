//! A block is freed into the account it was allocated from: blocks the agent hands to the
//! application (an instrumented future's wake cell and waker, the values `thread_delays`
//! returns, the agent guard) are the application's, so creating and dropping them leaves the
//! user's counts balanced and the agent's live memory unchanged. Names the agent interns for
//! good (scopes, latencies, pools) are the agent's.

use rtscope::alloc::{AllocStats, agent_stats, thread_stats};
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

/// What a region did on this thread, and to the agent's live memory.
#[derive(Debug, PartialEq, Eq)]
struct Delta {
    allocations: u64,
    deallocations: u64,
    allocated_bytes: u64,
    freed_bytes: u64,
    agent_live_bytes: i64,
}

fn measure(f: impl FnOnce()) -> Delta {
    let (user, agent) = (thread_stats(), agent_stats());
    f();
    let (user2, agent2) = (thread_stats(), agent_stats());
    let d = |a: &AllocStats, b: &AllocStats| {
        (
            b.allocations - a.allocations,
            b.deallocations - a.deallocations,
            b.allocated_bytes - a.allocated_bytes,
            b.freed_bytes - a.freed_bytes,
        )
    };
    let (allocations, deallocations, allocated_bytes, freed_bytes) = d(&user, &user2);
    Delta {
        allocations,
        deallocations,
        allocated_bytes,
        freed_bytes,
        agent_live_bytes: agent2.live_bytes as i64 - agent.live_bytes as i64,
    }
}

/// The region's user allocations were all freed, in the user's account, and the agent's live
/// memory did not move.
fn assert_balanced(what: &str, d: &Delta, at_least: u64) {
    assert!(d.allocations >= at_least, "{what}: {d:?}");
    assert_eq!(d.allocations, d.deallocations, "{what}: {d:?}");
    assert_eq!(d.allocated_bytes, d.freed_bytes, "{what}: {d:?}");
    assert_eq!(d.agent_live_bytes, 0, "{what}: {d:?}");
}

/// One test, steps in sequence: `agent_stats()` is process-wide.
#[test]
fn blocks_handed_to_the_application_are_its_own() {
    instrumented_futures_dropped_unpolled();
    instrumented_futures_polled_and_woken();
    thread_delays_returned_to_the_caller();
    interned_names_are_the_agent_s();
    agent_guard_dropped_by_the_application();
}

fn instrumented_futures_dropped_unpolled() {
    let d = measure(|| {
        for _ in 0..1000 {
            drop(black_box(rtscope::task::instrument(async {})));
        }
    });
    // Before the fix: allocations +0, deallocations +1000, agent live +32000.
    assert_balanced("instrument, dropped", &d, 1000);
}

fn instrumented_futures_polled_and_woken() {
    let d = measure(|| {
        for _ in 0..1000 {
            let mut polls = 0;
            let mut kept = None;
            let fut = std::future::poll_fn(|cx| {
                polls += 1;
                if polls == 1 {
                    // Keep a clone of the wrapped waker past the future, as a timer would.
                    kept = Some(cx.waker().clone());
                    cx.waker().wake_by_ref();
                    Poll::Pending
                } else {
                    Poll::Ready(())
                }
            });
            let mut fut = pin!(rtscope::task::instrument(fut));
            let mut cx = Context::from_waker(Waker::noop());
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            assert!(fut.as_mut().poll(&mut cx).is_ready());
            drop(kept);
        }
    });
    // Before the fix: the wake cells and waker wrappers were the agent's, freed by the user.
    assert_balanced("instrument, polled", &d, 2000);
}

fn thread_delays_returned_to_the_caller() {
    // The first calls size the agent's own tables (one entry per live thread), which it keeps.
    drop(rtscope::task::thread_delays());
    drop(rtscope::task::thread_delays());
    let d = measure(|| {
        for _ in 0..10 {
            drop(black_box(rtscope::task::thread_delays()));
        }
    });
    let expect = if cfg!(rtscope_linux) { 10 } else { 0 };
    assert_balanced("thread_delays", &d, expect);
}

fn interned_names_are_the_agent_s() {
    let names: Vec<String> = (0..20).map(|i| format!("acct-name-{i}")).collect();
    let d = measure(|| {
        for n in &names {
            black_box(rtscope::scope::Scope::new(n));
            black_box(rtscope::latency::Latency::new(n));
            black_box(rtscope::pool::PoolMeter::new(n));
        }
    });
    // Kept for the process, in the agent's account: none of it touches the user's.
    assert_eq!((d.allocations, d.deallocations), (0, 0), "{d:?}");
    assert!(d.agent_live_bytes > 0, "{d:?}");
}

fn agent_guard_dropped_by_the_application() {
    let dir = std::env::temp_dir().join(format!("rtscope-accounting-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("out.jsonl");
    let user = thread_stats();
    let guard = rtscope::Agent::builder()
        .with_file(&file)
        .with_summary(false)
        .with_sampling(false)
        .with_service_name("accounting-guard")
        .install()
        .expect("installs once");
    let installed = thread_stats();
    drop(guard);
    let after = thread_stats();
    // The guard's configuration was allocated in the user's account and freed in it (before
    // the fix: allocated as the agent's, freed as the user's).
    assert!(installed.allocations > user.allocations);
    assert_eq!(
        after.allocations - user.allocations,
        after.deallocations - user.deallocations
    );
    assert_eq!(
        after.allocated_bytes - user.allocated_bytes,
        after.freed_bytes - user.freed_bytes
    );
    let _ = std::fs::remove_dir_all(&dir);
}
