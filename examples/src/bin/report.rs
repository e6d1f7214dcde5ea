//! Turns an rtscope OTLP/JSON-lines file into one self-contained HTML page (inline SVG
//! charts, no network at view time) on stdout.
//!
//! ```text
//! cargo run -p rtscope-examples --bin report -- [FILE.jsonl ...] > rtscope-report.html
//! ```
//!
//! Without a file it reads `./rtscope-otlp.jsonl`; the rotated predecessor `FILE.1` is read
//! first when it exists. The page shows the last process that wrote to the file.

use std::io::{BufReader, Write};
use std::path::PathBuf;

fn main() {
    let mut files: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if files.iter().any(|f| f == "-h" || f == "--help") {
        println!("usage: report [FILE.jsonl ...] > rtscope-report.html");
        return;
    }
    if files.is_empty() {
        files.push(PathBuf::from("./rtscope-otlp.jsonl"));
    }
    let mut inputs: Vec<Box<dyn std::io::BufRead>> = Vec::new();
    let mut names = Vec::new();
    for file in &files {
        let mut rotated = file.clone().into_os_string();
        rotated.push(".1");
        let rotated = PathBuf::from(rotated);
        for path in [rotated.as_path(), file.as_path()] {
            match std::fs::File::open(path) {
                Ok(f) => {
                    inputs.push(Box::new(BufReader::new(f)));
                    names.push(path.display().to_string());
                }
                Err(_) if path == rotated => {}
                Err(e) => {
                    eprintln!(
                        "report: cannot read {}: {e} (write rtscope's file with RTSCOPE_FILE, \
                         default ./rtscope-otlp.jsonl)",
                        rtscope_examples::report::esc(&path.display().to_string())
                    );
                    std::process::exit(1);
                }
            }
        }
    }
    let run = rtscope_examples::report::read(inputs);
    let page = rtscope_examples::report::page(&run, &names);
    let mut out = std::io::stdout().lock();
    if out
        .write_all(page.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(1);
    }
    eprintln!(
        "report: {} charts of {} ({} bytes)",
        page.matches("<svg class=\"chart\"").count(),
        if run.service.is_empty() {
            "?"
        } else {
            &run.service
        },
        page.len()
    );
}
