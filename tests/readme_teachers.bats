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
    [ "${#commands[@]}" -eq 5 ]
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

    # 3. Grading the starter as handed out.
    run bash -c "${commands[2]}"
    assert_failure 1
    assert_line --regexp '^0 of 14 scenarios passed; failed: coalesced, dribble, '
    grep -qF '`0 of 14 scenarios passed; failed: coalesced, dribble, ...`' README.md

    # 4, 5. A class: one submission is the starter, one a finished client.
    mkdir -p "$HOME/class/submissions/alice" "$HOME/class/submissions/bob"
    cp "$HOME/class/stage3/client.py" "$HOME/class/submissions/alice/client.py"
    cp exercises/broken/client3.py "$HOME/class/submissions/bob/client.py"
    run bash -c "${commands[3]}"
    assert_success
    run bash -c "${commands[4]}"
    assert_success
    assert_output "$HOME/class/submissions/alice/grade.tap:14
$HOME/class/submissions/bob/grade.tap:0"
    run tools/grade client --proto stage3 -- python3 "$HOME/class/submissions/bob/client.py" '{port}'
    assert_success
    assert_line 'all 14 scenarios passed'
    grep -qF 'finished client ends with `all 14 scenarios passed`' README.md
}
