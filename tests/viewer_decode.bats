#!/usr/bin/env bats
# The viewer's data side without a terminal: the decoder library's unit
# tests, and --dump / --side-by-side / --html of captures recorded from the
# real stages (tests/golden/*.nbcap) against their golden text.
#
# To re-record a golden capture (after a change to the stages' wire bytes):
#   LD_PRELOAD=viewer/libnianbao-tap.so NIANBAO_TAP=tests/golden/X.nbcap ...
# then regenerate X.dump with `viewer/nianbao-view --replay X.nbcap --dump`
# and read the diff before committing it. lesson_stage1.nbcap is a run of
# the lesson's stage 1 (`make screenshots` draws its picture from it, with
# --from-capture): record it from a clean checkout with TMPDIR=D set for
# `viewer/nianbao-view --lesson --stage 1 --text`, hard-linking
# D/nianbao-lesson-*/stage1.nbcap as soon as it appears (the lesson removes
# its own link at the end).

setup() { load 'test_helper/common-setup'; _common_setup; }
teardown() { _common_teardown; }

GOLDEN="$BATS_TEST_DIRNAME/golden"

# view ARGS...: runs the viewer with stdout in $BATS_TEST_TMPDIR/out.
view() {
    status=0
    "$ROOT/viewer/nianbao-view" "$@" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || status=$?
}

# same_as GOLDEN_FILE: $BATS_TEST_TMPDIR/out holds exactly that file.
same_as() {
    if ! cmp -s "$1" "$BATS_TEST_TMPDIR/out"; then
        diff -u "$1" "$BATS_TEST_TMPDIR/out" | head -40
        return 1
    fi
}

@test "the decoder library passes its unit tests" {
    run "$ROOT/viewer/test_decode" "$BATS_TEST_TMPDIR"
    assert_success
    refute_output --partial "not ok"
    assert_line "1..99"
}

@test "--dump of a recorded stage 1 session matches its golden file" {
    view --replay "$GOLDEN/stage1_garble.nbcap" --dump
    [ "$status" -eq 0 ]
    same_as "$GOLDEN/stage1_garble.dump"
}

@test "--dump of the lesson's recorded stage 1 run matches its golden file" {
    view --replay "$GOLDEN/lesson_stage1.nbcap" --dump
    [ "$status" -eq 0 ]
    same_as "$GOLDEN/lesson_stage1.dump"
    grep -qx '    !! STALE: recv #3 returned bytes of reply #2' "$BATS_TEST_TMPDIR/out"
    grep -qx 'total: 6 sends, 6 recvs, 6850 bytes pending, 1 STALE' "$BATS_TEST_TMPDIR/out"
}

@test "the stage 1 dump names the garble: recv #2 returned bytes of reply #1" {
    view --replay "$GOLDEN/stage1_garble.nbcap" --dump
    grep -qx '    !! STALE: recv #2 returned bytes of reply #1' "$BATS_TEST_TMPDIR/out"
    grep -qx 'total: 5 sends, 6 recvs, 0 bytes pending, 2 STALE' "$BATS_TEST_TMPDIR/out"
}

@test "--dump of a stage 3 session shows each length field and no STALE" {
    view --replay "$GOLDEN/stage3_len.nbcap" --dump
    [ "$status" -eq 0 ]
    same_as "$GOLDEN/stage3_len.dump"
    grep -qx '    == len-field #1: length 1092' "$BATS_TEST_TMPDIR/out"
    run grep -c '!! STALE' "$BATS_TEST_TMPDIR/out"
    assert_output 0
}

@test "--dump of a stage 4 session decodes the JSON headers" {
    view --replay "$GOLDEN/stage4_json.nbcap" --dump
    [ "$status" -eq 0 ]
    same_as "$GOLDEN/stage4_json.dump"
    grep -qx '    == header-json #3: total_size=9 stdout_size=4 exit_code=0' "$BATS_TEST_TMPDIR/out"
}

@test "--side-by-side shows what v1 prints next to what a framed reader prints" {
    view --replay "$GOLDEN/stage1_garble.nbcap" --side-by-side
    [ "$status" -eq 0 ]
    same_as "$GOLDEN/stage1_garble.side"
    view --replay "$GOLDEN/stage3_len.nbcap" --side-by-side
    same_as "$GOLDEN/stage3_len.side"
}

