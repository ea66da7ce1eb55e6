#!/usr/bin/env bash
# fuzz/run.sh SECONDS NAME... - fuzzes each harness fuzz/build/fuzz-NAME for
# SECONDS seconds (`make fuzz` calls it). New inputs go to
# fuzz/build/work/NAME/, starting from the committed seeds in
# fuzz/corpus/NAME/, which stay as they are. One line per harness:
#   fuzz decode: 1234567 executions in 60 s, coverage 812 edges, 1903 features, corpus 214: no finding
# Exits 1 when a harness found something (kept in fuzz/build/artifacts/,
# with libFuzzer's log in fuzz/build/NAME.log), 2 on bad usage.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

if [ $# -lt 2 ] || ! [[ $1 =~ ^[0-9]+$ ]] || [ "$1" -eq 0 ]; then
    echo "run.sh: usage: fuzz/run.sh SECONDS NAME... (SECONDS > 0)" >&2
    exit 2
fi
secs=$1; shift
status=0
# The stage 5 harnesses work in a temporary directory and the server
# fsyncs every upload, as it must: on a tmpfs that costs nothing (3.4x the
# executions here). FUZZ_TMPDIR overrides.
fuzz_tmp=${FUZZ_TMPDIR:-}
if [ -z "$fuzz_tmp" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then
    fuzz_tmp=/dev/shm
fi
fuzz_tmp=${fuzz_tmp:-${TMPDIR:-/tmp}}
# libFuzzer ends a run without the harnesses' atexit clean-up: their
# temporary directories go into one of ours, removed here.
if ! fuzz_tmp=$(mktemp -d "$fuzz_tmp/nianbao-fuzz.XXXXXX"); then
    echo "run.sh: cannot make a temporary directory" >&2
    exit 2
fi
trap 'rm -rf "$fuzz_tmp"' EXIT
mkdir -p fuzz/build/artifacts
for name in "$@"; do
    target=fuzz/build/fuzz-$name
    if [ ! -x "$target" ]; then
        echo "run.sh: no harness $target (make fuzz-build)" >&2
        exit 2
    fi
    work=fuzz/build/work/$name
    log=fuzz/build/$name.log
    mkdir -p "$work"
    artifacts_before=$(find fuzz/build/artifacts -name "$name-*" | wc -l)
    dict=()
    [ -f "fuzz/$name.dict" ] && dict=(-dict="fuzz/$name.dict")
    # -timeout: one input taking 10 s is a finding (a decoder must stay
    # linear); -rss_limit_mb: so is 2 GiB of memory.
    # FUZZ_KEEP_GOING=1: go on after a finding (libFuzzer's fork mode, one
    # job), to see more than the first; each is kept in artifacts/.
    keep=()
    [ "${FUZZ_KEEP_GOING:-0}" = 1 ] &&
        keep=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    TMPDIR=$fuzz_tmp "$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="fuzz/build/artifacts/$name-" \
        "${keep[@]}" "${dict[@]}" "$work" "fuzz/corpus/$name" >"$log" 2>&1
    rc=$?
    if [ "${#keep[@]}" -gt 0 ]; then
        # fork mode exits 0 and counts its findings in its last lines
        # its status lines end "oom/timeout/crash: O/T/C"
        crashes=$(sed -n 's|.*oom/timeout/crash: \([0-9]*\)/\([0-9]*\)/\([0-9]*\).*|\1 \2 \3|p' "$log" |
            tail -1 | awk '{ print $1 + $2 + $3 }')
        [ "${crashes:-0}" -gt 0 ] && rc=1
    fi
    # a seed that crashes is reported by fork mode only as a new artifact
    artifacts_made=$(( $(find fuzz/build/artifacts -name "$name-*" | wc -l) - artifacts_before ))
    [ "$artifacts_made" -gt 0 ] && rc=1
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    # fork mode reports "#N: cov: ..." lines instead
    [ -n "$execs" ] || execs=$(grep -E '^#[0-9]+' "$log" | tail -1 | sed 's/^#\([0-9]*\).*/\1/')
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
    if [ "$rc" -eq 0 ]; then
        verdict="no finding"
    else
        status=1
        found=$(grep -m1 -E '^==[0-9]+==(ERROR|WARNING)|^SUMMARY|runtime error|fuzz: invariant|ALARM|out-of-memory|deadly signal' "$log")
        [ "${#keep[@]}" -gt 0 ] && found="$artifacts_made new artifact(s); ${found:-see the artifacts}"
        verdict="FOUND: ${found:-libFuzzer exit $rc}; see $log and fuzz/build/artifacts/"
    fi
    took=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
    echo "fuzz $name: ${execs:-?} executions in ${took:-$secs} s, coverage ${cov:-?} edges, ${ft:-?} features, corpus ${corp:-?}: $verdict"
done
exit "$status"
