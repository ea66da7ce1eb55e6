#!/usr/bin/env bats
# tools/grade --proto stage5: the grader speaks stage 5's frames (both
# directions, big-endian header lengths, output and exit frames), cuts
# requests as well as replies, and checks a server's errors (bad_frame,
# unknown_op). The lab's stage 5 programs are graded where they are built.

setup() {
    load 'test_helper/common-setup'
    _common_setup
    load 'test_helper/grade'
    GRADE="$ROOT/tools/grade"
    # Debian's interpreter when there is one: a pyenv shim costs seconds a start.
    PY=python3
    [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
    cd "$BATS_TEST_TMPDIR"
}
teardown() { _common_teardown; }

need_stage5() {
    [ -x "$ROOT/stage5_file_transfer/server" ] && [ -x "$ROOT/stage5_file_transfer/client" ] ||
        skip "stage 5's programs are not built in this tree"
}

@test "--list: the server scenarios of stage 5 add cut, pipelined and foreign requests" {
    run "$GRADE" server --proto stage5 --list
    assert_success
    assert_line 'request-dribble   a request sent one byte at a time (catches: one-recv, recv4-once, byte-order)'
    assert_line 'pipelined         three requests in one segment, before any reply (catches: one-recv, byte-order)'
    assert_line "bad-length        another protocol's text where the header length goes: an error, then the next client (catches: byte-order, no-limit)"
    [ "${#lines[@]}" -eq 14 ]
    run "$GRADE" client --proto stage5 --list
    assert_line 'close-mid-header  the server closes in the middle of a JSON header (catches: no-eof, byte-order, off-by-one)'
    [ "${#lines[@]}" -eq 16 ]
}

@test "a server that trusts a header length is told the length is ASCII 'GET '" {
    run "$GRADE" server --proto stage5 --only bad-length --seed 6 -- \
        "$PY" "$ROOT/exercises/broken/server5.py" --bug no-limit '{port}'
    assert_failure 1
    assert_line '         3. client 1 sent "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n" (35 bytes)'
    assert_line '         4. client 1 got no reply (0 bytes): the server is blocked: waiting for 1 s with nothing read, sent or started'
    assert_line "      diagnosis: length 0x47455420 is ASCII 'GET ': reading text as a length. The server waits for a header of 1195725856 bytes; refuse a header length above 65536 with an error bad_frame, then close (it cannot find the next frame)"
    assert_line --regexp '^      view: .*nianbao-view --replay grade-captures/server-stage5-bad-length-seed6.nbcap --at up:0 --conn 1$'
}

@test "a server whose header lengths are little-endian is told so" {
    run "$GRADE" server --proto stage5 --only whole -- \
        "$PY" "$ROOT/exercises/broken/server5.py" --bug byte-order '{port}'
    assert_failure 1
    assert_line --regexp "^      diagnosis: header length bytes [0-9a-f]{2} 00 00 00 read big-endian are [0-9]+, little-endian [0-9]+: the length was written little-endian \(struct.pack\('<I'\) or a native int\); stage 5 wants network byte order \(struct.pack\('!I'\), htonl\)$"
}

# About a second each: a server that answers every request with a header
# length of 0. The hint was stage 3's ("stage 3 wants little-endian"), for
# any protocol, because 0 read big-endian is the size of an empty output.
@test "a server whose header length is 0 is told a header is never empty, in its own stage's words" {
    cat >zero.py <<'PY'
import socket, struct
srv = socket.create_server(("127.0.0.1", 0))
print("listening on 127.0.0.1:%d" % srv.getsockname()[1], flush=True)
while True:
    c, _ = srv.accept()
    c.recv(65536)
    c.sendall(struct.pack("!I", 0))
    c.recv(65536)
    c.close()
PY
    run "$GRADE" server --proto stage5 --only whole -- "$PY" zero.py
    assert_failure 1
    assert_line '         4. client 1 received "\x00\x00\x00\x00": header length 0 (bytes 00 00 00 00 "\x00\x00\x00\x00") is out of range 1..65536: is the peer speaking another protocol?'
    assert_line '      diagnosis: a header length of 0: every stage 5 reply starts with a JSON header (at least {"op": ...}), so its length is never 0: send the length of the header'"'"'s encoded bytes, then the header'
    run "$GRADE" server --proto stage4 --only empty-output -- "$PY" zero.py
    assert_failure 1
    assert_line '      diagnosis: a header length of 0: every stage 4 reply starts with a JSON header (at least {"total_size": ...}), so its length is never 0: send the length of the header'"'"'s encoded bytes, then the header'
    refute_output --partial 'stage 3'
}

# About a second: a server that answers with an error whose code and
# message hold escape codes, C1 CSI and a right-to-left override. The
# report quoted them raw, into the teacher's terminal.
@test "what a server's frames say reaches the report escaped: an error's code and message" {
    cat >evil.py <<'PY'
import json, socket, struct
srv = socket.create_server(("127.0.0.1", 0))
print("listening on 127.0.0.1:%d" % srv.getsockname()[1], flush=True)
while True:
    c, _ = srv.accept()
    c.recv(65536)
    h = json.dumps({"op": "error", "code": "x\x1b[31m", "message": "\x1b[2J\u009b31m\u202eoops",
                    "size": 0}, ensure_ascii=False).encode()
    c.sendall(struct.pack("!I", len(h)) + h)
    c.close()
PY
    run "$GRADE" server --proto stage5 --only whole -- "$PY" evil.py
    assert_failure 1
    assert_line '         4. client 1 received the error x\x1b[31m: "\x1b[2J\xc2\x9b31m\xe2\x80\xaeoops"'
    refute_output --regexp $'[\x1b]|\xc2\x9b|\xe2\x80\xae'
}

@test "the bug-free stage 5 server answers pipelined, cut and unknown requests as the protocol says" {
    run "$GRADE" server --proto stage5 --only request-dribble,request-cuts,pipelined,bad-length,unknown-op -- \
        "$PY" "$ROOT/exercises/broken/server5.py" '{port}'
    assert_success
    assert_line 'all 5 scenarios passed'
}

@test "the lab's stage 5 server and client pass every scenario" {
    need_stage5
    mkdir root
    run "$GRADE" server --proto stage5 -- "$ROOT/stage5_file_transfer/server" --root root --port '{port}'
    assert_success
    assert_line 'all 14 scenarios passed'
    run "$GRADE" client --proto stage5 -- "$ROOT/stage5_file_transfer/client" -p '{port}'
    assert_success
    assert_line 'all 16 scenarios passed'
}

# About 5 s. Beside the lab's server, a process writes 60 KB to their
# stderr every 20 ms. Every byte counted as progress: the first wait for
# the server to settle never ended (890 s for a run). The verdicts come
# from the scenarios, none from the last guard.
@test "the lab's stage 5 server flooding its stderr passes every scenario, in seconds" {
    need_stage5
    mkdir root
    cat >flood.py <<'PY'
import os, time
while True:
    os.write(2, b"flood " * 10000)
    time.sleep(0.02)
PY
    start=$SECONDS
    run timeout 120 "$GRADE" server --proto stage5 --waits -- sh -c '"$0" --root root --port "$1" & exec "$2" flood.py' \
        "$ROOT/stage5_file_transfer/server" '{port}' "$PY"
    assert_success
    assert_line 'all 14 scenarios passed'
    refute_line --regexp '^      waits: .*, [1-9][0-9]* last-guard,'
    [ $((SECONDS - start)) -lt 60 ]
}

@test "the lab's stage 5 programs pass every scenario twice over, graded side by side" {
    need_stage5
    lab_stage5_repeat 2     # 20 in tests/heavy/grade_repeat.bats
}

@test "--concurrent adds stage 6's scenarios: a server of one client at a time fails them, told why" {
    run "$GRADE" server --proto stage5 --concurrent --list
    assert_line 'idle-beside       a client connects and says nothing; a second one is served meanwhile (catches: byte-order, one-at-a-time)'
    assert_line 'many-at-once      50 clients connected at once, each sends a command before any reply is read (catches: byte-order, one-at-a-time)'
    run "$GRADE" server --proto stage5 --list
    refute_line --partial 'idle-beside'
    run "$GRADE" server --proto stage5 --concurrent --only idle-beside,many-at-once -- \
        "$PY" "$ROOT/exercises/broken/server5.py" '{port}'
    assert_failure 1
    assert_line '         5. client 2 got no reply (0 bytes): the server is still blocked: nothing read, sent or started'
    assert_line '      diagnosis: the server is blocked while client 1 is connected (it has sent nothing): it waits on that one client, and every other waits with it; a server for many clients never waits on one (a thread or a process per client, or an event loop that reads what has come and keeps each connection'"'"'s state: stage 6)'
    assert_line "      replay: $GRADE server --proto stage5 --only idle-beside --seed 1 --concurrent -- $PY $ROOT/exercises/broken/server5.py {port}"
    assert_line '0 of 2 scenarios passed; failed: idle-beside, many-at-once'
}

@test "--concurrent: a server with a thread per client passes every scenario" {
    run "$GRADE" server --proto stage5 --concurrent -- \
        "$PY" "$ROOT/exercises/broken/server5.py" --threads '{port}'
    assert_success
    assert_line 'PASS  many-at-once      50 clients connected at once, each sends a command before any reply is read'
    assert_line 'all 19 scenarios passed'
}

@test "--concurrent is for servers only" {
    run "$GRADE" client --proto stage5 --concurrent -- true
    assert_failure 2
    assert_line --index 0 'grade: --concurrent is for a server (many clients at once)'
}
