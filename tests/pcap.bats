#!/usr/bin/env bats
# nianbao-view --pcap: a capture as a pcap file, and tools/nianbao.lua, the
# dissector that shows the stage 3, 4 and 5 frames in Wireshark and tshark.
# tshark is the Debian package tshark; the tests that need it skip without.

bats_require_minimum_version 1.5.0

setup() {
    load 'test_helper/common-setup'
    _common_setup
    VIEW="$ROOT/viewer/nianbao-view"
    LUA="$ROOT/tools/nianbao.lua"
    cd "$BATS_TEST_TMPDIR"
}
teardown() { _common_teardown; }

need_tshark() {
    command -v tshark >/dev/null || skip "tshark is not installed (Debian package tshark)"
}

# fields PCAP DECODE-AS FIELD...: tshark's fields, tab-separated, one line
# per frame that has any of them.
fields() {
    local pcap=$1 decode=$2
    shift 2
    local args=() f
    for f in "$@"; do args+=(-e "$f"); done
    tshark -r "$pcap" -X "lua_script:$LUA" -d "$decode" -T fields "${args[@]}" 2>/dev/null |
        grep -v '^[[:space:]]*$'
}

# server_port CAPTURE: the server's port, as the viewer's dump names it.
server_port() {
    "$VIEW" --replay "$1" --dump -v | sed -n 's/^  server [0-9.]*:\([0-9]*\) .*/\1/p' | head -1
}

# make_capture OUT SPEC...: writes a capture (capture/capture.h) of one
# connection 127.0.0.1:40000 -> 127.0.0.1:8099, both ends tapped; each SPEC
# is "c:HEX" (the client sends these bytes) or "s:HEX" (the server does),
# each send received whole by the other end.
make_capture() {
    python3 - "$@" <<'EOF'
import struct, sys
out, specs = sys.argv[1], sys.argv[2:]
client = (2, 40000, bytes([127, 0, 0, 1]) + bytes(12))
server = (2, 8099, bytes([127, 0, 0, 1]) + bytes(12))
t = [1_700_000_000_000_000_000]
def event(kind, call, role, result, pid, fd, local, peer, data=b''):
    t[0] += 1000
    addr = lambda a: struct.pack('<HH16s', *a)
    return struct.pack('<IBBBBQqIiiI', 0x3156424e, kind, call, 1, role, t[0], result, pid,
                       fd, 0, len(data)) + addr(local) + addr(peer) + data
with open(out, 'wb') as f:
    f.write(event(1, 11, 1, 3, 100, 3, client, server, b'client'))
    f.write(event(2, 13, 2, 4, 200, 4, server, client, b'server'))
    for spec in specs:
        who, data = spec.split(':')
        data = bytes.fromhex(data)
        c = who == 'c'
        f.write(event(3, 1, 1 if c else 2, len(data), 100 if c else 200, 3 if c else 4,
                      client if c else server, server if c else client, data))
        f.write(event(4, 6, 2 if c else 1, len(data), 200 if c else 100, 4 if c else 3,
                      server if c else client, client if c else server, data))
    f.write(event(5, 14, 1, 0, 100, 3, client, server))
    f.write(event(4, 6, 2, 0, 200, 4, server, client))
    f.write(event(5, 14, 2, 0, 200, 4, server, client))
EOF
}

@test "--pcap writes the golden stage 3 capture as packets: handshake, a segment per send, FINs" {
    need_tshark
    run "$VIEW" --replay "$ROOT/tests/golden/stage3_len.nbcap" --pcap s3.pcap
    assert_success
    assert_output ''
    run --separate-stderr tshark -r s3.pcap -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE -T fields \
        -e tcp.flags -e tcp.len -e tcp.seq -e tcp.ack -e ip.checksum.status -e tcp.checksum.status
    assert_success
    # SYN, SYN-ACK, ACK; 3 requests and 7 reply sends as the dump lists them;
    # a FIN each way; every checksum good (status 1).
    assert_equal "$(cut -f2 <<<"$output" | tr '\n' ' ')" "0 0 0 9 4 1092 7 4 3 23 4 4 5 0 0 "
    # Relative sequence numbers: the SYN is 0, the data counts from 1; the
    # client's FIN comes after its 39 bytes and acknowledges the 1116 of the
    # replies (and the server's SYN).
    assert_line --index 0 $'0x0002\t0\t0\t0\t1\t1'
    assert_line --index 1 $'0x0012\t0\t0\t1\t1\t1'
    assert_line --index 3 $'0x0018\t9\t1\t1\t1\t1'
    assert_line --index 13 $'0x0011\t0\t40\t1117\t1\t1'
    refute_line --regexp $'\t[02]\t[012]$'
}

