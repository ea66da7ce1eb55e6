#!/usr/bin/env bats
# Stage 2 (section 2 of the document): UDP keeps message boundaries, TCP does
# not. Each demo is asserted from the programs' own event lines: UDP's two
# datagrams, its truncation count and its empty datagram; TCP's merge, split
# and empty send; and the command-line contract of all four programs.

setup() {
    load 'test_helper/common-setup'
    _common_setup
    S2="$ROOT/stage2_udp_vs_tcp"
}
teardown() { _common_teardown; }

# (wait_for_line, from common-setup: a server prints its last line of a run
# after its reply, so the client may be done before that line is written.)

# server_lines NAME: NAME's event lines (stdout) with what changes from run
# to run replaced: the client's port, milliseconds, the MSS.
server_lines() {
    sed -E -e 's/(from|to) 127\.0\.0\.1:[0-9]+/\1 CLIENT/' \
        -e 's/127\.0\.0\.1:[0-9]+ closed/CLIENT closed/' \
        -e 's/after [0-9]+ ms/after T ms/' -e 's/\(MSS [0-9]+\)/(MSS M)/' \
        "$BATS_TEST_TMPDIR/$1.out"
}

# recv_sizes NAME: the sizes of NAME's non-empty recvs, one per line.
recv_sizes() {
    sed -nE 's/^recv #[0-9]+: ([1-9][0-9]*) bytes .*/\1/p' "$BATS_TEST_TMPDIR/$1.out"
}

# ---------------------------------------------------------------- UDP ---

@test "UDP keeps boundaries: \"world\" and \"hello\" arrive as two recvfrom calls of 5 bytes" {
    start_server udp "$S2/udp_server" --port 0
    run timeout 20 "$S2/udp_client" -p "$udp_port" --demo boundaries
    assert_success
    assert_output "demo boundaries: two datagrams, \"world\" then \"hello\"
send #1: 5 bytes \"world\" to 127.0.0.1:$udp_port
send #2: 5 bytes \"hello\" to 127.0.0.1:$udp_port
recvfrom #1: 21 bytes \"received 5 of 5 bytes\" from 127.0.0.1:$udp_port
recvfrom #2: 21 bytes \"received 5 of 5 bytes\" from 127.0.0.1:$udp_port"
    wait_for_line "$BATS_TEST_TMPDIR/udp.out" '^sendto #2: '
    run server_lines udp
    assert_output 'recvfrom #1: 5 bytes "world" from CLIENT
sendto #1: 21 bytes "received 5 of 5 bytes" to CLIENT
recvfrom #2: 5 bytes "hello" from CLIENT
sendto #2: 21 bytes "received 5 of 5 bytes" to CLIENT'
    # One run of the client is one socket: both datagrams share a sender.
    run sed -nE 's/^recvfrom #[12]: .* from //p' "$BATS_TEST_TMPDIR/udp.out"
    [ "${#lines[@]}" -eq 2 ]
    [ "${lines[0]}" = "${lines[1]}" ]
}

@test "UDP drops what does not fit: a 2048-byte datagram into recvfrom(1024) loses 1024 bytes" {
    start_server udp "$S2/udp_server" --port 0
    run timeout 20 "$S2/udp_client" -p "$udp_port" --demo truncate
    assert_success
    assert_line --index 0 "demo truncate: one datagram of 2048 bytes"
    assert_line --index 1 --regexp '^send #1: 2048 bytes "helloworldhelloworld.*\.\.\." to '
    assert_line --index 2 "recvfrom #1: 27 bytes \"received 1024 of 2048 bytes\" from 127.0.0.1:$udp_port"
    wait_for_line "$BATS_TEST_TMPDIR/udp.out" '^sendto #1: '
    run server_lines udp
    assert_line --index 0 --regexp '^recvfrom #1: 1024 bytes "helloworld.*\.\.\." from CLIENT$'
    assert_line --index 1 'truncated #1: received 1024 of 2048 bytes; 1024 bytes lost'
}

