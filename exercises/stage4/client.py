#!/usr/bin/env python3
"""Stage 4 client: starter code. Write receive_reply().

    python3 client.py [-p PORT | PORT]   (default: $NIANBAO_PORT, else 8085)

Reads commands from standard input, one a line, sends each one (without its
newline) to the server at 127.0.0.1:PORT, and writes what each reply
carries: the command's stdout part to standard output and its stderr part
to standard error, exactly. The protocol is in exercises/README.md
("Stage 4"). Check your work:

    nianbao-grade client --proto stage4 -- python3 client.py {port}
"""
import getopt
import hashlib
import json
import os
import socket
import struct
import sys

MAX_LEN = 1 << 28            # refuse a body longer than 256 MiB
MAX_HEADER = 1 << 16         # and a header longer than 64 KiB


USAGE = '''usage: client.py [-p PORT | PORT]
Sends each line of standard input as a command to the stage 4 server on
127.0.0.1:PORT (default: $NIANBAO_PORT, else 8085) and writes each reply's
stdout part to standard output, its stderr part to standard error.'''


def receive_reply(sock):
    """Receives one reply from SOCK; returns (stdout part, stderr part), bytes.

    TODO: a reply is a 4-byte signed little-endian header length
    (struct.unpack('<i')), then that many bytes of UTF-8 JSON (the header),
    then total_size bytes of body (the header says how many). The first
    stdout_size bytes of the body are the command's stdout, the rest its
    stderr. sock.recv(n) returns 1 to n bytes, whatever has arrived, or b''
    once the server has closed the connection. So: loop until you have all
    4 bytes of the header length, refuse one outside 1..MAX_HEADER; loop
    until you have the whole header, parse it (json.loads), refuse a
    total_size that is not an integer in 0..MAX_LEN; loop until you have the
    whole body; if md5 is 32 hex digits, check it (hashlib.md5). Raise an
    error (ValueError, ConnectionError) for anything wrong.
    """
    return sock.recv(1024), b''   # the stage 1 way: one recv is not one reply


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
    port = parse_args(sys.argv[1:], os.environ.get('NIANBAO_PORT', '8085'))
    sock = socket.create_connection(('127.0.0.1', port))
    for line in sys.stdin.buffer:
        command = line.strip()
        if not command:
            continue
        sock.sendall(command)
        out, err = receive_reply(sock)
        sys.stdout.buffer.write(out)
        sys.stdout.buffer.flush()
        sys.stderr.buffer.write(err)
        sys.stderr.buffer.flush()
    sock.close()


if __name__ == '__main__':
    try:
        main()
    except (OSError, ValueError, struct.error) as e:
        print(f'client: {e}', file=sys.stderr)
        sys.exit(1)
