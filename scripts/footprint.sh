#!/usr/bin/env bash
# What rtscope costs a small service to carry (a measurement, not a test): builds one fixed
# tiny service eight ways, each a clean release build in its own target directory, and prints
# the crates it adds (`cargo tree`, normal dependencies), the stripped binary size and the
# build's wall-clock time.
#
#   none      the service without rtscope
#   core      rtscope with default-features = false: the allocator and stats()
#   file      rtscope with only `export-file`, the agent installed (OTLP/JSON file)
#   default   rtscope's default features, the agent installed (exports to a file or OTLP/HTTP)
#   profiles  the default features and `profiles` (heap profiles, the pprof endpoint)
#   tls       the default features and `tls` (https:// endpoints)
#   prom      the default features and `export-prometheus` (GET /metrics, hyper's server)
#   grpc      the default features and `export-grpc` (OTLP/gRPC over tonic)
#   all       every feature (adds tls, export-grpc, export-prometheus and tokio), the agent installed
#
# Usage: scripts/footprint.sh [JOBS]   (JOBS: cargo -j, default 2; VARIANTS="default prom" picks
# some of the variants, space-separated). Runs under nice; offline,
# from the crates the workspace's Cargo.lock already pins. Figures go in docs/performance.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
jobs="${1:-2}"
work="$(mktemp -d /tmp/rtscope-footprint.XXXXXX)"
trap 'rm -rf "$work"' EXIT

service() { # $1 variant
    local dir="$work/$1"
    mkdir -p "$dir/src"
    local dep=""
    case "$1" in
    none) ;;
    core) dep="rtscope = { path = \"$root/agent\", default-features = false }" ;;
    file) dep="rtscope = { path = \"$root/agent\", default-features = false, features = [\"export-file\"] }" ;;
    default) dep="rtscope = { path = \"$root/agent\" }" ;;
    profiles) dep="rtscope = { path = \"$root/agent\", features = [\"profiles\"] }" ;;
    tls) dep="rtscope = { path = \"$root/agent\", features = [\"tls\"] }" ;;
    prom) dep="rtscope = { path = \"$root/agent\", features = [\"export-prometheus\"] }" ;;
    grpc) dep="rtscope = { path = \"$root/agent\", features = [\"export-grpc\"] }" ;;
    all) dep="rtscope = { path = \"$root/agent\", features = [\"tls\", \"export-grpc\", \"export-prometheus\", \"tokio\"] }" ;;
    esac
    cat >"$dir/Cargo.toml" <<EOF
[package]
name = "footprint-$1"
version = "0.1.0"
edition = "2024"

[dependencies]
$dep

[profile.release]
debug = false
EOF
    # The same small service every time: a loop over a std TCP listener answering one line.
    {
        if [ "$1" != none ]; then
            echo '#[global_allocator]'
            echo 'static ALLOC: rtscope::Alloc = rtscope::Alloc::system();'
        fi
        echo 'use std::io::{Read, Write};'
        echo 'fn main() {'
        case "$1" in
        file | default | profiles | tls | prom | grpc | all) echo '    let _guard = rtscope::Agent::builder().with_service_name("footprint").install();' ;;
        esac
        echo '    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");'
        echo '    let addr = listener.local_addr().expect("addr");'
        echo '    let client = std::thread::spawn(move || {'
        echo '        let mut s = std::net::TcpStream::connect(addr).expect("connect");'
        echo '        s.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("write");'
        echo '        let mut out = String::new();'
        echo '        s.read_to_string(&mut out).expect("read");'
        echo '        out'
        echo '    });'
        echo '    let (mut conn, _) = listener.accept().expect("accept");'
        echo '    let mut buf = vec![0u8; 1024];'
        echo '    let n = conn.read(&mut buf).expect("read");'
        echo '    let body = format!("got {n} bytes\n");'
        echo '    conn.write_all(format!("HTTP/1.0 200 OK\r\n\r\n{body}").as_bytes()).expect("write");'
        echo '    drop(conn);'
        echo '    print!("{}", client.join().expect("client"));'
        if [ "$1" != none ]; then
            echo '    println!("{} allocations", rtscope::alloc::stats().allocations);'
        fi
        echo '}'
    } >"$dir/src/main.rs"
    cp "$root/Cargo.lock" "$dir/Cargo.lock"
}

crates() { # $1 dir: distinct normal-dependency packages, the service itself excluded
    (cd "$1" && cargo tree --offline -e normal --prefix none |
        awk '!/^footprint-/ {print $1 " " $2}' | sort -u | wc -l)
}

printf '%-8s %7s %14s %12s\n' variant crates stripped_bytes build_s
for v in ${VARIANTS:-none core file default profiles tls prom grpc all}; do
    service "$v"
    dir="$work/$v"
    n=$(crates "$dir")
    start=$(date +%s.%N)
    (cd "$dir" && CARGO_TARGET_DIR="$dir/target" nice -n 15 cargo build --offline --release -j "$jobs" -q)
    end=$(date +%s.%N)
    strip -o "$dir/stripped" "$dir/target/release/footprint-$v"
    size=$(stat -c %s "$dir/stripped")
    printf '%-8s %7s %14s %12.1f\n' "$v" "$n" "$size" "$(awk "BEGIN{print $end - $start}")"
    rm -rf "$dir/target"
done
