#!/usr/bin/env python3
"""Stage 3 client: starter code. Write receive_reply().

    python3 client.py [-p PORT | PORT]   (default: $NIANBAO_PORT, else 8083)

Reads commands from standard input, one a line, sends each one (without its
newline) to the server at 127.0.0.1:PORT, and writes the body of each reply
to standard output, exactly: nothing added, nothing left out. The protocol
is in exercises/README.md ("Stage 3"). Check your work:

    nianbao-grade client --proto stage3 -- python3 client.py {port}
"""
import getopt
import os
import socket
import struct
import sys

MAX_LEN = 1 << 28            # refuse a reply longer than 256 MiB


USAGE = '''usage: client.py [-p PORT | PORT]
Sends each line of standard input as a command to the stage 3 server on
127.0.0.1:PORT (default: $NIANBAO_PORT, else 8083) and writes the body of
each reply to standard output.'''


def receive_reply(sock):
    """Receives one reply from SOCK and returns its body (bytes).

    TODO: a reply is a 4-byte signed little-endian length (struct.unpack('<i'))
    followed by exactly that many bytes. sock.recv(n) returns 1 to n bytes,
    whatever has arrived, or b'' once the server has closed the connection.
    So: loop until you have all 4 bytes of the length; refuse a length that
    is negative or above MAX_LEN (raise ValueError); loop until you have the
    whole body, asking recv for no more than what is still missing; raise
    ConnectionError if the server closes before the reply is complete.
    """
    return sock.recv(1024)   # the stage 1 way: one recv is not one reply


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
    port = parse_args(sys.argv[1:], os.environ.get('NIANBAO_PORT', '8083'))
    sock = socket.create_connection(('127.0.0.1', port))
    for line in sys.stdin.buffer:
        command = line.strip()
        if not command:
            continue
        sock.sendall(command)
        sys.stdout.buffer.write(receive_reply(sock))
        sys.stdout.buffer.flush()
    sock.close()


if __name__ == '__main__':
    try:
        main()
    except (OSError, ValueError, struct.error) as e:
        print(f'client: {e}', file=sys.stderr)
        sys.exit(1)
