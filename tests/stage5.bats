#!/usr/bin/env bats
# Stage 5: files up and down and commands, over frames in both directions.
# What a user sees: the files that arrive (byte for byte), the lines the
# client prints, its exit status.

# start_server sets NAME_port/NAME_pid, ft sets status, bats' run sets lines:
# shellcheck disable=SC2154,SC2030,SC2031
setup() {
    load 'test_helper/common-setup'
    _common_setup
    load 'test_helper/stage5'
}
teardown() { _common_teardown; }
bats_require_minimum_version 1.5.0

@test "exec prints the command's stdout and stderr apart, and exits with the command's status" {
    ft_server
    ft exec 'echo out; echo err >&2; exit 3'
    assert_equal "$status" 3
    expect_bytes "$BATS_TEST_TMPDIR/out" 'out\n'
    expect_bytes "$BATS_TEST_TMPDIR/err" 'err\nclient: the command exited with status 3\n'
    ft exec echo a   b
    assert_equal "$status" 0
    expect_bytes "$BATS_TEST_TMPDIR/out" 'a b\n'
}

@test "exec takes the words after it as the command, options and all" {
    ft_server
    ft exec printf '%s-' -l --resume
    assert_equal "$status" 0
    expect_bytes "$BATS_TEST_TMPDIR/out" '%s' '-l---resume-'
}

@test "commands run in the served directory" {
    ft_server
    ft exec pwd
    assert_equal "$status" 0
    expect_bytes "$BATS_TEST_TMPDIR/out" '%s\n' "$SERVED"
}

@test "a 4 MiB file goes up and comes down byte-identical, verified" {
    up_and_down $((4 << 20))      # 100 MiB in tests/heavy/stage5.bats
}

@test "a file's SHA-256 is remembered for its next download; a change, its mtime put back, is hashed again" {
    # The server remembers a digest only for a file whose last change
    # (ctime) is older than the download by the settle time (2 s, here
    # 0.2 s): let that pass.
    export NIANBAO_DIGEST_SETTLE=0.2
    ft_server
    head -c 300000 /dev/urandom >"$SERVED/f"
    sleep 0.3
    local sum new
    sum=$(sha256sum "$SERVED/f" | cut -d' ' -f1)
    mkdir "$BATS_TEST_TMPDIR/down"
    cd "$BATS_TEST_TMPDIR/down"
    ft get f f1
    assert_equal "$status" 0
    ft get f f2
    assert_equal "$status" 0
    run cat "$BATS_TEST_TMPDIR/out"
    assert_output 'f: 300000 bytes, SHA-256 verified, saved as f2'
    same_bytes "$SERVED/f" f1
    same_bytes "$SERVED/f" f2
    run grep -E -c "get \"f\": sent bytes 0\.\.300000 of 300000, sha256 $sum\$" "$BATS_TEST_TMPDIR/srv.log"
    assert_output 1
    run grep -E -c "get \"f\": sent bytes 0\.\.300000 of 300000, sha256 $sum \(remembered: the file is unchanged since it was hashed\)\$" "$BATS_TEST_TMPDIR/srv.log"
    assert_output 1

    # A resume is still checked against the part the client has.
    head -c 100000 f1 >f3.nianbao-part
    printf 'CHANGED' | dd of=f3.nianbao-part conv=notrunc bs=1 seek=5000 status=none
    ft --resume get f f3
    assert_equal "$status" 1
    run cat "$BATS_TEST_TMPDIR/err"
    assert_output --regexp '^client: server: the first 100000 bytes of "f" are not the ones you have .*\(changed\)$'

    # Changed in place, same size, mtime put back: ctime still moved.
    touch -r "$SERVED/f" "$BATS_TEST_TMPDIR/stamp"
    printf 'CHANGED' | dd of="$SERVED/f" conv=notrunc bs=1 seek=5000 status=none
    touch -r "$BATS_TEST_TMPDIR/stamp" "$SERVED/f"
    new=$(sha256sum "$SERVED/f" | cut -d' ' -f1)
    [ "$new" != "$sum" ]
    ft get f f4
    assert_equal "$status" 0
    same_bytes "$SERVED/f" f4
    run grep -E -c "get \"f\": sent bytes 0\.\.300000 of 300000, sha256 $new\$" "$BATS_TEST_TMPDIR/srv.log"
    assert_output 1
}

