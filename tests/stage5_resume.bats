#!/usr/bin/env bats
# Stage 5's interrupted transfers: an upload goes to a partial file and gets
# its name only once complete and verified (the classic follow-up writes
# straight to the final name: a killed upload leaves a truncated file
# there); --resume goes on from where a transfer stopped, after proving
# with SHA-256 that the part already there is the same.

# start_server sets NAME_port/NAME_pid, ft sets status, bats' run sets lines:
# shellcheck disable=SC2154,SC2030,SC2031
setup() {
    load 'test_helper/common-setup'
    _common_setup
    load 'test_helper/stage5'
}
teardown() { _common_teardown; }
bats_require_minimum_version 1.5.0

# size_of FILE: its size in bytes, 0 when it does not exist.
size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }

# wait_until_bigger FILE BYTES: polls (deadline 30 s) until FILE holds more
# than BYTES bytes.
bigger_than() { [ "$(size_of "$1")" -gt "$2" ]; }
wait_until_bigger() {
    wait_until -t 30 -i 0.02 bigger_than "$1" "$2" ||
        { echo "$1 stayed at $(size_of "$1") bytes"; return 1; }
}

# half_upload NAME FILE BYTES: a peer announces FILE as NAME, sends its
# first BYTES bytes, and vanishes.
half_upload() {
    peer "$1" "$2" "$3" <<'PY'
name, path, cut = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = open(path, "rb").read()
s = connect(PORT)
s.sendall(frame({"op": "put", "name": name, "file_size": len(data)}))
read_reply(s)
s.sendall(frame({"op": "data"}, data)[:-(len(data) - cut)])
s.close()
PY
}

@test "an upload killed halfway leaves nothing under its name, and --resume makes it whole" {
    ft_server
    head -c $((20 << 20)) /dev/urandom >"$BATS_TEST_TMPDIR/big"
    # A slow slicer, so the client can be killed in the middle.
    start_server slicer "$ROOT/tools/slicer" --listen 0 --to "127.0.0.1:$srv_port" \
        --direction up --min 16384 --max 16384 --delay-us 2000
    "$ROOT/$S5/client" -p "$slicer_port" put "$BATS_TEST_TMPDIR/big" >/dev/null 2>&1 3>&- &
    local client=$!
    STARTED_PIDS+=("$client")
    wait_until_bigger "$SERVED/.nianbao-part.big" $((1 << 20))
    kill -KILL "$client"
    wait_for_log srv 'put "big": connection closed after [0-9]+ of 20971520 bytes of the upload frame.s body; [0-9]+ bytes kept for a resume'
    [ ! -e "$SERVED/big" ]
    local kept
    kept=$(size_of "$SERVED/.nianbao-part.big")
    echo "kept $kept bytes"
    [ "$kept" -gt 0 ]
    [ "$kept" -lt $((20 << 20)) ]
    cmp -n "$kept" "$BATS_TEST_TMPDIR/big" "$SERVED/.nianbao-part.big"
    ft stat big
    expect_bytes "$BATS_TEST_TMPDIR/out" 'big: no such file; an interrupted upload kept %s bytes (put --resume goes on)\n' "$kept"

    ft --resume put "$BATS_TEST_TMPDIR/big"
    assert_equal "$status" 0
    run cat "$BATS_TEST_TMPDIR/out"
    assert_output "$BATS_TEST_TMPDIR/big: 20971520 bytes (resumed at $kept bytes), SHA-256 verified by the server, stored as big"
    wait_for_log srv "put \"big\": received bytes $kept\.\.20971520, sha256 $(sha "$BATS_TEST_TMPDIR/big"), stored"
    same_bytes "$BATS_TEST_TMPDIR/big" "$SERVED/big"
    run served_files
    assert_output './big'
}

