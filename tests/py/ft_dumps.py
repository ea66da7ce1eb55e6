#!/usr/bin/env python3
"""ft_dumps.py ROOT [--update README]: the hex dump of every stage 5
message, taken from the real programs. Starts the stage 5 server on a
fresh directory, runs the C client through a relay that records each
direction's bytes, cuts the recording into frames and prints them as the
Markdown that stage5_file_transfer/README.md holds between its
"hexdumps" markers. With --update, rewrites that part of README instead.
tests/stage5_readme.bats checks the README against this output, so the
dumps stay true.
"""
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading

ROOT = os.path.abspath(sys.argv[1])
SERVER = os.path.join(ROOT, "stage5_file_transfer", "server")
CLIENT = os.path.join(ROOT, "stage5_file_transfer", "client")
BEGIN, END = "<!-- hexdumps begin: tests/py/ft_dumps.py writes this part -->", "<!-- hexdumps end -->"

# (what it shows, client arguments, files to prepare: {path: bytes})
SCENARIOS = [
    ("exec: `client exec echo hi`", ["exec", "echo", "hi"], {}),
    ("put: `client put hello.txt`", ["put", "hello.txt"], {"local/hello.txt": b"hello\n"}),
    ("get: `client get hello.txt copy.txt`", ["get", "hello.txt", "copy.txt"], {}),
    ("a resumed get: `client --resume get hello.txt again.txt`, with 3 bytes already in "
     "again.txt.nianbao-part",
     ["--resume", "get", "hello.txt", "again.txt"], {"local/again.txt.nianbao-part": b"hel"}),
    ("stat: `client stat hello.txt`", ["stat", "hello.txt"], {}),
    ("list: `client ls`", ["ls"], {}),
    ("an error: `client get missing.txt`", ["get", "missing.txt"], {}),
]


def relay(listener, log):
    """Accepts one connection, relays it to the server, and appends
    (direction, bytes) to LOG in the order they pass."""
    client, _ = listener.accept()
    server = socket.create_connection(("127.0.0.1", relay.server_port))
    lock = threading.Lock()

    def pump(src, dst, direction):
        while True:
            data = src.recv(65536)
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            with lock:
                log.append((direction, data))
            dst.sendall(data)

    up = threading.Thread(target=pump, args=(client, server, "up"))
    up.start()
    pump(server, client, "down")
    up.join()
    client.close()
    server.close()


def frames(stream):
    """Cuts a byte stream into whole frames (raw bytes, header dict)."""
    out, at = [], 0
    while at < len(stream):
        (hlen,) = struct.unpack("!I", stream[at:at + 4])
        header = json.loads(stream[at + 4:at + 4 + hlen])
        end = at + 4 + hlen + header["size"]
        out.append((stream[at:end], header, hlen))
        at = end
    return out


def hexdump(data):
    """hexdump -C's layout: offset, 16 bytes in hex, the printable ones."""
    lines = []
    for at in range(0, len(data), 16):
        row = data[at:at + 16]
        hexes = " ".join(f"{b:02x}" for b in row[:8]) + "  " + " ".join(f"{b:02x}" for b in row[8:])
        text = "".join(chr(b) if 0x20 <= b < 0x7f else "." for b in row)
        lines.append(f"{at:08x}  {hexes:<48}  |{text}|")
    lines.append(f"{len(data):08x}")
    return "\n".join(lines)


def main():
    work = tempfile.mkdtemp(prefix="nianbao-dumps.")
    served, local = os.path.join(work, "served"), os.path.join(work, "local")
    os.mkdir(served)
    os.mkdir(local)
    server = subprocess.Popen([SERVER, "--port", "0", "--root", served],
                              stderr=subprocess.PIPE, text=True)
    try:
        for line in server.stderr:
            m = re.match(r"listening on .*:(\d+)$", line.strip())
            if m:
                relay.server_port = int(m[1])
                break
        threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
        parts = []
        for title, args, files in SCENARIOS:
            for path, data in files.items():
                with open(os.path.join(work, path), "wb") as f:
                    f.write(data)
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            log = []
            t = threading.Thread(target=relay, args=(listener, log))
            t.start()
            subprocess.run([CLIENT, "-p", str(listener.getsockname()[1])] + args, cwd=local,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=30)
            t.join(timeout=30)
            listener.close()
            parts.append(f"**{title}**\n")
            # Each frame in the order its first byte passed the relay.
            streams, passed, seen = {"up": b"", "down": b""}, [], {"up": 0, "down": 0}
            for direction, data in log:
                passed.append((direction, seen[direction], seen[direction] + len(data)))
                seen[direction] += len(data)
                streams[direction] += data
            placed = []
            for d, stream in streams.items():
                at = 0
                for raw, header, hlen in frames(stream):
                    when = next(i for i, (w, lo, hi) in enumerate(passed)
                                if w == d and lo <= at < hi)
                    placed.append((when, at, d, raw, header, hlen))
                    at += len(raw)
            emitted = []
            for when, at, d, raw, header, hlen in sorted(placed):
                arrow = "client → server" if d == "up" else "server → client"
                body = header["size"]
                emitted.append(f"{arrow}: `{header['op']}`, header length {hlen}, "
                               f"body {body} byte{'s' if body != 1 else ''}\n\n"
                               f"```\n{hexdump(raw)}\n```\n")
            parts.append("\n".join(emitted))
        text = "\n".join(parts)
    finally:
        server.terminate()
        server.wait()
        subprocess.run(["rm", "-rf", work])
    if len(sys.argv) > 3 and sys.argv[2] == "--update":
        path = sys.argv[3]
        readme = open(path).read()
        start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
        open(path, "w").write(readme[:start] + "\n" + text + readme[end:])
    else:
        print(text, end="")


main()
