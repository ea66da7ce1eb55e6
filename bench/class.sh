#!/usr/bin/env bash
# bench/class.sh - the class rows of `make bench`: how long `tools/grade
# --each` takes to grade a class of BENCH_CLASS_SIZE (default 40) copies of
# the stage 3 Python client, once as handed out (the starter: fails every
# scenario) and once finished (exercises/broken/client3.py, no bug: passes
# every one), against the baseline of the same grader on one submission, in
# the same run. --jobs is the grader's default. Prints Markdown table rows:
#
#   | kind | one submission | the class | class / one |
#
# and, with CLASS_TSV=FILE, the same figures tab-separated (kind, size,
# seconds for one, seconds for the class). A class whose verdicts are not
# the expected ones (every starter 0/14, every finished client 14/14) fails
# the bench: a fast wrong answer is no result.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//p}' "$0"
    exit 0
fi
SIZE=${BENCH_CLASS_SIZE:-40}
GRADE=$ROOT/tools/grade
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nianbao-bench-class.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# seconds DIR...: grades the directories with --each; prints the seconds it
# took; the table goes to $WORK/table.
seconds() {
    local start=${EPOCHREALTIME/[.,]/} status=0
    (cd "$WORK" && "$GRADE" client --proto stage3 --each "$@" -- "$PY" '{dir}/client.py' '{port}') \
        >"$WORK/table" 2>"$WORK/err" || status=$?
    [ "$status" -le 1 ] || { echo "bench/class.sh: the grader failed:" >&2; cat "$WORK/err" >&2; exit 1; }
    awk -v t=$((${EPOCHREALTIME/[.,]/} - start)) 'BEGIN { printf "%.1f", t / 1e6 }'
}

# expect N WHAT: the table has N rows that say WHAT (0/14 or 14/14).
expect() {
    local got
    got=$(grep -cE "  $2( |$)" "$WORK/table" || true)
    [ "$got" -eq "$1" ] || { echo "bench/class.sh: $got of $1 rows say $2:" >&2; cat "$WORK/table" >&2; exit 1; }
}

for kind in starter finished; do
    case $kind in
    starter) src=$ROOT/exercises/stage3/client.py want=0/14 ;;
    finished) src=$ROOT/exercises/broken/client3.py want=14/14 ;;
    esac
    mkdir -p "$WORK/$kind"
    for ((i = 1; i <= SIZE; i++)); do
        d=$WORK/$kind/$(printf %02d "$i")
        mkdir "$d"
        cp "$src" "$d/client.py"
    done
    one=$(seconds "$WORK/$kind/01")
    expect 1 "$want"
    all=$(seconds "$WORK/$kind"/*)
    expect "$SIZE" "$want"
    ratio=$(awk -v a="$all" -v b="$one" 'BEGIN { printf "%.1f", (b > 0 ? a / b : 0) }')
    printf '| %s (%s) | %s s | %s s | %s× |\n' "$kind" "$want" "$one" "$all" "$ratio"
    [ -z "${CLASS_TSV:-}" ] || printf '%s\t%s\t%s\t%s\n' "$kind" "$SIZE" "$one" "$all" >>"$CLASS_TSV"
done
