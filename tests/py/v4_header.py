"""Sends ONE command to a stage 4 server and prints the reply's JSON header
(keys sorted, one line) and then the MD5 of the body, reading every part
with a loop until complete -- the careful reader the document lacks.
Lets tests check what the header says against the real body."""

import hashlib
import json
import socket
import struct
import sys

from docpeer import parse_args


def recv_exact(sock, size):
    data = b""
    while len(data) < size:
        piece = sock.recv(size - len(data))
        if not piece:
            sys.exit(f"v4_header: connection closed after {len(data)} of {size} bytes")
        data += piece
    return data


def main():
    args = parse_args("print a stage 4 reply header", 8085)
    command = sys.stdin.buffer.read().strip()
    with socket.create_connection((args.host, args.port)) as sock:
        sock.sendall(command)
        header_len = struct.unpack("<i", recv_exact(sock, 4))[0]
        header = json.loads(recv_exact(sock, header_len).decode("utf-8"))
        body = recv_exact(sock, header["total_size"])
    print(json.dumps(header, sort_keys=True))
    print(hashlib.md5(body).hexdigest())


if __name__ == "__main__":
    main()
