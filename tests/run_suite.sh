#!/usr/bin/env bash
# tests/run_suite.sh - what `make test` and `make test-heavy` run: bats on
# the given directories or files, with its usual per-test lines, then one
# summary line:
#
#   skipped 10: the document's text is not at ...: put it there to run these
#   tests: 302 passed, 0 failed, 10 skipped (listed above)
#
# Files run in two groups. First every .bats file given, or directly in a
# directory given: N tests at once, from any of those files (bats --jobs N;
# a file whose tests must not overlap each other says so in its setup_file:
# BATS_NO_PARALLELIZE_WITHIN_FILE=true). Then the files of DIR/serial/ (or
# given from a serial/ directory), one test at a time, with nothing else of
# the suite running: a test that cannot share the machine goes there. N is
# --jobs N or NIANBAO_TEST_JOBS, default 3 per CPU up to 12 (most tests
# wait on sockets, timers and other processes); 1 runs every test one after
# another. Without GNU parallel, N is 1.
#
# Skipped tests are grouped by their reason, one line per reason, above the
# summary; failed tests are named there too, each with the first lines it
# printed (where it failed, and why: a log cut short still says). The exit
# status is 0 when both groups pass, else the first non-zero status of bats.
# Options (anything that is not a directory or a .bats file) are passed to
# both bats runs after --print-output-on-failure, e.g. --timing or --filter
# REGEX.
set -uo pipefail

if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//p}' "$0"
    exit 0
fi
if ! command -v bats >/dev/null; then
    echo "run_suite.sh: bats is not installed (tools/deps.sh installs it)" >&2
    exit 1
fi

# Options and their values apart from the files: a value of an option that
# takes one is never a path to test.
options=() parallel_files=() serial_files=() jobs=${NIANBAO_TEST_JOBS:-}
add_file() {
    case $(basename "$(dirname "$1")") in
    serial) serial_files+=("$1") ;;
    *) parallel_files+=("$1") ;;
    esac
}
while [ $# -gt 0 ]; do
    case $1 in
    -j | --jobs)
        jobs=${2:-}
        shift 2 || shift
        continue ;;
    -f | --filter | -o | --output | -F | --formatter | --report-formatter | \
        --gather-test-outputs-in | --filter-status | --filter-tags)
        options+=("$1" "${2:-}")
        shift 2 || shift
        continue ;;
    esac
    if [ -d "$1" ]; then
        shopt -s nullglob
        for f in "${1%/}"/*.bats "${1%/}"/serial/*.bats; do add_file "$f"; done
        shopt -u nullglob
    elif [ -f "$1" ] && [[ $1 == *.bats ]]; then
        add_file "$1"
    else
        options+=("$1")
    fi
    shift
done

if [ -z "$jobs" ]; then
    jobs=$(($(nproc 2>/dev/null || echo 1) * 3))
    [ "$jobs" -le 12 ] || jobs=12
fi
if [ "$jobs" -gt 1 ] && ! command -v parallel >/dev/null; then
    echo "run_suite.sh: GNU parallel is not installed: one test at a time (tools/deps.sh installs it)" >&2
    jobs=1
fi

report_dir=$(mktemp -d "${TMPDIR:-/tmp}/nianbao-tests.XXXXXX") || exit 1
trap 'rm -rf "$report_dir"' EXIT

# The report files are TAP whatever the terminal shows, so the summary reads
# one format.
status=0
run_group() {
    local name=$1 group_jobs=$2 rc=0
    shift 2
    [ $# -gt 0 ] || return 0
    mkdir "$report_dir/$name"
    local parallel=()
    [ "$group_jobs" -gt 1 ] && parallel=(--jobs "$group_jobs")
    bats --print-output-on-failure "${parallel[@]}" --report-formatter tap \
        --output "$report_dir/$name" "${options[@]}" "$@" || rc=$?
    [ "$status" -ne 0 ] || status=$rc
}
files() { if [ "$1" -eq 1 ]; then echo "1 file"; else echo "$1 files"; fi; }
start=$SECONDS
if [ "${#parallel_files[@]}" -gt 0 ]; then
    run_group parallel "$jobs" "${parallel_files[@]}"
    echo "# $(files "${#parallel_files[@]}"), up to $jobs tests at a time: $((SECONDS - start)) s"
fi
if [ "${#serial_files[@]}" -gt 0 ]; then
    start=$SECONDS
    echo "# one test at a time: ${serial_files[*]}"
    run_group serial 1 "${serial_files[@]}"
    echo "# $(files "${#serial_files[@]}") of serial/, one test at a time: $((SECONDS - start)) s"
fi

reports=("$report_dir"/*/report.tap)
if [ ! -s "${reports[0]}" ]; then
    echo "tests: no report from bats (exit status $status): nothing was counted"
    [ "$status" -ne 0 ] || status=1
    exit "$status"
fi
awk -v bats_status="$status" '
    /^1\.\.[0-9]+$/ { planned += substr($0, 4) + 0; next }
    /^ok [0-9]+ / {
        if (match($0, / # skip( |$)/)) {
            reason = substr($0, RSTART + RLENGTH)
            if (reason == "") reason = "(no reason given)"
            if (!(reason in skips)) order[++nreasons] = reason
            skips[reason]++
            skipped++
        } else {
            passed++
        }
        in_failed = 0
        next
    }
    /^not ok [0-9]+ / {
        name = $0
        sub(/^not ok [0-9]+ /, "", name)
        sub(/ # in [0-9]+ ms$/, "", name)
        failed_names[++failed] = name
        in_failed = 1
        next
    }
    # The first lines of what a failed test printed, shown under its name:
    # the top of a failure says what failed (CI logs may keep no more).
    /^# (\(from function .*)?$/ { next }
    /^# / && in_failed && shown[failed] < 8 {
        why[failed] = why[failed] "    " $0 "\n"
        shown[failed]++
        next
    }
    END {
        for (i = 1; i <= nreasons; i++)
            printf "skipped %d: %s\n", skips[order[i]], order[i]
        for (i = 1; i <= failed; i++)
            printf "failed: %s\n%s", failed_names[i], why[i]
        ran = passed + failed + skipped
        line = sprintf("tests: %d passed, %d failed, %d skipped", passed, failed, skipped)
        if (nreasons > 0 || failed > 0) line = line " (listed above)"
        if (planned > ran) line = line sprintf("; %d of %d never ran", planned - ran, planned)
        if (bats_status != 0 && failed == 0) line = line sprintf("; bats exited with status %d", bats_status)
        print line
    }' "${reports[@]}"
exit "$status"
