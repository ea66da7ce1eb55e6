#!/usr/bin/env bats
# Determinism at scale (the heavy tier, make test-heavy): every scenario, run
# 20 times (seeds 1..20) against a correct program - the lab's own stage 3,
# 4 and 5 clients and servers - never fails. Graders run side by side, which
# loads the machine on purpose: the verdicts must not depend on its speed.
# tests/grade_repeat.bats and grade_stage5.bats do the same over 4 and 2
# seeds (test_helper/grade.bash).

setup() {
    load '../test_helper/common-setup'
    _common_setup
    load '../test_helper/grade'
    GRADE="$ROOT/tools/grade"
    cd "$BATS_TEST_TMPDIR"
}
teardown() { _common_teardown; }

@test "the lab's clients pass every scenario 20 times over (seeds 1 to 20)" {
    lab_clients_repeat 10
}

@test "the lab's servers pass every scenario 20 times over (seeds 1 to 20)" {
    lab_servers_repeat 10
}

@test "the lab's stage 5 programs pass every scenario 20 times over" {
    [ -x "$ROOT/stage5_file_transfer/server" ] && [ -x "$ROOT/stage5_file_transfer/client" ] ||
        skip "stage 5's programs are not built in this tree"
    lab_stage5_repeat 20
}
