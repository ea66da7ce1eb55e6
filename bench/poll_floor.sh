#!/usr/bin/env bash
# bench/poll_floor.sh - stage 6's poll model against its floor (part of
# `make bench`, callable alone). The floor is bench/rr_server and
# bench/rr_client: one thread and epoll on each side, and on each
# connection requests and replies of exactly the bytes of a stage 5 `get`
# of a 4 KiB file, with no JSON, no file and no hash. Those byte counts are
# measured first, in this run: one checked get (tools/loadgen --verify)
# through tools/slicer, whose log counts the bytes each way. (It also
# makes the server remember the file's digest, as it does for a file that
# has not changed for a while.)
#
# Then, for 10 and 100 clients at once, TOTAL requests spread over them,
# taking turns: the floor (rr_client against rr_server), then
# stage6_concurrent/poll under tools/loadgen (--op get of the same 4 KiB
# file; the replies' SHA-256 is not checked there, which is client work),
# ROUNDS times; the medians' ratio poll / floor is the figure. The target
# (issue 16): at least 0.6 at both levels.
#
# Prints a Markdown table on stdout and writes it to RESULTS/poll_floor.md,
# the figures to RESULTS/poll_floor.tsv. The machine may be shared: the
# figures are medians and a ratio within one run. Fails only when
# something breaks (a server does not start, a request fails).
#
# Settings (environment):
#   BENCH_QUICK=1           100 and 1000 requests, 1 round
#   POLL_FLOOR_LEVELS="10 100"   POLL_FLOOR_TOTAL=20000   POLL_FLOOR_ROUNDS=3
#   BENCH_RESULTS=DIR       (default bench/results)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "$0"
    exit 0
fi
if [ "${BENCH_QUICK:-0}" = 1 ]; then d_total=2000; d_rounds=1; else d_total=20000; d_rounds=3; fi
read -r -a LEVELS <<<"${POLL_FLOOR_LEVELS:-10 100}"
TOTAL=${POLL_FLOOR_TOTAL:-$d_total}
ROUNDS=${POLL_FLOOR_ROUNDS:-$d_rounds}
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results}

