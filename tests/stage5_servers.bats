#!/usr/bin/env bats
# The stage 5 protocol on every server that speaks it: stage 5's own
# (stage5_file_transfer/server) and stage 6's four models (iterative, fork,
# thread, poll), which share common/ftserve.c for the files and, stage 6,
# common/ftconn.c for the conversation. Each test loops over the five
# ($FT_SERVERS) and asserts what a client sees: the exact reply, the files
# left in the root. Found by an adversary (issue 20): each test fails with
# its fix taken out, or with the one-line bug it guards against planted.

# start_server sets NAME_port/NAME_pid, bats' run sets status/output:
# shellcheck disable=SC2154,SC2030,SC2031
setup() {
    load 'test_helper/common-setup'
    _common_setup
    load 'test_helper/stage5'
}
teardown() { _common_teardown; }
bats_require_minimum_version 1.5.0

@test "list on an empty root answers an empty list on every server" {
    # (about 2 s: five servers started and stopped) ft_list called
    # qsort(NULL, 0, ...): undefined behaviour, which make check-asan
    # stops on.
    local model
    for model in $FT_SERVERS; do
        ft_serve "$model"
        run peer <<'PY'
s = connect(PORT)
s.sendall(frame({"op": "list"}))
show(read_reply(s))
PY
        assert_success
        assert_output "{\"count\": 0, \"op\": \"list\", \"size\": 2, \"skipped\": 0, \"truncated\": false} b'[]'"
        ft_stop
    done
}