@test "UDP truncation with the document's numbers: recvfrom(5) of a 10-byte datagram loses 5 bytes" {
    start_server udp "$S2/udp_server" --port 0 --bufsize 5
    run timeout 20 "$S2/udp_client" -p "$udp_port" --demo truncate --size 10
    assert_success
    assert_line --index 1 "send #1: 10 bytes \"helloworld\" to 127.0.0.1:$udp_port"
    assert_line --index 2 "recvfrom #1: 22 bytes \"received 5 of 10 bytes\" from 127.0.0.1:$udp_port"
    wait_for_line "$BATS_TEST_TMPDIR/udp.out" '^sendto #1: '
    run server_lines udp
    assert_output 'recvfrom #1: 5 bytes "hello" from CLIENT
truncated #1: received 5 of 10 bytes; 5 bytes lost
sendto #1: 22 bytes "received 5 of 10 bytes" to CLIENT'
}

@test "a UDP datagram that fits the buffer exactly is not reported as truncated" {
    start_server udp "$S2/udp_server" --port 0
    run timeout 20 "$S2/udp_client" -p "$udp_port" --demo truncate --size 1024
    assert_success
    wait_for_line "$BATS_TEST_TMPDIR/udp.out" '^sendto #1: '
    run server_lines udp
    assert_line --index 0 --regexp '^recvfrom #1: 1024 bytes '
    refute_line --partial 'truncated'
    assert_line --index 1 'sendto #1: 27 bytes "received 1024 of 1024 bytes" to CLIENT'
}

@test "an empty UDP datagram is still a message: it arrives as a 0-byte recvfrom" {
    start_server udp "$S2/udp_server" --port 0
    run timeout 20 "$S2/udp_client" -p "$udp_port" --demo empty
    assert_success
    assert_output "demo empty: one datagram of 0 bytes
send #1: 0 bytes \"\" to 127.0.0.1:$udp_port
recvfrom #1: 21 bytes \"received 0 of 0 bytes\" from 127.0.0.1:$udp_port"
    wait_for_line "$BATS_TEST_TMPDIR/udp.out" '^sendto #1: '
    run server_lines udp
    assert_output 'recvfrom #1: 0 bytes "" from CLIENT
sendto #1: 21 bytes "received 0 of 0 bytes" to CLIENT'
}

@test "udp_client runs every demo by default, in the document's order, and the server keeps serving" {
    start_server udp "$S2/udp_server" --port 0
    run timeout 20 "$S2/udp_client" -p "$udp_port"
    assert_success
    run grep '^demo ' <<<"$output"
    assert_output 'demo boundaries: two datagrams, "world" then "hello"
demo truncate: one datagram of 2048 bytes
demo empty: one datagram of 0 bytes'
    run timeout 20 "$S2/udp_client" -p "$udp_port" --demo empty
    assert_success
    wait_for_line "$BATS_TEST_TMPDIR/udp.out" '^sendto #5: '
    run grep -E '^(recvfrom|truncated)' "$BATS_TEST_TMPDIR/udp.out"
    assert_line --index 0 --regexp '^recvfrom #1: 5 bytes "world" '
    assert_line --index 1 --regexp '^recvfrom #2: 5 bytes "hello" '
    assert_line --index 2 --regexp '^recvfrom #3: 1024 bytes '
    assert_line --index 3 'truncated #3: received 1024 of 2048 bytes; 1024 bytes lost'
    assert_line --index 4 --regexp '^recvfrom #4: 0 bytes "" '
    assert_line --index 5 --regexp '^recvfrom #5: 0 bytes "" '
    [ "${#lines[@]}" -eq 6 ]
}

@test "udp_server escapes bytes that are not printable" {
    start_server udp "$S2/udp_server" --port 0
    # cat writes the file with one write(2): one datagram. (printf may write
    # twice, and on UDP every write is a datagram of its own.)
    printf 'a\000\n"\\\377' >"$BATS_TEST_TMPDIR/odd"
    cat "$BATS_TEST_TMPDIR/odd" >"/dev/udp/127.0.0.1/$udp_port"
    wait_for_line "$BATS_TEST_TMPDIR/udp.out" '^recvfrom #1: '
    run server_lines udp
    assert_line --index 0 'recvfrom #1: 6 bytes "a\x00\n\"\\\xff" from CLIENT'
}

@test "udp_server and udp_client speak IPv6 too" {
    start_server udp "$S2/udp_server" -H ::1 --port 0 || skip "no IPv6 loopback here"
    run head -1 "$BATS_TEST_TMPDIR/udp.log"
    assert_output "listening on [::1]:$udp_port"
    run timeout 20 "$S2/udp_client" -H ::1 -p "$udp_port" --demo empty
    assert_success
    assert_line --index 2 "recvfrom #1: 21 bytes \"received 0 of 0 bytes\" from [::1]:$udp_port"
}

