#!/usr/bin/env bats
# What the READMEs quote is what the programs print. Every quoted output of
# README.md and of the stage READMEs (and tools/README.md's canned example)
# is run here and compared with what the program printed in this run:
# exactly where the output is deterministic, with the run-dependent parts
# (ports, times) masked where it is not. Figures from `make bench` are
# compared with bench/results/bench.md, the table they come from.
# In tests/serial/ (one test at a time, nothing else of the suite beside
# it): some quoted runs have the shape of an unloaded machine - the nagle
# demo's data segment counts, the pieces of the --direction up example that
# the server reads stuck together - and other tests taking the CPU change
# them (both seen in parallel runs).

bats_require_minimum_version 1.5.0

# start_server sets NAME_port/NAME_pid:
# shellcheck disable=SC2154
setup() { load '../test_helper/common-setup'; _common_setup; S2="$ROOT/stage2_udp_vs_tcp"; }
teardown() { _common_teardown; }

# readme_says FILE TEXT: FILE contains TEXT, line breaks and indentation
# folded into single spaces (the README wraps long lines).
readme_says() {
    tr '\n' ' ' <"$ROOT/$1" | tr -s ' ' | grep -qF -- "$2" || {
        echo "$1 does not say: $2"; return 1; }
}

# readme_block FILE FIRST [NTH]: the lines of FILE's quoted block (```
# fenced, or indented by 4 spaces) that holds a line starting with FIRST
# (after the indentation), from that line to the block's end, indentation
# removed; the NTH such block (default the first).
readme_block() {
    awk -v first="$2" -v nth="${3:-1}" '
        /^```/ { if (fenced) { fenced = 0; started = 0; if (on) exit; next } fenced = 1; next }
        {
            line = $0; indented = !fenced && sub(/^    /, "", line)
            if (!fenced && !indented) { if (on) exit; started = 0; next }
            if (!on && !started && index(line, first) == 1 && ++found == nth) on = 1
            if (!on && index(line, first) == 1) started = 1
            if (on) print line
        }' "$ROOT/$1"
}

# same_text WANT GOT: two texts equal, else both shown.
same_text() {
    if [ "$1" != "$2" ]; then
        printf 'the README quotes:\n%s\nthe run printed:\n%s\n' "$1" "$2"
        return 1
    fi
}

# ---- README.md ----

@test "the README's stage table is common/stages.def: folder, version and title of each stage, in order" {
    # a row: | [`DIR/`](DIR/README.md) | VERSION (...) | TITLE |, VERSION "announced" for "-"
    local want got
    want=$("$ROOT/tools/stages" | awk -F '\t' '{ print $2 "\t" ($3 == "-" ? "announced" : $3) "\t" $7 }')
    got=$(sed -nE '/^\| stage \| tutorial \| what it shows \|$/,/^$/ s/^\| \[`([^`]*)\/`\]\(\1\/README\.md\) \| ([^ ]*) \([^)]*\) \| (.*) \|$/\1\t\2\t\3/p' \
        "$ROOT/README.md")
    same_text "$want" "$got"
}

@test "the README's default ports are each stage's port in common/stages.def" {
    local -a port
    local n
    for n in $("$ROOT/tools/stages" | cut -f1); do port[n]=$("$ROOT/tools/stages" "$n" port); done
    readme_says README.md "The document's ports are the defaults: ${port[1]} (stage 1), ${port[3]} (stage 3), ${port[4]} (stage 4); stages 5 and 6, which the document only announces, use ${port[5]} and ${port[6]}."
}

@test "the README's HTTP example is the stage 3 client's exact error line" {
    printf 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n' >"$BATS_TEST_TMPDIR/http"
    start_server web "$ROOT/tools/canned" --reply "$BATS_TEST_TMPDIR/http" --port 0
    run bash -c "echo ls | timeout 10 '$ROOT/stage3_struct_len/client' -p '$web_port' 2>&1"
    assert_failure 1
    assert_output 'client: reply length 1347703880 is out of range 0..268435456 (bytes 48 54 54 50 "HTTP"): is the peer speaking another protocol?'
    readme_says README.md "${output#client: }"
    readme_says stage3_struct_len/README.md '`HTTP` reads as 1347703880'
    # "Any four printable ASCII bytes ... are at least 512 MiB": the smallest, four spaces.
    readme_says stage3_struct_len/README.md 'printable ASCII bytes read as a little-endian length are at least 512 MiB'
    [ $((0x20202020)) -ge $((512 << 20)) ]
}

