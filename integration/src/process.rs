//! Child processes for tests: tied to the test process's life, run with a
//! bounded timeout, and located in cargo's target directory.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::Error;

type SpawnRequest = (Command, mpsc::Sender<io::Result<Child>>);

static SPAWNER: OnceLock<mpsc::Sender<SpawnRequest>> = OnceLock::new();

/// Spawns `cmd` so that the kernel SIGKILLs the child when the test process
/// exits, even if nothing drops its handle (a `static` collector, a test
/// binary killed by a timeout).
///
/// `PR_SET_PDEATHSIG` fires when the *thread* that forked the child exits, and
/// test threads end after each test, so every child is forked by one spawner
/// thread that lives as long as the process.
pub(crate) fn spawn_tied(cmd: Command) -> io::Result<Child> {
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        thread::Builder::new()
            .name("rtscope-integration-spawner".into())
            .spawn(move || {
                // The static keeps a sender alive, so this loop never ends.
                for (mut cmd, reply) in rx {
                    let _ = reply.send(spawn_with_deathsig(&mut cmd));
                }
            })
            .expect("cannot start the process spawner thread");
        tx
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    let gone = || io::Error::other("the process spawner thread is gone");
    spawner.send((cmd, reply_tx)).map_err(|_| gone())?;
    reply_rx.recv().map_err(|_| gone())?
}

fn spawn_with_deathsig(cmd: &mut Command) -> io::Result<Child> {
    let parent = libc::pid_t::try_from(std::process::id()).unwrap_or(0);
    let hook = move || {
        // SAFETY: prctl with PR_SET_PDEATHSIG takes plain integers and is
        // async-signal-safe; it only changes this (child) process's state.
        let rc = unsafe {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
                0 as libc::c_ulong,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: getppid is async-signal-safe and cannot fail.
        if unsafe { libc::getppid() } != parent {
            // The test process died before prctl took effect. (No allocation
            // here: this runs between fork and exec.)
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec; it only makes
    // async-signal-safe system calls and neither allocates nor takes locks
    // (OS-error io::Errors are a bare errno, no allocation).
    unsafe { cmd.pre_exec(hook) };
    cmd.spawn()
}

/// What a bounded run of a child process produced.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RunOutput {
    /// The exit status; `None` when the run timed out and the child was killed.
    pub status: Option<ExitStatus>,
    /// Everything the child wrote to stdout (lossy UTF-8).
    pub stdout: String,
    /// Everything the child wrote to stderr (lossy UTF-8).
    pub stderr: String,
    /// Whether the timeout expired and the child was SIGKILLed.
    pub timed_out: bool,
    /// Wall time from spawn to exit (or to the kill).
    pub elapsed: Duration,
}

impl RunOutput {
    /// Whether the child exited by itself with status 0.
    pub fn success(&self) -> bool {
        !self.timed_out && self.status.is_some_and(|s| s.success())
    }
}

/// Runs `cmd` with stdin closed and stdout/stderr captured; if it has not
/// exited after `timeout` it is SIGKILLed and `timed_out` is set.
///
/// The child is killed as well if the test process dies. Output is collected
/// by reader threads; if a grandchild keeps the pipes open after the child
/// exited, the run waits at most one more second for them.
///
/// # Errors
///
/// If the command cannot be spawned or waited for. A non-zero exit or a
/// timeout is not an error: see [`RunOutput`].
pub fn run_bounded(mut cmd: Command, timeout: Duration) -> Result<RunOutput, Error> {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = spawn_tied(cmd).map_err(|e| Error::io(format!("spawn {program}"), e))?;
    let stdout = read_in_thread(child.stdout.take());
    let stderr = read_in_thread(child.stderr.take());

    let status = wait_until(&mut child, start + timeout, POLL, || {})
        .map_err(|e| Error::io(format!("wait for {program}"), e))?;
    let timed_out = status.is_none();
    let elapsed = start.elapsed();
    let grace = Duration::from_secs(1);
    Ok(RunOutput {
        status,
        stdout: stdout.recv_timeout(grace).unwrap_or_default(),
        stderr: stderr.recv_timeout(grace).unwrap_or_default(),
        timed_out,
        elapsed,
    })
}

/// How often a waiting loop checks whether its child exited.
pub(crate) const POLL: Duration = Duration::from_millis(5);

/// Waits for `child` to exit until `deadline`, calling `each` before every check and
/// sleeping `poll` between checks. `None`: the deadline passed, and the child was killed
/// and reaped.
pub(crate) fn wait_until(
    child: &mut Child,
    deadline: Instant,
    poll: Duration,
    mut each: impl FnMut(),
) -> io::Result<Option<ExitStatus>> {
    loop {
        each();
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(None);
        }
        thread::sleep(poll);
    }
}

fn read_in_thread(pipe: Option<impl Read + Send + 'static>) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    if let Some(mut pipe) = pipe {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        });
    } else {
        let _ = tx.send(String::new());
    }
    rx
}