@test "--proto json on a stage 3 capture says the header is not JSON" {
    view --replay "$GOLDEN/stage3_len.nbcap" --dump --proto json
    [ "$status" -eq 0 ]
    grep -qx '    == bad #1: header of 1092 bytes is not a JSON object' "$BATS_TEST_TMPDIR/out"
    grep -qx '    (framing lost: the bytes no longer match the json protocol)' "$BATS_TEST_TMPDIR/out"
}

@test "--html writes a self-contained page with the STALE flag" {
    view --replay "$GOLDEN/stage1_garble.nbcap" --html "$BATS_TEST_TMPDIR/page.html"
    [ "$status" -eq 0 ]
    grep -q '<span class="stale">STALE: recv #2 returned bytes of reply #1</span>' "$BATS_TEST_TMPDIR/page.html"
    grep -q '</html>' "$BATS_TEST_TMPDIR/page.html"
    # nothing fetched from elsewhere: no src=, no link rel, no url(
    run grep -Ec 'src=|<link|url\(' "$BATS_TEST_TMPDIR/page.html"
    assert_output 0
}

@test "a file that is not a capture gets a one-line error" {
    printf 'hello, I am not a capture, just some text that is long enough\n%.0s' 1 2 \
        >"$BATS_TEST_TMPDIR/bogus"
    view --replay "$BATS_TEST_TMPDIR/bogus" --dump
    [ "$status" -eq 1 ]
    [ "$(cat "$BATS_TEST_TMPDIR/err")" = \
      "nianbao-view: $BATS_TEST_TMPDIR/bogus: not a nianbao capture (bad magic at byte 0)" ]
}

@test "a capture cut in the middle of an event is reported" {
    head -c 100 "$GOLDEN/stage1_garble.nbcap" >"$BATS_TEST_TMPDIR/cut.nbcap"
    view --replay "$BATS_TEST_TMPDIR/cut.nbcap" --dump
    [ "$status" -eq 1 ]
    [ "$(cat "$BATS_TEST_TMPDIR/err")" = \
      "nianbao-view: $BATS_TEST_TMPDIR/cut.nbcap: ends in the middle of an event (100 stray bytes)" ]
}

@test "the decoder's memory does not grow with the transfer" {
    # 2000 x 64 KiB sends and recvs = 128 MiB through the decoder: max RSS
    # must stay far below the transfer (the window is 64 KiB per stream).
    python3 - "$BATS_TEST_TMPDIR/big.nbcap" <<'PY'
import struct, sys
def ev(kind, role, result, local, peer, data=b''):
    addr = lambda p: struct.pack('<HH', 2, p) + bytes([127, 0, 0, 1]) + bytes(12)
    return struct.pack('<IBBBBQqIiiI', 0x3156424e, kind, 0, 1, role, 1, result,
                       1, 3, 0, len(data)) + addr(local) + addr(peer) + data
with open(sys.argv[1], 'wb') as f:
    f.write(ev(1, 1, 0, 40000, 8080, b'client'))
    f.write(ev(2, 2, 0, 8080, 40000, b'server'))
    f.write(ev(3, 1, 3, 40000, 8080, b'big'))
    chunk = b'x' * 1024
    for i in range(2000):
        f.write(ev(3, 2, 65536, 8080, 40000, chunk))
        f.write(ev(4, 1, 65536, 40000, 8080, chunk))
PY
    peak_rss_kb "$BATS_TEST_TMPDIR/rss" \
        "$ROOT/viewer/nianbao-view" --replay "$BATS_TEST_TMPDIR/big.nbcap" --dump \
        >"$BATS_TEST_TMPDIR/out"
    grep -q 'down (server -> client): 2000 sends, 131072000 bytes sent' "$BATS_TEST_TMPDIR/out"
    rss_kb=$(cat "$BATS_TEST_TMPDIR/rss")
    echo "max RSS ${rss_kb} KiB"
    [ "$rss_kb" -lt 20000 ]
}

# keep_role ROLE IN OUT: the events of IN recorded by one end (1 client,
# 2 server), as if only that end had been tapped.
keep_role() {
    python3 - "$@" <<'PY'
import struct, sys
role, src, dst = int(sys.argv[1]), sys.argv[2], sys.argv[3]
data, out, at = open(src, 'rb').read(), bytearray(), 0
while at < len(data):
    size = 80 + struct.unpack_from('<I', data, at + 36)[0]
    if data[at + 7] == role:
        out += data[at:at + size]
    at += size
open(dst, 'wb').write(out)
PY
}

