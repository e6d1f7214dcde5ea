//! The system tools some tests drive (Debian's `prometheus`, `promtool`, `chromium`, from
//! `scripts/install-collector.sh`): found, or the test is skipped, except under `CI=true`,
//! where a missing tool fails it.

use std::path::PathBuf;

/// `/usr/bin/<name>`, else `<name>` on `PATH`. When it is not installed: `None` with one
/// stderr line saying the test is skipped and how to install it, or, under `CI=true`, a
/// panic (CI must run every test).
///
/// # Panics
///
/// Under `CI=true` when the tool is missing.
pub fn tool(name: &str) -> Option<PathBuf> {
    let mut candidates = vec![PathBuf::from("/usr/bin").join(name)];
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|d| d.join(name)));
    }
    if let Some(found) = candidates.into_iter().find(|p| p.is_file()) {
        return Some(found);
    }
    let fix = "run `bash scripts/install-collector.sh`, which installs the Debian tools";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{name} is not installed and CI=true: {fix}");
    }
    eprintln!("skipping: {name} is not installed ({fix})");
    None
}
