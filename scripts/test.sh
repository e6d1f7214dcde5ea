#!/usr/bin/env bash
# Every test of the workspace. Installs what the tests need first (the real OpenTelemetry
# collector the integration tests run, into ./.venv), so it works on a fresh machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# On CI (CI=true) a build kind's target directory goes once its last step has run, so the
# disk holds about one kind at a time (the main one takes about 6 GB).
done_with() { if [ "${CI:-}" = true ]; then rm -rf "$@"; fi; }
bash scripts/install-collector.sh
# Integration tests run the example binaries as child processes: build them in the test profile.
cargo build --workspace --bins --all-features
# tokio's unstable runtime histograms (agent/src/sched/runtime.rs), as a `--cfg tokio_unstable`
# build of the application gives them: unit tests, and the workload that
# integration/tests/tokio_histograms.rs runs against the collector (built before the tests).
RUSTFLAGS="--cfg tokio_unstable -D warnings" cargo test -p rtscope --no-default-features --features tokio,export-file,tracing --lib runtime --target-dir target/tokio-unstable
RUSTFLAGS="--cfg tokio_unstable -D warnings" cargo build -p rtscope-integration --bin tokio_histograms --target-dir target/tokio-unstable
# Among them the loom models of the lock-free structures (agent/tests/loom_*.rs: the shard
# registry, the name interner, the pools' cache cells; every interleaving up to
# LOOM_MAX_PREEMPTIONS preemptions, 3 unless set, well under a second in all) and the property
# tests (proptest; PROPTEST_CASES cases each, 256 unless set).
cargo test --workspace --all-features
done_with target/tokio-unstable
# Miri over the unsafe units at unit level (the shard registry, the counters built on it, the
# name interner, the pools and their cache cells): undefined behaviour, leaks and data races in
# their unit tests, real threads included. Miri needs a nightly toolchain: its components are
# added to the nightly there is (nightly itself installed if absent). The core build
# (--no-default-features): with `profiles` a thread's first shard claim reserves the profile
# arena with an mmap miri does not support (MAP_NORESERVE).
if rustup toolchain list | grep -q '^nightly'; then
    rustup component add --toolchain nightly miri rust-src
else
    rustup toolchain install nightly --profile minimal --component miri,rust-src
fi
cargo +nightly miri test -p rtscope --no-default-features --lib -- \
    base::registry:: base::counters:: names:: pool::
done_with target/miri
# The async-main-without-tokio compile error, which only exists without the feature.
cargo test -p rtscope --test macros
# The portable code of agent/src/sys, compiled on Linux so it cannot rot, warnings denied:
# the library and its tests as macOS and the BSDs run it (POSIX calls, no /proc), then
# compiled only as Windows runs it ("bare": no POSIX calls either).
RUSTFLAGS="--cfg rtscope_fallback -D warnings" cargo test -p rtscope --all-features --lib --target-dir target/fallback
RUSTFLAGS="--cfg rtscope_fallback -D warnings" cargo build -p rtscope --all-features --lib --target-dir target/fallback
RUSTFLAGS='--cfg rtscope_fallback="bare" -D warnings' cargo check -p rtscope --all-features --lib --tests --target-dir target/fallback-bare
done_with target/fallback target/fallback-bare
# Each feature builds on its own (see "Feature flags" in agent/src/lib.rs); the core alone
# depends on nothing but libc, crossbeam-queue and once_cell. `cli` is the `rtscope` command
# (a bin: `--bins` checks it where its feature is on), as `cargo install --features cli` builds it.
for features in "" tokio tracing export-file export-http export-grpc export-prometheus tls opentelemetry tracing-opentelemetry profiles jemalloc mimalloc cli; do
    cargo clippy -p rtscope --lib --bins --no-default-features --features "$features" -- -D warnings
done
# The command's own tests with only its feature (the workspace run above has every feature).
cargo test -p rtscope --no-default-features --features cli --bin rtscope
cargo test -p rtscope --lib --no-default-features
core_deps=$(cargo tree -p rtscope --no-default-features -e normal --prefix none |
    grep -v '^rtscope' | grep -v '(proc-macro)' | awk '{print $1}' | sort -u |
    grep -vxE 'libc|crossbeam-queue|crossbeam-utils|once_cell|proc-macro2|quote|syn|unicode-ident' || true)
if [ -n "$core_deps" ]; then
    echo "rtscope without default features depends on more than libc, crossbeam and once_cell: $core_deps" >&2
    exit 1
fi
# The file exporter alone builds no HTTP, gRPC or TLS stack.
if cargo tree -p rtscope --no-default-features --features export-file -e normal --prefix none |
    grep -qE '^(tonic|reqwest|hyper|h2|rustls|ring) '; then
    echo "rtscope with only export-file depends on an HTTP, gRPC or TLS crate" >&2
    exit 1
fi
# The default features (OTLP/HTTP over hyper's HTTP/1.1 client, TLS) build no gRPC or HTTP/2
# stack and no reqwest; gRPC is opt-in.
if cargo tree -p rtscope -e normal --prefix none |
    grep -qE '^(tonic|h2|tower|reqwest|hyper-rustls) '; then
    echo "rtscope's default features depend on a gRPC, HTTP/2 or reqwest crate" >&2
    exit 1
fi
