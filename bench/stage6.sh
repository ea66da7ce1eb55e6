#!/usr/bin/env bash
# bench/stage6.sh - stage 6's servers side by side (part of `make bench`,
# callable alone): the four models of stage6_concurrent/ and the document's
# own answer, Python's socketserver.ThreadingTCPServer (tests/py), under
# tools/loadgen.
#
#   clients     for 1, 10, 100 and 1000 clients at once, TOTAL requests
#               in all, spread over the clients, every reply checked
#               (--verify): exec of `echo nb-C-R-TOKEN` (a shell spawned
#               per request), then get of a 4 KiB file (no process: what
#               serving itself costs). Requests/s, and each request's
#               latency p50, p99 and max.
#   idle        the poll model holding IDLE connections that send nothing,
#               while one good client sends requests one after another: its
#               p99 against the same client's p99 with no idle connection
#               (the bar: within 2x), and the server's peak RSS.
#
# Prints Markdown tables on stdout; writes them to RESULTS/stage6.md, the
# figures to RESULTS/stage6.tsv and a plot to RESULTS/stage6.svg (gnuplot).
# The machine may be shared: the numbers are ratios within one run. Fails
# only when something breaks (a request fails, a server does not start).
#
# Settings (environment):
#   BENCH_QUICK=1           about a minute: 1 10 100 clients, 100 requests, 1000 idle
#   STAGE6_LEVELS="1 10 100 1000"   STAGE6_TOTAL=1000   STAGE6_IDLE=10000
#   STAGE6_GOOD=300         requests of the good client in the idle test
#   STAGE6_MODELS="iterative fork thread poll python"
#   BENCH_RESULTS=DIR       (default bench/results)
#   STAGE6_IDLE_TSV=FILE    the idle test's figures (bench/run.sh reads them):
#                           idle asked, held, p99 alone, p99 beside, ratio, RSS KiB
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=bench/lib.sh
. "$ROOT/bench/lib.sh"
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "$0"
    exit 0
fi
if [ "${BENCH_QUICK:-0}" = 1 ]; then
    d_levels="1 10 100"; d_total=100; d_idle=1000; d_good=100
else
    d_levels="1 10 100 1000"; d_total=1000; d_idle=10000; d_good=300
fi
read -r -a LEVELS <<<"${STAGE6_LEVELS:-$d_levels}"
TOTAL=${STAGE6_TOTAL:-$d_total}
IDLE=${STAGE6_IDLE:-$d_idle}
GOOD=${STAGE6_GOOD:-$d_good}
read -r -a MODELS <<<"${STAGE6_MODELS:-iterative fork thread poll python}"
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results}
LOADGEN="$ROOT/tools/loadgen"

