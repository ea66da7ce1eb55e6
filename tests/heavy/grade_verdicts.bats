#!/usr/bin/env bats
# The grader's verdicts on every program of exercises/programs (the heavy
# tier, make test-heavy): the lab's own programs, the starters, the
# deliberately broken programs and their bug-free builds, in C and in
# Python, against every scenario, through exercises/verdicts.sh's table.
# tests/grade_verdicts.bats checks the same on one program per bug; the
# expected row of each program is computed in test_helper/grade.bash.

# Each test grades its programs four at a time (verdicts.sh --jobs 4): one
# test at a time, so this file alone never runs a dozen graders at once.
setup_file() { export BATS_NO_PARALLELIZE_WITHIN_FILE=true; }

setup() {
    load '../test_helper/common-setup'
    _common_setup
    load '../test_helper/grade'
    # Debian's interpreter when there is one: a pyenv shim costs seconds a start.
    [ -x /usr/bin/python3 ] && export PYTHON=/usr/bin/python3
    cd "$BATS_TEST_TMPDIR"
}
teardown() { _common_teardown; }

@test "stage 3 clients: the lab's passes all, starters fail all, each broken one fails exactly its bug's scenarios" {
    check_group client-stage3
}

@test "stage 4 clients: the lab's passes all, starters fail all, each broken one fails exactly its bug's scenarios" {
    check_group client-stage4
}

@test "stage 3 servers: the lab's passes all, starters fail all, each broken one fails exactly its bug's scenarios" {
    check_group server-stage3
}

@test "stage 4 servers: the lab's passes all, starters fail all, each broken one fails exactly its bug's scenarios" {
    check_group server-stage4
}

@test "stage 5 servers: a bug-free one passes all, each broken one fails exactly its bug's scenarios" {
    check_group server-stage5
}

# About 45 s (12 servers, 4 at a time).
@test "stage 6 scenarios: iterative, a one-client-at-a-time server and the stage 6 starters fail exactly the concurrent ones; fork, thread, poll and server6.py's bug-free build pass all; each of its mistakes fails exactly its scenarios" {
    local only=
    if [ -n "${NIANBAO_SANITIZER:-}" ]; then
        # Open defect: server6.py-shared-buffer once passed `interleaved`
        # under the sanitizers' load (that scenario's catch of a buffer
        # shared by two threads depends on timing there). Graded here in the
        # normal build, and in tests/exercise_stage6.bats.
        only=$(grep -v '^#' "$ROOT/exercises/programs" |
            awk '$2 == "server" && $3 == "stage6" && $1 != "server6.py-shared-buffer" { print $1 }' |
            paste -sd,)
    fi
    check_group server-stage6 "$only"
}
