#!/usr/bin/env bats
# tools/grade --each at a class's size: forty submissions of the stage 3
# Python client get their verdicts (each run's time is printed; issue 18's
# target, 60 s on two cores, is measured by make bench: bench/class.sh),
# and the verdicts are the same one grader at a time as eight.

setup() {
    load '../test_helper/common-setup'
    _common_setup
    GRADE="$ROOT/tools/grade"
    PY=python3
    [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
    load '../test_helper/grade'
    cd "$BATS_TEST_TMPDIR"
}
teardown() { _common_teardown; }

# class N KIND: N directories c/01.. holding KIND's client.py (starter:
# exercises/stage3/client.py; correct: exercises/broken/client3.py, no bug;
# mixed: the two and the byte-order bug in turn).
class() {
    local i kinds=("$2")
    [ "$2" = mixed ] && kinds=(starter correct byte-order)
    for ((i = 1; i <= $1; i++)); do
        submission "c/$(printf %02d "$i")" "${kinds[i % ${#kinds[@]}]}"
    done
}

# timed_class: grades c/* (extra options first), its seconds in SECONDS_TAKEN.
timed_class() {
    local start=${EPOCHREALTIME/[.,]/}
    run "$GRADE" client --proto stage3 "$@" --each c/* -- "$PY" '{dir}/client.py' '{port}'
    SECONDS_TAKEN=$(( (${EPOCHREALTIME/[.,]/} - start) / 1000 ))
    echo "took ${SECONDS_TAKEN} ms" >&3
}

# ~25 s
@test "forty starters: every one fails every scenario" {
    class 40 starter
    timed_class
    assert_failure 1
    [ "$(grep -c '  0/14    coalesced, ' <<<"$output")" -eq 40 ]
    assert_line '0 of 40 submissions passed every scenario; each one'"'"'s report is DIR/grade.txt, the captures of its failures in DIR/grade-captures/'
}

# ~25 s
@test "forty correct clients: every one passes" {
    class 40 correct
    timed_class
    assert_success
    [ "$(grep -c '  14/14$' <<<"$output")" -eq 40 ]
}

# ~50 s (one grader at a time: ~35 s)
@test "sixteen submissions, starters, correct and byte-order: --jobs 1 and --jobs 8 give the same table and the same verdicts and advice in each report" {
    class 16 mixed
    timed_class --jobs 1
    assert_failure 1
    one=$output
    mkdir jobs1
    for d in c/*; do cp "$d/grade.txt" "jobs1/${d#c/}.txt"; done
    timed_class --jobs 8
    assert_failure 1
    assert_equal "$output" "$one"
    for d in c/*; do assert_equal "$(verdict_lines "$d/grade.txt")" "$(verdict_lines "jobs1/${d#c/}.txt")"; done
}
