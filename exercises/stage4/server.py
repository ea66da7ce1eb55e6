#!/usr/bin/env python3
"""Stage 4 server: starter code. Write send_reply().

    python3 server.py [-p PORT | PORT]   (default 8085; 0 picks a free port)

Serves one client after another, forever. Each request is one recv(1024)
holding a shell command (requests are not framed until stage 5); the reply
carries the command's stdout, then its stderr, framed as exercises/README.md
says ("Stage 4"). Prints 'listening on 127.0.0.1:PORT' on stderr once it
listens. Check your work:

    nianbao-grade server --proto stage4 -- python3 server.py {port}

Anyone who can reach the port runs commands as you: it listens on
127.0.0.1 only.
"""
import getopt
import hashlib
import json
import socket
import struct
import subprocess
import sys


USAGE = '''usage: server.py [-p PORT | PORT]
Runs each command a client sends with /bin/sh and replies with its output,
framed as stage 4 says. Listens on 127.0.0.1:PORT (default 8085; 0 picks a
free port) and serves one client after another, forever.'''


def run(command):
    """Runs COMMAND (bytes) with /bin/sh; returns stdout, stderr, exit code."""
    try:
        result = subprocess.run(command, shell=True, capture_output=True, timeout=10)
        return result.stdout, result.stderr, result.returncode
    except subprocess.TimeoutExpired as e:
        return e.stdout or b'', (e.stderr or b'') + b'server: killed after 10 s\n', -1


def send_reply(conn, out, err, exit_code):
    """Sends one reply carrying OUT and ERR (bytes) on CONN.

    TODO: the body is OUT + ERR. The header is a JSON object with
    file_name ("a.txt", as the document), total_size (the body's length in
    bytes), md5 (hashlib.md5(body).hexdigest()), stdout_size (len(OUT)) and
    exit_code. Send the header's length as a 4-byte signed little-endian
    integer (struct.pack('<i', ...)) - the length of the encoded header, in
    bytes - then the header (json.dumps(...).encode()), then the body. A
    command that prints nothing still gets a reply (total_size 0).
    """
    conn.sendall(out + err)     # no header: the client cannot tell where it ends


def serve(conn):
    while True:
        command = conn.recv(1024)
        if not command:      # b'': the client has closed the connection
            return
        send_reply(conn, *run(command))


def parse_args(argv, port):
    """The port: -p/--port PORT or a first argument PORT, else PORT.
    --help prints the usage and exits 0; anything else exits 2 with one
    line saying what is wrong."""
    try:
        opts, args = getopt.gnu_getopt(argv, 'hp:', ['help', 'port='])
        for opt, value in opts:
            if opt in ('-h', '--help'):
                print(USAGE)
                sys.exit(0)
            port = value
        port = args.pop(0) if args else port
        if args or not port.isdigit():
            raise getopt.GetoptError(f"'{(args or [port])[0]}' is not a port")
    except getopt.GetoptError as e:
        print(f'{sys.argv[0]}: {e} (--help)', file=sys.stderr)
        sys.exit(2)
    return int(port)


def main():
    port = parse_args(sys.argv[1:], '8085')
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', port))
    listener.listen(5)
    print(f'listening on 127.0.0.1:{listener.getsockname()[1]}', file=sys.stderr, flush=True)
    while True:
        conn, addr = listener.accept()
        with conn:
            try:
                serve(conn)
            except OSError as e:         # the client went away: serve the next
                print(f'server: client {addr[0]}:{addr[1]}: {e}', file=sys.stderr)


if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        pass