@test "an upload resumed against a file that changed is refused, and nothing is stored" {
    ft_server
    head -c 300000 /dev/urandom >"$BATS_TEST_TMPDIR/f"
    run half_upload f "$BATS_TEST_TMPDIR/f" 100000
    wait_for_log srv '100000 bytes kept for a resume'
    # the local file changes where the server already has it
    printf 'CHANGED' | dd of="$BATS_TEST_TMPDIR/f" conv=notrunc bs=1 seek=5000 status=none
    ft --resume put "$BATS_TEST_TMPDIR/f"
    assert_equal "$status" 1
    run cat "$BATS_TEST_TMPDIR/err"
    assert_output --regexp '^client: server: the 100000 bytes of "f" kept here are not the first 100000 of your file \(SHA-256 [0-9a-f]{12}\.\.\., yours [0-9a-f]{12}\.\.\.\): it changed; upload it from the start \(changed\)$'
    [ ! -e "$SERVED/f" ]
    # a plain put does not throw the kept bytes away unasked
    ft put "$BATS_TEST_TMPDIR/f"
    assert_equal "$status" 1
    err_is "client: the server keeps 100000 bytes of an interrupted upload of f: \`put --resume $BATS_TEST_TMPDIR/f f\` goes on from there, --overwrite starts again"
    run size_of "$SERVED/.nianbao-part.f"
    assert_output 100000
    # from the start, it goes
    ft put --overwrite "$BATS_TEST_TMPDIR/f"
    assert_equal "$status" 0
    same_bytes "$BATS_TEST_TMPDIR/f" "$SERVED/f"
    run served_files
    assert_output './f'
}

@test "--resume with no interrupted upload uploads from the start" {
    ft_server
    printf 'whole' >"$BATS_TEST_TMPDIR/w"
    ft --resume put "$BATS_TEST_TMPDIR/w"
    assert_equal "$status" 0
    run cat "$BATS_TEST_TMPDIR/out"
    assert_output "$BATS_TEST_TMPDIR/w: 5 bytes, SHA-256 verified by the server, stored as w"
    run cat "$SERVED/w"
    assert_output 'whole'
}

@test "a resumed put that claims bytes the server does not have is refused" {
    ft_server
    run peer <<'PY'
s = connect(PORT)
s.sendall(frame({"op": "put", "name": "n", "file_size": 10, "offset": 5, "prefix_sha256": sha256(b"12345")}))
h, _ = read_reply(s)[0]
print(h["code"] + ": " + h["message"])
PY
    assert_success
    assert_output 'changed: no interrupted upload of "n" is kept here: nothing to resume at 5; upload it from the start'
    run served_files
    assert_output ''
}

@test "a download killed halfway keeps only its temporary file; --resume makes it whole" {
    ft_server
    head -c $((20 << 20)) /dev/urandom >"$SERVED/big"
    start_server slicer "$ROOT/tools/slicer" --listen 0 --to "127.0.0.1:$srv_port" \
        --direction down --min 16384 --max 16384 --delay-us 2000
    mkdir "$BATS_TEST_TMPDIR/down"
    cd "$BATS_TEST_TMPDIR/down"
    "$ROOT/$S5/client" -p "$slicer_port" get big >/dev/null 2>&1 3>&- &
    local client=$!
    STARTED_PIDS+=("$client")
    wait_until_bigger big.nianbao-part $((1 << 20))
    kill -KILL "$client"
    [ ! -e big ]
    local kept
    kept=$(size_of big.nianbao-part)
    cmp -n "$kept" "$SERVED/big" big.nianbao-part

    ft --resume get big
    assert_equal "$status" 0
    run cat "$BATS_TEST_TMPDIR/out"
    assert_output "big: 20971520 bytes (resumed at $kept bytes), SHA-256 verified, saved as big"
    wait_for_log srv "get \"big\": sent bytes [0-9]+\.\.20971520 of 20971520"
    run grep -c 'sent bytes 0\.\.20971520' "$BATS_TEST_TMPDIR/srv.log"
    assert_output 0
    same_bytes "$SERVED/big" big
    run ls -A
    assert_output 'big'
}

@test "a download resumed against a server file that changed is refused, and the part is kept" {
    ft_server
    head -c 300000 /dev/urandom >"$SERVED/f"
    mkdir "$BATS_TEST_TMPDIR/down"
    cd "$BATS_TEST_TMPDIR/down"
    head -c 100000 "$SERVED/f" >f.nianbao-part
    printf 'CHANGED' | dd of="$SERVED/f" conv=notrunc bs=1 seek=5000 status=none
    ft --resume get f
    assert_equal "$status" 1
    run cat "$BATS_TEST_TMPDIR/err"
    assert_output --regexp '^client: server: the first 100000 bytes of "f" are not the ones you have \(SHA-256 [0-9a-f]{12}\.\.\., yours [0-9a-f]{12}\.\.\.\): it changed; download it again from the start \(changed\)$'
    [ ! -e f ]
    run size_of f.nianbao-part
    assert_output 100000
    # a plain get does not throw the part away unasked; --overwrite starts over
    ft get f
    assert_equal "$status" 6
    err_is 'client: f.nianbao-part holds 100000 bytes of an interrupted download: `get --resume f` goes on from there, --overwrite starts again'
    run size_of f.nianbao-part
    assert_output 100000
    ft get f --overwrite
    assert_equal "$status" 0
    same_bytes "$SERVED/f" f
    run ls -A
    assert_output 'f'
}

