#!/usr/bin/env bats
# The servers of stages 1, 3 and 4 against clients and commands that
# misbehave. Each scenario ends with a well-behaved client, whose exact
# output proves the server is still serving.

# start_server sets NAME_port/NAME_pid, bats' run sets status/stderr:
# shellcheck disable=SC2154,SC2030,SC2031
setup() { load 'test_helper/common-setup'; _common_setup; }
teardown() { _common_teardown; }

# serve STAGE [ARGS...]: starts that stage's server on a free port.
serve() {
    local stage=$1; shift
    start_server srv "$ROOT/$(stage_dir "$stage")/server" --port 0 "$@"
}

# talk STAGE INPUT [SECS]: feeds INPUT to that stage's client (killed after
# SECS, default 20); stdout and stderr go to $BATS_TEST_TMPDIR/out and /err,
# the exit status to $status. (stage_dir, run_client, wait_for_log and
# no_process_runs are in test_helper/common-setup.bash.)
talk() { run_client "$1" "$srv_port" "$2" "${3:-20}"; }

# expect_reply STAGE STDOUT STDERR: the client output of the last `talk`,
# for a command that wrote STDOUT and STDERR (printf formats), is exactly
# what that stage shows: stage 1 prints both and print()'s newline, stage 3
# prints both, stage 4 splits them onto its own stdout and stderr.
expect_reply() {
    # shellcheck disable=SC2059
    case $1 in
    1) printf "$2$3\\n" >"$BATS_TEST_TMPDIR/want_out"; : >"$BATS_TEST_TMPDIR/want_err" ;;
    3) printf "$2$3" >"$BATS_TEST_TMPDIR/want_out"; : >"$BATS_TEST_TMPDIR/want_err" ;;
    4) printf "$2" >"$BATS_TEST_TMPDIR/want_out"; printf "$3" >"$BATS_TEST_TMPDIR/want_err" ;;
    esac
    local part
    for part in out err; do
        if ! cmp -s "$BATS_TEST_TMPDIR/want_$part" "$BATS_TEST_TMPDIR/$part"; then
            echo "client std$part: expected"; od -c "$BATS_TEST_TMPDIR/want_$part" | head -10
            echo "got"; od -c "$BATS_TEST_TMPDIR/$part" | head -10
            return 1
        fi
    done
}

# good_client STAGE: a well-behaved client runs `echo ok` and gets exactly
# that back, so the server is alive and serving.
good_client() {
    talk "$1" $'echo ok\n' 10
    [ "$status" -eq 0 ]
    expect_reply "$1" 'ok\n' ''
}

# A sleep argument no other process on the machine uses, to find our sleep.
unique_sleep() { printf '100.%s%s' "$BATS_ROOT_PID" "$RANDOM"; }

# ---- the scenarios, each run for every stage below ----

client_leaves_mid_command() {
    serve "$1"
    exec 5<>"/dev/tcp/127.0.0.1/$srv_port"
    printf 'sleep 0.3; echo x' >&5
    exec 5>&-
    good_client "$1"
    grep -q '^client 127\.0\.0\.1:[0-9]*: ran "sleep 0\.3; echo x": exit 0, 2 bytes stdout, 0 bytes stderr$' \
        "$BATS_TEST_TMPDIR/srv.log"
}

non_utf8_command() {
    serve "$1"
    talk "$1" $'echo \xff\xfe hi\n'
    [ "$status" -eq 0 ]
    expect_reply "$1" '\377\376 hi\n' ''
    grep -qF 'ran "echo \xff\xfe hi": exit 0, 6 bytes stdout, 0 bytes stderr' "$BATS_TEST_TMPDIR/srv.log"
    good_client "$1"
}

# (--timeout 0.5 also bounds the command, which spools its 50 MB in a few
# tens of ms: far more than the socket buffers hold either way.)
client_never_reads() {
    serve "$1" --timeout 0.5
    exec 5<>"/dev/tcp/127.0.0.1/$srv_port"
    printf 'head -c 50000000 /dev/zero' >&5
    wait_for_log srv '^client 127\.0\.0\.1:[0-9]+: not reading its reply for 0\.5 s; dropping the client$'
    good_client "$1"
    exec 5>&-
}

command_runs_forever() {
    serve "$1" --timeout 0.3
    local forever
    forever=$(unique_sleep)
    talk "$1" "sleep $forever"$'\n'
    [ "$status" -eq 0 ]
    expect_reply "$1" '' 'nianbao: command killed after 0.3 s (timeout)\n'
    no_process_runs "sleep $forever"
    good_client "$1"
}

