#!/usr/bin/env bats
# The stage 5 protocol on every server that speaks it: stage 5's own
# (stage5_file_transfer/server) and stage 6's four models (iterative, fork,
# thread, poll), which share common/ftserve.c for the files and, stage 6,
# common/ftconn.c for the conversation. Each test loops over the five
# ($FT_SERVERS) and asserts what a client sees: the exact reply, the files
# left in the root. Found by an adversary (issue 20): each test fails with
# its fix taken out, or with the one-line bug it guards against planted.

# start_server sets NAME_port/NAME_pid, bats' run sets status/output:
# shellcheck disable=SC2154,SC2030,SC2031
setup() {
    load 'test_helper/common-setup'
    _common_setup
    load 'test_helper/stage5'
}
teardown() { _common_teardown; }
bats_require_minimum_version 1.5.0

@test "list on an empty root answers an empty list on every server" {
    # (about 2 s: five servers started and stopped) ft_list called
    # qsort(NULL, 0, ...): undefined behaviour, which make check-asan
    # stops on.
    local model
    for model in $FT_SERVERS; do
        ft_serve "$model"
        run peer <<'PY'
s = connect(PORT)
s.sendall(frame({"op": "list"}))
show(read_reply(s))
PY
        assert_success
        assert_output "{\"count\": 0, \"op\": \"list\", \"size\": 2, \"skipped\": 0, \"truncated\": false} b'[]'"
        ft_stop
    done
}

@test "a hard link planted as a partial file gets error io on every server, and the file it leads to is untouched" {
    # (about 3 s) Anyone who can exec can plant it; the upload went through
    # it into a file outside the root.
    local model
    for model in $FT_SERVERS; do
        ft_serve "$model"
        printf 'secret\n' >"$OUTSIDE/secret.txt"
        ln "$OUTSIDE/secret.txt" "$SERVED/.nianbao-part.x"
        run peer <<'PY'
s = connect(PORT)
for put in ({"op": "put", "name": "x", "file_size": 5},
            {"op": "put", "name": "x", "file_size": 12, "offset": 7,
             "prefix_sha256": sha256(b"secret\n")}):
    s.sendall(frame(put))
    h, _ = read_reply(s)[0]
    print(h["op"], h.get("code"), h.get("message"))
PY
        assert_success
        assert_line --index 0 'error io the partial file of "x" has 2 names (a hard link): writing it would change another file, so nothing was written; remove it'
        assert_line --index 1 'error io the partial file of "x" has 2 names (a hard link): writing it would change another file, so nothing was written; remove it'
        outside_untouched
        run served_files
        assert_output './.nianbao-part.x'
        ft_stop
    done
}

@test "a put whose offset is file_size + 1 gets bad_field on every server, nothing is written, and the connection goes on" {
    # (about 2 s)
    local model
    for model in $FT_SERVERS; do
        ft_serve "$model"
        run peer <<'PY'
s = connect(PORT)
s.sendall(frame({"op": "put", "name": "y", "file_size": 5, "offset": 6,
                 "prefix_sha256": sha256(b"123456")}))
h, _ = read_reply(s)[0]
print(h["code"] + ": " + h["message"])
s.sendall(frame({"op": "list"}))
show(read_reply(s))
PY
        assert_success
        assert_line --index 0 'bad_field: put: offset 6 is past file_size 5'
        assert_line --index 1 "{\"count\": 0, \"op\": \"list\", \"size\": 2, \"skipped\": 0, \"truncated\": false} b'[]'"
        run served_files
        assert_output ''
        ft_stop
    done
}

@test "an unknown op gets unknown_op on every server, and the connection goes on" {
    # (about 2 s)
    local model
    for model in $FT_SERVERS; do
        ft_serve "$model"
        run peer <<'PY'
s = connect(PORT)
s.sendall(frame({"op": "getattr"}, b"xyz"))
h, _ = read_reply(s)[0]
print(h["code"] + ": " + h["message"])
s.sendall(frame({"op": "exec"}, b"echo still here"))
show(read_reply(s)[:1])
PY
        assert_success
        assert_line --index 0 'unknown_op: unknown op "getattr" (ops: exec, get, put, stat, list)'
        assert_line --index 1 "{\"op\": \"output\", \"size\": 11, \"stream\": \"stdout\"} b'still here\\n'"
        ft_stop
    done
}