@test "a file changed while it is sent under a remembered digest: error changed, the part kept" {
    # Digests are remembered for files whose last change is older than the
    # settle time (2 s, here 0.2 s).
    export NIANBAO_DIGEST_SETTLE=0.2
    ft_server
    head -c $((30 << 20)) /dev/urandom >"$SERVED/big"
    sleep 0.3
    mkdir "$BATS_TEST_TMPDIR/down"
    cd "$BATS_TEST_TMPDIR/down"
    ft get big first
    assert_equal "$status" 0
    start_server slicer "$ROOT/tools/slicer" --listen 0 --to "127.0.0.1:$srv_port" \
        --direction down --min 16384 --max 16384 --delay-us 2000
    (FT_PORT=$slicer_port ft get big second >/dev/null; echo "$status" >"$BATS_TEST_TMPDIR/status") &
    local client=$!
    wait_until_bigger second.nianbao-part $((1 << 20))
    printf 'CHANGED' | dd of="$SERVED/big" conv=notrunc bs=1 seek=5000 status=none
    wait "$client"
    run cat "$BATS_TEST_TMPDIR/status"
    assert_output 1
    run cat "$BATS_TEST_TMPDIR/err"
    assert_output 'client: server: "big" changed while it was sent (changed)'
    [ ! -e second ]
    [ -e second.nianbao-part ]
    wait_for_log srv 'get: "big" changed while it was sent'
    run grep -c 'sha256 .* (remembered: ' "$BATS_TEST_TMPDIR/srv.log"
    assert_output 0
}

@test "a server that vanishes mid-download: exit 3, the bytes kept, and the client says how to go on" {
    ft_server
    head -c 500000 /dev/urandom >"$BATS_TEST_TMPDIR/src"
    start_server fake python3 -B -c "
import sys; sys.path.insert(0, '$ROOT/tests/py'); from ftwire import *
data = open('$BATS_TEST_TMPDIR/src', 'rb').read()
srv = listen()
c, _ = srv.accept()
read_frame(c)
c.sendall(frame({'op': 'file', 'name': 's', 'file_size': len(data), 'offset': 0}, data)[:300000])
c.close()"
    mkdir "$BATS_TEST_TMPDIR/down"
    cd "$BATS_TEST_TMPDIR/down"
    FT_PORT=$fake_port ft get s
    assert_equal "$status" 3
    run cat "$BATS_TEST_TMPDIR/err"
    assert_line --index 0 --regexp '^client: connection closed after [0-9]+ of 500000 bytes of the reply.s body$'
    assert_line --index 1 'client: the bytes received are kept in s.nianbao-part: --resume goes on from there'
    [ ! -e s ]
    run size_of s.nianbao-part
    refute_output 0
}

@test "a write that fails mid-upload is answered after the body on every server, the stream stays in step, the partial is removed" {
    # (about 3 s) Each server may write files of at most 1 MiB
    # (RLIMIT_FSIZE, SIGXFSZ ignored so write() fails with EFBIG, as a full
    # disk fails with ENOSPC). The partial goes: a full disk must not stay
    # full of an upload no client can name.
    head -c 3000000 /dev/urandom >"$BATS_TEST_TMPDIR/big"
    printf 'small' >"$BATS_TEST_TMPDIR/small"
    local model
    for model in $FT_SERVERS; do
        SERVED="$BATS_TEST_TMPDIR/served.$model"
        mkdir -p "$SERVED"
        start_server srv bash -c "trap '' XFSZ; ulimit -f 1024; exec '$(ft_server_program "$model")' --port 0 --root '$SERVED'"
        # one connection: the failed upload, then two more requests on it
        run --separate-stderr bash -c "printf 'put %s\nput %s\nstat big\nstat small\n' '$BATS_TEST_TMPDIR/big' \
            '$BATS_TEST_TMPDIR/small' | timeout 20 '$ROOT/$S5/client' -p $srv_port"
        assert_equal "$status" 1
        assert_equal "$stderr" 'client: server: writing "big" at byte 1048576: File too large; nothing was kept (io)'
        assert_line --index 0 "$BATS_TEST_TMPDIR/small: 5 bytes, SHA-256 verified by the server, stored as small"
        assert_line --index 1 'big: no such file'
        assert_line --index 2 'small: 5 bytes'
        run grep -c ' connected$' "$BATS_TEST_TMPDIR/srv.log"
        assert_output 1
        run served_files
        assert_output './small'
        ft_stop
    done
}

