#!/usr/bin/env python3
"""A stage 5 protocol server on Python's socketserver.ThreadingTCPServer: the
document's own answer to "serve many clients at once" (it points to
socketserver), written here so the bench can put it in the same table as the
C servers of stage 6. A thread per connection, as ThreadingMixIn does.

Speaks enough of the protocol (stage5_file_transfer/README.md) for the load generator and
the tests: exec (output streamed in frames, then exit with the SHA-256 of the
output), get (whole files), stat and list; any other op gets an error reply.
Not part of the lab: a test and bench peer.
"""

import argparse
import hashlib
import json
import os
import selectors
import signal
import socket
import socketserver
import stat
import struct
import subprocess
import sys
import time

MAX_HEADER = 65536
MAX_COMMAND = 65536
CHUNK = 65536


class FrameError(Exception):
    """The peer's bytes are not a frame: the connection cannot go on."""


def recv_exact(sock, n):
    """Exactly n bytes, or fewer when the peer closed first."""
    parts = []
    while n > 0:
        part = sock.recv(min(n, CHUNK))
        if not part:
            break
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def send_frame(sock, header, body=b""):
    header = dict(header, size=len(body))
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    # One sendall per frame: the length, the header and a small body leave together.
    sock.sendall(struct.pack("!I", len(text)) + text + body)


def send_error(sock, code, message):
    send_frame(sock, {"op": "error", "code": code, "message": message})


