#!/usr/bin/env bash
# bench/run.sh - `make bench`: the lab's speed and memory, side by side, in
# one run, as ratios against baselines measured in the same run.
#
#   throughput  `head -c N /dev/zero` through stages 1, 3 and 4 (and the
#               document's own Python v3 and v4, when its text is here),
#               against bench/raw_server + bench/raw_client: the same
#               command, its output spliced into the socket, no framing.
#               Stage 4 also against its hash limit: twice the time to MD5
#               the same bytes (bench/md5_speed, libmd and libcrypto).
#   memory      peak RSS of each server (VmHWM) and client (/usr/bin/time).
#   round trips ROUNDTRIPS `true` commands through each stage's client on
#               one connection, against as many `sh -c true` spawns
#               (bench/spawn_loop). Stage 1 runs `echo`: its client waits
#               forever for the reply of a command without output.
#   tap         a large stage 4 transfer and TINY_SENDS sends of 64 bytes
#               (bench/tiny_sends), tapped (both ends) against untapped.
#   viewer      `nianbao-view --dump` of captures recorded through
#               tools/slicer --min 1 --max 1, server, slicer and client
#               tapped, for `seq 1 N`: decode time against capture size.
#   stage 2     how often the first recv of tcp_server --wait-ms 0 gets
#               "hello" alone (the race the README talks about).
#   stage 5     bench/stage5.sh: a download (first, and again with the
#               server's digest remembered), an upload and streamed command
#               output of BENCH_STAGE5_BYTES, against a raw baseline (and
#               one hashing in line), with both ends' peak RSS.
#   sandbox     bench/sandbox.sh: BENCH_SANDBOX_RUNS (200) `true` through
#               stage 3 with and without --sandbox, taking turns: the cost
#               of bubblewrap per command.
#   class       bench/class.sh: tools/grade --each on BENCH_CLASS_SIZE (40;
#               10 with BENCH_QUICK) copies of the stage 3 Python client,
#               starter and finished, against one submission alone.
#   stage 6     bench/stage6.sh: each server model (and Python's
#               ThreadingTCPServer) under tools/loadgen with 1, 10, 100 and
#               1000 clients at once; poll holding 10 000 idle connections
#               beside a good client (the fd limit is raised for it).
#   poll floor  bench/poll_floor.sh: poll's requests/s for gets of a 4 KiB
#               file at 10 and 100 clients, driven by bench/rr_client (and
#               by tools/loadgen, a second row), against bench/rr_server and
#               rr_client, epoll and the same bytes each way, nothing else.
#
# Every time is the median of RUNS runs. Results: bench/results/bench.md
# (every table, and the targets of issues 8, 9 and 10 with their verdicts),
# bench/results/throughput.tsv, bench/results/bench.svg (gnuplot), and
# stage5.md, stage6.md, stage6.tsv, stage6.svg, poll_floor.md and
# poll_floor.tsv beside them. A benchmark
# never fails on a number: only when something breaks (a client fails, or
# its bytes are wrong).
#
# Settings (environment):
#   BENCH_QUICK=1         a run of two or three minutes: small sizes, 1 run, stage 5
#                         at 64 MiB, stage 6 with 1, 10, 100 clients and 1000 idle
#   BENCH_SIZES="1024 1048576 ..."   BENCH_RUNS=3   BENCH_ROUNDTRIPS=1000
#   BENCH_TINY_SENDS=400000          BENCH_SEQS="10000 30000 100000"
#   BENCH_TAP_BYTES=N     the tapped transfer (default: the largest size)
#   BENCH_DOC_MAX=268435456  largest size given to the document's programs
#   BENCH_RACE_RUNS=300   BENCH_RESULTS=DIR (default bench/results)
#   BENCH_SANDBOX_RUNS=200 (50 with BENCH_QUICK)
#   NIANBAO_DOCUMENT=FILE the tutorial's text (default ../shared/seed/...)
#   BENCH_PYTHON=PATH     the Python that runs the document's programs
#   BENCH_STAGE5=0        leave stage 5 out;  BENCH_STAGE5_BYTES=1073741824
#   BENCH_STAGE6=0        leave stage 6 out;  bench/stage6.sh's own settings
#                         (STAGE6_LEVELS, STAGE6_TOTAL, STAGE6_IDLE, STAGE6_GOOD,
#                         STAGE6_MODELS: bench/stage6.sh --help) pass through,
#                         and so do bench/poll_floor.sh's (POLL_FLOOR_LEVELS,
#                         POLL_FLOOR_TOTAL, POLL_FLOOR_ROUNDS)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "$0"
    exit 0
fi
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    d_sizes="1024 1048576 16777216"; d_runs=1; d_trips=100; d_tiny=40000
    d_seqs="1000 3000 10000"; d_race=100; d_s5=67108864; d_sandbox=50; d_class=10
else
    d_sizes="1024 65536 1048576 16777216 268435456 1073741824"; d_runs=3; d_trips=1000
    d_tiny=400000; d_seqs="10000 30000 100000"; d_race=300; d_s5=1073741824; d_sandbox=200
    d_class=40
fi
export BENCH_SANDBOX_RUNS=${BENCH_SANDBOX_RUNS:-$d_sandbox}
export BENCH_CLASS_SIZE=${BENCH_CLASS_SIZE:-$d_class}
read -r -a SIZES <<<"${BENCH_SIZES:-$d_sizes}"
RUNS=${BENCH_RUNS:-$d_runs}
TRIPS=${BENCH_ROUNDTRIPS:-$d_trips}
TINY=${BENCH_TINY_SENDS:-$d_tiny}
read -r -a SEQS <<<"${BENCH_SEQS:-$d_seqs}"
RACE_RUNS=${BENCH_RACE_RUNS:-$d_race}
DOC_MAX=${BENCH_DOC_MAX:-268435456}
STAGE5=${BENCH_STAGE5:-1}
STAGE5_BYTES=${BENCH_STAGE5_BYTES:-$d_s5}
STAGE6=${BENCH_STAGE6:-1}
S6_SETTINGS=
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results}
DOCUMENT=${NIANBAO_DOCUMENT:-$ROOT/../shared/seed/000_2062dbd12727a7a5.txt}
LARGEST=0
for s in "${SIZES[@]}"; do [ "$s" -gt "$LARGEST" ] && LARGEST=$s; done
TAP_BYTES=${BENCH_TAP_BYTES:-$LARGEST}
TAP="$ROOT/viewer/libnianbao-tap.so"
VIEW="$ROOT/viewer/nianbao-view"

