#!/usr/bin/env bats
# The fuzz harnesses (fuzz/, issue 8) replayed on their committed seed
# corpora without libFuzzer: fuzz/replay-NAME runs the harness once on each
# file. A harness checks more than "no crash": a reply the stage 3/4 client
# accepts must be exactly the bytes its length announced, with nothing more
# read from the socket; the capture reader must give back the file's events
# exactly; the stage 5 server (and stage 6's handler) must answer every
# request in order as the protocol says and write nothing outside its root;
# the stage 5 client must show exactly what was framed or end with its
# error line. `make check-asan` runs these under ASan and UBSan; `make fuzz`
# runs the harnesses under libFuzzer.

setup() {
    load 'test_helper/common-setup'; _common_setup
}
teardown() { _common_teardown; }

# replays NAME: runs fuzz/replay-NAME on fuzz/corpus/NAME and checks that
# every file was replayed.
replays() {
    local count
    count=$(find "$ROOT/fuzz/corpus/$1" -type f | wc -l)
    [ "$count" -gt 0 ] || { echo "no seeds in fuzz/corpus/$1"; return 1; }
    run "$ROOT/fuzz/replay-$1" "$ROOT/fuzz/corpus/$1"
    assert_success
    assert_output "replay-$1: $count inputs replayed"
}

@test "the stage 3 client's reply reader passes every seed of its corpus" {
    replays stage3_client
}

@test "the stage 4 client's header and body reader passes every seed of its corpus" {
    replays stage4_client
}

@test "common/frame.c's reader gives the same frames whole, in pieces and from a socket, for every seed" {
    replays frame
}

@test "the capture reader passes every seed of its corpus" {
    replays capture
}

@test "the viewer's decoder and exports pass every seed of their corpus" {
    replays decode
}

@test "stage 5's server and stage 6's handler answer every seed request stream as the protocol says, nothing outside the root" {
    replays stage5_server
}

@test "the stage 5 client's reply readers pass every seed of their corpus" {
    replays stage5_client
}

@test "the stage 5 server answers a malformed frame inside an upload with bad_frame (the harness found it silent)" {
    # the seed that found it: a put, "ready", then a frame that is not JSON;
    # stage 5's server closed without a word (stage 6's said bad_frame)
    run "$ROOT/fuzz/replay-stage5_server" "$ROOT/fuzz/corpus/stage5_server/stage5-put-bad-frame-in-upload"
    assert_success
    run env NIANBAO_FUZZ_SHOW=1 "$ROOT/fuzz/replay-stage5_server" "$ROOT/fuzz/corpus/stage5_server/stage5-put-bad-frame-in-upload"
    assert_success
    assert_line 'reply 0: {"op":"ready","offset":0,"size":0}'
    assert_line --regexp '^reply 1: \{"op":"error","code":"bad_frame","message":"header is not valid JSON: .*\}$'
}

@test "the committed seeds are exactly what fuzz/seeds.py writes" {
    python3 "$ROOT/fuzz/seeds.py" "$BATS_TEST_TMPDIR/corpus"
    run diff -r "$ROOT/fuzz/corpus" "$BATS_TEST_TMPDIR/corpus"
    assert_success
}

@test "a replay of a file that is not there says so and fails" {
    run "$ROOT/fuzz/replay-capture" "$BATS_TEST_TMPDIR/nothing-here"
    assert_failure 1
    assert_output "replay-capture: $BATS_TEST_TMPDIR/nothing-here: No such file or directory"
}

@test "a replay without inputs is a usage error" {
    run "$ROOT/fuzz/replay-frame"
    assert_failure 2
    assert_output $'replay-frame: no input given: name files or folders of inputs\nTry \'replay-frame --help\' for more information.'
    run "$ROOT/fuzz/replay-frame" --help
    assert_success
    assert_line "Usage: replay-frame FILE|DIR..."
}