def safe_name(name):
    """A relative name that stays beneath the root, or None."""
    if not isinstance(name, str) or not name or len(name.encode()) > 1024:
        return None
    if name.startswith("/") or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        return None
    parts = name.split("/")
    if any(p in ("", ".", "..") or p.startswith(".nianbao") for p in parts):
        return None
    return parts


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        # The output frames and the exit frame are separate sends: without
        # this, Nagle's algorithm holds the exit frame for the client's
        # delayed ACK (40 ms a request).
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def handle(self):
        sock = self.request
        while True:
            raw = recv_exact(sock, 4)
            if not raw:
                return
            try:
                if len(raw) < 4:
                    raise FrameError("connection closed inside a header length")
                (hlen,) = struct.unpack("!I", raw)
                if not 1 <= hlen <= MAX_HEADER:
                    raise FrameError(f"header length {hlen} is out of range 1..{MAX_HEADER}")
                text = recv_exact(sock, hlen)
                if len(text) < hlen:
                    raise FrameError("connection closed inside a header")
                header = json.loads(text.decode("utf-8"))
                size = header.get("size") if isinstance(header, dict) else None
                if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                    raise FrameError("the header has no valid size")
            except (FrameError, ValueError) as err:
                send_error(sock, "bad_frame", str(err))
                return
            op = header.get("op")
            if op == "exec":
                if not 1 <= size <= MAX_COMMAND:
                    send_error(sock, "bad_frame", f"a command of {size} bytes is out of range")
                    return
                command = recv_exact(sock, size)
                if len(command) < size:
                    return
                self.exec(sock, command)
                continue
            if size and len(recv_exact(sock, size)) < size:
                return
            if op == "get":
                self.get(sock, header.get("name"))
            elif op == "stat":
                self.stat(sock, header.get("name"))
            elif op == "list":
                self.list(sock)
            else:
                send_error(sock, "unknown_op", f"this server does not know the operation {op!r}")

    def exec(self, sock, command):
        # Its own process group, as the C servers do (run.c), so a timeout
        # kills what it started too. Not a new session (setsid): with the
        # kernel's autogroup scheduling every session gets its own share of
        # the CPU, and on a loaded machine that alone made this server's
        # commands run several times faster than the C servers' in the
        # bench.
        digest = hashlib.sha256()
        sizes = {"stdout": 0, "stderr": 0}
        proc = subprocess.Popen(["/bin/sh", "-c", command.split(b"\0")[0]],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, process_group=0)
        deadline = time.monotonic() + self.server.command_timeout
        timed_out = False
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ, "stdout")
            sel.register(proc.stderr, selectors.EVENT_READ, "stderr")
            while sel.get_map():
                left = deadline - time.monotonic()
                if left <= 0 and not timed_out:
                    timed_out = True
                    os.killpg(proc.pid, signal.SIGKILL)
                for key, _ in sel.select(timeout=max(left, 0.05)):
                    chunk = os.read(key.fileobj.fileno(), CHUNK)
                    if not chunk:
                        sel.unregister(key.fileobj)
                        continue
                    digest.update(chunk)
                    sizes[key.data] += len(chunk)
                    send_frame(sock, {"op": "output", "stream": key.data}, chunk)
        status = proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        send_frame(sock, {"op": "exit", "exit_code": status if status >= 0 else None,
                          "signal": -status if status < 0 else 0, "timed_out": timed_out,
                          "truncated": False, "stdout_size": sizes["stdout"],
                          "stderr_size": sizes["stderr"], "sha256": digest.hexdigest()})

    def open_name(self, sock, name):
        parts = safe_name(name)
        if parts is None:
            send_error(sock, "bad_name", f"the name {name!r} could leave the root")
            return None
        try:
            # O_NOFOLLOW on every component: no symlink is followed.
            fd = os.open(self.server.root, os.O_RDONLY | os.O_DIRECTORY)
            for i, part in enumerate(parts):
                last = i == len(parts) - 1
                flags = os.O_RDONLY | os.O_NOFOLLOW | (0 if last else os.O_DIRECTORY)
                try:
                    next_fd = os.open(part, flags, dir_fd=fd)
                finally:
                    os.close(fd)
                fd = next_fd
            return fd
        except FileNotFoundError:
            send_error(sock, "not_found", f"no file {name!r} in the root")
        except OSError as err:
            send_error(sock, "io", f"cannot open {name!r}: {err.strerror}")
        return None

    def get(self, sock, name):
        fd = self.open_name(sock, name)
        if fd is None:
            return
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                send_error(sock, "not_found", f"{name!r} is not a regular file")
                return
            data = f.read()
        send_frame(sock, {"op": "file", "name": name, "file_size": len(data), "offset": 0},
                   data)
        send_frame(sock, {"op": "end", "sha256": hashlib.sha256(data).hexdigest()})

    def stat(self, sock, name):
        if safe_name(name) is None:
            send_error(sock, "bad_name", f"the name {name!r} could leave the root")
            return
        path = os.path.join(self.server.root, name)
        reply = {"op": "stat", "name": name, "exists": os.path.isfile(path),
                 "partial_size": 0}
        if reply["exists"]:
            reply["file_size"] = os.path.getsize(path)
        send_frame(sock, reply)

    def list(self, sock):
        entries, skipped = [], 0
        for entry in sorted(os.scandir(self.server.root), key=lambda e: e.name):
            if entry.name.startswith(".nianbao") or not entry.is_file(follow_symlinks=False):
                continue
            if safe_name(entry.name) is None:
                skipped += 1
                continue
            entries.append({"name": entry.name, "size": entry.stat().st_size})
        body = json.dumps(entries, separators=(",", ":"), ensure_ascii=False).encode()
        send_frame(sock, {"op": "list", "count": len(entries), "skipped": skipped}, body)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    # socketserver's default accept queue is 5: a thousand clients arriving
    # at once would wait on SYN retries. The C servers use 1024 as well.
    request_queue_size = 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=8087)
    parser.add_argument("--root", default=".")
    parser.add_argument("--timeout", type=int, default=10, help="kill a command after SECS")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with Server((args.host, args.port), Handler) as server:
        server.root = os.path.abspath(args.root)
        server.command_timeout = args.timeout
        host, port = server.server_address[:2]
        print(f"listening on {host}:{port}", file=sys.stderr, flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
