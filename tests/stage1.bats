#!/usr/bin/env bats
# Stage 1 (v1.1 of the document): no framing at all. The client takes ONE
# recv(1024) as the whole reply, so a long reply spills into the next
# command's "reply". These tests pin that broken behaviour down: it is the
# lesson, reproduced on purpose.

# start_server sets NAME_port/NAME_pid, bats' run sets status/stderr:
# shellcheck disable=SC2154,SC2030,SC2031
setup() { load 'test_helper/common-setup'; _common_setup; }
teardown() { _common_teardown; }

# talk INPUT: feeds INPUT to the stage 1 client on srv's port (run_client,
# like expect_bytes and wait_for_log, is in test_helper/common-setup.bash).
talk() { run_client 1 "$srv_port" "$1"; }

@test "a short reply is printed followed by a newline, as the document's print()" {
    start_server srv "$ROOT/stage1_naive/server" --port 0
    talk $'echo hello\n'
    [ "$status" -eq 0 ]
    expect_bytes "$BATS_TEST_TMPDIR/out" 'hello\n\n'
    expect_bytes "$BATS_TEST_TMPDIR/err" ''
}

@test "the reply to a failing command is its stderr, with no framing" {
    start_server srv "$ROOT/stage1_naive/server" --port 0
    talk $'echo oops >&2; exit 3\n'
    [ "$status" -eq 0 ]
    expect_bytes "$BATS_TEST_TMPDIR/out" 'oops\n\n'
}

@test "the server sends stdout then stderr as raw bytes, nothing around them" {
    start_server srv "$ROOT/stage1_naive/server" --port 0
    # Read the raw wire: the 3 stdout bytes, then the 2 stderr bytes.
    exec 5<>"/dev/tcp/127.0.0.1/$srv_port"
    printf 'printf abc; printf de >&2' >&5
    timeout 5 head -c 5 <&5 >"$BATS_TEST_TMPDIR/wire"
    exec 5>&-
    expect_bytes "$BATS_TEST_TMPDIR/wire" 'abcde'
}

@test "sticky packets: the rest of seq's output comes back as the reply to echo MARK" {
    start_server srv "$ROOT/stage1_naive/server" --port 0
    seq 1 2000 >"$BATS_TEST_TMPDIR/seq"
    talk $'seq 1 2000\necho MARK\n'
    [ "$status" -eq 0 ]
    local out="$BATS_TEST_TMPDIR/out" seq="$BATS_TEST_TMPDIR/seq"
    # First "reply": the first 1024 bytes of seq's output, then print's newline.
    cmp <(head -c 1024 "$out") <(head -c 1024 "$seq")
    [ "$(tail -c +1025 "$out" | head -c 1 | od -An -c | tr -d ' ')" = '\n' ]
    # Second "reply": stale seq bytes continuing where the first stopped (up
    # to 1024 of them), then print's newline. MARK never shows up.
    local second_len=$(( $(stat -c %s "$out") - 1025 - 1 ))
    [ "$second_len" -ge 1 ]
    [ "$second_len" -le 1024 ]
    cmp <(tail -c +1026 "$out" | head -c "$second_len") \
        <(tail -c +1025 "$seq" | head -c "$second_len")
    [ "$(tail -c 1 "$out" | od -An -c | tr -d ' ')" = '\n' ]
    run grep -c MARK "$out"
    [ "$output" = 0 ]
}

@test "the document's behaviour: a command with no output leaves the client waiting forever" {
    start_server srv "$ROOT/stage1_naive/server" --port 0
    # `true` sends nothing back, and recv(1024) waits for bytes that never
    # come: well after the server has answered (0.3 s: a client that could
    # tell would have left at once), the client still waits.
    printf 'true\n' | "$ROOT/stage1_naive/client" -p "$srv_port" \
        >"$BATS_TEST_TMPDIR/out" 2>&1 3>&- &
    local client=$!
    STARTED_PIDS+=("$client")
    wait_for_log srv '^client 127\.0\.0\.1:[0-9]*: ran "true": exit 0, 0 bytes stdout, 0 bytes stderr$'
    sleep 0.3
    kill -0 "$client"
    expect_bytes "$BATS_TEST_TMPDIR/out" ''
}

@test "blank lines are skipped and the white space around a command is stripped" {
    start_server srv "$ROOT/stage1_naive/server" --port 0
    talk $'\n   \n\t  echo  hi \t \n\n'
    [ "$status" -eq 0 ]
    expect_bytes "$BATS_TEST_TMPDIR/out" 'hi\n\n'
    grep -q '^client 127\.0\.0\.1:[0-9]*: ran "echo  hi": exit 0, 3 bytes stdout, 0 bytes stderr$' \
        "$BATS_TEST_TMPDIR/srv.log"
}

@test "a command of exactly 1024 bytes is sent and runs" {
    start_server srv "$ROOT/stage1_naive/server" --port 0
    local command="echo ok #"
    command+=$(printf 'x%.0s' $(seq 1 $((1024 - ${#command}))))
    [ "${#command}" -eq 1024 ]
    talk "$command"$'\n'
    [ "$status" -eq 0 ]
    expect_bytes "$BATS_TEST_TMPDIR/out" 'ok\n\n'
    expect_bytes "$BATS_TEST_TMPDIR/err" ''
}

@test "a command longer than 1024 bytes is refused, the next one runs, and the client exits 1" {
    start_server srv "$ROOT/stage1_naive/server" --port 0
    local long
    long=$(printf 'x%.0s' $(seq 1 1025))
    talk "echo $long"$'\necho after\n'
    [ "$status" -eq 1 ]
    expect_bytes "$BATS_TEST_TMPDIR/out" 'after\n\n'
    expect_bytes "$BATS_TEST_TMPDIR/err" '%s\n' \
        'client: command is 1030 bytes; the server reads one recv(1024), so it would be cut (requests are unframed until stage 5)'
}
