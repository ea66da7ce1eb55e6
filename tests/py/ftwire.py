"""Stage 5 frames for the tests' hand-made peers: a client that sends
exactly the bytes a test wants (split, glued, broken), and a fake server
that answers the C client with them. Frames are built here by hand, not
with the C code under test.

    import sys; sys.path.insert(0, "tests/py"); from ftwire import *
"""
import hashlib
import json
import socket
import struct
import sys


def frame(header, body=b"", size=None):
    """A frame's bytes: big-endian header length, JSON header, body. SIZE
    overrides the header's size (to lie about the body)."""
    header = dict(header)
    header["size"] = len(body) if size is None else size
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    return struct.pack("!I", len(text)) + text + body


def raw_frame(header_text, body=b""):
    """A frame around header text given as bytes, exactly."""
    return struct.pack("!I", len(header_text)) + header_text + body


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def connect(port):
    return socket.create_connection(("127.0.0.1", int(port)), timeout=20)


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        part = sock.recv(n - len(data))
        if not part:
            raise EOFError(f"closed after {len(data)} of {n} bytes")
        data += part
    return data


def read_frame(sock):
    """The next frame as (header dict, body bytes); None at a clean EOF."""
    first = sock.recv(4, socket.MSG_WAITALL)
    if not first:
        return None
    if len(first) < 4:
        raise EOFError(f"closed after {len(first)} of 4 bytes of the header length")
    (length,) = struct.unpack("!I", first)
    header = json.loads(recv_exact(sock, length))
    return header, recv_exact(sock, header["size"])


def read_reply(sock):
    """Frames until the one that ends a reply (anything but "output" or
    "file"), as a list of (header, body)."""
    frames = []
    while True:
        got = read_frame(sock)
        if got is None:
            raise EOFError("the server closed the connection")
        frames.append(got)
        if got[0]["op"] not in ("output", "file"):
            return frames


def show(frames):
    """One line per frame, for the tests to compare: the header as JSON
    with keys sorted, then the body as Python bytes when there is one."""
    for header, body in frames:
        line = json.dumps(header, sort_keys=True, ensure_ascii=False)
        if body:
            line += " " + repr(body)
        print(line, flush=True)


def listen():
    """A listening socket on a free loopback port, announced on stderr as
    the lab's servers do."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    print(f"listening on 127.0.0.1:{server.getsockname()[1]}", file=sys.stderr, flush=True)
    return server
