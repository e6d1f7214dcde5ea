//! Thread run-queue delay from the kernel: two threads spinning on one CPU wait for each
//! other, and their series show it.
#![cfg(rtscope_linux)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The first CPU this process may run on.
fn first_allowed_cpu() -> usize {
    // SAFETY: a zeroed cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid cpu_set_t of the size given.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(r, 0);
    // SAFETY: CPU_ISSET reads the set in bounds (i < CPU_SETSIZE).
    (0..libc::CPU_SETSIZE as usize)
        .find(|&i| unsafe { libc::CPU_ISSET(i, &set) })
        .unwrap()
}

fn pin_to(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu < CPU_SETSIZE`, so CPU_SET writes in bounds.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t of the size given; 0 is the calling thread.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    assert_eq!(r, 0, "sched_setaffinity");
}

#[test]
fn threads_competing_for_one_cpu_show_run_queue_delay() {
    let cpu = first_allowed_cpu();
    let stop = AtomicBool::new(false);
    let names = ["rq-spin-a", "rq-spin-b"];
    let delays = std::thread::scope(|s| {
        for name in names {
            let stop = &stop;
            std::thread::Builder::new()
                .name(name.into())
                .spawn_scoped(s, move || {
                    pin_to(cpu);
                    // Bounded: stops when told, or after 5 s whatever happens.
                    let end = Instant::now() + Duration::from_secs(5);
                    while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                        std::hint::spin_loop();
                    }
                })
                .unwrap();
        }
        std::thread::sleep(Duration::from_millis(300));
        // Read while both are alive: /proc forgets threads that exited.
        let d = rtscope::task::thread_delays();
        stop.store(true, Ordering::Relaxed);
        d
    });
    for name in names {
        let t = delays
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no series for {name}: {delays:?}"));
        // Each ran about half the time and waited the other half; ask for a fraction of it.
        assert!(t.delay.count > 0, "{name}: no runs counted");
        assert!(
            t.delay.sum >= Duration::from_millis(20),
            "{name} waited only {:?} in the run queue",
            t.delay.sum
        );
    }
}

/// The agent's export thread is self-telemetry: its run-queue wait is exported as
/// `rtscope.agent.schedule.duration`, and no `rust.schedule.duration` series of the
/// application's threads names it.
#[test]
fn the_export_thread_is_not_among_the_application_s_threads() {
    let dir = std::env::temp_dir().join(format!("rtscope-sched-agent-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.jsonl");
    let _ = std::fs::remove_file(&path);
    let guard = rtscope::Agent::builder()
        .with_file(&path)
        .with_summary(false)
        .with_export_interval(Duration::from_millis(100))
        .install()
        .expect("install");
    // A few exports, so the export thread has run and been read more than once.
    std::thread::sleep(Duration::from_millis(350));
    assert!(
        rtscope::task::thread_delays()
            .iter()
            .all(|t| t.name != "rtscope-export"),
        "thread_delays() lists the agent's thread"
    );
    guard.shutdown();

    let text = std::fs::read_to_string(&path).unwrap();
    let last = text
        .lines()
        .rev()
        .find(|l| l.starts_with(r#"{"resourceMetrics""#))
        .expect("a metrics export");
    let req: serde_json::Value = serde_json::from_str(last).unwrap();
    let metrics = req["resourceMetrics"][0]["scopeMetrics"][0]["metrics"]
        .as_array()
        .unwrap();
    let named = |name: &'static str| metrics.iter().filter(move |m| m["name"] == name);
    let thread_names: Vec<&str> = named("rust.schedule.duration")
        .flat_map(|m| m["histogram"]["dataPoints"].as_array().unwrap())
        .flat_map(|p| p["attributes"].as_array().unwrap())
        .filter(|a| a["key"] == "thread.name")
        .filter_map(|a| a["value"]["stringValue"].as_str())
        .collect();
    assert!(!thread_names.is_empty(), "no thread series: {last}");
    assert!(
        !thread_names.contains(&"rtscope-export"),
        "the export thread among the application's: {thread_names:?}"
    );
    let agent: Vec<_> = named("rtscope.agent.schedule.duration").collect();
    assert_eq!(agent.len(), 1, "{last}");
    let point = &agent[0]["histogram"]["dataPoints"][0];
    let count = point["count"]
        .as_str()
        .and_then(|c| c.parse::<u64>().ok())
        .or(point["count"].as_u64())
        .unwrap_or(0);
    assert!(count > 0, "the export thread ran: {point}");
    let _ = std::fs::remove_dir_all(&dir);
}