@test "the stage 1 README's session is what the stage 1 client prints" {
    start_server srv "$ROOT/stage1_naive/server" --port 0
    printf 'seq 1 2000\necho MARK\n' | timeout 10 "$ROOT/stage1_naive/client" -p "$srv_port" \
        >"$BATS_TEST_TMPDIR/out"
    # the reply to seq ends at 283, the "reply" to echo MARK is 284..539
    seq 1 283 >"$BATS_TEST_TMPDIR/expected"
    echo >>"$BATS_TEST_TMPDIR/expected"
    seq 284 539 >>"$BATS_TEST_TMPDIR/expected"
    echo >>"$BATS_TEST_TMPDIR/expected"
    same_bytes "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/out"
    readme_says stage1_naive/README.md "283 <- bytes 0..1023 of seq's 8893"
    readme_says stage1_naive/README.md "284 <- the \"reply\" to \`echo MARK\`: bytes 1024..2047"
    readme_says stage1_naive/README.md "539"
    readme_says README.md 'the client shows the first 1024 (`1` to `283`). The "reply" to `echo MARK` is `284` to `539`'
    # seq's size, and what is still queued behind the two replies read
    local seq_bytes
    seq_bytes=$(seq 1 2000 | wc -c)
    readme_says README.md "\`seq 1 2000\` prints $seq_bytes bytes"
    readme_says stage1_naive/README.md "behind $((seq_bytes - 2048)) bytes of \`seq\`"
}

@test "the document's client as written fails its second command with the error the stage 1 README quotes" {
    local seed=${NIANBAO_DOCUMENT:-$ROOT/../shared/seed/000_2062dbd12727a7a5.txt}
    [ -f "$seed" ] || skip "the tutorial's text is not at $seed: put a plain-text copy of 基于 TCP 协议实现服务端执行代码将结果反馈给客户端 (https://www.cnblogs.com/dream-ze/) there, or set NIANBAO_DOCUMENT to its path"
    python3 -B "$ROOT/tests/doc_extract.py" "$seed" v1_client --keep-close-in-loop >"$BATS_TEST_TMPDIR/v1.py" 2>/dev/null
    start_server srv "$ROOT/stage1_naive/server" --port 0
    run --separate-stderr timeout 20 python3 -B "$BATS_TEST_TMPDIR/v1.py" "$srv_port" <<<$'echo hello\necho again'
    assert_failure 1
    assert_equal "${stderr_lines[-1]}" 'OSError: [Errno 9] Bad file descriptor'
    readme_says stage1_naive/README.md "fails with \`${stderr_lines[-1]}\`"
}

@test "the README's stage 2 lines: recvfrom of world, and recvfrom(5) of a 10-byte datagram" {
    start_server udp "$S2/udp_server" --port 0
    run timeout 20 "$S2/udp_client" -p "$udp_port" --demo boundaries
    assert_success
    wait_for_line "$BATS_TEST_TMPDIR/udp.out" '^recvfrom #2: '
    run head -n 1 "$BATS_TEST_TMPDIR/udp.out"
    assert_output --regexp '^recvfrom #1: 5 bytes "world" from 127\.0\.0\.1:[0-9]+$'
    # the README shows it with the document's port
    readme_says README.md "(\`${output%:*}:56852\`)"

    start_server udp5 "$S2/udp_server" --port 0 --bufsize 5
    run timeout 20 "$S2/udp_client" -p "$udp5_port" --demo truncate --size 10
    assert_success
    wait_for_line "$BATS_TEST_TMPDIR/udp5.out" '^truncated #1: '
    run grep '^truncated' "$BATS_TEST_TMPDIR/udp5.out"
    assert_output 'truncated #1: received 5 of 10 bytes; 5 bytes lost'
    readme_says README.md "\`udp_server --bufsize 5\` and \`udp_client --demo truncate --size 10\` print \`$output\`"
}

