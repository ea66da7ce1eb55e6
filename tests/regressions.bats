#!/usr/bin/env bats
# Bugs the suite once let through. The suite was mutation-tested (issue 8):
# each test here failed with one of the deliberate bugs that survived, and
# passes without it. They check what a user sees, not how the programs do
# it, so a rewrite of the servers keeps them meaningful.

bats_require_minimum_version 1.5.0

# start_server sets NAME_port/NAME_pid:
# shellcheck disable=SC2154
setup() { load 'test_helper/common-setup'; _common_setup; }
teardown() { _common_teardown; }

# le32 N: N as a 4-byte little-endian length field.
le32() {
    local n=$(($1 & 0xffffffff))
    printf '%b' "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' \
        $((n & 255)) $((n >> 8 & 255)) $((n >> 16 & 255)) $((n >> 24 & 255)))"
}

# frame STAGE BODY: BODY as one reply of STAGE (3: length + body; 4: header
# length, a header with the body's real MD5, the body), on stdout.
frame() {
    local md5 header
    case $1 in
    3) le32 "${#2}"; printf '%s' "$2" ;;
    4)
        md5=$(printf '%s' "$2" | md5sum | cut -d' ' -f1)
        header=$(printf '{"file_name":"a.txt","total_size":%d,"md5":"%s","stdout_size":%d,"exit_code":0}' \
            "${#2}" "$md5" "${#2}")
        le32 "${#header}"; printf '%s%s' "$header" "$2"
        ;;
    esac
}

# client_of STAGE: the client program of stage 1, 3 or 4.
client_of() { echo "$ROOT/$(stage_dir "$1")/client"; }

# ---- a client reads only its own reply ----

two_replies_at_once() {
    # Every request is answered with two framed replies in one send, so the
    # second is already in the client's socket while it reads the first.
    { frame "$1" $'first\n'; frame "$1" $'second reply\n'; } >"$BATS_TEST_TMPDIR/two"
    start_server fake "$ROOT/tools/canned" --reply "$BATS_TEST_TMPDIR/two" --keep-open
    run --separate-stderr timeout 10 "$(client_of "$1")" -p "$fake_port" <<<$'one\ntwo'
    assert_success
    assert_output $'first\nsecond reply'
    assert_equal "$stderr" ""
}

@test "stage 3: with two framed replies waiting in the socket, the client prints exactly both bodies" {
    two_replies_at_once 3
}
@test "stage 4: with two framed replies waiting in the socket, the client prints exactly both bodies" {
    two_replies_at_once 4
}

# ---- fixed-size fields read by a loop, proved without timing ----

# dribbled STAGE SIZES REPLY_BODY: a peer sends one reply of STAGE in pieces
# of SIZES, each only after the client has read the one before; the client
# must print the body whole.
dribbled() {
    frame "$1" "$3" >"$BATS_TEST_TMPDIR/reply"
    start_server fake python3 -B "$ROOT/tests/py/dribble_peer.py" "$BATS_TEST_TMPDIR/reply" "$2"
    run --separate-stderr timeout 20 "$(client_of "$1")" -p "$fake_port" <<<'ls'
    assert_success
    assert_output "$3"
    assert_equal "$stderr" ""
}

@test "stage 3: a length field read one byte at a time (each byte read before the next is sent) is put together" {
    dribbled 3 1 'hello, the length came in four reads'
}
@test "stage 4: a header length and header read in 1..3-byte reads are put together" {
    dribbled 4 1,2,3,1,3,2 'hello, the header came in pieces'
}

# ---- the server's limits mean what they say ----

@test "a command is killed at --timeout 0.3, well before 10 s, in every stage" {
    local stage start elapsed_ms
    for stage in $(stages_framed raw len json); do
        start_server srv "$ROOT/$(stage_dir "$stage")/server" --port 0 --timeout 0.3
        start=$(date +%s%N)
        run_client "$stage" "$srv_port" $'sleep 30\n' 20
        elapsed_ms=$((($(date +%s%N) - start) / 1000000))
        echo "stage $stage: the reply to sleep 30 came after $elapsed_ms ms"
        assert_equal "$status" 0
        grep -qF 'nianbao: command killed after 0.3 s (timeout)' "$BATS_TEST_TMPDIR/out" "$BATS_TEST_TMPDIR/err"
        # 0.3 s and the time to answer; 10 s would be the default, ignored --timeout.
        [ "$elapsed_ms" -ge 300 ]
        [ "$elapsed_ms" -lt 8000 ]
        kill "$srv_pid"
    done
}

@test "a command that ends before --timeout is not killed" {
    start_server srv "$ROOT/stage4_json_header/server" --port 0 --timeout 10
    run_client 4 "$srv_port" $'sleep 0.5; echo done\n'
    assert_equal "$status" 0
    expect_bytes "$BATS_TEST_TMPDIR/out" 'done\n'
    expect_bytes "$BATS_TEST_TMPDIR/err" ''
}