@test "an upload of a name another client is uploading right now is refused as locked" {
    ft_server
    printf 'x' >"$BATS_TEST_TMPDIR/x"
    # stage 6 serves clients at once; here a process holds the partial's lock
    flock "$SERVED/.nianbao-part.x" sleep 60 3>&- &
    local holder=$!
    STARTED_PIDS+=("$holder")
    wait_until not flock -n "$SERVED/.nianbao-part.x" true || { echo "the lock was never taken"; false; }
    ft put "$BATS_TEST_TMPDIR/x"
    assert_equal "$status" 1
    err_is 'client: server: "x" is being uploaded by another client right now (locked)'
    [ ! -e "$SERVED/x" ]
}

# About a second. A symlink or a hard link planted at DEST.nianbao-part
# would send the download into the file it names, outside the destination
# (and "SHA-256 verified" would be said of it): the client refuses to write
# through either, with or without --resume, and leaves the link alone.
@test "a symlink or a hard link planted at DEST.nianbao-part is refused, and nothing outside is written" {
    ft_server
    printf 'secret\n' >"$OUTSIDE/secret.txt"
    printf 'the served file\n' >"$SERVED/a"
    mkdir "$BATS_TEST_TMPDIR/down"
    cd "$BATS_TEST_TMPDIR/down"
    ln -s "$OUTSIDE/secret.txt" a.nianbao-part
    for resume in '' --resume; do
        ft get a $resume
        assert_equal "$status" 6
        err_is 'client: a.nianbao-part is a symlink: refusing to write through it (remove it, or choose another DEST)'
        outside_untouched
        [ -L a.nianbao-part ] && [ ! -e a ]
    done
    rm a.nianbao-part
    ln "$OUTSIDE/secret.txt" a.nianbao-part
    for resume in '' --resume; do
        ft get a $resume
        assert_equal "$status" 6
        err_is 'client: a.nianbao-part has 2 links: refusing to write a file that has another name too (remove it, or choose another DEST)'
        outside_untouched
        [ ! -e a ]
    done
    rm a.nianbao-part
    ft get a
    assert_equal "$status" 0
    run cat a
    assert_output 'the served file'
}

# About a second: a server that accepts the request and closes before any
# reply, then one that closes after the file header, before a byte of the
# body. An empty partial gives --resume nothing to go on from.
@test "a download that received no byte leaves no DEST.nianbao-part behind; one that received some keeps it" {
    start_server fake python3 -B -c "
import sys; sys.path.insert(0, '$ROOT/tests/py'); from ftwire import *
srv = listen()
c, _ = srv.accept()
read_frame(c)
c.close()
c, _ = srv.accept()
read_frame(c)
c.sendall(frame({'op': 'file', 'name': 's', 'file_size': 10, 'offset': 0}, b'0123456789')[:-10])
c.close()
c, _ = srv.accept()
read_frame(c)
c.sendall(frame({'op': 'file', 'name': 's', 'file_size': 10, 'offset': 0}, b'0123456789')[:-6])
c.close()"
    mkdir "$BATS_TEST_TMPDIR/down"
    cd "$BATS_TEST_TMPDIR/down"
    FT_PORT=$fake_port ft get s
    assert_equal "$status" 3
    err_is 'client: the server closed the connection'
    run ls -A
    assert_output ''
    FT_PORT=$fake_port ft get s
    assert_equal "$status" 3
    err_is "client: connection closed after 0 of 10 bytes of the reply's body"
    run ls -A
    assert_output ''
    FT_PORT=$fake_port ft get s
    assert_equal "$status" 3
    run cat "$BATS_TEST_TMPDIR/err"
    assert_line --index 1 'client: the bytes received are kept in s.nianbao-part: --resume goes on from there'
    run cat s.nianbao-part
    assert_output '0123'
}
