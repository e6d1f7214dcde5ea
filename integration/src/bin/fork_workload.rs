//! A child process for the fork tests: the agent installed (configured by the environment),
//! a known workload, then a `fork`. The forked child allocates 1000 blocks of 3000 B (and the
//! `Vec` of 1000 pointers holding them), prints
//! `CHILD {json}` with what its own counts saw, and calls `exit(0)` (which runs the agent's
//! `atexit` handler). The parent waits for it, allocates more, and prints
//! `FORK {json}` (how long the child lived) and `SNAPSHOT {json}` (its exact statistics,
//! which the final export must carry), as `known_workload` does.

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

fn work(blocks: usize, size: usize) {
    let v: Vec<Box<[u8]>> = (0..blocks)
        .map(|_| vec![1u8; size].into_boxed_slice())
        .collect();
    std::hint::black_box(&v);
}

#[rtscope::main]
fn main() {
    work(100, 20_000);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let forked = std::time::Instant::now();
    // SAFETY: fork has no preconditions; the child below only allocates, prints and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let before = rtscope::alloc::stats();
        work(1000, 3000);
        let after = rtscope::alloc::stats();
        rtscope_integration::print_uncounted(|w| {
            write!(
                w,
                r#"CHILD {{"allocations":{},"allocated_bytes":{}}}"#,
                after.allocations - before.allocations,
                after.allocated_bytes - before.allocated_bytes
            )
        });
        std::process::exit(0);
    }
    assert!(pid > 0, "fork failed");
    let mut status = 0;
    // SAFETY: `status` is a valid, writable int; `pid` is our child.
    let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(rc, pid, "waitpid");
    let child_ms = forked.elapsed().as_millis();
    work(100, 20_000);
    let s = rtscope::alloc::stats();
    rtscope_integration::print_uncounted(|w| {
        write!(
            w,
            r#"FORK {{"child_ms":{child_ms},"child_exited":{},"child_status":{}}}"#,
            libc::WIFEXITED(status),
            libc::WEXITSTATUS(status)
        )
    });
    rtscope_integration::print_uncounted(|w| {
        write!(
            w,
            r#"SNAPSHOT {{"allocations":{},"allocated_bytes":{}}}"#,
            s.allocations, s.allocated_bytes
        )
    });
}
