"""The stage 5 protocol's conformance requests: the same bytes, sent to a
server of the protocol, and every byte it answers, as a transcript.

    python3 tests/py/conformance.py PORT ROOT PART

ROOT is the directory the server serves (empty: this makes its files);
PART is "main" (a server started with --max-command 100 --max-upload
2000000), "read_only" (started with --read-only), "stage6" (a stage 6
model started with --max-clients 1 --frame-timeout 0.3: timeout and busy)
or "timeout" (the iterative model, --frame-timeout 0.3: timeout alone).
tests/conformance.bats runs it against every server and requires the
transcripts to be the same, byte for byte.

Each request below goes on a fresh connection, followed in the same write
by a "sentinel" (stat of a name that does not exist): its reply ends the
transcript of a request that leaves the connection open, and an end of
file or a reset is written "<closed>". The replies are written as they
came: the header's exact text, then the body's bytes (Python's repr; a
body over 256 bytes as its length and SHA-256). One thing is normalised:
how a command's output is cut into "output" frames depends on how the
pipe was read (the specification: "sent as the command produces them"),
so consecutive output frames of one stream are written as one, its size
shown as N. No reply of these requests holds a
time, a port or a path outside the root.
"""
import fcntl
import hashlib
import json
import os
import socket
import struct
import sys
import time

WAIT = 20.0  # seconds a reply may take before "<no reply>" (a hang guard)


def frame(header, body=b"", size=None):
    header = dict(header)
    header["size"] = len(body) if size is None else size
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    return struct.pack("!I", len(text)) + text + body


def raw(header_text, body=b""):
    return struct.pack("!I", len(header_text)) + header_text + body


def sha(data):
    return hashlib.sha256(data).hexdigest()


SENTINEL = frame({"op": "stat", "name": "zz-sentinel"})
SENTINEL_REPLY = b'{"op":"stat","name":"zz-sentinel","exists":false,"partial_size":0,"size":0}'


def show(header, body):
    text = header.decode("utf-8", "backslashreplace")
    if header.startswith(b'{"op":"output",'):   # its size: the merged body's
        text = text[:text.rindex('"size":')] + '"size":N}'
    if len(body) > 256:
        return text + " <%d bytes, sha256 %s>" % (len(body), sha(body))
    return text + (" " + repr(body) if body else "")


def same_stream(header, other):
    """Two output headers of one stream (their sizes aside)."""
    return header[:header.rindex(b'"size":')] == other[:other.rindex(b'"size":')]


