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

# dump_once_it_has REGEX: dumps until the dump has a line matching REGEX
# (deadline 10 s), for a capture that a tapped program still running writes:
# its tap may hold its last burst of events for up to 2 ms (FLUSH_NS), and
# a loaded machine may run the thread that writes them later than that.
dump_has() { dump && grep -qE -- "$1" "$BATS_TEST_TMPDIR/dump"; }
dump_once_it_has() {
    wait_until dump_has "$1" || {
        echo "no line matching '$1' in:"; cat "$BATS_TEST_TMPDIR/dump"; return 1; }
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
    dump_once_it_has '^connection 1: STALE'
    has_line '    !! STALE: recv #2 returned bytes of reply #1'
    has_line 'connection 1: STALE: recv #2 returned bytes of reply #1'
}

# About a second: stages 3 and 4, the client alone tapped, "true" (a reply
# with an empty body) then "echo hi". With the server untapped the framing
# numbers the replies: an empty one is a reply too, or the next reply's
# bytes would count as the previous one's and be flagged STALE.
@test "a client-only capture of a stage 3 or 4 session with an empty reply then another shows no STALE" {
    local st
    for st in stage3_struct_len stage4_json_header; do
        start_server srv "$ROOT/$st/server" --port 0
        rm -f "$CAP"
        run bash -c 'printf "true\necho hi\n" | LD_PRELOAD="$0" NIANBAO_TAP="$1" timeout 20 "$2" -p "$3"' \
            "$TAP" "$CAP" "$ROOT/$st/client" "$srv_port"
        assert_success
        assert_output 'hi'
        dump
        has_line "connection 1: client $st/client, server (not tapped), tcp, proto $([ "$st" = stage3_struct_len ] && echo len || echo json) (guessed)"
        has_line '    ---- recv #1 returned 4 bytes (client waiting for reply #1)'
        grep -qx '    ---- recv #[0-9] returned 3 bytes (client waiting for reply #2)' "$BATS_TEST_TMPDIR/dump"
        has_line "total: 2 sends, $([ "$st" = stage3_struct_len ] && echo 3 || echo 5) recvs, 0 bytes pending, 0 STALE"
        run grep -c 'STALE:' "$BATS_TEST_TMPDIR/dump"
        assert_output 0
        kill "$srv_pid"
        wait_for_exit "$srv_pid"
    done
}

