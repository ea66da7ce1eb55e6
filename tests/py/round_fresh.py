"""Gets of one small file by many clients at once while the file changes:
no reply may show the file as it was before a change its client saw.

    python3 tests/py/round_fresh.py PORT ROOT [CHANGES]

ROOT is the directory the server serves. HAMMERS clients get "f.bin" in
a loop on their own connections and check that each body has the SHA-256
its "end" frame says. One more client, the checker, changes the file
CHANGES times (each time another way: a new file renamed over it, the
same bytes count written in place, a new size) and gets it at once after
each change: the body must be the new bytes. Then it waits until the new
version has settled (the server remembers digests of settled files only:
start it with NIANBAO_DIGEST_SETTLE=0.05), so that the hammers' gets of it
are the ones a server may serve from what it read for several clients.

Prints one summary line ("CHANGES changes, N gets by HAMMERS clients, every
body the file as it was") and exits 0, or prints what went wrong and
exits 1.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ftwire import connect, frame, read_reply, sha256  # noqa: E402

HAMMERS = 16
SETTLE = 0.07     # seconds after a change: past the server's 0.05 s settle
GET = frame({"op": "get", "name": "f.bin", "offset": 0})


def get(sock):
    """The body of one get, checked against its end frame's SHA-256; None
    when the file changed while it was read (the reply says "changed")."""
    sock.sendall(GET)
    frames = read_reply(sock)
    ops = [h["op"] for h, _ in frames]
    if ops in (["error"], ["file", "error"]) and frames[-1][0].get("code") == "changed":
        return None     # changed while it was read: the specification's answer
    if ops != ["file", "end"]:
        raise AssertionError(f"reply frames {[h for h, _ in frames]}")
    body = frames[0][1]
    if sha256(body) != frames[1][0]["sha256"]:
        raise AssertionError("a body whose SHA-256 is not its end frame's")
    return body


def get_behind(sock):
    """The body of the get sent with the put before it: its reply follows
    the put's."""
    frames = read_reply(sock)
    if [h["op"] for h, _ in frames] != ["file", "end"] or sha256(frames[0][1]) != frames[1][0]["sha256"]:
        raise AssertionError(f"reply frames {[h for h, _ in frames]}")
    return frames[0][1]


def main():
    port, root = sys.argv[1], sys.argv[2]
    changes = int(sys.argv[3]) if len(sys.argv) > 3 else 36
    path = os.path.join(root, "f.bin")
    stop = threading.Event()
    counts = [0] * HAMMERS
    errors = []

    def hammer(i):
        try:
            with connect(port) as sock:
                while not stop.is_set():
                    get(sock)
                    counts[i] += 1
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"hammer {i}: {e!r}")
            stop.set()

    def version(n, size=4096):
        return (b"version %06d " % n) * (size // 15) + b"v" * (size % 15)

    with open(path, "wb") as f:
        f.write(version(0))
    time.sleep(SETTLE)
    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(HAMMERS)]
    for t in threads:
        t.start()
    try:
        with connect(port) as sock:
            for n in range(1, changes + 1):
                if stop.is_set():
                    break
                time.sleep(SETTLE)
                way = 3 if n % 2 else n // 2 % 3
                if way == 3:        # a put through the server, the get behind it
                    new = version(n, 4096 + 15 * n)
                    sock.sendall(frame({"op": "put", "name": "f.bin", "file_size": len(new),
                                        "overwrite": True}) +
                                 frame({"op": "data"}, new) +
                                 frame({"op": "end", "sha256": sha256(new)}) + GET)
                    ops = [h["op"] for h, _ in read_reply(sock)] + \
                          [h["op"] for h, _ in read_reply(sock)]
                    if ops != ["ready", "done"]:
                        raise AssertionError(f"the put's replies: {ops}")
                elif way == 0:      # a new file renamed over the name
                    new = version(n)
                    with open(path + ".new", "wb") as f:
                        f.write(new)
                    os.rename(path + ".new", path)
                elif way == 1:      # the same count of bytes, in place
                    new = version(n, os.path.getsize(path))
                    with open(path, "r+b") as f:
                        f.write(new)
                else:               # another size, in place
                    new = version(n, 4096 + 15 * n)
                    with open(path, "r+b") as f:
                        f.write(new)
                        f.truncate(len(new))
                got = get(sock) if way != 3 else get_behind(sock)
                if got is None:
                    errors.append(f"change {n}: the get after it was told the file changed")
                    break
                if got != new:
                    errors.append(f"change {n}: the get after it sent {got[:15]!r}"
                                  f" ({len(got)} bytes), not {new[:15]!r} ({len(new)} bytes)")
                    break
    except Exception as e:  # noqa: BLE001
        errors.append(f"checker: {e!r}")
    stop.set()
    for t in threads:
        t.join(30)
    if errors:
        print("\n".join(errors))
        return 1
    print(f"{changes} changes, {sum(counts)} gets by {HAMMERS} clients, every body the file as it was")
    return 0


if __name__ == "__main__":
    sys.exit(main())
