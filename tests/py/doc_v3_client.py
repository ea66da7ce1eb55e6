"""Behaves like the document's v3.0 client (written from its behaviour):
sends each command as raw bytes in one send, then reads the 4-byte length
with ONE recv(4) -- trusting it to return all 4 bytes -- unpacks it with
struct 'i', and loops recv(1024) until that many bytes came.

Differences kept small on purpose, so tests can compare bytes: the body is
written raw to stdout (no gbk decoding, no end-of-command line), and the
socket is closed after the last command, not after the first."""

import socket
import struct
import sys

from docpeer import commands, parse_args


def main():
    args = parse_args("document-like v3 client", 8083)
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect((args.host, args.port))
    out = sys.stdout.buffer
    for command in commands():
        client.send(command)
        # The document's assumption: one recv(4) brings the whole length.
        total_size = struct.unpack("i", client.recv(4))[0]
        received = 0
        while received < total_size:
            piece = client.recv(1024)
            received += len(piece)
            out.write(piece)
        out.flush()
    client.close()


if __name__ == "__main__":
    main()
