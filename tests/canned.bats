#!/usr/bin/env bats
# tools/canned: the fake server that answers every request with a file's bytes.

bats_require_minimum_version 1.5.0

setup() { load 'test_helper/common-setup'; _common_setup; }
teardown() { _common_teardown; }

CANNED="tools/canned"

# talk PORT REPLY_LEN OUTFILE REQUEST...: one connection; for each REQUEST,
# sends it, reads until REPLY_LEN bytes or EOF came back, then waits up to
# 0.5 s for EOF (the keep-open case has none). Writes all replies to OUTFILE
# and prints, per request, the bytes that came back and whether the
# connection was then closed: "5 open" or "5 closed".
talk() {
    python3 -c '
import socket, sys
port, reply_len, outfile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sock = socket.create_connection(("127.0.0.1", port), timeout=10)
with open(outfile, "wb") as out:
    for request in sys.argv[4:]:
        sock.sendall(request.encode())
        got, state = 0, "open"
        sock.settimeout(10)
        while True:
            if got >= reply_len:
                sock.settimeout(0.5)
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                state = "closed"
                break
            got += len(chunk)
            out.write(chunk)
        print(got, state)
        if state == "closed":
            break
' "$@" 3>&-
}

@test "a request gets the file's exact bytes, NULs included, then the connection closes" {
    printf 'abc\000\001\377def\000' >"$BATS_TEST_TMPDIR/reply.bin"
    start_server canned "$ROOT/$CANNED" --reply "$BATS_TEST_TMPDIR/reply.bin"
    run talk "$canned_port" 10 "$BATS_TEST_TMPDIR/got.bin" "ls"
    assert_success
    assert_output "10 closed"
    assert_equal "$(sha "$BATS_TEST_TMPDIR/got.bin")" "$(sha "$BATS_TEST_TMPDIR/reply.bin")"
}

@test "a 1 MiB reply arrives byte-identical" {
    head -c 1048576 /dev/urandom >"$BATS_TEST_TMPDIR/reply.bin"
    start_server canned "$ROOT/$CANNED" --reply "$BATS_TEST_TMPDIR/reply.bin"
    run talk "$canned_port" 1048576 "$BATS_TEST_TMPDIR/got.bin" "dir"
    assert_success
    assert_output "1048576 closed"
    assert_equal "$(sha "$BATS_TEST_TMPDIR/got.bin")" "$(sha "$BATS_TEST_TMPDIR/reply.bin")"
}

@test "an empty reply file means the client sees the connection close with no bytes" {
    : >"$BATS_TEST_TMPDIR/empty.bin"
    start_server canned "$ROOT/$CANNED" --reply "$BATS_TEST_TMPDIR/empty.bin"
    run talk "$canned_port" 0 "$BATS_TEST_TMPDIR/got.bin" "ls"
    assert_success
    assert_output "0 closed"
}

@test "connections are served one after another, each with the same reply" {
    printf 'same\n' >"$BATS_TEST_TMPDIR/reply.bin"
    start_server canned "$ROOT/$CANNED" --reply "$BATS_TEST_TMPDIR/reply.bin"
    local i
    for i in 1 2 3; do
        run talk "$canned_port" 5 "$BATS_TEST_TMPDIR/got$i.bin" "request $i"
        assert_output "5 closed"
        assert_equal "$(cat "$BATS_TEST_TMPDIR/got$i.bin")" "same"
    done
}

@test "--keep-open answers every request on the same connection" {
    printf 'again' >"$BATS_TEST_TMPDIR/reply.bin"
    start_server canned "$ROOT/$CANNED" --reply "$BATS_TEST_TMPDIR/reply.bin" --keep-open
    run talk "$canned_port" 5 "$BATS_TEST_TMPDIR/got.bin" "one" "two"
    assert_success
    assert_output "5 open
5 open"
    assert_equal "$(cat "$BATS_TEST_TMPDIR/got.bin")" "againagain"
    # The server is still there for the next client.
    run talk "$canned_port" 5 "$BATS_TEST_TMPDIR/got2.bin" "three"
    assert_output "5 open"
}

