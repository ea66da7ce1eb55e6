#!/usr/bin/env python3
"""server6.py - a stage 6 server (the stage 5 protocol, exec only) for many
clients at once, with one deliberate bug, for teachers.

    python3 server6.py [--bug BUG] [-p PORT | PORT]
                                              (default 8087; 0 picks a free port)

BUG is one of:
  none           no bug (the default): a thread per client, each with its own
                 buffer
  shared-buffer  a thread per client, and one buffer (behind a lock) for all
                 of them: two requests that arrive in pieces at the same time
                 are mixed
  no-reap        a process per client (fork), never waited for: each client
                 leaves a zombie behind
  blocking-loop  one thread, an event loop (selectors) that reads a whole
                 request and sends a whole reply with blocking calls: a client
                 that sends half a request or stops reading stalls everyone

Apart from its bug it does what stage5_file_transfer/README.md says for exec
(and answers any other op with the error unknown_op), so the grader fails it
in exactly the scenarios that name the bug:
    nianbao-grade server --proto stage5 --concurrent --list
    nianbao-grade server --proto stage5 --concurrent -- python3 server6.py --bug no-reap {port}
"""
import hashlib
import json
import os
import selectors
import socket
import struct
import subprocess
import sys
import threading

BUGS = ('none', 'shared-buffer', 'no-reap', 'blocking-loop')
MAX_HEADER = 65536
CHUNK = 65536


class BadFrame(Exception):
    """The stream holds no frame where one should start: the connection is lost."""


# ---- the stage 5 protocol, exec only -------------------------------------

def send_frame(conn, header, body=b''):
    encoded = json.dumps(dict(header, size=len(body)), separators=(',', ':')).encode()
    conn.sendall(struct.pack('>I', len(encoded)) + encoded + body)


def answer(conn, header, body):
    """Answers one request: exec runs BODY with /bin/sh and streams its output."""
    if header.get('op') != 'exec':
        send_frame(conn, {'op': 'error', 'code': 'unknown_op',
                          'message': f'unknown op {header.get("op")!r}'})
        return
    result = subprocess.run(body, shell=True, capture_output=True, timeout=10)
    sha = hashlib.sha256()
    for stream, data in (('stdout', result.stdout), ('stderr', result.stderr)):
        for at in range(0, len(data), CHUNK):
            sha.update(data[at:at + CHUNK])
            send_frame(conn, {'op': 'output', 'stream': stream}, data[at:at + CHUNK])
    send_frame(conn, {'op': 'exit', 'exit_code': result.returncode, 'signal': 0,
                      'timed_out': False, 'truncated': False,
                      'stdout_size': len(result.stdout), 'stderr_size': len(result.stderr),
                      'sha256': sha.hexdigest()})


def header_length(raw):
    (length,) = struct.unpack('>I', raw)
    if not 1 <= length <= MAX_HEADER:
        raise BadFrame(f'header length {length} is out of range 1..{MAX_HEADER}')
    return length


def parse_header(raw):
    try:
        header = json.loads(raw)
        size = header['size']
    except (ValueError, TypeError, KeyError) as e:
        raise BadFrame(f'not a header: {e}') from None
    if not isinstance(size, int) or size < 0:
        raise BadFrame(f'size {size!r} is not a byte count')
    return header, size


def take_frame(buffer):
    """Takes the first whole frame out of BUFFER: (header, body), or None
    when the frame is not all there yet."""
    if len(buffer) < 4:
        return None
    length = header_length(buffer[:4])
    if len(buffer) < 4 + length:
        return None
    header, size = parse_header(buffer[4:4 + length])
    if len(buffer) < 4 + length + size:
        return None
    body = bytes(buffer[4 + length:4 + length + size])
    del buffer[:4 + length + size]
    return header, body


def error_reply(conn, e):
    """The next frame cannot be found: say so; the caller closes."""
    try:
        send_frame(conn, {'op': 'error', 'code': 'bad_frame', 'message': str(e)})
    except OSError:
        pass


# ---- threads: a buffer per connection, or one for all --------------------

shared_buffer = bytearray()
shared_lock = threading.Lock()