say() { printf 'bench: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

for f in bench/raw_server bench/raw_client bench/spawn_loop bench/tiny_sends bench/md5_speed \
    stage1_naive/server stage3_struct_len/server stage3_struct_len/client \
    stage4_json_header/server stage4_json_header/client stage2_udp_vs_tcp/tcp_server \
    stage2_udp_vs_tcp/tcp_client tools/slicer viewer/nianbao-view viewer/libnianbao-tap.so; do
    [ -e "$ROOT/$f" ] || die "$f is missing: run 'make bench' (it builds what the bench needs)"
done
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"
command -v python3 >/dev/null || die "python3 is missing"
# The interpreter itself, not a wrapper (pyenv's shims cost a second a start).
PYTHON=${BENCH_PYTHON:-$(python3 -c 'import sys; print(sys.executable)')}
HAVE_GNUPLOT=1
command -v gnuplot >/dev/null || { HAVE_GNUPLOT=0; say "gnuplot is missing: no plot (apt-get install gnuplot-nox)"; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nianbao-bench.XXXXXX")
SERVER_PIDS=()
cleanup() {
    local pid
    for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${SERVER_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the implementations ----

IMPLS=(raw stage1 stage3 stage4)
DOC=0
if [ -f "$DOCUMENT" ]; then
    DOC=1
    for prog in v3_server v3_client v4_server v4_client; do
        "$PYTHON" -B "$ROOT/tests/doc_extract.py" "$DOCUMENT" "$prog" >"$WORK/doc_$prog.py" 2>"$WORK/doc_$prog.err" ||
            die "cannot extract the document's $prog: $(tail -n 1 "$WORK/doc_$prog.err")"
    done
    IMPLS+=(doc3 doc4)
else
    say "the tutorial's text is not at $DOCUMENT: the document's programs are left out (NIANBAO_DOCUMENT=FILE)"
fi

label() {
    case $1 in
    raw) echo "raw (baseline)" ;; stage1) echo "stage 1" ;; stage3) echo "stage 3" ;;
    stage4) echo "stage 4" ;; doc3) echo "document v3 (Python)" ;; doc4) echo "document v4 (Python)" ;;
    esac
}

# start_server NAME CMD...: starts a server (stdout in $WORK/NAME.out,
# stderr in $WORK/NAME.log), waits for its "listening on" line; sets PORT
# and SPID.
start_server() {
    local name=$1; shift
    : >"$WORK/$name.log"
    "$@" </dev/null >"$WORK/$name.out" 2>"$WORK/$name.log" &
    SPID=$!
    SERVER_PIDS+=("$SPID")
    PORT=$(bench_listening "$WORK/$name.log" "$SPID") || die "$name did not start"
}

stop_server() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# peak_rss_kib PID: the process's peak resident memory so far (VmHWM), KiB.
peak_rss_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# start_impl IMPL SIZE: that implementation's server, ready for SIZE bytes.
start_impl() {
    local max=$(($2 + 65536))
    case $1 in
    raw) start_server raw "$ROOT/bench/raw_server" --port 0 ;;
    stage1) start_server stage1 "$ROOT/stage1_naive/server" --port 0 --timeout 600 --max-output "$max" ;;
    stage3) start_server stage3 "$ROOT/stage3_struct_len/server" --port 0 --timeout 600 --max-output "$max" ;;
    stage4) start_server stage4 "$ROOT/stage4_json_header/server" --port 0 --timeout 600 --max-output "$max" ;;
    doc3) start_server doc3 "$PYTHON" -B "$WORK/doc_v3_server.py" 0 ;;
    doc4) start_server doc4 "$PYTHON" -B "$WORK/doc_v4_server.py" 0 ;;
    esac
}

# client_argv IMPL PORT COMMAND: sets CLIENT (the argv of IMPL's client for
# one COMMAND) and CLIENT_IN (the file its stdin reads: the stage and the
# document's clients read commands there). For stage 1, whose server keeps
# the connection and frames nothing, raw_client reads exactly $EXPECT bytes.
client_argv() {
    local impl=$1 port=$2 command=$3
    CLIENT_IN=$WORK/command.in
    printf '%s\n' "$command" >"$CLIENT_IN"
    case $impl in
    raw) CLIENT=("$ROOT/bench/raw_client" -p "$port" -c "$command") ;;
    stage1) CLIENT=("$ROOT/bench/raw_client" -p "$port" --bytes "$EXPECT" -c "$command") ;;
    stage3) CLIENT=("$ROOT/stage3_struct_len/client" -p "$port" --timeout 600 --max-len "$((EXPECT + 65536))") ;;
    stage4) CLIENT=("$ROOT/stage4_json_header/client" -p "$port" --timeout 600 --max-len "$((EXPECT + 65536))") ;;
    doc3) CLIENT=("$PYTHON" -B "$WORK/doc_v3_client.py" "$port") ;;
    doc4) CLIENT=("$PYTHON" -B "$WORK/doc_v4_client.py" "$port") ;;
    esac
}

# timed IN OUT RSSFILE CMD...: runs CMD (stdin IN, stdout OUT) under
# /usr/bin/time (peak RSS in KiB into RSSFILE); prints the wall time in
# seconds. Dies when CMD fails.
timed() {
    local in=$1 out=$2 rss=$3; shift 3
    local start=$EPOCHREALTIME status=0
    /usr/bin/time -f %M -o "$rss" "$@" <"$in" >"$out" 2>"$WORK/client.err" || status=$?
    local end=$EPOCHREALTIME
    if [ "$status" -ne 0 ]; then
        cat "$WORK/client.err" >&2
        die "$* failed (exit $status)"
    fi
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.6f\n", b - a }'
}

# median: the median of the numbers on stdin.
median() {
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "-"; exit }
        print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# count_bytes: "TOTAL NULS" of stdin (python: 1 GiB in a second or two).
count_bytes() {
    "$PYTHON" -c '
import sys
total = nuls = 0
while True:
    block = sys.stdin.buffer.read(1 << 20)
    if not block:
        break
    total += len(block)
    nuls += block.count(0)
print(total, nuls)'
}

