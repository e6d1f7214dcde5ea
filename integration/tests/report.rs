//! The `rtscope` command on the demo's file. `rtscope summary` says what the demo's exit
//! summary said. The report page in a real browser: `rtscope report` turns the file into
//! HTML, and headless Chromium (Debian's `chromium`) loads it from the file:
//! the DOM dump shows every chart drawn at a non-zero size and no script error, Chromium
//! logs no console message (a blocked network request would be one), and a screenshot is
//! taken. A missing Chromium skips the test, except under `CI=true`.

use rtscope_integration::{TempDir, assert_no_control_chars, cargo_bin, run_bounded, tool};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The exit summary's last line, when it names the report command (the demo adds one line
/// of its own after the summary: how to install the command).
fn report_line(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    let at = lines.iter().rposition(|l| l.starts_with("  agent: "))?;
    lines.get(at + 1).map(|l| (*l).to_owned())
}

/// Runs the demo for 2 s writing `file`; its stderr.
fn demo(dir: &TempDir, file: &Path) -> String {
    let mut demo = Command::new(cargo_bin("demo"));
    demo.arg("2")
        .env("RTSCOPE_FILE", file)
        .current_dir(dir.path());
    let out = run_bounded(demo, Duration::from_secs(60)).unwrap();
    assert!(out.success(), "demo: {out:?}");
    out.stderr
}

/// The line of `text` that starts with `prefix`.
fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in:\n{text}"))
}

#[test]
fn rtscope_summary_says_what_the_exit_summary_said() {
    let dir = TempDir::new("summary");
    let jsonl = dir.path().join("demo.jsonl");
    let exit = demo(&dir, &jsonl);
    let mut summary = Command::new(cargo_bin("rtscope"));
    summary.arg("summary").arg(&jsonl);
    let out = run_bounded(summary, Duration::from_secs(60)).unwrap();
    assert!(out.success(), "rtscope summary: {out:?}");
    assert_no_control_chars(&out.stdout);
    let file = out.stdout;
    assert!(
        file.starts_with("rtscope summary of rtscope-demo (process "),
        "{file}"
    );
    // The same figures in the same words: the heap (up to the resident size, read at another
    // moment), pools, timers, the first spike's headline, the sampled scopes, the exports.
    for (prefix, end) in [
        ("  heap: ", "; resident"),
        ("  pools: ", "\n"),
        ("  timers: ", "\n"),
    ] {
        assert_eq!(
            upto(line(&file, prefix), end),
            upto(line(&exit, prefix), end),
            "exit summary:\n{exit}\nrtscope summary:\n{file}"
        );
    }
    // The exit summary adds each class's live bytes, which the file does not carry.
    let classes = line(&exit, "  size classes by allocations: ");
    let without_live: String = classes
        .split(" (")
        .map(|part| part.split_once(" live)").map_or(part, |(_, rest)| rest))
        .collect();
    assert_eq!(
        line(&file, "  size classes by allocations: "),
        without_live,
        "{exit}\n{file}"
    );
    assert_eq!(scopes(&file), scopes(&exit), "{exit}\n{file}");
    assert_eq!(exports(&file), exports(&exit), "{exit}\n{file}");
    if exit.contains("  spikes: ") {
        assert_eq!(line(&file, "  spikes: "), line(&exit, "  spikes: "));
        assert_eq!(headline(&file), headline(&exit), "{exit}\n{file}");
        assert!(headline(&exit).starts_with("    spike in "), "{exit}");
    }
    // Every sampled block of the demo is freed before it exits: nothing held, said so.
    assert!(
        line(&exit, "  heap profile: ").starts_with(
            "  heap profile: in use by stack (top 3): nothing held at exit; allocated most: "
        ),
        "{exit}"
    );
}

/// `l` up to `end`.
fn upto<'a>(l: &'a str, end: &str) -> &'a str {
    l.split(end).next().unwrap_or(l)
}

/// The scopes of the sampling line.
fn scopes(text: &str) -> Option<&str> {
    line(text, "  sampling: ")
        .split("; estimated bytes by scope: ")
        .nth(1)
}

/// The number of exports of the data line (`  data: 3 exports ...`).
fn exports(text: &str) -> &str {
    line(text, "  data: ").split(' ').nth(3).unwrap_or("")
}

