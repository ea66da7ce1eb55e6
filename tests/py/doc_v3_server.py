"""Behaves like the document's v3.0 server (written from its behaviour):
one client after another; per command ONE recv(1024), run it with the
shell, reply struct.pack('i', len(stdout) + len(stderr)), stdout, stderr.
An empty recv (client gone) ends the session.

Announces `listening on HOST:PORT` on stderr so tests can use --port 0.
Runs the command bytes as they are (no utf-8 decoding)."""

import socket
import struct
import subprocess

from docpeer import announce, parse_args


def run(command):
    proc = subprocess.Popen(command, shell=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # communicate() drains both pipes; the document reads stdout then
    # stderr, which can deadlock -- not the point of these tests.
    return proc.communicate()


def main():
    args = parse_args("document-like v3 server", 8083)
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
                    conn.sendall(struct.pack("i", len(out) + len(err)))
                    conn.sendall(out)
                    conn.sendall(err)
            except OSError:
                pass


if __name__ == "__main__":
    main()
