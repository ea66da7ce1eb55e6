#!/usr/bin/env bats
# tools/storm at scale (the heavy tier, make test-heavy): each stage's server
# against 10,000 bad connections, stage 6's four models against 2,000 each.
# The same checks as tests/storm.bats runs with 300 (test_helper/storm.bash):
# an exact reply after, descriptors back, no zombie, nothing outside the root.

setup() {
    load '../test_helper/common-setup'; _common_setup
    load '../test_helper/storm'
}
teardown() { _common_teardown; }

@test "the stage 1 server survives 10,000 bad connections: exact reply after, fds back, no zombie" {
    storm_server 1 10000
}

@test "the stage 3 server survives 10,000 bad connections: exact reply after, fds back, no zombie" {
    storm_server 3 10000
}

@test "the stage 4 server survives 10,000 bad connections: exact reply after, fds back, no zombie" {
    storm_server 4 10000
}

@test "the stage 5 server survives 10,000 bad connections: exact reply after, nothing outside its root, fds back, no zombie" {
    storm_server5 10000 "$ROOT/stage5_file_transfer/server"
}

# Stage 6's four models share one handler (common/ftconn.c): 2,000 each
# here (the 10,000 of the bench run: tools/README.md).
@test "stage 6's iterative server survives 2,000 bad stage 5 connections, serves after, fds back" {
    storm_server5 2000 "$ROOT/stage6_concurrent/iterative" --frame-timeout 0.3
}

@test "stage 6's fork server survives 2,000 bad stage 5 connections, serves after, fds back, no zombie" {
    storm_server5 2000 "$ROOT/stage6_concurrent/fork" --frame-timeout 0.3
}

@test "stage 6's thread server survives 2,000 bad stage 5 connections, serves after, fds back" {
    storm_server5 2000 "$ROOT/stage6_concurrent/thread" --frame-timeout 0.3
}

@test "stage 6's poll server survives 2,000 bad stage 5 connections, serves after, fds back" {
    storm_server5 2000 "$ROOT/stage6_concurrent/poll" --frame-timeout 0.3
}
