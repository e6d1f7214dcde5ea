#!/usr/bin/env bash
# What rtscope costs a real service (a measurement, not a test): the `service` example
# (hyper, tracing with RtscopeLayer, instrumented tasks, a pool, timers, the cache) driven
# through a fixed number of requests by its in-process client (SERVICE_REQUESTS), built
# three ways from the same source, examples/src/bin/service.rs:
#
#   bare      without rtscope: a stand-in crate in its place (examples/service-cost/standin:
#             tokio's timers and spawn, no layer, a plain pool, System unwrapped)
#   default   rtscope's default features and `tokio`, the agent installed by #[rtscope::main]
#             (export to a file, sampling at its defaults)
#   all       everything on: heap profiles at their default rate, the Prometheus endpoint
#             (OTEL_METRICS_EXPORTER=prometheus on a free port), the OpenTelemetry features
#
# 1. Instructions per request under callgrind, every thread counted: runs at N and 2N
#    requests, the difference over N (start-up, the cache fill and exit taken out), and where
#    rtscope's part goes by function (allocator, span enter/exit, task instrumentation,
#    timers, the rest: the export thread and the agent), with calls per request.
# 2. The interleaved CPU-time ratio: ROUNDS rounds of bare, default, all (native, M
#    requests each, process CPU time as the service prints it), the median ratio.
#
# Usage: scripts/service_cost.sh [N [M [ROUNDS]]]   (defaults 300, 5000, 7)
# Needs valgrind (apt-get install -y valgrind). Figures go in docs/performance.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
n="${1:-300}"
m="${2:-5000}"
rounds="${3:-7}"
command -v valgrind >/dev/null || {
    echo "valgrind is missing: apt-get update && apt-get install -y valgrind" >&2
    exit 2
}
work="$(mktemp -d /tmp/rtscope-service-cost.XXXXXX)"
trap 'rm -rf "$work"' EXIT

cargo build --release -q -p rtscope-service-bare
cp target/release/service_bare "$work/bare"
cargo build --release -q -p rtscope-service-real
cp target/release/service_real "$work/default"
cargo build --release -q -p rtscope-service-real --features all
cp target/release/service_real "$work/all"

# env VARIANT -> the environment of a run
env_of() {
    echo "SERVICE_ADDR=127.0.0.1:0 RUST_LOG=warn RTSCOPE_FILE=$work/otlp-$1.jsonl"
    if [ "$1" = all ]; then
        echo "OTEL_METRICS_EXPORTER=prometheus OTEL_EXPORTER_PROMETHEUS_HOST=127.0.0.1 OTEL_EXPORTER_PROMETHEUS_PORT=0"
    fi
}

# cg VARIANT REQUESTS -> callgrind output file
cg() {
    local out="$work/cg.$1.$2"
    # shellcheck disable=SC2046
    env $(env_of "$1") SERVICE_REQUESTS="$2" valgrind --tool=callgrind --separate-threads=yes \
        --callgrind-out-file="$out" --dump-instr=no "$work/$1" >"$out.stdout" 2>"$out.log"
    echo "$out"
}

# The per-request figures of one variant from its two callgrind runs.
analyse() { # VARIANT FILE_N FILE_2N
    python3 - "$1" "$2" "$3" "$n" <<'EOF'
import re, subprocess, sys
variant, a, b, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
groups = [
    ("allocator", re.compile(r"__rust_(alloc|dealloc|realloc|alloc_zeroed)\b|rtscope::alloc::|rtscope::base::(shard|profile|sampling|classes)|rtscope::sampling::")),
    ("span", re.compile(r"rtscope::tracing_layer|rtscope::tracing::|RtscopeLayer")),
    ("task", re.compile(r"rtscope::task::")),
    ("timers", re.compile(r"rtscope::time::")),
    ("rest of rtscope", re.compile(r"rtscope::|rtscope_")),
]
calls_of = {
    "allocator": re.compile(r"^(malloc|calloc|realloc|free|posix_memalign)$"),
    "span": re.compile(r"RtscopeLayer.*as tracing_subscriber::layer::Layer<S>>::on_enter"),
    "task": re.compile(r"rtscope::task::.*::poll$"),
    "timers": re.compile(r"rtscope::time::.*::poll$"),
}
import glob
def read(prefix):
    # One file per thread: the export thread's (it runs the pipeline) apart, every other
    # thread (the runtime's workers, the client, blocking threads) summed.
    total, export, by, calls = 0, 0, {g: 0 for g, _ in groups}, {g: 0 for g in calls_of}
    for f in sorted(glob.glob(prefix + "-*")):
        t, b, c, is_export = read_one(f)
        if is_export:
            export += t
            continue
        total += t
        for g in by:
            by[g] += b[g]
        for g in calls:
            calls[g] += c[g]
    return total, export, by, calls
def read_one(f):
    out = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100", f],
                         capture_output=True, text=True).stdout
    is_export = "rtscope::export::pipeline" in out
    total, by = 0, {g: 0 for g, _ in groups}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(PROGRAM TOTALS|.*)", line)
        if not m:
            continue
        v = int(m.group(1).replace(",", ""))
        name = m.group(2)
        if name == "PROGRAM TOTALS":
            total = v
            continue
        fn = name.split(":", 1)[-1] if ":" in name else name
        for g, rx in groups:
            if rx.search(fn):
                by[g] += v
                break
    # Calls, from the raw file: cfn= names a callee (by id after its first mention).
    names, calls, callee = {}, {g: 0 for g in calls_of}, None
    for line in open(f, errors="replace"):
        m = re.match(r"(c?)fn=\((\d+)\)(?: (.*))?", line)
        if m:
            if m.group(3):
                names[m.group(2)] = m.group(3).strip()
            if m.group(1):
                callee = names.get(m.group(2), "")
            continue
        m = re.match(r"calls=(\d+)", line)
        if m and callee is not None:
            for g, rx in calls_of.items():
                if rx.search(callee):
                    calls[g] += int(m.group(1))
            callee = None
    return total, by, calls, is_export
