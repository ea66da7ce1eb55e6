#!/usr/bin/env bats
# What the Makefile's targets print around their work: `make test` ends with
# one summary line, `make demo` shows the lesson and no build noise, and the
# README's recipes leave nothing for git to pick up.

bats_require_minimum_version 1.5.0

setup() { load 'test_helper/common-setup'; _common_setup; }
teardown() { _common_teardown; }

# suite DIR: tests/run_suite.sh on DIR, in an environment of its own: this
# run's BATS_* variables, and its PATH that starts with bats' internal
# directory (where `bats` is another program), would confuse the bats it starts.
suite() {
    local path
    path=$(tr ':' '\n' <<<"$PATH" | grep -vxF "$BATS_LIBEXEC" | paste -sd:)
    run --separate-stderr env -i PATH="$path" HOME="$HOME" TMPDIR="$BATS_TEST_TMPDIR" \
        "$ROOT/tests/run_suite.sh" "$1"
}

# fixture FILE: stdin, its TEST lines made bats tests, into FILE.
fixture() { sed 's/^TEST /@test /' >"$1"; }

# fresh_copy DIR: the repository's tracked files, as they are in the work
# tree, copied to DIR (a fresh clone, without git's history and with the
# changes not yet committed). Skips when this is not a git checkout.
fresh_copy() {
    command -v git >/dev/null || skip "git is not installed"
    git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1 ||
        skip "$ROOT is not a git checkout: there is no list of tracked files to copy"
    mkdir -p "$1"
    # Files deleted in the work tree but not yet in the index are left out.
    git -C "$ROOT" ls-files -z | (cd "$ROOT" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
        (cd "$ROOT" && tar --null -T - -cf -) | tar -xf - -C "$1"
}

@test "the test summary counts passed, failed and skipped tests, groups the skip reasons, and keeps bats' status" {
    mkdir "$BATS_TEST_TMPDIR/suite"
    # (bats would take a line starting with the at-sign test word here for
    # one of this file's own tests: the fixtures say TEST, sed fixes it.)
    fixture "$BATS_TEST_TMPDIR/suite/a.bats" <<'EOF'
TEST "passes" { true; }
TEST "needs the text" { skip "the text is not at /x: put it there"; }
TEST "fails" { echo "what it saw"; false; }
EOF
    fixture "$BATS_TEST_TMPDIR/suite/b.bats" <<'EOF'
TEST "also needs the text" { skip "the text is not at /x: put it there"; }
TEST "needs root" { skip "not root"; }
TEST "passes too" { true; }
EOF
    suite "$BATS_TEST_TMPDIR/suite"
    assert_failure 1
    # bats' own per-test lines stay, the failing test's output with them.
    assert_line 'ok 1 passes'
    assert_line 'not ok 3 fails'
    assert_line '# what it saw'
    # Then the reasons, grouped, the failures named, and one last line.
    assert_line 'skipped 2: the text is not at /x: put it there'
    assert_line 'skipped 1: not root'
    assert_line 'failed: fails'
    # ... each with the top of what it printed, under its name (bats' file
    # and line, the failed command, its output), so that a log cut short
    # still says why.
    local i
    for i in "${!lines[@]}"; do [ "${lines[i]}" != 'failed: fails' ] || break; done
    assert_equal "${lines[i + 1]}" '    # (in test file '"$BATS_TEST_TMPDIR"'/suite/a.bats, line 3)'
    assert_equal "${lines[i + 3]}" '    # what it saw'
    assert_equal "${lines[-1]}" 'tests: 2 passed, 1 failed, 3 skipped (listed above)'
}

@test "the test summary of a green run is one line and the exit status is 0" {
    mkdir "$BATS_TEST_TMPDIR/suite"
    printf 'TEST "one" { true; }\nTEST "two" { true; }\n' | fixture "$BATS_TEST_TMPDIR/suite/a.bats"
    suite "$BATS_TEST_TMPDIR/suite"
    assert_success
    assert_equal "${lines[-1]}" 'tests: 2 passed, 0 failed, 0 skipped'
    refute_line --partial 'skipped 0'
}

@test "make test runs the summary script on tests/" {
    # The test target itself would run this suite again; check its recipe.
    # TEST_ARGS= : a run as `make test TEST_ARGS=--timing` hands its
    # TEST_ARGS to this make through MAKEFLAGS.
    run make -C "$ROOT" -n --no-print-directory test TEST_ARGS=
    assert_success
    assert_line --regexp '^tests/run_suite\.sh tests/$'
}

@test "make test-heavy runs the summary script on tests/heavy/, whose files load the shared set-up" {
    run make -C "$ROOT" -n --no-print-directory test-heavy TEST_ARGS=
    assert_success
    assert_line --regexp '^tests/run_suite\.sh --jobs .+ tests/heavy/$'
    local f
    for f in "$ROOT"/tests/heavy/*.bats; do
        grep -q "load '../test_helper/common-setup'" "$f" || fail "$f does not load ../test_helper/common-setup"
    done
}

@test "the summary counts both groups: the files at the same time, then those of serial/ after them" {
    mkdir -p "$BATS_TEST_TMPDIR/suite/serial"
    fixture "$BATS_TEST_TMPDIR/suite/a.bats" <<'EOF'
TEST "a" { sleep 0.5; touch "$TMPDIR/mark-a"; }
TEST "a skips" { skip "not here"; }
EOF
    fixture "$BATS_TEST_TMPDIR/suite/b.bats" <<'EOF'
TEST "b" { sleep 0.5; touch "$TMPDIR/mark-b"; }
EOF
    fixture "$BATS_TEST_TMPDIR/suite/serial/c.bats" <<'EOF'
TEST "c runs after a and b" { ls "$TMPDIR/mark-a" "$TMPDIR/mark-b"; }
TEST "c fails" { false; }
EOF
    suite "$BATS_TEST_TMPDIR/suite"
    assert_failure 1
    assert_line 'ok 1 c runs after a and b'
    assert_line 'failed: c fails'
    assert_line 'skipped 1: not here'
    assert_equal "${lines[-1]}" 'tests: 3 passed, 1 failed, 1 skipped (listed above)'
}
@test "make demo on a fresh copy builds quietly: the lesson is the first thing printed and nothing follows it" {
    fresh_copy "$BATS_TEST_TMPDIR/copy"
    cd "$BATS_TEST_TMPDIR/copy"
    # As a user types it: not as a sub-make of the `make test` running us.
    run --separate-stderr env -u MAKELEVEL -u MFLAGS -u MAKEOVERRIDES MAKEFLAGS=-j2 timeout 300 make demo </dev/null
    assert_success
    assert_equal "${lines[0]}" "nianbao lesson: why a TCP byte stream has no message boundaries, and how a length fixes it."
    assert_line --partial 'That is the whole story'
    refute_output --regexp '(^|
)(cc|gcc|clang|ar|msgfmt) '
    refute_output --partial 'make['
    refute_output --partial 'Nothing to be done'
    assert_equal "$stderr" ""
    # A second run builds nothing, and says nothing about it either.
    run --separate-stderr env -u MAKELEVEL -u MFLAGS -u MAKEOVERRIDES -u MAKEFLAGS timeout 120 make demo </dev/null
    assert_success
    assert_equal "${lines[0]}" "nianbao lesson: why a TCP byte stream has no message boundaries, and how a length fixes it."
    refute_output --partial 'make['
    assert_equal "$stderr" ""
}

@test "make demo shows the compiler's errors when the build fails, and no lesson" {
    fresh_copy "$BATS_TEST_TMPDIR/copy"
    cd "$BATS_TEST_TMPDIR/copy"
    printf 'this is not C;\n' >>stage1_naive/client.c
    run --separate-stderr env -u MAKELEVEL -u MFLAGS -u MAKEOVERRIDES MAKEFLAGS=-j2 timeout 300 make demo </dev/null
    assert_failure
    assert_output ''
    [[ $stderr == *"stage1_naive/client.c"*"error"* ]]
    [[ $stderr == *"make: the build failed (its output is above)"* ]]
}

@test "git ignores the captures the README's recipes write, but not the golden ones" {
    command -v git >/dev/null || skip "git is not installed"
    git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1 || skip "$ROOT is not a git checkout"
    run git -C "$ROOT" check-ignore run.nbcap viewer/run.nbcap
    assert_success
    assert_output $'run.nbcap\nviewer/run.nbcap'
    run git -C "$ROOT" check-ignore --no-index tests/golden/stage1_garble.nbcap
    assert_failure 1
}