max_output_edge() {
    local stage=$1
    start_server srv "$ROOT/$(stage_dir "$stage")/server" --port 0 --max-output 1000
    # Exactly --max-output bytes: all of them, no note.
    run_client "$stage" "$srv_port" $'head -c 1000 /dev/zero | tr "\\0" a\n'
    assert_equal "$status" 0
    head -c 1000 /dev/zero | tr '\0' a >"$BATS_TEST_TMPDIR/want"
    same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
    expect_bytes "$BATS_TEST_TMPDIR/err" ''
    # One byte more: cut, with the note, output and note 1000 bytes in all.
    run_client "$stage" "$srv_port" $'head -c 1001 /dev/zero | tr "\\0" a\n'
    assert_equal "$status" 0
    local note='nianbao: output cut to fit --max-output 1000' total
    if [ "$stage" = 3 ]; then
        total=$(wc -c <"$BATS_TEST_TMPDIR/out")
        tail -c $((${#note} + 1)) "$BATS_TEST_TMPDIR/out" >"$BATS_TEST_TMPDIR/tail"
        expect_bytes "$BATS_TEST_TMPDIR/tail" '%s\n' "$note"
    else
        total=$(($(wc -c <"$BATS_TEST_TMPDIR/out") + $(wc -c <"$BATS_TEST_TMPDIR/err")))
        expect_bytes "$BATS_TEST_TMPDIR/err" '%s\n' "$note"
    fi
    assert_equal "$total" 1000
    # what was kept is the start of the output
    head -c $((1000 - ${#note} - 1)) /dev/zero | tr '\0' a >"$BATS_TEST_TMPDIR/want"
    head -c $((1000 - ${#note} - 1)) "$BATS_TEST_TMPDIR/out" >"$BATS_TEST_TMPDIR/kept"
    same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/kept"
}

@test "stage 3: output of exactly --max-output bytes is whole; one byte more is cut and says so" {
    max_output_edge 3
}
@test "stage 4: output of exactly --max-output bytes is whole; one byte more is cut and says so" {
    max_output_edge 4
}

@test "a command's pipeline ends quietly on SIGPIPE: yes | head -n 2 prints y, y and nothing on stderr" {
    local stage
    for stage in $(stages_framed raw len json); do
        start_server srv "$ROOT/$(stage_dir "$stage")/server" --port 0
        run_client "$stage" "$srv_port" $'yes | head -n 2\n'
        assert_equal "$status" 0
        case $stage in
        1) expect_bytes "$BATS_TEST_TMPDIR/out" 'y\ny\n\n' ;;
        *) expect_bytes "$BATS_TEST_TMPDIR/out" 'y\ny\n' ;;
        esac
        expect_bytes "$BATS_TEST_TMPDIR/err" ''
        kill "$srv_pid"
    done
}

@test "1 MiB written to stderr before anything to stdout comes back whole, without a timeout" {
    local stage
    for stage in $(stages_framed len json); do
        start_server srv "$ROOT/$(stage_dir "$stage")/server" --port 0 --timeout 5
        run_client "$stage" "$srv_port" $'head -c 1048576 /dev/zero | tr "\\0" e >&2; echo done\n'
        assert_equal "$status" 0
        head -c 1048576 /dev/zero | tr '\0' e >"$BATS_TEST_TMPDIR/es"
        if [ "$stage" = 3 ]; then
            { echo done; cat "$BATS_TEST_TMPDIR/es"; } >"$BATS_TEST_TMPDIR/want"
            same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
        else
            expect_bytes "$BATS_TEST_TMPDIR/out" 'done\n'
            same_bytes "$BATS_TEST_TMPDIR/es" "$BATS_TEST_TMPDIR/err"
        fi
        kill "$srv_pid"
    done
}

# slow_reader PORT STAGE BYTES: a client that sends `head -c BYTES
# /dev/zero` and reads the reply at most 64 KiB at a time, 5 ms apart,
# with a small receive buffer; prints how many body bytes came and whether
# they were all zeros.
slow_reader() {
    python3 -c '
import socket, struct, sys, time, json
port, stage, want = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.connect(("127.0.0.1", port))
s.settimeout(10)
s.sendall(b"head -c %d /dev/zero" % want)
def take(n):
    got = bytearray()
    while len(got) < n:
        piece = s.recv(min(65536, n - len(got)))
        if not piece:
            break
        got += piece
        time.sleep(0.005)
    return bytes(got)
if stage == "3":
    body = take(struct.unpack("<i", take(4))[0])
elif stage == "4":
    header = json.loads(take(struct.unpack("<i", take(4))[0]))
    body = take(header["total_size"])
else:
    body = take(want)
print(len(body), body.count(0) == len(body))
' "$@" 3>&-
}

@test "a client that reads slowly but steadily gets its whole reply, though it takes longer than --timeout" {
    local stage
    for stage in $(stages_framed raw len json); do
        start_server srv "$ROOT/$(stage_dir "$stage")/server" --port 0 --timeout 0.5
        # 16 MiB at 12 MiB/s or less: the server's socket buffer (4 MiB at
        # most) holds a part, the rest takes 1 s or more to go, twice
        # --timeout, with progress all the time (a pause of 5 ms, not 0.5 s).
        run timeout 60 bash -c "$(declare -f slow_reader); slow_reader $srv_port $stage 16777216"
        assert_success
        assert_output "16777216 True"
        kill "$srv_pid"
    done
}

# ---- stage 4's header check ----

@test "stage 4: an upper-case MD5 that does not match the body is refused; one that matches is accepted" {
    local header
    header='{"file_name":"a.txt","total_size":6,"md5":"B1946AC92492D2347C6235B4D2611185","stdout_size":6,"exit_code":0}'
    { le32 "${#header}"; printf '%s' "$header" 'hello!'; } >"$BATS_TEST_TMPDIR/bad"
    start_server fake "$ROOT/tools/canned" --reply "$BATS_TEST_TMPDIR/bad"
    run --separate-stderr timeout 10 "$ROOT/stage4_json_header/client" -p "$fake_port" <<<'ls'
    assert_failure 1
    assert_equal "$stderr" "client: md5 mismatch: header says B1946AC92492D2347C6235B4D2611185, body is $(printf 'hello!' | md5sum | cut -d' ' -f1)"

    local md5
    md5=$(printf 'hello!' | md5sum | cut -d' ' -f1 | tr a-f A-F)
    header="{\"file_name\":\"a.txt\",\"total_size\":6,\"md5\":\"$md5\",\"stdout_size\":6,\"exit_code\":0}"
    { le32 "${#header}"; printf '%s' "$header" 'hello!'; } >"$BATS_TEST_TMPDIR/good"
    start_server fake2 "$ROOT/tools/canned" --reply "$BATS_TEST_TMPDIR/good"
    run --separate-stderr timeout 10 "$ROOT/stage4_json_header/client" -p "$fake2_port" <<<'ls'
    assert_success
    assert_output 'hello!'
    assert_equal "$stderr" ""
}

@test "stage 4: a body changed on the way (same size) is refused by its MD5, whichever part it is in" {
    local stage_out=$'out\n' stage_err=$'err\n' header md5
    md5=$(printf '%s%s' "$stage_out" "$stage_err" | md5sum | cut -d' ' -f1)
    header="{\"file_name\":\"a.txt\",\"total_size\":8,\"md5\":\"$md5\",\"stdout_size\":4,\"exit_code\":0}"
    # the stderr part's first byte changed: e -> E
    { le32 "${#header}"; printf '%s%s' "$header" "$stage_out" $'Err\n'; } >"$BATS_TEST_TMPDIR/bad"
    start_server fake "$ROOT/tools/canned" --reply "$BATS_TEST_TMPDIR/bad"
    run --separate-stderr timeout 10 "$ROOT/stage4_json_header/client" -p "$fake_port" <<<'ls'
    assert_failure 1
    assert_output 'out'
    assert_equal "${stderr_lines[0]}" 'Err'
    assert_equal "${stderr_lines[1]}" "client: md5 mismatch: header says $md5, body is $(printf 'out\nErr\n' | md5sum | cut -d' ' -f1)"
}

# ---- the slicer's seed ----

@test "the slicer's cuts follow --seed: the same seed gives the same pieces, another seed others" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0
    local seed run
    for run in a b c; do
        case $run in a | b) seed=5 ;; c) seed=6 ;; esac
        start_server "slicer_$run" "$ROOT/tools/slicer" --to "127.0.0.1:$srv_port" --seed "$seed" --log
        local port_var="slicer_${run}_port"
        run_client 3 "${!port_var}" $'seq 1 200\n'
        assert_equal "$status" 0
        seq 1 200 >"$BATS_TEST_TMPDIR/want"
        same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
        wait_for_log "slicer_$run" '^conn 1: down done'
        # piece number and size; a piece sent in two parts (its bytes were
        # not all there yet, a matter of timing) is logged "N of SIZE".
        sed -nE 's/^conn 1: down #([0-9]+): ([0-9]+ of )?([0-9]+) bytes?( .*)?$/\1 \3/p' \
            "$BATS_TEST_TMPDIR/slicer_$run.log" | uniq >"$BATS_TEST_TMPDIR/cuts_$run"
    done
    echo "seed 5: $(wc -l <"$BATS_TEST_TMPDIR/cuts_a") pieces; seed 6: $(wc -l <"$BATS_TEST_TMPDIR/cuts_c")"
    cmp "$BATS_TEST_TMPDIR/cuts_a" "$BATS_TEST_TMPDIR/cuts_b"
    ! cmp -s "$BATS_TEST_TMPDIR/cuts_a" "$BATS_TEST_TMPDIR/cuts_c" || {
        echo "seeds 5 and 6 cut the stream the same way"; false; }
}