@test "the dissector shows the stage 3 replies and requests of the golden capture" {
    need_tshark
    "$VIEW" --replay "$ROOT/tests/golden/stage3_len.nbcap" --pcap s3.pcap
    port=$(server_port "$ROOT/tests/golden/stage3_len.nbcap")
    run fields s3.pcap "tcp.port==$port,nianbao3" nianbao3.request nianbao3.length
    assert_success
    assert_output $'seq 1 300\t\n\t1092\necho hi\t\n\t3\necho bye; echo oops >&2\t\n\t9'
}

@test "the dissector shows the stage 4 header fields of the golden capture" {
    need_tshark
    "$VIEW" --replay "$ROOT/tests/golden/stage4_json.nbcap" --pcap s4.pcap
    port=$(server_port "$ROOT/tests/golden/stage4_json.nbcap")
    run fields s4.pcap "tcp.port==$port,nianbao4" nianbao4.header_length nianbao4.file_name \
        nianbao4.total_size nianbao4.stdout_size nianbao4.exit_code nianbao4.md5
    assert_success
    assert_line $'113\ta.txt\t1092\t1092\t0\tbf4fa7116e26846bba3502a134f9bcba'
    assert_line $'107\ta.txt\t3\t3\t0\t764efa883dda1e11db47671c4a3bbd9e'
    assert_line $'107\ta.txt\t9\t4\t0\td17488f68641ab378eb501bed94eafdf'
    # The md5 the header gives is the body's.
    printf 'hi\n' | md5sum | grep -q '^764efa883dda1e11db47671c4a3bbd9e '
}

@test "a reply sent one byte at a time is reassembled into one frame" {
    need_tshark
    # length 5, then "hello", one send per byte; then one send of "\x02\0\0\0ok"
    local specs=(c:6563686f)
    for b in 05 00 00 00 68 65 6c 6c 6f; do specs+=("s:$b"); done
    specs+=(c:6563686f s:020000006f6b)
    make_capture dribble.nbcap "${specs[@]}"
    "$VIEW" --replay dribble.nbcap --pcap dribble.pcap
    run fields dribble.pcap "tcp.port==8099,nianbao3" frame.number nianbao3.length nianbao3.body
    assert_success
    # Frame 4 is the request; the reply's 9 segments are frames 5..13, the
    # dissector shows it whole on the last one.
    assert_line $'13\t5\t68656c6c6f'
    assert_line $'15\t2\t6f6b'
    [ "$(grep -c $'\t5\t' <<<"$output")" -eq 1 ]
}

