#!/usr/bin/env bats
# The stage 5 client's manners, the ones scp, sftp and curl have (issue 19):
# interactive lines split into words as a shell does and take the command
# line's options; an interrupted transfer's bytes are never thrown away
# unasked, and Ctrl-C says what was kept; "put -" reads standard input;
# "ls DIR" lists a directory beneath the root (the protocol's list with a
# name, byte-identical on every server: tests/stage5_servers.bats); messages
# name the missing directory, join paths without "//", and bracket IPv6.

# start_server sets NAME_port/NAME_pid, ft sets status, bats' run sets lines:
# shellcheck disable=SC2154,SC2030,SC2031
setup() {
    load 'test_helper/common-setup'
    _common_setup
    load 'test_helper/stage5'
}
teardown() { _common_teardown; }
bats_require_minimum_version 1.5.0

size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }
bigger_than() { [ "$(size_of "$1")" -gt "$2" ]; }

# session LINE...: the LINEs, one a line, to the interactive client on srv's
# port, from $BATS_TEST_TMPDIR/local; stdout in $output/$lines, stderr in
# $stderr/$stderr_lines.
session() {
    cd "$BATS_TEST_TMPDIR/local"
    run --separate-stderr bash -c "printf '%s\n' \"\$@\" | timeout 20 '$ROOT/$S5/client' -p $srv_port" \
        session "$@"
}

@test "interactive lines are split as a shell splits them: quotes, backslashes, a name with a space" {
    # (about 0.2 s)
    ft_server
    mkdir "$BATS_TEST_TMPDIR/local"
    printf 'notes\n' >"$BATS_TEST_TMPDIR/local/my notes.txt"
    session "put 'my notes.txt'" 'get my\ notes.txt "copy of notes"' "stat \"my notes.txt\"" \
        "get 'it'\\''s'"
    assert_equal "$status" 1
    assert_equal "${lines[0]}" 'my notes.txt: 6 bytes, SHA-256 verified by the server, stored as my notes.txt'
    assert_equal "${lines[1]}" 'my notes.txt: 6 bytes, SHA-256 verified, saved as copy of notes'
    assert_equal "${lines[2]}" 'my notes.txt: 6 bytes'
    assert_equal "${#lines[@]}" 3
    # 'it'\''s' is one word, it's
    assert_equal "$stderr" "client: server: \"it's\" does not exist (not_found)"
    same_bytes "$BATS_TEST_TMPDIR/local/my notes.txt" "$SERVED/my notes.txt"
    same_bytes "$BATS_TEST_TMPDIR/local/my notes.txt" "$BATS_TEST_TMPDIR/local/copy of notes"
}

@test "an unclosed quote is one line of error, and the session goes on" {
    # (about 0.2 s)
    ft_server
    mkdir "$BATS_TEST_TMPDIR/local"
    session "get 'my notes.txt" 'echo still "here' 'echo after' 'get a\'
    assert_equal "$status" 2
    assert_equal "$output" 'after'
    assert_equal "$stderr" "client: the ' quote opened at character 5 is not closed
client: the \" quote opened at character 12 is not closed
client: the line ends with a backslash: nothing to escape"
}

@test "interactive lines take the command line's options, anywhere, for that line only; -- ends them" {
    # (about 0.3 s)
    ft_server
    mkdir "$BATS_TEST_TMPDIR/local"
    printf 'new\n' >"$BATS_TEST_TMPDIR/local/f"
    printf 'old\n' >"$SERVED/f"
    printf 'dash\n' >"$BATS_TEST_TMPDIR/local/--overwrite"
    session 'put f --overwrite' 'put f' 'put -- --overwrite' 'ls' 'put f --port 1' 'put f --bogus' \
        'ls -1'
    assert_equal "$status" 2
    assert_equal "${lines[0]}" 'f: 4 bytes, SHA-256 verified by the server, stored as f'
    assert_equal "${lines[1]}" '--overwrite: 5 bytes, SHA-256 verified by the server, stored as --overwrite'
    assert_equal "${lines[2]}" '           5  --overwrite'
    assert_equal "${lines[3]}" '           4  f'
    # "ls -1" is not the client's ls: it runs on the server
    assert_equal "${lines[4]}" '--overwrite'
    assert_equal "${lines[5]}" 'f'
    assert_equal "${#lines[@]}" 6
    assert_equal "$stderr" 'client: server: "f" exists (4 bytes); ask for overwrite to replace it (exists)
client: put --overwrite replaces it
client: --host and --port choose the connection: give them on the command line
client: unknown option '"'--bogus'"
    run cat "$SERVED/f"
    assert_output 'new'
}

