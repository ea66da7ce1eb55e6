#!/usr/bin/env bats
# Determinism: every scenario, run over several seeds against a correct
# program - the lab's own stage 3 and 4 clients and servers - never fails:
# seeds 1 to 4 here, 1 to 20 in tests/heavy/grade_repeat.bats
# (test_helper/grade.bash). Client and server graders run side by side,
# which loads the machine on purpose: the verdicts must not depend on its
# speed.

setup() {
    load 'test_helper/common-setup'
    _common_setup
    load 'test_helper/grade'
    cd "$BATS_TEST_TMPDIR"
}
teardown() { _common_teardown; }

@test "the lab's clients pass every scenario 4 times over (seeds 1 to 4)" {
    lab_clients_repeat 2
}

@test "the lab's servers pass every scenario 4 times over (seeds 1 to 4)" {
    lab_servers_repeat 2
}