@test "udp_client says so when nothing listens on the port, instead of waiting forever" {
    start_server gone "$S2/udp_server" --port 0
    kill "$gone_pid"
    wait_for_exit "$gone_pid"
    run timeout 20 "$S2/udp_client" -p "$gone_port" --demo empty
    assert_failure 1
    assert_line --index 1 "send #1: 0 bytes \"\" to 127.0.0.1:$gone_port"
    assert_line --index 2 "udp_client: nothing listens on UDP 127.0.0.1:$gone_port (the host answered \"port unreachable\")"
}

@test "udp_client gives up after --timeout-ms when the server does not answer, as the document's would not" {
    # A UDP socket that is bound but never reads or replies.
    start_server mute python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
print("listening on 127.0.0.1:%d" % s.getsockname()[1], file=sys.stderr, flush=True)
time.sleep(60)'
    run timeout 20 "$S2/udp_client" -p "$mute_port" --demo empty --timeout-ms 200
    assert_failure 1
    assert_line --index 1 "send #1: 0 bytes \"\" to 127.0.0.1:$mute_port"
    assert_line --index 2 "udp_client: no reply from 127.0.0.1:$mute_port within 200 ms: is udp_server running there?"
}

# ---------------------------------------------------------------- TCP ---

@test "TCP merges: two sends, \"hello\" and \"world\", come out of one recv as \"helloworld\"" {
    start_server tcp "$S2/tcp_server" --port 0
    run timeout 20 "$S2/tcp_client" -p "$tcp_port" --demo merge
    assert_success
    assert_line --index 0 'demo merge: two sends, "hello" then "world"'
    assert_line --index 1 --regexp "^connect: 127\.0\.0\.1:[0-9]+ to 127\.0\.0\.1:$tcp_port$"
    assert_line --index 2 'send #1: 5 bytes "hello"'
    assert_line --index 3 'send #2: 5 bytes "world"'
    assert_line --index 4 'shutdown: SHUT_WR (our FIN: the end of the stream, TCP'"'"'s only boundary)'
    assert_line --index 5 'recv #1: 6 bytes "return"'
    assert_line --index 6 'EOF: the server closed (recv returned 0: the end of the stream)'
    [ "${#lines[@]}" -eq 7 ]
    wait_for_line "$BATS_TEST_TMPDIR/tcp.out" '^send: '
    run server_lines tcp
    assert_line --index 0 'accept #1: connection from CLIENT (MSS M)'
    # The server waits before its one recv; either reason means both sends are queued.
    assert_line --index 1 --regexp '^wait: 10 bytes queued after T ms \((waited for FIONREAD >= 10 so that the sends are in before recv|waited until the client finished sending)\)$'
    assert_line --index 2 'recv #1: 10 bytes "helloworld"'
    assert_line --index 3 'EOF: CLIENT closed its side (recv returned 0: the end of the stream)'
    assert_line --index 4 --regexp '^total: 10 bytes in 1 recv call; [12] data segments? arrived$'
    assert_line --index 5 'send: 6 bytes "return"'
    [ "${#lines[@]}" -eq 6 ]
}

@test "the merge is not Nagle's doing: with TCP_NODELAY two segments arrive and one recv still takes both" {
    start_server tcp "$S2/tcp_server" --port 0
    run timeout 20 "$S2/tcp_client" -p "$tcp_port" --demo merge --nodelay
    assert_success
    assert_line --index 1 --regexp ' \(TCP_NODELAY\)$'
    wait_for_line "$BATS_TEST_TMPDIR/tcp.out" '^send: '
    run server_lines tcp
    assert_line --index 2 'recv #1: 10 bytes "helloworld"'
    assert_line --index 4 'total: 10 bytes in 1 recv call; 2 data segments arrived'
}

