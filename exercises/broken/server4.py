#!/usr/bin/env python3
"""server4.py - a stage 4 server with one deliberate bug, for teachers.

    python3 server4.py [--bug BUG] [-p PORT | PORT]   (default 8085; 0 picks a free port)

BUG is one of:
  none           no bug (the default): a correct server (do not hand
                 this file out)
  text           handles the output as text: decodes it, counts characters
  byte-order     writes the header length big-endian ('>i')
  dies-on-close  does not catch the error of a client that left mid-reply:
                 the whole server dies of it

Apart from its bug it does everything right, so the grader fails it in
exactly the scenarios that name the bug:
    nianbao-grade server --proto stage4 --list
    nianbao-grade server --proto stage4 -- python3 server4.py --bug text {port}

It is exercises/stage4/server.py with send_reply written.
"""
import getopt
import hashlib
import json
import socket
import struct
import subprocess
import sys

BUGS = ('none', 'text', 'byte-order', 'dies-on-close')
BUG = 'none'


USAGE = '''usage: server4.py [--bug BUG] [-p PORT | PORT]
A stage 4 server with one deliberate bug, for teachers: BUG is none (the
default), text, byte-order or dies-on-close (see server4.py). It listens on
127.0.0.1:PORT (default 8085; 0 picks a free port).'''


def run(command):
    """Runs COMMAND (bytes) with /bin/sh; returns stdout, stderr, exit code."""
    try:
        result = subprocess.run(command, shell=True, capture_output=True, timeout=10)
        return result.stdout, result.stderr, result.returncode
    except subprocess.TimeoutExpired as e:
        return e.stdout or b'', (e.stderr or b'') + b'server: killed after 10 s\n', -1


def send_reply(conn, out, err, exit_code):
    body = out + err
    if BUG == 'text':
        # BUG: bytes turned into text and back; sizes counted in characters
        text = body.decode('utf-8', errors='replace')
        total_size, body = len(text), text.encode('utf-8')
        stdout_size = len(out.decode('utf-8', errors='replace'))
    else:
        total_size, stdout_size = len(body), len(out)
    header = json.dumps({
        'file_name': 'a.txt',
        'total_size': total_size,
        'md5': hashlib.md5(body).hexdigest(),
        'stdout_size': stdout_size,
        'exit_code': exit_code,
    }).encode('utf-8')
    order = '>i' if BUG == 'byte-order' else '<i'       # BUG byte-order: '>'
    conn.sendall(struct.pack(order, len(header)) + header)
    conn.sendall(body)


def serve(conn):
    while True:
        command = conn.recv(1024)
        if not command:      # b'': the client has closed the connection
            return
        send_reply(conn, *run(command))


def parse_args(argv, port):
    """(BUG, port): --bug BUG (default none); the port: -p/--port PORT or a
    first argument PORT, else PORT.
    --help prints the usage and exits 0; anything else exits 2 with one
    line saying what is wrong."""
    bug = 'none'
    try:
        opts, args = getopt.gnu_getopt(argv, 'hp:', ['help', 'port=', 'bug='])
        for opt, value in opts:
            if opt in ('-h', '--help'):
                print(USAGE)
                sys.exit(0)
            elif opt == '--bug':
                bug = value
            else:
                port = value
        port = args.pop(0) if args else port
        if args or not port.isdigit():
            raise getopt.GetoptError(f"'{(args or [port])[0]}' is not a port")
        if bug not in BUGS:
            raise getopt.GetoptError(f"no bug '{bug}' (" + '|'.join(BUGS) + ')')
    except getopt.GetoptError as e:
        print(f'{sys.argv[0]}: {e} (--help)', file=sys.stderr)
        sys.exit(2)
    return bug, int(port)


def main():
    global BUG
    BUG, port = parse_args(sys.argv[1:], '8085')
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', port))
    listener.listen(5)
    print(f'listening on 127.0.0.1:{listener.getsockname()[1]}', file=sys.stderr, flush=True)
    while True:
        conn, addr = listener.accept()
        with conn:
            if BUG == 'dies-on-close':
                serve(conn)                  # BUG: a client that left kills us
                continue
            try:
                serve(conn)
            except OSError as e:         # the client went away: serve the next
                print(f'server: client {addr[0]}:{addr[1]}: {e}', file=sys.stderr)


if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        pass
