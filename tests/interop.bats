#!/usr/bin/env bats
# Our C programs against Python peers that behave like the document's v3 and
# v4 code (tests/py/, written from the document's behaviour): same wire
# format both ways. Then the document's bug: its client reads the length
# with ONE recv(4) and the header with ONE recv(n), so when the reply comes
# in small pieces it fails, while our client, reading exactly, does not.

# start_server sets NAME_port/NAME_pid, bats' run sets status/stderr:
# shellcheck disable=SC2154,SC2030,SC2031
setup() { load 'test_helper/common-setup'; _common_setup; }
teardown() { _common_teardown; }

PY=(python3 -B)

# run_to_files PROG... : runs PROG with the test's INPUT on stdin; stdout and
# stderr go to $BATS_TEST_TMPDIR/out and /err, the exit status to $status.
# (same_bytes WANT GOT is in test_helper/common-setup.bash.)
run_to_files() {
    status=0
    printf '%s' "$INPUT" | timeout 20 "$@" \
        >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || status=$?
}

# sliced_in_front PORT MIN MAX SEED: a slicer before PORT cutting replies
# into MIN..MAX-byte pieces, each read by the client on its own (--pace):
# a client's one recv(4) gets one piece however the machine schedules it.
sliced_in_front() {
    start_server slicer "$ROOT/tools/slicer" --listen 0 --to "127.0.0.1:$1" \
        --min "$2" --max "$3" --seed "$4" --pace
}

# ---- the document-like clients against our servers ----

@test "the document-like v3 client reads our stage 3 server's replies whole" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0
    head -c 100000 /dev/urandom >"$BATS_TEST_TMPDIR/random"
    INPUT=$'echo hello\nseq 1 2000\necho MARK\n'"cat $BATS_TEST_TMPDIR/random"$'\necho out; echo err >&2\n'
    run_to_files "${PY[@]}" "$ROOT/tests/py/doc_v3_client.py" -p "$srv_port"
    [ "$status" -eq 0 ]
    { echo hello; seq 1 2000; echo MARK; cat "$BATS_TEST_TMPDIR/random"; printf 'out\nerr\n'; } \
        >"$BATS_TEST_TMPDIR/want"
    same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
    [ ! -s "$BATS_TEST_TMPDIR/err" ]
}

@test "the document-like v4 client reads our stage 4 server's header and body" {
    start_server srv "$ROOT/stage4_json_header/server" --port 0
    INPUT=$'echo hello\nseq 1 2000\necho MARK\necho out; echo err >&2\n'
    run_to_files "${PY[@]}" "$ROOT/tests/py/doc_v4_client.py" -p "$srv_port"
    [ "$status" -eq 0 ]
    # The document's client prints the whole body, stderr part included.
    { echo hello; seq 1 2000; echo MARK; printf 'out\nerr\n'; } >"$BATS_TEST_TMPDIR/want"
    same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
    [ ! -s "$BATS_TEST_TMPDIR/err" ]
}

# ---- our clients against the document-like servers ----

@test "our stage 3 client reads the document-like v3 server's replies whole" {
    start_server docsrv "${PY[@]}" "$ROOT/tests/py/doc_v3_server.py" --port 0
    head -c 100000 /dev/urandom >"$BATS_TEST_TMPDIR/random"
    INPUT=$'true\nseq 1 2000\necho MARK\n'"cat $BATS_TEST_TMPDIR/random"$'\necho out; echo err >&2\n'
    run_to_files "$ROOT/stage3_struct_len/client" -p "$docsrv_port"
    [ "$status" -eq 0 ]
    { seq 1 2000; echo MARK; cat "$BATS_TEST_TMPDIR/random"; printf 'out\nerr\n'; } \
        >"$BATS_TEST_TMPDIR/want"
    same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
    [ ! -s "$BATS_TEST_TMPDIR/err" ]
}

@test "our stage 4 client takes the document's header (md5 placeholder, no stdout_size)" {
    start_server docsrv "${PY[@]}" "$ROOT/tests/py/doc_v4_server.py" --port 0
    INPUT=$'true\nseq 1 2000\necho MARK\necho out; echo err >&2\n'
    run_to_files "$ROOT/stage4_json_header/client" -p "$docsrv_port"
    [ "$status" -eq 0 ]
    # Without stdout_size the whole body is taken as stdout; "md5" is not
    # 32 hex digits, so it is not checked.
    { seq 1 2000; echo MARK; printf 'out\nerr\n'; } >"$BATS_TEST_TMPDIR/want"
    same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
    [ ! -s "$BATS_TEST_TMPDIR/err" ]
}

# ---- the document's bug, shown by the slicer ----

# doc_client_fails: the document-like client of the last run died on its
# single recv: a Python traceback ending in the unpack or JSON error.
doc_client_fails() {
    echo "document-like client: exit $status; stderr:"; cat "$BATS_TEST_TMPDIR/err"
    [ "$status" -eq 1 ]
    [ ! -s "$BATS_TEST_TMPDIR/out" ]
    grep -q '^Traceback' "$BATS_TEST_TMPDIR/err"
    tail -n 1 "$BATS_TEST_TMPDIR/err" |
        grep -Eq '^(struct\.error: unpack requires a buffer of 4 bytes|json\.decoder\.JSONDecodeError: )'
}

@test "in 1..3-byte pieces the document-like v4 client fails, our stage 4 client does not" {
    start_server srv "$ROOT/stage4_json_header/server" --port 0
    sliced_in_front "$srv_port" 1 3 11
    INPUT=$'echo hello\n'
    run_to_files "${PY[@]}" "$ROOT/tests/py/doc_v4_client.py" -p "$slicer_port"
    doc_client_fails

    INPUT=$'echo hello\nseq 1 300\necho out; echo err >&2\n'
    run_to_files "$ROOT/stage4_json_header/client" -p "$slicer_port"
    [ "$status" -eq 0 ]
    { echo hello; seq 1 300; echo out; } >"$BATS_TEST_TMPDIR/want"
    same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
    printf 'err\n' >"$BATS_TEST_TMPDIR/want_err"
    same_bytes "$BATS_TEST_TMPDIR/want_err" "$BATS_TEST_TMPDIR/err"
}

@test "the document-like v4 client fails in 1..3-byte pieces whatever the seed" {
    start_server srv "$ROOT/stage4_json_header/server" --port 0
    local seed
    for seed in 1 2 3; do
        sliced_in_front "$srv_port" 1 3 "$seed"
        INPUT=$'echo hello\n'
        run_to_files "${PY[@]}" "$ROOT/tests/py/doc_v4_client.py" -p "$slicer_port"
        echo "seed $seed"
        doc_client_fails
    done
}

@test "in 1-byte pieces the document-like v3 client's recv(4) gets 1 byte, our stage 3 client is fine" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0
    sliced_in_front "$srv_port" 1 1 11
    INPUT=$'echo hello\n'
    run_to_files "${PY[@]}" "$ROOT/tests/py/doc_v3_client.py" -p "$slicer_port"
    doc_client_fails
    grep -q '^struct\.error: unpack requires a buffer of 4 bytes$' "$BATS_TEST_TMPDIR/err"

    INPUT=$'echo hello\nseq 1 300\n'
    run_to_files "$ROOT/stage3_struct_len/client" -p "$slicer_port"
    [ "$status" -eq 0 ]
    { echo hello; seq 1 300; } >"$BATS_TEST_TMPDIR/want"
    same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
    [ ! -s "$BATS_TEST_TMPDIR/err" ]
}
