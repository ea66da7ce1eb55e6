#!/usr/bin/env bats
# The grader's verdicts are right: on one program of exercises/programs per
# bug (the lab's own or a bug-free one, a starter, and the first broken
# program of each bug; every program in tests/heavy/grade_verdicts.bats)
# against every scenario, through the table exercises/verdicts.sh prints.
# What each program must get is computed here again, from the program's
# line in exercises/programs and the bugs `--list` says each scenario
# catches (test_helper/grade.bash):
#   none -> passes every scenario; all -> fails every one (a starter);
#   BUG  -> fails exactly the scenarios that name BUG.

setup() {
    load 'test_helper/common-setup'
    _common_setup
    load 'test_helper/grade'
    # Debian's interpreter when there is one: a pyenv shim costs seconds a start.
    [ -x /usr/bin/python3 ] && export PYTHON=/usr/bin/python3
    cd "$BATS_TEST_TMPDIR"
}
teardown() { _common_teardown; }

@test "every bug a broken program has is named by at least one scenario" {
    local name mode proto expect command
    while read -r name mode proto expect command; do
        case $expect in none | all) continue ;; esac
        # shellcheck disable=SC2046
        run "$ROOT/tools/grade" "$mode" $(proto_args "$proto") --list
        assert_line --regexp "\(catches:.*[ ,]$expect[,)]"
    done < <(grep -v '^#' "$ROOT/exercises/programs")
}

@test "stage 3 clients, one per bug: the lab's passes all, a starter fails all, each broken one fails exactly its bug's scenarios" {
    check_group client-stage3 "$(one_per_bug client-stage3)"
}

@test "stage 4 clients, one per bug: the lab's passes all, a starter fails all, each broken one fails exactly its bug's scenarios" {
    check_group client-stage4 "$(one_per_bug client-stage4)"
}

@test "stage 3 servers, one per bug: the lab's passes all, a starter fails all, each broken one fails exactly its bug's scenarios" {
    check_group server-stage3 "$(one_per_bug server-stage3)"
}

@test "stage 4 servers, one per bug: the lab's passes all, a starter fails all, each broken one fails exactly its bug's scenarios" {
    check_group server-stage4 "$(one_per_bug server-stage4)"
}

@test "stage 5 servers, one per bug: the lab's passes all, each broken one fails exactly its bug's scenarios" {
    check_group server-stage5 "$(one_per_bug server-stage5)"
}

@test "verdicts.sh refuses a group it does not know" {
    run "$ROOT/exercises/verdicts.sh" client-stage9
    assert_failure 2
    assert_output "verdicts.sh: no group 'client-stage9' (client-stage3 client-stage4 client-stage5 server-stage3 server-stage4 server-stage5 server-stage6)"
}

@test "stage 5 clients: the lab's passes every scenario" {
    check_group client-stage5
}

# About 20 s (5 servers, 4 at a time): iterative, fork, and server6.py's
# three mistakes (shared-buffer, no-reap, blocking-loop).
@test "stage 6 scenarios, one server per verdict: iterative fails exactly the concurrent ones, fork passes all, each of server6.py's mistakes fails exactly its scenarios" {
    check_group server-stage6 "$(one_per_bug server-stage6)"
}

@test "verdicts.sh --only refuses a program it does not know" {
    run "$ROOT/exercises/verdicts.sh" --only lab-client3,no-such-program client-stage3
    assert_failure 2
    assert_output "verdicts.sh: --only: no program 'no-such-program' in exercises/programs"
}

# Under a second: --help and bad options never start grading.
@test "verdicts.sh --help prints its usage; an option without its value or an unknown one is one line and exit 2" {
    run "$ROOT/exercises/verdicts.sh" --help
    assert_success
    assert_line '  exercises/verdicts.sh [--seed N] [--jobs N] [--only NAME,...] [GROUP...]'
    run "$ROOT/exercises/verdicts.sh" --jobs
    assert_failure 2
    assert_output 'verdicts.sh: --jobs needs a value'
    run "$ROOT/exercises/verdicts.sh" --bogus client-stage3
    assert_failure 2
    assert_output "verdicts.sh: unknown option '--bogus' (see --help)"
}
