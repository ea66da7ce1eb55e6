#!/usr/bin/env bats
# Stage 3 (v3.0 of the document): every reply starts with its length, a
# 4-byte signed little-endian integer (struct.pack('i')), and the client
# reads exactly that many bytes. No more sticky packets in the reply
# direction: the client prints the body and nothing else.

# start_server sets NAME_port/NAME_pid, bats' run sets status/stderr:
# shellcheck disable=SC2154,SC2030,SC2031
setup() { load 'test_helper/common-setup'; _common_setup; }
teardown() { _common_teardown; }

# talk INPUT: feeds INPUT to the stage 3 client on srv's port (run_client,
# like expect_bytes and wait_for_log, is in test_helper/common-setup.bash).
talk() { run_client 3 "$srv_port" "$1"; }

@test "the client prints exactly the command's output, nothing else" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0
    talk $'echo hello\n'
    [ "$status" -eq 0 ]
    expect_bytes "$BATS_TEST_TMPDIR/out" 'hello\n'
    expect_bytes "$BATS_TEST_TMPDIR/err" ''
}

@test "the body is stdout followed by stderr" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0
    talk $'echo out; echo err >&2; exit 3\n'
    [ "$status" -eq 0 ]
    expect_bytes "$BATS_TEST_TMPDIR/out" 'out\nerr\n'
    expect_bytes "$BATS_TEST_TMPDIR/err" ''
}

@test "on the wire a reply is a 4-byte little-endian length, then the body" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0
    exec 5<>"/dev/tcp/127.0.0.1/$srv_port"
    printf 'printf abc; printf de >&2' >&5
    timeout 5 head -c 9 <&5 >"$BATS_TEST_TMPDIR/wire"
    exec 5>&-
    expect_bytes "$BATS_TEST_TMPDIR/wire" '\005\000\000\000abcde'
}

@test "no sticky packets: seq 1 2000 then echo MARK prints all of seq, then MARK" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0
    talk $'seq 1 2000\necho MARK\n'
    [ "$status" -eq 0 ]
    { seq 1 2000; echo MARK; } >"$BATS_TEST_TMPDIR/expected"
    cmp "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/out"
}

@test "binary output arrives byte for byte" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0
    head -c 100000 /dev/urandom >"$BATS_TEST_TMPDIR/random"
    talk "cat $BATS_TEST_TMPDIR/random"$'\n'
    [ "$status" -eq 0 ]
    [ "$(sha "$BATS_TEST_TMPDIR/out")" = "$(sha "$BATS_TEST_TMPDIR/random")" ]
}

@test "a 10 MiB output arrives byte for byte, and the next command still works" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0
    head -c 10485760 /dev/urandom >"$BATS_TEST_TMPDIR/big"
    printf 'MARK\n' >>"$BATS_TEST_TMPDIR/big"
    talk "cat $BATS_TEST_TMPDIR/big"$'\n'"echo MARK"$'\n'
    [ "$status" -eq 0 ]
    [ "$(stat -c %s "$BATS_TEST_TMPDIR/out")" -eq $((10485760 + 10)) ]
    # The file already ends with MARK\n; echo MARK adds the second one.
    printf 'MARK\n' >>"$BATS_TEST_TMPDIR/big"
    [ "$(sha "$BATS_TEST_TMPDIR/out")" = "$(sha "$BATS_TEST_TMPDIR/big")" ]
}

@test "a command without output gets an empty reply and the session goes on" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0
    talk $'true\necho next\n'
    [ "$status" -eq 0 ]
    expect_bytes "$BATS_TEST_TMPDIR/out" 'next\n'
    expect_bytes "$BATS_TEST_TMPDIR/err" ''
}

@test "blank lines are skipped and the white space around a command is stripped" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0
    talk $'\n   \n\t  echo  hi \t \n\n'
    [ "$status" -eq 0 ]
    expect_bytes "$BATS_TEST_TMPDIR/out" 'hi\n'
    grep -q '^client 127\.0\.0\.1:[0-9]*: ran "echo  hi": exit 0, 3 bytes stdout, 0 bytes stderr$' \
        "$BATS_TEST_TMPDIR/srv.log"
}

@test "a command of exactly 1024 bytes is sent and runs" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0
    local command="echo ok #"
    command+=$(printf 'x%.0s' $(seq 1 $((1024 - ${#command}))))
    [ "${#command}" -eq 1024 ]
    talk "$command"$'\n'
    [ "$status" -eq 0 ]
    expect_bytes "$BATS_TEST_TMPDIR/out" 'ok\n'
    expect_bytes "$BATS_TEST_TMPDIR/err" ''
}

@test "a command longer than 1024 bytes is refused, the next one runs, and the client exits 1" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0
    local long
    long=$(printf 'x%.0s' $(seq 1 1025))
    talk "echo $long"$'\necho after\n'
    [ "$status" -eq 1 ]
    expect_bytes "$BATS_TEST_TMPDIR/out" 'after\n'
    expect_bytes "$BATS_TEST_TMPDIR/err" '%s\n' \
        'client: command is 1030 bytes; the server reads one recv(1024), so it would be cut (requests are unframed until stage 5)'
}

@test "the server logs each client, each command with its exit code and sizes, and the goodbye" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0
    talk $'printf abc; printf de >&2; exit 3\n'
    [ "$status" -eq 0 ]
    wait_for_log srv ' disconnected$'
    run grep -v '^listening on ' "$BATS_TEST_TMPDIR/srv.log"
    [ "${#lines[@]}" -eq 3 ]
    [[ "${lines[0]}" =~ ^client\ 127\.0\.0\.1:([0-9]+)\ connected$ ]]
    local client_port=${BASH_REMATCH[1]}
    [ "${lines[1]}" = "client 127.0.0.1:$client_port: ran \"printf abc; printf de >&2; exit 3\": exit 3, 3 bytes stdout, 2 bytes stderr" ]
    [ "${lines[2]}" = "client 127.0.0.1:$client_port disconnected" ]
}
