#!/usr/bin/env bats
# tools/grade: the grader. It plays the server for a client under test and
# the clients for a server under test; these tests check what a teacher and
# a student see: the command line, the report of a failure (steps,
# diagnosis, seed, replay, capture), TAP, determinism. The verdicts on the
# programs of exercises/ are in grade_verdicts.bats, the runs of each
# scenario over several seeds in grade_repeat.bats (both at full size in
# heavy/).

setup() {
    load 'test_helper/common-setup'
    _common_setup
    GRADE="$ROOT/tools/grade"
    # Debian's interpreter when there is one: a pyenv shim costs seconds a start.
    PY=python3
    [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
    cd "$BATS_TEST_TMPDIR"
}
teardown() {
    # what a test that failed left running, found by its marker
    [ -z "${MARK:-}" ] || kill -KILL $(marked_pids "$MARK") 2>/dev/null || true
    _common_teardown
}

# marked_pids MARK: the processes whose environment holds
# NIANBAO_TEST_MARK=MARK (what a test started under the grader, and every
# process that came of it, daemons included), one a line. From /proc.
marked_pids() {
    local f pid
    for f in /proc/[0-9]*/environ; do
        if grep -qzxF "NIANBAO_TEST_MARK=$1" "$f" 2>/dev/null; then
            pid=${f#/proc/}
            echo "${pid%/environ}"
        fi
    done
}

# marked_cmdlines MARK: their command lines, arguments joined by spaces.
marked_cmdlines() {
    local pid
    for pid in $(marked_pids "$1"); do
        tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | sed 's/ $//'
        echo
    done
}

# no_marked_process MARK: waits (deadline 5 s) until no process holds MARK.
none_marked() { [ -z "$(marked_pids "$1")" ]; }
no_marked_process() {
    wait_until -t 5 none_marked "$1" || { echo "still running:"; marked_cmdlines "$1"; return 1; }
}

# The daemon a program under test leaves: a new session (setsid), its
# parent gone, no descriptor of the grader's kept.
DAEMONIZE='setsid sh -c "sleep 300 </dev/null >/dev/null 2>&1 &"'


@test "--help names both modes, {port} and the exit statuses; --version answers" {
    run "$GRADE" --help
    assert_success
    assert_line '  grade client --proto stage3|stage4|stage5 [options] -- CMD [ARGS...]'
    assert_line '  grade server --proto stage3|stage4|stage5 [options] -- CMD [ARGS...]'
    assert_line --partial 'In CMD'"'"'s arguments {port} becomes the port'
    assert_line 'Exit status: 0 every scenario passed, 1 some failed, 2 usage, 3 the grader'
    run "$GRADE" --version
    assert_success
    assert_output 'grade (nianbao 1.0): a lab tool: grades framing code against seeded cuts'
}

@test "usage errors say what is missing, point to --help and exit 2" {
    run "$GRADE" --proto stage3 -- true
    assert_failure 2
    assert_line --index 0 "grade: say what to grade: 'grade client ...' or 'grade server ...'"
    assert_line --index 1 "Try 'grade --help' for more information."
    run "$GRADE" client -- true
    assert_failure 2
    assert_line --index 0 'grade: --proto stage3|stage4|stage5 is required: which stage does the program speak?'
    run "$GRADE" client --proto stage3
    assert_failure 2
    assert_line --index 0 'grade: no program to grade: put it after --, e.g. -- python3 client.py {port}'
    run "$GRADE" client --proto stage9 -- true
    assert_failure 2
    assert_line --index 0 "grade: --proto: 'stage9' is not one of stage3|stage4|stage5"
    run "$GRADE" server --proto stage3 --only dribble -- true
    assert_failure 2
    assert_line --index 0 "grade: --only: no scenario 'dribble' for a stage3 server (there are: whole empty-output big-output utf8-output binary leave-mid-reply leave-silent next-client idle-first)"
    run "$GRADE" client --proto stage3 --seed -1 -- true
    assert_failure 2
    assert_line --index 0 "grade: --seed: '-1' is not a number from 0 to 4294967295"
}

@test "--list names every scenario and the bugs it catches, per mode and stage" {
    run "$GRADE" client --proto stage3 --list
    assert_success
    assert_line 'split-length      the 4-byte length (and the JSON header) split across two pieces (catches: recv4-once, byte-order, off-by-one)'
    assert_line 'close-mid-body    the server closes in the middle of a body (catches: one-recv, no-eof, byte-order, off-by-one)'
    assert_line 'text-as-length    another protocol'"'"'s text where the length goes, then the server waits (catches: no-limit)'
    refute_line --partial 'close-mid-header'
    [ "${#lines[@]}" -eq 14 ]
    run "$GRADE" client --proto stage4 --list
    assert_line 'close-mid-header  the server closes in the middle of a JSON header (catches: no-eof, byte-order, off-by-one)'
    assert_line 'close-mid-body    the server closes in the middle of a body (catches: no-eof, byte-order, off-by-one)'
    [ "${#lines[@]}" -eq 16 ]
    run "$GRADE" server --proto stage4 --list
    assert_line 'leave-mid-reply   a client reads a little of a 24 MB reply and closes; the next one is served (catches: no-eof, byte-order, dies-on-close)'
    [ "${#lines[@]}" -eq 9 ]
}

@test "the lab's own stage 3 client passes every scenario: one line each, a summary, exit 0" {
    run "$GRADE" client --proto stage3 -- "$ROOT/stage3_struct_len/client" -p '{port}'
    assert_success
    assert_line --index 0 "grading the stage3 client with 14 scenarios, seed 1: $ROOT/stage3_struct_len/client -p {port}"
    assert_line 'PASS  dribble           every byte of every reply in a segment of its own'
    assert_line 'PASS  close-mid-length  the server closes after 1..3 bytes of a length'
    assert_line 'all 14 scenarios passed'
    [ "$(grep -c '^PASS  ' <<<"$output")" -eq 14 ]
    [ ! -e grade-captures ]
}

@test "the lab's own stage 4 server passes every scenario, found by its 'listening on' line" {
    run "$GRADE" server --proto stage4 -- "$ROOT/stage4_json_header/server" --port 0
    assert_success
    assert_line 'PASS  leave-mid-reply   a client reads a little of a 24 MB reply and closes; the next one is served'
    assert_line 'all 9 scenarios passed'
}

@test "a failure shows numbered steps, the diagnosis, the seed, a replay command and a capture" {
    run "$GRADE" client --proto stage3 --only split-length -- "$ROOT/exercises/broken/client3-recv4-once" '{port}'
    assert_failure 1
    assert_line 'FAIL  split-length      the 4-byte length (and the JSON header) split across two pieces'
    assert_line "         1. the grader (playing the server) started the client: $ROOT/exercises/broken/client3-recv4-once {port}, with 2 commands on stdin: \"seq 55 78\" \"seq 57 91\""
    assert_line '         2. the client connected'
    assert_line '         3. the client sent request 1: "seq 55 78" (9 bytes)'
    assert_line '         4. the grader sent reply 1 (76 bytes: length, then a 72-byte body) in 3 pieces: "\x48\x00\x00" | "\x00" | "55\n56\n57\n58\n59\n60\n61\n62\n"...'
    assert_line '      diagnosis: reply 1'"'"'s output starts with "\x00", the last 1 byte of its length: recv(4) returned only the first 3 and the client went on; read the length in a loop until all 4 bytes are in'
    assert_line '      seed: 1'
    assert_line "      replay: $GRADE client --proto stage3 --only split-length --seed 1 -- $ROOT/exercises/broken/client3-recv4-once {port}"
    assert_line '      capture: grade-captures/client-stage3-split-length-seed1.nbcap'
    assert_line "      view: $ROOT/viewer/nianbao-view --replay grade-captures/client-stage3-split-length-seed1.nbcap --proto len --at down:4 --conn 1"
    assert_line '0 of 1 scenario passed; failed: split-length'
    # Step 4 cut the length after 3 bytes: the capture holds those sends.
    run "$ROOT/viewer/nianbao-view" --replay grade-captures/client-stage3-split-length-seed1.nbcap --dump
    assert_success
    assert_line --partial 'server nianbao-grade'
    assert_line --regexp '^ +@0 +\+3 +send #1 '
    assert_line --regexp '^ +@3 +\+1 +send #2 '
}

@test "the replay line replays exactly the failing scenario: the same steps and verdict" {
    "$GRADE" client --proto stage3 --seed 42 -- "$ROOT/exercises/broken/client3-one-recv" '{port}' >all.txt || true
    replay=$(sed -n 's/^      replay: //p' all.txt | grep -- '--only random-cuts ')
    [ -n "$replay" ]
    eval "$replay" >one.txt || true
    # The block of random-cuts in the full run is the whole report of the replay.
    sed -n '/^FAIL  random-cuts /,/^      view: /p' all.txt >want.txt
    sed -n '/^FAIL  random-cuts /,/^      view: /p' one.txt >got.txt
    [ -s want.txt ]
    run diff want.txt got.txt
    assert_success
}

@test "the same seed cuts the same way and gives the same verdicts; another seed cuts otherwise" {
    for run_name in first again; do
        "$GRADE" client --proto stage4 --seed 7 --tap -- "$PY" "$ROOT/exercises/broken/client4.py" --bug recv4-once '{port}' >"$run_name.tap" || true
    done
    "$GRADE" client --proto stage4 --seed 8 --tap -- "$PY" "$ROOT/exercises/broken/client4.py" --bug recv4-once '{port}' >other.tap || true
    # Verdicts and the pieces sent, as the report tells them.
    for f in first again other; do
        grep -E '^(ok|not ok) |the grader sent ' "$f.tap" >"$f.cuts"
    done
    run diff first.cuts again.cuts
    assert_success
    run grep -c '^not ok ' first.cuts
    assert_output 4
    run cmp -s first.cuts other.cuts
    assert_failure
    # The verdicts themselves do not depend on the seed.
    run diff <(grep -E '^(ok|not ok) ' first.tap) <(grep -E '^(ok|not ok) ' other.tap)
    assert_success
}

# About a second. exercises/broken/client3-off-by-one is right but for
# the last byte of its output, which it never writes: a grader that
# compared one byte less would pass it.
@test "a client whose output lacks only its last byte fails, told it is one byte short" {
    run "$GRADE" client --proto stage3 --only coalesced -- "$ROOT/exercises/broken/client3-off-by-one" '{port}'
    assert_failure 1
    assert_line --regexp '^        11\. expected: exit status 0 and on stdout the 839 bytes of the complete replies: "8\\n9\\n10\\n'
    assert_line --regexp '^        12\. got: exit status 0 and 838 bytes on stdout: "8\\n9\\n10\\n'
    assert_line '0 of 1 scenario passed; failed: coalesced'
}

# About 4 s: random-cuts for seeds 1 to 20, against a client that is right
# but exits 3 the moment a length field comes in pieces. A seed whose cuts
# miss every length field would pass it.
@test "for every one of 20 seeds, random-cuts cuts inside at least one length field" {
    cat >whole_length.py <<'PY'
import socket, sys
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for line in sys.stdin:
    sock.sendall(line.rstrip("\n").encode())
    head = sock.recv(4)
    if len(head) < 4:
        print("a length field in pieces", file=sys.stderr)
        sys.exit(3)
    size, body = int.from_bytes(head, "little"), b""
    while len(body) < size:
        piece = sock.recv(size - len(body))
        if not piece:
            sys.exit(1)
        body += piece
    sys.stdout.buffer.write(body)
    sys.stdout.flush()
PY
    run "$GRADE" client --proto stage3 --only random-cuts --repeat 20 --tap -- "$PY" whole_length.py '{port}'
    assert_failure 1
    assert_equal "$(grep -c '^not ok [0-9]* - random-cuts:' <<<"$output")" 20
    assert_equal "$(grep -c '^#  *[0-9]*\. its stderr: "a length field in pieces\\n"$' <<<"$output")" 20
}

@test "a client blocked on bytes that never come is told apart in a second, not after a timeout" {
    start=$SECONDS
    run "$GRADE" client --proto stage3 --only empty-body -- "$PY" "$ROOT/exercises/broken/client3.py" --bug one-recv '{port}'
    assert_failure 1
    assert_line '         5. request 2 ("seq 30 57") never came: the client is blocked: waiting for 1 s with nothing read, sent, printed or started'
    assert_line '      diagnosis: reply 1 has a 0-byte body and the client is blocked after it: it called recv for a body that is not there (and waits for bytes of the next reply, which only comes after the next request)'
    # Far below the 30 s the grader allows a program that does nothing at all.
    [ $((SECONDS - start)) -lt 25 ]
}

# About 2 s: two programs that wait in a loop woken every 50 ms by a timer
# (select with a timeout), as an event loop with deadlines does. The old rule
# (every thread asleep and never woken for 1 s) never fired on them: the
# grader waited out its 30 s last guard on each.
@test "a timer-driven loop blocked on bytes that never come is told apart as soon as a blocking recv" {
    cat >timer_client.py <<'PY'
import select, socket, struct, sys
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for line in sys.stdin:
    sock.sendall(line.rstrip("\n").encode())
    got, want = b"", 4
    while len(got) < want:   # the loop wakes every 50 ms
        ready, _, _ = select.select([sock], [], [], 0.05)
        if ready:
            piece = sock.recv(65536)
            if not piece:
                sys.exit(1)
            got += piece
        if len(got) >= 4:
            want = 4 + struct.unpack("<I", got[:4])[0] + 1   # the bug: one byte too many
    sys.stdout.buffer.write(got[4:])
PY
    run "$GRADE" client --proto stage3 --waits --only coalesced -- "$PY" timer_client.py '{port}'
    assert_failure 1
    assert_line --regexp '^ +[0-9]+\. .*the client is blocked: waiting for 1 s with nothing read, sent, printed or started'
    assert_line --regexp '^      waits: [0-9.]+ s; [0-9]+ met, 0 exited, [1-9][0-9]* stuck, 0 spinning, 0 last-guard, 0 settled$'

    # A server whose loop wakes every 50 ms and serves one client at a time:
    # the concurrent scenario fails by the same rule.
    cat >timer_server.py <<'PY'
import select, socket, subprocess, struct, sys
listener = socket.create_server(("127.0.0.1", 0))
print("listening on 127.0.0.1:%d" % listener.getsockname()[1], flush=True)
while True:
    ready, _, _ = select.select([listener], [], [], 0.05)
    if not ready:
        continue
    conn, _ = listener.accept()
    while True:
        ready, _, _ = select.select([conn], [], [], 0.05)
        if not ready:
            continue
        command = conn.recv(65536)
        if not command:
            break
        out = subprocess.run(command, shell=True, capture_output=True).stdout
        conn.sendall(struct.pack("!I", len(out)) + out)
    conn.close()
PY
    run "$GRADE" server --proto stage3 --concurrent --waits --only idle-beside -- "$PY" timer_server.py
    assert_failure 1
    assert_line --regexp '^ +[0-9]+\. client 2 got no reply \(0 bytes\): the server is (still )?blocked'
    assert_line --regexp '^      waits: [0-9.]+ s; [0-9]+ met, 0 exited, [1-9][0-9]* stuck, 0 spinning, 0 last-guard, [0-9]+ settled$'
}

@test "a statically linked client is graded like any other (no LD_PRELOAD involved)" {
    if ! cc -static -O2 -o client-static "$ROOT/exercises/broken/client3.c" 2>/dev/null; then
        skip "this C library cannot link statically"
    fi
    run ldd ./client-static
    assert_output --partial 'not a dynamic executable'
    run "$GRADE" client --proto stage3 -- ./client-static '{port}'
    assert_success
    assert_line 'all 14 scenarios passed'
}

@test "the port also comes in NIANBAO_PORT and NIANBAO_HOST" {
    cat >env-client.sh <<EOF
#!/bin/sh
exec "$ROOT/exercises/broken/client3-none" "\$NIANBAO_PORT"
EOF
    chmod +x env-client.sh
    run "$GRADE" client --proto stage3 --only coalesced -- ./env-client.sh
    assert_success
    run "$GRADE" client --proto stage3 --only coalesced -- sh -c 'test "$NIANBAO_HOST" = 127.0.0.1 && exec "$0" "$NIANBAO_PORT"' "$ROOT/exercises/broken/client3-none"
    assert_success
}

@test "a server's {port} is picked below the ephemeral range, where no outgoing connection lands" {
    local low p
    read -r low _ </proc/sys/net/ipv4/ip_local_port_range
    [ "$low" -gt 10100 ] || skip "the ephemeral range starts at $low"
    for p in 1 2 3 4 5; do
        run "$GRADE" server --proto stage3 --only whole -- sh -c 'echo "$0" >>ports; exit 1' '{port}'
        assert_failure 1
    done
    run cat ports
    assert_equal "${#lines[@]}" 5
    for p in "${lines[@]}"; do
        { [ "$p" -ge 10000 ] && [ "$p" -lt "$low" ]; } || fail "port $p is not in [10000, $low)"
    done
}

# About a second. Between the grader's pick of {port} and the server's bind,
# another process can take the port (another grader's server, beside it in
# a parallel suite). The first pick is forced onto a port a server of the
# test holds: the lab's server fails to bind, the grader picks again.
@test "a {port} taken before the server binds it is picked again: the scenario passes" {
    start_server holder "$ROOT/stage3_struct_len/server" --port 0
    # shellcheck disable=SC2154  # start_server sets holder_port
    NIANBAO_GRADE_FIRST_PORT=$holder_port run "$GRADE" server --proto stage3 --only whole -- \
        sh -c 'echo "$0" >>ports; exec "$1" --port "$0"' '{port}' "$ROOT/stage3_struct_len/server"
    assert_success
    assert_line 'all 1 scenario passed'
    run cat ports
    assert_equal "${#lines[@]}" 2
    assert_equal "${lines[0]}" "$holder_port"
    [ "${lines[1]}" != "$holder_port" ]
}

# About 7 s: three gradings at once, each with the grader held 3.2 s. The
# hold is the stimulus, not a wait: a loaded machine can keep the grader
# itself off the CPU for seconds, while the program starts, listens or
# connects, and waits, and that is no quiet the grader saw.
# NIANBAO_GRADE_STALL_MS holds the grader once, between its look at what it
# waits for and its look at the program, longer than the 3 s it gives a
# program to start: a lab program still passes (seen under check-asan: "it
# never said where it listens ... blocked: waiting for 3 s" on a server that
# was in accept), and one that never listens (sleep, killed by the grader)
# still fails.
@test "a grader held off the CPU longer than a start's 3 s still sees the program start, and still sees one that never does" {
    local pids=() pid
    NIANBAO_GRADE_STALL_MS=3200 "$GRADE" server --proto stage3 --only whole \
        --captures c1 -- "$ROOT/stage3_struct_len/server" -p '{port}' >server.out 2>&1 3>&- &
    pids+=($!)
    NIANBAO_GRADE_STALL_MS=3200 "$GRADE" client --proto stage3 --only coalesced \
        --captures c2 -- "$ROOT/stage3_struct_len/client" -p '{port}' >client.out 2>&1 3>&- &
    pids+=($!)
    NIANBAO_GRADE_STALL_MS=3200 "$GRADE" server --proto stage3 --only whole \
        --captures c3 -- sleep 60 '{port}' >never.out 2>&1 3>&- &
    pids+=($!)
    STARTED_PIDS+=("${pids[@]}")
    local status_of=()
    for pid in "${pids[@]}"; do
        wait "$pid" && status_of+=(0) || status_of+=($?)
    done
    run cat server.out
    assert_equal "${status_of[0]}" 0
    assert_line 'all 1 scenario passed'
    run cat client.out
    assert_equal "${status_of[1]}" 0
    assert_line 'all 1 scenario passed'
    run cat never.out
    assert_equal "${status_of[2]}" 1
    assert_line --regexp "^         2\. it never said where it listens \(a line 'listening on ADDR:PORT' on stdout or stderr\) nor listened on port [0-9]+, the one it was given: it is blocked: waiting for 3 s with nothing read, sent or started\$"
}

@test "a program that cannot start or never connects fails with the reason, not a hang" {
    run "$GRADE" client --proto stage3 --only coalesced -- ./no-such-program '{port}'
    assert_failure 1
    assert_line '         1. the grader could not start ./no-such-program {port}: cannot run ./no-such-program: No such file or directory'
    run "$GRADE" client --proto stage3 --only coalesced -- sh -c 'echo "no server for me" >&2; exit 4'
    assert_failure 1
    assert_line '         2. the client never connected: it exited with status 4'
    assert_line '         6. its stderr: "no server for me\n"'
}

@test "a server that never says where it listens gets a message saying how to" {
    run "$GRADE" server --proto stage3 --only whole -- "$PY" -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); time.sleep(600)'
    assert_failure 1
    assert_line --partial "it never said where it listens (a line 'listening on ADDR:PORT' on stdout or stderr): it is blocked"
    assert_line "      diagnosis: print 'listening on ADDR:PORT' once the socket listens, or give the grader {port} in the server's arguments"
}

# About 3 s. Every line it printed counted as progress: the grader waited
# for it 420 s. Output other than a client's stdout is not progress; a
# program that has not yet listened gets 3 s of quiet, not 1.
@test "a server that prints a line every half second and never listens is told so in seconds" {
    cat >talker.py <<'PY'
import sys, time
while True:
    print("starting up...", file=sys.stderr, flush=True)
    time.sleep(0.5)
PY
    start=$SECONDS
    run timeout 60 "$GRADE" server --proto stage3 --only whole --waits -- "$PY" talker.py
    assert_failure 1
    assert_line "         2. it never said where it listens (a line 'listening on ADDR:PORT' on stdout or stderr): it is blocked: waiting for 3 s with nothing read, sent or started"
    assert_line --regexp '^      waits: [0-9.]+ s; 0 met, 0 exited, 1 stuck, 0 spinning, 0 last-guard, 0 settled$'
    [ $((SECONDS - start)) -lt 20 ]
}

# About 3 s: a server that never listens and reads /dev/urandom a little
# every 10 ms. Each read is progress (bytes through its files), so neither
# "stuck" nor "spinning" ever holds: --scenario-limit 2 ends it.
@test "a program that keeps moving without getting anywhere is stopped at --scenario-limit, as the last guard" {
    cat >reader.py <<'PY'
import os, time
fd = os.open("/dev/urandom", os.O_RDONLY)
while True:
    os.read(fd, 4096)
    time.sleep(0.01)
PY
    start=$SECONDS
    run timeout 60 "$GRADE" server --proto stage3 --only whole --waits --scenario-limit 2 -- "$PY" reader.py
    assert_failure 1
    assert_line "         2. it never said where it listens (a line 'listening on ADDR:PORT' on stdout or stderr): it is still running: the scenario has taken 2 s, the most the grader gives one"
    assert_line --regexp '^      waits: [0-9.]+ s; 0 met, 0 exited, 0 stuck, 0 spinning, 1 last-guard, 0 settled$'
    assert_line "      replay: $GRADE server --proto stage3 --only whole --seed 1 --scenario-limit 2 -- $PY reader.py"
    [ $((SECONDS - start)) -lt 20 ]
}

# About a second. The "server" prints the port of the lab's stage 3 server,
# started beside it, and listens nowhere: the grader graded the other
# process, and it passed.
@test "a server that names another process's port fails: the port is not the program's" {
    start_server other "$ROOT/stage3_struct_len/server" --port 0
    # shellcheck disable=SC2154  # start_server sets other_port
    run "$GRADE" server --proto stage3 --only whole -- \
        sh -c 'echo "listening on 127.0.0.1:$0" >&2; exec sleep 300' "$other_port"
    assert_failure 1
    assert_line "         2. it said it listens on port $other_port, but port $other_port is not the program's: another process listens there"
    assert_line "      diagnosis: say the port of the program's own listening socket: bind, listen, then read the port with getsockname and print 'listening on ADDR:PORT'"
    assert_line '0 of 1 scenario passed; failed: whole'
}

@test "a server whose length is big-endian is told so, with both readings of the bytes" {
    run "$GRADE" server --proto stage3 --only whole -- "$ROOT/exercises/broken/server3-byte-order" '{port}'
    assert_failure 1
    assert_line --regexp '^      diagnosis: length bytes 00 00 [0-9a-f]{2} [0-9a-f]{2} read big-endian are [0-9]+, the output'"'"'s size: the length was written big-endian; stage 3 wants little-endian \(struct.pack\('"'"'<i'"'"'\)\)$'
    assert_line --regexp '^      view: .*nianbao-view --replay grade-captures/server-stage3-whole-seed1.nbcap --proto len --at down:0 --conn 1$'
}

@test "a server killed by SIGPIPE when a client leaves mid-reply is diagnosed" {
    run "$GRADE" server --proto stage3 --only leave-mid-reply -- "$ROOT/exercises/broken/server3-dies-on-close" '{port}'
    assert_failure 1
    assert_line '         6. client 2 could not connect: Connection refused'
    assert_line '      diagnosis: the server was killed by SIGPIPE when a client went away before its reply was sent: ignore SIGPIPE (signal(SIGPIPE, SIG_IGN)) or send with MSG_NOSIGNAL, treat EPIPE as "this client is gone" and serve the next'
}

@test "stopping the grader stops the program it runs" {
    # a name of this test's own, as above
    local server="$BATS_TEST_TMPDIR/server3-none"
    ln -s "$ROOT/exercises/broken/server3-none" "$server"
    "$GRADE" server --proto stage3 --only idle-first -- sh -c 'exec "$0" "$1"' "$server" '{port}' >out.txt 3>&- &
    grader=$!
    STARTED_PIDS+=("$grader")
    wait_until -t 20 pgrep -f "$server" >/dev/null || { echo "the server never started"; return 1; }
    kill -TERM "$grader"
    wait_for_exit "$grader"
    [ "$EXIT_STATUS" -eq 143 ]
    wait_until -t 5 not pgrep -f "$server" >/dev/null || { echo "the server outlived the grader"; return 1; }
}

# About a second. The client starts a daemon (setsid, its parent exits)
# before it runs: outside the program's process group, it outlived the
# grader, which had found the client correct.
@test "a program that starts a daemon passes and leaves no process behind" {
    MARK="grade-daemon-$BATS_TEST_TMPDIR"
    run "$GRADE" client --proto stage3 --only coalesced -- env NIANBAO_TEST_MARK="$MARK" \
        sh -c "$DAEMONIZE"'; exec "$0" "$1"' "$ROOT/exercises/broken/client3-none" '{port}'
    assert_success
    assert_line 'all 1 scenario passed'
    no_marked_process "$MARK"
}

# About a second: the program starts a daemon, then reads /dev/urandom a
# little every 10 ms (it never listens, and never looks stuck). The grader
# is stopped by SIGTERM in the middle of that scenario: its handler ended
# the program's process group, not the daemon in a session of its own.
@test "a grader stopped by SIGTERM mid-scenario leaves no process behind, daemons included" {
    MARK="grade-term-$BATS_TEST_TMPDIR"
    cat >reader.py <<'PY'
import os, time
fd = os.open("/dev/urandom", os.O_RDONLY)
while True:
    os.read(fd, 4096)
    time.sleep(0.01)
PY
    "$GRADE" server --proto stage3 --only whole -- env NIANBAO_TEST_MARK="$MARK" \
        sh -c "$DAEMONIZE"'; exec "$0" reader.py' "$PY" >out.txt 3>&- &
    local grader=$!
    STARTED_PIDS+=("$grader")
    # the daemon and the reader, both running
    both_running() {
        marked_cmdlines "$MARK" | grep -qx 'sleep 300' &&
            marked_cmdlines "$MARK" | grep -qx "$PY reader.py"
    }
    wait_until -t 20 both_running || { echo "the program never started"; return 1; }
    kill -TERM "$grader"
    wait_for_exit "$grader"
    [ "$EXIT_STATUS" -eq 143 ]
    no_marked_process "$MARK"
}

# About 2 s. The report's tshark line, run as printed: the viewer writes
# the capture as pcap beside it, tshark reads it.
@test "the printed tshark command shows the failing scenario's capture in tshark" {
    command -v tshark >/dev/null || skip "tshark is not installed (Debian: tshark)"
    run "$GRADE" client --proto stage3 --only split-length -- "$ROOT/exercises/broken/client3-recv4-once" '{port}'
    assert_failure 1
    assert_line "      tshark: $ROOT/viewer/nianbao-view --replay grade-captures/client-stage3-split-length-seed1.nbcap --pcap grade-captures/client-stage3-split-length-seed1.pcap && tshark -r grade-captures/client-stage3-split-length-seed1.pcap"
    local cmd
    cmd=$(sed -n 's/^      tshark: //p' <<<"$output")
    run bash -c "$cmd"
    assert_success
    # the grader's reply 1 in 3 pieces: three TCP segments from port {port}, with data
    assert_output --partial 'TCP'
    [ -s grade-captures/client-stage3-split-length-seed1.pcap ]
}

@test "the printed view command opens the capture at the failing byte" {
    "$ROOT/viewer/nianbao-view" --help | grep -q -- '--at DIR:OFFSET' ||
        skip "this nianbao-view has no --at yet"
    run "$GRADE" client --proto stage3 --only split-length -- "$ROOT/exercises/broken/client3-recv4-once" '{port}'
    assert_failure 1
    view=$(sed -n 's/^      view: //p' <<<"$output")
    [ -n "$view" ]
    run bash -c "$view --dump"
    assert_success
    # The viewer marks the byte: offset 4 of the replies, reply 1's first body byte.
    assert_line --regexp "^ +=> @4: 0x35 '5', send #3, body #1$"
}
