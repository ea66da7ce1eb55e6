#!/usr/bin/env bash
# bench/sandbox.sh - the --sandbox row of `make bench`: what the bubblewrap
# sandbox costs each command. Two stage 3 servers, one with --sandbox and
# one without, each run `true` BENCH_SANDBOX_RUNS times (default 200), the
# two taking turns so that both see the same machine; each run is one
# client, from its start to its exit (connect, the command, the reply).
# Prints one Markdown table row:
#
#   | runs | median without | median with | cost per command |
#
# and, with SANDBOX_TSV=FILE, the same figures in milliseconds, tab-separated
# (runs, without, with, cost). Without bwrap, or where the sandbox cannot be
# made, prints a row that says why and exits 0: a benchmark never fails on
# the machine it is given, only when something breaks.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "$0"
    exit 0
fi
RUNS=${BENCH_SANDBOX_RUNS:-200}
SERVER=$ROOT/stage3_struct_len/server
CLIENT=$ROOT/stage3_struct_len/client
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nianbao-bench-sandbox.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# start NAME ARGS...: a stage 3 server; sets PORT, or returns 1 with its log's
# last line in $WORK/NAME.why when it does not listen.
start() {
    local name=$1 line deadline=$((SECONDS + 10)); shift
    "$SERVER" --port 0 "$@" </dev/null >/dev/null 2>"$WORK/$name.log" &
    PIDS+=($!)
    while :; do
        line=$(grep -m1 '^listening on ' "$WORK/$name.log" || true)
        if [ -n "$line" ]; then PORT=${line##*:}; return 0; fi
        if ! kill -0 "${PIDS[-1]}" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 1 "$WORK/$name.log" >"$WORK/$name.why"
            return 1
        fi
        sleep 0.05
    done
}

start plain
plain_port=$PORT
if ! start sandboxed --sandbox; then
    printf '| %s | - | - | not measured: %s |\n' "$RUNS" "$(cat "$WORK/sandboxed.why")"
    exit 0
fi
sandboxed_port=$PORT

# one PORT: runs `true` through one client; prints its time in microseconds.
one() {
    local start=${EPOCHREALTIME/[.,]/} out
    out=$("$CLIENT" -p "$1" <<<true) || { echo "bench/sandbox.sh: the client failed" >&2; exit 1; }
    [ -z "$out" ] || { echo "bench/sandbox.sh: \`true\` printed '$out'" >&2; exit 1; }
    echo $((${EPOCHREALTIME/[.,]/} - start))
}
for ((i = 0; i < RUNS; i++)); do
    one "$plain_port" >>"$WORK/plain"
    one "$sandboxed_port" >>"$WORK/sandboxed"
done
median_ms() { sort -n "$1" | awk '{ v[NR] = $1 } END { m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f", m / 1000 }'; }
plain=$(median_ms "$WORK/plain")
sandboxed=$(median_ms "$WORK/sandboxed")
cost=$(awk -v a="$sandboxed" -v b="$plain" 'BEGIN { printf "%.2f", a - b }')
printf '| %s | %s ms | %s ms | %s ms |\n' "$RUNS" "$plain" "$sandboxed" "$cost"
if [ -n "${SANDBOX_TSV:-}" ]; then
    printf '%s\t%s\t%s\t%s\n' "$RUNS" "$plain" "$sandboxed" "$cost" >"$SANDBOX_TSV"
fi
