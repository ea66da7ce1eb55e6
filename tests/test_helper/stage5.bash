# Helpers for the stage 5 tests (tests/stage5*.bats, tests/heavy/stage5.bats),
# loaded after common-setup.bash.

S5="stage5_file_transfer"

# ft_server [ARGS...]: a fresh served directory $SERVED and an outside
# directory $OUTSIDE (what must never be touched), and the stage 5 server
# on it as srv (srv_port, srv_pid, $BATS_TEST_TMPDIR/srv.log).
ft_server() {
    SERVED="$BATS_TEST_TMPDIR/served"
    OUTSIDE="$BATS_TEST_TMPDIR/outside"
    mkdir -p "$SERVED" "$OUTSIDE"
    start_server srv "$ROOT/$S5/server" --port 0 --root "$SERVED" "$@"
}

# ft [ARGS...]: the stage 5 client on srv's port (or $FT_PORT), killed after
# 60 s; stdout in $BATS_TEST_TMPDIR/out, stderr in .../err, exit status in
# $status (bats' run cannot keep binary stdout and stderr apart as files).
# shellcheck disable=SC2034  # the calling test reads status
ft() {
    status=0
    timeout 60 "$ROOT/$S5/client" -p "${FT_PORT:-$srv_port}" "$@" </dev/null \
        >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || status=$?
    local args="$*"
    echo "client ${args:0:200}: exit $status; stderr:"; head -c 2000 "$BATS_TEST_TMPDIR/err"
}

# peer [ARGS...] <<'PY' ... PY: runs the Python on stdin with tests/py/ftwire.py
# imported (frames built by hand) and PORT set to srv's port (or $FT_PORT).
peer() {
    local code
    code="import sys; sys.path.insert(0, '$ROOT/tests/py'); from ftwire import *
PORT = ${FT_PORT:-$srv_port}
$(cat)"
    timeout 60 python3 -B -c "$code" "$@"
}

# served_files: every name in $SERVED, hidden ones too, one per line, sorted.
served_files() { (cd "$SERVED" && find . -mindepth 1 | sort); }

# outside_untouched: $OUTSIDE holds exactly what the test put there
# (secret.txt with "secret\n"), nothing more.
outside_untouched() {
    run bash -c "cd '$OUTSIDE' && find . -mindepth 1 | sort"
    assert_output './secret.txt'
    run cat "$OUTSIDE/secret.txt"
    assert_output 'secret'
}

# err_is TEXT: the client's stderr is exactly TEXT (one line).
err_is() {
    run cat "$BATS_TEST_TMPDIR/err"
    assert_output "$1"
}

# up_and_down BYTES: a file of BYTES random bytes goes up (put) and comes
# down (get) byte-identical, verified by SHA-256 at both ends, with the
# client's lines saying so and nothing else left behind.
up_and_down() {
    local bytes=$1
    ft_server
    head -c "$bytes" /dev/urandom >"$BATS_TEST_TMPDIR/big"
    ft put "$BATS_TEST_TMPDIR/big"
    assert_equal "$status" 0
    run cat "$BATS_TEST_TMPDIR/out"
    assert_output "$BATS_TEST_TMPDIR/big: $bytes bytes, SHA-256 verified by the server, stored as big"
    same_bytes "$BATS_TEST_TMPDIR/big" "$SERVED/big"
    run served_files
    assert_output './big'

    mkdir "$BATS_TEST_TMPDIR/down"
    cd "$BATS_TEST_TMPDIR/down"
    ft get big
    assert_equal "$status" 0
    run cat "$BATS_TEST_TMPDIR/out"
    assert_output "big: $bytes bytes, SHA-256 verified, saved as big"
    same_bytes "$BATS_TEST_TMPDIR/big" "$BATS_TEST_TMPDIR/down/big"
    run ls -A "$BATS_TEST_TMPDIR/down"
    assert_output 'big'
}

# ---- every server of the protocol: stage 5's, and stage 6's four models ----

# The five servers that speak the stage 5 protocol, as ft_serve names them.
# shellcheck disable=SC2034  # the tests loop over it
FT_SERVERS="stage5 iterative fork thread poll"

# ft_server_program MODEL: the program of MODEL (one of $FT_SERVERS).
ft_server_program() {
    case $1 in
    stage5) echo "$ROOT/$S5/server" ;;
    *) echo "$ROOT/stage6_concurrent/$1" ;;
    esac
}

# ft_serve MODEL [ARGS...]: as ft_server, with MODEL's server (one of
# $FT_SERVERS) on a fresh $SERVED of its own (served.MODEL), and an
# $OUTSIDE of its own (outside.MODEL), as srv.
ft_serve() {
    local model=$1; shift
    SERVED="$BATS_TEST_TMPDIR/served.$model"
    OUTSIDE="$BATS_TEST_TMPDIR/outside.$model"
    mkdir -p "$SERVED" "$OUTSIDE"
    start_server srv "$(ft_server_program "$model")" --port 0 --root "$SERVED" "$@"
}

# ft_stop: stops srv (SIGTERM) and waits for it, so the next ft_serve of a
# loop over the models starts alone.
# shellcheck disable=SC2154  # start_server sets srv_pid
ft_stop() {
    kill -TERM "$srv_pid" 2>/dev/null || true
    wait_for_exit "$srv_pid"
}
