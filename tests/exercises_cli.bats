#!/usr/bin/env bats
# The exercises' programs behave like programs (exercises/README.md): every
# starter and broken program, C and Python, answers --help with its usage on
# stdout and exits 0 at once, without connecting or listening; takes its
# port as -p PORT, --port PORT or a first argument; and refuses a bad option
# or port with one line on stderr, exit 2. About 5 s.

bats_require_minimum_version 1.5.0

setup() {
    load 'test_helper/common-setup'
    _common_setup
    # Debian's interpreter when there is one: a pyenv shim costs seconds a start.
    PYTHON=python3
    [ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
    cd "$ROOT"
}
teardown() { _common_teardown; }

# Every exercise program, as a command (words), a client or a server.
programs() {
    local f
    for f in exercises/stage3/client exercises/stage3/server exercises/stage4/client \
             exercises/stage4/server exercises/stage6/server exercises/broken/client3-* \
             exercises/broken/server3-*; do
        case $f in *.c | *.py) continue ;; esac
        echo "$f"
    done
    for f in exercises/stage3/*.py exercises/stage4/*.py exercises/stage6/*.py \
             exercises/broken/*.py; do
        echo "$PYTHON $f"
    done
}

@test "every exercise program answers --help with its usage on stdout and exits 0 without a socket" {
    local cmd n=0
    while read -r cmd; do
        n=$((n + 1))
        # A server that took --help for a port would listen until the
        # deadline (status 124), a client would try to connect (status 1
        # with no server there, or no usage on stdout): status 0 and the
        # usage on stdout say it did neither.
        # shellcheck disable=SC2086  # the command is words
        run --separate-stderr timeout 5 $cmd --help </dev/null
        [ "$status" -eq 0 ] || { echo "$cmd --help: status $status; stderr: $stderr"; return 1; }
        [[ $output == *"[-p PORT | PORT]"* ]] || { echo "$cmd --help: $output"; return 1; }
        [ -z "$stderr" ] || { echo "$cmd --help wrote to stderr: $stderr"; return 1; }
    done < <(programs)
    [ "$n" -ge 20 ]
}

@test "every exercise program refuses a bad option or port with one line, exit 2" {
    local cmd args
    while read -r cmd; do
        for args in "--no-such-option" "-p" "-p http" "--port=80x" "--port 8o83" "1 2"; do
            # shellcheck disable=SC2086  # the command and its arguments are words
            run --separate-stderr timeout 5 $cmd $args </dev/null
            [ "$status" -eq 2 ] || { echo "$cmd $args: status $status: $stderr"; return 1; }
            [ -z "$output" ] || { echo "$cmd $args wrote to stdout: $output"; return 1; }
            [ "${#stderr_lines[@]}" -eq 1 ] || { echo "$cmd $args: not one line: $stderr"; return 1; }
        done
    done < <(programs)
}

@test "a client takes its port as -p, --port or a first argument" {
    start_server srv "$ROOT/exercises/broken/server3-none" -p 0
    local cmd args
    for cmd in exercises/stage3/client "$PYTHON exercises/stage3/client.py" \
               exercises/broken/client3-none "$PYTHON exercises/broken/client3.py"; do
        for args in "-p $srv_port" "--port $srv_port" "--port=$srv_port" "$srv_port"; do
            # Status 0: it connected (a refused connection is status 1).
            # The starters' output depends on how the reply was cut, and
            # may hold NUL bytes: only the bug-free programs' is checked.
            # shellcheck disable=SC2086
            run --separate-stderr bash -c 'set -o pipefail; timeout 10 "$@" <<<"echo hi" | od -An -c' _ $cmd $args
            assert_success
            case $cmd in *none | *client3.py) assert_output --regexp '^ +h +i +\\n$' ;; esac
        done
    done
}

@test "a server takes its port as -p, --port or a first argument" {
    local cmd opt
    for cmd in exercises/stage4/server "$PYTHON exercises/stage4/server.py" \
               "$PYTHON exercises/broken/server5.py --threads" exercises/stage6/server \
               "$PYTHON exercises/broken/server6.py --bug no-reap"; do
        for opt in "-p" "--port" ""; do
            # shellcheck disable=SC2086
            start_server srv $cmd $opt 0
            kill "$srv_pid"
            wait "$srv_pid" 2>/dev/null || true
        done
    done
}
