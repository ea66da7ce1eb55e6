#!/usr/bin/env bats
# Stage 5 on the wire: frames in both directions, however the stream is
# cut or glued, and every defect of the document's classic file-transfer
# follow-up shown absent: a header read with one recv, a body loop that
# swallows the next header, a loop that spins when the peer closes,
# getattr(self, cmd) dispatch, no checksum, native byte order. (Names
# that leave the root and files written straight to their name are in
# stage5_names.bats and stage5_resume.bats.)

# start_server sets NAME_port/NAME_pid, ft sets status, bats' run sets lines:
# shellcheck disable=SC2154,SC2030,SC2031
setup() {
    load 'test_helper/common-setup'
    _common_setup
    load 'test_helper/stage5'
}
teardown() { _common_teardown; }
bats_require_minimum_version 1.5.0

# sliced MIN MAX SEED: a slicer in front of srv cutting both directions
# into MIN..MAX-byte pieces; FT_PORT is the slicer's port.
sliced() {
    start_server slicer "$ROOT/tools/slicer" --listen 0 --to "127.0.0.1:$srv_port" \
        --direction both --min "$1" --max "$2" --seed "$3"
    FT_PORT=$slicer_port
}

# fake_server <<'PY': a server played by the Python on stdin (ftwire
# imported, `srv` listening), for what the C server never sends; the
# client's port is FT_PORT.
fake_server() {
    printf '%s\n%s\n' "import sys; sys.path.insert(0, '$ROOT/tests/py'); from ftwire import *
srv = listen()" "$(cat)" >"$BATS_TEST_TMPDIR/fake.py"
    start_server fake timeout 60 python3 -B "$BATS_TEST_TMPDIR/fake.py"
    FT_PORT=$fake_port
}

@test "requests and replies cut into 1..7-byte pieces both ways change nothing" {
    ft_server
    head -c 200000 /dev/urandom >"$BATS_TEST_TMPDIR/r"
    printf 'tiny' >"$SERVED/t"
    local seed
    for seed in 1 2; do
        sliced 1 7 "$seed"
        ft exec 'seq 1 2000; echo err >&2'
        assert_equal "$status" 0
        seq 1 2000 >"$BATS_TEST_TMPDIR/want"
        same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
        expect_bytes "$BATS_TEST_TMPDIR/err" 'err\n'
        ft put --overwrite "$BATS_TEST_TMPDIR/r" "r$seed"
        assert_equal "$status" 0
        same_bytes "$BATS_TEST_TMPDIR/r" "$SERVED/r$seed"
        ft get "r$seed" "$BATS_TEST_TMPDIR/back$seed"
        assert_equal "$status" 0
        same_bytes "$BATS_TEST_TMPDIR/r" "$BATS_TEST_TMPDIR/back$seed"
        ft stat t
        expect_bytes "$BATS_TEST_TMPDIR/out" 't: 4 bytes\n'
        ft ls
        assert_equal "$status" 0
        run grep -c '' "$BATS_TEST_TMPDIR/out"
        assert_output "$((seed + 1))"
    done
}

@test "a 100 KB command runs intact, even in 1..7-byte pieces; past 131071 bytes the client says why" {
    ft_server
    local word
    word=$(head -c 100000 /dev/zero | tr '\0' x)
    sliced 1 7 3
    ft exec "echo $word"
    assert_equal "$status" 0
    expect_bytes "$BATS_TEST_TMPDIR/out" '%s\n' "$word"
    # (a 200 KB argument is more than execve takes: the line comes on stdin)
    echo "echo $word$word" >"$BATS_TEST_TMPDIR/long"
    run --separate-stderr bash -c "timeout 20 '$ROOT/$S5/client' -p $FT_PORT <'$BATS_TEST_TMPDIR/long'"
    assert_equal "$status" 2
    assert_equal "$stderr" 'client: the command is 200005 bytes; the server runs at most 131071 (one argument of sh -c)'
}

