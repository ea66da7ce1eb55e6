#!/usr/bin/env bats
# Stage 5 at scale (the heavy tier, make test-heavy): a 100 MiB file up and
# down. tests/stage5.bats does the same with 4 MiB (test_helper/stage5.bash).

setup() {
    load '../test_helper/common-setup'
    _common_setup
    load '../test_helper/stage5'
}
teardown() { _common_teardown; }

@test "a 100 MiB file goes up and comes down byte-identical, verified" {
    up_and_down $((100 << 20))
}
