#!/usr/bin/env python3
"""on_pty.py CMD ARGS...: runs CMD with its stderr on a new pseudo-terminal
(stdin as ours, stdout to /dev/null) and writes what CMD wrote to that
terminal to our stdout, byte for byte. Exits with CMD's status. For the
tests of what a program shows only on a terminal (a progress bar)."""
import os
import subprocess
import sys

master, slave = os.openpty()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=slave)
os.close(slave)
seen = bytearray()
while True:
    try:
        part = os.read(master, 65536)
    except OSError:          # EIO: the child closed its end
        break
    if not part:
        break
    seen += part
status = child.wait()
sys.stdout.buffer.write(bytes(seen))
sys.exit(status)
