#!/usr/bin/env bats
# The man pages of the installed programs (man/*.1): installed by make
# install, free of groff warnings, and naming every option --help lists.
# The grader as installed: nianbao-grade on PREFIX/bin.

bats_require_minimum_version 1.5.0

setup() {
    load 'test_helper/common-setup'
    _common_setup
    command -v man >/dev/null || skip "man is not installed (Debian packages man-db, groff-base)"
    cd "$BATS_TEST_TMPDIR"
}
teardown() { _common_teardown; }

@test "each man page formats without a single warning" {
    local page
    for page in nianbao-view nianbao-grade nianbao-lesson; do
        run --separate-stderr env LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$ROOT/man/$page.1"
        assert_success
        [ -z "$stderr" ] || { echo "$page: $stderr"; return 1; }
        assert_line --regexp "^NAME$"
        assert_line --regexp "^ +$page +- "
    done
}

@test "every option --help lists is in the man page" {
    local page prog option
    for page in nianbao-view nianbao-grade; do
        case $page in
            nianbao-view) prog="$ROOT/viewer/nianbao-view" ;;
            nianbao-grade) prog="$ROOT/tools/grade" ;;
        esac
        LC_ALL=C.UTF-8 MANWIDTH=200 man -E UTF-8 -l "$ROOT/man/$page.1" 2>/dev/null >"$page.txt"
        # The options are the lines that start with one; the help text after
        # them may name other programs' options.
        for option in $("$prog" --help | awk '/^ +(-[a-zA-Z], )?--[a-z]/ {
                            match($0, /--[a-z][a-z-]*/); print substr($0, RSTART, RLENGTH) }'); do
            grep -qF -- "$option" "$page.txt" || { echo "$page.1 does not mention $option"; return 1; }
        done
    done
}

@test "make install puts nianbao-grade on PATH and the man pages where man finds them" {
    dest="$BATS_TEST_TMPDIR/dest"
    run make -s -C "$ROOT" install DESTDIR="$dest" PREFIX=/usr
    assert_success
    run env MANPATH="$dest/usr/share/man" man -w nianbao-grade nianbao-view nianbao-lesson
    assert_success
    assert_output "$dest/usr/share/man/man1/nianbao-grade.1
$dest/usr/share/man/man1/nianbao-view.1
$dest/usr/share/man/man1/nianbao-lesson.1"
    [ -f "$dest/usr/share/nianbao/nianbao.lua" ]
    run "$dest/usr/bin/nianbao-grade" --version
    assert_success
    assert_output 'nianbao-grade (nianbao 1.0): a lab tool: grades framing code against seeded cuts'
    # The installed grader grades, and points at the installed viewer.
    run "$dest/usr/bin/nianbao-grade" client --proto stage3 --only coalesced,close-mid-length -- \
        "$dest/usr/libexec/nianbao/stage3_struct_len/client" -p '{port}'
    assert_success
    run "$dest/usr/bin/nianbao-grade" client --proto stage3 --only coalesced -- \
        "$dest/usr/libexec/nianbao/stage1_naive/client" -p '{port}'
    assert_failure 1
    # (relative to the current folder when it is below it, as here)
    assert_line --regexp "^      view: dest/usr/libexec/nianbao/viewer/nianbao-view --replay grade-captures/client-stage3-coalesced-seed1.nbcap --proto len --at down:[0-9]+ --conn 1$"
    [ -x dest/usr/libexec/nianbao/viewer/nianbao-view ]
}