@test "binary files full of NULs, and an empty file, go up and down intact" {
    ft_server
    head -c 1000000 /dev/zero >"$BATS_TEST_TMPDIR/zeros"
    printf 'a\0b\0\0c\r\n\377\0' >"$BATS_TEST_TMPDIR/mixed"
    : >"$BATS_TEST_TMPDIR/empty"
    local f
    for f in zeros mixed empty; do
        ft put "$BATS_TEST_TMPDIR/$f"
        assert_equal "$status" 0
        same_bytes "$BATS_TEST_TMPDIR/$f" "$SERVED/$f"
        ft get "$f" "$BATS_TEST_TMPDIR/$f.back"
        assert_equal "$status" 0
        same_bytes "$BATS_TEST_TMPDIR/$f" "$BATS_TEST_TMPDIR/$f.back"
    done
}

@test "get - writes the file to stdout and says it verified on stderr" {
    ft_server
    printf 'hello\0world' >"$SERVED/h"
    ft get h -
    assert_equal "$status" 0
    expect_bytes "$BATS_TEST_TMPDIR/out" 'hello\0world'
    err_is 'client: h: 11 bytes, SHA-256 verified'
}

# About a second. Started with stdout closed, the client's socket got fd 1:
# `get NAME -` wrote the file into its own connection, and the server ran
# the request the file holds (here: touch pwned).
@test "get - with stdout closed writes the file into nothing, never into the connection" {
    ft_server
    python3 -B -c "import sys; sys.path.insert(0, '$ROOT/tests/py'); from ftwire import *
sys.stdout.buffer.write(frame({'op': 'exec'}, b'touch pwned'))" >"$SERVED/req"
    local rc=0
    timeout 60 "$ROOT/$S5/client" -p "$srv_port" get req - </dev/null \
        2>"$BATS_TEST_TMPDIR/err" >&- || rc=$?
    echo "exit $rc"
    [ "$rc" -eq 0 ]
    err_is "client: req: $(stat -c %s "$SERVED/req") bytes, SHA-256 verified"
    wait_for_log srv 'disconnected$'
    [ ! -e "$SERVED/pwned" ]
    run grep -c 'exec\|ran ' "$BATS_TEST_TMPDIR/srv.log"
    assert_output 0
}

@test "get into a directory keeps the name; a name in a subdirectory works both ways" {
    ft_server
    mkdir "$SERVED/sub" "$BATS_TEST_TMPDIR/down"
    printf 'deep' >"$BATS_TEST_TMPDIR/d"
    ft put "$BATS_TEST_TMPDIR/d" sub/d.txt
    assert_equal "$status" 0
    run cat "$SERVED/sub/d.txt"
    assert_output 'deep'
    ft get sub/d.txt "$BATS_TEST_TMPDIR/down"
    assert_equal "$status" 0
    run cat "$BATS_TEST_TMPDIR/down/d.txt"
    assert_output 'deep'
    # put creates no directories, and the error names the one missing
    ft put "$BATS_TEST_TMPDIR/d" nodir/d.txt
    assert_equal "$status" 1
    err_is 'client: server: "nodir/d.txt": the directory "nodir" does not exist (not_found)'
    ft put "$BATS_TEST_TMPDIR/d" sub/d.txt/e
    assert_equal "$status" 1
    err_is 'client: server: "sub/d.txt/e": "sub/d.txt" is not a directory (not_found)'
    # and so does get's, for DEST; a DEST ending in / joins without //
    ft get sub/d.txt "$BATS_TEST_TMPDIR/nodl/d.txt"
    assert_equal "$status" 6
    err_is "client: cannot write $BATS_TEST_TMPDIR/nodl/d.txt: the directory $BATS_TEST_TMPDIR/nodl does not exist"
    rm "$BATS_TEST_TMPDIR/down/d.txt"
    ft get sub/d.txt "$BATS_TEST_TMPDIR/down/"
    assert_equal "$status" 0
    run cat "$BATS_TEST_TMPDIR/out"
    assert_output "sub/d.txt: 4 bytes, SHA-256 verified, saved as $BATS_TEST_TMPDIR/down/d.txt"
}

