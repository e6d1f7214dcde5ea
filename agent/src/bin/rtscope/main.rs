//! `rtscope`: the command that goes with the agent (feature `cli`).
//!
//! ```text
//! cargo install rtscope --no-default-features --features cli   # or --path agent
//! rtscope report [FILE.jsonl ...] > rtscope-report.html
//! rtscope summary [FILE.jsonl ...]
//! rtscope top [URL]
//! ```
//!
//! `report` and `summary` read the OTLP/JSON-lines file the agent writes when no collector is
//! configured (`./rtscope-otlp.jsonl` by default, its rotated predecessor `FILE.1` first);
//! `top` reads a running service's `/metrics` (the `export-prometheus` listener,
//! `OTEL_METRICS_EXPORTER=prometheus`) every second. It uses rtscope's public names only:
//! nothing here runs inside an application.

mod report;
mod summary;
mod top;

use std::ffi::OsString;
use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "\
usage: rtscope COMMAND [ARGS]

  rtscope report [FILE.jsonl ...] > rtscope-report.html
      one self-contained HTML page (charts, spikes, top scopes and stacks) of the last
      process that wrote the file
  rtscope summary [FILE.jsonl ...]
      the exit summary of that process, recomputed from the file
  rtscope top [URL]
      a live view of a running service: its /metrics (OTEL_METRICS_EXPORTER=prometheus),
      read every second; default http://localhost:9464/metrics

FILE defaults to ./rtscope-otlp.jsonl (RTSCOPE_FILE of the service); FILE.1, the rotated
predecessor, is read first when it exists.
";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(command) = args.next() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest: Vec<OsString> = args.collect();
    if rest.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    match command.to_str() {
        Some("report") => report(&rest),
        Some("summary") => summary(&rest),
        Some("top") => top(&rest),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("-V" | "--version") => {
            println!("rtscope {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => {
            eprint!(
                "rtscope: unknown command {} (use report, summary or top)\n\n{USAGE}",
                shown(&command.to_string_lossy())
            );
            ExitCode::from(2)
        }
    }
}

fn report(args: &[OsString]) -> ExitCode {
    let (inputs, names) = match open(args) {
        Ok(opened) => opened,
        Err(line) => return fail(&line),
    };
    let run = report::read(inputs);
    let page = report::page(&run, &names);
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(page.as_bytes()).and_then(|()| out.flush()) {
        return fail(&format!("rtscope report: cannot write the page: {e}"));
    }
    eprintln!(
        "rtscope report: {} charts of {} ({} bytes)",
        page.matches("<svg class=\"chart\"").count(),
        if run.service.is_empty() {
            "?".to_owned()
        } else {
            shown(&run.service)
        },
        page.len()
    );
    ExitCode::SUCCESS
}

fn summary(args: &[OsString]) -> ExitCode {
    let (inputs, names) = match open(args) {
        Ok(opened) => opened,
        Err(line) => return fail(&line),
    };
    let run = report::read(inputs);
    print!("{}", summary::render(&run, &names));
    ExitCode::SUCCESS
}

fn top(args: &[OsString]) -> ExitCode {
    let url = match args {
        [] => top::DEFAULT_URL.to_owned(),
        [url] => url.to_string_lossy().into_owned(),
        _ => return usage("rtscope top takes one URL"),
    };
    match top::run(&url) {
        Ok(()) => ExitCode::SUCCESS,
        Err(line) => fail(&line),
    }
}

type Inputs = (Vec<Box<dyn std::io::BufRead>>, Vec<String>);

/// The files named (default `./rtscope-otlp.jsonl`), each after its rotated predecessor
/// `FILE.1` when that exists, with their names as shown (escaped).
fn open(args: &[OsString]) -> Result<Inputs, String> {
    if let Some(option) = args.iter().find(|a| a.to_string_lossy().starts_with('-')) {
        return Err(format!(
            "rtscope: unknown option {} (the arguments are files)",
            shown(&option.to_string_lossy())
        ));
    }
    let mut files: Vec<PathBuf> = args.iter().map(PathBuf::from).collect();
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
                    names.push(shown(&path.display().to_string()));
                }
                Err(_) if path == rotated => {}
                Err(e) => {
                    return Err(format!(
                        "rtscope: cannot read {}: {e} (the agent writes its file to RTSCOPE_FILE, \
                         default ./rtscope-otlp.jsonl, when no collector is configured)",
                        shown(&path.display().to_string())
                    ));
                }
            }
        }
    }
    Ok((inputs, names))
}

fn fail(line: &str) -> ExitCode {
    eprintln!("{line}");
    ExitCode::from(1)
}

fn usage(line: &str) -> ExitCode {
    eprint!("rtscope: {line}\n\n{USAGE}");
    ExitCode::from(2)
}

/// Text from outside (a file name, a service name) safe on a terminal: control characters
/// escaped, at most 200 characters.
fn shown(text: &str) -> String {
    shown_at_most(text, 200)
}

/// [`shown`] with room for `max` characters (a spike sentence's line).
fn shown_at_most(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_outside_cannot_drive_the_terminal() {
        assert_eq!(shown("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\n");
        assert_eq!(shown(&"x".repeat(300)).chars().count(), 201);
    }

    #[test]
    fn a_missing_file_is_one_line_naming_the_variable() {
        let err = match open(&["/nonexistent/rtscope\u{7}.jsonl".into()]) {
            Err(e) => e,
            Ok(_) => panic!("opened a missing file"),
        };
        assert!(
            err.starts_with("rtscope: cannot read /nonexistent/rtscope\\u{7}.jsonl: "),
            "{err}"
        );
        assert!(err.contains("RTSCOPE_FILE"), "{err}");
        assert!(!err.contains('\n'));
    }
}
