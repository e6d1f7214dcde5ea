//! Thread run-queue delay from the kernel: two threads spinning on one CPU wait for each
//! other, and their series show it.
#![cfg(target_os = "linux")]

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