@test "an existing file is replaced only with --overwrite, on both ends" {
    ft_server
    printf 'old' >"$SERVED/f"
    printf 'new' >"$BATS_TEST_TMPDIR/f"
    ft put "$BATS_TEST_TMPDIR/f"
    assert_equal "$status" 1
    run cat "$BATS_TEST_TMPDIR/err"
    assert_output 'client: server: "f" exists (3 bytes); ask for overwrite to replace it (exists)
client: put --overwrite replaces it'
    run cat "$SERVED/f"
    assert_output 'old'
    ft put --overwrite "$BATS_TEST_TMPDIR/f"
    assert_equal "$status" 0
    run cat "$SERVED/f"
    assert_output 'new'

    printf 'mine' >"$BATS_TEST_TMPDIR/mine"
    ft get f "$BATS_TEST_TMPDIR/mine"
    assert_equal "$status" 6
    err_is "client: $BATS_TEST_TMPDIR/mine exists; --overwrite replaces it"
    run cat "$BATS_TEST_TMPDIR/mine"
    assert_output 'mine'
    ft get f "$BATS_TEST_TMPDIR/mine" --overwrite
    assert_equal "$status" 0
    run cat "$BATS_TEST_TMPDIR/mine"
    assert_output 'new'
}

@test "ls lists the regular files sorted, without partial uploads; stat tells sizes" {
    ft_server
    printf '12345' >"$SERVED/b"
    printf '1' >"$SERVED/a"
    mkdir "$SERVED/dir"
    printf 'xx' >"$SERVED/.nianbao-part.c"
    printf 'bad' >"$SERVED/$(printf 'esc\033[31m')"
    ft ls
    assert_equal "$status" 0
    expect_bytes "$BATS_TEST_TMPDIR/out" '           1  a\n           5  b\n'
    err_is 'client: 1 more files have names a client cannot ask for (control characters, not UTF-8)'
    ft stat b
    assert_equal "$status" 0
    expect_bytes "$BATS_TEST_TMPDIR/out" 'b: 5 bytes\n'
    ft stat c
    assert_equal "$status" 0
    expect_bytes "$BATS_TEST_TMPDIR/out" 'c: no such file; an interrupted upload kept 2 bytes (put --resume goes on)\n'
    ft stat dir
    assert_equal "$status" 1
    err_is 'client: server: "dir" is not a regular file (not_file)'
}

@test "a Chinese file name goes up, down and into ls as it is" {
    ft_server
    printf '粘包' >"$BATS_TEST_TMPDIR/数据.txt"
    ft put "$BATS_TEST_TMPDIR/数据.txt"
    assert_equal "$status" 0
    run cat "$SERVED/数据.txt"
    assert_output '粘包'
    ft ls
    expect_bytes "$BATS_TEST_TMPDIR/out" '           6  数据.txt\n'
    ft get 数据.txt "$BATS_TEST_TMPDIR/back"
    assert_equal "$status" 0
    run cat "$BATS_TEST_TMPDIR/out"
    assert_output "数据.txt: 6 bytes, SHA-256 verified, saved as $BATS_TEST_TMPDIR/back"
}