@test "put - NAME uploads standard input; put - without a NAME, or in the interactive mode, is refused" {
    # (about 0.2 s)
    ft_server
    mkdir "$BATS_TEST_TMPDIR/local"
    cd "$BATS_TEST_TMPDIR/local"
    head -c 300000 /dev/urandom >"$BATS_TEST_TMPDIR/data"
    status=0
    timeout 20 "$ROOT/$S5/client" -p "$srv_port" put - piped <"$BATS_TEST_TMPDIR/data" \
        >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || status=$?
    assert_equal "$status" 0
    run cat "$BATS_TEST_TMPDIR/out"
    assert_output 'standard input: 300000 bytes, SHA-256 verified by the server, stored as piped'
    same_bytes "$BATS_TEST_TMPDIR/data" "$SERVED/piped"
    ft put -
    assert_equal "$status" 2
    err_is 'client: put - reads standard input, which has no name: put - NAME'
    session 'put - x'
    assert_equal "$status" 2
    assert_equal "$stderr" 'client: put - reads standard input, which holds the commands here: give it on the command line'
    [ ! -e "$SERVED/x" ]
}

@test "a plain get or put keeps an interrupted transfer's bytes and says how to go on, quoted to be typed again" {
    # (about 0.3 s)
    ft_server
    mkdir "$BATS_TEST_TMPDIR/local"
    cd "$BATS_TEST_TMPDIR/local"
    head -c 5000 /dev/urandom >"$SERVED/my notes"
    head -c 1000 "$SERVED/my notes" >"dl notes.nianbao-part"
    ft get 'my notes' 'dl notes'
    assert_equal "$status" 6
    err_is "client: dl notes.nianbao-part holds 1000 bytes of an interrupted download: \`get --resume 'my notes' 'dl notes'\` goes on from there, --overwrite starts again"
    run size_of 'dl notes.nianbao-part'
    assert_output 1000
    ft get --resume 'my notes' 'dl notes'
    assert_equal "$status" 0
    run cat "$BATS_TEST_TMPDIR/out"
    assert_output 'my notes: 5000 bytes (resumed at 1000 bytes), SHA-256 verified, saved as dl notes'
    same_bytes "$SERVED/my notes" 'dl notes'

    head -c 700 'dl notes' >"$SERVED/.nianbao-part.up"
    ft put 'dl notes' up
    assert_equal "$status" 1
    err_is "client: the server keeps 700 bytes of an interrupted upload of up: \`put --resume 'dl notes' up\` goes on from there, --overwrite starts again"
    run size_of "$SERVED/.nianbao-part.up"
    assert_output 700
    ft put --resume 'dl notes' up
    assert_equal "$status" 0
    run cat "$BATS_TEST_TMPDIR/out"
    assert_output 'dl notes: 5000 bytes (resumed at 700 bytes), SHA-256 verified by the server, stored as up'
    same_bytes "$SERVED/my notes" "$SERVED/up"
}

@test "Ctrl-C during a download says what was kept and how to go on; the part is kept, exit 130" {
    # (about 1 s) The download goes through a slow slicer, so SIGINT comes
    # in the middle of it.
    ft_server
    head -c $((20 << 20)) /dev/urandom >"$SERVED/big"
    start_server slicer "$ROOT/tools/slicer" --listen 0 --to "127.0.0.1:$srv_port" \
        --direction down --min 16384 --max 16384 --delay-us 2000
    mkdir "$BATS_TEST_TMPDIR/local"
    cd "$BATS_TEST_TMPDIR/local"
    "$ROOT/$S5/client" -p "$slicer_port" get big >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
    local client=$!
    STARTED_PIDS+=("$client")
    wait_until -t 30 -i 0.02 bigger_than big.nianbao-part $((1 << 20))
    kill -INT "$client"
    status=0
    wait "$client" || status=$?
    assert_equal "$status" 130
    local kept
    kept=$(size_of big.nianbao-part)
    [ "$kept" -gt $((1 << 20)) ] && [ "$kept" -lt $((20 << 20)) ]
    err_is "client: interrupted: kept $kept bytes of big in big.nianbao-part; \`get --resume big\` continues"
    cmp -n "$kept" "$SERVED/big" big.nianbao-part
    [ ! -e big ]
    ft get --resume big
    assert_equal "$status" 0
    run cat "$BATS_TEST_TMPDIR/out"
    assert_output "big: 20971520 bytes (resumed at $kept bytes), SHA-256 verified, saved as big"
    same_bytes "$SERVED/big" big
}