@test "the stage 2 README's lines: truncated #3, the UDP client's give-up line, the empty datagram #4" {
    # The document's third recvfrom(5): after the two boundaries datagrams.
    start_server udp "$S2/udp_server" --port 0 --bufsize 5
    run timeout 20 "$S2/udp_client" -p "$udp_port" --demo boundaries
    assert_success
    run timeout 20 "$S2/udp_client" -p "$udp_port" --demo truncate --size 10
    assert_success
    wait_for_line "$BATS_TEST_TMPDIR/udp.out" '^truncated #3: '
    run grep '^truncated' "$BATS_TEST_TMPDIR/udp.out"
    assert_output 'truncated #3: received 5 of 10 bytes; 5 bytes lost'
    readme_says stage2_udp_vs_tcp/README.md "prints \`$output\`"

    # recvfrom #4 is the empty datagram of a whole default run.
    start_server all "$S2/udp_server" --port 0
    run timeout 20 "$S2/udp_client" -p "$all_port"
    assert_success
    wait_for_line "$BATS_TEST_TMPDIR/all.out" '^recvfrom #4: '
    run sed -nE 's/^(recvfrom #4: 0 bytes "") from .*/\1/p' "$BATS_TEST_TMPDIR/all.out"
    assert_output 'recvfrom #4: 0 bytes ""'
    readme_says stage2_udp_vs_tcp/README.md "arrives as \`$output\`"

    # A UDP socket that never answers: the client gives up after 2000 ms.
    python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
print("listening on 127.0.0.1:%d" % s.getsockname()[1], file=sys.stderr, flush=True)
time.sleep(60)' 2>"$BATS_TEST_TMPDIR/mute.log" 3>&- &
    STARTED_PIDS+=("$!")
    wait_for_line "$BATS_TEST_TMPDIR/mute.log" '^listening on '
    local mute_port
    mute_port=$(sed -n 's/^listening on .*://p' "$BATS_TEST_TMPDIR/mute.log")
    run --separate-stderr timeout 20 "$S2/udp_client" -p "$mute_port" --demo empty
    assert_failure 1
    assert_equal "$stderr" "udp_client: no reply from 127.0.0.1:$mute_port within 2000 ms: is udp_server running there?"
    readme_says stage2_udp_vs_tcp/README.md "\`${stderr/:$mute_port /:8080 }\`"
}

@test "the stage 2 README's TCP lines: the wait line, 2 segments and 1 recv, a split that adds up" {
    # Ten bytes and no end of stream yet: the server's wait ends on FIONREAD.
    start_server raw "$S2/tcp_server" --port 0
    exec 5<>"/dev/tcp/127.0.0.1/$raw_port"
    printf 'helloworld' >&5
    wait_for_line "$BATS_TEST_TMPDIR/raw.out" '^wait: '
    exec 5>&- 5<&-
    run grep '^wait: ' "$BATS_TEST_TMPDIR/raw.out"
    assert_output --regexp '^wait: 10 bytes queued after [0-9]+ ms \(waited for FIONREAD >= 10 so that the sends are in before recv\)$'
    readme_says stage2_udp_vs_tcp/README.md "\`$(sed -E 's/after [0-9]+ ms/after 0 ms/' <<<"$output")\`"

    start_server tcp "$S2/tcp_server" --port 0
    run timeout 20 "$S2/tcp_client" -p "$tcp_port" --demo merge --nodelay
    assert_success
    wait_for_line "$BATS_TEST_TMPDIR/tcp.out" '^send: '
    run grep '^total: ' "$BATS_TEST_TMPDIR/tcp.out"
    assert_output 'total: 10 bytes in 1 recv call; 2 data segments arrived'
    readme_says stage2_udp_vs_tcp/README.md 'for the merge demo it is 2 segments and 1 `recv`, with or without `tcp_client --nodelay`'
    # The split example: its pieces add up to the one send of 256 KiB.
    readme_says stage2_udp_vs_tcp/README.md '(e.g. `127973 + 95232 + 38939`;'
    [ $((127973 + 95232 + 38939)) -eq 262144 ]
    # The netns example: at least 262144 / 1228 segments, pieces whole segments.
    readme_says stage2_udp_vs_tcp/README.md 'A typical run: `12280 12280 12280 1228 1228 1228 ... 7368 ...` in about 60-90 `recv` calls, 214 data segments.'
    [ $(((262144 + 1227) / 1228)) -eq 214 ]
    [ $((12280 % 1228)) -eq 0 ]
    [ $((7368 % 1228)) -eq 0 ]
}

