#!/usr/bin/env python3
"""client3.py - a stage 3 client with one deliberate bug, for teachers.

    python3 client3.py [--bug BUG] [-p PORT | PORT]

BUG is one of:
  none        no bug (the default): a correct client (do not hand this
              file out: it is an answer to exercises/stage3/client.py)
  recv4-once  reads the 4-byte length with a single recv(4)
  one-recv    takes one recv(1024) for the whole body
  no-eof      never checks recv's b'' (the server closed): spins forever
  byte-order  reads the length big-endian; stage 3 writes it little-endian

Apart from its bug it does everything right, so the grader fails it in
exactly the scenarios that name the bug:
    nianbao-grade client --proto stage3 --list
    nianbao-grade client --proto stage3 -- python3 client3.py --bug recv4-once {port}
"""
import getopt
import os
import socket
import struct
import sys

MAX_LEN = 1 << 28            # refuse a reply longer than 256 MiB
BUGS = ('none', 'recv4-once', 'one-recv', 'no-eof', 'byte-order')


USAGE = '''usage: client3.py [--bug BUG] [-p PORT | PORT]
A stage 3 client with one deliberate bug, for teachers: BUG is none (the
default), recv4-once, one-recv, no-eof or byte-order (see client3.py). It
connects to 127.0.0.1:PORT (default: $NIANBAO_PORT, else 8083).'''


def recv_exact(sock, size, bug):
    """Exactly SIZE bytes, in as many recv calls as it takes."""
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(min(size - len(data), 65536))
        if not chunk and bug != 'no-eof':      # BUG no-eof: b'' forever
            raise ConnectionError(
                f'connection closed after {len(data)} of {size} bytes')
        data += chunk
    return bytes(data)


def read_reply(sock, bug):
    if bug == 'recv4-once':
        raw = sock.recv(4)                     # BUG: may return 1..3 bytes
    else:
        raw = recv_exact(sock, 4, bug)
    order = '>i' if bug == 'byte-order' else '<i'    # BUG byte-order: '>'
    (length,) = struct.unpack(order, raw)
    if length < 0 or length > MAX_LEN:
        raise ValueError(f'reply length {length} is out of range 0..{MAX_LEN}')
    if bug == 'one-recv':
        return sock.recv(1024)                 # BUG: one recv, one message
    return recv_exact(sock, length, bug)


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
    bug, port = parse_args(sys.argv[1:], os.environ.get('NIANBAO_PORT', '8083'))
    sock = socket.create_connection(('127.0.0.1', port))
    out = sys.stdout.buffer
    for line in sys.stdin.buffer:
        command = line.strip()
        if not command:
            continue
        sock.sendall(command)
        out.write(read_reply(sock, bug))
        out.flush()
    sock.close()


if __name__ == '__main__':
    try:
        main()
    except (OSError, ValueError, struct.error) as e:
        print(f'client: {e}', file=sys.stderr)
        sys.exit(1)