@test "the interactive mode takes get, put, ls and stat; any other line runs as a command" {
    ft_server
    printf 'up' >"$BATS_TEST_TMPDIR/u"
    cd "$BATS_TEST_TMPDIR"
    run --separate-stderr bash -c "printf '%s\n' 'put u' 'ls' 'stat u' 'get u back' 'ls -1' 'echo hi' 'get' \
        | timeout 20 '$ROOT/$S5/client' -p $srv_port"
    assert_equal "$status" 2
    assert_equal "${lines[0]}" "u: 2 bytes, SHA-256 verified by the server, stored as u"
    assert_equal "${lines[1]}" "           2  u"
    assert_equal "${lines[2]}" "u: 2 bytes"
    assert_equal "${lines[3]}" "u: 2 bytes, SHA-256 verified, saved as back"
    assert_equal "${lines[4]}" "u"
    assert_equal "${lines[5]}" "hi"
    assert_equal "${#lines[@]}" 6
    # a bare "get" is the user's mistake, said and skipped: the status of the session
    assert_equal "$stderr" 'client: get takes NAME [DEST] ("exec get ..." runs a command of that name)'
    run cat "$BATS_TEST_TMPDIR/back"
    assert_output 'up'
}

@test "output streams live: the first line arrives while the command still runs" {
    ft_server
    # The command prints 1, then waits for a file that the test creates only
    # after it has seen the 1: a client that waits for the end never shows it.
    local go="$BATS_TEST_TMPDIR/go"
    timeout 30 "$ROOT/$S5/client" -p "$srv_port" exec \
        "echo 1; while [ ! -e '$go' ]; do sleep 0.05; done; echo 2" \
        >"$BATS_TEST_TMPDIR/live" 2>&1 3>&- &
    local client=$!
    STARTED_PIDS+=("$client")
    wait_until -t 20 prints 1 cat "$BATS_TEST_TMPDIR/live" ||
        { echo "no 1 while the command ran:"; cat "$BATS_TEST_TMPDIR/live"; false; }
    touch "$go"
    wait_for_exit "$client" 20
    assert_equal "$EXIT_STATUS" 0
    expect_bytes "$BATS_TEST_TMPDIR/live" '1\n2\n'
}