def serve_thread(conn, addr, bug):
    if bug == 'shared-buffer':
        # BUG shared-buffer: every thread appends to the same buffer. The
        # lock makes each append-and-take safe, not the sharing: a request
        # that arrives in pieces is completed by another client's bytes.
        buffer, lock = shared_buffer, shared_lock
    else:
        buffer, lock = bytearray(), threading.Lock()
    with conn:
        try:
            more = False           # the last take left bytes: look before recv
            while True:
                chunk = b''
                if not more:
                    chunk = conn.recv(CHUNK)
                    if not chunk:
                        return     # the client closed
                with lock:
                    buffer += chunk
                    try:
                        frame = take_frame(buffer)
                    except BadFrame:
                        del buffer[:]
                        raise
                    more = frame is not None and len(buffer) > 0
                if frame is not None:
                    answer(conn, *frame)
        except BadFrame as e:
            error_reply(conn, e)
        except (OSError, ValueError, subprocess.SubprocessError) as e:
            print(f'server6: client {addr[0]}:{addr[1]}: {e}', file=sys.stderr)


def serve_threads(listener, bug):
    while True:
        conn, addr = listener.accept()
        threading.Thread(target=serve_thread, args=(conn, addr, bug), daemon=True).start()


# ---- fork: a process per connection --------------------------------------

def serve_forks(listener):
    while True:
        conn, addr = listener.accept()
        if os.fork() == 0:
            listener.close()
            serve_thread(conn, addr, 'none')
            os._exit(0)
        conn.close()
        # BUG no-reap: nothing waits for the child (os.waitpid(-1,
        # os.WNOHANG) until it returns (0, 0), here or on SIGCHLD): each
        # ended child stays a zombie.


# ---- an event loop that blocks -------------------------------------------

def recv_exact(conn, size):
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(min(size - len(data), CHUNK))
        if not chunk:
            raise EOFError(f'connection closed after {len(data)} of {size} bytes')
        data += chunk
    return bytes(data)


def serve_loop(listener):
    loop = selectors.DefaultSelector()
    loop.register(listener, selectors.EVENT_READ)
    while True:
        for key, _ in loop.select():
            if key.fileobj is listener:
                conn, addr = listener.accept()
                loop.register(conn, selectors.EVENT_READ, addr)
                continue
            conn, addr = key.fileobj, key.data
            # BUG blocking-loop: the request is read whole and the reply
            # sent whole with blocking calls, inside the loop. Readable
            # means some bytes are there, not all; writable means some
            # room, not enough: one slow client holds every other.
            try:
                raw = conn.recv(4)     # one byte is enough to tell EOF
                if not raw:
                    raise EOFError('closed')
                length = header_length(raw + recv_exact(conn, 4 - len(raw)))
                header, size = parse_header(recv_exact(conn, length))
                answer(conn, header, recv_exact(conn, size))
                continue
            except BadFrame as e:
                error_reply(conn, e)
            except EOFError:
                pass
            except (OSError, ValueError, subprocess.SubprocessError) as e:
                print(f'server6: client {addr[0]}:{addr[1]}: {e}', file=sys.stderr)
            loop.unregister(conn)
            conn.close()


# ---- main ----------------------------------------------------------------

def usage_error(message):
    print(f'server6.py: {message} (try --help)', file=sys.stderr)
    sys.exit(2)


def parse_args(args):
    bug, port, given = 'none', 8087, False
    while args:
        arg, args = args[0], args[1:]
        if arg in ('-h', '--help'):
            print(__doc__.strip())
            sys.exit(0)
        if arg in ('--bug', '-p', '--port'):
            if not args:
                usage_error(f'{arg} needs a value')
            value, args = args[0], args[1:]
            if arg == '--bug':
                if value not in BUGS:
                    usage_error(f"--bug: no bug '{value}' ({', '.join(BUGS)})")
                bug = value
                continue
            arg = value
        elif arg.startswith('-'):
            usage_error(f"unknown option '{arg}'")
        if not arg.isdigit() or int(arg) > 65535:
            usage_error(f"'{arg}' is not a port (0 to 65535)")
        if given:
            usage_error(f"one port only: '{arg}' is one too many")
        port, given = int(arg), True
    return bug, port


def main():
    bug, port = parse_args(sys.argv[1:])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', port))
    listener.listen(128)
    print(f'listening on 127.0.0.1:{listener.getsockname()[1]}', file=sys.stderr, flush=True)
    if bug == 'no-reap':
        serve_forks(listener)
    elif bug == 'blocking-loop':
        serve_loop(listener)
    else:
        serve_threads(listener, bug)


if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        pass
