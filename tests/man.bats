#!/usr/bin/env bats
# The man pages (man/*.1, man/nianbao.7): clean under mandoc -Tlint and
# groff's warnings, with the sections a man page has, one for every program
# make install puts on PATH (under its own name), and listing the same long
# options as the program's --help. The grader as installed: nianbao-grade
# on PREFIX/bin.

bats_require_minimum_version 1.5.0

setup_file() {
    # One installed tree for the file's tests: the pages and the programs
    # under the names a user types.
    DEST="$BATS_FILE_TMPDIR/dest"
    export DEST
    local root
    root="$(cd "$(dirname "$BATS_TEST_FILENAME")/.." && pwd)"
    make -s -C "$root" install DESTDIR="$DEST" PREFIX=/usr >"$BATS_FILE_TMPDIR/install.log" 2>&1
}

setup() {
    load 'test_helper/common-setup'
    _common_setup
    command -v man >/dev/null || skip "man is not installed (Debian packages man-db, groff-base)"
    [ -x "$DEST/usr/bin/nianbao-view" ] || { cat "$BATS_FILE_TMPDIR/install.log"; return 1; }
    cd "$BATS_TEST_TMPDIR"
}
teardown() { _common_teardown; }

pages() { ls "$ROOT"/man/*.1 "$ROOT"/man/*.7; }

@test "every page is clean under mandoc -Tlint and groff -man -ww -z" {
    command -v mandoc >/dev/null || skip "mandoc is not installed (Debian package mandoc; make deps installs it)"
    local page
    for page in $(pages); do
        run --separate-stderr mandoc -Tlint "$page"
        [ -z "$output$stderr" ] || { echo "mandoc -Tlint $page: $output$stderr"; return 1; }
        run --separate-stderr groff -man -ww -z "$page"
        [ -z "$output$stderr" ] || { echo "groff -man -ww -z $page: $output$stderr"; return 1; }
    done
}

@test "each man page formats without a single warning" {
    local page name
    for page in $(pages); do
        name=$(basename "$page"); name=${name%.*}
        run --separate-stderr env LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page"
        assert_success
        [ -z "$stderr" ] || { echo "$name: $stderr"; return 1; }
        assert_line --regexp "^NAME$"
        # a page of several programs is named after their common start
        assert_line --regexp "^ +$name[-a-z0-9]*[ ,]"
    done
}

@test "every page of a program has SYNOPSIS, OPTIONS, EXIT STATUS, EXAMPLES and SEE ALSO" {
    local page section
    for page in "$ROOT"/man/*.1; do
        for section in NAME SYNOPSIS DESCRIPTION OPTIONS "EXIT STATUS" EXAMPLES "SEE ALSO"; do
            grep -qx "\.SH \"\{0,1\}$section\"\{0,1\}" "$page" ||
                { echo "$(basename "$page") has no $section section"; return 1; }
        done
    done
    for section in NAME DESCRIPTION FILES EXAMPLES "SEE ALSO"; do
        grep -qx "\.SH \"\{0,1\}$section\"\{0,1\}" "$ROOT/man/nianbao.7" ||
            { echo "nianbao.7 has no $section section"; return 1; }
    done
}

@test "every program make install puts on PATH has a man page under its name, and nianbao(7) names it" {
    local prog name
    run ls "$DEST/usr/bin"
    assert_success
    [ "${#lines[@]}" -ge 24 ]
    LC_ALL=C.UTF-8 MANWIDTH=200 man -E UTF-8 -l "$ROOT/man/nianbao.7" 2>/dev/null >nianbao.7.txt
    for prog in "$DEST"/usr/bin/*; do
        name=$(basename "$prog")
        run env MANPATH="$DEST/usr/share/man" man -w "$name"
        assert_success
        grep -qw -- "$name" nianbao.7.txt || { echo "nianbao(7) does not name $name"; return 1; }
    done
    run env MANPATH="$DEST/usr/share/man" man -w 7 nianbao
    assert_success
    assert_output "$DEST/usr/share/man/man7/nianbao.7"
}

# help_options CMD...: the long options CMD --help lists, one a line, sorted
# (the lines that start with an option: the text after them may name
# other programs' options).
help_options() {
    "$DEST/usr/bin/$1" "${@:2}" --help | awk '/^ +(-[a-zA-Z], )?--[a-z]/ {
        match($0, /--[a-z][a-z-]*/); print substr($0, RSTART, RLENGTH) }' | sort -u
}

# page_options PAGE: the long options that the tags of PAGE's OPTIONS
# section name, one a line, as "BLOCK<TAB>--option": BLOCK is the heading of
# the .SS they are under ("" before the first).
page_options() {
    awk '/^\.SH/ { in_opts = ($0 ~ /^\.SH "?OPTIONS"?$/); block = ""; next }
         !in_opts { next }
         /^\.SS/ { block = substr($0, 5); gsub(/"/, "", block); next }
         /^\.TP/ { tag = 1; next }
         tag { tag = 0; s = $0; gsub(/\\-/, "-", s)
               while (match(s, /--[a-z][a-z-]*/)) {
                   print block "\t" substr(s, RSTART, RLENGTH); s = substr(s, RSTART + RLENGTH) } }' "$1" |
        sort -u
}

@test "--help and the man page list the same long options, for every installed program" {
    local -A page_of=()
    local prog name page
    for prog in "$DEST"/usr/bin/*; do
        name=$(basename "$prog")
        page=$(readlink -f "$(env MANPATH="$DEST/usr/share/man" man -w "$name")")
        page_of[$name]=$(basename "$page")
    done
    local checked=0 p cmd block unblocked
    for p in $(printf '%s\n' "${page_of[@]}" | sort -u); do
        page_options "$ROOT/man/$p" >"$p.opts"
        awk -F '\t' '$1 == ""  { print $2 }' "$p.opts" >"$p.common"
        # the commands of the page: its programs, and the .SS headings that
        # name a command ("nianbao-storm server")
        { for name in "${!page_of[@]}"; do [ "${page_of[$name]}" = "$p" ] && echo "$name"; done
          awk -F '\t' '$1 ~ /^nianbao/ { print $1 }' "$p.opts"; } | sort -u >"$p.cmds"
        unblocked=()
        while IFS= read -r cmd; do
            # shellcheck disable=SC2086  # "nianbao-storm server": two words
            help_options $cmd >"help.txt"
            [ -s help.txt ] || { echo "$cmd --help lists no option"; return 1; }
            if awk -F '\t' -v c="$cmd" '$1 == c { found = 1 } END { exit !found }' "$p.opts"; then
                { cat "$p.common"; awk -F '\t' -v c="$cmd" '$1 == c { print $2 }' "$p.opts"; } |
                    sort -u >"page.txt"
                diff -u --label "$cmd --help" --label "$p, OPTIONS: $cmd" help.txt page.txt ||
                    return 1
            else
                unblocked+=("$cmd")
                cat help.txt >>"$p.unblocked"
            fi
            checked=$((checked + 1))
        done <"$p.cmds"
        if [ "${#unblocked[@]}" -gt 0 ]; then
            sort -u "$p.unblocked" -o "$p.unblocked"
            diff -u --label "--help of ${unblocked[*]}" --label "$p, OPTIONS" "$p.unblocked" "$p.common" ||
                return 1
        fi
    done
    [ "$checked" -ge 26 ]
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