# synthetic N OUT: N short connections (connect, "ls", a 4 KiB reply, both
# close), as the tap writes them; the last one's client uses sendfile, so
# only its connect is seen.
synthetic() {
    python3 - "$@" <<'PY'
import struct, sys
n, out = int(sys.argv[1]), open(sys.argv[2], 'wb')
def addr(port): return struct.pack('<HH16s', 2, port, bytes([127, 0, 0, 1]) + bytes(12))
def ev(kind, call, role, result, pid, local, peer, data=b''):
    return struct.pack('<IBBBBQqIiiI', 0x3156424e, kind, call, 1, role, 1, result, pid, 3, 0,
                       len(data)) + local + peer + data
for i in range(n):
    cl, sv = addr(10000 + i % 50000), addr(8080 + i // 50000)
    out.write(ev(1, 11, 1, 0, 1, cl, sv, b'client'))
    if i + 1 < n:
        out.write(ev(3, 1, 1, 2, 1, cl, sv, b'ls'))
    out.write(ev(4, 6, 2, 2, 2, sv, cl, b'ls'))
    out.write(ev(3, 1, 2, 4096, 2, sv, cl, b'x' * 1024))
    if i + 1 < n:
        out.write(ev(4, 6, 1, 4096, 1, cl, sv, b'x' * 1024))
    out.write(ev(5, 14, 1, 0, 1, cl, sv))
    out.write(ev(5, 14, 2, 0, 2, sv, cl))
PY
}

# late_burst OUT SEND_NS: a client reads 2 x 1024 bytes of a 108 KB reply
# and closes at time 100000 ns; the server's 27 sends (times SEND_NS on)
# come after that close in the file, as a burst the tap flushed late does.
late_burst() {
    python3 - "$@" <<'PY'
import struct, sys
out, t_send = open(sys.argv[1], 'wb'), int(sys.argv[2])
def addr(port): return struct.pack('<HH16s', 2, port, bytes([127, 0, 0, 1]) + bytes(12))
cl, sv = addr(40000), addr(8080)
def ev(kind, role, result, t, data=b''):
    local, peer = (cl, sv) if role == 1 else (sv, cl)
    return struct.pack('<IBBBBQqIiiI', 0x3156424e, kind, 0, 1, role, t, result, role, 3, 0,
                       len(data)) + local + peer + data
reply = b''.join(b'%d\n' % i for i in range(20000))
out.write(ev(1, 1, 0, 1000, b'client'))
out.write(ev(2, 2, 0, 2000, b'server'))
out.write(ev(3, 1, 3, 3000, b'seq'))
out.write(ev(4, 2, 3, 4000, b'seq'))
out.write(ev(3, 2, 4096, 5000, reply[:1024]))
out.write(ev(4, 1, 1024, 6000, reply[:1024]))
out.write(ev(4, 1, 1024, 7000, reply[1024:2048]))
out.write(ev(5, 1, 0, 100000))
for at in range(4096, len(reply), 4096):
    n = min(4096, len(reply) - at)
    out.write(ev(3, 2, n, t_send + at // 4096, reply[at:at + 1024]))
PY
}

@test "sends recorded before the receiver closed keep the window at its reads, in whatever order they come" {
    late_burst "$BATS_TEST_TMPDIR/late.nbcap" 8000
    run "$ROOT/viewer/nianbao-view" --replay "$BATS_TEST_TMPDIR/late.nbcap" --dump
    assert_success
    assert_line '  down (server -> client): 27 sends, 108890 bytes sent; 2 recvs, 2048 bytes received; 106842 pending'
    assert_line '    ---- recv #2 returned 1024 bytes (client waiting for reply #1)'
    assert_line '    (window: the client lags; bytes from offset 65536 on are not kept yet)'
    # the same sends made after the close: nobody will read them, the window follows them
    late_burst "$BATS_TEST_TMPDIR/after.nbcap" 200000
    run "$ROOT/viewer/nianbao-view" --replay "$BATS_TEST_TMPDIR/after.nbcap" --dump
    assert_success
    assert_line '    (window: bytes before offset 43354 are no longer kept)'
    refute_line --partial 'recv #2 returned'
}

@test "a stage 1 capture of the client alone says STALE needs both ends tapped" {
    keep_role 1 "$GOLDEN/stage1_garble.nbcap" "$BATS_TEST_TMPDIR/client.nbcap"
    view --replay "$BATS_TEST_TMPDIR/client.nbcap" --dump
    [ "$status" -eq 0 ]
    grep -qx 'connection 1: client stage1_naive/client, server (not tapped), tcp, proto raw (guessed); STALE needs both ends tapped' \
        "$BATS_TEST_TMPDIR/out"
    grep -qx 'total: 3 sends, 3 recvs, 0 bytes pending, 0 STALE' "$BATS_TEST_TMPDIR/out"
}

@test "20,000 short connections decode in bounded memory, the old ones as totals" {
    synthetic 20000 "$BATS_TEST_TMPDIR/many.nbcap"
    # 370 MB before connections were freed; a 120 MB address space is plenty now
    status=0
    within_memory 120000 "$ROOT/viewer/nianbao-view" --replay "$BATS_TEST_TMPDIR/many.nbcap" --dump \
        >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || status=$?
    [ "$status" -eq 0 ]
    grep -qx 'nianbao capture: 139998 events, 20000 connections' "$BATS_TEST_TMPDIR/out"
    run grep -c '^  (totals only: bytes and spans freed, more than 64 connections)$' "$BATS_TEST_TMPDIR/out"
    assert_output 19936
    grep -qx '    ---- recv #1 returned 4096 bytes (client waiting for reply #1)' "$BATS_TEST_TMPDIR/out"
}

@test "a tapped end whose socket I/O the tap cannot see is not called untapped" {
    synthetic 1 "$BATS_TEST_TMPDIR/sendfile.nbcap"
    view --replay "$BATS_TEST_TMPDIR/sendfile.nbcap" --dump
    [ "$status" -eq 0 ]
    grep -qx '    (client tapped, no socket data calls seen: send boundaries unknown)' "$BATS_TEST_TMPDIR/out"
    grep -qx '    (client tapped, no socket data calls seen: recv boundaries unknown)' "$BATS_TEST_TMPDIR/out"
}

# craft OUT: writes the capture the Python on stdin builds with ev(...):
#   ev(kind, role, result, local_port, peer_port, data=b'', t=ns, wire=None,
#      socktype=1, call=0) -> bytes of one NBV2 event (kind: 1 connect,
#      2 accept, 3 send, 4 recv, 5 close; role 1 client, 2 server)
craft() {
    local out=$1
    { cat <<'PY'
import struct, sys
def ev(kind, role, result, local, peer, data=b'', t=1, wire=None, socktype=1, call=0, pid=None):
    addr = lambda p: struct.pack('<HH16s', 2, p, bytes([127, 0, 0, 1]) + bytes(12))
    return (struct.pack('<IBBBBQqIiiI', 0x3256424e, kind, call, socktype, role, t, result,
                        pid if pid is not None else role, 3, 0, len(data))
            + addr(local) + addr(peer) + struct.pack('<q', result if wire is None else wire) + data)
PY
      cat; } >"$BATS_TEST_TMPDIR/craft.py"
    python3 "$BATS_TEST_TMPDIR/craft.py" >"$out"
}

@test "sizes no call can have are invalid, counted, and change nothing" {
    craft "$BATS_TEST_TMPDIR/huge.nbcap" <<'PY'
out = sys.stdout.buffer
out.write(ev(1, 1, 0, 40000, 8080, b'client'))
out.write(ev(3, 1, 2, 40000, 8080, b'ls'))
out.write(ev(3, 2, 2**63 - 1, 8080, 40000, b'x'))
out.write(ev(3, 2, 2**63 - 1, 8080, 40000, b'x'))
out.write(ev(3, 2, 3, 8080, 40000, b'a.txt'))   # captured more than it moved
out.write(ev(3, 2, 6, 8080, 40000, b'a.txt\n'))
PY
    view --replay "$BATS_TEST_TMPDIR/huge.nbcap" --dump
    [ "$status" -eq 0 ]
    grep -qx '(3 invalid events ignored: sizes no call can have)' "$BATS_TEST_TMPDIR/out"
    grep -qx '  down (server -> client): 1 sends, 6 bytes sent; 0 recvs, 0 bytes received; 0 pending' \
        "$BATS_TEST_TMPDIR/out"
    view --replay "$BATS_TEST_TMPDIR/huge.nbcap" --html "$BATS_TEST_TMPDIR/huge.html"
    [ "$status" -eq 0 ]
    grep -q '<p>3 invalid events ignored: sizes no call can have</p>' "$BATS_TEST_TMPDIR/huge.html"
}

@test "JSON header numbers that are no byte count are shown as invalid" {
    craft "$BATS_TEST_TMPDIR/json.nbcap" <<'PY'
out = sys.stdout.buffer
out.write(ev(1, 1, 0, 40000, 8085, b'stage4_json_header/client'))
n = 0
for header in (b'{"total_size":0,"stdout_size":1e308,"exit_code":9223372036854775808}',
               b'{"total_size":1e308}'):
    n += 1
    out.write(ev(3, 1, 2, 40000, 8085, b'ls'))
    reply = struct.pack('<i', len(header)) + header
    out.write(ev(3, 2, len(reply), 8085, 40000, reply))
    out.write(ev(4, 1, len(reply), 40000, 8085, reply))
PY
    view --replay "$BATS_TEST_TMPDIR/json.nbcap" --dump
    [ "$status" -eq 0 ]
    grep -qx '    == header-json #1: total_size=0 stdout_size=invalid exit_code=invalid' \
        "$BATS_TEST_TMPDIR/out"
    grep -qx '    == bad #2: header has no usable total_size (total_size=invalid)' "$BATS_TEST_TMPDIR/out"
}

@test "a 38 KB capture that claims 64 replies of 16 MiB costs what it holds" {
    craft "$BATS_TEST_TMPDIR/claims.nbcap" <<'PY'
out = sys.stdout.buffer
for i in range(64):
    cl = 40000 + i
    out.write(ev(1, 1, 0, cl, 8083, b'stage3_struct_len/client'))
    out.write(ev(3, 1, 2, cl, 8083, b'ls'))
    body = struct.pack('<i', 16 * 2**20 - 4) + b'y' * 96
    out.write(ev(3, 2, 16 * 2**20, 8083, cl, body))
    out.write(ev(4, 1, 16 * 2**20, cl, 8083, body))
PY
    [ "$(stat -c %s "$BATS_TEST_TMPDIR/claims.nbcap")" -lt 40000 ]
    # max RSS 135 MB before the bytes were kept in pages; 8 MB now
    /usr/bin/time -f '%M' -o "$BATS_TEST_TMPDIR/rss" "$ROOT/viewer/nianbao-view" \
        --replay "$BATS_TEST_TMPDIR/claims.nbcap" --side-by-side >"$BATS_TEST_TMPDIR/out"
    rss_kb=$(cat "$BATS_TEST_TMPDIR/rss")
    echo "max RSS ${rss_kb} KiB"
    [ "$rss_kb" -lt 60000 ]
    run grep -c '^  v1: one recv(1024) -> 1024 bytes       | framed (len) -> 16777212 bytes$' \
        "$BATS_TEST_TMPDIR/out"
    assert_output 64
    # the 100 bytes captured of each, then one mark for the rest
    run grep -c '^  \[924 bytes not captured\] ' "$BATS_TEST_TMPDIR/out"
    assert_output 64
    run grep -c '| \[16777116 bytes not captured\]$' "$BATS_TEST_TMPDIR/out"
    assert_output 64
}

@test "bytes not captured are one mark with their true count in --dump, --html and --side-by-side" {
    craft "$BATS_TEST_TMPDIR/cap.nbcap" <<'PY'
out = sys.stdout.buffer
out.write(ev(1, 1, 0, 40000, 8080, b'stage1_naive/client'))
out.write(ev(2, 2, 0, 8080, 40000, b'stage1_naive/server'))
out.write(ev(3, 1, 2, 40000, 8080, b'ls'))
out.write(ev(4, 2, 2, 8080, 40000, b'ls'))
out.write(ev(3, 2, 6869, 8080, 40000, b'0123456789' * 2 + b'\n'))
out.write(ev(4, 1, 1024, 40000, 8080, b'0123456789' * 2 + b'\n'))
PY
    view --replay "$BATS_TEST_TMPDIR/cap.nbcap" --dump
    grep -qF '"01234567890123456789\n[1003 bytes not captured]"' "$BATS_TEST_TMPDIR/out"
    grep -qF '    @1024    +5845   send #1   pending   reply #1         "[5845 bytes not captured]"' \
        "$BATS_TEST_TMPDIR/out"
    view --replay "$BATS_TEST_TMPDIR/cap.nbcap" --html "$BATS_TEST_TMPDIR/cap.html"
    grep -qF '<span class="unk">[1003 bytes not captured]</span>' "$BATS_TEST_TMPDIR/cap.html"
    grep -qF '<span class="unk">[5845 bytes not captured]</span>' "$BATS_TEST_TMPDIR/cap.html"
    run grep -c 'middot' "$BATS_TEST_TMPDIR/cap.html"
    assert_output 0
    view --replay "$BATS_TEST_TMPDIR/cap.nbcap" --side-by-side
    grep -qF '[1003 bytes not captured]' "$BATS_TEST_TMPDIR/out"
}

@test "--html says STALE needs both ends tapped where --dump does" {
    keep_role 1 "$GOLDEN/stage1_garble.nbcap" "$BATS_TEST_TMPDIR/client.nbcap"
    view --replay "$BATS_TEST_TMPDIR/client.nbcap" --html "$BATS_TEST_TMPDIR/client.html"
    [ "$status" -eq 0 ]
    grep -qF '<h2>connection 1: stage1_naive/client &harr; (not tapped), proto raw (guessed); STALE needs both ends tapped</h2>' \
        "$BATS_TEST_TMPDIR/client.html"
    view --replay "$GOLDEN/stage1_garble.nbcap" --html "$BATS_TEST_TMPDIR/both.html"
    run grep -c 'needs both ends tapped' "$BATS_TEST_TMPDIR/both.html"
    assert_output 0
}

@test "--side-by-side with only the client tapped shows what its recvs got" {
    keep_role 1 "$GOLDEN/stage1_garble.nbcap" "$BATS_TEST_TMPDIR/client.nbcap"
    view --replay "$BATS_TEST_TMPDIR/client.nbcap" --side-by-side
    [ "$status" -eq 0 ]
    grep -qx '  v1: one recv(1024) -> 1024 bytes       | framed (raw) -> 0 bytes' "$BATS_TEST_TMPDIR/out"
    grep -qx '  1                                      | (server not tapped: reply ends unknown)' \
        "$BATS_TEST_TMPDIR/out"
    grep -qx '  v1: one recv(1024) -> 68 bytes         | framed (raw) -> 0 bytes' "$BATS_TEST_TMPDIR/out"
    run grep -c 'waits: nothing to read' "$BATS_TEST_TMPDIR/out"
    assert_output 0
}

@test "--at DIR:OFFSET prints the part of the stream around that byte, marked" {
    view --replay "$GOLDEN/stage1_garble.nbcap" --dump --at down:1030
    [ "$status" -eq 0 ]
    grep -qx "nianbao capture, byte 1030 of connection 1's down stream (as of event 14)" \
        "$BATS_TEST_TMPDIR/out"
    grep -qx "    => @1030: 0x35 '5', send #1, recv #2, reply #1" "$BATS_TEST_TMPDIR/out"
    # the mark follows the line of the span that holds the byte
    grep -B1 -x "    => @1030: .*" "$BATS_TEST_TMPDIR/out" | grep -q '^    @1024    +68 '
    run grep -c '^  up ' "$BATS_TEST_TMPDIR/out"
    assert_output 0
    view --replay "$GOLDEN/stage4_json.nbcap" --dump --at up:0 --conn 1
    [ "$status" -eq 0 ]
    grep -q "^    => @0: 0x73 's', send #1, recv #1, request #1$" "$BATS_TEST_TMPDIR/out"
}

@test "--at and --conn name what is wrong with them in one line" {
    view --replay "$GOLDEN/stage1_garble.nbcap" --dump --at down:99999
    [ "$status" -eq 1 ]
    [ "$(cat "$BATS_TEST_TMPDIR/err")" = \
      "nianbao-view: --at down:99999: the down stream of connection 1 has 1095 bytes" ]
    view --replay "$GOLDEN/stage1_garble.nbcap" --dump --at down:0 --conn 2
    [ "$status" -eq 1 ]
    [ "$(cat "$BATS_TEST_TMPDIR/err")" = "nianbao-view: --conn 2: the capture has 1 connection" ]
    view --replay "$GOLDEN/stage1_garble.nbcap" --dump --at sideways:3
    [ "$status" -eq 2 ]
    [ "$(head -1 "$BATS_TEST_TMPDIR/err")" = \
      "nianbao-view: --at wants DIR:OFFSET, DIR up or down, e.g. down:1024, not 'sideways:3'" ]
    view --replay "$GOLDEN/stage1_garble.nbcap" --side-by-side --at down:3
    [ "$status" -eq 2 ]
    [ "$(head -1 "$BATS_TEST_TMPDIR/err")" = \
      "nianbao-view: --at goes with --replay FILE (the screen or --dump)" ]
}

@test "--dump -v marks a wait of 10 ms or more between two calls, with its length" {
    craft "$BATS_TEST_TMPDIR/nagle.nbcap" <<'PY'
out = sys.stdout.buffer
ms = 1000000
out.write(ev(1, 1, 0, 40000, 8081, b'client', t=1 * ms))
out.write(ev(2, 2, 0, 8081, 40000, b'server', t=1 * ms))
out.write(ev(3, 1, 4, 40000, 8081, b'head', t=2 * ms))
out.write(ev(3, 1, 4, 40000, 8081, b'body', t=2 * ms + 5000))
out.write(ev(4, 2, 4, 8081, 40000, b'head', t=2 * ms + 9000))
out.write(ev(4, 2, 4, 8081, 40000, b'body', t=42 * ms + 300000))
PY
    view --replay "$BATS_TEST_TMPDIR/nagle.nbcap" --dump -v
    [ "$status" -eq 0 ]
    grep -qx '    .... 40.3 ms since recv #1' "$BATS_TEST_TMPDIR/out"
    grep -B1 -x '    .... 40.3 ms since recv #1' "$BATS_TEST_TMPDIR/out" | grep -q 'recv #1 returned 4 bytes'
    run grep -c 'ms since send' "$BATS_TEST_TMPDIR/out"
    assert_output 0
    # without -v the dump stays free of times, as the golden files are
    view --replay "$BATS_TEST_TMPDIR/nagle.nbcap" --dump
    run grep -c ' ms' "$BATS_TEST_TMPDIR/out"
    assert_output 0
}

# The README's stage 6 picture (make screenshots) is drawn from this capture:
# a stage 5 client's exec and another's get, at once, through one poll server.
@test "--dump of two stage 6 clients at once shows two connections, an exec and a get" {
    view --replay "$GOLDEN/stage6_two.nbcap" --dump
    assert_equal "$status" 0
    same_as "$GOLDEN/stage6_two.dump"
    grep -qx 'nianbao capture: [0-9]* events, 2 connections' "$BATS_TEST_TMPDIR/out"
    grep -qx '    @27      +41     send #1   recv #1   body #1          "sleep 0.5; echo one; sleep 0.3; echo done"' \
        "$BATS_TEST_TMPDIR/out"
    grep -qx '    == header-json #1: op=get name=notes.txt size=0' "$BATS_TEST_TMPDIR/out"
    [ "$(grep -c '^connection [12]: client stage5_file_transfer/client, server stage6_concurrent/poll, tcp, proto ft (guessed)$' \
        "$BATS_TEST_TMPDIR/out")" -eq 2 ]
}

@test "--dump of a stage 5 session frames requests and replies alike" {
    view --replay "$GOLDEN/stage5_ft.nbcap" --dump
    assert_equal "$status" 0
    same_as "$GOLDEN/stage5_ft.dump"
    grep -qx 'connection 1: client stage5_file_transfer/client, server stage5_file_transfer/server, tcp, proto ft (guessed)' "$BATS_TEST_TMPDIR/out"
    # requests: header length, header, body (the command), each its own recv
    grep -qx '    == header-len #1: header length 22' "$BATS_TEST_TMPDIR/out"
    grep -qx '    == header-json #1: op=exec size=7' "$BATS_TEST_TMPDIR/out"
    grep -qx '    @26      +7      send #1   recv #3   body #1          "echo hi"' "$BATS_TEST_TMPDIR/out"
    grep -qx '    == header-json #2: op=put name=up.txt file_size=8 size=0' "$BATS_TEST_TMPDIR/out"
    # replies: one request, several frames (output, then exit), nothing STALE
    grep -qx '    == header-json #1: op=output stream=stdout size=3' "$BATS_TEST_TMPDIR/out"
    grep -qx 'total: 13 sends, 18 recvs, 0 bytes pending, 0 STALE' "$BATS_TEST_TMPDIR/out"
}

@test "--side-by-side of a stage 5 session shows each request's frames next to its reply's" {
    view --replay "$GOLDEN/stage5_ft.nbcap" --side-by-side
    assert_equal "$status" 0
    same_as "$GOLDEN/stage5_ft.side"
}

@test "--html of a stage 5 session names each header length, both ways" {
    view --replay "$GOLDEN/stage5_ft.nbcap" --html "$BATS_TEST_TMPDIR/page.html"
    assert_equal "$status" 0
    run grep -o '<span class="tag">\[hdr [0-9]*\]</span>' "$BATS_TEST_TMPDIR/page.html"
    assert_line --index 0 '<span class="tag">[hdr 22]</span>'
    assert_line --index 1 '<span class="tag">[hdr 51]</span>'
    assert_equal "${#lines[@]}" 11
    grep -qF '<p class="header-json">header-json #1: op=exec size=7</p>' "$BATS_TEST_TMPDIR/page.html"
}

@test "--proto ft and --proto stage5 force stage 5's framing; a stage 4 capture then has a bad length" {
    view --replay "$GOLDEN/stage4_json.nbcap" --dump --proto stage5
    assert_equal "$status" 0
    grep -q '^connection 1: .*, proto ft$' "$BATS_TEST_TMPDIR/out"
    grep -qE '^    == bad #1: header length [0-9]+ is too big to be right$' "$BATS_TEST_TMPDIR/out"
    grep -qx '    (framing lost: the bytes no longer match the ft protocol)' "$BATS_TEST_TMPDIR/out"
    view --replay "$GOLDEN/stage5_ft.nbcap" --dump --proto ft
    grep -q '^connection 1: .*, proto ft$' "$BATS_TEST_TMPDIR/out"
}

# Under a second: a crafted capture whose stage 5 reply names a file with
# C1 CSI (U+009B) and a right-to-left override (U+202E) in its JSON.
@test "C1 and bidirectional controls in a capture's JSON strings reach no screen from --dump or --side-by-side" {
    craft "$BATS_TEST_TMPDIR/c1.nbcap" <<'PY'
out = sys.stdout.buffer
out.write(ev(1, 1, 0, 40000, 8086, b'stage5_file_transfer/client'))
out.write(ev(2, 2, 0, 8086, 40000, b'stage5_file_transfer/server'))
def frame(header):
    return struct.pack('>I', len(header)) + header
req = frame(b'{"op":"get","name":"a","size":0}')
out.write(ev(3, 1, len(req), 40000, 8086, req))
out.write(ev(4, 2, len(req), 8086, 40000, req))
rep = frame('{"op":"file","name":"\u009b31m\u202eevil","file_size":0,"offset":0,"size":0}'.encode())
out.write(ev(3, 2, len(rep), 8086, 40000, rep))
out.write(ev(4, 1, len(rep), 40000, 8086, rep))
PY
    view --replay "$BATS_TEST_TMPDIR/c1.nbcap" --dump
    assert_equal "$status" 0
    grep -qxF '    == header-json #1: op=file name=\xc2\x9b31m\xe2\x80\xaeevil file_size=0 offset=0 size=0' \
        "$BATS_TEST_TMPDIR/out"
    run grep -c $'\xc2\x9b\\|\xe2\x80\xae' "$BATS_TEST_TMPDIR/out"
    assert_output 0
    view --replay "$BATS_TEST_TMPDIR/c1.nbcap" --side-by-side
    assert_equal "$status" 0
    grep -qF '| [hdr 69] op=file name=\xc2\x9b31m' "$BATS_TEST_TMPDIR/out"
    run grep -c $'\xc2\x9b\\|\xe2\x80\xae' "$BATS_TEST_TMPDIR/out"
    assert_output 0
}

@test "a stage 6 server's connection is guessed as stage 5's framing, both ways" {
    mkdir "$BATS_TEST_TMPDIR/root"
    local cap="$BATS_TEST_TMPDIR/s6.nbcap"
    start_server srv env NIANBAO_TAP_BUFFER=0 LD_PRELOAD="$ROOT/viewer/libnianbao-tap.so" \
        NIANBAO_TAP="$cap" "$ROOT/stage6_concurrent/poll" --port 0 --root "$BATS_TEST_TMPDIR/root"
    NIANBAO_TAP_BUFFER=0 LD_PRELOAD="$ROOT/viewer/libnianbao-tap.so" NIANBAO_TAP="$cap" \
        "$ROOT/stage5_file_transfer/client" --port "$srv_port" exec echo six >"$BATS_TEST_TMPDIR/c.out"
    assert_equal "$(cat "$BATS_TEST_TMPDIR/c.out")" six
    view --replay "$cap" --dump
    assert_equal "$status" 0
    grep -q '^connection 1: client stage5_file_transfer/client, server stage6_concurrent/poll, tcp, proto ft (guessed)$' "$BATS_TEST_TMPDIR/out"
    grep -qx '    == header-json #1: op=exec size=8' "$BATS_TEST_TMPDIR/out"
    grep -qx '    == header-json #1: op=output stream=stdout size=4' "$BATS_TEST_TMPDIR/out"
}
