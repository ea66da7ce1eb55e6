#!/usr/bin/env bats
# The stage 5 client behaves as ssh does (issue 17, item 3), against every
# server of the protocol ($FT_SERVERS: stage 5's and stage 6's four models):
# exec exits with the command's own status; the client's own failures have
# their codes; Ctrl-C during exec stops the command on the server at once
# (the client closes the connection, the server kills the command's process
# group) and the next client is served; after an idle close, the next line
# goes on a new connection.

# start_server sets NAME_port/NAME_pid, bats' run sets status/output:
# shellcheck disable=SC2154,SC2030,SC2031
setup() {
    load 'test_helper/common-setup'
    _common_setup
    load 'test_helper/stage5'
    # A name of our own for the command's processes: files run in parallel.
    TAG="$$$RANDOM"
}
teardown() {
    pkill -KILL -f "^sleep 7$TAG" 2>/dev/null || true
    _common_teardown
}
bats_require_minimum_version 1.5.0

# sleeps: the pids of this test's remote sleeps (sleep 7$TAG...), one a line.
sleeps() { pgrep -f "^sleep 7$TAG" || true; }
has_sleeps() { [ "$(sleeps | wc -l)" -ge "$1" ]; }
no_sleeps() { [ -z "$(sleeps)" ]; }

# start_sleeper: the C client runs `sleep 7TAG.1 & sleep 7TAG.2` (two
# processes in the command's group) in the background as CLIENT_PID, its
# stderr in $BATS_TEST_TMPDIR/sleeper.err; returns when both run.
start_sleeper() {
    "$ROOT/$S5/client" -p "$srv_port" exec "sleep 7$TAG.1 & sleep 7$TAG.2" </dev/null \
        >/dev/null 2>"$BATS_TEST_TMPDIR/sleeper.err" 3>&- &
    CLIENT_PID=$!
    STARTED_PIDS+=("$CLIENT_PID")
    wait_until has_sleeps 2
}

# gone_within_2s: waits (polling every 10 ms, deadline 2 s) for this
# test's sleeps to be gone; sets GONE_MS to how long it took from $T0
# (EPOCHREALTIME when the signal was sent).
gone_within_2s() {
    wait_until -t 2 -i 0.01 no_sleeps || { sleeps; return 1; }
    local now=${EPOCHREALTIME/[.,]/} start=${T0/[.,]/}
    GONE_MS=$(((now - start) / 1000))
}

@test "exec exits with the command's status on every server: 0, 3, 255, and 128+N for a signal" {
    # (about 3 s: five servers, four commands each)
    local model
    for model in $FT_SERVERS; do
        ft_serve "$model"
        ft exec 'exit 0'
        assert_equal "$status" 0
        ft exec 'echo out; exit 3'
        assert_equal "$status" 3
        expect_bytes "$BATS_TEST_TMPDIR/out" 'out\n'
        err_is 'client: the command exited with status 3'
        ft exec 'exit 255'
        assert_equal "$status" 255
        ft exec 'kill -TERM $$'
        assert_equal "$status" 143
        err_is 'client: the command was killed by signal 15'
        ft_stop
    done
}

@test "the client's own failures: exec gives 255, get/put/ls/stat keep 3, usage is 2" {
    # (about 0.5 s)
    ft_server --max-command 10
    ft exec 'echo this is longer than ten bytes'
    assert_equal "$status" 255
    err_is 'client: server: the command is 34 bytes; this server runs at most 10 (--max-command) (too_large)'
    ft exec
    assert_equal "$status" 2
    kill "$srv_pid"
    wait_for_exit "$srv_pid"
    ft exec true
    assert_equal "$status" 255
    err_is "client: cannot connect to 127.0.0.1:$srv_port: Connection refused"
    ft ls
    assert_equal "$status" 3
    err_is "client: cannot connect to 127.0.0.1:$srv_port: Connection refused"
}

@test "a session's status is the last line's that did not give 0, a command's own status included" {
    # (about 0.3 s)
    ft_server
    run --separate-stderr bash -c "printf '%s\n' 'exit 4' 'echo ok' | timeout 20 '$ROOT/$S5/client' -p $srv_port"
    assert_equal "$status" 4
    assert_output 'ok'
    run --separate-stderr bash -c "printf '%s\n' 'exit 4' 'ls' 'true' | timeout 20 '$ROOT/$S5/client' -p $srv_port"
    assert_equal "$status" 4
}

@test "Ctrl-C on exec ends the command's process group within 2 s on every server; the client exits 130 and the next client is served" {
    # (about 3 s: five servers; the sleeps are gone in about 10 ms each)
    local model
    for model in $FT_SERVERS; do
        ft_serve "$model" --timeout 600
        start_sleeper
        T0=$EPOCHREALTIME
        kill -INT "$CLIENT_PID"
        gone_within_2s
        echo "# $model: Ctrl-C -> remote process group gone after $GONE_MS ms" >&3
        wait_for_exit "$CLIENT_PID"
        assert_equal "$EXIT_STATUS" 130
        run cat "$BATS_TEST_TMPDIR/sleeper.err"
        assert_output 'client: interrupted: the connection is closed, and the server stops the command (its whole process group)'
        wait_for_log srv 'the client closed the connection while the command ran: its process group is killed'
        # the next client: answered, not queued behind the dead command
        ft -w 2 exec echo next
        assert_equal "$status" 0
        expect_bytes "$BATS_TEST_TMPDIR/out" 'next\n'
        ft_stop
    done
}

@test "a client killed with SIGKILL while its command runs: every server kills the command's process group" {
    # (about 3 s: five servers)
    local model
    for model in $FT_SERVERS; do
        ft_serve "$model" --timeout 600
        start_sleeper
        T0=$EPOCHREALTIME
        kill -KILL "$CLIENT_PID"
        gone_within_2s
        echo "# $model: client killed -> remote process group gone after $GONE_MS ms" >&3
        ft -w 2 exec echo next
        assert_equal "$status" 0
        ft_stop
    done
}

@test "after an idle close the interactive client reconnects, says so in one line, and the next command is answered, on every server" {
    # (about 4 s: five servers, --idle 0.3 each)
    local model line idle_log addr
    for model in $FT_SERVERS; do
        ft_serve "$model" --idle 0.3
        coproc CLIENT { timeout 30 "$ROOT/$S5/client" -p "$srv_port" 2>&1; }
        local client_pid=$CLIENT_PID
        echo 'echo one' >&"${CLIENT[1]}"
        read -r line <&"${CLIENT[0]}"
        assert_equal "$line" 'one'
        # stage 5's server closes without a word; stage 6's says "timeout" first
        idle_log='no request for 0\.3 s \(--idle\)' addr=" (timeout)"
        [ "$model" != stage5 ] || idle_log='sent nothing for 0\.3 s \(--idle\)' addr=""
        wait_for_log srv "$idle_log"
        wait_for_log srv ' disconnected$'
        echo 'echo two' >&"${CLIENT[1]}"
        read -r line <&"${CLIENT[0]}"
        assert_equal "$line" "client: the server closed the idle connection$addr; reconnected to 127.0.0.1:$srv_port"
        read -r line <&"${CLIENT[0]}"
        assert_equal "$line" 'two'
        exec {CLIENT[1]}>&-
        wait_for_exit "$client_pid"
        assert_equal "$EXIT_STATUS" 0
        ft_stop
    done
}
