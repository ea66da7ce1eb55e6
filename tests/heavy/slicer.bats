#!/usr/bin/env bats
# tools/slicer at scale (the heavy tier, make test-heavy): 100 MiB relayed in
# large pieces. tests/slicer.bats does the same with 8 MiB
# (test_helper/slicer.bash).

setup() {
    load '../test_helper/common-setup'; _common_setup
    load '../test_helper/slicer'
}
teardown() { _common_teardown; }

@test "100 MiB with large pieces arrives byte-identical" {
    large_pieces 104857600
}