# ratio A B: A / B with 2 decimals, "-" when either is missing.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'; }
# secs X: X seconds shown with 3 decimals.
secs() { awk -v a="$1" 'BEGIN { if (a == "-") print "-"; else printf "%.3f\n", a }'; }
# mib KIB: KiB shown as MiB, 1 decimal.
mib() { awk -v a="$1" 'BEGIN { if (a == "-" || a == "") print "-"; else printf "%.1f\n", a / 1024 }'; }
# human BYTES: 1 KiB, 64 KiB, 1 MiB, 1 GiB...
human() {
    awk -v n="$1" 'BEGIN { split("B KiB MiB GiB TiB", u, " "); i = 1
        while (n >= 1024 && n % 1024 == 0) { n /= 1024; i++ } printf "%d %s\n", n, u[i] }'
}
# holds VALUE OP LIMIT: yes or no.
holds() { awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN { if (v == "-") { print "not measured"; exit }
    ok = (op == "<=") ? (v <= l) : (v >= l); print ok ? "yes" : "no" }'; }

declare -A TIME SRV_RSS CLI_RSS MD5_LIBMD MD5_CRYPTO TRIP TAP_T VIEW_T VIEW_RSS VIEW_SIZE

# ---- throughput and memory ----

for size in "${SIZES[@]}"; do
    EXPECT=$size
    command="head -c $size /dev/zero"
    impls=()
    for impl in "${IMPLS[@]}"; do
        case $impl in doc3 | doc4) [ "$size" -le "$DOC_MAX" ] || continue ;; esac
        impls+=("$impl")
    done
    say "throughput, $(human "$size"): ${impls[*]}, $RUNS run(s) each"
    declare -A port_of pid_of
    for impl in "${impls[@]}"; do
        start_impl "$impl" "$size"
        port_of[$impl]=$PORT
        pid_of[$impl]=$SPID
        : >"$WORK/t.$impl" ; : >"$WORK/r.$impl"
    done
    for ((run = 1; run <= RUNS; run++)); do
        # One run of each in turn, so a burst of load elsewhere hits all alike.
        for impl in "${impls[@]}"; do
            client_argv "$impl" "${port_of[$impl]}" "$command"
            timed "$CLIENT_IN" /dev/null "$WORK/rss" "${CLIENT[@]}" >>"$WORK/t.$impl"
            cat "$WORK/rss" >>"$WORK/r.$impl"
        done
    done
    # The bytes: each client once more, its output counted.
    for impl in "${impls[@]}"; do
        client_argv "$impl" "${port_of[$impl]}" "$command"
        "${CLIENT[@]}" <"$CLIENT_IN" >"$WORK/bytes.out" 2>"$WORK/client.err" ||
            die "$(label "$impl"): the client failed: $(tail -n 1 "$WORK/client.err")"
        read -r total nuls < <(count_bytes <"$WORK/bytes.out")
        rm -f "$WORK/bytes.out"
        case $impl in
        doc3 | doc4) # the document's clients add a prompt and 命令结束
            [ "$nuls" -eq "$size" ] || die "$(label "$impl"): $nuls zero bytes of $size came" ;;
        *)
            [ "$total" -eq "$size" ] && [ "$nuls" -eq "$size" ] ||
                die "$(label "$impl"): $total bytes ($nuls zeros) came for $size zeros" ;;
        esac
        TIME[$impl,$size]=$(median <"$WORK/t.$impl")
        CLI_RSS[$impl,$size]=$(median <"$WORK/r.$impl")
        SRV_RSS[$impl,$size]=$(peak_rss_kib "${pid_of[$impl]}")
        stop_server "${pid_of[$impl]}"
    done
    unset port_of pid_of
    if [ "$size" -ge 1048576 ]; then
        : >"$WORK/md" ; : >"$WORK/mc"
        for ((run = 1; run <= RUNS; run++)); do
            "$ROOT/bench/md5_speed" "$size" >"$WORK/md5.out" || die "bench/md5_speed failed"
            awk '$1 == "libmd" { print $2 }' "$WORK/md5.out" >>"$WORK/md"
            awk '$1 == "libcrypto" { print $2 }' "$WORK/md5.out" >>"$WORK/mc"
        done
        MD5_LIBMD[$size]=$(median <"$WORK/md")
        MD5_CRYPTO[$size]=$(median <"$WORK/mc")
    fi
done

# ---- round trips ----

say "round trips: $TRIPS commands through each client, against $TRIPS sh -c true; $RUNS run(s) each"
awk -v n="$TRIPS" 'BEGIN { for (i = 0; i < n; i++) print "true" }' >"$WORK/trues"
awk -v n="$TRIPS" 'BEGIN { for (i = 0; i < n; i++) print "echo" }' >"$WORK/echoes"
declare -A trip_port trip_pid
for impl in "${IMPLS[@]}"; do
    [ "$impl" = raw ] && continue
    start_impl "$impl" 65536
    trip_port[$impl]=$PORT
    trip_pid[$impl]=$SPID
    : >"$WORK/trip.$impl"
done
: >"$WORK/trip.spawn"
for ((run = 1; run <= RUNS; run++)); do
    timed /dev/null /dev/null "$WORK/rss" "$ROOT/bench/spawn_loop" "$TRIPS" >>"$WORK/trip.spawn"
    for impl in "${IMPLS[@]}"; do
        [ -n "${trip_port[$impl]:-}" ] || continue
        port=${trip_port[$impl]}
        case $impl in
        stage1) trip_in=$WORK/echoes; trip=("$ROOT/stage1_naive/client" -p "$port") ;;
        stage3) trip_in=$WORK/trues; trip=("$ROOT/stage3_struct_len/client" -p "$port") ;;
        stage4) trip_in=$WORK/trues; trip=("$ROOT/stage4_json_header/client" -p "$port") ;;
        doc3) trip_in=$WORK/trues; trip=("$PYTHON" -B "$WORK/doc_v3_client.py" "$port") ;;
        doc4) trip_in=$WORK/trues; trip=("$PYTHON" -B "$WORK/doc_v4_client.py" "$port") ;;
        esac
        timed "$trip_in" "$WORK/trip.out" "$WORK/rss" "${trip[@]}" >>"$WORK/trip.$impl"
        case $impl in
        stage1) want=$((2 * TRIPS)) ;;        # echo's newline and print()'s
        stage3 | stage4) want=0 ;;
        *) want=-1 ;;                         # the document's prompts and 命令结束
        esac
        got=$(wc -c <"$WORK/trip.out")
        [ "$want" -lt 0 ] || [ "$got" -eq "$want" ] || die "$(label "$impl"): $got bytes of output for $TRIPS commands, not $want"
    done
