#!/usr/bin/env python3
"""A short stage 5 client in Python, written from the protocol in
stage5_file_transfer/README.md: the proof that the protocol is easy to
speak from another language. The tests run it against the C server.

    ft_client.py -p PORT exec CMD...
    ft_client.py -p PORT get NAME [DEST]
    ft_client.py -p PORT put FILE [NAME] [--overwrite]
    ft_client.py -p PORT ls
    ft_client.py -p PORT stat NAME

Exit status: 0 done, 1 the server said error (or the command failed),
3 connection, 4 protocol, 5 verification failed.
"""
import argparse
import hashlib
import json
import os
import socket
import struct
import sys


class ProtocolError(Exception):
    pass


def send_frame(sock, header, body=b""):
    """One frame: 4-byte big-endian header length, JSON header, body."""
    header = dict(header, size=len(body))
    text = json.dumps(header, separators=(",", ":")).encode()
    sock.sendall(struct.pack("!I", len(text)) + text + body)


def recv_exact(sock, n, what):
    """Exactly n bytes: recv returns what is there, not what was sent."""
    parts, have = [], 0
    while have < n:
        part = sock.recv(min(n - have, 1 << 20))
        if not part:
            raise ConnectionError(f"connection closed after {have} of {n} bytes of the {what}")
        parts.append(part)
        have += len(part)
    return b"".join(parts)


def recv_header(sock):
    (length,) = struct.unpack("!I", recv_exact(sock, 4, "header length"))
    if not 1 <= length <= 65536:
        raise ProtocolError(f"header length {length} is out of range 1..65536")
    header = json.loads(recv_exact(sock, length, "header").decode("utf-8"))
    if not isinstance(header, dict) or not isinstance(header.get("size"), int):
        raise ProtocolError(f"not a header: {header!r}")
    return header


def recv_body(sock, header, sink):
    """Passes the body to sink in pieces, never reading past its end."""
    left = header["size"]
    while left:
        piece = sock.recv(min(left, 1 << 20))
        if not piece:
            raise ConnectionError(f"connection closed with {left} bytes of the body missing")
        sink(piece)
        left -= len(piece)


class ServerError(Exception):
    pass


def expect(header, op):
    if header["op"] == "error":
        raise ServerError(f"{header['code']}: {header['message']}")
    if header["op"] != op:
        raise ProtocolError(f"expected {op!r}, got {header['op']!r}")
    return header


def do_exec(sock, args):
    send_frame(sock, {"op": "exec"}, " ".join(args.words).encode())
    sha = hashlib.sha256()
    while True:
        header = recv_header(sock)
        if header["op"] == "output":
            out = sys.stdout.buffer if header["stream"] == "stdout" else sys.stderr.buffer

            def show(piece, out=out):
                sha.update(piece)
                out.write(piece)
                out.flush()
            recv_body(sock, header, show)
            continue
        expect(header, "exit")
        if header["sha256"] != sha.hexdigest():
            return 5
        return 0 if header["exit_code"] == 0 else 1


def do_get(sock, args):
    dest = args.dest or os.path.basename(args.name)
    send_frame(sock, {"op": "get", "name": args.name})
    header = expect(recv_header(sock), "file")
    sha = hashlib.sha256()
    temp = dest + ".py-part"
    with open(temp, "wb") as f:
        def keep(piece):
            sha.update(piece)
            f.write(piece)
        recv_body(sock, header, keep)
    end = expect(recv_header(sock), "end")
    if end["sha256"] != sha.hexdigest():
        os.unlink(temp)
        print(f"{args.name}: SHA-256 mismatch", file=sys.stderr)
        return 5
    os.rename(temp, dest)
    print(f"{args.name}: {header['file_size']} bytes, SHA-256 verified")
    return 0


def do_put(sock, args):
    name = args.name or os.path.basename(args.file)
    size = os.path.getsize(args.file)
    send_frame(sock, {"op": "put", "name": name, "file_size": size, "overwrite": args.overwrite})
    expect(recv_header(sock), "ready")
    sha = hashlib.sha256()
    with open(args.file, "rb") as f:
        data = f.read()
    sha.update(data)
    send_frame(sock, {"op": "data"}, data)
    send_frame(sock, {"op": "end", "sha256": sha.hexdigest()})
    done = expect(recv_header(sock), "done")
    print(f"{name}: {done['file_size']} bytes stored, SHA-256 verified by the server")
    return 0


def do_ls(sock, args):
    send_frame(sock, {"op": "list"})
    header = expect(recv_header(sock), "list")
    body = bytearray()
    recv_body(sock, header, body.extend)
    for entry in json.loads(body.decode()):
        print(f"{entry['size']:>12}  {entry['name']}")
    return 0


def do_stat(sock, args):
    send_frame(sock, {"op": "stat", "name": args.name})
    header = expect(recv_header(sock), "stat")
    if header["exists"]:
        print(f"{args.name}: {header['file_size']} bytes")
    else:
        print(f"{args.name}: no such file")
    return 0


def main():
    parser = argparse.ArgumentParser(description="A stage 5 client in Python.")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=8086)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("exec")
    p.add_argument("words", nargs=argparse.REMAINDER)
    p = sub.add_parser("get")
    p.add_argument("name")
    p.add_argument("dest", nargs="?")
    p = sub.add_parser("put")
    p.add_argument("file")
    p.add_argument("name", nargs="?")
    p.add_argument("--overwrite", action="store_true")
    sub.add_parser("ls")
    p = sub.add_parser("stat")
    p.add_argument("name")
    args = parser.parse_args()
    run = {"exec": do_exec, "get": do_get, "put": do_put, "ls": do_ls, "stat": do_stat}
    try:
        with socket.create_connection((args.host, args.port)) as sock:
            return run[args.command](sock, args)
    except ServerError as e:
        print(f"ft_client.py: server: {e}", file=sys.stderr)
        return 1
    except ProtocolError as e:
        print(f"ft_client.py: protocol: {e}", file=sys.stderr)
        return 4
    except OSError as e:
        print(f"ft_client.py: {e}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
