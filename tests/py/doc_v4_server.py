"""Behaves like the document's v4.0 server (written from its behaviour):
like doc_v3_server.py, but the reply starts with struct.pack('i', n) and
an n-byte JSON header {"file_name": "a.txt", "total_size": N, "md5": "md5"}
-- the document's placeholders, no stdout_size, no exit_code -- then
stdout and stderr."""

import json
import socket
import struct

from doc_v3_server import run
from docpeer import announce, parse_args


def main():
    args = parse_args("document-like v4 server", 8085)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind((args.host, args.port))
    server.listen(5)
    announce(server)
    while True:
        conn, _ = server.accept()
        with conn:
            try:
                while True:
                    command = conn.recv(1024)
                    if not command:
                        break
                    out, err = run(command)
                    header = {"file_name": "a.txt",
                              "total_size": len(out) + len(err),
                              "md5": "md5"}
                    header_json = json.dumps(header).encode("utf-8")
                    conn.sendall(struct.pack("i", len(header_json)))
                    conn.sendall(header_json)
                    conn.sendall(out)
                    conn.sendall(err)
            except OSError:
                pass


if __name__ == "__main__":
    main()
