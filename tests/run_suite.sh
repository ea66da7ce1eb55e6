#!/usr/bin/env bash
# tests/run_suite.sh - what `make test` runs: bats on the given files or
# directories, with its usual per-test lines, then one summary line:
#
#   skipped 10: the document's text is not at ...: put it there to run these
#   tests: 302 passed, 0 failed, 10 skipped (reasons above)
#
# Skipped tests are grouped by their reason, one line per reason, above the
# summary; failed tests are named there too. The exit status is bats' own.
# Arguments are passed to bats after --print-output-on-failure.
set -uo pipefail

if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    sed -n '2,10s/^# \{0,1\}//p' "$0"
    exit 0
fi
if ! command -v bats >/dev/null; then
    echo "run_suite.sh: bats is not installed (tools/deps.sh installs it)" >&2
    exit 1
fi
report_dir=$(mktemp -d "${TMPDIR:-/tmp}/nianbao-tests.XXXXXX") || exit 1
trap 'rm -rf "$report_dir"' EXIT

# The report file is TAP whatever the terminal shows, so the summary reads
# one format.
status=0
bats --print-output-on-failure --report-formatter tap --output "$report_dir" "$@" || status=$?

report="$report_dir/report.tap"
if [ ! -s "$report" ]; then
    echo "tests: no report from bats (exit status $status): nothing was counted"
    exit "$status"
fi
awk -v bats_status="$status" '
    /^1\.\.[0-9]+$/ { planned = substr($0, 4) + 0; next }
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
        next
    }
    /^not ok [0-9]+ / {
        name = $0
        sub(/^not ok [0-9]+ /, "", name)
        failed_names[++failed] = name
        next
    }
    END {
        for (i = 1; i <= nreasons; i++)
            printf "skipped %d: %s\n", skips[order[i]], order[i]
        for (i = 1; i <= failed; i++)
            printf "failed: %s\n", failed_names[i]
        ran = passed + failed + skipped
        line = sprintf("tests: %d passed, %d failed, %d skipped", passed, failed, skipped)
        if (nreasons > 0 || failed > 0) line = line " (listed above)"
        if (planned > ran) line = line sprintf("; %d of %d never ran", planned - ran, planned)
        if (bats_status != 0 && failed == 0) line = line sprintf("; bats exited with status %d", bats_status)
        print line
    }' "$report"
exit "$status"
