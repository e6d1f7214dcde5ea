//! Poisson byte sampling at the default settings, read back from the agent's OTLP/JSON file
//! and with `go tool pprof`: the per-scope estimates spread as the documented 512 KiB interval
//! says they should (issue 20 measured 6.7x that spread when a sample-rate budget raised the
//! interval), a seed reproduces a run's samples and profile, and the in-use blocks past the
//! profile's tables show as an explicit `[in use, untracked]` entry.
//!
//! The workload is `profile_workload` (integration/src/bin), each run a process of its own.

use rtscope_integration::cargo_bin;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The defaults, with the metrics in a file (`RTSCOPE_FILE`) and no summary.
fn workload(
    dir: &Path,
    name: &str,
    args: &[&str],
    env: &[(&str, String)],
) -> (String, String, PathBuf) {
    let file = dir.join(format!("{name}.jsonl"));
    let mut cmd = Command::new(cargo_bin("profile_workload"));
    cmd.args(args).current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k.starts_with("OTEL_") || k.starts_with("RTSCOPE_") {
            cmd.env_remove(&key);
        }
    }
    cmd.env("RTSCOPE_FILE", &file)
        .env("RTSCOPE_SUMMARY", "off")
        .env("OTEL_LOGS_EXPORTER", "none")
        .envs(env.iter().map(|(k, v)| (k, v)));
    let out = rtscope_integration::run_bounded(cmd, Duration::from_secs(120)).unwrap();
    assert!(out.success(), "profile_workload failed: {}", out.stderr);
    (out.stdout, out.stderr, file)
}

