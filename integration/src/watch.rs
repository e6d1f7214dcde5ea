//! Watching a child's life from outside: when it printed a marker line, when it exited, and
//! how many threads it had at most (`/proc/<pid>/task`), for tests of how a program under
//! the agent ends. Also builds `LD_PRELOAD` shims from C source with the system `cc`.

use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::Error;
use crate::process::spawn_tied;

const POLL: Duration = Duration::from_millis(5);

/// What [`run_watched`] saw.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct WatchedRun {
    /// The exit status; `None` when the run timed out and the child was killed.
    pub status: Option<ExitStatus>,
    /// Everything the child wrote to stdout (lossy UTF-8).
    pub stdout: String,
    /// Everything the child wrote to stderr (lossy UTF-8).
    pub stderr: String,
    /// Whether the timeout expired and the child was SIGKILLed.
    pub timed_out: bool,
    /// The most threads `/proc/<pid>/task` listed at one poll (every 5 ms).
    pub max_threads: usize,
    /// From the first stdout line starting with the marker to the exit (or the kill);
    /// `None` if no such line came.
    pub exit_after_marker: Option<Duration>,
}

impl WatchedRun {
    /// Whether the child exited by itself with status 0.
    pub fn success(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|s| s.success())
    }
}

/// Runs `cmd` (stdin closed, output captured) until it exits or `timeout` passes (then it
/// is SIGKILLed), polling its thread count and timing its exit from the first stdout line
/// that starts with `marker`.
///
/// # Errors
///
/// If the command cannot be spawned or waited for.
pub fn run_watched(mut cmd: Command, marker: &str, timeout: Duration) -> Result<WatchedRun, Error> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = spawn_tied(cmd).map_err(|e| Error::io(format!("spawn {program}"), e))?;
    let tasks = PathBuf::from(format!("/proc/{}/task", child.id()));
    let (marker_tx, marker_rx) = mpsc::channel();
    let stdout = child.stdout.take().map(|pipe| {
        let marker = marker.to_owned();
        thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if line.starts_with(&marker) {
                    let _ = marker_tx.send(Instant::now());
                }
                text.push_str(&line);
                text.push('\n');
            }
            text
        })
    });
    let stderr = child.stderr.take().map(|mut pipe| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    });
    let mut max_threads = 0;
    let status = crate::process::wait_until(&mut child, start + timeout, POLL, || {
        max_threads = max_threads.max(count_entries(&tasks));
    })
    .map_err(|e| Error::io(format!("wait for {program}"), e))?;
    let timed_out = status.is_none();
    let ended = Instant::now();
    let join =
        |h: Option<thread::JoinHandle<String>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
    // Read after the reader thread is done: a child that prints the marker and exits at once
    // can be reaped before its last line is read (then the exit took no measurable time).
    let stdout = join(stdout);
    let exit_after_marker = marker_rx
        .try_recv()
        .ok()
        .map(|at| ended.saturating_duration_since(at));
    Ok(WatchedRun {
        status,
        stdout,
        stderr: join(stderr),
        timed_out,
        max_threads,
        exit_after_marker,
    })
}

fn count_entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.count())
}

/// Compiles C `source` into a shared object named `lib<name>.so` in a fresh directory under
/// the temp dir (with `cc -shared -fPIC`), for `LD_PRELOAD`. Returns its path.
///
/// # Errors
///
/// If `cc` cannot be run or fails (its output is in the message).
pub fn build_preload(name: &str, source: &str) -> Result<PathBuf, Error> {
    let dir = std::env::temp_dir().join(format!("rtscope-preload-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
    let c = dir.join(format!("{name}.c"));
    let so = dir.join(format!("lib{name}.so"));
    std::fs::write(&c, source).map_err(|e| Error::io(format!("write {}", c.display()), e))?;
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&so)
        .arg(&c)
        .output()
        .map_err(|e| Error::io("run cc (install a C compiler)", e))?;
    if !out.status.success() {
        return Err(Error::io(
            format!(
                "cc {}: {}",
                c.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            io::Error::other("compilation failed"),
        ));
    }
    Ok(so)
}
