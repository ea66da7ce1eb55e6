#!/usr/bin/env bats
# Durations (common/duration.h): every option and environment variable of
# the lab that takes a time takes seconds with a fraction (0.3) or
# milliseconds (300ms), refuses anything else with one line, and every
# message quotes a time as the user would write it ("0.3 s", "2 s").

# start_server sets NAME_port/NAME_pid, bats' run sets status/stderr:
# shellcheck disable=SC2154,SC2030,SC2031
setup() { load 'test_helper/common-setup'; _common_setup; }
teardown() { _common_teardown; }
bats_require_minimum_version 1.5.0

# Each program, then its duration options.
DURATION_OPTIONS=(
    "stage1_naive/server --timeout --idle"
    "stage1_naive/client --wait"
    "stage3_struct_len/server --timeout --idle"
    "stage3_struct_len/client --wait --timeout"
    "stage4_json_header/server --timeout --idle"
    "stage4_json_header/client --wait --timeout"
    "stage5_file_transfer/server --timeout --idle"
    "stage5_file_transfer/client --wait --timeout"
    "stage6_concurrent/iterative --timeout --idle --frame-timeout --send-timeout --grace"
    "stage6_concurrent/fork --timeout --idle --frame-timeout --send-timeout --grace"
    "stage6_concurrent/thread --timeout --idle --frame-timeout --send-timeout --grace"
    "stage6_concurrent/poll --timeout --idle --frame-timeout --send-timeout --grace"
    "tools/loadgen --timeout --hold"
    "tools/storm:server --conn-timeout"
    "tools/storm:client --within"
)

