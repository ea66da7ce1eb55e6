"""Behaves like the document's v4.0 client (written from its behaviour):
ONE recv(4) for the header length, ONE recv(n) for the JSON header, then
recv(1024) until the header's total_size bytes came. Both single recvs
trust TCP to keep message boundaries, which it does not: when the reply
arrives in small pieces, struct.unpack or json.loads fails. That failure
is the document's bug, and tests/interop.bats shows it.

As in doc_v3_client.py the body goes raw to stdout, nothing else."""

import json
import socket
import struct
import sys

from docpeer import commands, parse_args


def main():
    args = parse_args("document-like v4 client", 8085)
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect((args.host, args.port))
    out = sys.stdout.buffer
    for command in commands():
        client.send(command)
        header_len = struct.unpack("i", client.recv(4))[0]
        header = json.loads(client.recv(header_len).decode("utf-8"))
        total_size = header["total_size"]
        received = 0
        while received < total_size:
            piece = client.recv(1024)
            received += len(piece)
            out.write(piece)
        out.flush()
    client.close()


if __name__ == "__main__":
    main()
