#!/usr/bin/env bats
# The protocols' limits live in one header, common/protolimits.h; the
# specification (stage5_file_transfer/README.md) quotes them, and the
# programs' --help shows them. These tests read the header and check every
# quote against it: a limit changed in one place and not the other fails.

# bats' run sets status/output; the backquotes in single quotes are the
# README's markdown:
# shellcheck disable=SC2154,SC2016
setup() {
    load 'test_helper/common-setup'
    _common_setup
}

# limits_check HEADER FILE: python3 reads HEADER (common/protolimits.h) and
# checks each quote of the table below in FILE; one line per quote ("NAME: VALUE quoted as
# TEXT"), and a line "WRONG ..." or "MISSING ..." for each that does not hold.
limits_check() {
    python3 - "$1" "$2" <<'PY'
import re, sys
header = open(sys.argv[1]).read()
spec = " ".join(open(sys.argv[2]).read().split())   # a quote may be wrapped
limits = {name: int(value) for name, value in
          re.findall(r"^#define (\w+) (\d+)[uUlL]*\s*$", header, re.M)}
units = {"": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
# (the quote as a regular expression: its group 1 is the number, group 2
# its unit; the header's name; how the quote relates to it)
quotes = [
    (r"`HLEN`: 1\.\.(\d+)()", "FT_MAX_HEADER", "="),
    (r"JSON numbers 0\.\.2\^(\d+)()−1", "FT_MAX_INTEGER", "2^n-1"),
    (r"the command, 1\.\.(\d+)() bytes \(`--max-command`\)", "FT_MAX_COMMAND", "="),
    (r"1 ≤ N ≤ (\d+)()", "FT_OUTPUT_MAX", "="),
    (r"the last (\d+)() files it hashed", "FT_DIGEST_MEMO", "="),
    (r"past (\d+) (MiB) of names the list stops", "FT_LIST_MAX", "="),
    (r"a body over (\d+) (MiB) is not skipped", "FT_SKIP_MAX", "="),
    (r"A refused request's body \(up to (\d+) (MiB)\)", "FT_SKIP_MAX", "="),
    (r"A name is a path relative to the root: 1\.\.(\d+)() bytes", "FT_NAME_MAX", "="),
    (r"each 1\.\.(\d+)() bytes", "FT_COMPONENT_MAX", "="),
    (r"\((\d+)() = 255 minus the partial prefix", "FT_COMPONENT_MAX", "="),
    (r"`--max-output BYTES` \(default (\d+) (MiB)", "FT_MAX_OUTPUT_DEFAULT", "="),
    (r"`--max-command BYTES` \(default and most (\d+)()", "FT_MAX_COMMAND", "="),
    (r"Linux takes at most (\d+) (KiB) in one argument", "FT_MAX_COMMAND", "n-1"),
    (r"`--max-header BYTES` \(default (\d+)()\)", "FT_MAX_HEADER", "="),
    (r"`--max-upload BYTES` \(default (\d+) (GiB)", "FT_MAX_UPLOAD_DEFAULT", "="),
    (r"is out of range 1\.\.(\d+)() \(bytes", "FT_MAX_HEADER", "="),
]
for pattern, name, how in quotes:
    found = list(re.finditer(pattern, spec))
    if not found:
        print("MISSING", name, "no quote matches", pattern)
    for m in found:
        n = int(m.group(1)) * units[m.group(2)]
        value = {"=": n, "2^n-1": 2 ** int(m.group(1)) - 1, "n-1": n - 1}[how]
        print(("%s: %d quoted as %s" if value == limits.get(name) else
               "WRONG %s: the header says %s, the text %s") %
              (name, limits.get(name, -1), m.group(0)))
PY
}

@test "every limit the specification quotes is the value common/protolimits.h gives it" {
    run limits_check "$ROOT/common/protolimits.h" "$ROOT/stage5_file_transfer/README.md"
    assert_success
    refute_output --partial 'WRONG'
    refute_output --partial 'MISSING'
    assert_line 'FT_MAX_COMMAND: 131071 quoted as the command, 1..131071 bytes (`--max-command`)'
    assert_line 'FT_MAX_HEADER: 65536 quoted as `HLEN`: 1..65536'
    assert [ "${#lines[@]}" -ge 17 ]
}

@test "a limit changed in the header and not in the specification is found" {
    sed 's/^#define FT_MAX_COMMAND 131071$/#define FT_MAX_COMMAND 65536/' \
        "$ROOT/common/protolimits.h" >"$BATS_TEST_TMPDIR/protolimits.h"
    run limits_check "$BATS_TEST_TMPDIR/protolimits.h" "$ROOT/stage5_file_transfer/README.md"
    assert_success
    assert_line 'WRONG FT_MAX_COMMAND: the header says 65536, the text the command, 1..131071 bytes (`--max-command`)'
}

# limit NAME: NAME's value in common/protolimits.h.
limit() { sed -n "s/^#define $1 \([0-9]*\).*/\1/p" "$ROOT/common/protolimits.h"; }

@test "the servers' and the client's --help show the header's defaults" {
    local prog
    for prog in stage5_file_transfer/server stage6_concurrent/poll; do
        run "$ROOT/$prog" --help
        assert_success
        assert_output --partial "output (default $(limit FT_MAX_OUTPUT_DEFAULT))"
        assert_output --partial "(default $(limit FT_MAX_UPLOAD_DEFAULT))"
        assert_output --partial "(default and most $(limit FT_MAX_COMMAND))"
    done
    run "$ROOT/stage5_file_transfer/server" --help
    assert_output --partial "header longer than BYTES (default $(limit FT_MAX_HEADER))"
    run "$ROOT/stage5_file_transfer/client" --help
    assert_output --partial "header longer than BYTES (default $(limit FT_MAX_HEADER))"
}
