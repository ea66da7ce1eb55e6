#!/usr/bin/env python3
"""server5.py - a stage 5 server (exec only) with one deliberate bug, for teachers.

    python3 server5.py [--bug BUG] [--threads] [-p PORT | PORT]
                                              (default 8086; 0 picks a free port)

BUG is one of:
  none        no bug (the default): frames read and written as
              stage5_file_transfer/README.md says, for the exec operation
  no-limit    trusts any header length: "GET / HTTP/1.1" makes it wait for
              a header of 1195725856 bytes
  byte-order  writes its header lengths little-endian; stage 5 sends them
              big-endian (network order)

With --threads each client is served by a thread of its own, at once, as
Python's ThreadingTCPServer does (stage 6); without, one after another.

Apart from its bug it does what the protocol says for exec (and answers any
other op with the error unknown_op), so the grader fails it in exactly the
scenarios that name the bug:
    nianbao-grade server --proto stage5 --list
    nianbao-grade server --proto stage5 -- python3 server5.py --bug no-limit {port}
"""
import getopt
import hashlib
import json
import socket
import struct
import subprocess
import sys
import threading

BUGS = ('none', 'no-limit', 'byte-order')
BUG = 'none'
MAX_HEADER = 65536
CHUNK = 65536


USAGE = '''usage: server5.py [--bug BUG] [--threads] [-p PORT | PORT]
A stage 5 server (exec only) with one deliberate bug, for teachers: BUG is
none (the default), no-limit or byte-order (see server5.py). With --threads
it serves each client in a thread of its own. It listens on 127.0.0.1:PORT
(default 8086; 0 picks a free port).'''


def recv_exact(conn, size):
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(min(size - len(data), 65536))
        if not chunk:
            raise EOFError(f'connection closed after {len(data)} of {size} bytes')
        data += chunk
    return bytes(data)


def send_frame(conn, header, body=b''):
    header = dict(header, size=len(body))
    encoded = json.dumps(header, separators=(',', ':')).encode('utf-8')
    order = '<I' if BUG == 'byte-order' else '>I'     # BUG byte-order: '<'
    conn.sendall(struct.pack(order, len(encoded)) + encoded + body)


def run(conn, command):
    result = subprocess.run(command, shell=True, capture_output=True, timeout=10)
    sha = hashlib.sha256()
    for stream, data in (('stdout', result.stdout), ('stderr', result.stderr)):
        for at in range(0, len(data), CHUNK):
            piece = data[at:at + CHUNK]
            sha.update(piece)
            send_frame(conn, {'op': 'output', 'stream': stream}, piece)
    send_frame(conn, {'op': 'exit', 'exit_code': result.returncode, 'signal': 0,
                      'timed_out': False, 'truncated': False,
                      'stdout_size': len(result.stdout), 'stderr_size': len(result.stderr),
                      'sha256': sha.hexdigest()})


def serve(conn):
    while True:
        try:
            raw = recv_exact(conn, 4)
        except EOFError:
            return                   # the client closed between frames: done
        header_len = struct.unpack('>I', raw)[0]
        if BUG != 'no-limit' and not 1 <= header_len <= MAX_HEADER:
            send_frame(conn, {'op': 'error', 'code': 'bad_frame',
                              'message': f'header length {header_len} is out of range'})
            return                   # the next frame cannot be found: close
        header = json.loads(recv_exact(conn, header_len))
        body = recv_exact(conn, header['size'])
        if header.get('op') != 'exec':
            send_frame(conn, {'op': 'error', 'code': 'unknown_op',
                              'message': f'unknown op {header.get("op")!r}'})
            continue
        run(conn, body)


def serve_client(conn, addr):
    with conn:
        try:
            serve(conn)
        except (OSError, EOFError, ValueError, KeyError) as e:
            print(f'server: client {addr[0]}:{addr[1]}: {e}', file=sys.stderr)


def parse_args(argv, port):
    """(BUG, threads, port): --bug BUG (default none), --threads; the port:
    -p/--port PORT or a first argument PORT, else PORT.
    --help prints the usage and exits 0; anything else exits 2 with one
    line saying what is wrong."""
    bug, threads = 'none', False
    try:
        opts, args = getopt.gnu_getopt(argv, 'hp:', ['help', 'port=', 'bug=', 'threads'])
        for opt, value in opts:
            if opt in ('-h', '--help'):
                print(USAGE)
                sys.exit(0)
            elif opt == '--bug':
                bug = value
            elif opt == '--threads':
                threads = True
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
    return bug, threads, int(port)


def main():
    global BUG
    BUG, threads, port = parse_args(sys.argv[1:], '8086')
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', port))
    listener.listen(128 if threads else 5)
    print(f'listening on 127.0.0.1:{listener.getsockname()[1]}', file=sys.stderr, flush=True)
    while True:
        conn, addr = listener.accept()
        if threads:
            threading.Thread(target=serve_client, args=(conn, addr), daemon=True).start()
        else:
            serve_client(conn, addr)


if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        pass
