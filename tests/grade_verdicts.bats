#!/usr/bin/env bats
# The grader's verdicts are right: on every program of exercises/programs
# (the lab's own stage 3 and 4 programs, the starters, the deliberately
# broken programs and their bug-free builds) against every scenario,
# through the table exercises/verdicts.sh prints. What each program must
# get is computed here again, from the program's line in exercises/programs
# and the bugs `--list` says each scenario catches:
#   none -> passes every scenario; all -> fails every one (a starter);
#   BUG  -> fails exactly the scenarios that name BUG.

setup() {
    load 'test_helper/common-setup'
    _common_setup
    # Debian's interpreter when there is one: a pyenv shim costs seconds a start.
    [ -x /usr/bin/python3 ] && export PYTHON=/usr/bin/python3
    cd "$BATS_TEST_TMPDIR"
}
teardown() { _common_teardown; }

# proto_args PROTO: the grader's options for a PROTO of exercises/programs
# (stage6: the stage 5 protocol with stage 6's scenarios).
proto_args() {
    if [ "$1" = stage6 ]; then echo "--proto stage5 --concurrent"; else echo "--proto $1"; fi
}

# check_group GROUP: runs the table for GROUP and checks every cell.
check_group() {
    local group=$1 mode=${1%-*} proto=${1#*-}
    # shellcheck disable=SC2046
    "$ROOT/tools/grade" "$mode" $(proto_args "$proto") --list >list.txt
    local names
    names=$(awk '{print $1}' list.txt)
    run "$ROOT/exercises/verdicts.sh" "$group"
    echo "$output"
    assert_success
    local table=$output rows=0 name p_mode p_proto expect command
    while read -r name p_mode p_proto expect command; do
        [ "$p_mode" = "$mode" ] && [ "$p_proto" = "$proto" ] || continue
        rows=$((rows + 1))
        local want="| $name |" n
        for n in $names; do
            case $expect in
                none) want="$want pass |" ;;
                all) want="$want FAIL |" ;;
                *) if grep -Eq "^$n .*\(catches:.*[ ,]$expect[,)]" list.txt; then
                       want="$want FAIL |"
                   else
                       want="$want pass |"
                   fi ;;
            esac
        done
        want="$want yes |"
        grep -qxF -- "$want" <<<"$table" || {
            echo "expected the row: $want"
            grep -F "| $name |" <<<"$table"
            return 1
        }
    done < <(grep -v '^#' "$ROOT/exercises/programs")
    # Every program had its row, and there is no other (the header aside).
    [ "$rows" -gt 0 ]
    assert_equal "$(grep -c '^| ' <<<"$table")" "$((rows + 1))"
}

@test "every bug a broken program has is named by at least one scenario" {
    local name mode proto expect command
    while read -r name mode proto expect command; do
        case $expect in none | all) continue ;; esac
        # shellcheck disable=SC2046
        run "$ROOT/tools/grade" "$mode" $(proto_args "$proto") --list
        assert_line --regexp "\(catches:.*[ ,]$expect[,)]"
    done < <(grep -v '^#' "$ROOT/exercises/programs")
}

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

@test "verdicts.sh refuses a group it does not know" {
    run "$ROOT/exercises/verdicts.sh" client-stage9
    assert_failure 2
    assert_output "verdicts.sh: no group 'client-stage9' (client-stage3 client-stage4 client-stage5 server-stage3 server-stage4 server-stage5 server-stage6)"
}

@test "stage 5 clients: the lab's passes every scenario" {
    check_group client-stage5
}

@test "stage 6 scenarios: iterative and a one-client-at-a-time server fail exactly the concurrent ones; fork, thread, poll pass all" {
    check_group server-stage6
}