@test "--max-command refuses a longer command with an error reply, and the connection goes on" {
    ft_server --max-command 100
    run peer <<'PY'
s = connect(PORT)
s.sendall(frame({"op": "exec"}, b"echo " + b"y" * 200) + frame({"op": "exec"}, b"echo ok"))
show(read_reply(s))
show(read_reply(s))
PY
    assert_success
    assert_line --index 0 '{"code": "too_large", "message": "the command is 205 bytes; this server runs at most 100 (--max-command)", "op": "error", "size": 0}'
    assert_line --index 1 "{\"op\": \"output\", \"size\": 3, \"stream\": \"stdout\"} b'ok\\n'"
}

@test "two requests sent back to back without waiting are both answered, in order" {
    ft_server
    printf 'abc' >"$SERVED/f"
    run peer <<'PY'
s = connect(PORT)
# One send: two commands, a stat and a get. Each body ends where its
# header says; the next header starts right there.
s.sendall(frame({"op": "exec"}, b"echo one") + frame({"op": "exec"}, b"echo two")
          + frame({"op": "stat", "name": "f"}) + frame({"op": "get", "name": "f"}))
for i in range(4):
    for h, b in read_reply(s):
        if h["op"] == "exit":
            print("exit", h["exit_code"])
        else:
            show([(h, b)])
PY
    assert_success
    assert_line --index 0 "{\"op\": \"output\", \"size\": 4, \"stream\": \"stdout\"} b'one\\n'"
    assert_line --index 1 'exit 0'
    assert_line --index 2 "{\"op\": \"output\", \"size\": 4, \"stream\": \"stdout\"} b'two\\n'"
    assert_line --index 3 'exit 0'
    assert_line --index 4 '{"exists": true, "file_size": 3, "name": "f", "op": "stat", "partial_size": 0, "size": 0}'
    assert_line --index 5 "{\"file_size\": 3, \"name\": \"f\", \"offset\": 0, \"op\": \"file\", \"size\": 3} b'abc'"
    assert_line --index 6 "{\"op\": \"end\", \"sha256\": \"$(printf abc | sha)\", \"size\": 0}"
}

@test "an upload's body followed at once by the end header and the next request is split exactly there" {
    ft_server
    run peer <<'PY'
s = connect(PORT)
data = b"\0\0\0\x05body bytes that look like a frame"
s.sendall(frame({"op": "put", "name": "up", "file_size": len(data)}))
show(read_reply(s))
# data body, end header, and a whole next request in one send
s.sendall(frame({"op": "data"}, data) + frame({"op": "end", "sha256": sha256(data)})
          + frame({"op": "stat", "name": "up"}))
show(read_reply(s))
show(read_reply(s))
PY
    assert_success
    assert_line --index 0 '{"offset": 0, "op": "ready", "size": 0}'
    assert_line --index 1 --partial '{"file_size": 37, "name": "up", "op": "done", "sha256": '
    assert_line --index 2 '{"exists": true, "file_size": 37, "name": "up", "op": "stat", "partial_size": 0, "size": 0}'
    printf '\0\0\0\005body bytes that look like a frame' >"$BATS_TEST_TMPDIR/want"
    same_bytes "$BATS_TEST_TMPDIR/want" "$SERVED/up"
}

@test "the client splits a file body glued to the end frame and keeps the rest for the next reply" {
    fake_server <<'PY'
data = b"abc\0\0\0\x20{not a header, file bytes}"
c, _ = srv.accept()
read_frame(c)
# the file frame, the end frame, in one segment
c.sendall(frame({"op": "file", "name": "g", "file_size": len(data), "offset": 0}, data)
          + frame({"op": "end", "sha256": sha256(data)}))
c.close()
PY
    cd "$BATS_TEST_TMPDIR"
    ft get g
    assert_equal "$status" 0
    printf 'abc\0\0\0\040{not a header, file bytes}' >want
    same_bytes want g
}

@test "output frames glued together are printed whole and in order" {
    fake_server <<'PY'
c, _ = srv.accept()
read_frame(c)
out = b"first\n"
err = b"second\n"
c.sendall(frame({"op": "output", "stream": "stdout"}, out) + frame({"op": "output", "stream": "stderr"}, err)
          + frame({"op": "exit", "exit_code": 0, "signal": 0, "timed_out": False, "truncated": False,
                   "stdout_size": 6, "stderr_size": 7, "sha256": sha256(out + err)}))
c.close()
PY
    ft exec anything
    assert_equal "$status" 0
    expect_bytes "$BATS_TEST_TMPDIR/out" 'first\n'
    expect_bytes "$BATS_TEST_TMPDIR/err" 'second\n'
}