@test "a request longer than 1024 bytes still gets the whole reply, not a reset" {
    head -c 4000 /dev/urandom >"$BATS_TEST_TMPDIR/reply.bin"
    start_server canned "$ROOT/$CANNED" --reply "$BATS_TEST_TMPDIR/reply.bin"
    run talk "$canned_port" 4000 "$BATS_TEST_TMPDIR/got.bin" "$(printf 'x%.0s' $(seq 100000))"
    assert_success
    assert_output "4000 closed"
    assert_equal "$(sha "$BATS_TEST_TMPDIR/got.bin")" "$(sha "$BATS_TEST_TMPDIR/reply.bin")"
}

@test "a client that connects and leaves without a request does not stop the server" {
    printf 'ok' >"$BATS_TEST_TMPDIR/reply.bin"
    start_server canned "$ROOT/$CANNED" --reply "$BATS_TEST_TMPDIR/reply.bin"
    python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1]))).close()' \
        "$canned_port" 3>&-
    run talk "$canned_port" 2 "$BATS_TEST_TMPDIR/got.bin" "ls"
    assert_output "2 closed"
    run cat "$BATS_TEST_TMPDIR/canned.log"
    assert_output "listening on 127.0.0.1:$canned_port"
}

@test "-H and --port choose where it listens" {
    need_ipv6_loopback
    start_server canned "$ROOT/$CANNED" -H ::1 --port 0 --reply /dev/null
    run cat "$BATS_TEST_TMPDIR/canned.log"
    assert_output "listening on [::1]:$canned_port"
}

@test "SIGTERM and SIGINT stop it with exit status 0" {
    exits_0_on_sigterm_and_sigint "$ROOT/$CANNED" --reply /dev/null
}

@test "a missing reply file is one line on stderr and exit 1" {
    run --separate-stderr "$ROOT/$CANNED" --reply "$BATS_TEST_TMPDIR/nope.bin"
    assert_failure 1
    assert_output ""
    assert_equal "$stderr" "canned: cannot read reply file '$BATS_TEST_TMPDIR/nope.bin': No such file or directory"
}

@test "a reply 'file' that cannot be read (a directory) is one line on stderr and exit 1" {
    run --separate-stderr "$ROOT/$CANNED" --reply "$BATS_TEST_TMPDIR"
    assert_failure 1
    assert_output ""
    assert_equal "$stderr" "canned: cannot read reply file '$BATS_TEST_TMPDIR': Is a directory"
}

@test "a port already taken is one line on stderr and exit 1" {
    start_server taken "$ROOT/$CANNED" --reply /dev/null
    run --separate-stderr "$ROOT/$CANNED" --reply /dev/null --port "$taken_port"
    assert_failure 1
    assert_equal "$stderr" "canned: cannot listen on 127.0.0.1:$taken_port: Address already in use"
}

@test "--help prints the usage on stdout and exits 0" {
    run --separate-stderr "$ROOT/$CANNED" --help
    assert_success
    assert_line --index 0 "usage: canned [options]"
    assert_output --partial "--reply FILE"
    assert_output --partial "--keep-open"
    assert_equal "$stderr" ""
}

@test "--version prints one line and exits 0" {
    run --separate-stderr "$ROOT/$CANNED" --version
    assert_success
    assert_output --regexp '^canned \(nianbao [0-9.]+\): '
    assert_equal "${#lines[@]}" 1
}

@test "bad usage exits 2 with the problem on the first line of stderr" {
    run --separate-stderr "$ROOT/$CANNED"
    assert_failure 2
    assert_output ""
    assert_equal "${stderr_lines[0]}" "canned: --reply FILE is required: what should every answer be?"
    assert_equal "${stderr_lines[1]}" "Try 'canned --help' for more information."
    assert_equal "${#stderr_lines[@]}" 2

    run --separate-stderr "$ROOT/$CANNED" --reply /dev/null --bogus
    assert_failure 2
    assert_equal "${stderr_lines[0]}" "canned: unknown option '--bogus'"

    run --separate-stderr "$ROOT/$CANNED" --reply /dev/null --port 70000
    assert_failure 2
    assert_equal "${stderr_lines[0]}" "canned: --port: '70000' is not a port number (0..65535)"
}

@test "the README's example reply file is a 16-byte length field followed by 3 bytes" {
    local line
    line=$(grep -m1 "^printf .* >short.bin$" "$ROOT/tools/README.md")
    cd "$BATS_TEST_TMPDIR"
    eval "$line"
    run od -An -tx1 short.bin
    assert_output " 10 00 00 00 61 62 63"
    start_server canned "$ROOT/$CANNED" --reply short.bin
    run talk "$canned_port" 7 got.bin "ls"
    assert_output "7 closed"
}
