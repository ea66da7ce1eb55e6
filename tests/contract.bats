#!/usr/bin/env bats
# The command-line contract every program of stages 1, 3 and 4 keeps:
# --help, --version, bad options, the single `listening on` line, clean
# exit on SIGTERM/SIGINT, and the warning when a server leaves loopback;
# and every stage program's default port, the table's.

# start_server sets NAME_port/NAME_pid, bats' run sets status/stderr:
# shellcheck disable=SC2154,SC2030,SC2031
setup() {
    load 'test_helper/common-setup'; _common_setup
    # the programs of stages 1, 3 and 4 (the document's command servers and
    # their clients), from the one list of the stages
    local stage prog
    PROGRAMS=() SERVERS=()
    for stage in $(stages_framed raw len json); do
        for prog in $("$ROOT/tools/stages" "$stage" programs); do
            PROGRAMS+=("$(stage_dir "$stage")/$prog")
        done
        SERVERS+=("$(stage_dir "$stage")/server")
    done
}
teardown() { _common_teardown; }
bats_require_minimum_version 1.5.0

# The version line and the default port, from the one list of the stages.
stage_of() { "$ROOT/tools/stages" "$(awk -F '\t' -v d="${1%%/*}" '$2 == d { print $1 }' <("$ROOT/tools/stages"))" "$2"; }
version_of() {
    local n; n=$(stage_of "$1" number)
    echo "stage $n, reproduces $(stage_of "$1" version) of the document"
}
default_port_of() { stage_of "$1" port; }

@test "--help and -h print the usage on stdout, with the default port, and exit 0" {
    local prog flag
    for prog in "${PROGRAMS[@]}"; do
        for flag in --help -h; do
            run --separate-stderr "$ROOT/$prog" "$flag"
            echo "$prog $flag: status $status"
            [ "$status" -eq 0 ]
            [ "$stderr" = "" ]
            [ "${lines[0]}" = "usage: ${prog##*/} [options]" ]
            [[ "$output" == *"-H, --host HOST"* ]]
            if [[ $prog == */server ]]; then
                assert_output --partial "(default $(default_port_of "$prog"); 0 picks a free one)"
            else
                # port 0 means nothing to a client
                assert_output --partial "the server's port (default $(default_port_of "$prog"))"
                refute_output --partial "0 picks"
            fi
        done
    done
}

@test "every stage program's default port is its stage's port in common/stages.def (stage 2's UDP demo: the one below), and loadgen's is stage 6's" {
    local prog port
    while read -r prog; do
        port=$(stage_of "$prog" port)
        [[ $prog == */udp_* ]] && port=$((port - 1))
        run --separate-stderr "$ROOT/$prog" --help
        assert_success
        echo "$prog: wants (default $port"
        assert_output --regexp "(port|the server's port) \(default $port[;)]"
    done < <("$ROOT/tools/stages" --programs)
    run --separate-stderr "$ROOT/tools/loadgen" --help
    assert_output --partial "the server's port (default $("$ROOT/tools/stages" 6 port))"
}

@test "--version and -V name the stage and the document version, and exit 0" {
    local prog flag
    for prog in "${PROGRAMS[@]}"; do
        for flag in --version -V; do
            run --separate-stderr "$ROOT/$prog" "$flag"
            echo "$prog $flag: status $status, output: $output"
            [ "$status" -eq 0 ]
            [ "$stderr" = "" ]
            [ "$output" = "${prog##*/} (nianbao 1.0): $(version_of "$prog")" ]
        done
    done
}

@test "an unknown option prints one error line and a pointer to --help on stderr, and exits 2" {
    local prog
    for prog in "${PROGRAMS[@]}"; do
        run --separate-stderr "$ROOT/$prog" --bogus
        echo "$prog: status $status"
        [ "$status" -eq 2 ]
        [ "$output" = "" ]
        [ "${stderr_lines[0]}" = "${prog##*/}: unknown option '--bogus'" ]
        assert_equal "${stderr_lines[1]}" "Try '${prog##*/} --help' for more information."
        assert_equal "${#stderr_lines[@]}" 2
    done
}