@test "the document's loop shows 1, 2, 3 about a second apart, not all at the end" {
    ft_server
    # Each line stamped when the client printed it; the command sleeps 2 s
    # between 1 and 3, so they arrive well apart (0.5 s is loose) unless spooled.
    run bash -c "timeout 30 '$ROOT/$S5/client' -p $srv_port exec 'for i in 1 2 3; do echo \$i; sleep 1; done' |
        while read -r line; do echo \"\$line \$(date +%s.%N)\"; done"
    assert_success
    assert_equal "${#lines[@]}" 3
    local t1 t3
    t1=${lines[0]#1 }
    t3=${lines[2]#3 }
    assert_equal "${lines[1]%% *}" 2
    run awk -v a="$t1" -v b="$t3" 'BEGIN { print (b - a >= 0.5) ? "apart" : "together: " b - a }'
    assert_output apart
}

@test "the Python reference client speaks the protocol with the C server" {
    ft_server
    local py="$ROOT/tests/py/ft_client.py"
    head -c 300000 /dev/urandom >"$BATS_TEST_TMPDIR/r"
    cd "$BATS_TEST_TMPDIR"
    run python3 -B "$py" -p "$srv_port" put r
    assert_success
    assert_output 'r: 300000 bytes stored, SHA-256 verified by the server'
    same_bytes r "$SERVED/r"
    mkdir down && cd down
    run python3 -B "$py" -p "$srv_port" get r
    assert_success
    assert_output 'r: 300000 bytes, SHA-256 verified'
    same_bytes ../r r
    run python3 -B "$py" -p "$srv_port" ls
    assert_output '      300000  r'
    run python3 -B "$py" -p "$srv_port" stat r
    assert_output 'r: 300000 bytes'
    run --separate-stderr python3 -B "$py" -p "$srv_port" exec 'echo hi; echo err >&2; exit 4'
    assert_equal "$status" 1
    assert_output 'hi'
    assert_equal "$stderr" 'err'
    run --separate-stderr python3 -B "$py" -p "$srv_port" get nothing
    assert_equal "$status" 1
    assert_equal "$stderr" 'ft_client.py: server: not_found: "nothing" does not exist'
}

@test "--help lists the commands and every exit status; bad usage exits 2" {
    run --separate-stderr "$ROOT/$S5/client" --help
    assert_success
    assert_line 'usage: client [options] [COMMAND [ARGS...]]'
    assert_line '  get NAME [DEST]   download NAME (to DEST, a file or a directory; - for stdout)'
    assert_line 'exit status of get, put, ls, stat:'
    assert_line '  0 done    1 the server answered an error'
    assert_line '  2 usage   3 cannot connect, or the connection was lost or timed out'
    assert_line '  4 the server broke the protocol   5 SHA-256 verification failed'
    assert_line '  6 a local file cannot be read or written   130 interrupted (Ctrl-C)'
    assert_line '  ls [DIR]          list the served files (in DIR, beneath the root)'
    run --separate-stderr "$ROOT/$S5/client" fetch x
    assert_equal "$status" 2
    assert_equal "$stderr" "client: unknown command 'fetch' (get, put, exec, ls, stat)
Try 'client --help' for more information."
    run --separate-stderr "$ROOT/$S5/client" get
    assert_equal "$status" 2
    assert_equal "${stderr_lines[0]}" "client: get takes NAME [DEST]"
    run --separate-stderr "$ROOT/$S5/client" ls x y
    assert_equal "$status" 2
    assert_equal "${stderr_lines[0]}" "client: ls takes at most a DIR"
    run --separate-stderr "$ROOT/$S5/client" exec
    assert_equal "${stderr_lines[0]}" "client: exec needs a command"
    run --separate-stderr "$ROOT/$S5/client" --version
    assert_output 'client (nianbao 1.0): stage 5, the document'"'"'s file transfer (not written there)'
    local prog
    for prog in client server; do
        run --separate-stderr "$ROOT/$S5/$prog" --bogus
        assert_equal "$status" 2
        assert_equal "$stderr" "$prog: unknown option '--bogus'
Try '$prog --help' for more information."
        run --separate-stderr "$ROOT/$S5/$prog" --port 65536
        assert_equal "$status" 2
        assert_equal "${stderr_lines[0]}" "$prog: --port: '65536' is not a port number ($([ $prog = client ] && echo 1 || echo 0)..65535)"
    done
    run --separate-stderr "$ROOT/$S5/server" --root /tmp stray
    assert_equal "$status" 2
    assert_equal "${stderr_lines[0]}" "server: unexpected argument 'stray'"
    run "$ROOT/$S5/server" --help
    assert_success
    assert_line 'usage: server [options]'
    assert_line --partial '(default 8086; 0 picks a free one)'
}

@test "the client's exit statuses: 3 cannot connect, 6 a local file it cannot read" {
    ft_server
    kill "$srv_pid"
    wait_for_exit "$srv_pid"
    ft ls
    assert_equal "$status" 3
    err_is "client: cannot connect to 127.0.0.1:$srv_port: Connection refused"
    ft_server
    ft put "$BATS_TEST_TMPDIR/missing"
    assert_equal "$status" 6
    err_is "client: cannot read $BATS_TEST_TMPDIR/missing: No such file or directory"
    ft put "$BATS_TEST_TMPDIR"
    assert_equal "$status" 6
    err_is "client: cannot read $BATS_TEST_TMPDIR: not a regular file"
}

@test "the server requires --root, refuses a missing one, and names what it serves" {
    run --separate-stderr "$ROOT/$S5/server" --port 0
    assert_equal "$status" 2
    assert_equal "${stderr_lines[0]}" "server: --root DIR is required: which directory do clients get from and put into?"
    run --separate-stderr "$ROOT/$S5/server" --port 0 --root "$BATS_TEST_TMPDIR/none"
    assert_equal "$status" 1
    assert_equal "$stderr" "server: cannot open the root $BATS_TEST_TMPDIR/none: No such file or directory"
    ft_server
    run head -1 "$BATS_TEST_TMPDIR/srv.log"
    assert_output "serving $SERVED (openat2: symlinks are followed only while they stay inside)"
    run grep -c '^listening on ' "$BATS_TEST_TMPDIR/srv.log"
    assert_output 1
}

@test "the server exits 0 on SIGTERM and SIGINT" {
    mkdir "$BATS_TEST_TMPDIR/r"
    exits_0_on_sigterm_and_sigint "$ROOT/$S5/server" --port 0 --root "$BATS_TEST_TMPDIR/r"
}

@test "--timeout kills a command, which the client reports; --max-output cuts" {
    ft_server --timeout 0.3 --max-output 10
    ft exec 'echo start; sleep 30'
    assert_equal "$status" 124     # as timeout(1)
    expect_bytes "$BATS_TEST_TMPDIR/out" 'start\n'
    err_is $'nianbao: command killed after 0.3 s (timeout)\nclient: the command was killed by signal 9'
    ft exec 'seq 1 100'
    assert_equal "$status" 1
    expect_bytes "$BATS_TEST_TMPDIR/out" '1\n2\n3\n4\n5\n'
    run head -1 "$BATS_TEST_TMPDIR/err"
    assert_output 'nianbao: output cut to fit --max-output 10'
}

@test "--max-upload refuses a larger file before writing any byte of it" {
    ft_server --max-upload 1000
    head -c 1001 /dev/zero >"$BATS_TEST_TMPDIR/big"
    ft put "$BATS_TEST_TMPDIR/big"
    assert_equal "$status" 1
    err_is 'client: server: "big" is 1001 bytes; this server takes at most 1000 (--max-upload) (too_large)'
    run served_files
    assert_output ''
    head -c 1000 /dev/zero >"$BATS_TEST_TMPDIR/fits"
    ft put "$BATS_TEST_TMPDIR/fits"
    assert_equal "$status" 0
}

@test "--idle closes a silent client; the interactive client reconnects and says so" {
    # --idle 0.5: the first 'stat x' is sent as soon as the client runs
    ft_server --idle 0.5
    printf 'x' >"$SERVED/x"
    coproc CLIENT { timeout 30 "$ROOT/$S5/client" -p "$srv_port" 2>&1; }
    local client_pid=$CLIENT_PID
    echo 'stat x' >&"${CLIENT[1]}"
    read -r line <&"${CLIENT[0]}"
    assert_equal "$line" 'x: 1 bytes'
    wait_for_log srv 'sent nothing for 0\.5 s \(--idle\); closing the connection'
    wait_for_log srv ' disconnected$'   # written after the close
    echo 'stat x' >&"${CLIENT[1]}"
    read -r line <&"${CLIENT[0]}"
    assert_equal "$line" "client: the server closed the idle connection; reconnected to 127.0.0.1:$srv_port"
    read -r line <&"${CLIENT[0]}"
    assert_equal "$line" 'x: 1 bytes'
    exec {CLIENT[1]}>&-
    wait_for_exit "$client_pid"
    assert_equal "$EXIT_STATUS" 0
}

@test "on a terminal a progress bar shows bytes, rate and time left, right even in 1-byte pieces" {
    ft_server
    head -c 300000 /dev/urandom >"$SERVED/p"
    start_server slicer "$ROOT/tools/slicer" --listen 0 --to "127.0.0.1:$srv_port" \
        --direction both --min 1 --max 1
    cd "$BATS_TEST_TMPDIR"
    timeout 60 python3 -B "$ROOT/tests/py/on_pty.py" "$ROOT/$S5/client" -p "$slicer_port" get p \
        >"$BATS_TEST_TMPDIR/tty" </dev/null
    same_bytes "$SERVED/p" p
    run python3 -B "$ROOT/tests/py/check_bar.py" 300000 <"$BATS_TEST_TMPDIR/tty"
    assert_success
    assert_line --index 0 --regexp '^[0-9]+ redraws, growing$'
    assert_line --index 1 --regexp '^293\.0 KiB / 293\.0 KiB  100%  +[0-9.]+ [KM]iB/s  done$'
    assert_line --index 2 'ends with a newline'
    # 300 000 one-byte sends take more than the bar's 0.1 s between redraws
    assert_line --index 3 'time left shown'
    # and the upload's
    timeout 60 python3 -B "$ROOT/tests/py/on_pty.py" "$ROOT/$S5/client" -p "$slicer_port" put p p2 \
        >"$BATS_TEST_TMPDIR/tty" </dev/null
    run python3 -B "$ROOT/tests/py/check_bar.py" 300000 <"$BATS_TEST_TMPDIR/tty"
    assert_success
    assert_line --index 1 --regexp '^293\.0 KiB / 293\.0 KiB  100%  +[0-9.]+ [KM]iB/s  done$'
}

@test "nothing of the progress bar when stderr is not a terminal" {
    ft_server
    head -c 3000000 /dev/urandom >"$BATS_TEST_TMPDIR/q"
    ft put "$BATS_TEST_TMPDIR/q"
    assert_equal "$status" 0
    err_is ''
    ft get q "$BATS_TEST_TMPDIR/q2"
    assert_equal "$status" 0
    err_is ''
}

@test "a command silent for longer than the busy notice's time between outputs gets no busy notice" {
    ft_server
    # The busy notice is for a reply that has not started (another client
    # holds the server); a command that pauses is not that. The notice is
    # due after 0.4 s here (3 s by default); `echo a` comes well before it,
    # then the command is silent for twice as long.
    export NIANBAO_BUSY_NOTICE=0.4
    ft exec 'echo a; sleep 0.8; echo b'
    assert_equal "$status" 0
    expect_bytes "$BATS_TEST_TMPDIR/out" 'a\nb\n'
    err_is ''
}

@test "a request that waits behind another client gets the busy notice, once" {
    ft_server
    printf 'x' >"$SERVED/x"
    # the first client holds the one serving slot until the test lets go
    timeout 30 "$ROOT/$S5/client" -p "$srv_port" exec \
        "while [ ! -e '$BATS_TEST_TMPDIR/go' ]; do sleep 0.05; done" >/dev/null 2>&1 3>&- &
    local first=$!
    STARTED_PIDS+=("$first")
    wait_for_log srv 'connected'
    NIANBAO_BUSY_NOTICE=0.2 timeout 30 "$ROOT/$S5/client" -p "$srv_port" stat x \
        >"$BATS_TEST_TMPDIR/second" 2>"$BATS_TEST_TMPDIR/second.err" 3>&- &
    local second=$!
    STARTED_PIDS+=("$second")
    wait_until -t 20 grep -q 'no reply after' "$BATS_TEST_TMPDIR/second.err" || { echo "no busy notice"; false; }
    touch "$BATS_TEST_TMPDIR/go"
    wait_for_exit "$second" 20
    assert_equal "$EXIT_STATUS" 0
    expect_bytes "$BATS_TEST_TMPDIR/second" 'x: 1 bytes\n'
    run cat "$BATS_TEST_TMPDIR/second.err"
    assert_output 'client: no reply after 0.2 s: the server serves one client at a time and may be busy with another; still waiting'
}
