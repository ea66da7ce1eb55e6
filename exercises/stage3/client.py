#!/usr/bin/env python3
"""Stage 3 client: starter code. Write receive_reply().

    python3 client.py [PORT]        (default: $NIANBAO_PORT, else 8083)

Reads commands from standard input, one a line, sends each one (without its
newline) to the server at 127.0.0.1:PORT, and writes the body of each reply
to standard output, exactly: nothing added, nothing left out. The protocol
is in exercises/README.md ("Stage 3"). Check your work:

    nianbao-grade client --proto stage3 -- python3 client.py {port}
"""
import os
import socket
import struct
import sys

MAX_LEN = 1 << 28            # refuse a reply longer than 256 MiB


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


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else int(os.environ.get('NIANBAO_PORT', '8083'))
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