background_child_holds_the_pipe() {
    serve "$1" --timeout 60
    local forever
    forever=$(unique_sleep)
    local started=$SECONDS
    talk "$1" "sleep $forever & echo started"$'\n' 20
    [ "$status" -eq 0 ]
    [ $((SECONDS - started)) -lt 30 ]   # not the 60 s of --timeout
    expect_reply "$1" 'started\n' ''
    no_process_runs "sleep $forever"
    good_client "$1"
}

children_are_reaped() {
    serve "$1" --timeout 0.3
    talk "$1" $'echo a\necho x; exit 3\nsleep 0.1 & echo b\nsleep 60\necho c\n'
    good_client "$1"
    wait_for_log srv ' disconnected$'
    local children
    children=$(children_of "$srv_pid")
    echo "children of the server: $children"
    [ -z "$children" ]
}

client_leaves_during_big_reply() {
    serve "$1"
    exec 5<>"/dev/tcp/127.0.0.1/$srv_port"
    printf 'head -c 50000000 /dev/zero' >&5
    timeout 5 head -c 10 <&5 >/dev/null
    # Closing with unread bytes resets the connection: the server's next
    # send fails with EPIPE/ECONNRESET, which must not kill it.
    exec 5<&- 5>&-
    wait_for_log srv ' disconnected$'
    kill -0 "$srv_pid"
    good_client "$1"
}

# Stage 1's client reads only 1024 bytes, so this one is for the framed stages.
both_pipes_full() {
    serve "$1"
    local half='head -c 65536 /dev/zero'
    talk "$1" "for i in \$(seq 16); do $half; $half | tr '\\0' e >&2; done"$'\n'
    [ "$status" -eq 0 ]
    head -c 1048576 /dev/zero >"$BATS_TEST_TMPDIR/zeros"
    head -c 1048576 /dev/zero | tr '\0' e >"$BATS_TEST_TMPDIR/es"
    if [ "$1" = 3 ]; then
        [ "$(stat -c %s "$BATS_TEST_TMPDIR/out")" -eq 2097152 ]
        [ "$(sha "$BATS_TEST_TMPDIR/out")" = "$(cat "$BATS_TEST_TMPDIR/zeros" "$BATS_TEST_TMPDIR/es" | sha -)" ]
    else
        [ "$(sha "$BATS_TEST_TMPDIR/out")" = "$(sha "$BATS_TEST_TMPDIR/zeros")" ]
        [ "$(sha "$BATS_TEST_TMPDIR/err")" = "$(sha "$BATS_TEST_TMPDIR/es")" ]
    fi
    grep -q ': exit 0, 1048576 bytes stdout, 1048576 bytes stderr$' "$BATS_TEST_TMPDIR/srv.log"
}

# An endless output is cut at --max-output, the command killed, and the
# reply says so instead of growing until memory runs out.
output_cut_at_max_output() {
    serve "$1" --max-output 1000
    talk "$1" $'yes\n' 20
    [ "$status" -eq 0 ]
    # output and note together are exactly --max-output bytes
    local note='nianbao: output cut to fit --max-output 1000\n' ys kept
    kept=$((1000 - $(printf "$note" | wc -c)))          # bytes of `yes` kept
    ys=$(printf 'y\\n%.0s' $(seq $((kept / 2))))
    [ $((kept % 2)) -eq 0 ] || ys="${ys}y"
    expect_reply "$1" "$ys" "$note"
    good_client "$1"
}

@test "stage 1: a client that disconnects mid-command does not stop the server" { client_leaves_mid_command 1; }
@test "stage 3: a client that disconnects mid-command does not stop the server" { client_leaves_mid_command 3; }
@test "stage 4: a client that disconnects mid-command does not stop the server" { client_leaves_mid_command 4; }

@test "stage 1: a command of non-UTF-8 bytes runs as the bytes it is" { non_utf8_command 1; }
@test "stage 3: a command of non-UTF-8 bytes runs as the bytes it is" { non_utf8_command 3; }
@test "stage 4: a command of non-UTF-8 bytes runs as the bytes it is" { non_utf8_command 4; }

@test "stage 1: a client that never reads its reply is dropped after --timeout" { client_never_reads 1; }
@test "stage 3: a client that never reads its reply is dropped after --timeout" { client_never_reads 3; }
@test "stage 4: a client that never reads its reply is dropped after --timeout" { client_never_reads 4; }