/// Runs the workspace binary `name` (see [`cargo_bin`]) with extra
/// environment variables, bounded by `timeout`.
///
/// # Panics
///
/// If the binary is not built or cannot be spawned; the message says what
/// to build.
pub fn run_bin(name: &str, env: &[(&str, &str)], timeout: Duration) -> RunOutput {
    let mut cmd = Command::new(cargo_bin(name));
    cmd.envs(env.iter().copied());
    run_bounded(cmd, timeout).unwrap_or_else(|e| panic!("{e}"))
}

/// The path of the workspace binary `name` built with the same profile as
/// the running test: `target/<profile>/<name>`.
///
/// Cargo sets `CARGO_BIN_EXE_<name>` only for the bins of the test's own
/// package, so this derives the directory from the test executable instead
/// (`target/<profile>/deps/<test>-<hash>`), which also follows
/// `CARGO_TARGET_DIR` and `--release`.
///
/// Cargo builds the bins of a package only when that package is built:
/// `cargo test --workspace` does; with `cargo test -p rtscope-integration`
/// run `cargo build --workspace --bins` (same profile) first.
///
/// # Panics
///
/// If the binary does not exist; the message says how to build it.
pub fn cargo_bin(name: &str) -> PathBuf {
    try_cargo_bin(name).unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`cargo_bin`], as a `Result`.
///
/// # Errors
///
/// [`Error::BinaryMissing`] if it is not built.
pub fn try_cargo_bin(name: &str) -> Result<PathBuf, Error> {
    let dir = target_profile_dir()?;
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        Ok(path)
    } else {
        Err(Error::BinaryMissing {
            name: name.to_owned(),
            path,
        })
    }
}

/// `target/<profile>`, derived from the running executable's path.
///
/// # Errors
///
/// If the running executable's path cannot be read.
pub fn target_profile_dir() -> Result<PathBuf, Error> {
    let exe = std::env::current_exe().map_err(|e| Error::io("locate the test executable", e))?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    // Tests and benches run from `deps/`, examples from `examples/`.
    if dir
        .file_name()
        .is_some_and(|n| n == "deps" || n == "examples")
    {
        dir.pop();
    }
    Ok(dir)
}

/// Asserts `text` (a child's output) holds no terminal escape, carriage return or other
/// control character but newlines: what came from outside was escaped.
pub fn assert_no_control_chars(text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(bad.is_empty(), "control characters {bad:?} in: {text}");
}

/// The JSON after `prefix` on the first line of `stdout` that starts with it (the `SNAPSHOT`
/// and `LOOP` lines the test children print). Panics, naming the prefix and the output, when
/// there is no such line or it is not JSON: a test helper.
pub fn json_line(stdout: &str, prefix: &str) -> serde_json::Value {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} line in {stdout:?}"));
    serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("{prefix:?} line is not JSON ({e}): {line}"))
}