# ask ENTRY OPTION VALUE: runs the program of ENTRY ("tools/storm:server"
# runs storm's server mode) with OPTION VALUE, then --help: the option is
# parsed first, so status 0 means the value was taken.
ask() {
    local prog=${1%%:*} mode=${1#*:}
    if [ "$mode" = "$1" ]; then
        run --separate-stderr "$ROOT/$prog" "$2" "$3" --help
    else
        run --separate-stderr "$ROOT/$prog" "$mode" "$2" "$3" --help
    fi
}

# name_of ENTRY: the name the program puts before its messages.
name_of() {
    local prog=${1%%:*} mode=${1#*:}
    if [ "$mode" = "$1" ]; then echo "${prog##*/}"; else echo "${prog##*/} $mode"; fi
}

# elapsed_ms SINCE_NS: milliseconds since SINCE_NS (date +%s%N).
elapsed_ms() { echo $((($(date +%s%N) - $1) / 1000000)); }

# ask_all ENTRY VALUE: as ask, with every duration option of ENTRY set to VALUE.
ask_all() {
    local prog=${1%% *} option
    local -a args=()
    for option in ${1#* }; do
        args+=("$option" "$2")
    done
    if [ "${prog#*:}" = "$prog" ]; then
        run --separate-stderr "$ROOT/$prog" "${args[@]}" --help
    else
        run --separate-stderr "$ROOT/${prog%%:*}" "${prog#*:}" "${args[@]}" --help
    fi
}

@test "every duration option takes seconds, fractions of them and milliseconds" {
    local entry value
    for entry in "${DURATION_OPTIONS[@]}"; do
        for value in 2 0.3 300ms; do
            ask_all "$entry" "$value"
            [ "$status" -eq 0 ] || fail "${entry%% *}, every option $value: status $status: $stderr"
        done
        # --help says once how SECS is written
        assert_equal "$(grep -c '^SECS is in seconds, with a fraction if need be (0.25), or in milliseconds (250ms)\.$' <<<"$output")" 1
    done
    # the forms, on one option
    for value in 2 2s 0.3 1.5 0.25 300ms 0.001 1ms 1.000 0.0010 1.0ms 0 0ms 86400 86400000ms; do
        ask stage3_struct_len/server --idle "$value"
        [ "$status" -eq 0 ] || fail "--idle $value: status $status: $stderr"
    done
}

@test "every duration option refuses what is not a duration, in one line, with exit 2" {
    local entry prog option name
    for entry in "${DURATION_OPTIONS[@]}"; do
        prog=${entry%% *}
        name=$(name_of "$prog")
        for option in ${entry#* }; do
            ask "$prog" "$option" 2x
            echo "$prog $option 2x: status $status: $stderr"
            [ "$status" -eq 2 ]
            assert_equal "${stderr_lines[0]}" "$name: $option: '2x' is not a duration: write seconds (2, 0.25) or milliseconds (250ms)"
            assert_equal "${stderr_lines[1]}" "Try '$name --help' for more information."
            assert_equal "${#stderr_lines[@]}" 2
            assert_output ''
        done
    done
}

# refused PROG OPTION VALUE LINE: PROG OPTION VALUE exits 2, its stderr the
# one line LINE and the pointer to --help, its stdout empty.
refused() {
    run --separate-stderr "$ROOT/$1" "$2" "$3"
    echo "$1 $2 '$3': status $status: $stderr"
    [ "$status" -eq 2 ]
    assert_output ''
    assert_equal "${#stderr_lines[@]}" 2
    assert_equal "${stderr_lines[0]}" "$4"
    assert_equal "${stderr_lines[1]}" "Try '${1##*/} --help' for more information."
}

@test "a server and a client say what is wrong with a duration: not one, finer than 1 ms, out of range" {
    local prog option name syntax
    syntax="is not a duration: write seconds (2, 0.25) or milliseconds (250ms)"
    for prog in stage3_struct_len/server:--idle stage3_struct_len/client:--wait \
                stage5_file_transfer/client:--timeout stage6_concurrent/poll:--grace; do
        option=${prog#*:}; prog=${prog%%:*}; name=${prog##*/}
        refused "$prog" "$option" 2x "$name: $option: '2x' $syntax"
        refused "$prog" "$option" -1 "$name: $option: '-1' $syntax"
        refused "$prog" "$option" 1e999 "$name: $option: '1e999' $syntax"
        refused "$prog" "$option" '' "$name: $option: '' $syntax"
        refused "$prog" "$option" .5 "$name: $option: '.5' $syntax"
        refused "$prog" "$option" 5. "$name: $option: '5.' $syntax"
        refused "$prog" "$option" '2 s' "$name: $option: '2 s' $syntax"
        refused "$prog" "$option" 2m "$name: $option: '2m' $syntax"
        refused "$prog" "$option" 0.0001 "$name: $option: '0.0001' is finer than a millisecond, the smallest step"
        refused "$prog" "$option" 1.5ms "$name: $option: '1.5ms' is finer than a millisecond, the smallest step"
        refused "$prog" "$option" 99999999999999999999999 \
            "$name: $option: '99999999999999999999999' is out of range: 0 to $([ "$option" = --grace ] && echo 3600 || echo 86400) s"
    done
    refused stage3_struct_len/server --idle 86400.001 "server: --idle: '86400.001' is out of range: 0 to 86400 s"
    refused stage6_concurrent/poll --grace 3601 "poll: --grace: '3601' is out of range: 0 to 3600 s"
    # a command's --timeout cannot be 0 (it would kill every command)
    refused stage3_struct_len/server --timeout 0 "server: --timeout: '0' is out of range: 0.001 to 86400 s"
    refused stage6_concurrent/fork --timeout 0ms "fork: --timeout: '0ms' is out of range: 0.001 to 86400 s"
}

@test "--idle 300ms closes a silent client after 0.3 s, not at once and not seconds later" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0 --idle 300ms
    local start took rest
    start=$(date +%s%N)
    exec 5<>"/dev/tcp/127.0.0.1/$srv_port"
    rest=$(timeout 10 cat <&5)
    took=$(elapsed_ms "$start")
    exec 5>&-
    echo "closed after $took ms"
    assert_equal "$rest" ""
    [ "$took" -ge 300 ]
    [ "$took" -lt 3000 ]
    wait_for_log srv '^client 127\.0\.0\.1:[0-9]+: sent nothing for 0\.3 s \(--idle\); closing the connection$'
}

@test "stage 6: --idle 0.25 closes a silent client with error timeout, quoting 0.25 s" {
    mkdir "$BATS_TEST_TMPDIR/root"
    start_server srv "$ROOT/stage6_concurrent/poll" --port 0 --root "$BATS_TEST_TMPDIR/root" --idle 0.25
    local start took
    start=$(date +%s%N)
    exec 5<>"/dev/tcp/127.0.0.1/$srv_port"
    run bash -c "timeout 10 cat <&5 | tail -c +5"
    took=$(elapsed_ms "$start")
    exec 5>&-
    echo "closed after $took ms"
    assert_output '{"op":"error","code":"timeout","message":"no request for 0.25 s (--idle): closing the connection","size":0}'
    [ "$took" -ge 250 ]
    [ "$took" -lt 3000 ]
}

@test "the stage 5 client's --wait 250ms gives up after 0.25 s behind a busy server, and says so" {
    mkdir "$BATS_TEST_TMPDIR/root"
    start_server srv "$ROOT/stage5_file_transfer/server" --port 0 --root "$BATS_TEST_TMPDIR/root"
    exec 5<>"/dev/tcp/127.0.0.1/$srv_port"      # holds the one serving slot
    wait_for_log srv ' connected$'
    local start took
    start=$(date +%s%N)
    run --separate-stderr timeout 10 "$ROOT/stage5_file_transfer/client" -p "$srv_port" \
        --wait 250ms exec true 5>&-
    took=$(elapsed_ms "$start")
    exec 5>&-
    echo "gave up after $took ms"
    assert_failure 255      # exec: the client's own failure, as ssh
    assert_output ''
    assert_equal "$stderr" 'client: no reply after 0.25 s (--wait); giving up'
    [ "$took" -ge 250 ]
    [ "$took" -lt 3000 ]
}

# a_closed_port: sets closed_port to a port nothing listens on any more.
a_closed_port() {
    start_server gone "$ROOT/stage3_struct_len/server" --port 0
    closed_port=$gone_port
    kill "$gone_pid"
    wait_for_exit "$gone_pid"
}

@test "NIANBAO_BUSY_NOTICE that is not a duration is refused in one line, before any connection" {
    a_closed_port
    local syntax="is not a duration: write seconds (2, 0.25) or milliseconds (250ms)"
    run --separate-stderr env NIANBAO_BUSY_NOTICE=2x "$ROOT/stage3_struct_len/client" -p "$closed_port" <<<'echo hi'
    assert_failure 1
    assert_output ''
    assert_equal "$stderr" "client: NIANBAO_BUSY_NOTICE: '2x' $syntax"
    run --separate-stderr env NIANBAO_BUSY_NOTICE=0 "$ROOT/stage1_naive/client" -p "$closed_port" <<<'echo hi'
    assert_failure 1
    assert_equal "$stderr" "client: NIANBAO_BUSY_NOTICE: '0' is out of range: 0.001 to 86400 s"
    # the stage 5 client ends as when it cannot connect
    run --separate-stderr env NIANBAO_BUSY_NOTICE=0.0001 "$ROOT/stage5_file_transfer/client" \
        -p "$closed_port" exec true
    assert_failure 255      # exec: as when it cannot connect, as ssh
    assert_equal "$stderr" "client: NIANBAO_BUSY_NOTICE: '0.0001' is finer than a millisecond, the smallest step"
    # set and empty is unset: the default notice, and the client works
    start_server srv "$ROOT/stage3_struct_len/server" --port 0
    run --separate-stderr env NIANBAO_BUSY_NOTICE= "$ROOT/stage3_struct_len/client" -p "$srv_port" <<<'echo hi'
    assert_success
    assert_output 'hi'
    assert_equal "$stderr" ''
}

@test "NIANBAO_DIGEST_SETTLE that is not a duration of 0.05 s or more stops a server at start, in one line" {
    local syntax="is not a duration: write seconds (2, 0.25) or milliseconds (250ms)"
    mkdir "$BATS_TEST_TMPDIR/root"
    run --separate-stderr env NIANBAO_DIGEST_SETTLE=2x timeout 10 \
        "$ROOT/stage5_file_transfer/server" --port 0 --root "$BATS_TEST_TMPDIR/root"
    assert_failure 1
    assert_equal "$stderr" "server: NIANBAO_DIGEST_SETTLE: '2x' $syntax"
    local model
    for model in iterative fork thread poll; do
        run --separate-stderr env NIANBAO_DIGEST_SETTLE=0.01 timeout 10 \
            "$ROOT/stage6_concurrent/$model" --port 0 --root "$BATS_TEST_TMPDIR/root"
        assert_failure 1
        assert_equal "$stderr" "$model: NIANBAO_DIGEST_SETTLE: '0.01' is out of range: 0.05 to 86400 s"
    done
}

# two_gets SETTLE MODEL: MODEL's server under NIANBAO_DIGEST_SETTLE=SETTLE,
# then two downloads of $SERVED/f, each checked; sets REMEMBERED to how
# many of them the server sent under a remembered digest.
two_gets() {
    start_server srv env NIANBAO_DIGEST_SETTLE="$1" "$ROOT/stage6_concurrent/$2" --port 0 \
        --root "$SERVED"
    local i
    for i in 1 2; do
        timeout 30 "$ROOT/stage5_file_transfer/client" -p "$srv_port" get f "$BATS_TEST_TMPDIR/$2.f$i" \
            >/dev/null || return 1
        cmp "$SERVED/f" "$BATS_TEST_TMPDIR/$2.f$i" || return 1
    done
    kill "$srv_pid"
    wait_for_exit "$srv_pid"
    cat "$BATS_TEST_TMPDIR/srv.log"
    [ "$(grep -c ': get "f": 300000 bytes sent' "$BATS_TEST_TMPDIR/srv.log")" -eq 2 ] || return 1
    REMEMBERED=$(grep -c ': get "f": 300000 bytes sent, sha256 remembered$' "$BATS_TEST_TMPDIR/srv.log" ||
        true)
}

@test "NIANBAO_DIGEST_SETTLE: a file changed within it is hashed at every download, one older is remembered" {
    SERVED="$BATS_TEST_TMPDIR/served"
    mkdir "$SERVED"
    head -c 300000 /dev/urandom >"$SERVED/f"
    # changed just now, and the settle is a minute: never remembered
    two_gets 60 poll
    assert_equal "$REMEMBERED" 0
    # 0.3 s after the change, with a settle of 0.2 s: the second download
    # is sent under the digest the first one hashed
    head -c 300000 /dev/urandom >"$SERVED/f"
    sleep 0.3
    two_gets 200ms thread
    assert_equal "$REMEMBERED" 1
}