@test "the stage 2 README's nagle run has the shape of this run's (times and the stalled count masked)" {
    start_server tcp "$S2/tcp_server" --port 0
    run timeout 60 "$S2/tcp_client" -p "$tcp_port" --demo nagle
    assert_success
    # Times change from run to run, and so may how many of the write+write
    # requests waited (most do: tests/serial/stage2_nagle.bats); the rest is exact.
    local mask='s/[0-9]+\.[0-9]+ ms/T ms/g; s/^(write\+write: .* an ACK in )[0-9]+ of/\1K of/'
    local want got
    want=$(readme_block stage2_udp_vs_tcp/README.md 'demo nagle: ' | sed -E "$mask")
    got=$(grep -v '^why: ' <<<"$output" | sed -E "$mask")
    same_text "$want" "$got"
    wait_for_line "$BATS_TEST_TMPDIR/tcp.out" '^nagle demo: [0-9]+ requests; '
    want=$(readme_block stage2_udp_vs_tcp/README.md 'nagle demo: 20 requests' | sed -E "$mask")
    got=$(grep -m1 '^nagle demo: [0-9]* requests; ' "$BATS_TEST_TMPDIR/tcp.out" | sed -E "$mask")
    same_text "$want" "$got"
}

@test "the stage 2 README's output formats match what the four programs print" {
    start_server udp "$S2/udp_server" --port 0 --bufsize 1024
    start_server tcp "$S2/tcp_server" --port 0
    timeout 20 "$S2/udp_client" -p "$udp_port" >"$BATS_TEST_TMPDIR/udp_client.out"
    timeout 20 "$S2/tcp_client" -p "$tcp_port" >"$BATS_TEST_TMPDIR/tcp_client.out"
    timeout 60 "$S2/tcp_client" -p "$tcp_port" --demo nagle --requests 3 >>"$BATS_TEST_TMPDIR/tcp_client.out"
    wait_for_line "$BATS_TEST_TMPDIR/udp.out" '^sendto #4: '
    wait_until prints 5 grep -c '^nagle demo: 3 requests; ' "$BATS_TEST_TMPDIR/tcp.out"
    cp "$BATS_TEST_TMPDIR/udp.out" "$BATS_TEST_TMPDIR/udp_server.out"
    cp "$BATS_TEST_TMPDIR/tcp.out" "$BATS_TEST_TMPDIR/tcp_server.out"
    # Each line of the README's format block: "program:  FORMAT", then
    # further formats of the same program, indented. The upper-case words
    # stand for values, "..." for the rest of the line; a note in
    # parentheses after two spaces or more is not part of the format.
    local prog="" fmt regex checked=0
    while IFS= read -r line; do
        if [[ $line =~ ^([a-z_]+):\ +(.*)$ ]]; then
            prog=${BASH_REMATCH[1]}; fmt=${BASH_REMATCH[2]}
        else
            fmt=${line#"${line%%[! ]*}"}
        fi
        fmt=$(sed -E 's/ {2,}\(.*\)$//' <<<"$fmt")
        regex=$(printf '%s' "$fmt" | sed -E \
            -e 's/[][\\.*^$+?{}|()]/\\&/g' \
            -e 's/\\\.\\\.\\\./.*/g' \
            -e 's/"DATA"|"REPLY"/"[^"]*(\\.\\.\\.)?"/g' \
            -e 's/ADDR:PORT|LOCAL|SERVER/[0-9.]+:[0-9]+/g' \
            -e 's/\b(N|C|LEN|REAL|LOST|Q|SUM|S|K|SENT|LEFT)\b/[0-9]+/g' \
            -e 's/\b(T|M)\b/[0-9.]+/g' \
            -e 's/\bNAME\b/[a-z]+/g; s/\bWHAT\b|\bWHY\b|\bHOW\b/.+/g; s/\bWAY\b/[a-z_+]+/g')
        echo "$prog: /^$regex\$/"
        grep -Eq -- "^$regex\$" "$BATS_TEST_TMPDIR/$prog.out" || {
            echo "no line of $prog matches the README's format: $fmt"; cat "$BATS_TEST_TMPDIR/$prog.out"; false; }
        checked=$((checked + 1))
    done < <(readme_block stage2_udp_vs_tcp/README.md 'udp_server:  recvfrom')
    echo "$checked formats checked"
    [ "$checked" -ge 20 ]
}

@test "stage 3: seq 1 2000 then echo MARK prints all of seq's bytes, then MARK, as the README says" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0
    run_client 3 "$srv_port" $'seq 1 2000\necho MARK\n'
    assert_equal "$status" 0
    { seq 1 2000; echo MARK; } >"$BATS_TEST_TMPDIR/want"
    same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
    readme_says README.md "Now \`seq 1 2000\` prints all $(seq 1 2000 | wc -c) bytes, then \`MARK\`."
}

