#!/usr/bin/env bash
# The allocator's cost in instructions (callgrind: every thread, not moved by the machine's
# load), a measurement, not a test. Builds the bench_* workers and runs each workload twice
# under callgrind, at N and 2N iterations; the difference divided by the 1.1 N iterations
# between them (each run warms up with a tenth of its iterations) is the cost per iteration,
# with start-up and exit taken out.
#
#   tight64   a 64 B alloc+free pair in a loop, a second (idle) thread present
#   mixed     free a random slot, allocate 8..4096 B into it (one pair per iteration)
#   serde     parse and serialize a 3 MB JSON document (per round; ratio to bare System)
#
# Variants: `system` (bare System, a second thread), `rtscope` (rtscope over System with
# `profiles` compiled in, a second thread, no agent), `agent` (the agent installed at its
# defaults, heap profiles on: its export thread is the second thread and is counted), and
# the peers over System, each with a second thread: `fetch_add` (one global atomic add each
# way, bench_counting), the `stats_alloc` and `cap` crates.
# For rtscope, `slow` is the part of the per-iteration cost spent in rtscope's out-of-line
# functions (every rtscope:: function but the inlined fast path in __rust_alloc/__rust_dealloc).
#
# Usage: [BIN=DIR] scripts/callgrind.sh [WORKLOAD...]   (default: tight64 mixed serde)
# Needs valgrind (apt-get install -y valgrind). Figures go in docs/performance.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
workloads=("$@")
[ ${#workloads[@]} -gt 0 ] || workloads=(tight64 mixed serde)
command -v valgrind >/dev/null || {
    echo "valgrind is missing: apt-get update && apt-get install -y valgrind" >&2
    exit 2
}
# BIN=DIR measures workers built elsewhere (e.g. a copy of an earlier build) instead.
if [ -z "${BIN:-}" ]; then
    cargo build --release -q -p rtscope-examples --bin bench_system --bin bench_rtscope \
        --bin bench_counting --bin bench_stats_alloc --bin bench_cap
fi
bin="${BIN:-$root/target/release}"
work="$(mktemp -d /tmp/rtscope-callgrind.XXXXXX)"
trap 'rm -rf "$work"' EXIT

# run WORKER OPTION WORKLOAD ITERS -> "total_ir rtscope_self_ir"
run() {
    local out="$work/cg.$$.$RANDOM"
    valgrind --tool=callgrind --callgrind-out-file="$out" --dump-instr=no \
        "$bin/$1" "$2" "$3" "$4" >/dev/null 2>"$out.log"
    callgrind_annotate --auto=no --threshold=100 "$out" 2>/dev/null | python3 -c '
import re, sys
total = None; slow = 0
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(?:PROGRAM TOTALS|(.*))", line)
    if not m:
        continue
    n = int(m.group(1).replace(",", ""))
    name = m.group(2)
    if name is None:
        total = n
    elif "rtscope::" in name and "__rust_" not in name:
        slow += n
print(total, slow)
'
    rm -f "$out" "$out.log"
}

# per WORKER OPTION WORKLOAD N -> "ir_per_iter slow_per_iter"
per() {
    local a b
    a=$(run "$1" "$2" "$3" "$4")
    b=$(run "$1" "$2" "$3" $(($4 * 2)))
    python3 -c "
a = list(map(int, '$a'.split())); b = list(map(int, '$b'.split())); d = 1.1 * $4
if '$3' == 'serde': d = $4  # one warm-up round in both runs
print('%.2f %.2f' % ((b[0] - a[0]) / d, (b[1] - a[1]) / d))
"
}

for w in "${workloads[@]}"; do
    case "$w" in
    tight64) name=tight64_1t n=200000 ;;
    mixed) name=mixed n=100000 ;;
    serde) name=serde n=2 ;;
    *) echo "unknown workload $w" >&2; exit 2 ;;
    esac
    read -r sys _ <<<"$(per bench_system --thread "$name" "$n")"
    read -r rts rslow <<<"$(per bench_rtscope --thread "$name" "$n")"
    read -r agt aslow <<<"$(per bench_rtscope --agent "$name" "$n")"
    read -r fa _ <<<"$(per bench_counting --thread "$name" "$n")"
    read -r sa _ <<<"$(per bench_stats_alloc --thread "$name" "$n")"
    read -r ca _ <<<"$(per bench_cap --thread "$name" "$n")"
    python3 -c "
sys_, rts, agt, fa, sa, ca = $sys, $rts, $agt, $fa, $sa, $ca
w = '$w'
if w == 'serde':
    print('%-8s system %.0f instr/round; rtscope %.4fx (slow %.0f), agent %.4fx (slow %.0f);'
          ' peers: fetch_add %.4fx, stats_alloc %.4fx, cap %.4fx'
          % (w, sys_, rts / sys_, $rslow, agt / sys_, $aslow, fa / sys_, sa / sys_, ca / sys_))
else:
    print('%-8s system %.2f instr/pair; rtscope +%.2f (slow %.2f), agent +%.2f (slow %.2f);'
          ' peers: fetch_add +%.2f, stats_alloc +%.2f, cap +%.2f'
          % (w, sys_, rts - sys_, $rslow, agt - sys_, $aslow, fa - sys_, sa - sys_, ca - sys_))
"
done
