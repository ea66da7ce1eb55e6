"""A fake server that hands its reply to the client one piece at a time, and
knows it: before it sends the next piece it waits until the client's
program has read everything sent so far (the client socket's receive queue
in /proc/net/tcp is empty). So a client that takes one recv() for a whole
length field is certain to get a piece of it, with no timing involved.

    dribble_peer.py REPLY_FILE SIZE[,SIZE...]

Listens on 127.0.0.1, port 0, and says `listening on 127.0.0.1:PORT` on
stderr. For every request (one recv(1024), like the document's server) it
sends REPLY_FILE's bytes cut into the given piece sizes (the last size
repeats until the reply is all sent), then waits for the next request.
Exits when the client closes. A test helper, not part of the lab."""

import fcntl
import os
import socket
import sys
import time

DEADLINE_S = 10
SIOCOUTQ = 0x5411       # bytes of a TCP socket not yet acknowledged by the peer


def receive_queue(client_port, server_port):
    """Bytes the kernel holds for the client's socket that its program has
    not read yet, or None while the socket is not listed."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, remote, queues = fields[1], fields[2], fields[4]
                    if (int(local.rsplit(":", 1)[1], 16) == client_port and
                            int(remote.rsplit(":", 1)[1], 16) == server_port):
                        return int(queues.split(":")[1], 16)
        except FileNotFoundError:
            continue
    return None


def wait_until_read(conn, client_port, server_port):
    deadline = time.monotonic() + DEADLINE_S
    while True:
        queued = receive_queue(client_port, server_port)
        if queued is None:
            return              # the client has closed its socket
        if queued == 0:
            # Bytes sent but not yet acknowledged have not reached the
            # client's queue: wait for those too.
            unacked = int.from_bytes(fcntl.ioctl(conn, SIOCOUTQ, b"\0\0\0\0"), "little")
            if unacked == 0:
                return
        if time.monotonic() > deadline:
            sys.exit(f"dribble_peer: the client left {queued} bytes unread for {DEADLINE_S} s")
        time.sleep(0.002)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: dribble_peer.py REPLY_FILE SIZE[,SIZE...]")
    with open(sys.argv[1], "rb") as f:
        reply = f.read()
    sizes = [int(s) for s in sys.argv[2].split(",")]
    if not sizes or min(sizes) < 1:
        sys.exit("dribble_peer: piece sizes are whole numbers from 1")
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    server_port = listener.getsockname()[1]
    print(f"listening on 127.0.0.1:{server_port}", file=sys.stderr, flush=True)
    conn, (_, client_port) = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while conn.recv(1024):
        offset, piece = 0, 0
        while offset < len(reply):
            size = sizes[min(piece, len(sizes) - 1)]
            conn.sendall(reply[offset:offset + size])
            offset += size
            piece += 1
            wait_until_read(conn, client_port, server_port)
    conn.close()
    os._exit(0)


if __name__ == "__main__":
    main()
