#!/usr/bin/env bats
# Our C programs against the document's OWN Python programs, both ways. No
# line of them is in this repository: tests/doc_extract.py takes them from
# the tutorial's text at test time (beside the repo, in ../shared/seed/, or
# where NIANBAO_DOCUMENT says),
# with a few listed patches so that they run without a terminal and on a
# port the test chooses. The document's clients print a prompt before each
# command (input('enter msg :>>>')) and '命令结束' after each reply; the
# expected outputs below say so, byte for byte.

# start_server sets NAME_port/NAME_pid:
# shellcheck disable=SC2154
setup() {
    load 'test_helper/common-setup'
    _common_setup
    # NIANBAO_DOCUMENT, when set, says where the tutorial's text is.
    SEED=${NIANBAO_DOCUMENT:-$ROOT/../shared/seed/000_2062dbd12727a7a5.txt}
    if [ ! -f "$SEED" ]; then
        skip "the tutorial's text is not at $SEED: put a plain-text copy of 基于 TCP 协议实现服务端执行代码将结果反馈给客户端 (https://www.cnblogs.com/dream-ze/) there, or set NIANBAO_DOCUMENT to its path"
    fi
    if ! command -v python3 >/dev/null; then
        skip "python3 is not installed: the document's programs cannot run"
    fi
}
teardown() { _common_teardown; }

PROMPT='enter msg :>>>'
DONE='命令结束'

# doc_program NAME [--keep-close-in-loop]: extracts the document's program
# NAME into $BATS_TEST_TMPDIR/NAME.py (its patch list into NAME.patches).
doc_program() {
    python3 -B "$ROOT/tests/doc_extract.py" "$SEED" "$@" \
        >"$BATS_TEST_TMPDIR/$1.py" 2>"$BATS_TEST_TMPDIR/$1.patches" || {
        echo "doc_extract.py $*:"; cat "$BATS_TEST_TMPDIR/$1.patches"
        return 1
    }
}

# run_to_files PROG... : runs PROG with $INPUT on stdin; stdout and stderr
# go to $BATS_TEST_TMPDIR/out and /err, the exit status to $status.
run_to_files() {
    status=0
    printf '%s' "$INPUT" | timeout 20 "$@" \
        >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || status=$?
}

# run_doc_client NAME PORT: runs the extracted program NAME against PORT.
run_doc_client() {
    run_to_files python3 -B "$BATS_TEST_TMPDIR/$1.py" "$2"
}

# start_doc_server NAME: extracts and starts the document's server NAME as
# docsrv (the port patch makes it announce itself like our servers).
start_doc_server() {
    doc_program "$1"
    start_server docsrv python3 -B "$BATS_TEST_TMPDIR/$1.py" 0
}

# ---- the extractor ----

@test "the extractor finds the document's six programs and changes only the listed lines" {
    local name want got
    for name in v1_server v1_client v3_server v3_client v4_server v4_client; do
        python3 -B "$ROOT/tests/doc_extract.py" "$SEED" "$name" --as-written \
            >"$BATS_TEST_TMPDIR/written.py"
        doc_program "$name"
        python3 -B -c 'import ast, sys; ast.parse(open(sys.argv[1]).read())' \
            "$BATS_TEST_TMPDIR/$name.py"
        [ "$(head -n 1 "$BATS_TEST_TMPDIR/written.py")" = '# -*-coding: Utf-8 -*-' ]
        # Servers: import sys, bind (old and new), the listening line = 4
        # diff lines. Clients: import sys, connect (2), input in a try
        # (1 old, 4 new), close moved out (2) = 10.
        case $name in
        *_server) want=4 ;;
        *_client) want=10 ;;
        esac
        got=$(diff "$BATS_TEST_TMPDIR/written.py" "$BATS_TEST_TMPDIR/$name.py" | grep -c '^[<>]')
        echo "$name: $got changed lines, want $want"
        [ "$got" -eq "$want" ]
    done
    # The patch list on stderr names each replacement, old and new text.
    run grep -c '^patch ' "$BATS_TEST_TMPDIR/v3_client.patches"
    [ "$output" -eq 4 ]
    grep -qxF "patch port: \"client.connect(('127.0.0.1', 8083))\" -> \"client.connect(('127.0.0.1', int(sys.argv[1])))\"" \
        "$BATS_TEST_TMPDIR/v3_client.patches"
}

@test "the extractor fails, naming the patch, when the text does not hold what it replaces" {
    sed 's/8083/9999/' "$SEED" >"$BATS_TEST_TMPDIR/changed.txt"
    run python3 -B "$ROOT/tests/doc_extract.py" "$BATS_TEST_TMPDIR/changed.txt" v3_server
    [ "$status" -eq 1 ]
    [ "${lines[-1]}" = "doc_extract.py: v3_server: patch 'port' matches 0 times, want 1: \"server.bind(('127.0.0.1', 8083))\"" ]
}