ta, ea, ba, ca = read(a)
tb, eb, bb, cb = read(b)
print(variant, (tb - ta) / n, *[(bb[g] - ba[g]) / n for g, _ in groups],
      *[(cb[g] - ca[g]) / n for g in calls_of], (eb - ea) / n)
EOF
}

echo "callgrind, every thread, $n and $((2 * n)) requests:" >&2
declare -A fig
for v in bare default all; do
    fa=$(cg "$v" "$n")
    fb=$(cg "$v" $((2 * n)))
    fig[$v]="$(analyse "$v" "$fa" "$fb")"
done
python3 - "${fig[bare]}" "${fig[default]}" "${fig[all]}" <<'EOF'
import sys
rows = [r.split() for r in sys.argv[1:]]
names = ["allocator", "span", "task", "timers", "rest of rtscope"]
base = {r[0]: list(map(float, r[1:])) for r in rows}
b = base["bare"]
print("instructions per request (callgrind, all threads):")
print("  the service's threads (the export thread apart: its instructions grow with the run's")
print("  wall time, about 50x longer under valgrind, not with the requests)")
print("  bare     %9.0f  (allocator functions %.0f, %.1f allocator calls)" % (b[0], b[1], b[6]))
for v in ("default", "all"):
    f = base[v]
    parts = ", ".join("%s %+.0f" % (nm, f[1 + i] - (b[1 + i] if i == 0 else 0)) for i, nm in enumerate(names))
    print("  %-8s %9.0f  %.4fx  (%s); export thread %.0f more, %.4fx with it"
          % (v, f[0], f[0] / b[0], parts, f[10], (f[0] + f[10]) / b[0]))
    print("           per operation: allocator %+.1f instr/call over %.1f calls; span %.0f per enter (%.1f enters);"
          " task %.0f per poll (%.1f polls); timers %.0f per poll (%.1f polls)"
          % ((f[1] - b[1]) / max(f[6], 1), f[6], f[2] / max(f[7], 1), f[7],
             f[3] / max(f[8], 1), f[8], f[4] / max(f[9], 1), f[9]))
EOF

echo "interleaved CPU time, $rounds rounds of $m requests:" >&2
python3 - "$work" "$m" "$rounds" <<'EOF'
import os, re, statistics, subprocess, sys
work, m, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def run(v):
    env = dict(os.environ, SERVICE_ADDR="127.0.0.1:0", RUST_LOG="warn",
               RTSCOPE_FILE=f"{work}/otlp-{v}.jsonl", SERVICE_REQUESTS=str(m))
    if v == "all":
        env.update(OTEL_METRICS_EXPORTER="prometheus", OTEL_EXPORTER_PROMETHEUS_HOST="127.0.0.1",
                   OTEL_EXPORTER_PROMETHEUS_PORT="0")
    out = subprocess.run([f"{work}/{v}"], env=env, capture_output=True, text=True, timeout=600).stdout
    return int(re.search(r"process CPU (\d+) ns", out).group(1)) / m
ratios = {"default": [], "all": []}
for _ in range(rounds):
    t = {v: run(v) for v in ("bare", "default", "all")}
    for v in ratios:
        ratios[v].append(t[v] / t["bare"])
print("CPU time per request, median ratio to bare over %d interleaved rounds:" % rounds)
for v, r in ratios.items():
    print("  %-8s %.3fx  (rounds: %s)" % (v, statistics.median(r), " ".join("%.3f" % x for x in r)))
EOF