class Peer:
    def __init__(self, port, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:                  # before connecting: the window is set then
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(WAIT)
        self.sock.connect(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.lines = []

    def exact(self, n):
        data = bytearray(n)
        view, have = memoryview(data), 0
        while have < n:
            got = self.sock.recv_into(view[have:])
            if not got:
                raise EOFError(have)
            have += got
        return bytes(data)

    def frame(self):
        """The next frame as (header bytes, body bytes), or a word."""
        try:
            (hlen,) = struct.unpack("!I", self.exact(4))
            header = self.exact(hlen)
            size = json.loads(header)["size"]
            return header, self.exact(size)
        except EOFError as e:
            return "<closed>" if e.args[0] == 0 else "<closed mid-frame>"
        except ConnectionResetError:
            return "<closed>"
        except socket.timeout:
            return "<no reply within %g s>" % WAIT

    def replies(self, until=SENTINEL_REPLY):
        """Frames until UNTIL's header, an end or a silence."""
        output = None                   # [header, body] of output frames merged
        while True:
            got = self.frame()
            if output and (isinstance(got, str) or not same_stream(got[0], output[0])):
                self.lines.append(show(output[0], output[1]))
                output = None
            if isinstance(got, str):
                self.lines.append(got)
                return
            header, body = got
            if header == until:
                self.lines.append("(sentinel answered)")
                return
            if header.startswith(b'{"op":"output",'):
                if output:
                    output[1] += body
                else:
                    output = [header, body]
                continue
            self.lines.append(show(header, body))

    def close(self):
        self.sock.close()


def exchange(port, data, pieces=None, shut=False, sentinel=True):
    """Sends DATA (in PIECES bytes at a time when given), then the sentinel;
    returns the transcript lines. SHUT: shuts the writing side instead."""
    peer = Peer(port)
    if sentinel and not shut:
        data += SENTINEL
    if pieces:
        for at in range(0, len(data), pieces):
            peer.sock.sendall(data[at:at + pieces])
            time.sleep(0.002)
    else:
        peer.sock.sendall(data)
    if shut:
        peer.sock.shutdown(socket.SHUT_WR)
    peer.replies()
    peer.close()
    return peer.lines


def put_frames(name, content, **fields):
    """A whole put, data and end, in one write."""
    offset = fields.get("offset", 0)
    return (frame(dict({"op": "put", "name": name, "file_size": len(content)}, **fields)) +
            frame({"op": "data"}, content[offset:]) +
            frame({"op": "end", "sha256": sha(content)}))


# ---- the requests ----------------------------------------------------------

def make_files(root):
    def write(name, data):
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    os.makedirs(os.path.join(root, "sub"))
    os.makedirs(os.path.join(root, "empty"))
    write("hello.txt", b"hello\n")
    write("sub/a.txt", b"a file in sub\n")
    write("resume.bin", b"0123456789")
    write("big.bin", b"b" * BIG)
    os.mkfifo(os.path.join(root, "fifo"))
    os.symlink("/etc/hostname", os.path.join(root, "leads-out"))
    outside = root.rstrip("/") + ".outside"
    os.makedirs(outside, exist_ok=True)
    with open(os.path.join(outside, "secret"), "wb") as f:
        f.write(b"secret\n")
    os.link(os.path.join(outside, "secret"), os.path.join(root, ".nianbao-part.linked"))
    write(".nianbao-part.locked", b"")
    write(".nianbao-part.partial", b"01234")
    write(".nianbao-part.resume.bin", b"abcde")


HELLO = b"hello\n"
BIG = 32 << 20      # more than the sockets' buffers hold, both ends together


def touched_while_sent(port, root):
    """A file whose digest the server remembers, touched while it is sent:
    error "changed" in place of "end" (the file frame is whole), then the
    next request. NIANBAO_DIGEST_SETTLE=0.05 lets the digest be kept."""
    # One connection: the memo is the process's, and the fork model's
    # process is the connection's. A small receive buffer: the server's
    # send buffer and ours hold far less than the file.
    peer = Peer(port, rcvbuf=65536)
    peer.sock.sendall(frame({"op": "get", "name": "big.bin"}) + SENTINEL)
    peer.replies()
    peer.sock.sendall(frame({"op": "get", "name": "big.bin"}) + SENTINEL)
    # Once bytes come, the server has the file open and its key taken; the
    # rest of the 32 MiB cannot all be in the sockets yet: it is sending.
    peer.sock.recv(1, socket.MSG_PEEK)
    os.utime(os.path.join(root, "big.bin"))
    peer.replies()
    peer.close()
    return peer.lines


def main_requests():
    """(title, kwargs of exchange) for a server with --max-command 100
    --max-upload 2000000."""
    r = []

    def add(title, data, **kw):
        r.append((title, data, kw))

    # valid requests
    add("list the root", frame({"op": "list"}))
    add("list a directory", frame({"op": "list", "name": "sub"}))
    add("list an empty directory", frame({"op": "list", "name": "empty"}))
    add("stat a file", frame({"op": "stat", "name": "hello.txt"}))
    add("stat a partial upload", frame({"op": "stat", "name": "partial"}))
    add("get a file", frame({"op": "get", "name": "hello.txt"}))
    add("get a file in a directory", frame({"op": "get", "name": "sub/a.txt"}))
    add("get resumed at an offset", frame({"op": "get", "name": "hello.txt", "offset": 2,
                                           "prefix_sha256": sha(HELLO[:2])}))
    add("get resumed at the end", frame({"op": "get", "name": "hello.txt", "offset": 6,
                                         "prefix_sha256": sha(HELLO)}))
    add("exec with stdout", frame({"op": "exec"}, b"printf 'hi\\n'"))
    add("exec with stderr and an exit code", frame({"op": "exec"}, b"echo oops >&2; exit 3"))
    add("exec killed by a signal", frame({"op": "exec"}, b"kill -9 $$"))
    add("exec with output in several pieces", frame({"op": "exec"},
        b"head -c 300000 /dev/zero | tr '\\0' a; echo"))
    add("exec of a command of exactly --max-command bytes",
        frame({"op": "exec"}, b"true" + b" " * 96))
    add("put a new file", put_frames("new.txt", b"new bytes\n"))
    add("put an empty file", put_frames("empty.txt", b""))
    add("put over a file with overwrite", put_frames("hello2.txt", b"x", overwrite=True))
    add("put resumed after a partial upload",
        put_frames("partial", b"0123456789", offset=5, prefix_sha256=sha(b"01234")))
    add("put into a directory", put_frames("sub/b.txt", b"b\n"))
    add("the new files, listed", frame({"op": "list"}) + frame({"op": "list", "name": "sub"}))

    # refused: every code
    add("unknown_op: an op not in the table", frame({"op": "getattr"}))
    add("unknown_op: a method name", frame({"op": "__init__"}))
    add("unknown_op with a body: skipped, next", frame({"op": "nope"}, b"x" * 5000))
    add("unknown_field", frame({"op": "get", "name": "hello.txt", "mode": "rb"}))
    add("unknown_field in list", frame({"op": "list", "recursive": True}))
    add("bad_field: no op", frame({"name": "hello.txt"}))
    add("bad_field: op not a string", frame({"op": 5}))
    add("bad_field: a name that is not a string", frame({"op": "stat", "name": 5}))
    add("bad_field: a missing name", frame({"op": "get"}))
    add("bad_field: a negative offset", frame({"op": "get", "name": "hello.txt", "offset": -1}))
    add("bad_field: an offset with a point",
        raw(b'{"op":"get","name":"hello.txt","offset":1.0,"prefix_sha256":"' +
            sha(b"h").encode() + b'","size":0}'))
    add("bad_field: an offset written -0",
        raw(b'{"op":"get","name":"hello.txt","offset":-0,"size":0}'))
    add("bad_field: an offset without prefix_sha256",
        frame({"op": "get", "name": "hello.txt", "offset": 2}))
    add("bad_field: prefix_sha256 without an offset",
        frame({"op": "get", "name": "hello.txt", "prefix_sha256": sha(b"")}))
    add("bad_field: prefix_sha256 not hex",
        frame({"op": "get", "name": "hello.txt", "offset": 1, "prefix_sha256": "zz"}))
    add("bad_field: overwrite not a boolean",
        frame({"op": "put", "name": "x", "file_size": 1, "overwrite": "yes"}))
    add("bad_field: put's offset past file_size",
        frame({"op": "put", "name": "x", "file_size": 5, "offset": 6,
               "prefix_sha256": sha(b"")}))
    add("bad_field: a body where there is none, skipped",
        frame({"op": "stat", "name": "hello.txt"}, b"body"))
    add("bad_field: exec with no body", frame({"op": "exec"}))
    add("bad_field: \\u0000 in a name",
        raw(b'{"op":"stat","name":"a\\u0000b","size":0}'))
    add("out_of_order: data as a request", frame({"op": "data"}, b"abc"))
    add("out_of_order: end as a request", frame({"op": "end", "sha256": sha(b"")}))
    add("out_of_order: a reply's op as a request", frame({"op": "output", "stream": "stdout"}))
    for name in ("", "/etc/passwd", "a/../hello.txt", "./hello.txt", "..", "sub//a.txt",
                 "sub/", "a\u0001b", "a\u007fb", ".nianbao-part.x",
                 "sub/.nianbao", "x" * 1025, "y" * 242, "leads-out"):
        add("bad_name: %r" % (name if len(name) < 20 else name[:4] + "..."),
            frame({"op": "get", "name": name}))
    add("bad_name in list", frame({"op": "list", "name": "../"}))
    add("bad_name in put", frame({"op": "put", "name": "/x", "file_size": 1}))
    add("names of 1024 bytes and components of 241 are names",
        frame({"op": "stat", "name": "/".join(["z" * 241] * 4) + "/" + "z" * 56}) +
        frame({"op": "stat", "name": "z" * 241}))
    add("a C1 control character (CSI) is a name, shown escaped",
        frame({"op": "get", "name": "\u009b2J"}))
    add("not_found: a missing file", frame({"op": "get", "name": "missing.txt"}))
    add("not_found: a missing directory", frame({"op": "get", "name": "sub/y/z"}))
    add("not_found: list of a missing directory", frame({"op": "list", "name": "nodir"}))
    add("not_found: put into a missing directory",
        frame({"op": "put", "name": "nodir/x", "file_size": 1}))
    add("not_file: get of a directory", frame({"op": "get", "name": "sub"}))
    add("not_file: get of a FIFO", frame({"op": "get", "name": "fifo"}))
    add("not_file: list of a file", frame({"op": "list", "name": "hello.txt"}))
    add("not_file: put over a directory", frame({"op": "put", "name": "sub", "file_size": 1}))
    add("exists: put over a file", frame({"op": "put", "name": "hello.txt", "file_size": 1}))
    add("too_large: put over --max-upload",
        frame({"op": "put", "name": "huge", "file_size": 2000001}))
    add("too_large: exec over --max-command, its body skipped",
        frame({"op": "exec"}, b"true" + b" " * 97))
    add("too_large: exec with a body over 1 MiB, not skipped: close",
        frame({"op": "exec"}, size=1500000))
    add("changed: get with a wrong prefix",
        frame({"op": "get", "name": "hello.txt", "offset": 2, "prefix_sha256": sha(b"xx")}))
    add("changed: get past the end",
        frame({"op": "get", "name": "hello.txt", "offset": 7, "prefix_sha256": sha(b"x")}))
    add("changed: put resumed with a wrong prefix",
        frame({"op": "put", "name": "resume.bin", "file_size": 20, "offset": 3,
               "prefix_sha256": sha(b"abd"), "overwrite": True}))
    add("changed: put resumed past what the partial file holds",
        frame({"op": "put", "name": "resume.bin", "file_size": 20, "offset": 8,
               "prefix_sha256": sha(b"abcdefgh"), "overwrite": True}))
    add("changed: put resumed with no partial file",
        frame({"op": "put", "name": "nothing", "file_size": 20, "offset": 3,
               "prefix_sha256": sha(b"abc")}))
    add("locked: the partial file is locked", frame({"op": "put", "name": "locked",
                                                     "file_size": 3}))
    add("digest_mismatch: an upload whose end names another digest",
        frame({"op": "put", "name": "bad.txt", "file_size": 3}) + frame({"op": "data"}, b"abc") +
        frame({"op": "end", "sha256": sha(b"abd")}))
    add("io: a partial file with two names",
        frame({"op": "put", "name": "linked", "file_size": 3}))
    add("after an upload's refusals, nothing is left", frame({"op": "list"}))

    # inside a put: out of step, closed
    add("a put's data of the wrong size: bad_field, close",
        frame({"op": "put", "name": "w1", "file_size": 3}) + frame({"op": "data"}, b"ab"))
    add("a put's data replaced by another request: out_of_order, close",
        frame({"op": "put", "name": "w2", "file_size": 3}) + frame({"op": "list"}))
    add("a put's end replaced by data: out_of_order, close",
        frame({"op": "put", "name": "w3", "file_size": 3}) + frame({"op": "data"}, b"abc") +
        frame({"op": "data"}, b""))
    add("a put's end with a field it does not have: unknown_field, close",
        frame({"op": "put", "name": "w4", "file_size": 3}) + frame({"op": "data"}, b"abc") +
        frame({"op": "end", "sha256": sha(b"abc"), "x": 1}))
    add("a bad frame inside a put: bad_frame, close",
        frame({"op": "put", "name": "w5", "file_size": 3}) + struct.pack("!I", 0))

    # bad frames: close
    add("bad_frame: HLEN 0", struct.pack("!I", 0))
    add("bad_frame: HLEN over 65536", struct.pack("!I", 65537) + b"{" * 16)
    add("bad_frame: an HTTP request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    add("bad_frame: stage 4's little-endian length", struct.pack("<I", 22) + b"{}")
    add("bad_frame: not JSON", raw(b"{op: get}"))
    add("bad_frame: JSON, not an object", raw(b'["op","list"]'))
    add("bad_frame: two objects", raw(b'{"op":"list","size":0}{}'))
    add("bad_frame: a key twice", raw(b'{"op":"list","op":"list","size":0}'))
    add("bad_frame: a byte-order mark", raw(b'\xef\xbb\xbf{"op":"list","size":0}'))
    add("bad_frame: not UTF-8", raw(b'{"op":"stat","name":"\xff","size":0}'))
    add("bad_frame: a raw control character", raw(b'{"op":"stat","name":"a\x01","size":0}'))
    add("bad_frame: no size", raw(b'{"op":"list"}'))
    add("bad_frame: size not a number", raw(b'{"op":"list","size":"0"}'))
    add("bad_frame: size written 0.0", raw(b'{"op":"list","size":0.0}'))
    add("bad_frame: size -1", raw(b'{"op":"list","size":-1}'))
    add("bad_frame: size 2^53", raw(b'{"op":"list","size":9007199254740992}'))
    add("bad_frame: a body longer than any request may be",
        frame({"op": "exec"}, size=3000000))
    add("bad_frame: a body longer than any request, on an unknown op",
        frame({"op": "nope"}, size=1 << 40))

    # pipelined, cut, truncated
    add("pipelined: five requests in one write",
        frame({"op": "stat", "name": "hello.txt"}) + frame({"op": "list", "name": "sub"}) +
        frame({"op": "get", "name": "hello.txt"}) + frame({"op": "exec"}, b"echo one") +
        frame({"op": "nope"}, b"skipped") + frame({"op": "get", "name": "missing"}))
    add("cut: requests sent 1 byte at a time",
        frame({"op": "exec"}, b"echo cut") + frame({"op": "get", "name": "hello.txt"}) +
        put_frames("cut.txt", b"cut\n"), pieces=1)
    add("cut: requests sent 7 bytes at a time",
        frame({"op": "stat", "name": "cut.txt"}) + frame({"op": "nope"}, b"x" * 20) +
        frame({"op": "list", "name": "sub"}), pieces=7)
    req = frame({"op": "get", "name": "hello.txt"})
    add("truncated: the length cut, then the client shuts its side", req[:2], shut=True)
    add("truncated: the header cut", req[:10], shut=True)
    add("truncated: an exec's body cut", frame({"op": "exec"}, b"echo x")[:-2], shut=True)
    add("truncated: after a whole request", req, shut=True)
    return r


def read_only_requests():
    return [
        ("read_only: put on a --read-only server",
         frame({"op": "put", "name": "x", "file_size": 1}), {}),
        ("read_only: get still works", frame({"op": "get", "name": "hello.txt"}), {}),
    ]


def holding_the_place(port):
    """A client served by a --max-clients 1 server: it holds the one place.
    The timeout client before it is closed, but a model may still count it
    a moment longer (the fork model, until its process has ended and been
    reaped): told busy then, the client tries again, as the message says,
    until it is served. Still told busy after WAIT seconds (a server that
    never counts a client out), it says so in the transcript."""
    give_up = time.monotonic() + WAIT
    while True:
        peer = Peer(port)
        peer.sock.sendall(frame({"op": "stat", "name": "hello.txt"}))
        got = peer.frame()
        if isinstance(got, str) or b'"code":"busy"' not in got[0]:
            return peer
        if time.monotonic() > give_up:
            print("<the one client was told busy for %g s: no place was free>" % WAIT)
            return peer
        peer.close()
        time.sleep(0.01)


def run_stage6(port, busy):
    """timeout and (BUSY) busy, stage 6's codes (--frame-timeout 0.3,
    --max-clients 1)."""
    print("== timeout: a frame not whole within --frame-timeout")
    peer = Peer(port)
    peer.sock.sendall(frame({"op": "list"})[:3])
    peer.replies()
    print("\n".join(peer.lines))
    peer.close()
    if not busy:
        return
    print("== busy: a client over --max-clients")
    first = holding_the_place(port)
    second = Peer(port)
    second.replies()
    print("\n".join(second.lines))
    second.close()
    first.close()


def main():
    port, root, part = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    if not os.path.exists(os.path.join(root, "hello.txt")):
        make_files(root)
    if part in ("stage6", "timeout"):
        run_stage6(port, part == "stage6")
        return
    lock = open(os.path.join(root, ".nianbao-part.locked"), "rb")
    fcntl.flock(lock, fcntl.LOCK_EX)
    for title, data, kw in (main_requests() if part == "main" else read_only_requests()):
        print("== " + title)
        print("\n".join(exchange(port, data, **kw)), flush=True)
    if part == "main":
        print("== changed: a remembered file touched while it is sent")
        print("\n".join(touched_while_sent(port, root)), flush=True)
    lock.close()


if __name__ == "__main__":
    main()
