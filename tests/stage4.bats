#!/usr/bin/env bats
# Stage 4 (v4.0 of the document): every reply starts with the length of a
# JSON header (file_name, total_size, md5, stdout_size, exit_code), then the
# header, then total_size bytes of body. The client writes the stdout part
# of the body to its stdout and the rest (the remote stderr) to its stderr.

# start_server sets NAME_port/NAME_pid, bats' run sets status/stderr:
# shellcheck disable=SC2154,SC2030,SC2031
setup() { load 'test_helper/common-setup'; _common_setup; }
teardown() { _common_teardown; }

# talk INPUT: feeds INPUT to the stage 4 client on srv's port (run_client,
# like expect_bytes and wait_for_log, is in test_helper/common-setup.bash).
talk() { run_client 4 "$srv_port" "$1"; }

# header_of COMMAND: prints the JSON header (keys sorted, one line) the
# server sends for COMMAND, then the MD5 of the body, read by a careful
# Python reader (tests/py/v4_header.py).
header_of() {
    printf '%s' "$1" | timeout 10 python3 -B "$ROOT/tests/py/v4_header.py" -p "$srv_port"
}

@test "the client prints the command's stdout on stdout and its stderr on stderr" {
    start_server srv "$ROOT/stage4_json_header/server" --port 0
    talk $'echo hello\necho out; echo err >&2\n'
    [ "$status" -eq 0 ]
    expect_bytes "$BATS_TEST_TMPDIR/out" 'hello\nout\n'
    expect_bytes "$BATS_TEST_TMPDIR/err" 'err\n'
}

@test "the header says file_name a.txt, the sizes, the exit code and the body's real MD5" {
    start_server srv "$ROOT/stage4_json_header/server" --port 0
    run header_of 'printf out; printf err >&2; exit 3'
    [ "$status" -eq 0 ]
    local md5
    md5=$(printf 'outerr' | md5sum | cut -d' ' -f1)
    [ "${lines[0]}" = "{\"exit_code\": 3, \"file_name\": \"a.txt\", \"md5\": \"$md5\", \"stdout_size\": 3, \"total_size\": 6}" ]
    [ "${lines[1]}" = "$md5" ]
}

@test "the header of an empty reply has total_size 0 and the MD5 of nothing" {
    start_server srv "$ROOT/stage4_json_header/server" --port 0
    run header_of 'true'
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = '{"exit_code": 0, "file_name": "a.txt", "md5": "d41d8cd98f00b204e9800998ecf8427e", "stdout_size": 0, "total_size": 0}' ]
}

@test "on the wire a reply is a 4-byte little-endian header length, the JSON header, then the body" {
    start_server srv "$ROOT/stage4_json_header/server" --port 0
    exec 5<>"/dev/tcp/127.0.0.1/$srv_port"
    printf 'printf abc' >&5
    timeout 5 head -c 4 <&5 >"$BATS_TEST_TMPDIR/len"
    local header_len
    header_len=$(od -An -t d4 --endian=little "$BATS_TEST_TMPDIR/len" | tr -d ' ')
    timeout 5 head -c "$((header_len + 3))" <&5 >"$BATS_TEST_TMPDIR/rest"
    exec 5>&-
    [ "$(head -c 1 "$BATS_TEST_TMPDIR/rest")" = '{' ]
    [ "$(head -c "$header_len" "$BATS_TEST_TMPDIR/rest" | tail -c 1)" = '}' ]
    [ "$(tail -c 3 "$BATS_TEST_TMPDIR/rest")" = 'abc' ]
}

@test "no sticky packets: seq 1 2000 then echo MARK prints all of seq, then MARK" {
    start_server srv "$ROOT/stage4_json_header/server" --port 0
    talk $'seq 1 2000\necho MARK\n'
    [ "$status" -eq 0 ]
    { seq 1 2000; echo MARK; } >"$BATS_TEST_TMPDIR/expected"
    cmp "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/out"
    expect_bytes "$BATS_TEST_TMPDIR/err" ''
}

@test "binary output arrives byte for byte" {
    start_server srv "$ROOT/stage4_json_header/server" --port 0
    head -c 100000 /dev/urandom >"$BATS_TEST_TMPDIR/random"
    talk "cat $BATS_TEST_TMPDIR/random"$'\n'
    [ "$status" -eq 0 ]
    [ "$(sha "$BATS_TEST_TMPDIR/out")" = "$(sha "$BATS_TEST_TMPDIR/random")" ]
}

@test "a 10 MiB output arrives byte for byte, and the next command still works" {
    start_server srv "$ROOT/stage4_json_header/server" --port 0
    head -c 10485760 /dev/urandom >"$BATS_TEST_TMPDIR/big"
    talk "cat $BATS_TEST_TMPDIR/big"$'\n'"echo MARK"$'\n'
    [ "$status" -eq 0 ]
    printf 'MARK\n' >>"$BATS_TEST_TMPDIR/big"
    [ "$(stat -c %s "$BATS_TEST_TMPDIR/out")" -eq $((10485760 + 5)) ]
    [ "$(sha "$BATS_TEST_TMPDIR/out")" = "$(sha "$BATS_TEST_TMPDIR/big")" ]
    expect_bytes "$BATS_TEST_TMPDIR/err" ''
}

@test "a command without output gets an empty reply and the session goes on" {
    start_server srv "$ROOT/stage4_json_header/server" --port 0
    talk $'true\necho next\n'
    [ "$status" -eq 0 ]
    expect_bytes "$BATS_TEST_TMPDIR/out" 'next\n'
    expect_bytes "$BATS_TEST_TMPDIR/err" ''
}

@test "a command of exactly 1024 bytes is sent and runs" {
    start_server srv "$ROOT/stage4_json_header/server" --port 0
    local command="echo ok #"
    command+=$(printf 'x%.0s' $(seq 1 $((1024 - ${#command}))))
    [ "${#command}" -eq 1024 ]
    talk "$command"$'\n'
    [ "$status" -eq 0 ]
    expect_bytes "$BATS_TEST_TMPDIR/out" 'ok\n'
    expect_bytes "$BATS_TEST_TMPDIR/err" ''
}

@test "a command longer than 1024 bytes is refused, the next one runs, and the client exits 1" {
    start_server srv "$ROOT/stage4_json_header/server" --port 0
    local long
    long=$(printf 'x%.0s' $(seq 1 1025))
    talk "echo $long"$'\necho after\n'
    [ "$status" -eq 1 ]
    expect_bytes "$BATS_TEST_TMPDIR/out" 'after\n'
    expect_bytes "$BATS_TEST_TMPDIR/err" '%s\n' \
        'client: command is 1030 bytes; the server reads one recv(1024), so it would be cut (requests are unframed until stage 5)'
}

@test "the server logs each client, each command with its exit code and sizes, and the goodbye" {
    start_server srv "$ROOT/stage4_json_header/server" --port 0
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
