#!/usr/bin/env python3
"""Prints one of the document's Python programs, taken from the tutorial's
text at test time, so that no line of it is committed to this repository.

    doc_extract.py SEED NAME [--keep-close-in-loop | --as-written]

NAME is v1_server, v1_client, v3_server, v3_client, v4_server or v4_client.
With --as-written the program is printed exactly as the text has it.
Otherwise it is printed as the text has it, except for a short list of
patches, each one a plain string replacement that must match exactly once;
they only make it run from a test (no terminal, no fixed port). Each applied
patch is named on stderr. Exit status 0, or 1 (a one-line reason on stderr)
when the text is not what this script expects, 2 for bad arguments.

The patches:
  port        the fixed port becomes sys.argv[1]; a server also announces
              "listening on HOST:PORT" on stderr after listen(), as every
              server of the lab does, so a test can use port 0.
  import-sys  the port patch needs sys.
  eof         input() raising EOFError at the end of stdin leaves the loop
              (the prompt is kept: the program prints it as in a terminal).
  close       (clients) client.close() is moved out of the while loop, where
              the document left it, so that the second command works; with
              --keep-close-in-loop it stays where it is and the second
              command fails, as in the document.
.decode('gbk') is left alone: the tests send ASCII, which GBK decodes as is.
"""

import re
import sys

# Where each section starts (a heading line of the text) and the order of the
# programs in it: 【一】 shows the server first, 【三】 and 【四】 the client first.
SECTIONS = {
    "v1": ("【一】", ("server", "client")),
    "v3": ("【三】", ("client", "server")),
    "v4": ("【四】", ("client", "server")),
}

# A program starts at this line, flush left (the UDP/TCP demos of 【二】 are
# indented; they are not wanted here).
BLOCK_START = "# -*-coding: Utf-8 -*-"

# A program ends at the first line that is a bullet of the blog's prose, a
# section heading, or the blog's footer.
BLOCK_END = re.compile(r"^\s*•|^【|^posted @ ")

FIXED_PORT = {"v1": "8080", "v3": "8083", "v4": "8085"}


class TextError(Exception):
    pass


def section_lines(lines, version):
    heading = SECTIONS[version][0]
    starts = [i for i, line in enumerate(lines) if line.startswith(heading)]
    if len(starts) != 1:
        raise TextError(f"section heading {heading} found {len(starts)} times, want 1")
    begin = starts[0] + 1
    end = begin
    while end < len(lines) and not lines[end].startswith("【"):
        end += 1
    return lines[begin:end]


def blocks(lines):
    """The programs of a section, in order, each as a list of lines."""
    found = []
    i = 0
    while i < len(lines):
        if lines[i].rstrip("\n") != BLOCK_START:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not BLOCK_END.match(lines[j]):
            j += 1
        found.append(lines[i:j])
        i = j
    return found


def extract(text, name):
    version, role = name.split("_")
    order = SECTIONS[version][1]
    found = blocks(section_lines(text.splitlines(keepends=True), version))
    if len(found) != len(order):
        raise TextError(f"{name}: {len(found)} programs in the section, want {len(order)}")
    source = "".join(found[order.index(role)])
    # The order given above is checked against the program itself.
    looks_like_server = ".listen(" in source
    if looks_like_server != (role == "server"):
        raise TextError(f"{name}: the program found is not a {role}")
    return source


def patches(name, keep_close_in_loop):
    """(label, old, new) in the order they are applied."""
    version, role = name.split("_")
    port = FIXED_PORT[version]
    result = [("import-sys", "from socket import *\n", "import sys\nfrom socket import *\n")]
    if role == "server":
        result += [
            ("port", f"server.bind(('127.0.0.1', {port}))",
             "server.bind(('127.0.0.1', int(sys.argv[1])))"),
            ("port", "server.listen(5)\n",
             "server.listen(5)\n"
             "print('listening on %s:%d' % server.getsockname(), file=sys.stderr, flush=True)\n"),
        ]
        return result
    result += [
        ("port", f"client.connect(('127.0.0.1', {port}))",
         "client.connect(('127.0.0.1', int(sys.argv[1])))"),
        ("eof", "    msg = input('enter msg :>>>').strip()\n",
         "    try:\n"
         "        msg = input('enter msg :>>>').strip()\n"
         "    except EOFError:\n"
         "        break\n"),
    ]
    if not keep_close_in_loop:
        result.append(("close", "\n    client.close()\n", "\nclient.close()\n"))
    return result


def apply(source, name, keep_close_in_loop):
    for label, old, new in patches(name, keep_close_in_loop):
        count = source.count(old)
        if count != 1:
            raise TextError(f"{name}: patch '{label}' matches {count} times, want 1: {old!r}")
        source = source.replace(old, new)
        print(f"patch {label}: {old!r} -> {new!r}", file=sys.stderr)
    return source


def main(argv):
    flags = {"--keep-close-in-loop", "--as-written"}
    args = [a for a in argv if a not in flags]
    keep = "--keep-close-in-loop" in argv
    as_written = "--as-written" in argv
    names = [f"{v}_{r}" for v in SECTIONS for r in ("server", "client")]
    if (len(args) != 2 or args[1] not in names or len(argv) - len(args) > 1
            or (keep and not args[1].endswith("_client"))):
        print("usage: doc_extract.py SEED NAME [--keep-close-in-loop | --as-written]\n"
              f"NAME: {' '.join(names)} (--keep-close-in-loop: clients only)", file=sys.stderr)
        return 2
    seed, name = args
    try:
        with open(seed, encoding="utf-8") as f:
            text = f.read()
        source = extract(text, name)
        if not as_written:
            source = apply(source, name, keep)
        sys.stdout.write(source)
    except OSError as e:
        print(f"doc_extract.py: {seed}: {e.strerror}", file=sys.stderr)
        return 1
    except TextError as e:
        print(f"doc_extract.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