@test "the tapped programs' output is byte for byte what they print untapped" {
    start_server srv tapped "$ROOT/stage4_json_header/server" --port 0
    printf 'seq 1 20000\necho done\n' | tapped timeout 20 "$ROOT/stage4_json_header/client" -p "$srv_port" \
        >"$BATS_TEST_TMPDIR/tapped.out"
    start_server plain "$ROOT/stage4_json_header/server" --port 0
    printf 'seq 1 20000\necho done\n' | timeout 20 "$ROOT/stage4_json_header/client" -p "$plain_port" \
        >"$BATS_TEST_TMPDIR/plain.out"
    [ "$(sha "$BATS_TEST_TMPDIR/tapped.out")" = "$(sha "$BATS_TEST_TMPDIR/plain.out")" ]
    dump_once_it_has ' 109131 bytes sent;'
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
    # the body's first 8 bytes, then the rest of the call not captured,
    # counted in full (not the preview's width)
    line=$(grep '^    @4  .* body #1 ' "$BATS_TEST_TMPDIR/dump")
    span=$(awk '{ print substr($2, 2) }' <<<"$line")
    [[ "$line" == *'"1\n2\n3\n4\n['"$((span - 8))"' bytes not captured]"' ]] ||
        { echo "not that line: $line"; return 1; }
    # 88-byte headers plus at most 8 bytes each: the capture stays tiny
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
    grep -qx 'nianbao capture: [0-9]* events, 1 connection' "$BATS_TEST_TMPDIR/dump"
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

# build_trunc: a C program that calls recv/recvmsg with MSG_TRUNC into
# buffers that end right before a page the program may not touch, so a tap
# that reads one byte too far crashes it. $BATS_TEST_TMPDIR/trunc MODE:
#   tcp      recv(fd, NULL, 5, MSG_TRUNC) on TCP (discards 5 bytes), then recv 5
#   udp      recv(u, buf4, 4, MSG_TRUNC) of a 10-byte datagram (returns 10)
#   udpmsg   recvmsg(MSG_TRUNC) of a 2000-byte datagram into 3 + 2 bytes
build_trunc() {
    cat >"$BATS_TEST_TMPDIR/trunc.c" <<'C'
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
static struct sockaddr_in lo(void)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    return a;
}
/* the last N bytes before a page that cannot be read */
static char *edge(char *pages, int k, size_t n) { return pages + 4096 * (2 * k + 1) - n; }
int main(int argc, char **argv)
{
    char *pages = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(pages + 4096, 4096, PROT_NONE);
    mprotect(pages + 3 * 4096, 4096, PROT_NONE);
    struct sockaddr_in a = lo();
    socklen_t len = sizeof a;
    if (strcmp(argv[1], "tcp") == 0) {
        int l = socket(AF_INET, SOCK_STREAM, 0);
        bind(l, (struct sockaddr *)&a, sizeof a); listen(l, 1);
        getsockname(l, (struct sockaddr *)&a, &len);
        int c = socket(AF_INET, SOCK_STREAM, 0);
        connect(c, (struct sockaddr *)&a, sizeof a);
        int s = accept(l, NULL, NULL);
        send(s, "0123456789", 10, 0);
        usleep(100000);
        printf("discarded %zd\n", recv(c, NULL, 5, MSG_TRUNC));
        char *buf = edge(pages, 0, 5);
        ssize_t n = recv(c, buf, 5, 0);
        printf("then %zd \"%.5s\"\n", n, buf);
        return 0;
    }
    /* two UDP sockets connected to each other: each knows its peer */
    int u = socket(AF_INET, SOCK_DGRAM, 0), v = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in b = lo();
    bind(u, (struct sockaddr *)&a, sizeof a);
    getsockname(u, (struct sockaddr *)&a, &len);
    bind(v, (struct sockaddr *)&b, sizeof b);
    len = sizeof b;
    getsockname(v, (struct sockaddr *)&b, &len);
    connect(v, (struct sockaddr *)&a, sizeof a);
    connect(u, (struct sockaddr *)&b, sizeof b);
    if (strcmp(argv[1], "udp") == 0) {
        send(v, "abcdefghij", 10, 0);
        char *buf4 = edge(pages, 0, 4);
        ssize_t n = recv(u, buf4, 4, MSG_TRUNC);
        printf("recv %zd \"%.4s\"\n", n, buf4);
        return 0;
    }
    char big[2000];
    memset(big, 'z', sizeof big);
    memcpy(big, "hello", 5);
    send(v, big, sizeof big, 0);
    struct iovec iov[2] = { { edge(pages, 0, 3), 3 }, { edge(pages, 1, 2), 2 } };
    struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
    ssize_t n = recvmsg(u, &msg, MSG_TRUNC);
    printf("recvmsg %zd%s \"%.3s%.2s\"\n", n, msg.msg_flags & MSG_TRUNC ? " truncated" : "",
           (char *)iov[0].iov_base, (char *)iov[1].iov_base);
    return 0;
}
C
    cc -O1 -o "$BATS_TEST_TMPDIR/trunc" "$BATS_TEST_TMPDIR/trunc.c"
}

