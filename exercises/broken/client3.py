#!/usr/bin/env python3
"""client3.py - a stage 3 client with one deliberate bug, for teachers.

    python3 client3.py [--bug BUG] [PORT]

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
import os
import socket
import struct
import sys

MAX_LEN = 1 << 28            # refuse a reply longer than 256 MiB
BUGS = ('none', 'recv4-once', 'one-recv', 'no-eof', 'byte-order')


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


def main():
    args, bug = sys.argv[1:], 'none'
    if args and args[0] == '--bug':
        if len(args) < 2 or args[1] not in BUGS:
            sys.exit('usage: client3.py [--bug ' + '|'.join(BUGS) + '] [PORT]')
        bug, args = args[1], args[2:]
    port = int(args[0]) if args else int(os.environ.get('NIANBAO_PORT', '8083'))
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
