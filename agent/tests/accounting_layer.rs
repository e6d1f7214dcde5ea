//! The tracing layer's per-span blocks live and die with the span, so they are the
//! application's: 100k spans under `RtscopeLayer` leave the user's live heap (a 1 MiB `Vec`
//! held throughout) where it was, and the agent's live memory does not climb for memory the
//! spans already freed.

use rtscope::alloc::{agent_stats, stats, thread_stats};
use rtscope::tracing::RtscopeLayer;
use tracing_subscriber::layer::SubscriberExt;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

const MIB: u64 = 1 << 20;

/// One test, steps in sequence: `agent_stats()` is process-wide.
#[test]
fn the_layer_s_blocks_are_freed_into_their_account() {
    spans_do_not_move_the_heap_between_accounts();
    a_thread_s_span_stack_is_freed_as_the_agent_s();
}

fn spans_do_not_move_the_heap_between_accounts() {
    let held = std::hint::black_box(vec![1u8; MIB as usize]);
    let subscriber = tracing_subscriber::registry().with(RtscopeLayer::new().with_scope_field("k"));
    tracing::subscriber::with_default(subscriber, || {
        // Warm up: the registry's slab pages and this thread's span stack, kept for reuse.
        let spans = |n: u64| {
            for i in 0..n {
                let span =
                    tracing::info_span!("req", k = i % 4, alloc.bytes = tracing::field::Empty);
                span.in_scope(|| {
                    tracing::info_span!("inner").in_scope(|| {});
                });
            }
        };
        spans(1000);
        let (user, agent) = (thread_stats(), agent_stats());
        spans(100_000);
        let (user2, agent2) = (thread_stats(), agent_stats());
        // Before the fix: deallocations +200000 with allocations +0, and the process's live
        // heap read 0 with the 1 MiB Vec still held.
        assert!(user2.allocations - user.allocations >= 200_000);
        assert_eq!(
            user2.allocations - user.allocations,
            user2.deallocations - user.deallocations
        );
        assert_eq!(
            user2.allocated_bytes - user.allocated_bytes,
            user2.freed_bytes - user.freed_bytes
        );
        assert!(stats().live_bytes >= MIB, "live {}", stats().live_bytes);
        assert_eq!(agent2.live_bytes, agent.live_bytes);
    });
    drop(held);
}

fn a_thread_s_span_stack_is_freed_as_the_agent_s() {
    let subscriber = tracing_subscriber::registry().with(RtscopeLayer::new());
    let dispatch = tracing::Dispatch::new(subscriber);
    let run = |n: usize| {
        for _ in 0..n {
            let dispatch = dispatch.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let a = tracing::info_span!("outer");
                    let _a = a.enter();
                    let b = tracing::info_span!("inner");
                    b.in_scope(|| {});
                });
            })
            .join()
            .unwrap();
        }
    };
    run(4);
    let agent = agent_stats();
    run(50);
    let agent2 = agent_stats();
    // Each thread's stack of entered spans grows in the agent's account and is freed in it
    // when the thread exits.
    assert!(agent2.allocations - agent.allocations >= 50, "{agent2:?}");
    assert_eq!(agent2.live_bytes, agent.live_bytes);
}