@test "the stage 4 header in the READMEs is the real header of seq 1 2000" {
    start_server srv "$ROOT/stage4_json_header/server" --port 0
    run python3 -c '
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"seq 1 2000")
def take(n):
    got = b""
    while len(got) < n:
        piece = s.recv(n - len(got))
        if not piece:
            sys.exit("closed early")
        got += piece
    return got
print(take(struct.unpack("<i", take(4))[0]).decode())' "$srv_port" 3>&-
    assert_success
    assert_output '{"file_name":"a.txt","total_size":8893,"md5":"'"$(seq 1 2000 | md5sum | cut -d' ' -f1)"'","stdout_size":8893,"exit_code":0}'
    local header=$output
    same_text "$(readme_block README.md '{"file_name"')" "$header"
    # the stage README shows the same header with its MD5 left out
    same_text "$(readme_block stage4_json_header/README.md 'header: ' | head -n 1)" \
        "header: $(sed -E 's/"md5":"[0-9a-f]{32}"/"md5":"<32 hex>"/' <<<"$header")"
}

@test "stage 4: a non-zero exit code is shown on stderr as the stage README quotes" {
    start_server srv "$ROOT/stage4_json_header/server" --port 0
    run_client 4 "$srv_port" $'echo hi; exit 3\n'
    assert_equal "$status" 0
    expect_bytes "$BATS_TEST_TMPDIR/out" 'hi\n'
    run cat "$BATS_TEST_TMPDIR/err"
    assert_output 'client: the command exited with status 3'
    readme_says stage4_json_header/README.md "(\`$output\`)"
}

@test "stage 4: the md5 mismatch line has the README's form" {
    local header='{"file_name":"a.txt","total_size":3,"md5":"00000000000000000000000000000000"}'
    { printf "\\x$(printf %02x ${#header})\\0\\0\\0"; printf '%s' "$header" 'abc'; } >"$BATS_TEST_TMPDIR/reply"
    start_server fake "$ROOT/tools/canned" --reply "$BATS_TEST_TMPDIR/reply"
    run --separate-stderr timeout 10 "$ROOT/stage4_json_header/client" -p "$fake_port" <<<'ls'
    assert_failure 1
    assert_equal "$stderr" "client: md5 mismatch: header says 00000000000000000000000000000000, body is $(printf abc | md5sum | cut -d' ' -f1)"
    readme_says stage4_json_header/README.md 'reports `md5 mismatch: header says X, body is Y`'
}

@test "the README's slicer recipe prints every stage 3 reply whole" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0
    # the README's flags, on free ports
    local flags
    flags=$(grep -m1 -oE 'tools/slicer --listen 9000 --to 127\.0\.0\.1:8083 [^#]*' "$ROOT/README.md")
    flags=${flags#tools/slicer --listen 9000 --to 127.0.0.1:8083 }
    assert_equal "$flags" '--min 1 --max 3 --delay-us 2000'
    # shellcheck disable=SC2086
    start_server slicer "$ROOT/tools/slicer" --listen 0 --to "127.0.0.1:$srv_port" $flags
    run_client 3 "$slicer_port" $'seq 1 2000\necho MARK\n'
    assert_equal "$status" 0
    { seq 1 2000; echo MARK; } >"$BATS_TEST_TMPDIR/want"
    same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
    readme_says README.md 'stage3_struct_len/client -p 9000 # still prints every reply whole'
}