@test "recv(fd, NULL, 5, MSG_TRUNC) on TCP discards under the tap as without it" {
    build_trunc
    run "$BATS_TEST_TMPDIR/trunc" tcp
    assert_success
    assert_output $'discarded 5\nthen 5 "56789"'
    run tapped "$BATS_TEST_TMPDIR/trunc" tcp
    assert_success
    assert_output $'discarded 5\nthen 5 "56789"'
    dump
    has_line '  down (server -> client): 1 sends, 10 bytes sent; 2 recvs, 5 bytes received; 5 bytes lost to truncation; 0 pending'
    has_line '    ---- recv #1 discarded 5 bytes (MSG_TRUNC)'
    has_line '    @5       +5      send #1   recv #2   -                "56789"'
}

@test "recv(MSG_TRUNC) on UDP that returns more than the buffer reads only the buffer" {
    build_trunc
    run "$BATS_TEST_TMPDIR/trunc" udp
    assert_success
    assert_output 'recv 10 "abcd"'
    run tapped "$BATS_TEST_TMPDIR/trunc" udp
    assert_success
    assert_output 'recv 10 "abcd"'
    dump
    has_line '    ---- recv #1 returned 4 bytes of a 10-byte datagram (6 lost)'
}

@test "recvmsg(MSG_TRUNC) records what its iovecs received and the datagram's true length" {
    build_trunc
    run "$BATS_TEST_TMPDIR/trunc" udpmsg
    assert_success
    assert_output 'recvmsg 2000 truncated "hello"'
    run tapped "$BATS_TEST_TMPDIR/trunc" udpmsg
    assert_success
    assert_output 'recvmsg 2000 truncated "hello"'
    dump
    has_line '    ---- recv #1 returned 5 bytes of a 2000-byte datagram (1995 lost)'
    # the bytes after the iovecs are the sender's (the tap copied its 1024),
    # never whatever memory lay beyond the receiver's buffers
    run "$ROOT/viewer/nianbao-view" --replay "$CAP" --dump --at up:5
    assert_success
    assert_line '    => @5: 0x7a '"'"'z'"'"', send #1, recv #1, request #1'
}

@test "the lab's udp_server --bufsize 5 shows 5 bytes received of a 2000-byte datagram" {
    [ -x "$ROOT/stage2_udp_vs_tcp/udp_server" ] || skip "stage 2 is not built"
    start_server srv tapped "$ROOT/stage2_udp_vs_tcp/udp_server" --port 0 --bufsize 5
    run tapped timeout 20 "$ROOT/stage2_udp_vs_tcp/udp_client" -p "$srv_port" --demo truncate --size 2000
    assert_success
    dump_once_it_has ' 1 recvs, 5 bytes received;'
    has_line '  up (client -> server): 1 sends, 2000 bytes sent; 1 recvs, 5 bytes received; 1995 bytes lost to truncation; 0 pending'
    has_line '    ---- recv #1 returned 5 bytes of a 2000-byte datagram (1995 lost)'
}