@test "a client that closes mid-frame gets a clear log line, and the server serves the next one at once" {
    ft_server
    local cut
    for cut in 2 10 40; do
        run peer "$cut" <<'PY'
s = connect(PORT)
whole = frame({"op": "exec"}, b"echo this never runs")
s.sendall(whole[:int(sys.argv[1])])
s.close()
PY
        assert_success
    done
    wait_for_log srv 'connection closed after 2 of 4 bytes of the request.s header length; closing the connection'
    wait_for_log srv 'connection closed after 6 of 23 bytes of the request.s header; closing the connection'
    wait_for_log srv 'connection closed after 13 of 20 bytes of the request.s body'
    # not spinning on the dead connection: the next client is served
    ft exec echo next
    assert_equal "$status" 0
    expect_bytes "$BATS_TEST_TMPDIR/out" 'next\n'
    run grep -c 'this never runs' "$BATS_TEST_TMPDIR/srv.log"
    assert_output 0
}

@test "a server that closes mid-frame ends the client with a clear error and exit 255 (exec: the client's own failure, as ssh)" {
    local cut want
    for cut in 2 10 60; do
        fake_server "$cut" <<PY
whole = frame({"op": "output", "stream": "stdout"}, b"0123456789" * 5)
c, _ = srv.accept()
read_frame(c)
c.sendall(whole[:$cut])
c.close()
PY
        ft exec true
        assert_equal "$status" 255
        case $cut in
        2) want='client: connection closed after 2 of 4 bytes of the reply'"'"'s header length' ;;
        10) want='client: connection closed after 6 of 43 bytes of the reply'"'"'s header' ;;
        60) want='client: connection closed after 13 of 50 bytes of the reply'"'"'s body' ;;
        esac
        err_is "$want"
        kill "$fake_pid" 2>/dev/null || true
    done
}

@test "the client accepts a reply header of exactly 65536 bytes and refuses one of 65537" {
    # (about 1 s) The other direction of stage5_servers.bats' test: the
    # client's --max-header default is the server's.
    local total
    for total in 65536 65537; do
        fake_server <<PY
total = $total
text = b'{"op":"stat","name":"f","exists":true,"file_size":3,"partial_size":0,"size":0}'
c, _ = srv.accept()
read_frame(c)
c.sendall(raw_frame(text + b" " * (total - len(text))))
c.close()
PY
        ft stat f
        if [ "$total" = 65536 ]; then
            assert_equal "$status" 0
            expect_bytes "$BATS_TEST_TMPDIR/out" 'f: 3 bytes\n'
        else
            assert_equal "$status" 4
            err_is 'client: header length 65537 is out of range 1..65536 (bytes 00 01 00 01 "\x00\x01\x00\x01"): is the peer speaking another protocol?'
        fi
        kill "$fake_pid" 2>/dev/null || true
    done
}