say() { printf 'bench/poll_floor: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

for f in bench/rr_server bench/rr_client tools/loadgen tools/slicer stage6_concurrent/poll; do
    [ -x "$ROOT/$f" ] || die "$f is missing: run 'make all bench-programs' first"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nianbao-poll-floor.XXXXXX")
declare -A PORTS=() PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/served" "$RESULTS"
head -c 4096 /dev/urandom >"$WORK/served/small.bin"

# start NAME PROGRAM ARGS...: starts PROGRAM as NAME and waits for its
# `listening on` line; sets PORTS[NAME].
start() {
    local name=$1 log="$WORK/$1.log" tries=0
    shift
    "$@" 2>"$log" &
    PIDS[$name]=$!
    until grep -q '^listening on ' "$log"; do
        tries=$((tries + 1))
        if [ "$tries" -gt 400 ] || ! kill -0 "${PIDS[$name]}" 2>/dev/null; then
            cat "$log" >&2
            die "$name did not start"
        fi
        sleep 0.05
    done
    PORTS[$name]=$(sed -n 's/^listening on .*://p' "$log")
}

stop() {
    kill "${PIDS[$1]}" 2>/dev/null || true
    wait "${PIDS[$1]}" 2>/dev/null || true
    unset "PIDS[$1]"
}

# run_tsv WHAT COMMAND...: COMMAND's second output line (a --tsv figures line).
run_tsv() {
    local what=$1 out
    shift
    out=$("$@" 2>"$WORK/client.err") || { cat "$WORK/client.err" >&2; die "$what failed: $*"; }
    printf '%s\n' "$out" | sed -n 2p
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# The server remembers a file's digest once the file is older than
# NIANBAO_DIGEST_SETTLE (2 s by default): 50 ms here, so that every get
# measured is served as a settled file is, not hashed again in a thread.
start poll env NIANBAO_DIGEST_SETTLE=0.05 "$ROOT/stage6_concurrent/poll" --port 0 --root "$WORK/served" --timeout 120 \
    --idle 0 --frame-timeout 0 --max-clients 2000

# The bytes of one get each way, counted by the slicer (pieces of 64 KiB:
# nothing is cut), from its lines "conn 1: up done: N bytes ..." and down.
start slicer "$ROOT/tools/slicer" --listen 0 --to "127.0.0.1:${PORTS[poll]}" --direction down \
    --min 65536 --max 65536 --log
run_tsv "a checked get through the slicer" "$ROOT/tools/loadgen" -p "${PORTS[slicer]}" --tsv \
    -c 1 -n 1 --op get --name small.bin --verify --timeout 60 >/dev/null
for _ in $(seq 200); do
    [ "$(grep -c '^conn 1: \(up\|down\) done: ' "$WORK/slicer.log")" -eq 2 ] && break
    sleep 0.05
done
REQUEST=$(sed -n 's/^conn 1: up done: \([0-9]*\) .*/\1/p' "$WORK/slicer.log")
REPLY=$(sed -n 's/^conn 1: down done: \([0-9]*\) .*/\1/p' "$WORK/slicer.log")
stop slicer
[ -n "$REQUEST" ] && [ -n "$REPLY" ] || { cat "$WORK/slicer.log" >&2; die "the slicer did not count the get's bytes"; }
say "a get of 4 KiB: $REQUEST bytes up, $REPLY bytes down"

start floor "$ROOT/bench/rr_server" --port 0 --request "$REQUEST" --reply "$REPLY"

printf 'round\tclients\trequests\tfloor_per_s\tpoll_per_s\n' >"$WORK/rounds.tsv"
for ((round = 1; round <= ROUNDS; round++)); do
    for clients in "${LEVELS[@]}"; do
        per=$(( (TOTAL + clients - 1) / clients ))
        floor=$(run_tsv "bench/rr_client" "$ROOT/bench/rr_client" -p "${PORTS[floor]}" \
            -c "$clients" -n "$per" --request "$REQUEST" --reply "$REPLY" | cut -f3)
        poll=$(run_tsv "tools/loadgen against poll" "$ROOT/tools/loadgen" -p "${PORTS[poll]}" --tsv \
            --timeout 1200 -c "$clients" -n "$per" --op get --name small.bin | cut -f5)
        printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$clients" "$((per * clients))" "$floor" "$poll" \
            >>"$WORK/rounds.tsv"
        say "round $round, $clients clients: floor $floor requests/s, poll $poll requests/s"
    done
done
stop floor
stop poll

tsv="$RESULTS/poll_floor.tsv"
printf 'clients\trequests\tfloor_per_s\tpoll_per_s\tratio\trequest_bytes\treply_bytes\n' >"$tsv"
for clients in "${LEVELS[@]}"; do
    rows=$(awk -F '\t' -v c="$clients" 'NR > 1 && $2 == c' "$WORK/rounds.tsv")
    floor=$(cut -f4 <<<"$rows" | median)
    poll=$(cut -f5 <<<"$rows" | median)
    ratio=$(awk -v p="$poll" -v f="$floor" 'BEGIN { printf "%.2f", (f > 0 ? p / f : 0) }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$clients" "$(head -n 1 <<<"$rows" | cut -f3)" "$floor" \
        "$poll" "$ratio" "$REQUEST" "$REPLY" >>"$tsv"
done

md="$RESULTS/poll_floor.md"
{
    echo "### Stage 6: poll against its floor, $TOTAL get requests of a 4 KiB file spread over N clients (medians of $ROUNDS)"
    echo
    echo "The floor: bench/rr_server and bench/rr_client, epoll on both sides, the same $REQUEST bytes up and"
    echo "$REPLY bytes down per request (a stage 5 get of 4 KiB, counted in this run), no JSON, no file, no hash."
    echo
    echo "| clients | floor requests/s | poll requests/s | poll / floor |"
    echo "|---:|---:|---:|---:|"
    tail -n +2 "$tsv" | while IFS=$'\t' read -r c _ f p r _ _; do
        printf '| %s | %s | %s | %s× |\n' "$c" "$f" "$p" "$r"
    done
} >"$md"
cat "$md"
