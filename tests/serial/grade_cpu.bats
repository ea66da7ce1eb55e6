#!/usr/bin/env bats
# tools/grade's diagnosis of a program that spins (tests/serial/: one test at
# a time, with nothing else of the suite running). The grader tells a
# program that spins from one that is blocked or slow by the CPU time it
# uses without reading, sending or printing; with other tests taking the
# CPU, the spinning program gets too little of it to be told apart within
# the grader's window (seen in a parallel run on a loaded machine: 'it did
# nothing at all for 30 s' instead of 'it is spinning'). The rest of the
# grader's tests are in tests/grade.bats.

setup() {
    load '../test_helper/common-setup'
    _common_setup
    GRADE="$ROOT/tools/grade"
    cd "$BATS_TEST_TMPDIR"
}
teardown() { _common_teardown; }

@test "--tap prints a plan, ok / not ok per scenario, the failure as comments, and a summary" {
    run "$GRADE" client --proto stage3 --tap --only coalesced,close-mid-body -- "$ROOT/exercises/broken/client3-no-eof" '{port}'
    assert_failure 1
    assert_line --index 0 'TAP version 13'
    assert_line --index 1 '1..2'
    assert_line 'ok 1 - coalesced: each reply (length, header, body) in one segment'
    assert_line 'not ok 2 - close-mid-body: the server closes in the middle of a body'
    assert_line --regexp '^# diagnosis: it kept running after the grader closed the connection, using [0-9.]+ s of CPU without reading or printing anything: a receive loop that does not stop when recv returns 0 \(the peer closed\)$'
    assert_line '# 1 of 2 passed; failed: close-mid-body'
    refute_line --regexp '^(PASS|FAIL) '
}

@test "a spinning client is stopped and its whole process group is gone afterwards" {
    # run under a name of this test's own: other checkouts on the machine
    # may run the same program at the same time
    ln -s "$ROOT/exercises/broken/client3-no-eof" "$BATS_TEST_TMPDIR/client3-no-eof"
    run "$GRADE" client --proto stage3 --only close-mid-length -- sh -c 'exec "$0" "$1"' "$BATS_TEST_TMPDIR/client3-no-eof" '{port}'
    assert_failure 1
    assert_line --regexp '^ +[0-9]+\. the client did not exit: it is spinning: [0-9.]+ s of CPU without reading, sending or printing anything \(the grader stopped it\)$'
    run pgrep -f "$BATS_TEST_TMPDIR/client3-no-eof"
    assert_failure
}
