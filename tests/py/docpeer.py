"""Shared bits of the document-like Python peers: option parsing and the
document's way of reading a command line. Test helpers, not part of the lab."""

import argparse
import sys


def parse_args(description, default_port):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=default_port)
    return parser.parse_args()


def commands():
    """Yields each stdin line stripped, blank ones skipped: input().strip()
    and `if len(msg) == 0: continue` of the document, but on bytes so a test
    can send any byte."""
    for line in sys.stdin.buffer:
        command = line.strip()
        if command:
            yield command


def announce(sock):
    host, port = sock.getsockname()[:2]
    print(f"listening on {host}:{port}", file=sys.stderr, flush=True)
