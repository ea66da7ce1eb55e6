#!/usr/bin/env bats
# Stages 3 and 4 through tools/slicer, which re-cuts the reply direction
# into tiny pieces (1 byte, or 1..7 bytes chosen by a seed). On loopback a
# reply usually arrives in one piece and hides framing bugs; here every
# length field and header is split, so only a client that reads exactly
# what the framing says gets the bytes right.

# start_server sets NAME_port/NAME_pid, bats' run sets status/stderr:
# shellcheck disable=SC2154,SC2030,SC2031
setup() { load 'test_helper/common-setup'; _common_setup; }
teardown() { _common_teardown; }

# sliced STAGE MIN MAX SEED [DELAY_US]: starts STAGE's server and a slicer
# in front of it cutting replies into MIN..MAX-byte pieces, with a random
# pause of up to DELAY_US (default 0) before each; sets slicer_port.
sliced() {
    start_server srv "$ROOT/$(stage_dir "$1")/server" --port 0
    start_server slicer "$ROOT/tools/slicer" --listen 0 --to "127.0.0.1:$srv_port" \
        --min "$2" --max "$3" --seed "$4" --delay-us "${5:-0}"
}

# talk STAGE INPUT: feeds INPUT to STAGE's client through the slicer;
# stdout/stderr to $BATS_TEST_TMPDIR/out and /err, exit status to $status.
# (stage_dir, run_client and same_bytes are in test_helper/common-setup.bash.)
talk() {
    run_client "$1" "$slicer_port" "$2" 30
    # Shown only when the test fails: what each side said.
    echo "client exit status $status; client stderr:"; head -c 2000 "$BATS_TEST_TMPDIR/err"
    echo "server log:"; cat "$BATS_TEST_TMPDIR/srv.log"
    echo "slicer log:"; cat "$BATS_TEST_TMPDIR/slicer.log"
}

# 20 KB of random bytes and then MARK from a second command, 1 byte a piece.
one_byte_pieces() {
    sliced "$1" 1 1 1
    head -c 20000 /dev/urandom >"$BATS_TEST_TMPDIR/random"
    talk "$1" "cat $BATS_TEST_TMPDIR/random"$'\necho MARK\n'
    [ "$status" -eq 0 ]
    { cat "$BATS_TEST_TMPDIR/random"; echo MARK; } >"$BATS_TEST_TMPDIR/want"
    same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
    [ ! -s "$BATS_TEST_TMPDIR/err" ]
}

# seq 1 2000 then MARK, and 20 KB of binary, in 1..7-byte pieces.
small_pieces() {
    local seed=$2
    sliced "$1" 1 7 "$seed"
    head -c 20000 /dev/urandom >"$BATS_TEST_TMPDIR/random"
    talk "$1" $'seq 1 2000\necho MARK\n'"cat $BATS_TEST_TMPDIR/random"$'\n'
    [ "$status" -eq 0 ]
    { seq 1 2000; echo MARK; cat "$BATS_TEST_TMPDIR/random"; } >"$BATS_TEST_TMPDIR/want"
    same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
    [ ! -s "$BATS_TEST_TMPDIR/err" ]
}

@test "stage 3: 20 KB of binary then MARK arrive intact in 1-byte pieces" { one_byte_pieces 3; }
@test "stage 4: 20 KB of binary then MARK arrive intact in 1-byte pieces" { one_byte_pieces 4; }

# With a pause before each piece the client really sees them one by one
# (without it, pieces sent back to back may be read together).
paused_pieces() {
    sliced "$1" 1 1 5 200
    talk "$1" $'seq 1 300\necho MARK\n'
    [ "$status" -eq 0 ]
    { seq 1 300; echo MARK; } >"$BATS_TEST_TMPDIR/want"
    same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
    [ ! -s "$BATS_TEST_TMPDIR/err" ]
}

@test "stage 3: seq then MARK arrive intact in 1-byte pieces with pauses between them" { paused_pieces 3; }
@test "stage 4: seq then MARK arrive intact in 1-byte pieces with pauses between them" { paused_pieces 4; }

@test "stage 3: seq, MARK and binary arrive intact in 1..7-byte pieces (seed 1)" { small_pieces 3 1; }
@test "stage 3: seq, MARK and binary arrive intact in 1..7-byte pieces (seed 2)" { small_pieces 3 2; }
@test "stage 3: seq, MARK and binary arrive intact in 1..7-byte pieces (seed 3)" { small_pieces 3 3; }
@test "stage 4: seq, MARK and binary arrive intact in 1..7-byte pieces (seed 1)" { small_pieces 4 1; }
@test "stage 4: seq, MARK and binary arrive intact in 1..7-byte pieces (seed 2)" { small_pieces 4 2; }
@test "stage 4: seq, MARK and binary arrive intact in 1..7-byte pieces (seed 3)" { small_pieces 4 3; }

@test "stage 4: stdout and stderr are split at the right byte when the body comes 1 byte a piece" {
    sliced 4 1 1 7
    talk 4 $'printf out; printf err >&2\nseq 1 1500; seq 1501 3000 >&2\n'
    [ "$status" -eq 0 ]
    { printf out; seq 1 1500; } >"$BATS_TEST_TMPDIR/want_out"
    { printf err; seq 1501 3000; } >"$BATS_TEST_TMPDIR/want_err"
    same_bytes "$BATS_TEST_TMPDIR/want_out" "$BATS_TEST_TMPDIR/out"
    same_bytes "$BATS_TEST_TMPDIR/want_err" "$BATS_TEST_TMPDIR/err"
}

@test "stage 3: empty replies in 1..7-byte pieces do not confuse the next command" {
    sliced 3 1 7 4
    talk 3 $'true\ntrue\necho after\ntrue\necho end\n'
    [ "$status" -eq 0 ]
    printf 'after\nend\n' >"$BATS_TEST_TMPDIR/want"
    same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
}