done
TRIP[spawn]=$(median <"$WORK/trip.spawn")
for impl in "${!trip_port[@]}"; do
    TRIP[$impl]=$(median <"$WORK/trip.$impl")
    stop_server "${trip_pid[$impl]}"
done

# ---- the tap ----

say "tap: a $(human "$TAP_BYTES") stage 4 transfer and $TINY sends of 64 bytes, tapped and not; $RUNS run(s) each"
EXPECT=$TAP_BYTES
: >"$WORK/tap.plain"; : >"$WORK/tap.tapped"; : >"$WORK/tiny.plain"; : >"$WORK/tiny.tapped"
start_impl stage4 "$TAP_BYTES"
plain_port=$PORT plain_pid=$SPID
rm -f "$WORK/big.nbcap"
LD_PRELOAD=$TAP NIANBAO_TAP="$WORK/big.nbcap" start_impl stage4 "$TAP_BYTES"
tapped_port=$PORT tapped_pid=$SPID
for ((run = 1; run <= RUNS; run++)); do
    client_argv stage4 "$plain_port" "head -c $TAP_BYTES /dev/zero"
    timed "$CLIENT_IN" /dev/null "$WORK/rss" "${CLIENT[@]}" >>"$WORK/tap.plain"
    client_argv stage4 "$tapped_port" "head -c $TAP_BYTES /dev/zero"
    timed "$CLIENT_IN" /dev/null "$WORK/rss" env LD_PRELOAD="$TAP" NIANBAO_TAP="$WORK/big.nbcap" \
        "${CLIENT[@]}" >>"$WORK/tap.tapped"
    timed /dev/null /dev/null "$WORK/rss" "$ROOT/bench/tiny_sends" "$TINY" 64 >>"$WORK/tiny.plain"
    rm -f "$WORK/tiny.nbcap"
    timed /dev/null /dev/null "$WORK/rss" env LD_PRELOAD="$TAP" NIANBAO_TAP="$WORK/tiny.nbcap" \
        "$ROOT/bench/tiny_sends" "$TINY" 64 >>"$WORK/tiny.tapped"
done
stop_server "$plain_pid"; stop_server "$tapped_pid"
TAP_CAPTURE=$(stat -c %s "$WORK/big.nbcap")
TINY_CAPTURE=$(stat -c %s "$WORK/tiny.nbcap")
rm -f "$WORK/big.nbcap" "$WORK/tiny.nbcap"
TAP_T[plain]=$(median <"$WORK/tap.plain"); TAP_T[tapped]=$(median <"$WORK/tap.tapped")
TAP_T[tiny_plain]=$(median <"$WORK/tiny.plain"); TAP_T[tiny_tapped]=$(median <"$WORK/tiny.tapped")

# ---- the viewer's decoder ----

say "viewer: captures of seq 1 N through tools/slicer --min 1 --max 1, N = ${SEQS[*]}"
for n in "${SEQS[@]}"; do
    cap="$WORK/seq$n.nbcap"
    rm -f "$cap"
    LD_PRELOAD=$TAP NIANBAO_TAP=$cap start_server "seq$n" "$ROOT/stage3_struct_len/server" --port 0
    srv_pid=$SPID srv_port=$PORT
    LD_PRELOAD=$TAP NIANBAO_TAP=$cap start_server "slicer$n" "$ROOT/tools/slicer" --listen 0 \
        --to "127.0.0.1:$srv_port" --min 1 --max 1
    slicer_pid=$SPID
    printf 'seq 1 %s\n' "$n" | LD_PRELOAD=$TAP NIANBAO_TAP=$cap \
        "$ROOT/stage3_struct_len/client" -p "$PORT" --timeout 600 >"$WORK/seq.out" ||
        die "the stage 3 client failed through the slicer (seq 1 $n)"
    seq 1 "$n" | cmp -s - "$WORK/seq.out" || die "seq 1 $n came through the slicer wrong"
    stop_server "$slicer_pid"; stop_server "$srv_pid"
    : >"$WORK/view.t"; : >"$WORK/view.r"
    for ((run = 1; run <= RUNS; run++)); do
        timed /dev/null "$WORK/view.out" "$WORK/rss" "$VIEW" --replay "$cap" --dump >>"$WORK/view.t"
        cat "$WORK/rss" >>"$WORK/view.r"
    done
    grep -q "^total: " "$WORK/view.out" || die "nianbao-view --dump of seq 1 $n printed no total"
    VIEW_T[$n]=$(median <"$WORK/view.t")
    VIEW_RSS[$n]=$(median <"$WORK/view.r")
    VIEW_SIZE[$n]=$(stat -c %s "$cap")
    rm -f "$cap"
done

# ---- stage 2's race ----

say "stage 2: $RACE_RUNS merges against tcp_server --wait-ms 0"
start_server race "$ROOT/stage2_udp_vs_tcp/tcp_server" --port 0 --wait-ms 0
race_pid=$SPID race_port=$PORT
for ((i = 0; i < RACE_RUNS; i++)); do
    "$ROOT/stage2_udp_vs_tcp/tcp_client" -p "$race_port" --demo merge >/dev/null ||
        die "tcp_client --demo merge failed"
done
tries=0
until [ "$(grep -c '^send: ' "$WORK/race.out")" -eq "$RACE_RUNS" ]; do
    tries=$((tries + 1)); [ "$tries" -lt 200 ] || die "tcp_server did not log its $RACE_RUNS replies"
    sleep 0.05
done
stop_server "$race_pid"
RACE_ALONE=$(grep -c '^recv #1: 5 bytes "hello"$' "$WORK/race.out" || true)
RACE_MERGED=$(grep -c '^recv #1: 10 bytes "helloworld"$' "$WORK/race.out" || true)

