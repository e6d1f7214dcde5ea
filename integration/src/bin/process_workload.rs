//! A child process for the process metrics test: known process state under the agent.
//!
//! Burns CPU for 300 ms of user time, sleeps 1 ms 50 times (voluntary context switches),
//! then holds 4 extra threads and 20 extra open files for `RTSCOPE_TEST_HOLD_MS` (default
//! 1000) while the agent exports. It prints what the kernel says of it before and after the
//! hold (`HOLD threads=.. fds=..`, twice: the test takes the values only when both agree)
//! and its own `getrusage` totals last (`END user=.. minflt=.. nvcsw=..`), then `DONE`.

use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

fn kernel_view() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let threads = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .map_or("?", str::trim)
        .to_owned();
    // The read_dir's own descriptor is one of the entries.
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count) - 1;
    format!("HOLD threads={threads} fds={fds}")
}

#[rtscope::main]
fn main() {
    // SAFETY: an all-zero rusage is valid; getrusage fills it.
    let usage = || unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let start = usage();
    let user = |ru: &libc::rusage| ru.ru_utime.tv_sec as f64 + ru.ru_utime.tv_usec as f64 / 1e6;
    let mut x = 0u64;
    while user(&usage()) - user(&start) < 0.3 {
        for i in 0..100_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(1));
    }

    let files: Vec<_> = (0..20)
        .map(|_| std::fs::File::open("/dev/null").expect("/dev/null"))
        .collect();
    let (stop, rx) = std::sync::mpsc::channel::<()>();
    let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let rx = rx.clone();
            std::thread::spawn(move || {
                let _ = rx.lock().map(|r| r.recv());
            })
        })
        .collect();
    let hold = std::env::var("RTSCOPE_TEST_HOLD_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    std::thread::sleep(Duration::from_millis(50));
    println!("{}", kernel_view());
    let until = Instant::now() + Duration::from_millis(hold);
    while Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    println!("{}", kernel_view());
    drop(stop);
    threads
        .into_iter()
        .for_each(|t| t.join().expect("a holder"));
    drop(files);
    let end = usage();
    println!(
        "END user={} minflt={} nvcsw={}",
        user(&end),
        end.ru_minflt,
        end.ru_nvcsw
    );
    println!("DONE");
}
