#!/usr/bin/env bats
# slicer: the seeded chaos relay. Upstreams are tools/canned (a fixed
# reply) and a small echo server; clients are small python3 programs, so
# every byte and every half-close is under the test's control.

bats_require_minimum_version 1.5.0

setup() {
    load 'test_helper/common-setup'; _common_setup
    load 'test_helper/slicer'
}
teardown() { _common_teardown; }

# An echo server: listens on a free port, says so like our servers do, and
# sends back what it gets; at EOF it half-closes too. One thread per client.
ECHO_PY='
import socket, sys, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(16)
print("listening on 127.0.0.1:%d" % srv.getsockname()[1], file=sys.stderr, flush=True)
def serve(conn):
    while True:
        data = conn.recv(65536)
        if not data:
            break
        conn.sendall(data)
    conn.shutdown(socket.SHUT_WR)
    conn.close()
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
'

# children_of PID: the processes whose parent is PID (one per live relay).
# (/proc rather than ps: procps may not be installed.)
children_of() { cat /proc/"$1"/task/*/children 2>/dev/null || true; }

# wait_no_children PID: polls (deadline 10 s) until PID has no children left,
# which also proves they were reaped: a zombie is still listed.
wait_no_children() {
    wait_until prints '' children_of "$1" || {
        echo "children of $1 still there: $(children_of "$1")" >&2
        return 1
    }
}

# cut_sizes LOG: "N" for every whole piece the log shows for conn 1 down.
cut_sizes() { sed -n 's/^conn 1: down #[0-9]*: \([0-9]*\) bytes\{0,1\}$/\1/p' "$1"; }

@test "a 1 MiB reply sliced into 1..7-byte pieces arrives byte-identical for several seeds" {
    head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/reply.bin"
    printf 'x' >"$BATS_TEST_TMPDIR/request.bin"
    start_server upstream "$ROOT/tools/canned" --reply "$BATS_TEST_TMPDIR/reply.bin"
    local seed pids=()
    for seed in 1 2 3; do
        start_server "slicer$seed" "$ROOT/$SLICER" --to "127.0.0.1:$upstream_port" \
            --min 1 --max 7 --seed "$seed"
    done
    # The three seeds run side by side to keep the test quick.
    for seed in 1 2 3; do
        local port_var="slicer${seed}_port"
        exchange "${!port_var}" "$BATS_TEST_TMPDIR/request.bin" \
            "$BATS_TEST_TMPDIR/got$seed.bin" >/dev/null &
        pids+=($!)
    done
    for seed in 1 2 3; do
        wait "${pids[$((seed - 1))]}"
        assert_equal "$(sha "$BATS_TEST_TMPDIR/got$seed.bin")" "$(sha "$BATS_TEST_TMPDIR/reply.bin")"
    done
}

@test "1 MiB sent up through --direction up arrives byte-identical and comes back whole" {
    head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/data.bin"
    start_server echo python3 -c "$ECHO_PY"
    start_server slicer "$ROOT/$SLICER" --to "127.0.0.1:$echo_port" --direction up --seed 9
    run exchange "$slicer_port" "$BATS_TEST_TMPDIR/data.bin" "$BATS_TEST_TMPDIR/back.bin"
    assert_success
    assert_equal "$(sha "$BATS_TEST_TMPDIR/back.bin")" "$(sha "$BATS_TEST_TMPDIR/data.bin")"
}

@test "1 MiB through --direction both survives being cut on the way there and back" {
    head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/data.bin"
    start_server echo python3 -c "$ECHO_PY"
    start_server slicer "$ROOT/$SLICER" --to "127.0.0.1:$echo_port" --direction both \
        --min 2 --max 5 --seed 4
    run exchange "$slicer_port" "$BATS_TEST_TMPDIR/data.bin" "$BATS_TEST_TMPDIR/back.bin"
    assert_success
    assert_equal "$(sha "$BATS_TEST_TMPDIR/back.bin")" "$(sha "$BATS_TEST_TMPDIR/data.bin")"
}

@test "8 MiB with large pieces arrives byte-identical" {
    large_pieces $((8 << 20))      # 100 MiB in tests/heavy/slicer.bats
}

@test "--log shows the same cuts for the same seed and other cuts for another seed" {
    head -c 300 /dev/urandom >"$BATS_TEST_TMPDIR/reply.bin"
    printf 'x' >"$BATS_TEST_TMPDIR/request.bin"
    start_server upstream "$ROOT/tools/canned" --reply "$BATS_TEST_TMPDIR/reply.bin"
    local run_name
    for run_name in first again other; do
        local seed=7
        [ "$run_name" = other ] && seed=8
        start_server "$run_name" "$ROOT/$SLICER" --to "127.0.0.1:$upstream_port" --log --seed "$seed"
        local port_var="${run_name}_port"
        exchange "${!port_var}" "$BATS_TEST_TMPDIR/request.bin" "$BATS_TEST_TMPDIR/$run_name.bin" >/dev/null
        assert_equal "$(sha "$BATS_TEST_TMPDIR/$run_name.bin")" "$(sha "$BATS_TEST_TMPDIR/reply.bin")"
        wait_for_log "$run_name" '^conn 1: up done'
    done
    cut_sizes "$BATS_TEST_TMPDIR/first.log" >"$BATS_TEST_TMPDIR/first.cuts"
    cut_sizes "$BATS_TEST_TMPDIR/again.log" >"$BATS_TEST_TMPDIR/again.cuts"
    cut_sizes "$BATS_TEST_TMPDIR/other.log" >"$BATS_TEST_TMPDIR/other.cuts"
    # The 300 bytes came in one recv, so only the very last piece can be short.
    [ "$(wc -l <"$BATS_TEST_TMPDIR/first.cuts")" -ge 37 ]
    run cmp "$BATS_TEST_TMPDIR/first.cuts" "$BATS_TEST_TMPDIR/again.cuts"
    assert_success
    run cmp -s "$BATS_TEST_TMPDIR/first.cuts" "$BATS_TEST_TMPDIR/other.cuts"
    assert_failure
    # Every whole piece is 1..7 bytes and the pieces add up to the reply.
    run grep -Ev '^[1-7]$' "$BATS_TEST_TMPDIR/first.cuts"
    assert_failure
    run grep -c '^conn 1: down done: 300 bytes$' "$BATS_TEST_TMPDIR/first.log"
    assert_output 1
}

@test "the server's EOF reaches a client that has not closed its own side" {
    head -c 5000 /dev/urandom >"$BATS_TEST_TMPDIR/reply.bin"
    printf 'x' >"$BATS_TEST_TMPDIR/request.bin"
    start_server upstream "$ROOT/tools/canned" --reply "$BATS_TEST_TMPDIR/reply.bin"
    start_server slicer "$ROOT/$SLICER" --to "127.0.0.1:$upstream_port"
    run exchange "$slicer_port" "$BATS_TEST_TMPDIR/request.bin" "$BATS_TEST_TMPDIR/got.bin" keep-open
    assert_success
    assert_equal "$(sha "$BATS_TEST_TMPDIR/got.bin")" "$(sha "$BATS_TEST_TMPDIR/reply.bin")"
}

@test "a client that resets mid-reply ends its relay quietly" {
    head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/reply.bin"
    start_server upstream "$ROOT/tools/canned" --reply "$BATS_TEST_TMPDIR/reply.bin"
    start_server slicer "$ROOT/$SLICER" --to "127.0.0.1:$upstream_port"
    python3 -c '
import socket, struct, sys
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
sock.sendall(b"x")
got = 0
while got < 1000:
    got += len(sock.recv(1000))
# SO_LINGER 0: close() sends a reset instead of a FIN.
sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
sock.close()
' "$slicer_port" 3>&-
    wait_no_children "$slicer_pid"
    run cat "$BATS_TEST_TMPDIR/slicer.log"
    assert_output "listening on 127.0.0.1:$slicer_port"
    # Both the slicer and its upstream are ready for the next client.
    printf 'x' >"$BATS_TEST_TMPDIR/request.bin"
    exchange "$slicer_port" "$BATS_TEST_TMPDIR/request.bin" "$BATS_TEST_TMPDIR/got.bin" >/dev/null
    assert_equal "$(sha "$BATS_TEST_TMPDIR/got.bin")" "$(sha "$BATS_TEST_TMPDIR/reply.bin")"
}

@test "--min and --max bound every piece" {
    head -c 500 /dev/urandom >"$BATS_TEST_TMPDIR/reply.bin"
    printf 'x' >"$BATS_TEST_TMPDIR/request.bin"
    start_server upstream "$ROOT/tools/canned" --reply "$BATS_TEST_TMPDIR/reply.bin"
    start_server slicer "$ROOT/$SLICER" --to "127.0.0.1:$upstream_port" --log --min 3 --max 5
    exchange "$slicer_port" "$BATS_TEST_TMPDIR/request.bin" "$BATS_TEST_TMPDIR/got.bin" >/dev/null
    wait_for_log slicer '^conn 1: up done'
    cut_sizes "$BATS_TEST_TMPDIR/slicer.log" >"$BATS_TEST_TMPDIR/cuts"
    [ "$(wc -l <"$BATS_TEST_TMPDIR/cuts")" -ge 99 ]
    run grep -Ev '^[345]$' "$BATS_TEST_TMPDIR/cuts"
    assert_failure
    # The other direction is relayed as is: the 1-byte request, no pieces.
    run grep -c '^conn 1: up #' "$BATS_TEST_TMPDIR/slicer.log"
    assert_output 0
    run grep -c '^conn 1: up done: 1 byte as is$' "$BATS_TEST_TMPDIR/slicer.log"
    assert_output 1
}

@test "with --delay-us the client sees the reply in several recv() calls" {
    printf 'twenty bytes of text' >"$BATS_TEST_TMPDIR/reply.bin"
    printf 'x' >"$BATS_TEST_TMPDIR/request.bin"
    start_server upstream "$ROOT/tools/canned" --reply "$BATS_TEST_TMPDIR/reply.bin"
    start_server slicer "$ROOT/$SLICER" --to "127.0.0.1:$upstream_port" --min 1 --max 1 \
        --delay-us 20000
    run exchange "$slicer_port" "$BATS_TEST_TMPDIR/request.bin" "$BATS_TEST_TMPDIR/got.bin"
    assert_success
    # 20 pieces, up to 20 ms apart: the client cannot get them all in one go.
    [ "$output" -ge 2 ]
    assert_equal "$(cat "$BATS_TEST_TMPDIR/got.bin")" "twenty bytes of text"
}

@test "with --pace every piece is one recv() at the client, the same on every run" {
    head -c 3000 /dev/urandom >"$BATS_TEST_TMPDIR/reply.bin"
    printf 'x' >"$BATS_TEST_TMPDIR/request.bin"
    start_server upstream "$ROOT/tools/canned" --reply "$BATS_TEST_TMPDIR/reply.bin"
    local run name pieces recvs=()
    for run in 1 2 3; do
        # a fresh slicer each time: its connection 1 is cut the same way
        name=slicer$run
        start_server "$name" "$ROOT/$SLICER" --to "127.0.0.1:$upstream_port" --min 1 --max 7 \
            --seed 5 --pace --log
        port_var=${name}_port
        run exchange "${!port_var}" "$BATS_TEST_TMPDIR/request.bin" "$BATS_TEST_TMPDIR/got.bin"
        assert_success
        same_bytes "$BATS_TEST_TMPDIR/reply.bin" "$BATS_TEST_TMPDIR/got.bin"
        recvs+=("$output")
        wait_for_log "$name" '^conn 1: down done: 3000 bytes$'
        pieces=$(grep -c '^conn 1: down #' "$BATS_TEST_TMPDIR/$name.log")
        echo "run $run: $output recvs, $pieces pieces"
        [ "$output" -eq "$pieces" ]
    done
    [ "$pieces" -gt 400 ]
    [ "${recvs[0]}" -eq "${recvs[1]}" ]
    [ "${recvs[1]}" -eq "${recvs[2]}" ]
}

@test "--pace --direction up paces toward the server and the bytes arrive whole" {
    printf 'twenty bytes of text' >"$BATS_TEST_TMPDIR/reply.bin"
    printf 'x' >"$BATS_TEST_TMPDIR/request.bin"
    start_server upstream "$ROOT/tools/canned" --reply "$BATS_TEST_TMPDIR/reply.bin"
    # the receiver of the sliced direction is the server here
    start_server slicer "$ROOT/$SLICER" --to "127.0.0.1:$upstream_port" --direction up \
        --pace --log
    run exchange "$slicer_port" "$BATS_TEST_TMPDIR/request.bin" "$BATS_TEST_TMPDIR/got.bin"
    assert_success
    assert_equal "$(cat "$BATS_TEST_TMPDIR/got.bin")" "twenty bytes of text"
    run grep -c 'not pacing' "$BATS_TEST_TMPDIR/slicer.log"
    assert_output 0
}

@test "behind the slicer the stage 1 client takes the first piece for the whole reply (README example)" {
    start_server server "$ROOT/stage1_naive/server" -p 0
    # --pace, where the README has --delay-us 2000: the one recv gets the
    # first piece alone, however late the client is scheduled
    start_server slicer "$ROOT/$SLICER" --to "127.0.0.1:$server_port" --seed 42 --pace
    run "$ROOT/stage1_naive/client" -p "$slicer_port" <<<"echo hello world from the server"
    assert_success
    # One recv(1024) returned only the first piece or few: a proper prefix.
    local full="hello world from the server" reply=${lines[0]}
    [ -n "$reply" ]
    [ "${#reply}" -lt "${#full}" ]
    assert_equal "$reply" "${full:0:${#reply}}"
}

@test "several connections at once each get their own bytes back" {
    start_server echo python3 -c "$ECHO_PY"
    start_server slicer "$ROOT/$SLICER" --to "127.0.0.1:$echo_port" --direction both
    local i pids=()
    for i in 1 2 3 4; do
        head -c $((100000 + i)) /dev/urandom >"$BATS_TEST_TMPDIR/data$i.bin"
        exchange "$slicer_port" "$BATS_TEST_TMPDIR/data$i.bin" "$BATS_TEST_TMPDIR/back$i.bin" >/dev/null &
        pids+=($!)
    done
    for i in 1 2 3 4; do
        wait "${pids[$((i - 1))]}"
        assert_equal "$(sha "$BATS_TEST_TMPDIR/back$i.bin")" "$(sha "$BATS_TEST_TMPDIR/data$i.bin")"
    done
}

@test "finished relays leave no zombie and no open descriptor behind" {
    printf 'hello\n' >"$BATS_TEST_TMPDIR/reply.bin"
    printf 'x' >"$BATS_TEST_TMPDIR/request.bin"
    start_server upstream "$ROOT/tools/canned" --reply "$BATS_TEST_TMPDIR/reply.bin"
    start_server slicer "$ROOT/$SLICER" --to "127.0.0.1:$upstream_port"
    local fds_before i
    fds_before=$(ls "/proc/$slicer_pid/fd" | wc -l)
    for i in 1 2 3 4 5; do
        exchange "$slicer_port" "$BATS_TEST_TMPDIR/request.bin" "$BATS_TEST_TMPDIR/got.bin" >/dev/null
        assert_equal "$(cat "$BATS_TEST_TMPDIR/got.bin")" "hello"
    done
    wait_no_children "$slicer_pid"
    assert_equal "$(ls "/proc/$slicer_pid/fd" | wc -l)" "$fds_before"
}

@test "an unreachable upstream gives a one-line error per connection and the slicer keeps serving" {
    # A port that was just free: start a server, note its port, stop it.
    start_server gone "$ROOT/tools/canned" --reply /dev/null
    kill "$gone_pid"
    wait_for_exit "$gone_pid"
    start_server slicer "$ROOT/$SLICER" --to "127.0.0.1:$gone_port"
    # The clients send nothing, so the slicer's close is a clean FIN.
    run exchange "$slicer_port" /dev/null "$BATS_TEST_TMPDIR/got1.bin"
    assert_success
    assert_output 0
    run exchange "$slicer_port" /dev/null "$BATS_TEST_TMPDIR/got2.bin"
    assert_success
    assert_output 0
    wait_for_log slicer '^slicer: connection 2: '
    run cat "$BATS_TEST_TMPDIR/slicer.log"
    assert_output "listening on 127.0.0.1:$slicer_port
slicer: connection 1: cannot connect to 127.0.0.1:$gone_port: Connection refused
slicer: connection 2: cannot connect to 127.0.0.1:$gone_port: Connection refused"
    kill -0 "$slicer_pid"
}

@test "stopping the slicer with SIGTERM exits 0 and ends its open relays" {
    start_server echo python3 -c "$ECHO_PY"
    start_server slicer "$ROOT/$SLICER" --to "127.0.0.1:$echo_port" --log
    # A client that connects and just waits keeps one relay open.
    python3 -c '
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
time.sleep(30)
' "$slicer_port" 3>&- &
    local client_pid=$!
    STARTED_PIDS+=("$client_pid")
    wait_for_log slicer '^conn 1: '
    local relay_pid
    relay_pid=$(children_of "$slicer_pid")
    [ -n "$relay_pid" ]
    kill -TERM "$slicer_pid"
    wait_for_exit "$slicer_pid"
    assert_equal "$EXIT_STATUS" 0
    # shellcheck disable=SC2086  # the list, as children_of prints it
    wait_until is_gone $relay_pid
}

@test "SIGINT stops the slicer with exit status 0" {
    start_server slicer "$ROOT/$SLICER" --to 127.0.0.1:9
    kill -INT "$slicer_pid"
    wait_for_exit "$slicer_pid"
    assert_equal "$EXIT_STATUS" 0
}

@test "--listen and --port both choose the port, and -H the address" {
    need_ipv6_loopback
    start_server a "$ROOT/$SLICER" --listen 0 --to 127.0.0.1:9
    start_server b "$ROOT/$SLICER" -p 0 -H ::1 --to 127.0.0.1:9
    run head -1 "$BATS_TEST_TMPDIR/a.log"
    assert_output "listening on 127.0.0.1:$a_port"
    run head -1 "$BATS_TEST_TMPDIR/b.log"
    assert_output "listening on [::1]:$b_port"
}

@test "--to takes a bracketed IPv6 address" {
    need_ipv6_loopback
    head -c 1000 /dev/urandom >"$BATS_TEST_TMPDIR/reply.bin"
    printf 'x' >"$BATS_TEST_TMPDIR/request.bin"
    start_server upstream "$ROOT/tools/canned" -H ::1 --reply "$BATS_TEST_TMPDIR/reply.bin"
    start_server slicer "$ROOT/$SLICER" --to "[::1]:$upstream_port"
    exchange "$slicer_port" "$BATS_TEST_TMPDIR/request.bin" "$BATS_TEST_TMPDIR/got.bin" >/dev/null
    assert_equal "$(sha "$BATS_TEST_TMPDIR/got.bin")" "$(sha "$BATS_TEST_TMPDIR/reply.bin")"
}

@test "a port already taken is a runtime error: one line, exit 1" {
    start_server taken "$ROOT/tools/canned" --reply /dev/null
    run --separate-stderr "$ROOT/$SLICER" --listen "$taken_port" --to 127.0.0.1:9
    assert_failure 1
    assert_output ""
    assert_equal "$stderr" "slicer: cannot listen on 127.0.0.1:$taken_port: Address already in use"
}

@test "--help prints the usage on stdout and exits 0" {
    run --separate-stderr "$ROOT/$SLICER" --help
    assert_success
    assert_line --index 0 "usage: slicer [options]"
    assert_output --partial "--to HOST:PORT"
    assert_output --partial "--seed S"
    assert_equal "$stderr" ""
}

@test "--version prints one line and exits 0" {
    run --separate-stderr "$ROOT/$SLICER" --version
    assert_success
    assert_output --regexp '^slicer \(nianbao [0-9.]+\): '
    assert_equal "${#lines[@]}" 1
}

# bad_usage ARGS... -> EXPECTED_FIRST_LINE: exit 2, nothing on stdout, the
# error line first on stderr and a pointer to --help after it.
expect_usage_error() {
    local expected=$1; shift
    run --separate-stderr "$ROOT/$SLICER" "$@"
    assert_failure 2
    assert_output ""
    assert_equal "${stderr_lines[0]}" "$expected"
    assert_equal "${stderr_lines[1]}" "Try 'slicer --help' for more information."
    assert_equal "${#stderr_lines[@]}" 2
}

@test "bad usage exits 2 with the problem on the first line of stderr" {
    expect_usage_error "slicer: unknown option '--bogus'" --bogus --to 127.0.0.1:9
    expect_usage_error "slicer: --to HOST:PORT is required: where should the bytes go?"
    expect_usage_error "slicer: --min: '0' is not a number from 1 to 65536" \
        --to 127.0.0.1:9 --min 0
    expect_usage_error "slicer: --min 8 is larger than --max 3" \
        --to 127.0.0.1:9 --min 8 --max 3
    expect_usage_error "slicer: --to wants HOST:PORT (port 1..65535), e.g. 127.0.0.1:8080, not 'nonsense'" \
        --to nonsense
    expect_usage_error "slicer: --to wants HOST:PORT (port 1..65535), e.g. 127.0.0.1:8080, not '127.0.0.1:0'" \
        --to 127.0.0.1:0
    expect_usage_error "slicer: --to wants HOST:PORT (port 1..65535), e.g. 127.0.0.1:8080, not '::1:80'" \
        --to ::1:80
    expect_usage_error "slicer: --direction: 'sideways' is not one of down|up|both" \
        --to 127.0.0.1:9 --direction sideways
    expect_usage_error "slicer: --listen: 'http' is not a port number (0..65535)" \
        --listen http --to 127.0.0.1:9
    expect_usage_error "slicer: --delay-us: '-5' is not a number from 0 to 10000000" \
        --to 127.0.0.1:9 --delay-us -5
}
