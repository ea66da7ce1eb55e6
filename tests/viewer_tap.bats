#!/usr/bin/env bats
# The tap (viewer/libnianbao-tap.so): loaded with LD_PRELOAD into unchanged
# programs - the stage binaries, and a student's own python3 client - it
# records their socket calls into a capture, and changes nothing they do.

setup() {
    load 'test_helper/common-setup'; _common_setup
    TAP="$ROOT/viewer/libnianbao-tap.so"
    CAP="$BATS_TEST_TMPDIR/run.nbcap"
}
teardown() { _common_teardown; }

# tapped PROG ARGS...: runs PROG under the tap, writing $CAP. It execs PROG
# (through env), so `start_server NAME tapped PROG` saves PROG's own pid and
# teardown stops the program itself, not a shell around it.
tapped() {
    exec env LD_PRELOAD="$TAP" NIANBAO_TAP="$CAP" "$@"
}

# dump: the capture's --dump in $BATS_TEST_TMPDIR/dump.
dump() {
    "$ROOT/viewer/nianbao-view" --replay "$CAP" --dump >"$BATS_TEST_TMPDIR/dump"
}

# has_line TEXT: the dump has exactly this line.
has_line() {
    grep -qxF -- "$1" "$BATS_TEST_TMPDIR/dump" || {
        echo "no line '$1' in:"; cat "$BATS_TEST_TMPDIR/dump"; return 1; }
}

@test "the tap sees a tapped python3 client's sends and recvs" {
    # the tutorial's v1 client, as a student would write it
    cat >"$BATS_TEST_TMPDIR/client.py" <<'PY'
import socket, sys
client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
client.connect(('127.0.0.1', int(sys.argv[1])))
for cmd in (b'echo hello', b'echo world'):
    client.send(cmd)
    print(client.recv(1024).decode('utf-8'), end='')
client.close()
PY
    start_server srv "$ROOT/stage1_naive/server" --port 0
    run tapped timeout 20 python3 "$BATS_TEST_TMPDIR/client.py" "$srv_port"
    assert_success
    assert_output $'hello\nworld'
    dump
    has_line "connection 1: client python3 client.py, server (not tapped), tcp, proto raw (guessed); STALE needs both ends tapped"
    has_line '    @0       +10     send #1   recv ?    request #1       "echo hello"'
    has_line '    @10      +10     send #2   recv ?    request #2       "echo world"'
    has_line '    ---- recv #2 returned 6 bytes (client waiting for reply #2)'
    has_line 'total: 2 sends, 2 recvs, 0 bytes pending, 0 STALE'
}

@test "a tapped stage 1 session is flagged STALE when a reply spills over" {
    start_server srv tapped "$ROOT/stage1_naive/server" --port 0
    printf 'seq 1 300\necho hi\n' | tapped timeout 20 "$ROOT/stage1_naive/client" -p "$srv_port" >/dev/null
    dump
    has_line '    !! STALE: recv #2 returned bytes of reply #1'
    has_line 'connection 1: STALE: recv #2 returned bytes of reply #1'
}

@test "the tapped programs' output is byte for byte what they print untapped" {
    start_server srv tapped "$ROOT/stage4_json_header/server" --port 0
    printf 'seq 1 20000\necho done\n' | tapped timeout 20 "$ROOT/stage4_json_header/client" -p "$srv_port" \
        >"$BATS_TEST_TMPDIR/tapped.out"
    start_server plain "$ROOT/stage4_json_header/server" --port 0
    printf 'seq 1 20000\necho done\n' | timeout 20 "$ROOT/stage4_json_header/client" -p "$plain_port" \
        >"$BATS_TEST_TMPDIR/plain.out"
    [ "$(sha "$BATS_TEST_TMPDIR/tapped.out")" = "$(sha "$BATS_TEST_TMPDIR/plain.out")" ]
    dump
    # reply #1 is past the 64 KiB window by now; reply #2 is still shown
    has_line '    == header-json #2: total_size=5 stdout_size=5 exit_code=0'
    grep -q '^  down (server -> client): [0-9]* sends, 109131 bytes sent; [0-9]* recvs, 109131 bytes received; 0 pending$' \
        "$BATS_TEST_TMPDIR/dump"
}