@test "unknown ops and fields get an error reply naming them, and the connection stays open" {
    ft_server
    run peer <<'PY'
s = connect(PORT)
for header in ({"op": "getattr"}, {"op": "__init__"}, {"op": "do_exec"}, {"op": "EXEC"},
               {"op": "get", "name": "f", "path": "/etc/passwd"}, {"op": "get"},
               {"op": "get", "name": 7}, {"op": "data"}, {"op": "put", "name": "f", "file_size": -1},
               {"name": "f"}, {"op": "list", "size": 5}):
    body = b"" if header.get("size") is None else b"xxxxx"
    header.pop("size", None)
    s.sendall(frame(header, body))
    h, _ = read_reply(s)[0]
    print(h["code"] + ": " + h["message"])
s.sendall(frame({"op": "exec"}, b"echo still here"))
show(read_reply(s)[:1])
PY
    assert_success
    assert_line --index 0 'unknown_op: unknown op "getattr" (ops: exec, get, put, stat, list)'
    assert_line --index 1 'unknown_op: unknown op "__init__" (ops: exec, get, put, stat, list)'
    assert_line --index 2 'unknown_op: unknown op "do_exec" (ops: exec, get, put, stat, list)'
    assert_line --index 3 'unknown_op: unknown op "EXEC" (ops: exec, get, put, stat, list)'
    assert_line --index 4 'unknown_field: get has no field "path" (its fields: name, offset, prefix_sha256)'
    assert_line --index 5 'bad_field: get needs the field "name"'
    assert_line --index 6 'bad_field: get: name is not a string'
    assert_line --index 7 'out_of_order: "data" is not a request: it is a frame of a put (after "ready")'
    assert_line --index 8 'bad_field: put: file_size is not a whole number from 0 to 2^53-1'
    assert_line --index 9 'bad_field: the header has no "op"'
    assert_line --index 10 'bad_field: list has no body (its size must be 0, not 5)'
    assert_line --index 11 "{\"op\": \"output\", \"size\": 11, \"stream\": \"stdout\"} b'still here\\n'"
    run grep -c 'refused: unknown op "getattr"' "$BATS_TEST_TMPDIR/srv.log"
    assert_output 1
}

@test "a corrupted upload is refused: nothing is kept under its name, nor as a partial" {
    ft_server
    run peer <<'PY'
s = connect(PORT)
data = b"the real bytes"
s.sendall(frame({"op": "put", "name": "c", "file_size": len(data)}))
read_reply(s)
# the bytes changed on the way: the digest is of other bytes
s.sendall(frame({"op": "data"}, data) + frame({"op": "end", "sha256": sha256(b"the other bytes")}))
h, _ = read_reply(s)[0]
print(h["code"] + ": " + h["message"])
PY
    assert_success
    assert_output "digest_mismatch: the 14 bytes received for \"c\" have SHA-256 $(printf 'the real bytes' | sha), not $(printf 'the other bytes' | sha): nothing was kept"
    run served_files
    assert_output ''
}

@test "a download whose bytes do not match the server's SHA-256 is deleted, and the client exits 5" {
    fake_server <<'PY'
c, _ = srv.accept()
read_frame(c)
c.sendall(frame({"op": "file", "name": "g", "file_size": 5, "offset": 0}, b"evil!")
          + frame({"op": "end", "sha256": sha256(b"good!")}))
c.close()
PY
    cd "$BATS_TEST_TMPDIR"
    ft get g
    assert_equal "$status" 5
    err_is "client: g: SHA-256 mismatch: the server says $(printf 'good!' | sha), the bytes received are $(printf 'evil!' | sha); the download was deleted"
    # neither the name nor the temporary file
    run ls -A "$BATS_TEST_TMPDIR"
    refute_line --regexp '^g'
}

@test "exec output that does not match the server's SHA-256 exits 255, saying so" {
    fake_server <<'PY'
c, _ = srv.accept()
read_frame(c)
c.sendall(frame({"op": "output", "stream": "stdout"}, b"hi\n")
          + frame({"op": "exit", "exit_code": 0, "signal": 0, "timed_out": False, "truncated": False,
                   "stdout_size": 3, "stderr_size": 0, "sha256": sha256(b"ho\n")}))
c.close()
PY
    ft exec 'echo hi'
    assert_equal "$status" 255
    err_is "client: the output does not match what the server sent: SHA-256 $(printf 'hi\n' | sha), 3+0 bytes; the server says $(printf 'ho\n' | sha), 3+0"
}

@test "the header length is in network byte order: stage 4's little-endian length is refused" {
    ft_server
    run peer <<'PY'
import struct
s = connect(PORT)
header = b'{"op":"exec","size":4}'
# stage 4's struct.pack('i') on x86: little-endian
s.sendall(struct.pack("<i", len(header)) + header + b"true")
h, _ = read_reply(s)[0]
print(h["code"] + ": " + h["message"])
try:
    print("then", read_frame(s))
except ConnectionResetError:
    print("then None")
PY
    assert_success
    assert_line --index 0 'bad_frame: header length 369098752 is out of range 1..65536 (bytes 16 00 00 00 "\x16\x00\x00\x00"): is the peer speaking another protocol?'
    assert_line --index 1 'then None'
}