say() { printf 'bench/stage6: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

for f in tools/loadgen stage6_concurrent/iterative stage6_concurrent/fork \
    stage6_concurrent/thread stage6_concurrent/poll tests/py/ft_threading_server.py; do
    [ -e "$ROOT/$f" ] || die "$f is missing: run 'make' first"
done
command -v python3 >/dev/null || die "python3 is missing"
PYTHON=$(python3 -c 'import sys; print(sys.executable)')
# 10 000 idle connections are 10 000 descriptors in the load generator and
# as many in the server: raise this shell's limit (both inherit it).
want_fds=$((IDLE + 2000))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fds" ]; then
    ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" ||
        die "cannot raise the descriptor limit to $want_fds"
fi
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$want_fds" ]; then
    IDLE=$(( $(ulimit -n) - 2000 ))
    say "the descriptor limit is $(ulimit -n): holding $IDLE idle connections"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/nianbao-stage6.XXXXXX")
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

# start NAME MODEL [ARGS...]: starts the server as NAME; sets PORTS[NAME].
start() {
    local name=$1 model=$2 log="$WORK/$1.log"
    shift 2
    : >"$log"
    if [ "$model" = python ]; then
        "$PYTHON" -B "$ROOT/tests/py/ft_threading_server.py" --port 0 --root "$WORK/served" \
            2>"$log" &
    else
        "$ROOT/stage6_concurrent/$model" --port 0 --root "$WORK/served" --timeout 120 \
            --idle 0 --frame-timeout 0 "$@" 2>"$log" &
    fi
    PIDS[$name]=$!
    PORTS[$name]=$(bench_listening "$log" "${PIDS[$name]}") || die "$model did not start"
}

stop() {
    kill "${PIDS[$1]}" 2>/dev/null || true
    wait "${PIDS[$1]}" 2>/dev/null || true
    unset "PIDS[$1]"
}

# load NAME ARGS...: runs the load generator (--tsv) against NAME; prints
# its figures line.
load() {
    local name=$1 out
    shift
    out=$("$LOADGEN" -p "${PORTS[$name]}" --tsv --timeout 1200 "$@" 2>"$WORK/loadgen.err") || {
        cat "$WORK/loadgen.err" >&2
        die "the load generator failed against $name: $*"
    }
    printf '%s\n' "$out" | sed -n 2p
}

# col LINE N: the Nth tab-separated field of LINE.
col() { printf '%s\n' "$1" | cut -f"$2"; }

printf 'op\tmodel\tclients\trequests\trequests_per_s\tp50_ms\tp99_ms\tmax_ms\n' >"$WORK/clients.tsv"
head -c 4096 /dev/urandom >"$WORK/served/small.bin"
say "${#MODELS[@]} servers x clients ${LEVELS[*]}, $TOTAL requests each time"
# All servers run from the start, and each level takes them in turn: a
# burst of load elsewhere on the machine falls on all of them alike.
for model in "${MODELS[@]}"; do
    if [ "$model" = iterative ] || [ "$model" = python ]; then
        start "$model" "$model"
    else
        start "$model" "$model" --max-clients 2000
    fi
done
for op in exec get; do
    what=(--verify)
    [ "$op" = get ] && what=(--op get --name small.bin --verify)
    for clients in "${LEVELS[@]}"; do
        per=$(( (TOTAL + clients - 1) / clients ))
        for model in "${MODELS[@]}"; do
            line=$(load "$model" -c "$clients" -n "$per" "${what[@]}" --seed "$clients")
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$op" "$model" "$clients" \
                "$(col "$line" 1)" "$(col "$line" 5)" "$(col "$line" 6)" "$(col "$line" 7)" \
                "$(col "$line" 8)" >>"$WORK/clients.tsv"
            say "$op, $model, $clients clients: $(col "$line" 5) requests/s, p99 $(col "$line" 7) ms"
        done
    done
done
for model in "${MODELS[@]}"; do stop "$model"; done

say "poll: one good client, then the same with $IDLE idle connections held"
start idle poll --max-clients $((IDLE + 100))
unloaded=$(load idle -c 1 -n "$GOOD" --verify)
loaded=$(load idle -c 1 -n "$GOOD" --verify --idle "$IDLE")
rss=$(awk '/^VmHWM:/ { print $2 }' "/proc/${PIDS[idle]}/status")
stop idle
held=$(col "$loaded" 9)
p99_unloaded=$(col "$unloaded" 7)
p99_loaded=$(col "$loaded" 7)
ratio=$(awk -v a="$p99_loaded" -v b="$p99_unloaded" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
verdict=$(awk -v r="$ratio" 'BEGIN { print (r <= 2.0 ? "within" : "over") }')

md="$RESULTS/stage6.md"
{
    for op in exec get; do
        if [ "$op" = exec ]; then
            echo "### Stage 6: $TOTAL exec requests (\`echo\`: a shell each), spread over N clients at once"
        else
            echo "### Stage 6: $TOTAL get requests (a 4 KiB file: no process), spread over N clients at once"
        fi
        echo
        echo "| server | clients | requests/s | p50 ms | p99 ms | max ms |"
        echo "|---|---:|---:|---:|---:|---:|"
        tail -n +2 "$WORK/clients.tsv" | while IFS=$'\t' read -r o m c _ rps p50 p99 max; do
            [ "$o" = "$op" ] || continue
            name=$m
            [ "$m" = python ] && name="Python ThreadingTCPServer"
            printf '| %s | %s | %s | %s | %s | %s |\n' "$name" "$c" "$rps" "$p50" "$p99" "$max"
        done
        echo
    done
    echo "### Stage 6: poll holding $IDLE idle connections"
    echo
    echo "| good client | p50 ms | p99 ms | max ms |"
    echo "|---|---:|---:|---:|"
    printf '| alone | %s | %s | %s |\n' "$(col "$unloaded" 6)" "$p99_unloaded" "$(col "$unloaded" 8)"
    printf '| beside %s idle connections (%s held) | %s | %s | %s |\n' "$IDLE" "$held" \
        "$(col "$loaded" 6)" "$p99_loaded" "$(col "$loaded" 8)"
    echo
    echo "p99 beside the idle connections / alone: ${ratio}x ($verdict the 2x bar); the poll server's peak RSS: $((rss / 1024)) MiB."
} >"$md"
cp "$WORK/clients.tsv" "$RESULTS/stage6.tsv"
if [ -n "${STAGE6_IDLE_TSV:-}" ]; then
    printf 'idle\theld\tp99_alone_ms\tp99_beside_ms\tratio\tserver_kib\n' >"$STAGE6_IDLE_TSV"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$IDLE" "$held" "$p99_unloaded" "$p99_loaded" "$ratio" "$rss" \
        >>"$STAGE6_IDLE_TSV"
fi
cat "$md"

if command -v gnuplot >/dev/null; then
    for op in exec get; do
        for model in "${MODELS[@]}"; do
            awk -F'\t' -v o="$op" -v m="$model" '$1 == o && $2 == m { print $3, $5, $7 }' \
                "$WORK/clients.tsv" >"$WORK/$op.$model.dat"
        done
    done
    plot_line() {   # plot_line OP COLUMN
        local sep="" model
        printf "plot "
        for model in "${MODELS[@]}"; do
            printf "%s'%s' using 1:%s with linespoints title '%s'" "$sep" "$WORK/$1.$model.dat" \
                "$2" "$model"
            sep=", "
        done
        echo
    }
    {
        echo "set terminal svg size 1000,760 font 'sans,11'"
        echo "set output '$RESULTS/stage6.svg'"
        echo "set multiplot layout 2,2 title 'stage 6: $TOTAL requests spread over N clients at once'"
        echo "set logscale x; set xlabel 'clients at once'; set key top left; set grid"
        echo "unset logscale y; set ylabel 'exec requests/s'"; plot_line exec 2
        echo "set logscale y; set ylabel 'exec p99 latency (ms)'"; plot_line exec 3
        echo "unset logscale y; set ylabel 'get requests/s'"; plot_line get 2
        echo "set logscale y; set ylabel 'get p99 latency (ms)'"; plot_line get 3
        echo "unset multiplot"
    } >"$WORK/plot.gp"
    gnuplot "$WORK/plot.gp" || die "gnuplot failed"
    say "plot: $RESULTS/stage6.svg"
else
    say "gnuplot is missing: no plot (apt-get install gnuplot-nox)"
fi