@test "a header of exactly 65536 bytes is accepted by every server, one of 65537 refused with bad_frame" {
    # (about 2 s) The limit is --max-header's default (stage 5) and
    # frame_stage5's (stage 6): 1..65536, both ends included.
    local model
    for model in $FT_SERVERS; do
        ft_serve "$model"
        printf 'abc' >"$SERVED/f"
        run peer <<'PY'
def padded(total):
    text = b'{"op":"stat","name":"f","size":0}'
    return raw_frame(text + b" " * (total - len(text)))
s = connect(PORT)
s.sendall(padded(65536))
show(read_reply(s))
s.sendall(padded(65537))
h, _ = read_reply(s)[0]
print(h["code"] + ": " + h["message"])
print("then", closed(s))
PY
        assert_success
        assert_line --index 0 '{"exists": true, "file_size": 3, "name": "f", "op": "stat", "partial_size": 0, "size": 0}'
        assert_line --index 1 'bad_frame: header length 65537 is out of range 1..65536 (bytes 00 01 00 01 "\x00\x01\x00\x01"): is the peer speaking another protocol?'
        assert_line --index 2 'then closed'
        ft_stop
    done
}

@test "a size written -0, 0.0 or 0e5, or a byte-order mark before the header, gets bad_frame on every server" {
    # (about 3 s) The specification says integers, and one JSON object:
    # cJSON reads all three as 0 and skips the mark.
    local model
    for model in $FT_SERVERS; do
        ft_serve "$model"
        run peer <<'PY'
for text in (b'{"op":"list","size":-0}', b'{"op":"list","size":0.0}',
             b'{"op":"list","size":0e5}', b'\xef\xbb\xbf{"op":"list","size":0}'):
    s = connect(PORT)
    s.sendall(raw_frame(text))
    h, _ = read_reply(s)[0]
    print(h["code"] + ": " + h["message"])
    print("then", closed(s))
PY
        assert_success
        assert_line --index 0 'bad_frame: size -0 is not written as a whole number (digits only: no sign, point or exponent)'
        assert_line --index 1 'then closed'
        assert_line --index 2 'bad_frame: size 0.0 is not written as a whole number (digits only: no sign, point or exponent)'
        assert_line --index 3 'then closed'
        assert_line --index 4 'bad_frame: size 0e5 is not written as a whole number (digits only: no sign, point or exponent)'
        assert_line --index 5 'then closed'
        assert_line --index 6 'bad_frame: header starts with a UTF-8 byte-order mark (bytes ef bb bf): a header is one JSON object and nothing else but white space'
        assert_line --index 7 'then closed'
        ft_stop
    done
}

@test "an offset written 1.0 or 1e0 gets bad_field on every server, and the connection goes on" {
    # (about 3 s)
    local model
    for model in $FT_SERVERS; do
        ft_serve "$model"
        printf 'abc' >"$SERVED/f"
        run peer <<'PY'
s = connect(PORT)
for number in (b"1.0", b"1e0", b"-0"):
    s.sendall(raw_frame(b'{"op":"get","name":"f","offset":' + number + b',"prefix_sha256":"'
                        + sha256(b"a").encode() + b'","size":0}'))
    h, _ = read_reply(s)[0]
    print(h["code"] + ": " + h["message"])
s.sendall(frame({"op": "get", "name": "f", "offset": 1, "prefix_sha256": sha256(b"a")}))
show(read_reply(s)[:1])
PY
        assert_success
        assert_line --index 0 'bad_field: get: offset 1.0 is not written as a whole number (digits only: no sign, point or exponent)'
        assert_line --index 1 'bad_field: get: offset 1e0 is not written as a whole number (digits only: no sign, point or exponent)'
        assert_line --index 2 'bad_field: get: offset -0 is not written as a whole number (digits only: no sign, point or exponent)'
        assert_line --index 3 "{\"file_size\": 3, \"name\": \"f\", \"offset\": 1, \"op\": \"file\", \"size\": 2} b'bc'"
        ft_stop
    done
}

