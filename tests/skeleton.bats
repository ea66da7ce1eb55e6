#!/usr/bin/env bats
# What every stage's server and client do around their lesson (common/serve
# and common/session): the idle limit and the reconnect after it, the notice
# when a busy server has not answered, --wait and --timeout, descriptors
# 0-2, the prompt on a terminal, the exit code, memory bounded by spooling.

# start_server sets NAME_port/NAME_pid, bats' run sets status/stderr:
# shellcheck disable=SC2154
setup() { load 'test_helper/common-setup'; _common_setup; }
teardown() { _common_teardown; }
bats_require_minimum_version 1.5.0

# wait_for_file_line FILE REGEX: polls FILE (deadline 15 s) for a line
# matching the extended REGEX.
wait_for_file_line() { wait_for_line "$1" "$2" 15; }

# idle_close STAGE: a connection that sends nothing is closed after --idle.
idle_close() {
    local dir; dir=$(stage_dir "$1")
    start_server srv "$ROOT/$dir/server" --port 0 --idle 0.3
    exec 5<>"/dev/tcp/127.0.0.1/$srv_port"
    wait_for_log srv '^client 127\.0\.0\.1:[0-9]+: sent nothing for 0\.3 s \(--idle\); closing the connection$'
    wait_for_log srv '^client 127\.0\.0\.1:[0-9]+ disconnected$'
    # the server hung up: reading the socket gives end of file at once
    local rest
    rest=$(timeout 5 cat <&5)
    exec 5>&-
    assert_equal "$rest" ""
}
@test "stage 1: a client that sends nothing for --idle seconds is closed, and the log says so" { idle_close 1; }
@test "stage 3: a client that sends nothing for --idle seconds is closed, and the log says so" { idle_close 3; }
@test "stage 4: a client that sends nothing for --idle seconds is closed, and the log says so" { idle_close 4; }

# reconnect STAGE EXPECTED_STDOUT: the client types `echo a`, waits until the
# server has closed it for idling, types `echo b`: it reconnects once, says
# so, and gets b. (--idle 0.5: the client connects and sends `echo a` at
# once, already in the fifo; the idle limit must not cut in between.)
reconnect() {
    local dir; dir=$(stage_dir "$1")
    start_server srv "$ROOT/$dir/server" --port 0 --idle 0.5
    mkfifo "$BATS_TEST_TMPDIR/in"
    "$ROOT/$dir/client" -p "$srv_port" <"$BATS_TEST_TMPDIR/in" >"$BATS_TEST_TMPDIR/out" \
        2>"$BATS_TEST_TMPDIR/err" 3>&- &
    local client=$!
    STARTED_PIDS+=("$client")
    exec 6>"$BATS_TEST_TMPDIR/in"
    echo 'echo a' >&6
    wait_for_file_line "$BATS_TEST_TMPDIR/out" '^a$'
    wait_for_log srv 'closing the connection$'
    # the line before close(); the client must find the close at its next
    # command, so wait for the line the server writes after it
    wait_for_log srv ' disconnected$'
    echo 'echo b' >&6
    exec 6>&-
    wait_for_exit "$client"
    assert_equal "$EXIT_STATUS" 0
    expect_bytes "$BATS_TEST_TMPDIR/out" "$2"
    expect_bytes "$BATS_TEST_TMPDIR/err" 'client: the server had closed the idle connection; reconnected\n'
    assert_equal "$(grep -c ' connected$' "$BATS_TEST_TMPDIR/srv.log")" 2
}
@test "stage 1: a client finding its idle connection closed reconnects once and says so" { reconnect 1 'a\n\nb\n\n'; }
@test "stage 3: a client finding its idle connection closed reconnects once and says so" { reconnect 3 'a\nb\n'; }
@test "stage 4: a client finding its idle connection closed reconnects once and says so" { reconnect 4 'a\nb\n'; }

# busy_notice STAGE HINT: a second client behind a connected first one is
# told once, after the notice's time (3 s; NIANBAO_BUSY_NOTICE=0.2 here),
# that the server may be busy; it is served as soon as the first one leaves.
busy_notice() {
    local dir; dir=$(stage_dir "$1")
    start_server srv "$ROOT/$dir/server" --port 0 --idle 0
    exec 5<>"/dev/tcp/127.0.0.1/$srv_port"
    wait_for_log srv ' connected$'
    mkfifo "$BATS_TEST_TMPDIR/in"
    # 5>&-: the second client must not hold the first one's socket open
    NIANBAO_BUSY_NOTICE=0.2 "$ROOT/$dir/client" -p "$srv_port" <"$BATS_TEST_TMPDIR/in" \
        >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- 5>&- &
    local client=$!
    STARTED_PIDS+=("$client")
    exec 6>"$BATS_TEST_TMPDIR/in"
    echo 'echo hi' >&6
    wait_for_file_line "$BATS_TEST_TMPDIR/err" 'still waiting$'
    exec 5>&-          # the first client leaves: the second is served
    wait_for_file_line "$BATS_TEST_TMPDIR/out" '^hi$'
    exec 6>&-
    wait_for_exit "$client"
    assert_equal "$EXIT_STATUS" 0
    expect_bytes "$BATS_TEST_TMPDIR/err" 'client: no reply after 0.2 s: the server serves one client at a time and may be busy with another%s; still waiting\n' "$2"
}
@test "stage 1: a client behind a busy server is told once that it may be busy, and is served later" {
    busy_notice 1 ', or the command printed nothing (one recv cannot tell)'
}
@test "stage 3: a client behind a busy server is told once that it may be busy, and is served later" { busy_notice 3 ''; }
@test "stage 4: a client behind a busy server is told once that it may be busy, and is served later" { busy_notice 4 ''; }

