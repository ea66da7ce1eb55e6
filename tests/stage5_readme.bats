#!/usr/bin/env bats
# What stage5_file_transfer/README.md shows is what the programs do: the
# hex dumps are taken from the real programs, the quoted lines are
# printed by them.

# start_server sets NAME_port/NAME_pid, bats' run sets lines:
# shellcheck disable=SC2154,SC2030,SC2031
setup() {
    load 'test_helper/common-setup'
    _common_setup
    load 'test_helper/stage5'
}
teardown() { _common_teardown; }
bats_require_minimum_version 1.5.0

README=stage5_file_transfer/README.md

# readme_says TEXT: the stage README contains TEXT, line breaks folded.
readme_says() {
    tr '\n' ' ' <"$ROOT/$README" | tr -s ' ' | grep -qF -- "$1" || {
        echo "$README does not say: $1"; return 1; }
}

@test "the README's hex dump of every message is what the programs send" {
    timeout 120 python3 -B "$ROOT/tests/py/ft_dumps.py" "$ROOT" >"$BATS_TEST_TMPDIR/dumps"
    sed -n '/^<!-- hexdumps begin/,/^<!-- hexdumps end/p' "$ROOT/$README" | sed '1d;$d' \
        >"$BATS_TEST_TMPDIR/readme"
    diff -u "$BATS_TEST_TMPDIR/readme" "$BATS_TEST_TMPDIR/dumps"
    # every op of the protocol is shown, both ways
    local op
    for op in exec output exit put ready data end done get file stat list error; do
        grep -q "\`$op\`, header length" "$BATS_TEST_TMPDIR/dumps"
    done
}

@test "the README's quoted refusal of a little-endian length is the server's" {
    ft_server
    run peer <<'PY'
import struct
s = connect(PORT)
header = b'{"op":"exec","size":4}'
s.sendall(struct.pack("<i", len(header)) + header + b"true")
print(read_reply(s)[0][0]["message"])
PY
    assert_success
    readme_says "$output"
}

@test "the README's exit statuses are the ones --help lists" {
    run "$ROOT/$S5/client" --help
    assert_success
    readme_says '`get`, `put`, `ls`, `stat`: 0 done · 1 the server answered an error · 2 usage · 3 cannot connect, or the connection was lost or timed out · 4 the server broke the protocol · 5 SHA-256 verification failed · 6 a local file cannot be read or written · 130 interrupted (Ctrl-C during a transfer'
    readme_says '`exec`, as ssh: the command'"'"'s own status, 0..255'
    readme_says 'A command killed by signal N gives 128+N'
    readme_says 'server'"'"'s `--timeout`, 124 (as `timeout(1)`)'
    readme_says 'The client'"'"'s own failures give 255'
    assert_line 'exec, as ssh: the command'"'"'s own status (0-255; killed by signal N: 128+N;'
    assert_line '  killed at the server'"'"'s --timeout: 124; output cut by --max-output: 1);'
    assert_line 'With no COMMAND: the status of the last line that did not give 0.'
    assert_line '  0 done    1 the server answered an error'
    assert_line '  2 usage   3 cannot connect, or the connection was lost or timed out'
    assert_line '  4 the server broke the protocol   5 SHA-256 verification failed'
    assert_line '  6 a local file cannot be read or written   130 interrupted (Ctrl-C)'
}

@test "the README's server note for a timed-out command is the server's" {
    ft_server --timeout 0.5
    ft exec 'sleep 30'
    run head -1 "$BATS_TEST_TMPDIR/err"
    assert_output 'nianbao: command killed after 0.5 s (timeout)'
    readme_says "(\`$output\`)"
}

@test "the README's quoted refusals of a size 0.0 and of a hard-linked partial file are the server's" {
    # (under 1 s)
    ft_server
    printf 'other\n' >"$OUTSIDE/other"
    ln "$OUTSIDE/other" "$SERVED/.nianbao-part.x"
    run peer <<'PY'
s = connect(PORT)
s.sendall(frame({"op": "put", "name": "x", "file_size": 1}))
print(read_reply(s)[0][0]["message"])
s.sendall(raw_frame(b'{"op":"list","size":0.0}'))
print(read_reply(s)[0][0]["message"])
PY
    assert_success
    readme_says "(\`${lines[0]}\`)"
    readme_says "(\`${lines[1]}\`)"
}

@test "the README's note for a command killed at the end of stage 6's --grace is the server's" {
    # (about 1.5 s: --grace 1)
    SERVED="$BATS_TEST_TMPDIR/served"
    mkdir -p "$SERVED"
    start_server srv "$ROOT/stage6_concurrent/poll" --port 0 --root "$SERVED" --grace 1
    local marker="sleep 4243.$$"
    timeout 30 "$ROOT/$S5/client" -p "$srv_port" exec "$marker" \
        >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" 3>&- &
    local client=$!
    STARTED_PIDS+=("$client")
    has_process() { [ -n "$(process_pids "$1")" ]; }
    wait_until has_process "$marker" || { echo "the command never started"; return 1; }
    kill -TERM "$srv_pid"
    wait_for_exit "$client" 30
    run head -1 "$BATS_TEST_TMPDIR/err"
    assert_output 'nianbao: command killed: the server is stopping and its grace period (--grace) is over'
    readme_says "the note \`$output\`, then \`exit\` with \`exit_code\` \`null\` and \`signal\` 9"
}

@test "the README's interactive session prints what the README shows" {
    # (about 0.3 s) The block that starts "$ printf '%s\n' \"put 'my notes.txt'\"": its
    # command (two lines) is run as written, with the client on srv's port;
    # the rest of the block is its output, stdout and stderr together.
    ft_server
    mkdir "$SERVED/sub" "$BATS_TEST_TMPDIR/local" "$BATS_TEST_TMPDIR/local/dl"
    printf 'hello\n' >"$BATS_TEST_TMPDIR/local/my notes.txt"
    python3 - "$ROOT/$README" "$BATS_TEST_TMPDIR" <<'PY'
import sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
start = next(i for i, l in enumerate(lines) if l.startswith("$ printf '%s\\n' \"put 'my notes.txt'\""))
end = next(i for i in range(start, len(lines)) if lines[i] == "```")
command = (lines[start][2:].rstrip("\\") + lines[start + 1]).replace("\\\n", "")
open(sys.argv[2] + "/command", "w").write(command + "\n")
open(sys.argv[2] + "/expected", "w").write("\n".join(lines[start + 2:end]) + "\n")
PY
    run cat "$BATS_TEST_TMPDIR/command"
    echo "$output"
    local command=${output/stage5_file_transfer\/client/"$ROOT/$S5/client" -p $srv_port}
    cd "$BATS_TEST_TMPDIR/local"
    run bash -c "$command 2>&1"
    assert_equal "$status" 2        # the unclosed quote, said and skipped
    run diff "$BATS_TEST_TMPDIR/expected" <(printf '%s\n' "$output")
    assert_success
}
