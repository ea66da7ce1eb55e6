"""Gets of a small file that is cut to nothing and written again, over and
over: a reply that says the file came whole must hold the file's bytes.

    python3 tests/py/shrinking_file.py PORT ROOT [SECONDS]

A writer truncates ROOT/s.bin to 0 bytes and writes its 4,000 bytes back,
in a loop, for SECONDS (default 1.5); 8 clients get it meanwhile. A get may
find the file empty, or end in an error (changed, or io: the file ended
while it was hashed), or see the connection closed (the server found
fewer bytes than the size it read: it cannot finish the frame); but every "file" frame followed by "end" must carry exactly the
file's bytes, with their SHA-256. A server that took a short read for a
whole one would send what its buffer held before.

Prints "N whole gets, M empty, K cut short: every whole body the file's
bytes" and exits 0 (N > 0), or what went wrong and exits 1.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ftwire import connect, frame, read_reply, sha256  # noqa: E402

CLIENTS = 8
CONTENT = bytes(range(250)) * 16     # 4,000 bytes
GET = frame({"op": "get", "name": "s.bin", "offset": 0})


def main():
    port, root = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 1.5
    path = os.path.join(root, "s.bin")
    with open(path, "wb") as f:
        f.write(CONTENT)
    stop = threading.Event()
    counts = {"whole": 0, "empty": 0, "cut": 0}
    lock = threading.Lock()
    errors = []

    def count(what):
        with lock:
            counts[what] += 1

    def client():
        sock = connect(port)
        try:
            while not stop.is_set():
                sock.sendall(GET)
                try:
                    frames = read_reply(sock)
                except (EOFError, ConnectionResetError):
                    count("cut")
                    sock.close()
                    sock = connect(port)
                    continue
                ops = [h["op"] for h, _ in frames]
                if ops == ["file", "end"] and frames[0][0]["file_size"] == 0:
                    count("empty")
                elif ops == ["file", "end"]:
                    body = frames[0][1]
                    if body != CONTENT or sha256(body) != frames[1][0]["sha256"]:
                        errors.append(f"a whole get sent {len(body)} bytes that are not the"
                                      f" file's: {body[:16]!r}")
                        stop.set()
                    count("whole")
                elif ops[-1] == "error" and frames[-1][0]["code"] in ("changed", "io"):
                    count("cut")
                else:
                    errors.append(f"reply frames {[h for h, _ in frames]}")
                    stop.set()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"client: {e!r}")
            stop.set()
        finally:
            sock.close()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    end = time.monotonic() + seconds
    fd = os.open(path, os.O_WRONLY)
    while time.monotonic() < end and not stop.is_set():
        os.ftruncate(fd, 0)
        os.pwrite(fd, CONTENT, 0)
    os.close(fd)
    stop.set()
    for t in threads:
        t.join(30)
    if errors:
        print("\n".join(errors[:5]))
        return 1
    if counts["whole"] == 0:
        print(f"no whole get in {seconds} s: {counts}")
        return 1
    print(f"{counts['whole']} whole gets, {counts['empty']} empty, {counts['cut']} cut short:"
          " every whole body the file's bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