@test "the dissector shows stage 5 frames in both directions, big-endian lengths" {
    need_tshark
    # FRAME HEADER: the header's length (4 bytes, big-endian), then the header.
    frame() { printf '%08x' "${#1}"; printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
    local exec='{"op":"exec","size":7}' out='{"op":"output","stream":"stdout","size":3}'
    local done='{"op":"exit","exit_code":0,"size":0}'
    make_capture s5.nbcap "c:$(frame "$exec")6563686f206869" "s:$(frame "$out")68690a" \
        "s:$(frame "$done")"
    "$VIEW" --replay s5.nbcap --pcap s5.pcap
    run fields s5.pcap "tcp.port==8099,nianbao5" nianbao5.direction nianbao5.header_length \
        nianbao5.op nianbao5.size nianbao5.body
    assert_success
    assert_line --index 0 "$(printf 'client to server\t%d\texec\t7\t6563686f206869' "${#exec}")"
    assert_line --index 1 "$(printf 'server to client\t%d\toutput\t3\t68690a' "${#out}")"
    assert_line --index 2 "$(printf 'server to client\t%d\texit\t0\t' "${#done}")"
    [ "${#lines[@]}" -eq 3 ]
}

@test "a length that cannot be right is flagged, with its bytes shown as text" {
    need_tshark
    # The grader keeps the capture of a failed scenario: here the starter
    # client meets an HTTP status line where the length goes.
    run "$ROOT/tools/grade" client --proto stage3 --only text-as-length --seed 3 -- \
        "$ROOT/exercises/stage3/client" '{port}'
    assert_failure 1
    capture=grade-captures/client-stage3-text-as-length-seed3.nbcap
    "$VIEW" --replay "$capture" --pcap bad.pcap
    port=$(server_port "$capture")
    run --separate-stderr tshark -r bad.pcap -X "lua_script:$LUA" -d "tcp.port==$port,nianbao3" -V
    assert_success
    assert_line --regexp '^ +\[Expert Info \(Error/Malformed\): reply length [0-9]+ \(bytes [0-9a-f ]+ "[ -~]+"\) is out of range 0\.\.268435456: is the peer speaking another protocol\?\]$'
    run --separate-stderr tshark -r bad.pcap -X "lua_script:$LUA" -d "tcp.port==$port,nianbao3"
    assert_line --partial 'NIANBAO3'
    assert_line --partial 'not a reply: bad length'
}

@test "--pcap needs --replay, and says so when it cannot write" {
    run "$VIEW" --pcap out.pcap
    assert_failure 2
    assert_line --index 0 "nianbao-view: choose one of --lesson, --replay FILE, or -- PROG (--record, --dump, --html, --pcap and --side-by-side go with them)"
    run "$VIEW" --replay "$ROOT/tests/golden/stage3_len.nbcap" --pcap /nonexistent/dir/out.pcap
    assert_failure 1
    assert_output 'nianbao-view: cannot write /nonexistent/dir/out.pcap: No such file or directory'
}

@test "a pcap file starts with the classic header and the raw-IP link type" {
    run "$VIEW" --replay "$ROOT/tests/golden/stage1_garble.nbcap" --pcap s1.pcap
    assert_success
    # magic a1b2c3d4 (host order, little-endian here), version 2.4, link type 101.
    run od -An -tx1 -N24 s1.pcap
    assert_output ' d4 c3 b2 a1 02 00 04 00 00 00 00 00 00 00 00 00
 ff ff 00 00 65 00 00 00'
}

# craft_capture OUT <<'PY': the capture the Python on stdin writes with
# ev(kind, role, result, local_port, peer_port, data=b'') (kinds: 1 connect,
# 2 accept, 3 send, 5 close; role 1 client, 2 server), 127.0.0.1 both ends.
craft_capture() {
    { cat <<'PY'
import struct, sys
out = sys.stdout.buffer
def ev(kind, role, result, local, peer, data=b''):
    addr = lambda p: struct.pack('<HH16s', 2, p, bytes([127, 0, 0, 1]) + bytes(12))
    return (struct.pack('<IBBBBQqIiiI', 0x3256424e, kind, 0, 1, role, 1, result, role, 3, 0,
                        len(data)) + addr(local) + addr(peer) + struct.pack('<q', result) + data)
PY
      cat; } >craft.py
    python3 craft.py >"$1"
}

# pcap_records PCAP: one line per packet: captured bytes, then its length.
pcap_records() {
    python3 - "$1" <<'PY'
import struct, sys
d = open(sys.argv[1], 'rb').read()
at = 24
while at < len(d):
    _, _, cap, orig = struct.unpack('<IIII', d[at:at + 16])
    print(cap, orig)
    at += 16 + cap
PY
}

# Under a second. A 183-byte capture whose one send claims 2^62 bytes
# wrote 6 GB in 60 s and was still going; the writer is held to 1 MB here
# (ulimit -f) so that the old one fails fast instead of filling the disk.
@test "a send that claims more than any call moves is refused in one line, and no pcap is written" {
    craft_capture huge.nbcap <<'PY'
out.write(ev(1, 1, 0, 40000, 8083, b'client'))
out.write(ev(3, 1, 2**62, 40000, 8083, b'x'))
PY
    [ "$(stat -c %s huge.nbcap)" -eq 183 ]
    run bash -c 'ulimit -f 1024; exec "$0" --replay huge.nbcap --pcap huge.pcap' "$VIEW"
    assert_failure 1
    assert_output 'nianbao-view: huge.nbcap: event 2 is a send of 4611686018427387904 bytes, more than one call can move (1099511627776): no pcap written'
    [ ! -e huge.pcap ]
}

# Under a second. A send of 2^40 bytes (the most a call may claim) with one
# byte captured was 16.9 million segments, 1.3 GB of pcap; one of 200000
# bytes with 60000 captured, four. Past the segments that hold captured
# bytes, the rest is one segment after a gap in the sequence numbers.
@test "a send longer than what was captured grows the pcap by what was captured, not by its claim" {
    craft_capture big.nbcap <<'PY'
out.write(ev(1, 1, 0, 40000, 8083, b'client'))
out.write(ev(2, 2, 0, 8083, 40000, b'server'))
out.write(ev(3, 1, 2**40, 40000, 8083, b'x'))
out.write(ev(3, 2, 200000, 8083, 40000, b'y' * 60000))
out.write(ev(5, 1, 0, 40000, 8083))
out.write(ev(5, 2, 0, 8083, 40000))
PY
    run bash -c 'ulimit -f 1024; exec "$0" --replay big.nbcap --pcap big.pcap' "$VIEW"
    assert_success
    run pcap_records big.pcap
    # handshake; the client's send: the segment with its captured byte,
    # then the last 32776 bytes; the server's: 65000 with 60000 captured,
    # then the last 5000; a FIN each way.
    assert_output '40 40
40 40
40 40
41 65040
40 32816
60040 65040
40 5040
40 40
40 40'
}