@test "stage 1: a command that runs forever is killed after --timeout and says so" { command_runs_forever 1; }
@test "stage 3: a command that runs forever is killed after --timeout and says so" { command_runs_forever 3; }
@test "stage 4: a command that runs forever is killed after --timeout and says so" { command_runs_forever 4; }

@test "stage 1: a background child holding the output pipe does not delay the reply" { background_child_holds_the_pipe 1; }
@test "stage 3: a background child holding the output pipe does not delay the reply" { background_child_holds_the_pipe 3; }
@test "stage 4: a background child holding the output pipe does not delay the reply" { background_child_holds_the_pipe 4; }

@test "stage 1: no child is left behind, zombie or not, after a session" { children_are_reaped 1; }
@test "stage 3: no child is left behind, zombie or not, after a session" { children_are_reaped 3; }
@test "stage 4: no child is left behind, zombie or not, after a session" { children_are_reaped 4; }

@test "stage 1: a client that leaves during a big reply does not kill the server (SIGPIPE)" { client_leaves_during_big_reply 1; }
@test "stage 3: a client that leaves during a big reply does not kill the server (SIGPIPE)" { client_leaves_during_big_reply 3; }
@test "stage 4: a client that leaves during a big reply does not kill the server (SIGPIPE)" { client_leaves_during_big_reply 4; }

@test "stage 3: a command filling both pipes (1 MiB each, interleaved) completes with exact sizes" { both_pipes_full 3; }
@test "stage 4: a command filling both pipes (1 MiB each, interleaved) completes with exact sizes" { both_pipes_full 4; }

@test "stage 3: an endless output is cut at --max-output and the command killed" { output_cut_at_max_output 3; }
@test "stage 4: an endless output is cut at --max-output and the command killed" { output_cut_at_max_output 4; }

@test "a server started with SIGCHLD ignored still reports exit codes and does not wait for the timeout" {
    # A parent that ignores SIGCHLD passes that on through exec; the kernel
    # would then reap the shells before the server could read their status.
    start_server srv python3 -c 'import os, signal, sys
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
os.execv(sys.argv[1], sys.argv[1:])' "$ROOT/stage3_struct_len/server" --port 0 --timeout 30
    talk 3 $'sh -c "exit 3"\necho hi\n' 10
    [ "$status" -eq 0 ]
    expect_reply 3 'hi\n' ''
    wait_for_log srv 'ran "sh -c \\"exit 3\\"": exit 3, 0 bytes stdout'
}

@test "a command that leaves a setsid'd process holding the pipe is answered at the timeout, not called killed" {
    local sleeper
    sleeper=$(unique_sleep)
    # --timeout 0.5: time enough for the shell to start the escaped process
    # and end; the reply then waits for the timeout
    serve 3 --timeout 0.5
    # the shell waits until the escaped process runs, so it cannot exit first
    local ready="$BATS_TEST_TMPDIR/escaped"
    talk 3 "(setsid sh -c 'touch $ready; exec sleep $sleeper' &); until [ -e $ready ]; do :; done; echo hi"$'\n' 20
    pkill -f "sleep $sleeper" || true
    [ "$status" -eq 0 ]
    expect_reply 3 'hi\n' "nianbao: stopped reading after 0.5 s: a process outside the command's group still holds its output open\\n"
    good_client 3
}

@test "a reply cut at the default --max-output is accepted by a client with the default --max-len" {
    serve 4
    # pipefail: a client stopped by timeout(1) must fail the test, not pass
    # for wc's sake (a busy machine once took longer than a minute here)
    # (NIANBAO_BUSY_NOTICE: a loaded machine may take 3 s to start the
    # reply, and the client's busy notice would join the note on stderr)
    run bash -c "set -o pipefail; echo yes | NIANBAO_BUSY_NOTICE=600 timeout 600 '$ROOT/stage4_json_header/client' -p '$srv_port' 2>'$BATS_TEST_TMPDIR/err' | wc -c"
    echo "client stdout: $output bytes; stderr: $(cat "$BATS_TEST_TMPDIR/err")"
    assert_success
    # body and note together are exactly 256 MiB, the common default
    assert_equal "$(( output + $(wc -c <"$BATS_TEST_TMPDIR/err") ))" 268435456
    assert_equal "$(cat "$BATS_TEST_TMPDIR/err")" 'nianbao: output cut to fit --max-output 268435456'
}