@test "an HTTP request to the server gets a bad_frame error naming \"GET \"" {
    ft_server
    run peer <<'PY'
s = connect(PORT)
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
h, _ = read_reply(s)[0]
print(h["code"] + ": " + h["message"])
PY
    assert_success
    assert_output 'bad_frame: header length 1195725856 is out of range 1..65536 (bytes 47 45 54 20 "GET "): is the peer speaking another protocol?'
}

@test "a server that breaks the protocol makes the client exit 4" {
    fake_server <<'PY'
c, _ = srv.accept()
read_frame(c)
c.sendall(frame({"op": "teleport"}))
c.close()
PY
    ft ls
    assert_equal "$status" 4
    err_is 'client: the server broke the protocol: unknown op "teleport" (replies: output, exit, file, end, ready, done, stat, list, error)'
}

# About a second: a fake server answers a get with a file of another name,
# one holding C1 CSI (U+009B) and a right-to-left override (U+202E).
@test "a server that sends a file of another name is told so, the name escaped, C1 and bidi controls too" {
    fake_server <<'PY'
c, _ = srv.accept()
read_frame(c)
c.sendall(frame({"op": "file", "name": "\u009b31m\u202eevil", "file_size": 0, "offset": 0}))
c.close()
PY
    cd "$BATS_TEST_TMPDIR"
    ft get g
    assert_equal "$status" 4
    err_is 'client: the server broke the protocol: it sent "\xc2\x9b31m\xe2\x80\xaeevil" from byte 0, not "g" from 0'
}

@test "inside a put, a frame out of step gets an error and the server closes; a partial with bytes stays, an empty one goes" {
    # (about 1 s) The empty partials of a, b and c would only pile up: a
    # resume from 0 is an upload from the start.
    ft_server
    run peer <<'PY'
s = connect(PORT)
s.sendall(frame({"op": "put", "name": "a", "file_size": 5}))
read_reply(s)
s.sendall(frame({"op": "stat", "name": "a"}))
h, _ = read_reply(s)[0]
print(h["code"] + ": " + h["message"])
print("then", closed(s))
s = connect(PORT)
s.sendall(frame({"op": "put", "name": "b", "file_size": 5}))
read_reply(s)
s.sendall(frame({"op": "data"}, b"1234"))
h, _ = read_reply(s)[0]
print(h["code"] + ": " + h["message"])
print("then", closed(s))
s = connect(PORT)
s.sendall(frame({"op": "put", "name": "c", "file_size": 5}))
read_reply(s)
s.sendall(frame({"op": "end", "sha256": "0" * 64}))
h, _ = read_reply(s)[0]
print(h["code"] + ": " + h["message"])
print("then", closed(s))
s = connect(PORT)
s.sendall(frame({"op": "put", "name": "d", "file_size": 5}))
read_reply(s)
s.sendall(frame({"op": "data"}, b"12345") + frame({"op": "data"}, b"12345"))
h, _ = read_reply(s)[0]
print(h["code"] + ": " + h["message"])
print("then", closed(s))
PY
    assert_success
    assert_line --index 0 'out_of_order: "stat" is not a frame of a put (after "ready"): it is a request'
    assert_line --index 1 'then closed'
    assert_line --index 2 'bad_field: data: size 4 is not file_size 5 minus offset 0'
    assert_line --index 3 'then closed'
    assert_line --index 4 'out_of_order: "end" came where "data" was due'
    assert_line --index 5 'then closed'
    assert_line --index 6 'out_of_order: "data" came where "end" was due'
    assert_line --index 7 'then closed'
    run served_files
    assert_output './.nianbao-part.d'
}

@test "an exit frame with no exit status, signal, timeout or cut: the client says so and exits 255" {
    # found by the stage5_client fuzzer: the client exited 1 without a line
    fake_server <<'PY'
c, _ = srv.accept()
read_frame(c)
c.sendall(frame({"op": "exit", "exit_code": None, "signal": 0, "timed_out": False,
                 "truncated": False, "stdout_size": 0, "stderr_size": 0,
                 "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}))
c.close()
PY
    ft exec true
    assert_equal "$status" 255
    err_is 'client: the server gave no exit status for the command'
}
