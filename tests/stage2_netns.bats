#!/usr/bin/env bats
# Stage 2 across a real link: on loopback a split comes from timing and
# buffer sizes; across a network it comes from the path. Two network
# namespaces joined by a veth pair with MTU 1280, shaped with tc (netem
# delay and rate where the kernel has netem, else tbf rate), carry the TCP
# split demo, and the receiver sees segment-sized pieces.
# Needs root and `ip netns`; skips with the reason otherwise. The addresses
# (10.199.0.0/30) exist only inside the namespaces this file creates.

setup() {
    load 'test_helper/common-setup'
    _common_setup
    S2="$ROOT/stage2_udp_vs_tcp"
    NS_SERVER="nianbao2-srv-$$-$BATS_TEST_NUMBER"
    NS_CLIENT="nianbao2-cli-$$-$BATS_TEST_NUMBER"
    VETH_SERVER="nb2s$$"
    VETH_CLIENT="nb2c$$"
    MTU=1280
}

teardown() {
    _common_teardown
    # Deleting a namespace deletes the veth end inside it, and so the pair.
    ip netns del "$NS_SERVER" 2>/dev/null || true
    ip netns del "$NS_CLIENT" 2>/dev/null || true
}

# shape NS DEV: delays and paces what leaves DEV; prints what it used.
# Pacing keeps the receiver ahead of the data, so it sees pieces as they
# arrive rather than whatever piled up while it was descheduled.
shape() {
    if tc -n "$1" qdisc add dev "$2" root netem delay 20ms rate 20mbit 2>/dev/null; then
        echo "netem delay 20ms rate 20mbit"
    elif tc -n "$1" qdisc add dev "$2" root tbf rate 20mbit burst 16kb latency 100ms 2>/dev/null; then
        echo "tbf rate 20mbit (this kernel has no netem)"
    else
        return 1
    fi
}

# make_link: two namespaces, one veth pair between them, MTU 1280, shaped.
make_link() {
    [ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces"
    command -v ip >/dev/null || skip "needs iproute2's ip"
    command -v tc >/dev/null || skip "needs iproute2's tc"
    local err="$BATS_TEST_TMPDIR/ip.err"
    ip netns add "$NS_SERVER" 2>"$err" || skip "ip netns add failed: $(cat "$err")"
    ip netns add "$NS_CLIENT" 2>"$err" || skip "ip netns add failed: $(cat "$err")"
    ip link add "$VETH_SERVER" netns "$NS_SERVER" type veth \
        peer name "$VETH_CLIENT" netns "$NS_CLIENT" 2>"$err" ||
        skip "cannot create a veth pair: $(cat "$err")"
    ip -n "$NS_SERVER" addr add 10.199.0.1/30 dev "$VETH_SERVER"
    ip -n "$NS_CLIENT" addr add 10.199.0.2/30 dev "$VETH_CLIENT"
    ip -n "$NS_SERVER" link set "$VETH_SERVER" mtu "$MTU" up
    ip -n "$NS_CLIENT" link set "$VETH_CLIENT" mtu "$MTU" up
    PATH_SHAPE=$(shape "$NS_CLIENT" "$VETH_CLIENT") ||
        skip "tc has neither netem nor tbf here: cannot shape the link"
    shape "$NS_SERVER" "$VETH_SERVER" >/dev/null
}

@test "across a 1280-byte MTU link one 256 KiB send reaches the server in segment-sized pieces" {
    make_link
    echo "# link: veth, MTU $MTU, $PATH_SHAPE" >&3
    start_server srv ip netns exec "$NS_SERVER" "$S2/tcp_server" -H 10.199.0.1 --port 0
    run timeout 60 ip netns exec "$NS_CLIENT" "$S2/tcp_client" -H 10.199.0.1 -p "$srv_port" --demo split
    assert_success
    assert_line 'send #1: 262144 of 262144 bytes'

    local out="$BATS_TEST_TMPDIR/srv.out"
    wait_until grep -q '^total: ' "$out" || { cat "$out"; false; }
    # The MSS: what one segment can carry on this path. 1280 - 20 (IPv4)
    # - 20 (TCP) = 1240, less 12 when TCP timestamps are on: 1228.
    local mss
    mss=$(sed -nE 's/^accept #1: .* \(MSS ([0-9]+)\)$/\1/p' "$out")
    echo "# MSS $mss" >&3
    [ "$mss" -ge 500 ]
    [ "$mss" -le $((MTU - 40)) ]

    local sizes=() size total=0
    mapfile -t sizes < <(sed -nE 's/^recv #[0-9]+: ([1-9][0-9]*) bytes .*/\1/p' "$out")
    for size in "${sizes[@]}"; do total=$((total + size)); done
    echo "# ${#sizes[@]} recvs: ${sizes[*]:0:12} ..." >&3
    [ "$total" -eq 262144 ]
    [ "${#sizes[@]}" -ge 2 ]

    # The path cut the one send into at least 262144 / MSS segments ...
    local segments
    segments=$(sed -nE 's/^total: .*; ([0-9]+) data segments? arrived$/\1/p' "$out")
    echo "# $segments data segments" >&3
    [ "$segments" -ge $(( (262144 + mss - 1) / mss )) ]
    # ... and the receiver saw them: some recv before the last returned no
    # more than one segment. (Not every recv is a multiple of the MSS: when
    # the sender's buffer fills, Linux pushes out a short segment.)
    local one_segment=0 i
    for ((i = 0; i < ${#sizes[@]} - 1; i++)); do
        [ "${sizes[i]}" -le "$mss" ] && one_segment=$((one_segment + 1))
    done
    echo "# $one_segment recvs of at most one segment" >&3
    [ "$one_segment" -ge 1 ]
}
