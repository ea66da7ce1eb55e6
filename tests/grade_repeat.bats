#!/usr/bin/env bats
# Determinism: every scenario, run 20 times (seeds 1..20) against a correct
# program - the lab's own stage 3 and 4 clients and servers - never fails.
# Client and server graders run side by side, which loads the machine on
# purpose: the verdicts must not depend on its speed.

setup() {
    load 'test_helper/common-setup'
    _common_setup
    cd "$BATS_TEST_TMPDIR"
}
teardown() { _common_teardown; }

# repeat_pair MODE STAGE3-CMD(3 words) STAGE4-CMD(3 words): grades the two
# programs 20 times each (seeds 1 to 10 and 11 to 20 by two graders each),
# four graders at once; their TAP goes to MODE-stageN-FIRSTSEED.tap.
repeat_pair() {
    local mode=$1 pids=() seed pid
    for seed in 1 11; do
        "$ROOT/tools/grade" "$mode" --proto stage3 --seed "$seed" --repeat 10 --tap \
            --captures "c3-$seed" -- "${@:2:3}" >"$mode-stage3-$seed.tap" 3>&- &
        pids+=($!)
        "$ROOT/tools/grade" "$mode" --proto stage4 --seed "$seed" --repeat 10 --tap \
            --captures "c4-$seed" -- "${@:5:3}" >"$mode-stage4-$seed.tap" 3>&- &
        pids+=($!)
    done
    STARTED_PIDS+=("${pids[@]}")
    for pid in "${pids[@]}"; do
        wait "$pid" || true
    done
    cat "$mode-stage3-1.tap" "$mode-stage3-11.tap" >"$mode-stage3.tap"
    cat "$mode-stage4-1.tap" "$mode-stage4-11.tap" >"$mode-stage4.tap"
}

@test "the lab's clients pass every scenario 20 times over (seeds 1 to 20)" {
    repeat_pair client "$ROOT/stage3_struct_len/client" -p '{port}' \
        "$ROOT/stage4_json_header/client" -p '{port}'
    run grep -c '^ok ' client-stage3.tap
    assert_output $((14 * 20))
    run grep -c '^ok ' client-stage4.tap
    assert_output $((16 * 20))
    run grep -h '^not ok ' client-stage3.tap client-stage4.tap
    assert_output ''
    run grep -h '^# [0-9]* of [0-9]* passed' client-stage3.tap
    assert_output '# 140 of 140 passed
# 140 of 140 passed'
    # Seeds 1..20: the seed of each grader's first round is in its plan line.
    run grep -h '^# nianbao-grade' client-stage3.tap
    assert_line --index 0 --partial 'seed 1:'
    assert_line --index 1 --partial 'seed 11:'
}

@test "the lab's servers pass every scenario 20 times over (seeds 1 to 20)" {
    repeat_pair server "$ROOT/stage3_struct_len/server" -p '{port}' \
        "$ROOT/stage4_json_header/server" -p '{port}'
    run grep -c '^ok ' server-stage3.tap
    assert_output $((9 * 20))
    run grep -c '^ok ' server-stage4.tap
    assert_output $((9 * 20))
    run grep -h '^not ok ' server-stage3.tap server-stage4.tap
    assert_output ''
}