@test "with --wait-ms 0 the server says the merge depends on timing, and the bytes still add up" {
    start_server tcp "$S2/tcp_server" --port 0 --wait-ms 0
    run timeout 20 "$S2/tcp_client" -p "$tcp_port" --demo merge
    assert_success
    wait_for_line "$BATS_TEST_TMPDIR/tcp.out" '^send: '
    run server_lines tcp
    assert_line --index 1 'wait: none (--wait-ms 0): what the first recv returns depends on timing'
    assert_line --regexp '^total: 10 bytes in [12] recv calls?; '
    run recv_sizes tcp
    [ "$(IFS=+; echo $(( ${lines[*]} )))" -eq 10 ]
}

@test "the server's wait gives up after --wait-ms and says so, then reads what is there" {
    start_server tcp "$S2/tcp_server" --port 0 --wait-ms 200
    exec 5<>"/dev/tcp/127.0.0.1/$tcp_port"
    printf 'hello' >&5
    wait_for_line "$BATS_TEST_TMPDIR/tcp.out" '^recv #1: '
    exec 5>&-
    wait_for_line "$BATS_TEST_TMPDIR/tcp.out" '^total: '
    run server_lines tcp
    assert_line --index 1 --regexp '^wait: 5 bytes queued after T ms \(gave up: --wait-ms 200\)$'
    assert_line --index 2 'recv #1: 5 bytes "hello"'
    assert_line --index 3 'EOF: CLIENT closed its side (recv returned 0: the end of the stream)'
    # The wait really lasted: at least the 200 ms asked for.
    run sed -nE 's/^wait: .* after ([0-9]+) ms.*/\1/p' "$BATS_TEST_TMPDIR/tcp.out"
    [ "$output" -ge 200 ]
}

@test "the document's own TCP client, which never closes its side, gets b'return' after --idle-ms" {
    start_server tcp "$S2/tcp_server" --port 0 --idle-ms 300
    run timeout 20 python3 -c '
import sys
from socket import *
client = socket(AF_INET, SOCK_STREAM)
client.connect(("127.0.0.1", int(sys.argv[1])))
client.send(b"hello")
client.send(b"world")
print(client.recv(1024))
client.close()' "$tcp_port"
    assert_success
    assert_output "b'return'"
    wait_for_line "$BATS_TEST_TMPDIR/tcp.out" '^send: '
    run server_lines tcp
    assert_line --index 2 'recv #1: 10 bytes "helloworld"'
    assert_line --index 3 --regexp '^total: 10 bytes in 1 recv call; '
    run grep -c '^tcp_server: 127\.0\.0\.1:[0-9]* sent nothing for 300 ms and did not close; replying anyway$' \
        "$BATS_TEST_TMPDIR/tcp.log"
    assert_output 1
}