/// The first line of the first spike's sentence, under the spikes line.
fn headline(text: &str) -> &str {
    text.lines()
        .skip_while(|l| !l.starts_with("  spikes: "))
        .nth(1)
        .unwrap_or("")
}

/// Chromium headless with a fresh profile, nothing of its own fetched.
fn chromium(binary: &Path, profile: &Path) -> Command {
    let mut cmd = Command::new(binary);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    cmd
}

/// The value of attribute `name` in the first tag of `dom` that contains `marker`.
fn attribute<'a>(dom: &'a str, marker: &str, name: &str) -> Option<&'a str> {
    let at = dom.find(marker)?;
    let tag_start = dom[..=at].rfind('<')?;
    let tag = &dom[tag_start..tag_start + dom[tag_start..].find('>')?];
    let value = tag.split(&format!(" {name}=\"")).nth(1)?;
    value.split('"').next()
}

#[test]
fn the_demo_report_renders_its_charts_in_chromium() {
    let Some(browser) = tool("chromium") else {
        return;
    };
    let dir = TempDir::new("report");
    let jsonl = dir.path().join("demo.jsonl");
    let stderr = demo(&dir, &jsonl);
    // The exit summary ends with the way to the page.
    assert_eq!(
        report_line(&stderr),
        Some(format!(
            "  report: rtscope report {} > rtscope-report.html",
            jsonl.display()
        )),
        "{stderr}"
    );
    let html = dir.path().join("report.html");
    let mut report = Command::new("sh");
    report
        .arg("-c")
        .arg("exec \"$0\" report \"$1\" > \"$2\"")
        .arg(cargo_bin("rtscope"))
        .arg(&jsonl)
        .arg(&html);
    let out = run_bounded(report, Duration::from_secs(60)).unwrap();
    assert!(out.success(), "report: {out:?}");
    assert_no_control_chars(&out.stderr);
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<title>rtscope report: rtscope-demo</title>"));

    let url = format!("file://{}", html.display());
    let mut dump = chromium(&browser, &dir.path().join("profile-dom"));
    dump.arg("--dump-dom").arg(&url);
    let out = run_bounded(dump, Duration::from_secs(90)).unwrap();
    assert!(out.success(), "chromium --dump-dom: {out:?}");
    let dom = out.stdout;
    let console: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .collect();
    assert!(console.is_empty(), "console messages: {console:?}");
    assert_eq!(
        attribute(&dom, "<body", "data-errors"),
        Some(""),
        "{dom:.400}"
    );
    let charts: usize = attribute(&dom, "<body", "data-charts")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let drawn: usize = attribute(&dom, "<body", "data-drawn")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        charts >= 7 && drawn == charts,
        "{drawn} of {charts} charts drawn"
    );
    // What the demo always produces: each chart there, drawn at a non-zero size.
    for id in [
        "chart-heap",
        "chart-classes",
        "chart-lateness",
        "chart-schedule-thread",
        "chart-latency-request",
        "chart-pools",
        "chart-scopes",
        "chart-stacks-allocated",
    ] {
        let size = attribute(&dom, &format!("id=\"{id}\""), "data-drawn")
            .unwrap_or_else(|| panic!("no {id} in the DOM"));
        let (w, h) = size.split_once('x').unwrap();
        let (w, h): (u32, u32) = (w.parse().unwrap(), h.parse().unwrap());
        assert!(w > 0 && h > 0, "{id} drawn at {size}");
        // Each chart has marks in it.
        let at = dom.find(&format!("id=\"{id}\"")).unwrap();
        let svg = &dom[at..at + dom[at..].find("</svg>").unwrap()];
        assert!(
            svg.contains("<rect") || svg.contains("<polyline"),
            "{id} has no bars or lines"
        );
    }

    let shot = dir.path().join("report.png");
    let mut screenshot = chromium(&browser, &dir.path().join("profile-shot"));
    screenshot
        .arg("--window-size=900,3000")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url);
    let out = run_bounded(screenshot, Duration::from_secs(90)).unwrap();
    assert!(out.success(), "chromium --screenshot: {out:?}");
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // A blank 900x3000 page compresses to a few KB; charts and text make it far larger.
    assert!(png.len() > 50_000, "screenshot of {} bytes", png.len());
    if let Ok(keep) = std::env::var("RTSCOPE_REPORT_SCREENSHOT") {
        let _ = std::fs::copy(&shot, keep);
    }
}
