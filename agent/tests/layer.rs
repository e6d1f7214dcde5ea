//! `RtscopeLayer` on a multi-threaded tokio runtime: attribution follows the span a future is
//! instrumented with, across `.await` points and worker threads, not the thread.

#![cfg(feature = "tokio")]

use rtscope::scope::Scope;
use rtscope::tracing::RtscopeLayer;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tracing::Instrument;
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn attribution_follows_the_span_across_worker_threads() {
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(RtscopeLayer::new().with_scope_field("task")),
    )
    .expect("the only test of this binary sets the global subscriber");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let threads = Arc::new(Mutex::new(HashSet::new()));
    let names = [
        "layer-span-a",
        "layer-span-b",
        "layer-span-c",
        "layer-span-d",
    ];
    let handles: Vec<_> = names
        .iter()
        .map(|&name| {
            let threads = Arc::clone(&threads);
            let task = async move {
                let mut wrong = 0;
                for i in 0..100 {
                    threads.lock().unwrap().insert(std::thread::current().id());
                    if Scope::current().map(|s| s.name()) != Some(name) {
                        wrong += 1;
                    }
                    if i % 10 == 0 {
                        // A real suspension: the task may come back on the other worker.
                        tokio::time::sleep(std::time::Duration::from_micros(50)).await;
                    } else {
                        tokio::task::yield_now().await;
                    }
                }
                wrong
            };
            let span = tracing::info_span!("task", task = name);
            (rt.spawn(task.instrument(span)), name)
        })
        .collect();
    rt.block_on(async {
        for (h, name) in handles {
            assert_eq!(
                h.await.unwrap(),
                0,
                "{name}: every poll saw its span's scope"
            );
        }
        // Between polls the workers carry no scope.
        for _ in 0..4 {
            let leftover = tokio::spawn(async { Scope::current() }).await.unwrap();
            assert_eq!(leftover, None);
        }
    });
    println!(
        "polled on {} worker thread(s)",
        threads.lock().unwrap().len()
    );
}