@test "NIANBAO_TAP_CAP limits the bytes copied, not the sizes recorded" {
    start_server srv env NIANBAO_TAP_CAP=8 LD_PRELOAD="$TAP" NIANBAO_TAP="$CAP" \
        "$ROOT/stage3_struct_len/server" --port 0
    printf 'seq 1 2000\n' | NIANBAO_TAP_CAP=8 tapped timeout 20 "$ROOT/stage3_struct_len/client" -p "$srv_port" \
        >/dev/null
    dump
    has_line '    == len-field #1: length 8893'
    # the body's first 8 bytes, then the rest of the call not captured
    grep -q '^    @4       +[0-9]* *send #2   recv #2   body #1          "1\\n2\\n3\\n4\\n<' "$BATS_TEST_TMPDIR/dump"
    # 80-byte headers plus at most 8 bytes each: the capture stays tiny
    [ "$(stat -c %s "$CAP")" -lt 4000 ]
}

@test "a program that opens no socket leaves no capture behind" {
    run tapped sh -c 'echo hi | cat; ls / >/dev/null'
    assert_success
    assert_output hi
    [ ! -e "$CAP" ]
}

@test "the tap keeps errno: a refused connect is reported as usual" {
    start_server srv "$ROOT/stage1_naive/server" --port 0
    port=$srv_port
    kill "$srv_pid"; wait "$srv_pid" 2>/dev/null || true
    run tapped timeout 20 "$ROOT/stage1_naive/client" -p "$port" </dev/null
    tapped_status=$status
    tapped_output=$output
    run timeout 20 "$ROOT/stage1_naive/client" -p "$port" </dev/null
    [ "$tapped_output" = "$output" ]
    [ "$tapped_status" -eq "$status" ]
    [ "$status" -ne 0 ]
}

@test "nianbao-view --record runs a program under the tap" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0
    printf 'echo recorded\n' | timeout 20 "$ROOT/viewer/nianbao-view" --record "$CAP" -- \
        "$ROOT/stage3_struct_len/client" -p "$srv_port" >"$BATS_TEST_TMPDIR/out"
    [ "$(cat "$BATS_TEST_TMPDIR/out")" = recorded ]
    dump
    has_line '    == len-field #1: length 9'
}

@test "sendmsg and recvmsg with a NULL message fail with EFAULT under the tap, as without it" {
    cat >"$BATS_TEST_TMPDIR/nullmsg.py" <<'PY'
import ctypes, socket
libc = ctypes.CDLL(None, use_errno=True)
server = socket.create_server(('127.0.0.1', 0))
client = socket.create_connection(server.getsockname())
for name in ('sendmsg', 'recvmsg'):
    call = getattr(libc, name)
    call.restype = ctypes.c_ssize_t
    print(name, call(client.fileno(), None, 0), ctypes.get_errno())
PY
    run python3 "$BATS_TEST_TMPDIR/nullmsg.py"
    assert_success
    assert_output $'sendmsg -1 14\nrecvmsg -1 14'
    run env LD_PRELOAD="$TAP" python3 "$BATS_TEST_TMPDIR/nullmsg.py"
    assert_success
    assert_output $'sendmsg -1 14\nrecvmsg -1 14'
    run tapped python3 "$BATS_TEST_TMPDIR/nullmsg.py"
    assert_success
    assert_output $'sendmsg -1 14\nrecvmsg -1 14'
}

