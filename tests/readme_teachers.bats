#!/usr/bin/env bats
# README.md's "For teachers" section: its commands run as written (the
# lesson, handing out an exercise, grading one student and a class), and
# the lines it quotes are what they print.

setup() {
    load 'test_helper/common-setup'
    _common_setup
    export HOME="$BATS_TEST_TMPDIR/home"
    mkdir -p "$HOME/bin"
    # Debian's interpreter when there is one: a pyenv shim costs seconds a start.
    [ -x /usr/bin/python3 ] && ln -s /usr/bin/python3 "$HOME/bin/python3"
    export PATH="$HOME/bin:$PATH"
}
teardown() { _common_teardown; }

# The shell block of the section, one command a line.
teacher_commands() {
    awk '/^## For teachers/ { inside = 1; next }
         /^## / { inside = 0 }
         inside && /^```sh$/ { block = 1; next }
         inside && /^```$/ { block = 0 }
         inside && block' "$ROOT/README.md"
}

@test "the teachers' commands run as written and print what the section says" {
    mapfile -t commands < <(teacher_commands)
    [ "${#commands[@]}" -eq 4 ]
    cd "$ROOT"

    # 1. The lesson (as a transcript: no terminal here).
    [ "${commands[0]}" = "make demo" ]
    run bash -c "${commands[0]}" </dev/null
    assert_success
    assert_line 'wire: STALE: recv #3 returned bytes of reply #2'

    # 2. Handing out stage 3.
    run bash -c "${commands[1]}"
    assert_success
    [ -f "$HOME/class/README.md" ] && [ -f "$HOME/class/README.zh.md" ]
    [ -f "$HOME/class/stage3/client.py" ] && [ -f "$HOME/class/stage3/server.c" ]

    # 3. Grading the starter as handed out (from a folder of the teacher's
    # own, where its captures go: not into the checkout, whose top folder
    # the lesson's `ls` shows to tests beside this one).
    mkdir "$BATS_TEST_TMPDIR/teacher"
    ln -s "$ROOT/tools" "$BATS_TEST_TMPDIR/teacher/tools"
    run bash -c "cd '$BATS_TEST_TMPDIR/teacher' && ${commands[2]}"
    assert_failure 1
    assert_line --regexp '^0 of 14 scenarios passed; failed: coalesced, dribble, '
    grep -qF '`0 of 14 scenarios passed; failed: coalesced, dribble, ...`' README.md

    # 4. A class: alice's is the starter, bob's a finished client, carol's
    # reads the length big-endian. The table is the section's, its paths
    # under this test's home instead of /home/teacher (whose length sets
    # the columns' widths: compared with runs of spaces as one).
    local subs="$HOME/class/submissions"
    mkdir -p "$subs/alice" "$subs/bob" "$subs/carol"
    cp "$HOME/class/stage3/client.py" "$subs/alice/client.py"
    cp exercises/broken/client3.py "$subs/bob/client.py"
    sed "s/^    bug = 'none'$/    bug = 'byte-order'/" \
        exercises/broken/client3.py >"$subs/carol/client.py"
    grep -q "^    bug = 'byte-order'$" "$subs/carol/client.py"
    run bash -c "${commands[3]}"
    assert_failure 1
    quoted=$(awk '/^\*\*Grade the class/ { inside = 1 } inside && /^```$/ { n++; next }
                  inside && n == 1' README.md)
    [ -n "$quoted" ]
    assert_equal "$(tr -s ' ' <<<"$output")" "$(sed "s|/home/teacher|$HOME|" <<<"$quoted" | tr -s ' ')"
    for who in alice bob carol; do [ -s "$subs/$who/grade.txt" ]; done
    [ -d "$subs/alice/grade-captures" ] && [ ! -e "$subs/bob/grade-captures" ]
    [ "$(grep -c '^<tr><th>' "$HOME/class/grades.html")" -eq 3 ]
    run tools/grade client --proto stage3 -- python3 "$HOME/class/submissions/bob/client.py" '{port}'
    assert_success
    assert_line 'all 14 scenarios passed'
    grep -qF 'finished client ends with `all 14 scenarios passed`' README.md
}