/// The data points `(first attribute's string value, value)` of metric `name` in the last
/// metrics line of the OTLP/JSON file (the final export).
fn last_points(path: &Path, name: &str) -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(path).unwrap();
    let last = text
        .lines()
        .rev()
        .find(|l| l.starts_with(r#"{"resourceMetrics""#))
        .unwrap_or_else(|| panic!("no metrics in {}", path.display()));
    let req: serde_json::Value = serde_json::from_str(last).unwrap();
    let mut out = Vec::new();
    for sm in req["resourceMetrics"][0]["scopeMetrics"]
        .as_array()
        .unwrap()
    {
        for m in sm["metrics"].as_array().unwrap() {
            if m["name"] != name {
                continue;
            }
            let data = if m["sum"].is_object() {
                &m["sum"]
            } else {
                &m["gauge"]
            };
            for p in data["dataPoints"].as_array().unwrap() {
                let attr = p["attributes"][0]["value"]["stringValue"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                let v = p["asInt"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .or(p["asInt"].as_f64())
                    .or(p["asDouble"].as_f64())
                    .unwrap();
                out.push((attr, v));
            }
        }
    }
    out
}

fn one(path: &Path, name: &str) -> f64 {
    match last_points(path, name).as_slice() {
        [(_, v)] => *v,
        other => panic!("{name}: {other:?}"),
    }
}

/// `(scope, truth bytes, variance)` from the workload's `SCOPE` lines.
fn truths(stdout: &str) -> Vec<(String, f64, f64)> {
    stdout
        .lines()
        .filter_map(|l| {
            let mut w = l.strip_prefix("SCOPE ")?.split(' ');
            Some((
                w.next()?.to_owned(),
                w.next()?.parse().ok()?,
                w.next()?.parse().ok()?,
            ))
        })
        .collect()
}

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs that count: 20 seeds' worth of per-scope estimates.
const RUNS: usize = 20;

/// Over 20 seeds, the four scopes' estimates (16, 32, 48, 64 MiB: about 32 to 128 samples
/// each) standardized by the theory at the 512 KiB interval, `z = (estimate - truth) / sd`:
/// their mean square, the spread, is within 1.5x of the theory's in either direction
/// (`1/2.25 <= mean z^2 <= 2.25`), and their mean is within 0.55 of 0 (unbiased).
///
/// Sizing, for a correct implementation: each estimate is a sum of independent weighted
/// Bernoulli samples, close to the interval times a Poisson count (the weights of these
/// blocks are within 1.6 % of the interval). Chernoff bounds on that model
/// (`P(X >= a) <= min exp(-t a) E[exp(t X)]`, over the exact Poisson moment generating
/// functions of z^2 and z, 80 of them) give P(mean z^2 > 2.25) <= 8.3e-7,
/// P(mean z^2 < 1/2.25) <= 3.7e-5, P(|mean z| > 0.55) <= 1.2e-5: together under 5e-5, a
/// failure less than once in 20 000 runs.
///
/// A run whose CPU budget raised the interval (`rtscope.sampling.raised`; each run's samples
/// cost about 1-2 ms against the budget's 20 ms burst) samples more coarsely than the theory:
/// it is left out and another seed taken, at most 40 in all.
#[test]
fn per_scope_spread_over_twenty_seeds_is_the_poisson_error_of_the_default_interval() {
    let dir = tempdir("rtscope-sampling-spread");
    let (mut zs, mut seeds, mut raised) = (Vec::new(), 0, 0);
    while zs.len() < 4 * RUNS && seeds < 40 {
        seeds += 1;
        let out = dir.join(format!("seed{seeds}.pb.gz"));
        let (stdout, _, file) = workload(
            &dir,
            &format!("seed{seeds}"),
            &["scopes", out.to_str().unwrap()],
            &[("RTSCOPE_SAMPLING_SEED", seeds.to_string())],
        );
        if one(&file, "rtscope.sampling.raised") > 0.0 {
            raised += 1;
            continue;
        }
        assert_eq!(one(&file, "rtscope.sampling.interval"), 512.0 * 1024.0);
        let est = last_points(&file, "rust.memory.sampled.allocated");
        let truths = truths(&stdout);
        assert_eq!(truths.len(), 4, "{stdout}");
        for (scope, truth, variance) in truths {
            let e = est
                .iter()
                .find(|(s, _)| *s == scope)
                .map_or(0.0, |(_, v)| *v);
            let z = (e - truth) / variance.sqrt();
            eprintln!("seed {seeds} {scope}: {e:.0} B of {truth:.0} B, z {z:+.2}");
            zs.push(z);
        }
    }
    assert_eq!(
        zs.len(),
        4 * RUNS,
        "{raised} of {seeds} runs raised the interval"
    );
    let n = zs.len() as f64;
    let mean_square = zs.iter().map(|z| z * z).sum::<f64>() / n;
    let mean = zs.iter().sum::<f64>() / n;
    eprintln!(
        "spread {:.3}x the theory (mean z^2 {mean_square:.3}), mean z {mean:+.3}, {raised} runs left out",
        mean_square.sqrt()
    );
    assert!(
        (1.0 / 2.25..=2.25).contains(&mean_square),
        "the per-scope spread is {:.2}x what the 512 KiB interval gives (z: {zs:?})",
        mean_square.sqrt()
    );
    assert!(mean.abs() <= 0.55, "biased: mean z {mean} (z: {zs:?})");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `go tool pprof -top -unit=B` rows of `file` for `sample_index`, without the header lines
/// that name the file and the time; `None` when `go` cannot be run.
fn pprof_rows(file: &Path, sample_index: &str, dir: &Path) -> Option<Vec<String>> {
    let out = Command::new("go")
        .args([
            "tool",
            "pprof",
            "-top",
            "-unit=B",
            "-nodecount=400",
            &format!("-sample_index={sample_index}"),
        ])
        .arg(file)
        .env("PPROF_TMPDIR", dir)
        .env("HOME", dir)
        .output()
        .ok()?;
    assert!(
        out.status.success(),
        "go tool pprof: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // Rows of addresses no symbol names (in the C library) move with ASLR: left out.
    Some(
        text.lines()
            .skip_while(|l| !l.trim_start().starts_with("flat"))
            .filter(|l| {
                !l.split_whitespace()
                    .nth(5)
                    .is_some_and(|f| f.starts_with("0x"))
            })
            .map(str::to_owned)
            .collect(),
    )
}

/// `go`, or `None` (the test then skips, except under `CI=true`, where it fails).
fn go() -> bool {
    let found = Command::new("go")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || std::env::var("CI").as_deref() != Ok("true"),
        "`go` is not installed; scripts/install-collector.sh installs golang-go for `go tool pprof`"
    );
    found
}

/// With a seed and the CPU budget not reached, two runs of the deterministic workload take
/// the same samples: the same count, the same per-scope estimates and the same heap profile,
/// allocated and in use, as `go tool pprof` reads them; another seed samples differently.
/// (Before issue 20, the sample-rate budget reacted to the wall clock and two seeded runs
/// parted after about 55 samples; this workload takes about 330.) The log records are a
/// subsample that follows the clock once samples come faster than the target, so they are
/// not compared.
#[test]
fn a_seed_reproduces_the_samples_and_the_profile() {
    if !go() {
        eprintln!("skipped: `go` is not installed (run scripts/install-collector.sh)");
        return;
    }
    let dir = tempdir("rtscope-sampling-seed");
    let run = |name: &str, seed: u64| {
        let out = dir.join(format!("{name}.pb.gz"));
        let (_, _, file) = workload(
            &dir,
            name,
            &["scopes", out.to_str().unwrap()],
            &[("RTSCOPE_SAMPLING_SEED", seed.to_string())],
        );
        let raised = one(&file, "rtscope.sampling.raised") > 0.0;
        let samples = one(&file, "rtscope.sampling.samples");
        let mut est = last_points(&file, "rust.memory.sampled.allocated");
        est.sort_by(|a, b| a.0.cmp(&b.0));
        let profile: Vec<Vec<String>> = ["alloc_space", "alloc_objects", "inuse_space"]
            .iter()
            .map(|i| pprof_rows(&out, i, &dir).unwrap())
            .collect();
        (raised, samples, est, profile)
    };
    let a = run("a", 7);
    let b = run("b", 7);
    if a.0 || b.0 {
        // The interval moved with the clock: the one case a seed cannot reproduce.
        eprintln!("the CPU budget raised the interval in a run: nothing to compare");
        return;
    }
    assert!(a.1 > 200.0, "{} samples", a.1);
    assert_eq!(a.1, b.1, "samples taken");
    assert_eq!(a.2, b.2, "per-scope estimates");
    for (x, y) in a.3.iter().zip(&b.3) {
        assert_eq!(x, y, "profiles of two runs with seed 7");
    }
    assert!(
        a.3[0].iter().any(|l| l.contains("profile_workload::churn")),
        "{:?}",
        a.3[0]
    );
    assert!(
        a.3[2]
            .iter()
            .any(|l| l.contains("profile_workload::hold_eight")),
        "{:?}",
        a.3[2]
    );
    let c = run("c", 8);
    assert!(
        !c.0 && c.2 != a.2,
        "seeds 7 and 8 sampled the same: {:?}",
        c.2
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// 200 000 blocks of 96 B held with every allocation sampled (`RTSCOPE_SAMPLING_INTERVAL=1`:
/// the arena keeps 32 768 of one size, so most are past it): the profile's in-use total, as
/// `go tool pprof` reads it, is what is held (before issue 20 it showed about 35 000 objects
/// and 3.4 MB of 200 000 and 19 MB), through an explicit `[in use, untracked]` entry.
#[test]
fn in_use_blocks_past_the_tables_show_as_an_untracked_entry() {
    if !go() {
        eprintln!("skipped: `go` is not installed (run scripts/install-collector.sh)");
        return;
    }
    let dir = tempdir("rtscope-untracked");
    let out = dir.join("untracked.pb.gz");
    let (stdout, stderr, _) = workload(
        &dir,
        "untracked",
        &["untracked", "200000", out.to_str().unwrap()],
        &[
            ("RTSCOPE_SAMPLING_INTERVAL", "1".to_owned()),
            ("RTSCOPE_SUMMARY", "on".to_owned()),
        ],
    );
    let held: f64 = stdout
        .split_whitespace()
        .nth(1)
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("{stdout}"));
    let rows = pprof_rows(&out, "inuse_space", &dir).unwrap();
    let cum = |function: &str| -> f64 {
        rows.iter()
            .filter(|l| l.contains(function))
            .filter_map(|l| {
                l.split_whitespace()
                    .nth(3)?
                    .trim_end_matches('B')
                    .parse()
                    .ok()
            })
            .fold(0.0, f64::max)
    };
    let (tracked, untracked) = (
        cum("profile_workload::hold_small"),
        cum("[in use, untracked]"),
    );
    eprintln!("held {held} B: tracked {tracked} B, untracked {untracked} B");
    // The holder's own vector (200 000 pointers, 3.2 MB, tracked by address) is in `tracked`.
    let vector = 16.0 * 200_000.0;
    assert!(
        (tracked + untracked - held - vector).abs() <= 0.01 * held,
        "in use {tracked} + {untracked} B against {held} B held: {rows:#?}"
    );
    assert!(untracked >= 0.8 * (held - 32768.0 * 96.0), "{rows:#?}");
    let objects = pprof_rows(&out, "inuse_objects", &dir).unwrap();
    assert!(
        objects.iter().any(|l| l.contains("[in use, untracked]")),
        "{objects:#?}"
    );
    // And in the exit summary (the blocks are still held there).
    let line = stderr
        .lines()
        .find(|l| l.contains("heap profile:"))
        .unwrap_or_else(|| panic!("no heap profile line: {stderr}"));
    assert!(
        line.contains("[in use, untracked] ") && line.contains("samples past the in-use tables"),
        "{line}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