@test "--wait gives up on a reply that has not started, with one line and exit 1" {
    local stage dir
    for stage in $(stages_framed raw len json); do
        dir=$(stage_dir "$stage")
        start_server srv "$ROOT/$dir/server" --port 0 --idle 0
        exec 5<>"/dev/tcp/127.0.0.1/$srv_port"
        wait_for_log srv ' connected$'
        run --separate-stderr timeout 20 "$ROOT/$dir/client" -p "$srv_port" --wait 0.3 <<<'echo hi'
        exec 5>&-
        assert_failure 1
        assert_output ""
        assert_equal "$stderr" "client: no reply after 0.3 s (--wait); giving up"
        kill "$srv_pid"; wait_for_exit "$srv_pid"
    done
}

@test "--timeout bounds a reply that stalls once started, not the wait for a slow command" {
    local stage dir
    for stage in $(stages_framed len json); do
        dir=$(stage_dir "$stage")
        start_server srv "$ROOT/$dir/server" --port 0
        # the command takes 0.6 s before its first byte: three times
        # --timeout 0.2 (the notice that the server may be busy, due at 3 s,
        # is put off: on a loaded machine the reply may start later than that)
        NIANBAO_BUSY_NOTICE=600 run --separate-stderr timeout 20 "$ROOT/$dir/client" \
            -p "$srv_port" --timeout 0.2 <<<'sleep 0.6; echo late'
        assert_success
        assert_output "late"
        assert_equal "$stderr" ""
        kill "$srv_pid"; wait_for_exit "$srv_pid"
    done
    # a reply that stops after its first bytes is given up after --timeout
    printf '\x10\x00\x00\x00abc' >"$BATS_TEST_TMPDIR/short"
    start_server fake "$ROOT/tools/canned" --reply "$BATS_TEST_TMPDIR/short" --keep-open --port 0
    run --separate-stderr timeout 20 "$ROOT/stage3_struct_len/client" -p "$fake_port" --timeout 0.3 <<<'echo hi'
    assert_failure 1
    assert_output "abc"
    assert_equal "$stderr" "client: timed out receiving the reply: the peer sent nothing for --timeout seconds"
}

# served_with_fds_closed STAGE: the server starts with descriptors 0, 1 and
# 2 closed; its log must not end up in a client's socket.
served_with_fds_closed() {
    local dir; dir=$(stage_dir "$1")
    command -v ss >/dev/null || skip "ss (iproute2) is not installed"
    sh -c 'exec "$0" --port 0 <&- >&- 2>&-' "$ROOT/$dir/server" 3>&- &
    local pid=$! port=""
    STARTED_PIDS+=("$pid")
    # no log to read the port from: ask the kernel which port it listens on
    listening_port() {
        port=$(ss -Hltnp | awk -v p="pid=$pid," 'index($0, p) { n = split($4, a, ":"); print a[n]; exit }')
        [ -n "$port" ]
    }
    wait_until listening_port || fail "the server never listened"
    run --separate-stderr timeout 10 "$ROOT/$dir/client" -p "$port" <<<'echo hi'
    assert_success
    assert_equal "$stderr" ""
}
@test "stage 1: a server started with descriptors 0-2 closed keeps its log out of the client's socket" {
    served_with_fds_closed 1
    assert_output "hi"
}
@test "stage 3: a server started with descriptors 0-2 closed keeps its log out of the client's socket" {
    served_with_fds_closed 3
    assert_output "hi"
}
@test "stage 4: a server started with descriptors 0-2 closed keeps its log out of the client's socket" {
    served_with_fds_closed 4
    assert_output "hi"
}

@test "the stage 4 client shows a non-zero exit code on stderr, and a zero one not at all" {
    start_server srv "$ROOT/stage4_json_header/server" --port 0
    run --separate-stderr timeout 10 "$ROOT/stage4_json_header/client" -p "$srv_port" \
        <<<$'echo hi; exit 3\necho fine\nls /nonexistent-nianbao'
    assert_success
    assert_output $'hi\nfine'
    assert_equal "${stderr_lines[0]}" "client: the command exited with status 3"
    assert_equal "${stderr_lines[1]}" "ls: cannot access '/nonexistent-nianbao': No such file or directory"
    assert_equal "${stderr_lines[2]}" "client: the command exited with status 2"
    assert_equal "${#stderr_lines[@]}" 3
}