@test "a dual-stack server on :: and its IPv4 client are matched as one connection" {
    python3 -c 'import socket, sys; sys.exit(not socket.has_dualstack_ipv6())' ||
        skip "no dual-stack IPv6 here"
    cat >"$BATS_TEST_TMPDIR/dual.py" <<'PY'
import os, socket
server = socket.create_server(('', 0), family=socket.AF_INET6, dualstack_ipv6=True)
port = server.getsockname()[1]
if os.fork() == 0:
    os.execvp('python3', ['python3', '-c', f'''
import socket
c = socket.create_connection(("127.0.0.1", {port}))
c.send(b"hi"); print(c.recv(10).decode()); c.close()
'''])
conn, _ = server.accept()
conn.send(conn.recv(10).upper())
os.wait()
PY
    run tapped timeout 20 python3 "$BATS_TEST_TMPDIR/dual.py"
    assert_success
    assert_output HI
    dump
    grep -qx 'nianbao capture: [0-9]* events, 1 connections' "$BATS_TEST_TMPDIR/dump"
    has_line 'connection 1: client python3 -c, server python3 dual.py, tcp, proto raw (guessed)'
    has_line '  up (client -> server): 1 sends, 2 bytes sent; 1 recvs, 2 bytes received; 0 pending'
}

@test "--record FILE keeps writing FILE when the program changes directory" {
    start_server srv "$ROOT/stage1_naive/server" --port 0
    mkdir "$BATS_TEST_TMPDIR/sub"
    cd "$BATS_TEST_TMPDIR"
    printf 'echo here\n' | timeout 20 "$ROOT/viewer/nianbao-view" --record rel.nbcap -- \
        sh -c "cd sub && exec '$ROOT/stage1_naive/client' -p $srv_port" >"$BATS_TEST_TMPDIR/out"
    [ "$(cat "$BATS_TEST_TMPDIR/out")" = here ]
    [ ! -e sub/rel.nbcap ]
    CAP="$BATS_TEST_TMPDIR/rel.nbcap"
    dump
    has_line '  up (client -> server): 1 sends, 9 bytes sent; 0 recvs, 0 bytes received; 0 pending'
}

@test "a client far behind a 100 KB stage 1 reply still shows its recvs and is caught STALE" {
    # The client holds its socket open until the server has sent all of
    # reply #1 (a FIFO says so): closing earlier would reset the server.
    mkfifo "$BATS_TEST_TMPDIR/sent"
    cat >"$BATS_TEST_TMPDIR/server.py" <<'PY'
import socket, sys
server = socket.create_server(('127.0.0.1', 0))
print('listening on 127.0.0.1:%d' % server.getsockname()[1], file=sys.stderr, flush=True)
conn, _ = server.accept()
conn.recv(100)
reply = b''.join(b'%d\n' % i for i in range(20000))      # 108890 bytes
for at in range(0, len(reply), 4096):
    conn.send(reply[at:at + 4096])
with open(sys.argv[1], 'w') as done:
    done.write('sent')
conn.recv(100)
PY
    cat >"$BATS_TEST_TMPDIR/client.py" <<'PY'
import socket, sys
c = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
c.send(b'seq'); c.recv(1024)
c.send(b'echo'); c.recv(1024)
print(open(sys.argv[2]).read())
PY
    start_server srv tapped python3 "$BATS_TEST_TMPDIR/server.py" "$BATS_TEST_TMPDIR/sent"
    run tapped timeout 20 python3 "$BATS_TEST_TMPDIR/client.py" "$srv_port" "$BATS_TEST_TMPDIR/sent"
    assert_output sent
    wait_for_exit "$srv_pid"
    dump
    has_line '  down (server -> client): 27 sends, 108890 bytes sent; 2 recvs, 2048 bytes received; 106842 pending'
    has_line '    ---- recv #2 returned 1024 bytes (client waiting for reply #2)'
    has_line '    !! STALE: recv #2 returned bytes of reply #1'
    has_line '    (window: the client lags; bytes from offset 65536 on are not kept yet)'
}
