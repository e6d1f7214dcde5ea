//! A child process for the export tests: a known allocation workload under the agent,
//! configured only by the environment (`#[rtscope::main]` without arguments).
//!
//! Usage: `known_workload [PHASES] [PAUSE_MS]`. Each phase allocates and frees 100 blocks of
//! 20 000 B and 10 of 200 000 B (classes nothing else in this process uses), then sleeps.
//! At the end it prints one line, `SNAPSHOT {json}`, with the exact statistics the final
//! export must carry; the line is printed without allocating so printing it changes
//! nothing, and nothing allocates after it but the agent.

use std::time::Duration;

#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

#[rtscope::main]
fn main() {
    let mut args = std::env::args().skip(1);
    let phases: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(3);
    let pause = Duration::from_millis(args.next().and_then(|s| s.parse().ok()).unwrap_or(100));
    for _ in 0..phases {
        let small: Vec<Box<[u8]>> = (0..100)
            .map(|_| vec![1u8; 20_000].into_boxed_slice())
            .collect();
        let large: Vec<Box<[u8]>> = (0..10)
            .map(|_| vec![2u8; 200_000].into_boxed_slice())
            .collect();
        std::hint::black_box((&small, &large));
        drop((small, large));
        std::thread::sleep(pause);
    }
    let s = rtscope::alloc::stats();
    rtscope_integration::print_uncounted(|w| {
        write!(
            w,
            r#"SNAPSHOT {{"allocations":{},"allocated_bytes":{},"classes":["#,
            s.allocations, s.allocated_bytes
        )?;
        for (i, c) in s.classes.iter().enumerate() {
            write!(w, "{}{}", if i == 0 { "" } else { "," }, c.allocations)?;
        }
        write!(w, "]}}")
    });
}