@test "a bad port, a missing value or a stray argument is a usage error (exit 2)" {
    local prog
    for prog in "${PROGRAMS[@]}"; do
        run --separate-stderr "$ROOT/$prog" --port 65536
        [ "$status" -eq 2 ]
        local lowest=0
        [[ $prog == */client ]] && lowest=1
        assert_equal "${stderr_lines[0]}" "${prog##*/}: --port: '65536' is not a port number ($lowest..65535)"
        if [[ $prog == */client ]]; then
            run --separate-stderr "$ROOT/$prog" --port 0
            assert_failure 2
            assert_equal "${stderr_lines[0]}" "client: --port: '0' is not a port number (1..65535)"
        fi

        run --separate-stderr "$ROOT/$prog" -p
        [ "$status" -eq 2 ]
        [ "${stderr_lines[0]}" = "${prog##*/}: option '-p' needs a value" ]

        run --separate-stderr "$ROOT/$prog" stray
        [ "$status" -eq 2 ]
        [ "${stderr_lines[0]}" = "${prog##*/}: unexpected argument 'stray'" ]
    done
}

@test "a server's --timeout must be a duration from 1 ms: 0 and what is not a duration are refused" {
    local prog
    for prog in "${SERVERS[@]}"; do
        run --separate-stderr "$ROOT/$prog" --timeout 0
        [ "$status" -eq 2 ]
        [ "${stderr_lines[0]}" = "server: --timeout: '0' is out of range: 0.001 to 86400 s" ]
        run --separate-stderr "$ROOT/$prog" -t 1.5x
        [ "$status" -eq 2 ]
        [ "${stderr_lines[0]}" = "server: --timeout: '1.5x' is not a duration: write seconds (2, 0.25) or milliseconds (250ms)" ]
        # a fraction is a duration: the option is taken, then --help answers
        run --separate-stderr "$ROOT/$prog" -t 1.5 --help
        [ "$status" -eq 0 ]
    done
}

@test "a server writes exactly one listening line, naming the port it got" {
    local prog
    for prog in "${SERVERS[@]}"; do
        start_server srv "$ROOT/$prog" --port 0
        [ "$srv_port" -gt 0 ]
        printf 'echo hi\n' | "$ROOT/${prog%/server}/client" -p "$srv_port" >/dev/null
        kill "$srv_pid"
        wait_for_exit "$srv_pid"
        run grep '^listening on ' "$BATS_TEST_TMPDIR/srv.log"
        [ "${#lines[@]}" -eq 1 ]
        [ "${lines[0]}" = "listening on 127.0.0.1:$srv_port" ]
        # On loopback there is nothing to warn about.
        run grep -c '^warning:' "$BATS_TEST_TMPDIR/srv.log"
        [ "$output" = 0 ]
    done
}

@test "a server exits 0 on SIGTERM and on SIGINT" {
    local prog
    for prog in "${SERVERS[@]}"; do
        exits_0_on_sigterm_and_sigint "$ROOT/$prog" --port 0
    done
}

@test "SIGTERM while a command runs ends the server with 0 and kills the command" {
    local prog forever
    for prog in "${SERVERS[@]}"; do
        forever="100.$BATS_ROOT_PID$RANDOM"
        start_server srv "$ROOT/$prog" --port 0
        printf 'sleep %s\n' "$forever" |
            "$ROOT/${prog%/server}/client" -p "$srv_port" >/dev/null 2>&1 3>&- &
        local client_pid=$!
        wait_until process_runs "sleep $forever"
        kill -TERM "$srv_pid"
        wait_for_exit "$srv_pid"
        echo "$prog: exit $EXIT_STATUS"
        [ "$EXIT_STATUS" -eq 0 ]
        no_process_runs "sleep $forever"
        wait_for_exit "$client_pid"
    done
}