# ---- the document's clients against our servers ----

@test "the document's v3 client prints our stage 3 server's replies whole, each followed by 命令结束" {
    doc_program v3_client
    start_server srv "$ROOT/stage3_struct_len/server" --port 0
    INPUT=$'echo hello\nseq 1 2000\ntrue\necho out; echo err >&2\n'
    run_doc_client v3_client "$srv_port"
    [ "$status" -eq 0 ]
    {
        printf '%s%s\n%s\n' "$PROMPT" hello "$DONE"
        printf '%s' "$PROMPT"; seq 1 2000; printf '%s\n' "$DONE"
        printf '%s%s\n' "$PROMPT" "$DONE"
        printf '%sout\nerr\n%s\n' "$PROMPT" "$DONE"
        printf '%s' "$PROMPT"
    } >"$BATS_TEST_TMPDIR/want"
    same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
    [ ! -s "$BATS_TEST_TMPDIR/err" ]
}

@test "the document's v4 client reads our stage 4 server's header and prints the body, each followed by 命令结束" {
    doc_program v4_client
    start_server srv "$ROOT/stage4_json_header/server" --port 0
    INPUT=$'echo hello\nseq 1 2000\ntrue\necho out; echo err >&2\n'
    run_doc_client v4_client "$srv_port"
    [ "$status" -eq 0 ]
    # Our extra header keys (stdout_size, exit_code) are ignored by it; it
    # prints the whole body, the stderr part included.
    {
        printf '%s%s\n%s\n' "$PROMPT" hello "$DONE"
        printf '%s' "$PROMPT"; seq 1 2000; printf '%s\n' "$DONE"
        printf '%s%s\n' "$PROMPT" "$DONE"
        printf '%sout\nerr\n%s\n' "$PROMPT" "$DONE"
        printf '%s' "$PROMPT"
    } >"$BATS_TEST_TMPDIR/want"
    same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
    [ ! -s "$BATS_TEST_TMPDIR/err" ]
}

@test "the document's v1 client against our stage 1 server: a long reply spills into the next command's" {
    doc_program v1_client
    start_server srv "$ROOT/stage1_naive/server" --port 0
    INPUT=$'seq 1 2000\necho MARK\n'
    run_doc_client v1_client "$srv_port"
    [ "$status" -eq 0 ]
    [ ! -s "$BATS_TEST_TMPDIR/err" ]
    local out first second rest seq_text
    # $(...) drops trailing newlines; the x keeps them.
    out=$(cat "$BATS_TEST_TMPDIR/out"; echo x); out=${out%x}
    seq_text=$(seq 1 2000; echo x); seq_text=${seq_text%x}
    # Three prompts, the last one at the very end (stdin is over).
    [[ $out == "$PROMPT"*"$PROMPT"*"$PROMPT" ]]
    rest=${out#"$PROMPT"}
    first=${rest%%"$PROMPT"*}; rest=${rest#*"$PROMPT"}
    second=${rest%%"$PROMPT"*}
    # Each "reply" is one recv(1024) and print()'s newline.
    [[ $first == *$'\n' && $second == *$'\n' ]]
    first=${first%$'\n'}; second=${second%$'\n'}
    echo "first reply ${#first} bytes, second ${#second} bytes"
    # The first: seq's first 1024 bytes. The second, the reply to
    # `echo MARK`: the stale seq bytes that come next. MARK never shows.
    [ "$first" = "${seq_text:0:1024}" ]
    # (two commands: under set -e the first of `[ ] && [ ]` could not fail)
    [ "${#second}" -ge 1 ]
    [ "${#second}" -le 1024 ]
    [ "$second" = "${seq_text:1024:${#second}}" ]
    [[ $out != *MARK* ]]
}

@test "the document's clients as written close the socket inside the loop: the second command fails" {
    local version stage
    for version in 1 3 4; do
        case $version in
        1) stage=stage1_naive ;;
        3) stage=stage3_struct_len ;;
        4) stage=stage4_json_header ;;
        esac
        doc_program "v${version}_client" --keep-close-in-loop
        start_server srv "$ROOT/$stage/server" --port 0
        INPUT=$'echo hello\necho again\n'
        run_doc_client "v${version}_client" "$srv_port"
        echo "v$version client: exit $status; stderr:"; cat "$BATS_TEST_TMPDIR/err"
        [ "$status" -eq 1 ]
        # The first reply is printed, then the send of the second command
        # hits the closed socket.
        case $version in
        1) expect_bytes "$BATS_TEST_TMPDIR/out" '%shello\n\n%s' "$PROMPT" "$PROMPT" ;;
        *) expect_bytes "$BATS_TEST_TMPDIR/out" '%shello\n%s\n%s' "$PROMPT" "$DONE" "$PROMPT" ;;
        esac
        [ "$(head -n 1 "$BATS_TEST_TMPDIR/err")" = 'Traceback (most recent call last):' ]
        grep -qxF "    client.send(msg)" "$BATS_TEST_TMPDIR/err"
        [ "$(tail -n 1 "$BATS_TEST_TMPDIR/err")" = 'OSError: [Errno 9] Bad file descriptor' ]
    done
}

