#!/usr/bin/env python3
"""check_bar.py TOTAL < what the client wrote to its terminal: checks the
progress bar's redraws ('\\r' then "HAVE / TOTAL PCT%  RATE/s  LEFT") and
prints what a reader sees: how many redraws, whether the bytes only grew,
and the last one. The terminal turns "\\n" into "\\r\\n"."""
import re
import sys

UNITS = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
BAR = re.compile(r"^ *([\d.]+) (B|KiB|MiB|GiB) / ([\d.]+) (B|KiB|MiB|GiB) +(\d+)%  +"
                 r"([\d.]+) (B|KiB|MiB|GiB)/s  (done|\d+:\d\d:\d\d left|--:--:-- left) *$")
total = int(sys.argv[1])
text = sys.stdin.buffer.read().decode()
draws = [d.rstrip("\n").rstrip("\r") for d in text.split("\r") if d.strip()]
have_before, pct_before = -1, -1
for d in draws:
    m = BAR.match(d)
    if not m:
        print(f"not a bar: {d!r}")
        sys.exit(1)
    have = float(m[1]) * UNITS[m[2]]
    shown_total = float(m[3]) * UNITS[m[4]]
    if abs(shown_total - total) > total * 0.001 + 1:
        print(f"total {shown_total} is not {total}: {d!r}")
        sys.exit(1)
    if have < have_before or int(m[5]) < pct_before or have > shown_total * 1.0005:
        print(f"went back or past the total: {d!r}")
        sys.exit(1)
    have_before, pct_before = have, int(m[5])
print(f"{len(draws)} redraws, growing")
print(draws[-1].strip())
print("ends with a newline" if text.endswith("\n") else "no final newline")
print("time left shown" if any(d.rstrip().endswith(" left") for d in draws) else "no time left shown")