@test "a put cut before its first byte leaves no empty partial file on any server" {
    # (about 2 s) Empty partials of refused or cut puts piled up with no
    # expiry; one with bytes stays for a resume.
    local model
    for model in $FT_SERVERS; do
        ft_serve "$model"
        run peer <<'PY'
for name, sent in (("empty", b""), ("some", b"12")):
    s = connect(PORT)
    s.sendall(frame({"op": "put", "name": name, "file_size": 5}))
    read_reply(s)
    s.sendall(frame({"op": "data"}, b"12345")[:-(5 - len(sent))])
    s.close()
PY
        assert_success
        wait_for_lines ' disconnected$' 2
        run served_files
        assert_output './.nianbao-part.some'
        ft_stop
    done
}

@test "a resumed get whose part is one byte longer than the server's file gets changed on every server; the part is kept" {
    # (about 1 s)
    local model
    for model in $FT_SERVERS; do
        ft_serve "$model"
        printf 'hello' >"$SERVED/f"
        printf 'hello!' >"$BATS_TEST_TMPDIR/dest.nianbao-part"
        ft --resume get f "$BATS_TEST_TMPDIR/dest"
        assert_equal "$status" 1
        err_is 'client: server: "f" has 5 bytes, fewer than the 6 you have: it changed (changed)'
        expect_bytes "$BATS_TEST_TMPDIR/dest.nianbao-part" 'hello!'
        [ ! -e "$BATS_TEST_TMPDIR/dest" ]
        ft_stop
    done
}

# on_small_disk MODEL: MODEL's server as srv, its root $SERVED a 1 MiB
# tmpfs mounted in a mount namespace of its own (nothing outside sees it;
# the test looks through /proc/PID/root). Skips, saying why, where no
# tmpfs can be mounted (not root, no unshare).
on_small_disk() {
    SERVED="$BATS_TEST_TMPDIR/served.$1"
    mkdir -p "$SERVED"
    if ! unshare --mount --propagation private \
            mount -t tmpfs -o size=64k nianbao-probe "$SERVED" 2>/dev/null; then
        skip "cannot mount a tmpfs in a mount namespace (needs root and unshare)"
    fi
    # shellcheck disable=SC2016  # "$1" and "$@" are the inner shell's
    start_server srv unshare --mount --propagation private sh -c \
        'mount -t tmpfs -o size=1m nianbao-small "$1" && shift && exec "$@"' sh "$SERVED" \
        "$(ft_server_program "$1")" --port 0 --root "$SERVED"
}

@test "a full disk is free again after the failed put on every server: the next put works" {
    # (about 2 s) The partial of a put that filled the disk was kept, no
    # client could name it, and every later put failed with io.
    head -c 2000000 /dev/urandom >"$BATS_TEST_TMPDIR/big"
    head -c 100000 /dev/urandom >"$BATS_TEST_TMPDIR/small"
    local model
    for model in $FT_SERVERS; do
        on_small_disk "$model"
        ft put "$BATS_TEST_TMPDIR/big"
        assert_equal "$status" 1
        run cat "$BATS_TEST_TMPDIR/err"
        assert_output --regexp '^client: server: writing "big" at byte [0-9]+: No space left on device; nothing was kept \(io\)$'
        ft put "$BATS_TEST_TMPDIR/small"
        assert_equal "$status" 0
        run ls -A "/proc/$srv_pid/root$SERVED"
        assert_output 'small'
        same_bytes "$BATS_TEST_TMPDIR/small" "/proc/$srv_pid/root$SERVED/small"
        ft_stop
    done
}

@test "one --max-command for the protocol: every server runs a command of FT_MAX_COMMAND bytes, refuses one more, and the specification quotes it" {
    # (about 3 s: five servers) Stage 6 once stopped at 65536: a 100 KB
    # command ran on stage 5 and was too_large on stage 6.
    local max model
    max=$(sed -nE 's/^#define FT_MAX_COMMAND ([0-9]+)$/\1/p' "$ROOT/common/protolimits.h")
    [ -n "$max" ]
    grep -qF "| \`exec\` | — | the command, 1..$max bytes (\`--max-command\`)" "$ROOT/$S5/README.md"
    for model in $FT_SERVERS; do
        ft_serve "$model"
        run peer "$max" <<'PY'
n = int(sys.argv[1])
s = connect(PORT)
cmd = b"echo ok #" + b"x" * (n - 9)
s.sendall(frame({"op": "exec"}, cmd))
show(read_reply(s))
s.sendall(frame({"op": "exec"}, cmd + b"x"))
show(read_reply(s))
PY
        assert_success
        assert_line --index 0 "{\"op\": \"output\", \"size\": 3, \"stream\": \"stdout\"} b'ok\\n'"
        assert_line --index 1 --partial '"exit_code": 0'
        assert_line --index 2 "{\"code\": \"too_large\", \"message\": \"the command is $((max + 1)) bytes; this server runs at most $max (--max-command)\", \"op\": \"error\", \"size\": 0}"
        ft_stop
        # and no server takes a --max-command above it
        run "$(ft_server_program "$model")" --port 0 --max-command $((max + 1))
        assert_failure 2
        assert_output --partial "--max-command"
    done
}

