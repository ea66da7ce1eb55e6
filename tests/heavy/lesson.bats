#!/usr/bin/env bats
# The guided lesson run after run (the heavy tier, make test-heavy): 20 runs
# of each stage, two at a time, must say the same numbers, each its status
# line's. tests/lesson.bats does the same with 3 runs (test_helper/lesson.bash).

setup() {
    load '../test_helper/common-setup'; _common_setup
    load '../test_helper/lesson'
}
teardown() { _common_teardown; }

@test "every number the narration says is the status line's, and 20 runs say the same" {
    narration_agrees 20
}

@test "stage 6 of the lesson: behind a silent client, iterative makes the next one wait for the deadline, poll does not; 20 runs" {
    stage6_agrees 20
}
