#!/bin/sh
# bench.sh - what the tap costs (`make bench`).
#
# 1. Time: a stage 4 transfer of BENCH_BYTES (default 1 GiB of zeros: the
#    command is `head -c N /dev/zero`, the client's stdout goes to /dev/null),
#    BENCH_RUNS times (default 3) untapped, then with server AND client under
#    the tap. Prints each run, the medians and tapped/untapped. The issue's
#    bar: at most 2x.
# 2. Memory: the viewer's max RSS while it decodes the tapped capture of the
#    whole transfer, next to a capture 16 times smaller. The viewer keeps a
#    window of recent bytes per stream, so the two should be about equal.
#
# Environment: BENCH_BYTES, BENCH_RUNS, NIANBAO_TAP_CAP (passed to the tap).
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BYTES=${BENCH_BYTES:-1073741824}
RUNS=${BENCH_RUNS:-3}
SERVER="$ROOT/stage4_json_header/server"
CLIENT="$ROOT/stage4_json_header/client"
VIEW="$ROOT/viewer/nianbao-view"
TAP="$ROOT/viewer/libnianbao-tap.so"

for f in "$SERVER" "$CLIENT" "$VIEW" "$TAP"; do
    if [ ! -e "$f" ]; then
        echo "bench: $f is missing; run make first" >&2
        exit 1
    fi
done
if [ ! -x /usr/bin/time ]; then
    echo "bench: /usr/bin/time is missing (apt-get install time)" >&2
    exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nianbao-bench.XXXXXX")
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

# start_server TAPPED CAPTURE: starts the stage 4 server (under the tap when
# TAPPED is 1) and sets PORT from its "listening on" line.
start_server() {
    : >"$WORK/server.log"
    if [ "$1" = 1 ]; then
        LD_PRELOAD="$TAP" NIANBAO_TAP="$2" "$SERVER" --port 0 --timeout 600 \
            --max-output "$BYTES" 2>"$WORK/server.log" &
    else
        "$SERVER" --port 0 --timeout 600 --max-output "$BYTES" 2>"$WORK/server.log" &
    fi
    SERVER_PID=$!
    tries=0
    while ! grep -q '^listening on ' "$WORK/server.log"; do
        tries=$((tries + 1))
        if [ "$tries" -gt 200 ] || ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "bench: the server did not start:" >&2
            cat "$WORK/server.log" >&2
            exit 1
        fi
        sleep 0.05
    done
    PORT=$(sed -n 's/^listening on .*://p' "$WORK/server.log")
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
}

# transfer TAPPED CAPTURE BYTES: one request of BYTES zeros; prints the
# milliseconds from the client's start to its exit.
transfer() {
    start_server "$1" "$2"
    start=$(date +%s%N)
    if [ "$1" = 1 ]; then
        echo "head -c $3 /dev/zero" | LD_PRELOAD="$TAP" NIANBAO_TAP="$2" \
            "$CLIENT" --port "$PORT" --max-len "$3" >/dev/null
    else
        echo "head -c $3 /dev/zero" | "$CLIENT" --port "$PORT" --max-len "$3" >/dev/null
    fi
    end=$(date +%s%N)
    stop_server
    echo $(((end - start) / 1000000))
}

median() {
    sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'
}

echo "stage 4 transfer of $BYTES bytes, $RUNS runs each (tap cap ${NIANBAO_TAP_CAP:-1024} bytes per call)"
: >"$WORK/plain.ms"
: >"$WORK/tapped.ms"
i=1
while [ "$i" -le "$RUNS" ]; do
    # alternate, so a burst of load elsewhere hits both sides alike
    ms=$(transfer 0 "" "$BYTES"); echo "$ms" >>"$WORK/plain.ms"
    echo "  run $i untapped: $ms ms"
    rm -f "$WORK/big.nbcap"
    ms=$(transfer 1 "$WORK/big.nbcap" "$BYTES"); echo "$ms" >>"$WORK/tapped.ms"
    echo "  run $i tapped:   $ms ms"
    i=$((i + 1))
done
plain=$(median <"$WORK/plain.ms")
tapped=$(median <"$WORK/tapped.ms")
ratio=$(awk -v t="$tapped" -v p="$plain" 'BEGIN { printf "%.2f", (p > 0 ? t / p : 0) }')
echo "median untapped: $plain ms; median tapped: $tapped ms; tapped/untapped = ${ratio}x (bar: 2x)"

small=$((BYTES / 16))
rm -f "$WORK/small.nbcap"
transfer 1 "$WORK/small.nbcap" "$small" >/dev/null
for cap in small big; do
    /usr/bin/time -f '%M KiB in %e s' -o "$WORK/$cap.rss" "$VIEW" --replay "$WORK/$cap.nbcap" --dump >/dev/null
done
echo "viewer --dump of the $small-byte transfer ($(stat -c %s "$WORK/small.nbcap")-byte capture): max RSS $(cat "$WORK/small.rss")"
echo "viewer --dump of the $BYTES-byte transfer ($(stat -c %s "$WORK/big.nbcap")-byte capture): max RSS $(cat "$WORK/big.rss")"
awk -v r="$ratio" 'BEGIN { exit !(r <= 2.0) }' || { echo "bench: the tap costs more than 2x" >&2; exit 1; }
