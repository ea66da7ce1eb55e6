# Helpers for tools/slicer's tests: tests/slicer.bats and
# tests/heavy/slicer.bats, loaded after common-setup.bash.

SLICER="tools/slicer"

# exchange PORT INFILE OUTFILE [keep-open]: sends INFILE, half-closes (not
# with keep-open), and at the same time, so nothing deadlocks, writes all it
# receives until EOF to OUTFILE. Prints how many recv() calls it took.
exchange() {
    python3 -c '
import socket, sys, threading
port, infile, outfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
half_close = sys.argv[4:] != ["keep-open"]
sock = socket.create_connection(("127.0.0.1", port), timeout=30)
data = open(infile, "rb").read()
def writer():
    try:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
t = threading.Thread(target=writer)
t.start()
recvs = 0
with open(outfile, "wb") as out:
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        recvs += 1
        out.write(chunk)
t.join()
print(recvs)
' "$@" 3>&-
}

# large_pieces BYTES: a reply of BYTES random bytes from tools/canned through
# the slicer cutting it into 4 KiB..64 KiB pieces arrives byte-identical.
large_pieces() {
    head -c "$1" /dev/urandom >"$BATS_TEST_TMPDIR/reply.bin"
    printf 'x' >"$BATS_TEST_TMPDIR/request.bin"
    start_server upstream "$ROOT/tools/canned" --reply "$BATS_TEST_TMPDIR/reply.bin"
    start_server slicer "$ROOT/$SLICER" --to "127.0.0.1:$upstream_port" --min 4096 --max 65536
    run exchange "$slicer_port" "$BATS_TEST_TMPDIR/request.bin" "$BATS_TEST_TMPDIR/got.bin"
    assert_success
    assert_equal "$(sha "$BATS_TEST_TMPDIR/got.bin")" "$(sha "$BATS_TEST_TMPDIR/reply.bin")"
}
