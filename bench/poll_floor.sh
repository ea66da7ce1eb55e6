#!/usr/bin/env bash
# bench/poll_floor.sh - stage 6's poll model against its floor (part of
# `make bench`, callable alone). The floor is bench/rr_server and
# bench/rr_client: one thread and epoll on each side, and on each
# connection requests and replies of exactly the bytes of a stage 5 `get`
# of a 4 KiB file, with no JSON, no file and no hash. Those bytes are
# recorded first, in this run: one checked get (tools/loadgen --verify,
# which checks the reply's SHA-256) through bench/rr_record, which writes
# them each way. (It also makes the server remember the file's digest, as
# it does for a file that has not changed for a while.)
#
# Then, for 10 and 100 clients at once, TOTAL requests spread over them,
# taking turns: the floor (rr_client against rr_server); the poll model
# (stage6_concurrent/poll) driven by the same rr_client, sending the
# recorded request and checking every reply against the recorded one (a
# wrong reply fails the bench); and the poll model under tools/loadgen
# (--op get of the same file; the replies' SHA-256 is not checked there,
# which is client work), ROUNDS times. The figure is the ratio of the
# medians poll / floor with the same client; the loadgen row shows what a
# heavier client leaves of it on a machine whose cores the client shares.
# The target (issue 16): at least 0.6 at both levels.
#
# Prints a Markdown table on stdout and writes it to RESULTS/poll_floor.md,
# the figures to RESULTS/poll_floor.tsv. The machine may be shared: the
# figures are medians and a ratio within one run. Fails only when
# something breaks (a server does not start, a request fails, a reply is
# not the recorded one).
#
# Settings (environment):
#   BENCH_QUICK=1           2000 requests, 1 round
#   POLL_FLOOR_LEVELS="10 100"   POLL_FLOOR_TOTAL=200000  POLL_FLOOR_ROUNDS=3
#   BENCH_RESULTS=DIR       (default bench/results)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "$0"
    exit 0
fi
if [ "${BENCH_QUICK:-0}" = 1 ]; then d_total=2000; d_rounds=1; else d_total=200000; d_rounds=3; fi
read -r -a LEVELS <<<"${POLL_FLOOR_LEVELS:-10 100}"
TOTAL=${POLL_FLOOR_TOTAL:-$d_total}
ROUNDS=${POLL_FLOOR_ROUNDS:-$d_rounds}
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results}

say() { printf 'bench/poll_floor: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

for f in bench/rr_server bench/rr_client bench/rr_record tools/loadgen stage6_concurrent/poll; do
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
    local name=$1 log="$WORK/$1.log"
    shift
    "$@" 2>"$log" &
    PIDS[$name]=$!
    PORTS[$name]=$(bench_listening "$log" "${PIDS[$name]}") || die "$name did not start"
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

# The bytes of one checked get each way, recorded by rr_record.
start record "$ROOT/bench/rr_record" --port 0 --to-port "${PORTS[poll]}" --up "$WORK/request.bin" \
    --down "$WORK/reply.bin"
run_tsv "a checked get through rr_record" "$ROOT/tools/loadgen" -p "${PORTS[record]}" --tsv \
    -c 1 -n 1 --op get --name small.bin --verify --timeout 60 >/dev/null
wait "${PIDS[record]}" || die "rr_record failed: $(cat "$WORK/record.log")"
unset "PIDS[record]"
REQUEST=$(wc -c <"$WORK/request.bin")
REPLY=$(wc -c <"$WORK/reply.bin")
[ "$REQUEST" -gt 0 ] && [ "$REPLY" -gt 4096 ] || die "rr_record did not record the get's bytes"
say "a get of 4 KiB: $REQUEST bytes up, $REPLY bytes down"

start floor "$ROOT/bench/rr_server" --port 0 --request "$REQUEST" --reply "$REPLY"

printf 'round\tclients\trequests\tfloor_per_s\tpoll_per_s\tloadgen_per_s\n' >"$WORK/rounds.tsv"
for ((round = 1; round <= ROUNDS; round++)); do
    for clients in "${LEVELS[@]}"; do
        per=$(( (TOTAL + clients - 1) / clients ))
        floor=$(run_tsv "bench/rr_client" "$ROOT/bench/rr_client" -p "${PORTS[floor]}" \
            -c "$clients" -n "$per" --request "$REQUEST" --reply "$REPLY" | cut -f3)
        poll=$(run_tsv "bench/rr_client against poll" "$ROOT/bench/rr_client" -p "${PORTS[poll]}" \
            -c "$clients" -n "$per" --request-file "$WORK/request.bin" \
            --reply-file "$WORK/reply.bin" | cut -f3)
        loadgen=$(run_tsv "tools/loadgen against poll" "$ROOT/tools/loadgen" -p "${PORTS[poll]}" --tsv \
            --timeout 1200 -c "$clients" -n "$per" --op get --name small.bin | cut -f5)
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$clients" "$((per * clients))" "$floor" "$poll" \
            "$loadgen" >>"$WORK/rounds.tsv"
        say "round $round, $clients clients: floor $floor requests/s, poll $poll requests/s" \
            "(under loadgen: $loadgen)"
    done
done
stop floor
stop poll

tsv="$RESULTS/poll_floor.tsv"
printf 'clients\trequests\tfloor_per_s\tpoll_per_s\tratio\trequest_bytes\treply_bytes\tloadgen_per_s\tloadgen_ratio\n' \
    >"$tsv"
for clients in "${LEVELS[@]}"; do
    rows=$(awk -F '\t' -v c="$clients" 'NR > 1 && $2 == c' "$WORK/rounds.tsv")
    floor=$(cut -f4 <<<"$rows" | median)
    poll=$(cut -f5 <<<"$rows" | median)
    loadgen=$(cut -f6 <<<"$rows" | median)
    ratio=$(awk -v p="$poll" -v f="$floor" 'BEGIN { printf "%.2f", (f > 0 ? p / f : 0) }')
    lratio=$(awk -v p="$loadgen" -v f="$floor" 'BEGIN { printf "%.2f", (f > 0 ? p / f : 0) }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$clients" "$(head -n 1 <<<"$rows" | cut -f3)" \
        "$floor" "$poll" "$ratio" "$REQUEST" "$REPLY" "$loadgen" "$lratio" >>"$tsv"
done

md="$RESULTS/poll_floor.md"
{
    echo "### Stage 6: poll against its floor, $TOTAL get requests of a 4 KiB file spread over N clients (medians of $ROUNDS)"
    echo
    echo "The floor: bench/rr_server and bench/rr_client, epoll on both sides, the same $REQUEST bytes up and"
    echo "$REPLY bytes down per request (a stage 5 get of 4 KiB, recorded in this run), no JSON, no file, no hash."
    echo "poll: stage6_concurrent/poll driven by the same bench/rr_client, sending the recorded request and"
    echo "checking every reply against the recorded one. Under loadgen: the same poll server, tools/loadgen as the client."
    echo
    echo "| clients | floor requests/s | poll requests/s | poll / floor | poll under loadgen requests/s | loadgen / floor |"
    echo "|---:|---:|---:|---:|---:|---:|"
    tail -n +2 "$tsv" | while IFS=$'\t' read -r c _ f p r _ _ l lr; do
        printf '| %s | %s | %s | %s× | %s | %s× |\n' "$c" "$f" "$p" "$r" "$l" "$lr"
    done
} >"$md"
cat "$md"
