#!/usr/bin/env bats
# What the clients of stages 1, 3 and 4 say when the peer is missing, hangs
# up half-way, or speaks another protocol: exit 1 and ONE line on stderr, a
# line a student can act on. tools/canned plays the broken server.

# start_server sets NAME_port/NAME_pid, bats' run sets status/stderr:
# shellcheck disable=SC2154,SC2030,SC2031
setup() { load 'test_helper/common-setup'; _common_setup; }
teardown() { _common_teardown; }
bats_require_minimum_version 1.5.0

# le32 N: N as the 4-byte little-endian length field (struct.pack('i')).
le32() {
    local n=$(( $1 & 0xffffffff ))
    printf '%b' "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' \
        $((n & 255)) $((n >> 8 & 255)) $((n >> 16 & 255)) $((n >> 24 & 255)))"
}

# canned_reply: starts tools/canned answering every request with the bytes
# read from stdin; sets fake_port.
# canned reads the file once, so each call gets its own file and server.
canned_reply() {
    local file
    file=$(mktemp "$BATS_TEST_TMPDIR/reply.XXXXXX")
    cat >"$file"
    start_server fake "$ROOT/tools/canned" --reply "$file" --port 0
}

# v4_reply HEADER_JSON BODY: a stage 4 reply, on stdout.
v4_reply() {
    le32 "${#1}"
    printf '%s%s' "$1" "$2"
}

# ask PROG [ARGS...]: runs the client PROG against the fake server with the
# single command `echo hi`; bats `run` fills $status, $output (stdout) and
# $stderr.
ask() {
    local prog=$1; shift
    run --separate-stderr timeout 10 "$ROOT/$prog" -p "$fake_port" "$@" <<<'echo hi'
}

# answer_is STATUS STDOUT STDERR: the client of the last `ask` exited STATUS,
# wrote exactly STDOUT on stdout and exactly STDERR (its one error line, or
# nothing) on stderr.
answer_is() {
    echo "client: exit status $status, stdout '$output', stderr '$stderr'"
    assert_equal "$status" "$1"
    assert_equal "$output" "$2"
    assert_equal "$stderr" "$3"
}

# a_closed_port: sets closed_port to a port where nothing listens (a server
# we started on port 0 and stopped).
a_closed_port() {
    canned_reply < <(printf '')
    kill "$fake_pid"
    wait_for_exit "$fake_pid"
    closed_port=$fake_port
}

@test "every client says Connection refused when no server listens" {
    a_closed_port
    local stage prog
    for stage in $(stages_framed raw len json); do
        prog=$(stage_dir "$stage")/client
        run --separate-stderr "$ROOT/$prog" -p "$closed_port" <<<'echo hi'
        echo "$prog: status $status, stderr: $stderr"
        [ "$status" -eq 1 ]
        [ "$output" = "" ]
        [ "$stderr" = "client: cannot connect to 127.0.0.1:$closed_port: Connection refused" ]
    done
}

# ---- stage 1 ----

@test "stage 1: the client says the server closed the connection when no reply comes" {
    canned_reply < <(printf '')
    ask stage1_naive/client
    answer_is 1 "" "client: the server closed the connection"
}

# ---- stage 3 ----

@test "stage 3: a server that hangs up before any reply: the server closed the connection" {
    canned_reply < <(printf '')
    ask stage3_struct_len/client
    answer_is 1 "" "client: the server closed the connection"
}

@test "stage 3: a length field cut after 2 bytes is reported as such" {
    canned_reply < <(printf '\x05\x00')
    ask stage3_struct_len/client
    answer_is 1 "" "client: connection closed after 2 of 4 bytes of the reply length"
}

@test "stage 3: a body cut short says how many of the promised bytes came" {
    canned_reply < <(le32 10; printf 'abc')
    ask stage3_struct_len/client
    # stdout: what came is written as it comes
    answer_is 1 "abc" "client: connection closed after 3 of 10 bytes of the reply"
}