# ---- our clients against the document's servers ----

@test "our stage 3 client reads the document's v3 server's replies whole" {
    start_doc_server v3_server
    head -c 100000 /dev/urandom >"$BATS_TEST_TMPDIR/random"
    INPUT=$'true\nseq 1 2000\necho MARK\n'"cat $BATS_TEST_TMPDIR/random"$'\necho out; echo err >&2\n'
    run_to_files "$ROOT/stage3_struct_len/client" -p "$docsrv_port"
    [ "$status" -eq 0 ]
    # The document's reply is stdout then stderr, one length for both.
    { seq 1 2000; echo MARK; cat "$BATS_TEST_TMPDIR/random"; printf 'out\nerr\n'; } \
        >"$BATS_TEST_TMPDIR/want"
    same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
    [ ! -s "$BATS_TEST_TMPDIR/err" ]
}

@test "our stage 4 client takes the document's v4 header (md5 placeholder \"md5\", no stdout_size)" {
    start_doc_server v4_server
    head -c 100000 /dev/urandom >"$BATS_TEST_TMPDIR/random"
    INPUT=$'true\nseq 1 2000\necho MARK\n'"cat $BATS_TEST_TMPDIR/random"$'\necho out; echo err >&2\n'
    run_to_files "$ROOT/stage4_json_header/client" -p "$docsrv_port"
    [ "$status" -eq 0 ]
    # Without stdout_size the whole body is stdout; "md5" is not 32 hex
    # digits, so it is not checked.
    { seq 1 2000; echo MARK; cat "$BATS_TEST_TMPDIR/random"; printf 'out\nerr\n'; } \
        >"$BATS_TEST_TMPDIR/want"
    same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
    [ ! -s "$BATS_TEST_TMPDIR/err" ]
}

# ---- the document's bug, shown by the slicer ----

@test "through tools/slicer in 1..3-byte pieces the document's v4 client fails, our stage 4 client does not" {
    doc_program v4_client
    start_server srv "$ROOT/stage4_json_header/server" --port 0
    start_server slicer "$ROOT/tools/slicer" --listen 0 --to "127.0.0.1:$srv_port" \
        --min 1 --max 3 --seed 11 --pace
    INPUT=$'echo hello\n'
    run_doc_client v4_client "$slicer_port"
    echo "document's v4 client: exit $status; stderr:"; cat "$BATS_TEST_TMPDIR/err"
    [ "$status" -eq 1 ]
    # Its ONE recv(4) got fewer than 4 bytes (or its ONE recv(n) part of
    # the JSON header): it dies before printing any reply.
    expect_bytes "$BATS_TEST_TMPDIR/out" '%s' "$PROMPT"
    [ "$(head -n 1 "$BATS_TEST_TMPDIR/err")" = 'Traceback (most recent call last):' ]
    tail -n 1 "$BATS_TEST_TMPDIR/err" |
        grep -Eq '^(struct\.error: unpack requires a buffer of 4 bytes|json\.decoder\.JSONDecodeError: )'

    INPUT=$'echo hello\nseq 1 300\necho out; echo err >&2\n'
    run_to_files "$ROOT/stage4_json_header/client" -p "$slicer_port"
    [ "$status" -eq 0 ]
    { echo hello; seq 1 300; echo out; } >"$BATS_TEST_TMPDIR/want"
    same_bytes "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/out"
    expect_bytes "$BATS_TEST_TMPDIR/err" 'err\n'
}

@test "the document's v3 server never replies when a command writes more than a pipe's worth to stderr" {
    start_doc_server v3_server
    # It reads the command's stdout to the end before it reads stderr: the
    # command blocks on the full stderr pipe and never closes stdout. Our
    # client is still waiting when timeout ends it (exit 124).
    INPUT=$'head -c 70000 /dev/zero >&2\n'
    status=0
    printf '%s' "$INPUT" | timeout 1 "$ROOT/stage3_struct_len/client" -p "$docsrv_port" \
        >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || status=$?
    [ "$status" -eq 124 ]
    expect_bytes "$BATS_TEST_TMPDIR/out" ''
}