# ---- stages 5 and 6: their own scripts, in this run ----

mkdir -p "$RESULTS"
say "sandbox: bench/sandbox.sh, $BENCH_SANDBOX_RUNS \`true\` with and without --sandbox, taking turns"
SANDBOX_TSV="$WORK/sandbox.tsv" "$ROOT/bench/sandbox.sh" >"$RESULTS/sandbox.md" || die "bench/sandbox.sh failed"
SB_COST=-
[ -s "$WORK/sandbox.tsv" ] && IFS=$'\t' read -r SB_RUNS SB_PLAIN SB_WITH SB_COST <"$WORK/sandbox.tsv"
say "class: bench/class.sh, $BENCH_CLASS_SIZE copies of the stage 3 Python client through tools/grade --each, starter and finished"
CLASS_TSV="$WORK/class.tsv" "$ROOT/bench/class.sh" >"$RESULTS/class.md" || die "bench/class.sh failed"
declare -A CLASS_ONE CLASS_ALL
while IFS=$'\t' read -r kind size one all; do
    CLASS_ONE[$kind]=$one CLASS_ALL[$kind]=$all CLASS_SIZE=$size
done <"$WORK/class.tsv"
if [ "$STAGE5" = 1 ]; then
    say "stage 5: bench/stage5.sh, $(human "$STAGE5_BYTES") down, up and streamed; $RUNS run(s) each"
    BENCH_BYTES=$STAGE5_BYTES BENCH_RUNS=$RUNS STAGE5_TSV="$WORK/stage5.tsv" \
        "$ROOT/bench/stage5.sh" --header >"$RESULTS/stage5.md" || die "bench/stage5.sh failed"
    declare -A S5
    while IFS=$'\t' read -r op ours raw rawsha srv cli ours_cpu raw_cpu rawsha_cpu; do
        [ "$op" = op ] && continue
        S5[$op,ours]=$ours S5[$op,raw]=$raw S5[$op,rawsha]=$rawsha S5[$op,srv]=$srv S5[$op,cli]=$cli
        S5[$op,ours_cpu]=$ours_cpu S5[$op,raw_cpu]=$raw_cpu S5[$op,rawsha_cpu]=$rawsha_cpu
    done <"$WORK/stage5.tsv"
    # SHA-256 of as many bytes, in this run: what integrity costs each end.
    : >"$WORK/sha"
    for ((run = 1; run <= RUNS; run++)); do
        "$ROOT/bench/md5_speed" "$STAGE5_BYTES" >"$WORK/md5.out" || die "bench/md5_speed failed"
        awk '$1 == "sha256" { print $2 }' "$WORK/md5.out" >>"$WORK/sha"
    done
    S5_SHA=$(median <"$WORK/sha")
fi
if [ "$STAGE6" = 1 ]; then
    say "stage 6: bench/stage6.sh"
    BENCH_RESULTS=$RESULTS STAGE6_IDLE_TSV="$WORK/stage6_idle.tsv" "$ROOT/bench/stage6.sh" >/dev/null ||
        die "bench/stage6.sh failed"
    S6_SETTINGS=
    for v in STAGE6_LEVELS STAGE6_TOTAL STAGE6_IDLE STAGE6_GOOD STAGE6_MODELS; do
        [ -z "${!v:-}" ] || S6_SETTINGS+=" $v=\"${!v}\""
    done
    IFS=$'\t' read -r S6_IDLE S6_HELD S6_ALONE S6_BESIDE S6_RATIO S6_RSS < <(sed -n 2p "$WORK/stage6_idle.tsv")
    say "stage 6: bench/poll_floor.sh, poll against epoll with nothing else"
    BENCH_RESULTS=$RESULTS "$ROOT/bench/poll_floor.sh" >/dev/null || die "bench/poll_floor.sh failed"
    for v in POLL_FLOOR_LEVELS POLL_FLOOR_TOTAL POLL_FLOOR_ROUNDS; do
        [ -z "${!v:-}" ] || S6_SETTINGS+=" $v=\"${!v}\""
    done
fi

# ---- the tables ----