@test "Ctrl-C during an upload says how much was sent and how to go on; put --resume finishes it" {
    # (about 1 s) Through a slow slicer, upward.
    ft_server
    head -c $((20 << 20)) /dev/urandom >"$BATS_TEST_TMPDIR/big"
    start_server slicer "$ROOT/tools/slicer" --listen 0 --to "127.0.0.1:$srv_port" \
        --direction up --min 16384 --max 16384 --delay-us 2000
    "$ROOT/$S5/client" -p "$slicer_port" put "$BATS_TEST_TMPDIR/big" up \
        >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
    local client=$!
    STARTED_PIDS+=("$client")
    wait_until -t 30 -i 0.02 bigger_than "$SERVED/.nianbao-part.up" $((1 << 20))
    kill -INT "$client"
    status=0
    wait "$client" || status=$?
    assert_equal "$status" 130
    run cat "$BATS_TEST_TMPDIR/err"
    assert_output --regexp "^client: interrupted after sending [0-9]+ of 20971520 bytes: the server keeps what arrived of up; \`put --resume $BATS_TEST_TMPDIR/big up\` continues$"
    wait_for_log srv 'put "up": connection closed after [0-9]+ of 20971520 bytes'
    [ ! -e "$SERVED/up" ]
    local kept
    kept=$(size_of "$SERVED/.nianbao-part.up")
    ft put --resume "$BATS_TEST_TMPDIR/big" up
    assert_equal "$status" 0
    run cat "$BATS_TEST_TMPDIR/out"
    assert_output "$BATS_TEST_TMPDIR/big: 20971520 bytes (resumed at $kept bytes), SHA-256 verified by the server, stored as up"
    same_bytes "$BATS_TEST_TMPDIR/big" "$SERVED/up"
}

@test "ls DIR lists a directory beneath the root; names that leave it, missing ones and files are refused" {
    # (about 0.3 s)
    ft_server
    mkdir -p "$SERVED/sub/deeper" "$OUTSIDE/d"
    printf '12345' >"$SERVED/sub/b"
    printf '1' >"$SERVED/sub/a"
    printf 'xx' >"$SERVED/sub/.nianbao-part.c"
    printf 'top' >"$SERVED/top"
    printf 'secret\n' >"$OUTSIDE/d/secret.txt"
    ln -s ../outside/d "$SERVED/out"
    ft ls sub
    assert_equal "$status" 0
    expect_bytes "$BATS_TEST_TMPDIR/out" '           1  a\n           5  b\n'
    ft ls sub/deeper
    assert_equal "$status" 0
    expect_bytes "$BATS_TEST_TMPDIR/out" ''
    ft ls nodir/deeper
    assert_equal "$status" 1
    err_is 'client: server: "nodir/deeper": the directory "nodir" does not exist (not_found)'
    ft ls top
    assert_equal "$status" 1
    err_is 'client: server: "top" is not a directory: list lists a directory'"'"'s files (not_file)'
    ft ls ../outside
    assert_equal "$status" 1
    err_is 'client: server: name "../outside" is refused: it has a '"'..'"' component (bad_name)'
    ft ls out
    assert_equal "$status" 1
    run cat "$BATS_TEST_TMPDIR/err"
    assert_output --regexp '^client: server: "out" (leads outside the served directory \(through a symlink\): refused|goes through a symlink: refused .*) \(bad_name\)$'
}

@test "the stage 6 poll server answers ls DIR to the C client" {
    # (about 0.3 s)
    ft_serve poll
    mkdir "$SERVED/sub"
    printf 'abc' >"$SERVED/sub/x"
    ft ls sub
    assert_equal "$status" 0
    expect_bytes "$BATS_TEST_TMPDIR/out" '           3  x\n'
    ft ls nodir/x
    assert_equal "$status" 1
    err_is 'client: server: "nodir/x": the directory "nodir" does not exist (not_found)'
}

@test "an IPv6 address is written with its port in brackets" {
    # (about 0.2 s)
    need_ipv6_loopback
    ft_server -H ::1
    kill "$srv_pid"
    wait_for_exit "$srv_pid"
    FT_PORT=$srv_port ft -H ::1 ls
    assert_equal "$status" 3
    err_is "client: cannot connect to [::1]:$srv_port: Connection refused"
}