@test "sendfile and sendfile64 are recorded as sends of the file's bytes" {
    printf 'hello sendfile world, and more' >"$BATS_TEST_TMPDIR/spool"
    cat >"$BATS_TEST_TMPDIR/sf.py" <<'PY'
import os, socket, sys
server = socket.create_server(('127.0.0.1', 0))
client = socket.create_connection(server.getsockname())
conn, _ = server.accept()
with open(sys.argv[1], 'rb') as spool:
    fd = spool.fileno()
    os.sendfile(conn.fileno(), fd, 6, 8)            # from offset 6: "sendfile"
    os.lseek(fd, 15, os.SEEK_SET)
    os.sendfile(conn.fileno(), fd, None, 5)          # from the file position: "world"
    print(os.lseek(fd, 0, os.SEEK_CUR))
conn.close()
got = b''
while len(got) < 13:
    got += client.recv(100)
print(got.decode())
PY
    run tapped python3 "$BATS_TEST_TMPDIR/sf.py" "$BATS_TEST_TMPDIR/spool"
    assert_success
    assert_output $'20\nsendfileworld'
    dump
    has_line '    @0       +8      send #1   recv #1   reply #0         "sendfile"' ||
        grep -q '^    @0 .* send #1 .*"sendfile' "$BATS_TEST_TMPDIR/dump"
    grep -q '^    @8 .* send #2 .*"world"$' "$BATS_TEST_TMPDIR/dump"
    grep -q '^  down (server -> client): 2 sends, 13 bytes sent; ' "$BATS_TEST_TMPDIR/dump"
    # and plain sendfile from C, as the stage servers call it
    cat >"$BATS_TEST_TMPDIR/sf.c" <<'C'
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    bind(l, (struct sockaddr *)&a, sizeof a); listen(l, 1);
    getsockname(l, (struct sockaddr *)&a, &len);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    connect(c, (struct sockaddr *)&a, sizeof a);
    int s = accept(l, NULL, NULL), f = open(argv[1], O_RDONLY);
    off_t at = 22;
    ssize_t n = sendfile(s, f, &at, 8);
    char buf[16] = "";
    recv(c, buf, sizeof buf - 1, 0);
    printf("%zd %s %lld\n", n, buf, (long long)at);
    return 0;
}
C
    cc -O1 -o "$BATS_TEST_TMPDIR/sf" "$BATS_TEST_TMPDIR/sf.c"
    rm -f "$CAP"
    run tapped "$BATS_TEST_TMPDIR/sf" "$BATS_TEST_TMPDIR/spool"
    assert_success
    assert_output '8 and more 30'
    dump
    grep -q '^    @0 .* send #1 .*"and more"$' "$BATS_TEST_TMPDIR/dump"
}

@test "the README's first viewer recipe taps both ends and catches a python v1 client STALE" {
    # the block as the README shows it, run in a folder with the student's
    # python3 server.py and client.py (the document's v1 shape: one recv per
    # command), and viewer/ of this tree
    awk '/^## The viewer/{ v = 1 } /^## Tests/{ v = 0 }
         v && /^```sh$/{ b++; next } v && b == 1 && /^```$/{ exit } v && b == 1' \
        "$ROOT/README.md" >"$BATS_TEST_TMPDIR/recipe.sh"
    grep -q 'python3 server.py &' "$BATS_TEST_TMPDIR/recipe.sh"
    grep -q 'python3 client.py' "$BATS_TEST_TMPDIR/recipe.sh"
    mkdir "$BATS_TEST_TMPDIR/work"
    ln -s "$ROOT/viewer" "$BATS_TEST_TMPDIR/work/viewer"
    cat >"$BATS_TEST_TMPDIR/work/server.py" <<'PY'
import socket, subprocess
server = socket.create_server(('127.0.0.1', 0))
with open('port.tmp', 'w') as f:
    f.write(str(server.getsockname()[1]))
import os; os.rename('port.tmp', 'port')
conn, _ = server.accept()
while True:
    cmd = conn.recv(1024)
    if not cmd:
        break
    conn.sendall(subprocess.run(cmd.decode(), shell=True, capture_output=True).stdout or b'\n')
PY
    cat >"$BATS_TEST_TMPDIR/work/client.py" <<'PY'
import os, socket, time
deadline = time.time() + 10
while not os.path.exists('port') and time.time() < deadline:
    time.sleep(0.05)
client = socket.create_connection(('127.0.0.1', int(open('port').read())))
for cmd in (b'seq 1 300', b'echo hi'):
    client.send(cmd)
    print(client.recv(1024).decode()[:20].replace('\n', ' '))
client.close()
PY
    cd "$BATS_TEST_TMPDIR/work"
    run timeout 60 bash -e "$BATS_TEST_TMPDIR/recipe.sh"
    assert_success
    assert_line '    !! STALE: recv #2 returned bytes of reply #1'
    refute_output --partial 'STALE needs both ends tapped'
    [ -s run.html ]
    assert_line "    => @1024: 0x32 '2', send #1, recv #2, reply #1"
}