mkdir -p "$RESULTS"
md="$RESULTS/bench.md"
tsv="$RESULTS/throughput.tsv"
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
hash_limit() { # SIZE: 2 x the faster MD5, "-" when not measured
    local md=${MD5_LIBMD[$1]:--} mc=${MD5_CRYPTO[$1]:--}
    awk -v a="$md" -v b="$mc" 'BEGIN { m = "-"; if (a != "-") m = a + 0
        if (b != "-" && (m == "-" || b + 0 < m)) m = b + 0
        if (m == "-") print "-"; else printf "%.6f\n", 2 * m }'
}
{
    echo "# make bench"
    echo
    echo "Measured $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) CPUs ($cpu), Linux $(uname -r), loopback."
    echo "Every time is the median of $RUNS run(s), all in this one run; ratios are against baselines measured"
    echo "alongside. Sizes: $(for s in "${SIZES[@]}"; do human "$s"; done | paste -sd, | sed 's/,/, /g')."
    [ "$DOC" = 1 ] || echo "The document's programs are not in this run (its text was not found)."
    echo
    echo "## Throughput: \`head -c N /dev/zero\`, client start to exit (seconds)"
    echo
    printf '| size |'; for impl in "${IMPLS[@]}"; do printf ' %s |' "$(label "$impl")"; done
    printf ' MD5 libmd | MD5 libcrypto | stage 4 hash limit |\n'
    printf '|---|'; for _ in "${IMPLS[@]}"; do printf -- '---:|'; done; printf -- '---:|---:|---:|\n'
    for size in "${SIZES[@]}"; do
        printf '| %s |' "$(human "$size")"
        for impl in "${IMPLS[@]}"; do printf ' %s |' "$(secs "${TIME[$impl,$size]:--}")"; done
        printf ' %s | %s | %s |\n' "$(secs "${MD5_LIBMD[$size]:--}")" "$(secs "${MD5_CRYPTO[$size]:--}")" "$(secs "$(hash_limit "$size")")"
    done
    echo
    echo "## Throughput as ratios: time / the raw baseline's (stage 4 also / its hash limit: 2 x the faster MD5 of the same bytes)"
    echo
    printf '| size |'; for impl in "${IMPLS[@]}"; do [ "$impl" = raw ] || printf ' %s / raw |' "$(label "$impl")"; done
    printf ' stage 4 / hash limit |\n'
    printf '|---|'; for impl in "${IMPLS[@]}"; do [ "$impl" = raw ] || printf -- '---:|'; done; printf -- '---:|\n'
    for size in "${SIZES[@]}"; do
        printf '| %s |' "$(human "$size")"
        for impl in "${IMPLS[@]}"; do
            [ "$impl" = raw ] || printf ' %s |' "$(ratio "${TIME[$impl,$size]:--}" "${TIME[raw,$size]}")"
        done
        printf ' %s |\n' "$(ratio "${TIME[stage4,$size]}" "$(hash_limit "$size")")"
    done
    echo
    echo "## Peak memory (RSS, MiB): server / client"
    echo
    printf '| size |'; for impl in "${IMPLS[@]}"; do printf ' %s |' "$(label "$impl")"; done; echo
    printf '|---|'; for _ in "${IMPLS[@]}"; do printf -- '---:|'; done; echo
    for size in "${SIZES[@]}"; do
        printf '| %s |' "$(human "$size")"
        for impl in "${IMPLS[@]}"; do
            if [ -n "${TIME[$impl,$size]:-}" ]; then
                printf ' %s / %s |' "$(mib "${SRV_RSS[$impl,$size]}")" "$(mib "${CLI_RSS[$impl,$size]}")"
            else
                printf ' - |'
            fi
        done
        echo
    done
    echo
    echo "## Round trips: $TRIPS commands on one connection (seconds; ms each; / $TRIPS \`sh -c true\` spawns)"
    echo
    echo "| what | seconds | ms each | / spawns |"
    echo "|---|---:|---:|---:|"
    printf '| %s local `sh -c true` spawns (baseline) | %s | %s | 1.00 |\n' "$TRIPS" "$(secs "${TRIP[spawn]}")" \
        "$(awk -v t="${TRIP[spawn]}" -v n="$TRIPS" 'BEGIN { printf "%.2f", 1000 * t / n }')"
    for impl in "${IMPLS[@]}"; do
        [ -n "${TRIP[$impl]:-}" ] || continue
        what="\`true\` through $(label "$impl")"
        [ "$impl" = stage1 ] && what="\`echo\` through stage 1 (its client waits forever on a reply of 0 bytes)"
        printf '| %s | %s | %s | %s |\n' "$what" "$(secs "${TRIP[$impl]}")" \
            "$(awk -v t="${TRIP[$impl]}" -v n="$TRIPS" 'BEGIN { printf "%.2f", 1000 * t / n }')" \
            "$(ratio "${TRIP[$impl]}" "${TRIP[spawn]}")"
    done
    echo
    echo "## The tap (viewer/libnianbao-tap.so), both ends tapped, against untapped"
    echo
    echo "| what | untapped (s) | tapped (s) | tapped / untapped | capture |"
    echo "|---|---:|---:|---:|---:|"
    printf '| stage 4, %s | %s | %s | %s | %s MiB |\n' "$(human "$TAP_BYTES")" "$(secs "${TAP_T[plain]}")" \
        "$(secs "${TAP_T[tapped]}")" "$(ratio "${TAP_T[tapped]}" "${TAP_T[plain]}")" "$(mib $((TAP_CAPTURE / 1024)))"
    printf '| %s sends of 64 bytes (bench/tiny_sends) | %s | %s | %s | %s MiB |\n' "$TINY" "$(secs "${TAP_T[tiny_plain]}")" \
        "$(secs "${TAP_T[tiny_tapped]}")" "$(ratio "${TAP_T[tiny_tapped]}" "${TAP_T[tiny_plain]}")" "$(mib $((TINY_CAPTURE / 1024)))"
    echo
    echo "## The viewer: \`nianbao-view --dump\` of a capture through \`tools/slicer --min 1 --max 1\` (server, slicer, client tapped)"
    echo
    echo "| command | capture (MiB) | decode (s) | peak RSS (MiB) | size / first | time / first |"
    echo "|---|---:|---:|---:|---:|---:|"
    first=${SEQS[0]}
    for n in "${SEQS[@]}"; do
        printf '| `seq 1 %s` | %s | %s | %s | %s | %s |\n' "$n" "$(mib $((VIEW_SIZE[$n] / 1024)))" "$(secs "${VIEW_T[$n]}")" \
            "$(mib "${VIEW_RSS[$n]}")" "$(ratio "${VIEW_SIZE[$n]}" "${VIEW_SIZE[$first]}")" "$(ratio "${VIEW_T[$n]}" "${VIEW_T[$first]}")"
    done
    echo
    echo "## Stage 2: the first recv of \`tcp_server --wait-ms 0\`, $RACE_RUNS runs of \`tcp_client --demo merge\`"
    echo
    echo "\`hello\` alone: $RACE_ALONE of $RACE_RUNS; \`helloworld\`: $RACE_MERGED of $RACE_RUNS."
    echo
    if [ "$STAGE5" = 1 ]; then
        echo "## Stage 5: $(human "$STAGE5_BYTES") down, up and of command output streamed (bench/stage5.sh; medians of $RUNS)"
        echo
        echo "Raw: the same bytes over one loopback socket, no framing, no hash, no fsync. Raw + SHA-256: the same,"
        echo "both ends hashing every byte in line. Stage 5 hashes on both ends too (and fsyncs an upload)."
        echo
        cat "$RESULTS/stage5.md"
        echo
        echo "Where the time goes: CPU seconds of one run, both ends and the command (time(1)), and the floor they"
        echo "set on $(nproc) cores: stage 5's CPU / $(nproc), over raw's time. SHA-256 of $(human "$STAGE5_BYTES") in memory"
        echo "(bench/md5_speed, this run): $(secs "$S5_SHA") s, paid once on each end."
        echo
        echo "| operation | stage 5 CPU s | raw CPU s | raw + SHA-256 CPU s | floor: stage 5 CPU / $(nproc) / raw time |"
        echo "|---|---:|---:|---:|---:|"
        for op in get again put exec; do
            printf '| %s | %s | %s | %s | %s× |\n' "$op" "${S5[$op,ours_cpu]}" "${S5[$op,raw_cpu]}" \
                "${S5[$op,rawsha_cpu]}" "$(awk -v c="${S5[$op,ours_cpu]}" -v n="$(nproc)" -v t="${S5[$op,raw]}" \
                    'BEGIN { printf "%.2f", c / n / t }')"
        done
        echo
    fi
    if [ "$STAGE6" = 1 ]; then
        echo "## Stage 6: the serving models under tools/loadgen (bench/stage6.sh)"
        echo
        cat "$RESULTS/stage6.md"
        echo
        cat "$RESULTS/poll_floor.md"
        echo
    fi
    echo "## --sandbox: a command in bubblewrap (bench/sandbox.sh; stage 3, one client per \`true\`, medians)"
    echo
    echo "| runs | without | with --sandbox | cost per command |"
    echo "|---|---|---|---|"
    cat "$RESULTS/sandbox.md"
    echo
    echo "## A class: \`tools/grade --each\` on $BENCH_CLASS_SIZE copies of the stage 3 Python client (bench/class.sh; the grader's default --jobs)"
    echo
    echo "| kind | one submission | the class | class / one |"
    echo "|---|---|---|---|"
    cat "$RESULTS/class.md"
    echo
    # The targets of issue 8, measured here.
    big=$LARGEST
    max_rss() { local impl=$1 m=0 s; for s in "${SIZES[@]}"; do
        [ "${SRV_RSS[$impl,$s]:-0}" -gt "$m" ] && m=${SRV_RSS[$impl,$s]}; done; echo "$m"; }
    last=${SEQS[-1]}
    events_x=$(ratio "${VIEW_SIZE[$last]}" "${VIEW_SIZE[$first]}")
    time_x=$(ratio "${VIEW_T[$last]}" "${VIEW_T[$first]}")
    echo "## The targets of issue 8, in this run"
    echo
    echo "| what | measured | target | holds |"
    echo "|---|---|---|---|"
    r=$(ratio "${TRIP[stage4]}" "${TRIP[spawn]}")
    printf '| %s `true` through stage 4 | %s s (%s ms each), %s× %s spawns (%s s) | ≤ 1.2× | %s |\n' "$TRIPS" \
        "$(secs "${TRIP[stage4]}")" "$(awk -v t="${TRIP[stage4]}" -v n="$TRIPS" 'BEGIN { printf "%.1f", 1000 * t / n }')" \
        "$r" "$TRIPS" "$(secs "${TRIP[spawn]}")" "$(holds "$r" '<=' 1.2)"
    for impl in stage3 stage4; do
        m=$(max_rss "$impl")
        printf '| %s server peak RSS, any size up to %s | %s MiB | ≤ 16 MiB | %s |\n' "$(label "$impl")" "$(human "$big")" \
            "$(mib "$m")" "$(holds "$(mib "$m")" '<=' 16)"
    done
    r=$(ratio "${TIME[stage3,$big]}" "${TIME[raw,$big]}")
    printf '| stage 3 vs raw at %s | %s× | ≤ 1.7× | %s |\n' "$(human "$big")" "$r" "$(holds "$r" '<=' 1.7)"
    r=$(ratio "${TIME[stage4,$big]}" "$(hash_limit "$big")")
    printf '| stage 4 vs its hash limit at %s | %s× (%s s; limit %s s) | ≤ 1.15× | %s |\n' "$(human "$big")" "$r" \
        "$(secs "${TIME[stage4,$big]}")" "$(secs "$(hash_limit "$big")")" "$(holds "$r" '<=' 1.15)"
    lin=$(awk -v t="$time_x" -v e="$events_x" 'BEGIN { if (t == "-" || e == "-") print "-"; else printf "%.2f", t / e * 10 }')
    printf '| viewer `--dump`, `seq 1 %s` vs `seq 1 %s` | %s× the capture in %s× the time | linear: 10× the events in ≤ 12× the time (here: %s× per 10×) | %s |\n' \
        "$last" "$first" "$events_x" "$time_x" "$lin" "$(holds "$lin" '<=' 12)"
    printf '| viewer `--dump` of the `seq 1 %s` capture (%s MiB) | %s s | ≤ 3 s | %s |\n' "$last" \
        "$(mib $((VIEW_SIZE[$last] / 1024)))" "$(secs "${VIEW_T[$last]}")" "$(holds "${VIEW_T[$last]}" '<=' 3)"
    r=$(ratio "${TAP_T[tiny_tapped]}" "${TAP_T[tiny_plain]}")
    printf '| tap, %s sends of 64 bytes | %s× untapped | ≤ 1.5× | %s |\n' "$TINY" "$r" "$(holds "$r" '<=' 1.5)"
    echo
    if [ "$STAGE5" = 1 ] || [ "$STAGE6" = 1 ]; then
        echo "## The targets of issues 9 and 10, in this run"
        echo
        echo "| what | measured | target | holds |"
        echo "|---|---|---|---|"
    fi
    if [ "$STAGE5" = 1 ]; then
        for op in get again put exec; do
            case $op in
            get) what="download"; limit=1.2 ;;
            again) what="download again (SHA-256 remembered)"; limit=1.2 ;;
            put) what="upload (fsync'ed)"; limit=1.3 ;;
            exec) what="streamed exec"; limit=1.3 ;;
            esac
            r=$(ratio "${S5[$op,ours]}" "${S5[$op,raw]}")
            printf '| stage 5 %s, %s, vs raw | %s× (%s s; raw %s s; raw + SHA-256 %s s) | ≤ %s× | %s |\n' "$what" \
                "$(human "$STAGE5_BYTES")" "$r" "$(secs "${S5[$op,ours]}")" "$(secs "${S5[$op,raw]}")" \
                "$(secs "${S5[$op,rawsha]}")" "$limit" "$(holds "$r" '<=' "$limit")"
        done
        srv=0 cli=0
        for op in get again put exec; do
            [ "${S5[$op,srv]}" -gt "$srv" ] && srv=${S5[$op,srv]}
            [ "${S5[$op,cli]}" -gt "$cli" ] && cli=${S5[$op,cli]}
        done
        worst=$srv; [ "$cli" -gt "$worst" ] && worst=$cli
        printf '| stage 5 peak RSS, server / client, any of the three | %s / %s MiB | ≤ 16 MiB both | %s |\n' \
            "$(mib "$srv")" "$(mib "$cli")" "$(holds "$(mib "$worst")" '<=' 16)"
    fi
    if [ "$STAGE6" = 1 ]; then
        printf '| stage 6 poll: a good client'"'"'s p99 beside %s idle connections (%s held) vs alone | %s× (%s ms; alone %s ms) | ≤ 2× | %s |\n' \
            "$S6_IDLE" "$S6_HELD" "$S6_RATIO" "$S6_BESIDE" "$S6_ALONE" "$(holds "$S6_RATIO" '<=' 2)"
    fi
    if [ "$STAGE5" = 1 ] || [ "$STAGE6" = 1 ]; then echo; fi
    if [ "$STAGE6" = 1 ]; then
        echo "## The target of issue 16, in this run"
        echo
        echo "| what | measured | target | holds |"
        echo "|---|---|---|---|"
        tail -n +2 "$RESULTS/poll_floor.tsv" | while IFS=$'\t' read -r c _ f p r req rep _; do
            printf '| stage 6 poll, gets of 4 KiB at %s clients, vs epoll alone with the same bytes (%s up, %s down) | %s× (%s requests/s; floor %s) | ≥ 0.6× | %s |\n' \
                "$c" "$req" "$rep" "$r" "$p" "$f" "$(holds "$r" '>=' 0.6)"
        done
        echo
    fi
    echo "## The target of issue 17, in this run"
    echo
    echo "| what | measured | target | holds |"
    echo "|---|---|---|---|"
    if [ "$SB_COST" = - ]; then
        printf '| --sandbox cost per command | not measured (see above) | ≤ 10 ms | - |\n'
    else
        printf '| --sandbox cost per command, median of %s `true` | %s ms (%s ms against %s ms) | ≤ 10 ms | %s |\n' \
            "$SB_RUNS" "$SB_COST" "$SB_WITH" "$SB_PLAIN" "$(holds "$SB_COST" '<=' 10)"
    fi
    echo
    echo "## The targets of issue 18, in this run"
    echo
    echo "| what | measured | target | holds |"
    echo "|---|---|---|---|"
    for kind in starter finished; do
        if [ "$CLASS_SIZE" = 40 ]; then ok=$(holds "${CLASS_ALL[$kind]}" '<=' 60); else ok="- (a class of $CLASS_SIZE)"; fi
        printf '| %s %s Python stage 3 clients, `--each` | %s s (one alone: %s s) | ≤ 60 s | %s |\n' \
            "$CLASS_SIZE" "$( [ "$kind" = starter ] && echo starter || echo correct)" \
            "${CLASS_ALL[$kind]}" "${CLASS_ONE[$kind]}" "$ok"
    done
    echo
    echo "Settings: BENCH_SIZES=\"${SIZES[*]}\" BENCH_RUNS=$RUNS BENCH_ROUNDTRIPS=$TRIPS BENCH_TINY_SENDS=$TINY BENCH_SEQS=\"${SEQS[*]}\" BENCH_TAP_BYTES=$TAP_BYTES BENCH_DOC_MAX=$DOC_MAX BENCH_RACE_RUNS=$RACE_RUNS BENCH_STAGE5=$STAGE5 BENCH_STAGE5_BYTES=$STAGE5_BYTES BENCH_STAGE6=$STAGE6$S6_SETTINGS BENCH_SANDBOX_RUNS=$BENCH_SANDBOX_RUNS BENCH_CLASS_SIZE=$BENCH_CLASS_SIZE."
} >"$md"