@test "stage 3: an HTTP peer's \"GET \" is named as another protocol" {
    canned_reply < <(printf 'GET / HTTP/1.0\r\n\r\n')
    ask stage3_struct_len/client
    answer_is 1 "" \
        'client: reply length 542393671 is out of range 0..268435456 (bytes 47 45 54 20 "GET "): is the peer speaking another protocol?'
}

@test "stage 3: a negative reply length is refused" {
    canned_reply < <(le32 -1; printf 'abc')
    ask stage3_struct_len/client
    answer_is 1 "" \
        'client: reply length -1 is out of range 0..268435456 (bytes ff ff ff ff "\xff\xff\xff\xff"): is the peer speaking another protocol?'
}

@test "stage 3: --max-len refuses a reply one byte longer and accepts one exactly that long" {
    canned_reply < <(le32 11; printf 'hello world')
    ask stage3_struct_len/client --max-len 10
    answer_is 1 "" \
        'client: reply length 11 is out of range 0..10 (bytes 0b 00 00 00 "\x0b\x00\x00\x00"): is the peer speaking another protocol?'

    canned_reply < <(le32 10; printf 'hello worl')
    ask stage3_struct_len/client --max-len 10
    answer_is 0 "hello worl" ""
}

# ---- stage 4 ----

@test "stage 4: a header length cut after 2 bytes is reported as such" {
    canned_reply < <(printf '\x05\x00')
    ask stage4_json_header/client
    answer_is 1 "" "client: connection closed after 2 of 4 bytes of the header length"
}

@test "stage 4: a header cut short says how many of its bytes came" {
    canned_reply < <(le32 32; printf '{"total')
    ask stage4_json_header/client
    answer_is 1 "" "client: connection closed after 7 of 32 bytes of the header"
}

@test "stage 4: a body cut short says how many of its bytes came" {
    canned_reply < <(v4_reply '{"file_name": "a.txt", "total_size": 10, "md5": "md5", "stdout_size": 10, "exit_code": 0}' 'abc')
    ask stage4_json_header/client
    # stdout: what came is written as it comes
    answer_is 1 "abc" "client: connection closed after 3 of 10 bytes of the body"
}

@test "stage 4: an HTTP peer's \"GET \" is named as another protocol" {
    canned_reply < <(printf 'GET / HTTP/1.0\r\n\r\n')
    ask stage4_json_header/client
    answer_is 1 "" \
        'client: header length 542393671 is out of range 0..65536 (bytes 47 45 54 20 "GET "): is the peer speaking another protocol?'
}

@test "stage 4: a header length above --max-header is refused" {
    canned_reply < <(le32 65537; printf '{}')
    ask stage4_json_header/client
    [ "$status" -eq 1 ]
    [ "$stderr" = 'client: header length 65537 is out of range 0..65536 (bytes 01 00 01 00 "\x01\x00\x01\x00"): is the peer speaking another protocol?' ]

    canned_reply < <(le32 101; printf '{}')
    ask stage4_json_header/client --max-header 100
    [ "$status" -eq 1 ]
    [ "$stderr" = 'client: header length 101 is out of range 0..100 (bytes 65 00 00 00 "e\x00\x00\x00"): is the peer speaking another protocol?' ]
}

@test "stage 4: a header that is not JSON is refused, and shown" {
    canned_reply < <(v4_reply 'this is not json' '')
    ask stage4_json_header/client
    answer_is 1 "" 'client: header is not valid JSON: "this is not json"'
}

@test "stage 4: a header without total_size is refused" {
    canned_reply < <(v4_reply '{"file_name": "a.txt", "md5": "md5"}' '')
    ask stage4_json_header/client
    answer_is 1 "" "client: header has no total_size"
}

@test "stage 4: a total_size that is a string is refused" {
    canned_reply < <(v4_reply '{"file_name": "a.txt", "total_size": "5", "md5": "md5"}' 'hello')
    ask stage4_json_header/client
    answer_is 1 "" "client: total_size is not a number"
}

