#!/usr/bin/env bats
# tests/tools/delayline, the classroom test's link where the kernel has no
# netem: its usage errors, and (root only: network namespaces and taps)
# that it passes every byte, each frame 20 ms late each way, and says what
# it passed when it ends. The addresses (10.199.9.0/24) exist only inside
# the namespaces this file creates. About 3 s.

setup() {
    load 'test_helper/common-setup'
    _common_setup
    DL="$ROOT/tests/tools/delayline"
    NS_A="nbdl-a-$$-$BATS_TEST_NUMBER"
    NS_B="nbdl-b-$$-$BATS_TEST_NUMBER"
}

teardown() {
    _common_teardown
    ip netns del "$NS_A" 2>/dev/null || true
    ip netns del "$NS_B" 2>/dev/null || true
}

@test "delayline --help says what an operand is, and exits 0" {
    run "$DL" --help
    assert_success
    assert_line --index 0 "usage: delayline [options] A=B..."
    assert_output --partial "each end DEV@NETNS"
}

@test "delayline without a pair, or with an end that is not DEV@NETNS, says so and exits 2" {
    run "$DL"
    assert_failure 2
    assert_line --index 0 "delayline: no pair of taps to join: give at least one A=B"
    run "$DL" eth0@room
    assert_failure 2
    assert_line --index 0 "delayline: 'eth0@room' is not a pair A=B of DEV@NETNS ends"
    run "$DL" eth0@room=tap0
    assert_failure 2
    assert_line --index 0 "delayline: 'eth0@room=tap0' is not a pair A=B of DEV@NETNS ends"
    run "$DL" --delay 11s a@x=b@y
    assert_failure 2
    assert_line --index 0 --partial "delayline: --delay"
    run "$DL" "a@$(printf '%04096d' 0)=b@y"
    assert_failure 2
    assert_line --index 0 "delayline: 'a@$(printf '%098d' 0)...' is not a pair A=B of DEV@NETNS ends"
    run "$DL" --limit 70000 a@x=b@y
    assert_failure 2
    assert_line --index 0 "delayline: --limit: '70000' is not a number from 1 to 65536"
}

@test "delayline with a namespace that does not exist says which, and exits 1" {
    run "$DL" "eth0@nbdl-none-$$=tap0@nbdl-none-$$"
    assert_failure 1
    assert_output "delayline: cannot open the network namespace /run/netns/nbdl-none-$$: No such file or directory"
}

# joined_by_delayline ARGS...: namespaces A (10.199.9.1) and B
# (10.199.9.2), a tap in each, joined by the delay line run with ARGS
# (dl_pid, its log dl.log); an echo server in B (port in echo_port). Skips
# where this cannot be made.
joined_by_delayline() {
    [ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces and taps"
    [ -c /dev/net/tun ] || skip "no /dev/net/tun"
    command -v python3 >/dev/null || skip "needs python3"
    ip netns add "$NS_A" || skip "ip netns add failed"
    ip netns add "$NS_B"
    ip -n "$NS_A" tuntap add dev t0 mode tap || skip "cannot make a tap device here"
    ip -n "$NS_B" tuntap add dev t1 mode tap
    ip -n "$NS_A" link set t0 mtu 1280 up
    ip -n "$NS_B" link set t1 mtu 1280 up
    ip -n "$NS_A" addr add 10.199.9.1/24 dev t0
    ip -n "$NS_B" addr add 10.199.9.2/24 dev t1
    "$DL" "$@" "t0@$NS_A=t1@$NS_B" </dev/null >/dev/null 2>"$BATS_TEST_TMPDIR/dl.log" 3>&- &
    dl_pid=$!
    STARTED_PIDS+=("$dl_pid")
    wait_for_line "$BATS_TEST_TMPDIR/dl.log" "^delaying every frame by [0-9]+ ms on 1 pairs of taps$"
    ip netns exec "$NS_B" python3 -c '
import socket, sys
s = socket.socket(); s.bind(("10.199.9.2", 0)); s.listen()
print("listening on 10.199.9.2:%d" % s.getsockname()[1], file=sys.stderr, flush=True)
c, _ = s.accept()
while True:
    d = c.recv(65536)
    if not d: break
    c.sendall(d)
' </dev/null >/dev/null 2>"$BATS_TEST_TMPDIR/echo.log" 3>&- &
    STARTED_PIDS+=("$!")
    wait_for_line "$BATS_TEST_TMPDIR/echo.log" "^listening on "
    echo_port=$(sed -n 's/^listening on 10\.199\.9\.2:\([0-9]*\)$/\1/p' "$BATS_TEST_TMPDIR/echo.log")
}

# echo_from_a SMALL: from A, 1 MiB of random bytes through the echo server
# and back, then SMALL small messages, each timed from its send to its echo.
echo_from_a() {
    run ip netns exec "$NS_A" python3 -c '
import os, socket, sys, time
s = socket.create_connection(("10.199.9.2", int(sys.argv[1])), timeout=30)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def echo(data):
    s.sendall(data); got = b""
    while len(got) < len(data):
        d = s.recv(1 << 20)
        if not d: sys.exit("the link closed")
        got += d
    return got
big = os.urandom(1 << 20)
print("1 MiB echoed intact:", echo(big) == big)
rtts = []
for i in range(int(sys.argv[2])):
    t = time.monotonic(); echo(b"x%d" % i); rtts.append((time.monotonic() - t) * 1000)
if rtts:
    print("shortest round trip: %s" % ("40 ms or more" if min(rtts) >= 40 else "%.1f ms" % min(rtts)))
    print("longest round trip under 500 ms:", max(rtts) < 500)
' "$echo_port" "$1"
}

# stop_delayline: SIGTERM; it exits 0, its counts its last line (in $output).
stop_delayline() {
    kill -TERM "$dl_pid"
    wait_for_exit "$dl_pid" 10
    [ "$EXIT_STATUS" -eq 0 ] || { echo "delayline exited $EXIT_STATUS"; return 1; }
    run tail -n 1 "$BATS_TEST_TMPDIR/dl.log"
}

@test "delayline joins two namespaces: every byte passes, a round trip takes 40 ms or more, the counts at the end" {
    joined_by_delayline --delay 20ms
    echo_from_a 16
    assert_success
    assert_output "1 MiB echoed intact: True
shortest round trip: 40 ms or more
longest round trip under 500 ms: True"
    stop_delayline
    assert_output --regexp '^delayline: passed [0-9]{3,} frames; dropped 0 \(queue full\), 0 \(too long\), [0-9]+ \(the far end refused them\)$'
}

# About 1 s: TCP's retransmissions make up for the drops.
@test "delayline --limit 16 drops the frames that find the queue full, and TCP still brings every byte" {
    joined_by_delayline --delay 5ms --limit 16
    echo_from_a 0
    assert_success
    assert_output "1 MiB echoed intact: True"
    stop_delayline
    assert_output --regexp '^delayline: passed [0-9]{3,} frames; dropped [1-9][0-9]* \(queue full\), 0 \(too long\), [0-9]+ \(the far end refused them\)$'
}
