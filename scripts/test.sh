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
# The portable code of agent/src/sys (what macOS, the BSDs and Windows run), compiled and
# tested on Linux so it cannot rot: lib tests and the library itself, warnings denied.
RUSTFLAGS="--cfg rtscope_fallback -D warnings" cargo test -p rtscope --all-features --lib --target-dir target/fallback
RUSTFLAGS="--cfg rtscope_fallback -D warnings" cargo build -p rtscope --all-features --lib --target-dir target/fallback