@test "list with a name gets byte-identical replies from every server" {
    # (about 1.5 s: five servers started and stopped) A directory, a name
    # with a trailing /, a missing directory (named in the message), a
    # file, "..", a symlink that leads out, NUL, a number, and no name.
    local model first=""
    for model in $FT_SERVERS; do
        ft_serve "$model"
        mkdir "$SERVED/sub"
        printf 'abc' >"$SERVED/sub/x"
        printf 'top' >"$SERVED/top"
        ln -s ../"outside.$model" "$SERVED/out"
        run peer <<'PY'
s = connect(PORT)
for name in ("sub", "sub/", "nodir/x", "top", "..", "out", "a\u0000b"):
    s.sendall(frame({"op": "list", "name": name}))
    show(read_reply(s))
s.sendall(frame({"op": "list", "name": 5}))
show(read_reply(s))
s.sendall(frame({"op": "list"}))
show(read_reply(s))
PY
        assert_success
        echo "$model: $output"
        [ -n "$first" ] || first=$output
        assert_equal "$output" "$first"
        ft_stop
    done
    assert_line --index 0 "{\"count\": 1, \"op\": \"list\", \"size\": 23, \"skipped\": 0, \"truncated\": false} b'[{\"name\":\"x\",\"size\":3}]'"
    assert_line --index 2 --partial '"code": "not_found", "message": "\"nodir/x\": the directory \"nodir\" does not exist"'
    assert_line --index 3 --partial '"code": "not_file"'
    assert_line --index 5 --partial '"code": "bad_name"'
}

@test "a connection closed or reset while its command runs: every server kills the command's process group at once, and answers the next client byte-identically" {
    # (about 2 s: five servers; each group is gone in some 10 ms) The
    # servers watched only the command's pipes: the command ran on until
    # --timeout, and stage 5's server (and stage 6's iterative model) kept
    # the next client waiting that long.
    local model first="" tag="$$$RANDOM"
    for model in $FT_SERVERS; do
        ft_serve "$model" --timeout 600
        run --separate-stderr peer "$tag" <<'PY'
import os, socket, struct, time
TAG = b"sleep\0" + b"7" + sys.argv[1].encode()
def sleeps():
    found = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                found += f.read().startswith(TAG)
        except OSError:
            pass
    return found
def wait(cond, secs):
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > secs:
            return None
        time.sleep(0.01)
    return time.monotonic() - start
tag = sys.argv[1]
for how in ("close", "reset"):
    s = connect(PORT)
    # two processes in the command's group, and a request sent ahead
    s.sendall(frame({"op": "exec"}, f"sleep 7{tag}.1 & sleep 7{tag}.2".encode()) +
              frame({"op": "list"}))
    print(how, "running:", wait(lambda: sleeps() == 2, 10) is not None)
    if how == "reset":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    took = wait(lambda: sleeps() == 0, 2)
    print(how, "gone within 2 s:", took is not None)
    print(f"{how}: gone after {took * 1000:.1f} ms" if took is not None else f"{how}: not gone", file=sys.stderr)
    s = connect(PORT)
    s.settimeout(2)       # the next client is answered at once
    s.sendall(frame({"op": "exec"}, b"echo next"))
    show(read_reply(s))
    s.close()
PY
        assert_success
        echo "$model: $output"
        printf '# %s: %s\n' "$model" "${stderr//$'\n'/, }" >&3
        [ -n "$first" ] || first=$output
        assert_equal "$output" "$first"
        ft_stop
    done
    assert_line --index 0 'close running: True'
    assert_line --index 1 'close gone within 2 s: True'
    assert_line --index 4 'reset running: True'
    assert_line --index 5 'reset gone within 2 s: True'
}