# on_terminal STAGE: the client in a tmux pane; `printf abc` then Ctrl-D.
@test "on a terminal the prompt starts its own line after output without a newline, and after Ctrl-D" {
    local stage dir sock="$BATS_TEST_TMPDIR/tmux.sock"
    for stage in $(stages_framed len json); do
        dir=$(stage_dir "$stage")
        start_server srv "$ROOT/$dir/server" --port 0
        tmux -S "$sock" -f /dev/null new-session -d -s t -x 80 -y 24 \
            "PS1='$ ' sh -c '$ROOT/$dir/client -p $srv_port; echo EXIT=\$?; sleep 30'" 3>&-
        STARTED_PIDS+=("$(tmux -S "$sock" display-message -p '#{pid}')")
        pane_shows() { tmux -S "$sock" capture-pane -p -t t | grep -qF -- "$1"; }
        pane_has() {
            wait_until pane_shows "$1" || { tmux -S "$sock" capture-pane -p -t t; return 1; }
        }
        pane_has 'enter msg :>>>'
        tmux -S "$sock" send-keys -t t 'printf abc' Enter
        pane_has 'abc'
        tmux -S "$sock" send-keys -t t C-d
        pane_has 'EXIT=0'
        run bash -c "tmux -S '$sock' capture-pane -p -t t | grep -v '^$'"
        assert_line --index 0 'enter msg :>>>printf abc'
        assert_line --index 1 'abc'
        assert_line --index 2 'enter msg :>>>'
        assert_line --index 3 'EXIT=0'
        tmux -S "$sock" kill-server
        kill "$srv_pid"; wait_for_exit "$srv_pid"
    done
}

@test "a usage error names the real problem: a short option after a long one, an ambiguous prefix" {
    run --separate-stderr "$ROOT/stage4_json_header/client" --timeout=5 -zq
    assert_failure 2
    assert_equal "${stderr_lines[0]}" "client: unknown option '-z'"
    run --separate-stderr "$ROOT/stage4_json_header/client" --max 5
    assert_failure 2
    assert_equal "${stderr_lines[0]}" "client: option '--max' is ambiguous: --max-len, --max-header"
    run --separate-stderr "$ROOT/stage4_json_header/client" --max-len=5 --wait=1 --timeout
    assert_failure 2
    assert_equal "${stderr_lines[0]}" "client: option '--timeout' needs a value"
}

# peak_rss_kib STAGE BYTES: the server's peak RSS (KiB) while it serves a
# BYTES-byte reply, which the client checks to the byte.
peak_rss_kib() {
    local dir; dir=$(stage_dir "$1")
    [ -x /usr/bin/time ] || skip "/usr/bin/time is not installed"
    rss_base_kb "$ROOT/$dir/server"
    start_server srv /usr/bin/time -f 'peak %M' -o "$BATS_TEST_TMPDIR/rss" \
        "$ROOT/$dir/server" --port 0 --timeout 120
    echo "head -c $2 /dev/zero" | timeout 120 "$ROOT/$dir/client" -p "$srv_port" | cmp - <(head -c "$2" /dev/zero)
    kill -INT "$(pgrep -P "$srv_pid")"
    wait_for_exit "$srv_pid" 20
    echo $(( $(sed -n 's/^peak //p' "$BATS_TEST_TMPDIR/rss") - RSS_BASE_KB ))
}
@test "the stage 3 and 4 servers keep a 256 MiB reply in a file, not in memory (peak RSS under 16 MiB)" {
    local stage kib
    for stage in 3 4; do
        kib=$(peak_rss_kib "$stage" 268435456)
        echo "stage $stage: peak RSS $kib KiB"
        [ "$kib" -lt 16384 ] || fail "stage $stage server peak RSS $kib KiB"
    done
}

@test "NIANBAO_BUSY_NOTICE moves the busy notice (the valgrind check sets it out of the way)" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0 --idle 0
    exec 5<>"/dev/tcp/127.0.0.1/$srv_port"
    wait_for_log srv ' connected$'
    run --separate-stderr env NIANBAO_BUSY_NOTICE=200ms timeout 20 \
        "$ROOT/stage3_struct_len/client" -p "$srv_port" --wait 1 <<<'echo hi' 5>&-
    exec 5>&-
    assert_failure 1
    assert_equal "${stderr_lines[0]}" "client: no reply after 0.2 s: the server serves one client at a time and may be busy with another; still waiting"
    assert_equal "${stderr_lines[1]}" "client: no reply after 1 s (--wait); giving up"
}
