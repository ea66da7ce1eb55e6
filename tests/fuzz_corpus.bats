#!/usr/bin/env bats
# The fuzz harnesses (fuzz/, issue 8) replayed on their committed seed
# corpora without libFuzzer: fuzz/replay-NAME runs the harness once on each
# file. A harness checks more than "no crash": a reply the stage 3/4 client
# accepts must be exactly the bytes its length announced, with nothing more
# read from the socket; the capture reader must give back the file's events
# exactly. `make check-asan` runs these under ASan and UBSan; `make fuzz`
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
