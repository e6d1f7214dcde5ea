#!/usr/bin/env bash
# Every test of the workspace. Installs what the tests need first (the real OpenTelemetry
# collector the integration tests run, into ./.venv), so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-collector.sh
# Integration tests run the example binaries as child processes: build them in the test profile.
cargo build --workspace --bins --all-features
cargo test --workspace --all-features
# The async-main-without-tokio compile error, which only exists without the feature.
cargo test -p rtscope --test macros
# The portable code of agent/src/sys, compiled on Linux so it cannot rot, warnings denied:
# the library and its tests as macOS and the BSDs run it (POSIX calls, no /proc), then
# compiled only as Windows runs it ("bare": no POSIX calls either).
RUSTFLAGS="--cfg rtscope_fallback -D warnings" cargo test -p rtscope --all-features --lib --target-dir target/fallback
RUSTFLAGS="--cfg rtscope_fallback -D warnings" cargo build -p rtscope --all-features --lib --target-dir target/fallback
RUSTFLAGS='--cfg rtscope_fallback="bare" -D warnings' cargo check -p rtscope --all-features --lib --tests --target-dir target/fallback-bare