@test "a server on 0.0.0.0 with --unsafe-no-sandbox warns that whoever reaches the port runs commands as this user" {
    local prog
    for prog in "${SERVERS[@]}"; do
        start_server srv "$ROOT/$prog" -H 0.0.0.0 --port 0 --unsafe-no-sandbox
        run grep -c '^listening on 0\.0\.0\.0:[0-9]*$' "$BATS_TEST_TMPDIR/srv.log"
        [ "$output" = 1 ]
        run grep '^warning:' "$BATS_TEST_TMPDIR/srv.log"
        [ "${#lines[@]}" -eq 1 ]
        [ "${lines[0]}" = "warning: 0.0.0.0:$srv_port is reachable from other hosts: whoever connects runs commands as this user" ]
        kill "$srv_pid"
        wait_for_exit "$srv_pid"
    done
}

@test "a server that cannot listen says why on one line and exits 1" {
    local prog
    start_server first "$ROOT/stage3_struct_len/server" --port 0
    for prog in "${SERVERS[@]}"; do
        run --separate-stderr "$ROOT/$prog" --port "$first_port"
        [ "$status" -eq 1 ]
        [ "$output" = "" ]
        [ "$stderr" = "server: cannot listen on 127.0.0.1:$first_port: Address already in use" ]
    done
}

@test "-H picks the address: a name, or the IPv6 loopback shown as [::1]:PORT" {
    local prog want
    for prog in "${SERVERS[@]}"; do
        case $prog in stage1_naive/*) want=$'hi\n\n' ;; *) want=$'hi\n' ;; esac
        start_server srv "$ROOT/$prog" -H 127.0.0.1 --port 0
        # localhost resolves to 127.0.0.1 (and maybe ::1 first: the client
        # then tries the next address).
        run "$ROOT/${prog%/server}/client" -H localhost -p "$srv_port" <<<'echo hi'
        [ "$status" -eq 0 ]
        [ "$output" = hi ]

        if ! grep -q ' lo$' /proc/net/if_inet6 2>/dev/null; then
            continue    # no IPv6 loopback on this machine
        fi
        start_server srv6 "$ROOT/$prog" -H ::1 --port 0
        grep -qx "listening on \[::1\]:$srv6_port" "$BATS_TEST_TMPDIR/srv6.log"
        "$ROOT/${prog%/server}/client" -H ::1 -p "$srv6_port" <<<'echo hi' >"$BATS_TEST_TMPDIR/out6"
        [ "$(cat "$BATS_TEST_TMPDIR/out6"; echo .)" = "$want." ]
    done
}

@test "a value given to an option that takes none is named as typed, not as a stray byte" {
    run --separate-stderr "$ROOT/stage3_struct_len/client" --help=x
    assert_equal "$status" 2
    assert_equal "${stderr_lines[0]}" "client: option '--help' takes no value"
    run --separate-stderr "$ROOT/stage2_udp_vs_tcp/tcp_server" --once=1
    assert_equal "$status" 2
    assert_equal "${stderr_lines[0]}" "tcp_server: option '--once' takes no value"
    run --separate-stderr "$ROOT/stage3_struct_len/client" --bogus=3
    assert_equal "$status" 2
    assert_equal "${stderr_lines[0]}" "client: unknown option '--bogus=3'"
}

# About a second. A client started with stdout closed got that number for
# its socket: the reply it printed went back to the server, which ran it as
# the next command. The server must see the one command it was sent.
@test "a client started with stdout closed prints into nothing, never into its own connection" {
    local prog
    for prog in "${SERVERS[@]}"; do
        start_server srv "$ROOT/$prog" --port 0
        local rc=0
        printf 'echo hi\n' | "$ROOT/${prog%/server}/client" -p "$srv_port" \
            2>"$BATS_TEST_TMPDIR/err" >&- || rc=$?
        echo "$prog: exit $rc"; cat "$BATS_TEST_TMPDIR/err"
        [ "$rc" -eq 0 ]
        wait_for_log srv 'disconnected$'
        run grep ': ran ' "$BATS_TEST_TMPDIR/srv.log"
        assert_output --regexp '^client 127\.0\.0\.1:[0-9]+: ran "echo hi": exit 0, 3 bytes stdout, 0 bytes stderr$'
        kill "$srv_pid"
        wait_for_exit "$srv_pid"
    done
}