@test "TCP splits: one send of 256 KiB comes out of several recvs that add up to 262144" {
    start_server tcp "$S2/tcp_server" --port 0
    run timeout 20 "$S2/tcp_client" -p "$tcp_port" --demo split
    assert_success
    assert_line --index 0 'demo split: one send of 262144 bytes'
    assert_line --index 2 'send #1: 262144 of 262144 bytes'
    wait_for_line "$BATS_TEST_TMPDIR/tcp.out" '^send: '
    run recv_sizes tcp
    # More than one recv, though each could take 1 MiB: the receive buffer
    # (tcp_rmem, 128 KiB at first) cannot hold 256 KiB before the first read.
    [ "${#lines[@]}" -ge 2 ]
    [ "$(IFS=+; echo $(( ${lines[*]} )))" -eq 262144 ]
    local n=${#lines[@]}
    run server_lines tcp
    assert_line --regexp "^total: 262144 bytes in $n recv calls; [0-9]+ data segments arrived$"
    assert_line --regexp "^EOF: CLIENT closed its side \(recv returned 0: the end of the stream\)$"
}

@test "with the document's recv(1024) no recv returns more than 1024 bytes: at least 256 calls" {
    start_server tcp "$S2/tcp_server" --port 0 --bufsize 1024
    run timeout 20 "$S2/tcp_client" -p "$tcp_port" --demo split
    assert_success
    wait_for_line "$BATS_TEST_TMPDIR/tcp.out" '^send: '
    run recv_sizes tcp
    [ "${#lines[@]}" -ge 256 ]
    [ "$(IFS=+; echo $(( ${lines[*]} )))" -eq 262144 ]
    run sort -n -r <(recv_sizes tcp)
    [ "${lines[0]}" -le 1024 ]
}

@test "a 0-byte TCP send sends nothing; the server's 0-byte recv is the end of the stream" {
    start_server tcp "$S2/tcp_server" --port 0
    run timeout 20 "$S2/tcp_client" -p "$tcp_port" --demo empty
    assert_success
    assert_line --index 0 'demo empty: a send of 0 bytes, then the end of stream'
    assert_line --index 2 'send #1: 0 bytes "" (data segments sent: 0 before, 0 after)'
    assert_line --index 4 'recv #1: 6 bytes "return"'
    wait_for_line "$BATS_TEST_TMPDIR/tcp.out" '^send: '
    run server_lines tcp
    assert_output 'accept #1: connection from CLIENT (MSS M)
wait: 0 bytes queued after T ms (waited until the client finished sending)
EOF: CLIENT closed its side (recv returned 0: the end of the stream)
total: 0 bytes in 0 recv calls; 0 data segments arrived
send: 6 bytes "return"'
}

@test "tcp_client runs merge, split and empty by default, one connection each, and the server keeps serving" {
    start_server tcp "$S2/tcp_server" --port 0
    run timeout 20 "$S2/tcp_client" -p "$tcp_port"
    assert_success
    run grep '^demo ' <<<"$output"
    assert_output 'demo merge: two sends, "hello" then "world"
demo split: one send of 262144 bytes
demo empty: a send of 0 bytes, then the end of stream'
    run timeout 20 "$S2/tcp_client" -p "$tcp_port" --demo empty
    assert_success
    wait_for_line "$BATS_TEST_TMPDIR/tcp.out" '^accept #4: '
    wait_for_line "$BATS_TEST_TMPDIR/tcp.out" '^total: 0 bytes'
    run grep -E '^total: ' "$BATS_TEST_TMPDIR/tcp.out"
    assert_line --index 0 --regexp '^total: 10 bytes in 1 recv call; '
    assert_line --index 1 --regexp '^total: 262144 bytes in '
    assert_line --index 2 'total: 0 bytes in 0 recv calls; 0 data segments arrived'
}

@test "tcp_server --once serves one connection and exits 0, as the document's server" {
    start_server tcp "$S2/tcp_server" --port 0 --once
    run timeout 20 "$S2/tcp_client" -p "$tcp_port" --demo merge
    assert_success
    wait_for_exit "$tcp_pid"
    [ "$EXIT_STATUS" -eq 0 ]
    run grep -c '^listening on ' "$BATS_TEST_TMPDIR/tcp.log"
    assert_output 1
}

@test "tcp_client says so when nothing listens on the port" {
    start_server gone "$S2/tcp_server" --port 0
    kill "$gone_pid"
    wait_for_exit "$gone_pid"
    run timeout 20 "$S2/tcp_client" -p "$gone_port" --demo merge
    assert_failure 1
    assert_line "tcp_client: cannot connect to 127.0.0.1:$gone_port: Connection refused"
}

# ----------------------------------------------------- program contract ---

# About a second. Started with stdout closed, a client's socket got fd 1:
# the lines it printed were sent to the server with the demo's bytes.
@test "tcp_client and udp_client started with stdout closed send their demo's bytes and nothing else" {
    start_server tcp "$S2/tcp_server" --port 0
    timeout 20 "$S2/tcp_client" -p "$tcp_port" --demo merge >&-
    wait_for_line "$BATS_TEST_TMPDIR/tcp.out" '^send: '
    run server_lines tcp
    assert_line --index 2 'recv #1: 10 bytes "helloworld"'
    assert_line --index 4 --regexp '^total: 10 bytes in 1 recv call; [12] data segments? arrived$'
    start_server udp "$S2/udp_server" --port 0
    timeout 20 "$S2/udp_client" -p "$udp_port" --demo boundaries >&-
    wait_for_line "$BATS_TEST_TMPDIR/udp.out" '^sendto #2: '
    run server_lines udp
    assert_output 'recvfrom #1: 5 bytes "world" from CLIENT
sendto #1: 21 bytes "received 5 of 5 bytes" to CLIENT
recvfrom #2: 5 bytes "hello" from CLIENT
sendto #2: 21 bytes "received 5 of 5 bytes" to CLIENT'
}

@test "every stage 2 program prints its usage on stdout for --help and exits 0" {
    local prog
    for prog in udp_server udp_client tcp_server tcp_client; do
        run "$S2/$prog" --help
        assert_success
        assert_line --index 0 "usage: $prog [options]"
        assert_line --partial '-H, --host HOST'
        assert_line --partial '-p, --port PORT'
    done
}

@test "every stage 2 program names the document version it reproduces for --version" {
    local prog
    for prog in udp_server udp_client tcp_server tcp_client; do
        run "$S2/$prog" --version
        assert_success
        assert_output "$prog (nianbao 1.0): stage 2, reproduces v2.0 of the document"
    done
}

@test "a bad option is one error line and a pointer to --help on stderr, exit 2" {
    local prog
    for prog in udp_server udp_client tcp_server tcp_client; do
        run "$S2/$prog" --bogus
        assert_failure 2
        assert_line --index 0 "$prog: unknown option '--bogus'"
        assert_line --index 1 "Try '$prog --help' for more information."
        assert_equal "${#lines[@]}" 2
        run "$S2/$prog" --port 70000
        assert_failure 2
        local lowest=0
        [[ $prog == *_client ]] && lowest=1
        assert_line --index 0 "$prog: --port: '70000' is not a port number ($lowest..65535)"
    done
}

@test "a --demo that names no experiment is bad usage, exit 2" {
    run "$S2/udp_client" --demo merge
    assert_failure 2
    assert_line --index 0 "udp_client: --demo: 'merge' is not one of boundaries|truncate|empty|all"
    assert_line --index 1 "Try 'udp_client --help' for more information."
    run "$S2/tcp_client" --demo truncate
    assert_failure 2
    assert_line --index 0 "tcp_client: --demo: 'truncate' is not one of merge|split|empty|all|nagle"
    assert_line --index 1 "Try 'tcp_client --help' for more information."
}

@test "sizes out of range are refused before anything is sent" {
    run "$S2/udp_client" --size 65508
    assert_failure 2
    assert_line --index 0 "udp_client: --size: '65508' is not a number from 1 to 65507"
    run "$S2/tcp_client" --size 0
    assert_failure 2
    assert_line --index 0 "tcp_client: --size: '0' is not a number from 1 to 67108864"
    run "$S2/udp_server" --bufsize 0
    assert_failure 2
    assert_line --index 0 "udp_server: --bufsize: '0' is not a number from 1 to 65536"
}

@test "both servers announce one 'listening on' line on stderr" {
    start_server udp "$S2/udp_server" --port 0
    start_server tcp "$S2/tcp_server" --port 0
    run cat "$BATS_TEST_TMPDIR/udp.log"
    assert_output "listening on 127.0.0.1:$udp_port"
    run cat "$BATS_TEST_TMPDIR/tcp.log"
    assert_output "listening on 127.0.0.1:$tcp_port"
}

@test "tcp_server reports a port already taken" {
    start_server tcp "$S2/tcp_server" --port 0
    run timeout 10 "$S2/tcp_server" -p "$tcp_port"
    assert_failure 1
    assert_output "tcp_server: cannot listen on 127.0.0.1:$tcp_port: Address already in use"
}

@test "udp_server reports a port already taken" {
    start_server udp "$S2/udp_server" --port 0
    start_server second "$S2/udp_server" -p "$udp_port" 2>/dev/null &&
        skip "common/net.c sets SO_REUSEADDR on UDP sockets too, so a second udp_server shares the port"
    run timeout 10 "$S2/udp_server" -p "$udp_port"
    assert_failure 1
    assert_output "udp_server: cannot listen on 127.0.0.1:$udp_port: Address already in use"
}

@test "both servers exit 0 on SIGTERM and on SIGINT" {
    local prog sig
    for prog in udp_server tcp_server; do
        for sig in TERM INT; do
            start_server srv "$S2/$prog" --port 0
            kill -s "$sig" "$srv_pid"
            wait_for_exit "$srv_pid"
            echo "$prog SIG$sig: exit $EXIT_STATUS"
            [ "$EXIT_STATUS" -eq 0 ]
        done
    done
}

@test "-H takes a name: localhost" {
    start_server tcp "$S2/tcp_server" -H localhost --port 0
    run timeout 20 "$S2/tcp_client" -H localhost -p "$tcp_port" --demo empty
    assert_success
    assert_line --index 4 'recv #1: 6 bytes "return"'
}