# Throughput in MiB/s for the plot, one line per size, "-" where not run.
{
    printf 'size'; for impl in "${IMPLS[@]}"; do printf '\t%s' "$impl"; done; printf '\n'
    for size in "${SIZES[@]}"; do
        printf '%s' "$size"
        for impl in "${IMPLS[@]}"; do
            t=${TIME[$impl,$size]:--}
            awk -v t="$t" -v s="$size" 'BEGIN { if (t == "-") printf "\t-"; else printf "\t%.3f", s / 1048576 / t }'
        done
        printf '\n'
    done
} >"$tsv"

if [ "$HAVE_GNUPLOT" = 1 ]; then
    {
        echo "set terminal svg size 960,420 dynamic font 'sans,11' background rgb 'white'"
        echo "set output '$RESULTS/bench.svg'"
        echo "set datafile separator tab"
        echo "set datafile missing '-'"
        echo "set key top left font ',10'"
        echo "set logscale x 2"
        echo "set grid"
        echo "set xtics ('1K' 1024, '16K' 16384, '256K' 262144, '4M' 4194304, '64M' 67108864, '1G' 1073741824)"
        echo "set xlabel 'output of the command (bytes)'"
        smallest=$(printf '%s\n' "${SIZES[@]}" | sort -n | head -n 1)
        echo "set xrange [$((smallest / 2)):$((LARGEST * 2))]"
        echo "set multiplot layout 1,2 title 'make bench: head -c N /dev/zero over loopback ($RUNS-run medians)'"
        echo "set logscale y"
        echo "set ylabel 'MiB/s'"
        printf "plot "
        col=2
        for impl in "${IMPLS[@]}"; do
            [ "$col" -gt 2 ] && printf ", "
            printf "'%s' using 1:%d with linespoints lt %d title '%s'" "$tsv" "$col" "$((col - 1))" "$(label "$impl")"
            col=$((col + 1))
        done
        echo
        echo "unset logscale y"
        echo "set ylabel 'time / raw baseline'"
        printf "plot "
        col=3
        for impl in "${IMPLS[@]}"; do
            [ "$impl" = raw ] && continue
            [ "$col" -gt 3 ] && printf ", "
            # the same colour as in the left plot
            printf "'%s' using 1:(\$2/\$%d) with linespoints lt %d title '%s'" "$tsv" "$col" "$((col - 1))" "$(label "$impl")"
            col=$((col + 1))
        done
        echo
        echo "unset multiplot"
    } >"$WORK/plot.gp"
    gnuplot "$WORK/plot.gp" || die "gnuplot failed"
fi

cat "$md"
say "results in ${RESULTS#"$ROOT/"}/: bench.md, throughput.tsv$([ "$HAVE_GNUPLOT" = 1 ] && echo ", bench.svg")"
