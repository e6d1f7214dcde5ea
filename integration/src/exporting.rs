//! The run most export tests make: a child exporting to a [`Collector`] every 200 ms.

use crate::{Collector, RunOutput, run_bounded};
use std::ffi::OsStr;
use std::process::Command;
use std::time::Duration;

/// Runs `program` with `OTEL_EXPORTER_OTLP_ENDPOINT` set to `c`'s OTLP/HTTP endpoint,
/// `OTEL_METRIC_EXPORT_INTERVAL=200` and `RTSCOPE_SUMMARY=off`, then `env` (which may
/// override them), bounded by 60 s.
///
/// # Panics
///
/// Unless it exits successfully (the message holds its output).
pub fn run_exporting(program: impl AsRef<OsStr>, c: &Collector, env: &[(&str, &str)]) -> RunOutput {
    let mut cmd = Command::new(program);
    cmd.env("OTEL_EXPORTER_OTLP_ENDPOINT", c.http_endpoint())
        .env("OTEL_METRIC_EXPORT_INTERVAL", "200")
        .env("RTSCOPE_SUMMARY", "off");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run_bounded(cmd, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));
    assert!(out.success(), "{out:?}");
    out
}
