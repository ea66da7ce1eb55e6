#!/usr/bin/env bats
# The stage 6 exercise (exercises/stage6, exercises/broken/server6.py):
# the starters and the broken server behave like the lab's programs on the
# command line (--help, -p/--port or a positional port, one line and exit 2
# on a bad option), the starter fails exactly what exercises/README.md says,
# and each classic mistake is told apart by its scenario and its report.
# Their whole verdict rows are in tests/grade_verdicts.bats (one program
# per bug) and tests/heavy/grade_verdicts.bats (every program).
# shellcheck disable=SC2154  # start_server sets srv_port and srv_pid

setup() {
    load 'test_helper/common-setup'
    _common_setup
    GRADE="$ROOT/tools/grade"
    # Debian's interpreter when there is one: a pyenv shim costs seconds a start.
    PY=python3
    [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
    cd "$BATS_TEST_TMPDIR"
}
teardown() { _common_teardown; }

# The three programs, each as words: the C starter, the Python starter, the
# broken server.
programs() {
    printf '%s\n' "$ROOT/exercises/stage6/server" "$PY $ROOT/exercises/stage6/server.py" \
        "$PY $ROOT/exercises/broken/server6.py"
}

# About 0.1 s. `timeout` is a hang guard: a program that listened instead
# of printing its usage would be ended by it, with status 124.
@test "the stage 6 starters and server6.py answer --help with their usage, exit 0, and listen on nothing" {
    local prog
    while read -r prog; do
        # shellcheck disable=SC2086  # PROG is words
        run timeout 10 $prog --help
        assert_success
        assert_output --partial 'nianbao-grade server --proto stage5 --concurrent -- '
        refute_output --regexp 'listening on 127\.0\.0\.1:[0-9]'
    done < <(programs)
}

# About 0.3 s.
@test "a bad option, a missing port or a port out of range gets one line and exit 2" {
    local prog name
    while read -r prog; do
        name=$(basename "${prog##* }")
        # shellcheck disable=SC2086
        run timeout 10 $prog --frob
        assert_failure 2
        assert_output "$name: unknown option '--frob' (try --help)"
        # shellcheck disable=SC2086
        run timeout 10 $prog --port
        assert_failure 2
        assert_equal "${#lines[@]}" 1
        assert_output --partial '--port needs a'
        # shellcheck disable=SC2086
        run timeout 10 $prog 65536
        assert_failure 2
        assert_output "$name: '65536' is not a port (0 to 65535) (try --help)"
    done < <(programs)
    run timeout 10 "$PY" "$ROOT/exercises/broken/server6.py" --bug threads
    assert_failure 2
    assert_output "server6.py: --bug: no bug 'threads' (none, shared-buffer, no-reap, blocking-loop) (try --help)"
}

# About 0.7 s: nine servers started, each stopped once it has said where it
# listens.
@test "the port comes as -p PORT, --port PORT or PORT, and each says where it listens" {
    local prog form
    while read -r prog; do
        for form in '-p 0' '--port 0' '0'; do
            # shellcheck disable=SC2086
            start_server srv $prog $form
            assert [ "$srv_port" -gt 0 ]
            grep -qx "listening on 127.0.0.1:$srv_port" srv.log
            kill "$srv_pid"
            wait_for_exit "$srv_pid"
        done
    done < <(programs)
}

# About 9 s: the Python starter against every stage 5 and stage 6 scenario.
@test "the starter as handed out fails exactly the four scenarios exercises/README.md names" {
    run "$GRADE" server --proto stage5 --concurrent -- "$PY" "$ROOT/exercises/stage6/server.py" '{port}'
    assert_failure 1
    local last=${lines[${#lines[@]} - 1]}
    assert_equal "$last" '15 of 19 scenarios passed; failed: idle-beside, many-at-once, interleaved, unread-beside'
    grep -qxF "$last" "$ROOT/exercises/README.md"
    grep -qxF "$last" "$ROOT/exercises/README.zh.md"
}

# About 3.5 s: each mistake against the scenario that catches it.
@test "each classic mistake of stage 6 fails its own scenario, and the report says what went wrong" {
    local server6="$ROOT/exercises/broken/server6.py"
    run "$GRADE" server --proto stage5 --concurrent --only reaped -- "$PY" "$server6" --bug no-reap '{port}'
    assert_failure 1
    assert_line --regexp '^ +[0-9]+\. after 4 clients came and went, the server has 4 child processes more than before, 4 of them zombies \(ended, never waited for\); it is (still )?blocked'
    assert_line --partial '      diagnosis: a process that forks must wait for its children: waitpid(-1, NULL, WNOHANG)'

    run "$GRADE" server --proto stage5 --concurrent --only interleaved -- "$PY" "$server6" --bug shared-buffer '{port}'
    assert_failure 1
    # Seed 1 cuts client 1's request after its header. Which thread reads
    # the shared buffer first is the threads' race: client 2's bytes complete
    # client 1's body (a command with a NUL: the server closes), or its
    # thread takes client 1's bytes as a header length. The verdict and the
    # diagnosis are the same either way.
    assert_line --regexp '^         7\. client 2(: the server closed the connection after 0 bytes of the reply \(0 whole frames\)| received the error bad_frame: "header length [0-9]+ is out of range 1\.\.65536")$'
    assert_line "      diagnosis: client 1 had sent part of its request, and client 2's reply is wrong: the server read the two clients' bytes as one stream. Each connection needs a buffer (and a state) of its own, not one shared by the threads"

    run "$GRADE" server --proto stage5 --concurrent --only unread-beside -- "$PY" "$server6" --bug blocking-loop '{port}'
    assert_failure 1
    assert_line --partial '      diagnosis: the server is blocked while client 1 is connected (its reply still to come)'
}
