//! Scopes: nesting, restoring (also on panic), the attribute on sync and async functions, and
//! attribution following a future across `.await` points and threads.

use rtscope::scope::{Scope, ScopeExt};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

fn current() -> Option<&'static str> {
    Scope::current().map(|s| s.name())
}

#[test]
fn nests_and_restores() {
    assert_eq!(current(), None);
    let v = rtscope::scope("outer", || {
        assert_eq!(current(), Some("outer"));
        let inner = rtscope::scope("inner", || {
            assert_eq!(current(), Some("inner"));
            rtscope::scope("outer", || assert_eq!(current(), Some("outer")));
            assert_eq!(current(), Some("inner"));
            7
        });
        assert_eq!(current(), Some("outer"));
        inner * 6
    });
    assert_eq!(v, 42);
    assert_eq!(current(), None);
}

#[test]
fn restores_after_a_panic() {
    rtscope::scope("before-panic", || {
        let r = std::panic::catch_unwind(|| {
            rtscope::scope("panics", || {
                assert_eq!(current(), Some("panics"));
                panic!("boom");
            })
        });
        assert!(r.is_err());
        assert_eq!(current(), Some("before-panic"));
    });
    assert_eq!(current(), None);
}

#[test]
fn guards_restore_in_reverse_order() {
    let a = Scope::new("guard-a").enter();
    {
        let _b = Scope::new("guard-b").enter();
        assert_eq!(current(), Some("guard-b"));
    }
    assert_eq!(current(), Some("guard-a"));
    drop(a);
    assert_eq!(current(), None);
}

#[test]
fn scopes_are_per_thread() {
    rtscope::scope("main-thread", || {
        std::thread::spawn(|| assert_eq!(current(), None))
            .join()
            .unwrap();
        assert_eq!(current(), Some("main-thread"));
    });
}

#[rtscope::scope]
fn default_name() -> Option<&'static str> {
    current()
}

#[rtscope::scope("named-fn")]
fn named(x: u32) -> Result<u32, std::num::ParseIntError> {
    let y: u32 = "2".parse()?;
    if x == 0 {
        return Ok(0);
    }
    Ok(x * y)
}

#[rtscope::scope("fn-panics")]
fn panics() {
    panic!("inside a scoped fn");
}

struct Service;

impl Service {
    #[rtscope::scope("Service::handle")]
    fn handle(&self) -> Option<&'static str> {
        current()
    }

    #[rtscope::scope]
    async fn handle_async(&self, n: u32) -> (Option<&'static str>, u32) {
        (current(), n)
    }
}

#[test]
fn attribute_on_sync_functions() {
    assert_eq!(default_name(), Some("default_name"));
    assert_eq!(named(3), Ok(6));
    assert_eq!(named(0), Ok(0));
    assert_eq!(Service.handle(), Some("Service::handle"));
    assert!(std::panic::catch_unwind(panics).is_err());
    assert_eq!(current(), None);
}

/// Pending once (waking itself), then ready with the scope seen at the second poll.
fn yield_once() -> impl Future<Output = ()> {
    let mut yielded = false;
    std::future::poll_fn(move |cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}

#[rtscope::scope("async-fn")]
async fn async_fn() -> Result<Vec<Option<&'static str>>, std::num::ParseIntError> {
    let mut seen = vec![current()];
    yield_once().await;
    seen.push(current());
    let _: u8 = "1".parse()?;
    Ok(seen)
}

#[test]
fn scope_is_set_only_while_the_future_is_polled() {
    let mut fut = pin!(async_fn());
    let mut cx = Context::from_waker(Waker::noop());
    assert!(fut.as_mut().poll(&mut cx).is_pending());
    assert_eq!(current(), None, "suspended: the scope is not in effect");
    let seen = match fut.as_mut().poll(&mut cx) {
        Poll::Ready(r) => r.unwrap(),
        Poll::Pending => panic!("ready on the second poll"),
    };
    assert_eq!(seen, vec![Some("async-fn"), Some("async-fn")]);
    assert_eq!(current(), None);

    let mut fut = pin!(Service.handle_async(5));
    assert_eq!(
        fut.as_mut().poll(&mut cx),
        Poll::Ready((Some("handle_async"), 5))
    );
}

#[test]
fn in_scope_nests_inside_a_closure_scope() {
    rtscope::scope("around", || {
        let mut fut = pin!(
            async {
                let inner = current();
                yield_once().await;
                (inner, current())
            }
            .in_scope("future")
        );
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        assert_eq!(current(), Some("around"));
        assert_eq!(
            fut.as_mut().poll(&mut cx),
            Poll::Ready((Some("future"), Some("future")))
        );
    });
}

#[cfg(feature = "tokio")]
#[test]
fn attribution_follows_the_future_across_threads() {
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let threads = Arc::clone(&threads);
            let name = format!("task-{i}");
            let expected = name.clone();
            let task = async move {
                let mut wrong = 0;
                for _ in 0..50 {
                    threads.lock().unwrap().insert(std::thread::current().id());
                    if current() != Some(Scope::new(&expected).name()) {
                        wrong += 1;
                    }
                    tokio::task::yield_now().await;
                }
                wrong
            };
            rt.spawn(task.in_scope(&name))
        })
        .collect();
    rt.block_on(async {
        for h in handles {
            assert_eq!(h.await.unwrap(), 0, "every poll saw its own scope");
        }
    });
    // The workers carry no scope between polls.
    let leftovers = rt.block_on(async {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(tokio::spawn(async { current() }).await.unwrap());
        }
        v
    });
    assert!(leftovers.iter().all(Option::is_none), "{leftovers:?}");
}
