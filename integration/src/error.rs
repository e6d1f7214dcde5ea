//! What can go wrong while setting up the collector or running a binary.

use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// An error of the test harness; each message says how to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The collector venv does not exist.
    #[error(
        "no collector venv at {venv}: run `bash scripts/install-collector.sh` \
         (or point {env} at a venv it made)",
        env = crate::VENV_ENV
    )]
    VenvMissing {
        /// Where the venv was looked for.
        venv: PathBuf,
    },
    /// The venv exists but holds no rotel-agent binary.
    #[error(
        "no rotel-agent under {venv}/lib/python3*/site-packages/rotel: \
         run `bash scripts/install-collector.sh` to (re)install it"
    )]
    RotelMissing {
        /// The venv that was searched.
        venv: PathBuf,
    },
    /// An I/O operation of the harness failed.
    #[error("{what}: {source}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A child process did not accept connections in time.
    #[error("{what} did not accept connections within {waited:?}; its log:\n{log}")]
    NotReady {
        /// Which process.
        what: &'static str,
        /// How long the harness waited.
        waited: Duration,
        /// The process's output so far.
        log: String,
    },
    /// A child process exited while the harness waited for it.
    #[error("{what} exited early ({status}); its log:\n{log}")]
    Exited {
        /// Which process.
        what: &'static str,
        /// Its exit status.
        status: ExitStatus,
        /// The process's output.
        log: String,
    },
    /// A workspace binary has not been built.
    #[error(
        "binary `{name}` not found at {path}: build it with the tests' profile first \
         (`cargo build --workspace --bins`, add `--release` for release tests), \
         or run the tests with `cargo test --workspace`, which builds every bin"
    )]
    BinaryMissing {
        /// The binary's name.
        name: String,
        /// Where it was expected.
        path: PathBuf,
    },
}

impl Error {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}