@test "stage 4: a negative, fractional, huge or above --max-len total_size is out of range" {
    canned_reply < <(v4_reply '{"file_name": "a.txt", "total_size": -5, "md5": "md5"}' '')
    ask stage4_json_header/client
    answer_is 1 "" "client: total_size -5 is out of range 0..268435456"

    canned_reply < <(v4_reply '{"file_name": "a.txt", "total_size": 2.5, "md5": "md5"}' 'ab')
    ask stage4_json_header/client
    answer_is 1 "" "client: total_size 2.5 is out of range 0..268435456"

    canned_reply < <(v4_reply '{"file_name": "a.txt", "total_size": 1000000000000, "md5": "md5"}' '')
    ask stage4_json_header/client
    answer_is 1 "" "client: total_size 1000000000000 is out of range 0..268435456"

    canned_reply < <(v4_reply '{"file_name": "a.txt", "total_size": 6, "md5": "md5"}' 'hello!')
    ask stage4_json_header/client --max-len 5
    answer_is 1 "" "client: total_size 6 is out of range 0..5"
}

@test "stage 4: an MD5 mismatch is reported after the body was written" {
    canned_reply < <(v4_reply '{"file_name": "a.txt", "total_size": 6, "md5": "00000000000000000000000000000000", "stdout_size": 6, "exit_code": 0}' $'hello\n')
    ask stage4_json_header/client
    answer_is 1 "hello" \
        "client: md5 mismatch: header says 00000000000000000000000000000000, body is b1946ac92492d2347c6235b4d2611184"
}

@test "stage 4: a body whose MD5 matches the header is accepted" {
    canned_reply < <(v4_reply '{"file_name": "a.txt", "total_size": 6, "md5": "b1946ac92492d2347c6235b4d2611184", "stdout_size": 6, "exit_code": 0}' $'hello\n')
    ask stage4_json_header/client
    answer_is 0 "hello" ""
}

# A server that stops half-way through a reply and keeps the connection open.
stalls_after() {
    canned_keep_open < <(printf '%b' "$1")
}
canned_keep_open() {
    local file
    file=$(mktemp "$BATS_TEST_TMPDIR/reply.XXXXXX")
    cat >"$file"
    start_server fake "$ROOT/tools/canned" --reply "$file" --port 0 --keep-open
}

@test "stage 3: a server that stalls after 2 length bytes is reported after --timeout" {
    stalls_after '\x10\x00'
    ask stage3_struct_len/client --timeout 0.3
    answer_is 1 '' 'client: timed out receiving the reply length: the peer sent nothing for --timeout seconds'
}

@test "stage 4: a server that stalls mid-body is reported after --timeout" {
    canned_keep_open < <(v4_reply '{"total_size":10}' 'hello')
    ask stage4_json_header/client --timeout 0.3
    answer_is 1 'hello' 'client: timed out receiving the body: the peer sent nothing for --timeout seconds'
}

@test "stage 4: a header that is JSON but not an object is named as such" {
    canned_reply < <(v4_reply '[1]' '')
    ask stage4_json_header/client
    answer_is 1 '' 'client: header is not a JSON object: "[1]"'
}

@test "stage 4: bytes after the header's JSON object are refused" {
    canned_reply < <(v4_reply '{"total_size":0}xx' '')
    ask stage4_json_header/client
    answer_is 1 '' 'client: header is not valid JSON: "{\"total_size\":0}xx"'
}

@test "every client reports a reply it could not write (a full disk) and exits 1" {
    local stage dir
    for stage in $(stages_framed raw len json); do
        dir=$(stage_dir "$stage")
        start_server srv "$ROOT/$dir/server" --port 0
        run bash -c "echo 'seq 1 100000' | timeout 10 '$ROOT/$dir/client' -p '$srv_port' 2>&1 >/dev/full"
        assert_failure 1
        assert_output 'client: writing the reply: No space left on device'
    done
}
