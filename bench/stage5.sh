#!/bin/sh
# bench/stage5.sh - stage 5's rows of `make bench`: a 1 GiB download (a
# first one, the server hashing the file, and again, the server
# remembering its SHA-256), a 1 GiB upload and 1 GiB of streamed command
# output, each timed against a raw baseline measured in the same run, with
# the peak RSS of our server and client. Prints Markdown table rows (with --header, the header first):
#
#   | what | ours | raw | ratio | peak RSS server | client |
#
# Two baselines (bench/stage5_raw.c, built here):
#   raw            the same bytes over one loopback socket: sendfile in,
#                  read and write out (exec: the pipe spliced to the socket);
#                  no framing, no hash, no fsync.
#   raw + SHA-256  the same, with both ends hashing every byte in line, as a
#                  plain implementation would (the sender hashes the file
#                  first, the receiver as it reads): what integrity costs
#                  without overlapping the hash with the transfer. Stage 5
#                  hashes on both ends too, so this is its fair comparison.
# Stage 5's upload also fsyncs the file before renaming it (the baselines
# do not); its times include that.
#
# Times are medians of BENCH_RUNS runs (default 3), from the client's start
# to its exit; the page cache is warm (the data is read once before) and
# `sync` runs before each timed run. The data is random bytes in $TMPDIR.
#
# Environment: BENCH_BYTES (default 1073741824), BENCH_RUNS (default 3),
# CC (to build the baseline), TMPDIR, STAGE5_TSV=FILE (the figures, one
# line per operation, get, again (get's baselines), put, exec: op,
# stage 5 s, raw s, raw + SHA-256 s, peak RSS of
# the server and of the client in KiB, then the CPU seconds of one run,
# both ends and the command, of stage 5, raw and raw + SHA-256;
# bench/run.sh reads it).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
BYTES=${BENCH_BYTES:-1073741824}
RUNS=${BENCH_RUNS:-3}
SERVER="$ROOT/stage5_file_transfer/server"
CLIENT="$ROOT/stage5_file_transfer/client"
TIME=/usr/bin/time

for f in "$SERVER" "$CLIENT"; do
    [ -x "$f" ] || { echo "stage5.sh: $f is missing; run make first" >&2; exit 1; }
done
[ -x "$TIME" ] || { echo "stage5.sh: $TIME is missing (apt-get install time)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nianbao-bench5.XXXXXX")
SERVER_PID=
cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

"${CC:-cc}" -O2 -o "$WORK/stage5_raw" "$ROOT/bench/stage5_raw.c" -lcrypto
RAW="$WORK/stage5_raw"
mkdir "$WORK/root" "$WORK/down"
head -c "$BYTES" /dev/urandom >"$WORK/data"
cat "$WORK/data" >/dev/null

# start_server CMD...: starts a server under time(1) (its peak RSS goes to
# $WORK/server.rss, then its user and system CPU seconds, its commands'
# included) and sets PORT from its "listening on" line.
start_server() {
    : >"$WORK/server.log"
    "$TIME" -f '%M %U %S' -o "$WORK/server.rss" "$@" 2>"$WORK/server.log" &
    SERVER_PID=$!
    PORT=$(bench_listening "$WORK/server.log" "$SERVER_PID") ||
        { echo "stage5.sh: the server did not start (its output is above)" >&2; exit 1; }
}

# stop_server: SIGTERM to the server (not to time(1), which then reports).
stop_server() {
    if [ -n "$SERVER_PID" ]; then
        pkill -TERM -P "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=
    fi
}

# timed OUT CMD...: runs CMD once under time(1): seconds, peak RSS (KiB)
# and CPU seconds (user, system) appended to OUT as "SECS KIB USER SYS".
# The seconds are timed here to the microsecond: time(1)'s %e has 10 ms
# steps, and a small run's raw baseline rounded to 0.00 s has no ratio.
timed() {
    out=$1
    shift
    sync
    start_ns=$(date +%s%N)
    if ! "$TIME" -f '%M %U %S' -o "$WORK/one" "$@" >/dev/null 2>"$WORK/client.err"; then
        echo "stage5.sh: failed: $*" >&2
        cat "$WORK/client.err" >&2
        exit 1
    fi
    end_ns=$(date +%s%N)
    awk -v ns="$((end_ns - start_ns))" '{ printf "%.6f %s %s %s\n", ns / 1e9, $1, $2, $3 }' \
        "$WORK/one" >>"$out"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
max_kib() { awk '$2 > m { m = $2 } END { print m + 0 }'; }
# cpu NAME KIND: the CPU seconds of one run, both ends: the client's median
# and the server's total over the runs, divided by the runs.
cpu() {
    c=$(awk '{ print $3 + $4 }' "$WORK/$1.$2" | median)
    tail -n 1 "$WORK/$1.$2.srv" | awk -v c="$c" -v r="$RUNS" '{ printf "%.2f\n", c + ($2 + $3) / r }'
}
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }

# measure NAME KIND: RUNS timed runs of KIND (get, put, exec) against the
# server NAME (ours, raw, rawsha) started here; $WORK/NAME.KIND holds the
# times and client RSS, $WORK/NAME.KIND.srv the server's peak RSS.
measure() {
    name=$1 kind=$2
    case $name in
    ours) start_server "$SERVER" --port 0 --root "$WORK/root" --timeout 3600 \
              --max-output "$BYTES" --max-upload "$BYTES" ;;
    raw) start_server "$RAW" serve "$WORK/root" ;;
    rawsha) start_server "$RAW" serve "$WORK/root" sha ;;
    esac
    sha=
    [ "$name" = rawsha ] && sha=sha
    : >"$WORK/$name.$kind"
    cp "$WORK/data" "$WORK/root/data"
    if [ "$kind" = again ]; then
        # The server remembers a file's SHA-256 once the file's last change
        # is over 2 s old (common/ftserve.h): let that pass, then one
        # download that hashes it, not timed.
        sleep 3
        "$CLIENT" -p "$PORT" get data "$WORK/down/data" >/dev/null 2>"$WORK/client.err" || {
            cat "$WORK/client.err" >&2; exit 1; }
    fi
    i=0
    while [ "$i" -lt "$RUNS" ]; do
        rm -f "$WORK/down/data" "$WORK/root/up"
        case $name.$kind in
        # A first download: the file just changed (touch), so the server
        # cannot have its digest and hashes it beside the transfer.
        ours.get) touch "$WORK/root/data"
                  timed "$WORK/$name.$kind" "$CLIENT" -p "$PORT" get data "$WORK/down/data" ;;
        ours.again) timed "$WORK/$name.$kind" "$CLIENT" -p "$PORT" get data "$WORK/down/data" ;;
        ours.put) timed "$WORK/$name.$kind" "$CLIENT" -p "$PORT" put "$WORK/data" up ;;
        ours.exec) timed "$WORK/$name.$kind" "$CLIENT" -p "$PORT" exec head -c "$BYTES" /dev/zero ;;
        *.get) timed "$WORK/$name.$kind" "$RAW" get "$PORT" data "$WORK/down/data" $sha ;;
        *.put) timed "$WORK/$name.$kind" "$RAW" put "$PORT" "$WORK/data" up $sha ;;
        *.exec) timed "$WORK/$name.$kind" "$RAW" exec "$PORT" "head -c $BYTES /dev/zero" $sha ;;
        esac
        i=$((i + 1))
    done
    if [ "$kind" = again ]; then
        n=$(grep -c ' (remembered: ' "$WORK/server.log" || true)
        if [ "$n" -ne "$RUNS" ]; then
            echo "stage5.sh: the server remembered the digest in $n of $RUNS downloads" >&2
            exit 1
        fi
    fi
    if [ "$name.$kind" = ours.get ] && grep -q ' (remembered: ' "$WORK/server.log"; then
        echo "stage5.sh: a first download used a remembered digest" >&2
        exit 1
    fi
    stop_server
    cat "$WORK/server.rss" >"$WORK/$name.$kind.srv"
    rm -f "$WORK/root/data" "$WORK/root/up" "$WORK/down/data"
}

# row WHAT KIND BASE [BASEKIND]: one table row, ours against the baseline
# BASE (its runs of BASEKIND, default KIND).
row() {
    ours=$(median <"$WORK/ours.$2")
    base=$(median <"$WORK/$3.${4:-$2}")
    ratio=$(awk -v a="$ours" -v b="$base" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "-" }')
    printf '| %s | %s s | %s s | %s | %s | %s |\n' "$1" "$ours" "$base" "$ratio" \
        "$(mib "$(tail -n 1 "$WORK/ours.$2.srv" | awk '{ print $1 }')")" "$(mib "$(max_kib <"$WORK/ours.$2")")"
}

if [ "${1:-}" = --header ]; then
    echo '| what | ours | raw | ratio | peak RSS server | client |'
    echo '|---|---|---|---|---|---|'
fi
label=$(awk -v b="$BYTES" 'BEGIN { if (b % 1073741824 == 0) printf "%d GiB", b / 1073741824;
                                   else printf "%.0f MiB", b / 1048576 }')
for kind in get put exec; do
    for name in ours raw rawsha; do
        measure "$name" "$kind"
    done
done
measure ours again
row "stage 5 download, $label" get raw
row "stage 5 download, $label, vs raw + SHA-256" get rawsha
row "stage 5 download again, $label (SHA-256 remembered)" again raw get
row "stage 5 download again, $label (SHA-256 remembered), vs raw + SHA-256" again rawsha get
row "stage 5 upload, $label (fsync'ed)" put raw
row "stage 5 upload, $label (fsync'ed), vs raw + SHA-256" put rawsha
row "stage 5 exec, $label of output streamed" exec raw
row "stage 5 exec, $label of output streamed, vs raw + SHA-256" exec rawsha
if [ -n "${STAGE5_TSV:-}" ]; then
    printf 'op\tours_s\traw_s\trawsha_s\tserver_kib\tclient_kib\tours_cpu_s\traw_cpu_s\trawsha_cpu_s\n' \
        >"$STAGE5_TSV"
    for kind in get again put exec; do
        base=$kind
        [ "$kind" = again ] && base=get
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$kind" "$(median <"$WORK/ours.$kind")" \
            "$(median <"$WORK/raw.$base")" "$(median <"$WORK/rawsha.$base")" \
            "$(tail -n 1 "$WORK/ours.$kind.srv" | awk '{ print $1 }')" "$(max_kib <"$WORK/ours.$kind")" \
            "$(cpu ours "$kind")" "$(cpu raw "$base")" "$(cpu rawsha "$base")" >>"$STAGE5_TSV"
    done
fi
