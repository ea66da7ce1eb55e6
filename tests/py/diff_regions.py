#!/usr/bin/env python3
"""diff_regions.py OLD.c NEW.c: the parts of two stage files that
`diff -u OLD NEW` touches, one per line, sorted: "header comment",
"includes", "defines", "struct NAME", "main: options" (main's config,
option table and program description), or a function's name (its
prototype and the comment above it included). What else changed is shown
as "other: LINE". For tests/stage_diffs.bats, which compares them with what
the stage READMEs name."""
import re
import subprocess
import sys

OPTION_BLOCK = re.compile(r'^    (const )?struct (\w+_config|cli_option|cli_program) \w+(\[\])? = \{')
DECL_START = re.compile(r'^(static\s+)?[A-Za-z_][\w \t\*]*?\b(\w+)\s*\(')
VAR_DECL = re.compile(r'^static\s+\w+\s+(\w+);')


def regions(path):
    """The region of every line of PATH (1-based list; None for blank lines)."""
    lines = open(path, encoding='utf-8').read().split('\n')
    owner = [None] * (len(lines) + 2)
    pending_comment = []     # lines of a comment block waiting for its item
    i = 0
    func = None
    in_options = False

    def take(name, first, last):
        for n in range(first, last + 1):
            owner[n] = name
        for n in pending_comment:
            owner[n] = name
        pending_comment.clear()

    while i < len(lines):
        n = i + 1
        line = lines[i]
        if func:
            if line == '}':
                owner[n] = func
                func = None
            elif func == 'main' and (in_options or OPTION_BLOCK.match(line)):
                owner[n] = 'main: options'
                in_options = not line.startswith('    };')
            elif line.strip():
                owner[n] = func
            i += 1
            continue
        if not line.strip():
            for m in pending_comment:
                owner[m] = 'other: ' + lines[m - 1]
            pending_comment.clear()
            i += 1
            continue
        if line.startswith('/*'):
            end = i
            while '*/' not in lines[end]:
                end += 1
            if i == 0:
                for m in range(1, end + 2):
                    owner[m] = 'header comment'
            else:
                pending_comment.extend(range(n, end + 2))
            i = end + 1
            continue
        if line.startswith('#include'):
            take('includes', n, n)
        elif line.startswith('#define') or line.startswith('#undef'):
            end = i
            while lines[end].endswith('\\'):
                end += 1
            take('defines', n, end + 1)
            i = end
        elif re.match(r'^(struct|enum|union)\b[^;(]*\{', line):
            name = re.match(r'^(\w+(?:\s+\w+)?)', line).group(1)
            end = i
            while not lines[end].startswith('}'):
                end += 1
            take(name, n, end + 1)
            i = end
        elif VAR_DECL.match(line):
            take(VAR_DECL.match(line).group(1), n, n)
        elif DECL_START.match(line):
            name = DECL_START.match(line).group(2)
            end = i
            while not lines[end].rstrip().endswith(';') and lines[end + 1] != '{':
                end += 1
            if lines[end].rstrip().endswith(';'):
                take(name, n, end + 1)             # a prototype
            else:
                take(name, n, end + 2)             # the signature and its '{'
                func = name
                in_options = False
                end += 1
            i = end
        else:
            take('other: ' + line, n, n)
        i += 1
    return owner


def main():
    old, new = sys.argv[1], sys.argv[2]
    owner = {'-': regions(old), '+': regions(new)}
    out = subprocess.run(['diff', '-u', old, new], capture_output=True, text=True).stdout
    touched = set()
    at = {'-': 0, '+': 0}
    for line in out.split('\n'):
        m = re.match(r'^@@ -(\d+)(?:,\d+)? \+(\d+)', line)
        if m:
            at['-'], at['+'] = int(m.group(1)), int(m.group(2))
            continue
        if line.startswith('---') or line.startswith('+++') or not line:
            continue
        side = line[0]
        if side == ' ':
            at['-'] += 1
            at['+'] += 1
            continue
        if side in '-+':
            region = owner[side][at[side]]
            if region and line[1:].strip():
                touched.add(region)
            at[side] += 1
    for region in sorted(touched):
        print(region)


if __name__ == '__main__':
    main()
