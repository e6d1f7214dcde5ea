//! A known heap for the profile tests: `hold_sixty` keeps 60 MiB and `hold_twenty` 20 MiB
//! alive, in mixed sizes from 24 B to 48 KiB (both sides of the 32 KiB line), while `churn`
//! allocates and frees 1 GiB. Writes `pprof_heap()` to the file named by the first argument
//! (`-` for none), or serves it on `RTSCOPE_PPROF_ADDR` until the second argument's seconds
//! have passed; with a third argument `steady`, `steady` allocates and frees about 64 MiB a
//! second meanwhile (what a delta profile, `?seconds=N`, is to show alone).
//!
//! ```text
//! cargo run --release -p rtscope-examples --bin heap_holders -- heap.pb.gz
//! go tool pprof -top -sample_index=inuse_space heap.pb.gz
//! ```

use std::hint::black_box;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

const SIZES: [usize; 7] = [24, 100, 700, 3000, 9000, 20_000, 48_000];
const MIB: usize = 1 << 20;

/// Blocks of the mixed sizes until they hold `bytes`.
fn blocks(bytes: usize) -> Vec<Vec<u8>> {
    let (mut out, mut held, mut i) = (Vec::new(), 0, 0);
    while held < bytes {
        let size = SIZES[i % SIZES.len()].min(bytes - held);
        out.push(black_box(Vec::with_capacity(size)));
        held += size;
        i += 1;
    }
    out
}

// Each holder keeps a frame of its own (no tail call into `blocks`), so its name is on the
// stacks of what it holds however `blocks` is compiled.
#[inline(never)]
fn hold_sixty() -> Vec<Vec<u8>> {
    let held = blocks(60 * MIB);
    black_box(&held);
    held
}

#[inline(never)]
fn hold_twenty() -> Vec<Vec<u8>> {
    let held = blocks(20 * MIB);
    black_box(&held);
    held
}

#[inline(never)]
fn churn() {
    let mut done = 0;
    let mut i = 0;
    while done < 1024 * MIB {
        let size = SIZES[i % SIZES.len()];
        drop(black_box(Vec::<u8>::with_capacity(size)));
        done += size;
        i += 1;
    }
}

/// About 630 KiB allocated and freed in the mixed sizes.
#[inline(never)]
fn steady() {
    for i in 0..8 * SIZES.len() {
        drop(black_box(Vec::<u8>::with_capacity(SIZES[i % SIZES.len()])));
    }
}

fn main() {
    let out = std::env::args().nth(1).unwrap_or_else(|| "-".into());
    let serve_secs: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let agent = rtscope::Agent::builder()
        .with_service_name("heap-holders")
        .install()
        .expect("install rtscope");
    let sixty = hold_sixty();
    let twenty = hold_twenty();
    churn();
    if out != "-" {
        std::fs::write(&out, rtscope::profile::pprof_heap()).expect("write the profile");
    }
    {
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "ready");
        let _ = stdout.flush();
    }
    let until = std::time::Instant::now() + std::time::Duration::from_secs(serve_secs);
    if std::env::args().nth(3).as_deref() == Some("steady") {
        while std::time::Instant::now() < until {
            steady();
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    std::thread::sleep(until.saturating_duration_since(std::time::Instant::now()));
    let held: usize = sixty.iter().chain(&twenty).map(Vec::capacity).sum();
    println!("held {held} bytes");
    // The final export (and the summary) with the holders still held; no export can see
    // them half freed.
    agent.shutdown();
    drop((sixty, twenty));
}
