#!/usr/bin/env python3
"""Stage 6 server: starter code. Serve many clients at once.

    python3 server.py [-p PORT | PORT]     (default 8087; 0 picks a free port)

Speaks the stage 5 protocol (stage5_file_transfer/README.md), the exec
operation only: every message both ways is a 4-byte big-endian header
length, a JSON header, then the header's "size" bytes of body. Prints
'listening on 127.0.0.1:PORT' on stderr once it listens.

It serves one client after another, as stages 1 to 5 do: while one client
is connected, every other waits. The accept loop in main() is marked TODO:
serve each client in a thread of its own, in a process of its own (fork),
or write an event loop. Check your work:

    nianbao-grade server --proto stage5 --concurrent -- python3 server.py {port}

Anyone who can reach the port runs commands as you: it listens on
127.0.0.1 only.
"""
import hashlib
import json
import socket
import struct
import subprocess
import sys

MAX_HEADER = 65536   # the longest JSON header the protocol allows
CHUNK = 65536        # the most output one output frame carries


class BadFrame(Exception):
    """No frame starts where one should: the next one cannot be found."""


def recv_exact(conn, size):
    """Returns exactly SIZE bytes from CONN, or b'' when the client closed
    before the first of them; raises EOFError when it closed half-way."""
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(min(size - len(data), CHUNK))
        if not chunk:
            if not data:
                return b''
            raise EOFError(f'connection closed after {len(data)} of {size} bytes')
        data += chunk
    return bytes(data)


def recv_frame(conn):
    """Reads one request: (header, body), or None when the client has closed."""
    raw = recv_exact(conn, 4)
    if not raw:
        return None
    (header_len,) = struct.unpack('>I', raw)
    if not 1 <= header_len <= MAX_HEADER:
        raise BadFrame(f'header length {header_len} is out of range 1..{MAX_HEADER}')
    try:
        header = json.loads(recv_exact(conn, header_len))
        size = header['size']
    except (ValueError, TypeError, KeyError) as e:
        raise BadFrame(f'not a header: {e}') from None
    if not isinstance(size, int) or size < 0:
        raise BadFrame(f'size {size!r} is not a byte count')
    return header, recv_exact(conn, size)


def send_frame(conn, header, body=b''):
    header = json.dumps(dict(header, size=len(body)), separators=(',', ':')).encode()
    conn.sendall(struct.pack('>I', len(header)) + header + body)


def run(conn, command):
    """Runs COMMAND (bytes) with /bin/sh; sends its output, then its exit."""
    result = subprocess.run(command, shell=True, capture_output=True, timeout=10)
    sha = hashlib.sha256()
    for stream, data in (('stdout', result.stdout), ('stderr', result.stderr)):
        for at in range(0, len(data), CHUNK):
            sha.update(data[at:at + CHUNK])
            send_frame(conn, {'op': 'output', 'stream': stream}, data[at:at + CHUNK])
    send_frame(conn, {'op': 'exit', 'exit_code': result.returncode, 'signal': 0,
                      'timed_out': False, 'truncated': False,
                      'stdout_size': len(result.stdout), 'stderr_size': len(result.stderr),
                      'sha256': sha.hexdigest()})


def serve(conn, addr):
    """Serves one client until it leaves."""
    with conn:
        try:
            while (request := recv_frame(conn)) is not None:
                header, body = request
                if header.get('op') == 'exec':
                    run(conn, body)
                else:
                    send_frame(conn, {'op': 'error', 'code': 'unknown_op',
                                      'message': f'unknown op {header.get("op")!r}'})
        except BadFrame as e:
            send_frame(conn, {'op': 'error', 'code': 'bad_frame', 'message': str(e)})
        except (OSError, EOFError, ValueError, subprocess.SubprocessError) as e:
            print(f'server: client {addr[0]}:{addr[1]}: {e}', file=sys.stderr)


def parse_port(args):
    """The port from -p PORT, --port PORT or PORT; --help prints the usage."""
    port, given = '8087', False
    while args:
        arg, args = args[0], args[1:]
        if arg in ('-h', '--help'):
            print(__doc__.strip())
            sys.exit(0)
        if arg in ('-p', '--port'):
            if not args:
                print(f'server.py: {arg} needs a port (try --help)', file=sys.stderr)
                sys.exit(2)
            arg, args = args[0], args[1:]
        elif arg.startswith('-'):
            print(f"server.py: unknown option '{arg}' (try --help)", file=sys.stderr)
            sys.exit(2)
        if given:
            print(f"server.py: one port only: '{arg}' is one too many (try --help)", file=sys.stderr)
            sys.exit(2)
        port, given = arg, True
    if not port.isdigit() or int(port) > 65535:
        print(f"server.py: '{port}' is not a port (0 to 65535) (try --help)", file=sys.stderr)
        sys.exit(2)
    return int(port)


def main():
    port = parse_port(sys.argv[1:])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', port))
    listener.listen(128)
    print(f'listening on 127.0.0.1:{listener.getsockname()[1]}', file=sys.stderr, flush=True)
    while True:
        conn, addr = listener.accept()
        # TODO: serve many clients at once. serve() returns only when this
        # client leaves, so every other client waits until then. Pick one:
        #   threads: a thread per client runs serve(conn, addr) (threading)
        #   fork:    a child process serves, the parent closes conn and goes
        #            back to accept; it must also wait for its children
        #            (os.waitpid(-1, os.WNOHANG)), or each stays a zombie
        #   poll:    one loop (selectors) over the listener and every client,
        #            each with its own buffer and state: never a recv or send
        #            that waits, so no client holds up another
        serve(conn, addr)


if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        pass