# through_up_slicer STAGE: the README's --direction up recipe against STAGE,
# on free ports; the client's stdout and stderr in out and err.
through_up_slicer() {
    start_server srv "$ROOT/$(stage_dir "$1")/server" --port 0
    local flags
    flags=$(grep -m1 -oE 'tools/slicer --listen 9000 --to 127\.0\.0\.1:8083 --direction up [^#]*' "$ROOT/README.md")
    flags=${flags#tools/slicer --listen 9000 --to 127.0.0.1:8083 }
    flags=${flags%"${flags##*[! ]}"}
    assert_equal "$flags" '--direction up --delay-us 100000'
    # shellcheck disable=SC2086
    start_server slicer "$ROOT/tools/slicer" --listen 0 --to "127.0.0.1:$srv_port" $flags
    run_client "$1" "$slicer_port" $'echo hello\necho world\n'
    assert_equal "$status" 0
    # The server goes on with the pieces left after the client has gone.
    wait_for_log srv ' disconnected$'
}

@test "the README's --direction up example: stage 3 runs pieces of the commands, stuck together" {
    through_up_slicer 3
    local want
    want=$(readme_block README.md 'sh: 1: e: not found')
    same_text "$want" "$(cat "$BATS_TEST_TMPDIR/out")"
    expect_bytes "$BATS_TEST_TMPDIR/err" ''
    # The server ran the slicer's pieces (seed 1) as commands, each arriving
    # long after the one before; the port masked. Where the fourth ends
    # depends on when the next piece comes (12 ms later), so from it only
    # the start is compared (its length of stderr does not change).
    local mask='s/^client 127\.0\.0\.1:[0-9]+: /client PEER: /; s/ran "oecho w[^"]*"/ran "oecho w..."/'
    want=$(readme_block README.md 'client 127.0.0.1:36756: ran "e"' | sed -E "$mask")
    run grep ': ran "' "$BATS_TEST_TMPDIR/srv.log"
    same_text "$want" "$(head -n 4 <<<"$output" | sed -E "$mask")"
    # Nothing lost, nothing added: what ran is the start of what was sent.
    local ran
    ran=$(sed -nE 's/^client [^ ]+: ran "(.*)": .*/\1/p' "$BATS_TEST_TMPDIR/srv.log" | tr -d '\n')
    [[ "echo helloecho world" == "$ran"* ]]
}

@test "the README's --direction up example: stage 4 does the same, its client showing the lines on stderr" {
    through_up_slicer 4
    expect_bytes "$BATS_TEST_TMPDIR/out" ''
    # the README's second block starting so is stage 4's
    same_text "$(readme_block README.md 'sh: 1: e: not found' 2)" "$(cat "$BATS_TEST_TMPDIR/err")"
    readme_says README.md "Stage 4's server does the same; its client shows the two replies on stderr"
    run grep -c ': ran "e": exit 127' "$BATS_TEST_TMPDIR/srv.log"
    assert_output 1
}

@test "the README's STALE line is what the viewer prints for the stage 1 capture" {
    run "$ROOT/viewer/nianbao-view" --replay "$ROOT/tests/golden/stage1_garble.nbcap" --dump
    assert_success
    assert_line --partial 'STALE: recv #3 returned bytes of reply #2'
    readme_says README.md 'names the garble as it happens: `STALE: recv #3 returned bytes of reply #2`'
}

# ---- tools/README.md ----

@test "tools/README.md's canned example: its port is the stage 3 client's default, and the client says what it quotes" {
    local line port
    line=$(grep -m1 '^tools/canned --reply short.bin --port ' "$ROOT/tools/README.md")
    port=${line##* }
    run "$ROOT/stage3_struct_len/client" --help
    assert_output --partial "the server's port (default $port)"
    readme_says tools/README.md "canned listens on $port, the stage 3 client's default port"
    # the example itself, on a free port
    cd "$BATS_TEST_TMPDIR"
    eval "$(grep -m1 '^printf .* >short.bin$' "$ROOT/tools/README.md")"
    start_server fake "$ROOT/tools/canned" --reply short.bin --port 0
    run --separate-stderr timeout 10 "$ROOT/stage3_struct_len/client" -p "$fake_port" <<<'ls'
    assert_failure 1
    assert_equal "$stderr" "$(readme_block tools/README.md 'client: connection closed')"
    assert_equal "$stderr" 'client: connection closed after 3 of 16 bytes of the reply'
    readme_says stage3_struct_len/README.md 'reported as `connection closed after N of M bytes of the reply`'
}

# ---- figures from `make bench` ----

@test "the READMEs' bench figures are those of bench/results/bench.md" {
    local md="$ROOT/bench/results/bench.md" line
    [ -f "$md" ] || skip "no bench/results/bench.md: run make bench"
    # the targets table, copied whole
    same_text "$(sed -n '/^| what | measured | target | holds |$/,/^$/p' "$md" | sed '/^$/d')" \
        "$(sed -n '/^| what | measured | target | holds |$/,/^$/p' "$ROOT/README.md" | sed '/^$/d')"
    # stage 2's race
    line=$(grep -E '^`hello` alone: [0-9]+ of [0-9]+; `helloworld`: [0-9]+ of [0-9]+\.$' "$md")
    [[ $line =~ ^\`hello\`\ alone:\ ([0-9]+)\ of\ ([0-9]+)\;\ \`helloworld\`:\ ([0-9]+) ]]
    readme_says README.md "got \`hello\` alone in ${BASH_REMATCH[1]} of ${BASH_REMATCH[2]} runs of the last \`make bench\`"
    readme_says stage2_udp_vs_tcp/README.md "returned \`\"hello\"\` alone in ${BASH_REMATCH[1]} of ${BASH_REMATCH[2]} runs and \`\"helloworld\"\` in ${BASH_REMATCH[3]}."
    # the tap's cost
    line=$(grep -E '^\| stage 4, 1 GiB \| ' "$md")
    readme_says README.md "a tapped 1 GiB stage 4 transfer took $(cut -d'|' -f5 <<<"$line" | tr -d ' ')× the untapped time"
    line=$(grep -E '^\| 400000 sends of 64 bytes ' "$md")
    readme_says README.md "400000 sends of 64 bytes took $(cut -d'|' -f5 <<<"$line" | tr -d ' ')× as long tapped"
    # the plot the README shows is there
    readme_says README.md '](bench/results/bench.svg)'
    [ -s "$ROOT/bench/results/bench.svg" ]
    # stage 5's tables, from the same run
    same_text "$(cat "$ROOT/bench/results/stage5.md")" \
        "$(sed -n '/^<!-- bench: stage5.md -->$/,/^$/p' "$ROOT/stage5_file_transfer/README.md" | sed '1d;/^$/d')"
    same_text "$(sed -n '/^| operation | stage 5 CPU s /,/^$/p' "$md" | grep '^|')" \
        "$(sed -n '/^<!-- bench: stage 5 CPU -->$/,/^$/p' "$ROOT/stage5_file_transfer/README.md" | sed '1d;/^$/d')"
    # stage 6's tables: each row of the README's is a row of bench/results/stage6.md
    local rows
    rows=$(sed -n '/^## Side by side/,/^## What the tests check/p' "$ROOT/stage6_concurrent/README.md" |
        grep -E '^\| (iterative|fork|thread|poll|Python ThreadingTCPServer|alone|beside) ')
    [ "$(wc -l <<<"$rows")" -ge 20 ]
    while IFS= read -r line; do
        grep -qxF -- "$line" "$ROOT/bench/results/stage6.md" || fail "not in bench/results/stage6.md: $line"
    done <<<"$rows"
    readme_says stage6_concurrent/README.md "$(grep '^p99 beside the idle connections' "$ROOT/bench/results/stage6.md")"
    # --sandbox's cost and a class's grading time (bench/sandbox.sh and
    # bench/class.sh, whose rows make bench keeps in sandbox.md and class.md)
    trim() { sed 's/^ *//; s/ *$//' <<<"$1"; }
    local runs plain with cost starter finished
    IFS='|' read -r _ runs plain with cost _ <"$ROOT/bench/results/sandbox.md"
    readme_says README.md "$(trim "$cost") a command (median $(trim "$plain") without, $(trim "$with") with, $(trim "$runs") runs each)"
    starter=$(grep '^| starter (0/14) |' "$ROOT/bench/results/class.md")
    finished=$(grep '^| finished (14/14) |' "$ROOT/bench/results/class.md")
    readme_says README.md "forty starters took $(trim "$(cut -d'|' -f4 <<<"$starter")") and forty finished clients $(trim "$(cut -d'|' -f4 <<<"$finished")") (one submission alone: $(trim "$(cut -d'|' -f3 <<<"$starter")") and $(trim "$(cut -d'|' -f3 <<<"$finished")"))"
}
