//! Records the compiler version for the `process.runtime.version` resource attribute, and
//! picks the platform code of `src/sys` (the only place that reads these cfgs):
//!
//! - `rtscope_linux`: the Linux implementation (`/proc`, `gettid`, `getrandom`). Off with
//!   `RUSTFLAGS="--cfg rtscope_fallback"`, which builds the fallback on Linux so CI compiles
//!   and tests what macOS and the BSDs run; `--cfg rtscope_fallback="bare"` also turns off
//!   `rtscope_posix`, as on Windows.
//! - `rtscope_frame_pointers`: the build keeps frame pointers (`-C force-frame-pointers=yes`
//!   in `RUSTFLAGS`), so heap profiles walk them instead of unwinding with DWARF.
//! - `rtscope_posix`: a libc with `CLOCK_THREAD_CPUTIME_ID` and `getentropy` (macOS, iOS,
//!   FreeBSD, DragonFly, OpenBSD, illumos, Solaris, Linux with glibc).

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = std::process::Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=RTSCOPE_RUSTC_VERSION={version}");
    println!("cargo:rerun-if-env-changed=RUSTC");

    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let (os, vendor, env) = (
        var("CARGO_CFG_TARGET_OS"),
        var("CARGO_CFG_TARGET_VENDOR"),
        var("CARGO_CFG_TARGET_ENV"),
    );
    let fallback = std::env::var_os("CARGO_CFG_RTSCOPE_FALLBACK");
    let bare = fallback.as_deref() == Some("bare".as_ref());
    let fallback = fallback.is_some();
    println!("cargo:rustc-check-cfg=cfg(rtscope_fallback, values(none(), \"bare\"))");
    println!("cargo:rustc-check-cfg=cfg(rtscope_linux)");
    println!("cargo:rustc-check-cfg=cfg(rtscope_posix)");
    if os == "linux" && !fallback {
        println!("cargo:rustc-cfg=rtscope_linux");
    }
    let posix = !bare
        && (vendor == "apple"
            || ["freebsd", "dragonfly", "openbsd", "illumos", "solaris"].contains(&os.as_str())
            || (os == "linux" && env == "gnu"));
    if posix {
        println!("cargo:rustc-cfg=rtscope_posix");
    }
    println!("cargo:rustc-check-cfg=cfg(rtscope_frame_pointers)");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    if frame_pointers(&var("CARGO_ENCODED_RUSTFLAGS")) {
        println!("cargo:rustc-cfg=rtscope_frame_pointers");
    }
}

/// Whether the rustc flags (separated by 0x1f) turn frame pointers on: the last
/// `force-frame-pointers` flag wins, and a bare one means yes.
fn frame_pointers(flags: &str) -> bool {
    let mut on = false;
    let mut args = flags.split('\x1f').peekable();
    while let Some(a) = args.next() {
        let a = if a == "-C" || a == "--codegen" {
            args.next().unwrap_or_default()
        } else {
            a.strip_prefix("-C").unwrap_or(a)
        };
        if let Some(rest) = a.strip_prefix("force-frame-pointers") {
            on = matches!(rest, "" | "=yes" | "=y" | "=on" | "=true" | "=always");
        }
    }
    on
}
