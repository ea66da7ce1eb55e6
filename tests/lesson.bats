#!/usr/bin/env bats
# The guided lesson (`make demo`): when not on a terminal it prints its
# transcript, in English or Chinese; on a terminal it runs one step per key.
# Every number the narration says is a number of the run: the tests check it
# against the status line and the "wire:" lines of the same step, and check
# that the paced slicer parts give the same numbers run after run.

# backquotes in the narration are text, not commands:
# shellcheck disable=SC2154,SC2016
# Stage 6's steps wait for the server's --idle deadline (2 s in class): 0.5 s
# here, so each stage 6 run takes a second, not four.
setup() {
    load 'test_helper/common-setup'; _common_setup
    load 'test_helper/lesson'
    export NIANBAO_LESSON_IDLE=0.5
}
teardown() { _common_teardown; }

# lesson ARGS...: the transcript of tools/lesson.sh ARGS into $output.
lesson() {
    run timeout 60 "$ROOT/tools/lesson.sh" "$@" </dev/null
}

# step_output FILE N: the client output lines of step N (indented by two
# spaces) of the first section in FILE.
step_output() {
    awk -v n="$2" '/^-- step /{ s++ } s == n && /^  /{ print }' "$1"
}

@test "make demo without a terminal prints the whole lesson and ends by itself" {
    run timeout 120 make -s -C "$ROOT" demo </dev/null
    assert_success
    assert_line '== Stage 1: one recv per command (document v1.1) =='
    assert_line '== Stage 3: a 4-byte length before each reply (document v3.0) =='
    assert_line '== Stage 3 through the slicer (document v3.0) =='
    assert_line '== Stage 4: a JSON header before each reply (document v4.0) =='
    assert_line '== Stage 4 through the slicer (document v4.0) =='
    assert_line '== Stage 5: every request is a frame too =='
    assert_line '== Stage 6: two clients at once =='
    assert_line 'wire: STALE: recv #3 returned bytes of reply #2'
    assert_line --partial 'That is the whole story'
}

@test "stage 1 of the lesson shows the seq reply cut at 1024 bytes and MARK lost to a STALE recv" {
    lesson --stage 1
    assert_success
    printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/t"
    assert_line '$ ls'
    assert_line '$ seq 1 2000'
    assert_line '$ echo MARK'
    assert_line '`seq 1 2000` replies with 8893 bytes. The one recv takes the first 1024; the other 7869 wait in the client'"'"'s socket, pending, after the mark where the recv stopped.'
    assert_line --regexp '^wire: reply #2: 8893 bytes, sends: 1; the client.s recvs: 1, 1024 bytes; pending: 7869 bytes$'
    assert_line 'status: sends 1  recvs 1  pending 7869'
    assert_line 'wire: STALE: recv #3 returned bytes of reply #2'
    assert_line 'status: sends 1  recvs 1  pending 6850 | STALE: recv #3 returned bytes of reply #2'
    # Step 3 printed old seq output, and no MARK.
    run step_output "$BATS_TEST_TMPDIR/t" 3
    assert_line '  284'
    refute_line '  MARK'
}

@test "--from-capture tells stage 1 as a recorded run said it, and refuses a capture of other commands" {
    run timeout 60 "$ROOT/viewer/nianbao-view" --lesson --text --lang en --stage 1 \
        --from-capture "$ROOT/tests/golden/lesson_stage1.nbcap" </dev/null
    assert_success
    printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/t"
    # the numbers of that run (its `ls` listed the tree as committed then)
    assert_line '`ls` has a short reply, 189 bytes: it fits in one recv(1024), so nothing looks wrong yet.'
    assert_line 'status: sends 1  recvs 1  pending 7869'
    assert_line 'status: sends 1  recvs 1  pending 6850 | STALE: recv #3 returned bytes of reply #2'
    # the client's output: each recv's bytes, as the stage 1 client prints them
    run step_output "$BATS_TEST_TMPDIR/t" 1
    assert_line --index 0 '  Makefile'
    run step_output "$BATS_TEST_TMPDIR/t" 3
    assert_line --index 0 '  284'
    assert_line '  539'
    refute_line '  MARK'
    run timeout 60 "$ROOT/viewer/nianbao-view" --lesson --text --lang en --stage 1 \
        --from-capture "$ROOT/tests/golden/stage3_len.nbcap" </dev/null
    assert_failure 1
    assert_output --partial "stage3_len.nbcap: step 1's command is not \`ls\`"
    head -c 3000 "$ROOT/tests/golden/lesson_stage1.nbcap" >"$BATS_TEST_TMPDIR/short.nbcap"
    run timeout 60 "$ROOT/viewer/nianbao-view" --lesson --text --lang en --stage 1 \
        --from-capture "$BATS_TEST_TMPDIR/short.nbcap" </dev/null
    assert_failure 1
    assert_output --partial "short.nbcap ends before the step that types \`echo MARK\`"
}

@test "stage 3 of the lesson prints all of seq and then MARK, directly and through the slicer" {
    lesson --stage 3
    assert_success
    refute_output --partial 'STALE:'
    [ "$(grep -c '^wire: length field: 8893$' <<<"$output")" -eq 2 ]
    [ "$(grep -c '^  2000$' <<<"$output")" -eq 2 ]
    [ "$(grep -c '^  MARK$' <<<"$output")" -eq 2 ]
    assert_line --partial 'the client connects through tools/slicer, pieces of 1 to 7 bytes, seed 1, paced'
    assert_line --regexp '^wire: reply #2: 8897 bytes, sends: 2; .* 8897 bytes; pending: 0 bytes$'
}

@test "stage 4 of the lesson shows the JSON header decoded and no STALE flag" {
    lesson --stage 4
    assert_success
    refute_output --partial 'STALE:'
    assert_line 'wire: JSON header: total_size=8893 stdout_size=8893 exit_code=0'
    assert_line 'wire: JSON header: total_size=5 stdout_size=5 exit_code=0'
    [ "$(grep -c '^  MARK$' <<<"$output")" -eq 2 ]
}

@test "stage 2 counts recvs one way everywhere: data recvs, and the end of the stream apart" {
    [ -x "$ROOT/stage2_udp_vs_tcp/tcp_client" ] || skip "stage 2 is not built"
    lesson --stage 2
    assert_success
    assert_line --regexp '^  recvfrom #1: 5 bytes "world" from 127\.0\.0\.1:[0-9]+$'
    assert_line --regexp '^  recvfrom #2: 5 bytes "hello" from 127\.0\.0\.1:[0-9]+$'
    assert_line '  recv #1: 10 bytes "helloworld"'
    assert_line 'TCP: the client sends "hello" and then "world", 2 sends, and the server'"'"'s recv returns all 10 bytes as "helloworld" (1 recv with data; its next recv returns 0, the end of the stream): the stream kept the bytes and lost the boundary.'
    assert_line "wire: client to server: 10 bytes, sends: 2; the server's recvs: 1, then the end of the stream"
    assert_line 'status: sends 2  recvs 1  EOF  pending 0'
    assert_line "wire: client to server: 10 bytes, sends: 2; the server's recvs: 2"
    assert_line 'status: sends 2  recvs 2  pending 0'
}

@test "every number the narration says is the status line's, and 3 runs say the same" {
    narration_agrees 3     # 20 in tests/heavy/lesson.bats
}

@test "stage 5 of the lesson: the slicer cuts every request into pieces and the server still runs the whole command" {
    lesson --stage 5
    assert_success
    assert_line '== Stage 5: every request is a frame too =='
    assert_line '[stage5_file_transfer/server is listening; the client connects through tools/slicer --direction up, requests cut into pieces of 1 to 7 bytes, seed 1, paced]'
    printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/t"
    run step_output "$BATS_TEST_TMPDIR/t" 1
    assert_output '  hello'
    run step_output "$BATS_TEST_TMPDIR/t" 3
    assert_output '  MARK'
    run grep -c '^wire: JSON header: op=exec size=10$' "$BATS_TEST_TMPDIR/t"
    assert_output 2
    run grep -c '^wire: JSON header: op=exec size=9$' "$BATS_TEST_TMPDIR/t"
    assert_output 1
    run grep -c '^wire: reply: 8893 bytes of output (output frames: [0-9]*), then the exit frame$' "$BATS_TEST_TMPDIR/t"
    assert_output 1
    run check_numbers "$BATS_TEST_TMPDIR/t"
    assert_success
    # every request took more pieces than one: the slicer really cut them
    run sed -nE 's/^status: sends ([0-9]+)  recvs ([0-9]+)  pending 0$/\1 \2/p' "$BATS_TEST_TMPDIR/t"
    assert_equal "${#lines[@]}" 3
    local line
    for line in "${lines[@]}"; do
        [ "${line% *}" -gt 1 ] || { echo "one piece: $line"; return 1; }
    done
}

@test "stage 6 of the lesson: behind a silent client, iterative makes the next one wait for the deadline, poll does not; 3 runs" {
    stage6_agrees 3        # 20 in tests/heavy/lesson.bats
}

@test "--lang zh prints the narration in Chinese on this machine as it is" {
    lesson --stage 1 --lang zh
    assert_success
    assert_line '== 第 1 阶段：每条命令只 recv 一次（文档 1.1 版） =='
    assert_line '`echo MARK` 本该打印 MARK。可是 recv #3 返回的是 seq 回复接下来的 1024 字节，查看器把它标为 STALE（回复 #2 的字节）：这就是 1.1 版的粘包错乱。'
    assert_line '抓包: STALE：recv #3 返回了回复 #2 的字节'
    assert_line '状态: send 1 次  recv 1 次  待收 6850 | STALE：recv #3 返回了回复 #2 的字节'
    refute_output --partial '线上'
    refute_output --partial '1.0 版'
    refute_output --partial '{'
}

@test "every string the screen and the lesson show has a Chinese translation" {
    command -v xgettext >/dev/null || skip "xgettext (gettext) is not installed"
    cd "$ROOT"
    xgettext -k_ -kN_ --from-code=UTF-8 --no-location -o "$BATS_TEST_TMPDIR/nianbao.pot" \
        viewer/*.c
    # every msgid of the sources is in the catalogue ...
    run msgcmp viewer/po/zh_CN.po "$BATS_TEST_TMPDIR/nianbao.pot"
    assert_success
    # ... translated, not fuzzy, with the same printf conversions
    run msgattrib --untranslated --no-obsolete viewer/po/zh_CN.po
    refute_output --partial 'msgid "'
    run msgattrib --only-fuzzy --no-obsolete viewer/po/zh_CN.po
    refute_output --partial 'msgid "'
    run msgfmt -c -o /dev/null viewer/po/zh_CN.po
    assert_success
    # and with the same {fact} places as the English
    run python3 - viewer/po/zh_CN.po <<'PY'
import re, sys
entries = re.findall(r'\nmsgid ((?:".*"\n)+)msgstr ((?:".*"\n?)+)', open(sys.argv[1], encoding='utf-8').read())
bad = 0
for mid, mstr in entries:
    mid, mstr = ''.join(re.findall(r'"(.*)"', mid)), ''.join(re.findall(r'"(.*)"', mstr))
    if sorted(re.findall(r'\{\w+\}', mid)) != sorted(re.findall(r'\{\w+\}', mstr)):
        print('places differ:', mid, '|', mstr); bad += 1
sys.exit(bad)
PY
    assert_success
}

@test "Chinese lines never start with closing punctuation, at any width" {
    python3 - "$ROOT/viewer/po/zh_CN.po" >"$BATS_TEST_TMPDIR/texts" <<'PY'
import re, sys
for m in re.finditer(r'\nmsgstr ((?:".*"\n?)+)', open(sys.argv[1], encoding='utf-8').read()):
    text = ''.join(re.findall(r'"(.*)"', m.group(1))).replace('\\n', ' ').replace('\\"', '"')
    # a fragment that starts with punctuation (", guessed") follows other text
    if text.strip() and text[0] not in '，。、；：）':
        print(text)
PY
    [ "$(wc -l <"$BATS_TEST_TMPDIR/texts")" -gt 50 ]
    "$ROOT/viewer/test_decode" --wrap 20 33 40 57 64 80 97 120 >"$BATS_TEST_TMPDIR/wrapped" \
        <"$BATS_TEST_TMPDIR/texts"
    run python3 - "$BATS_TEST_TMPDIR/wrapped" <<'PY'
import sys, unicodedata
closing = set('。，、；：？！）」』”》〉】〕］｝…')
opening = set('（「『“《〈【〔［｛')
bad = 0
for line in open(sys.argv[1], encoding='utf-8').read().split('\n'):
    if line and line[0] in closing:
        print('starts with closing punctuation:', line); bad += 1
    if line and line[-1] in opening:
        print('ends with opening punctuation:', line); bad += 1
sys.exit(bad)
PY
    assert_success
    # and each line fits its width (two cells for a Chinese character)
    printf '%s\n' '`echo MARK` 本该打印 MARK。可是 recv #3 返回的是 seq 回复接下来的 1024 字节。' |
        "$ROOT/viewer/test_decode" --wrap 19 >"$BATS_TEST_TMPDIR/w19"
    run python3 -c '
import sys, unicodedata
for l in open(sys.argv[1], encoding="utf-8").read().split("\n"):
    w = sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in l)
    print(w, l)
    assert w <= 19, l' "$BATS_TEST_TMPDIR/w19"
    assert_success
    # the full stop stays with the character before it
    assert_line '4 节。'
}

@test "the locale chooses Chinese even when zh_CN.UTF-8 was never generated" {
    run env -i PATH="$PATH" LANG=zh_CN.UTF-8 timeout 60 "$ROOT/tools/lesson.sh" --stage 1 </dev/null
    assert_success
    assert_line '== 第 1 阶段：每条命令只 recv 一次（文档 1.1 版） =='
}

@test "--lang en wins over a Chinese locale, and a plain C locale gets English" {
    run env -i PATH="$PATH" LANG=zh_CN.UTF-8 timeout 60 "$ROOT/tools/lesson.sh" --stage 1 --lang en </dev/null
    assert_success
    assert_line '== Stage 1: one recv per command (document v1.1) =='
    run env -i PATH="$PATH" LC_ALL=C timeout 60 "$ROOT/tools/lesson.sh" --stage 1 </dev/null
    assert_success
    assert_line '== Stage 1: one recv per command (document v1.1) =='
}

@test "tools/lesson.sh has its own help, version and usage errors" {
    run "$ROOT/tools/lesson.sh" --help
    assert_success
    assert_line --index 0 'usage: lesson.sh [--lang en|zh] [--stage N] [--text] [--seed S] [--no-color]'
    refute_output --partial 'nianbao-view'
    run "$ROOT/tools/lesson.sh" --version
    assert_success
    assert_output 'lesson.sh (nianbao 1.0): the guided lesson (make demo)'
    run "$ROOT/tools/lesson.sh" --lang fr
    [ "$status" -eq 2 ]
    assert_output "lesson.sh: --lang: 'fr' is not en or zh
Try 'lesson.sh --help' for more information."
    run "$ROOT/tools/lesson.sh" --replay x.nbcap
    [ "$status" -eq 2 ]
    assert_line --index 0 "lesson.sh: unknown option '--replay'"
    run "$ROOT/tools/lesson.sh" --stage
    [ "$status" -eq 2 ]
    assert_line --index 0 "lesson.sh: option '--stage' needs a value"
}

@test "an unknown --lang is refused by the viewer with a one-line error and status 2" {
    run "$ROOT/viewer/nianbao-view" --lesson --lang fr
    [ "$status" -eq 2 ]
    assert_output "nianbao-view: --lang: 'fr' is not en or zh"
}

# pane_wait TEXT: polls the lesson's pane (deadline 10 s) until it shows TEXT;
# the plain text lands in $BATS_TEST_TMPDIR/pane.
pane_wait() {
    wait_until captured grep -qF -- "$1" "$BATS_TEST_TMPDIR/pane" || {
        echo "pane never showed: $1"; cat "$BATS_TEST_TMPDIR/pane"
        return 1
    }
}

# captured CMD...: CMD, run on a fresh capture of the pane.
captured() {
    tmux -S "$TMUX_SOCKET" capture-pane -p -t lesson >"$BATS_TEST_TMPDIR/pane" 2>/dev/null || true
    "$@"
}

# pane_until CMD...: polls the pane (deadline 10 s) until CMD, run on a fresh
# capture in $BATS_TEST_TMPDIR/pane, succeeds: a screen is checked whole,
# never while the terminal is half redrawn.
pane_until() {
    wait_until captured "$@" || {
        echo "the pane never satisfied: $*"; cat "$BATS_TEST_TMPDIR/pane"
        return 1
    }
}

# start_lesson COLSxROWS ARGS...: the lesson on a private tmux server.
start_lesson() {
    local size=$1; shift
    TMUX_SOCKET="$BATS_TEST_TMPDIR/tmux.sock"
    tmux -S "$TMUX_SOCKET" -f /dev/null new-session -d -s lesson -x "${size%x*}" -y "${size#*x}" \
        "env LANG=C.UTF-8 TERM=screen '$ROOT/tools/lesson.sh' $*; echo LESSON-EXIT=\$?; sleep 30" 3>&-
    # teardown stops the private tmux server with the other started PIDs
    STARTED_PIDS+=("$(tmux -S "$TMUX_SOCKET" display-message -p '#{pid}')")
}

keys() { tmux -S "$TMUX_SOCKET" send-keys -t lesson "$@"; }

# output_has LINE: the client output panel of the pane (the rows after
# " client output ") has a row that is LINE.
output_has() {
    sed -n '/^ client output/,$p' "$BATS_TEST_TMPDIR/pane" | sed 1d | grep -qxF -- "$1"
}

# stream_has TEXT [SEP]: the stream panel of the pane (the rows between the
# "$ command" row and " client output "), its rows joined with SEP (default
# none: rows cut a flowing text anywhere), holds TEXT.
stream_has() {
    python3 - "$BATS_TEST_TMPDIR/pane" "$1" "${2:-}" <<'PY'
import sys
rows = open(sys.argv[1], encoding='utf-8').read().split('\n')
start = next((i for i, r in enumerate(rows) if r.startswith('$ ')), None)
end = next((i for i, r in enumerate(rows) if r.startswith(' client output')), None)
if start is None or end is None:
    sys.exit(1)
sys.exit(sys.argv[2] not in sys.argv[3].join(rows[start + 1:end]))
PY
}

# prompt_has TEXT: the last row (the prompt) of the pane holds TEXT.
prompt_has() { tail -n 1 "$BATS_TEST_TMPDIR/pane" | grep -qF -- "$1"; }

@test "on an 80x24 terminal the lesson shows each step's point and ends on its closing words" {
    start_lesson 80x24 --stage 1
    pane_wait 'space/enter: type the first command'
    pane_wait 'The client sends a command and calls recv(1024) once'
    keys Space
    pane_wait '$ ls'
    # the client's output panel ends on the source tree's last name (how
    # many names show depends on what the checkout holds)
    pane_until output_has 'viewer'
    keys Space
    pane_wait '$ seq 1 2000'
    # the narration names the cut and the pending bytes: both are on screen
    pane_wait 'other 7869 wait'
    pane_wait 'sends 1  recvs 1  pending 7869'
    pane_until stream_has '283\n┃284\n'
    keys Space
    pane_wait '$ echo MARK'
    pane_wait 'STALE: recv #3 returned bytes of reply #2'
    pane_until stream_has '!284\n'
    # the last step offers the end, not a next stage
    pane_until prompt_has 'space/enter: the end'
    run prompt_has 'next'
    assert_failure
    # hex keeps the STALE mark in view
    keys x
    pane_until stream_has '!32 38 34 0a' ' '
    # the key help draws the mark the screen draws
    keys '?'
    pane_wait '┃ mark: where a recv() returned'
    keys x                                 # closes the help
    keys Space
    pane_wait 'That is the whole story'
    pane_wait 'space/enter or q: leave the lesson'
    keys Space
    pane_wait 'LESSON-EXIT=0'
}

# slicer_step_agrees: the pane shows the slicer's seq step, and the numbers
# of its narration (joined over its rows) are its status line's.
slicer_step_agrees() {
    python3 - "$BATS_TEST_TMPDIR/pane" <<'PY'
import re, sys
screen = open(sys.argv[1], encoding='utf-8').read().split('\n')
text = ' '.join(l.strip() for l in screen[1:6])
said = re.search(r'(\d+) pieces, and the client needed (\d+) recvs', text)
status = [l for l in screen if re.search(r'sends \d+  recvs \d+', l)]
if not said or not status:
    sys.exit(1)
shown = re.search(r'sends (\d+)  recvs (\d+)', status[-1])
print(said.groups(), shown.groups())
sys.exit(said.groups() != shown.groups())
PY
}

@test "on screen the slicer step's narration and status line say the same numbers" {
    start_lesson 80x24 --stage 3
    pane_wait 'space/enter: type the first command'
    keys Space; pane_wait 'The reply now starts with a 4-byte length field'
    keys Space; pane_wait 'until the length is reached'
    keys Space; pane_wait 'nothing is STALE'
    keys Space; pane_wait 'Stage 3 through the slicer'
    keys Space; pane_wait 'The slicer cuts the reply'
    keys Space
    pane_until slicer_step_agrees
    keys q
    pane_wait 'LESSON-EXIT=0'
}

# About 2 s: one stage 6 transcript.
@test "NIANBAO_LESSON_IDLE sets stage 6's --idle, shown in the command the student would type; a bad one is refused in one line" {
    lesson --stage 6
    assert_success
    assert_line --regexp "^\\$ stage6_concurrent/iterative --idle 0\\.5 &  stage5_file_transfer/client &  stage5_file_transfer/client exec '.*'$"
    NIANBAO_LESSON_IDLE=2x lesson --stage 6
    assert_failure 1
    assert_output "nianbao-view: NIANBAO_LESSON_IDLE: '2x' is not a duration: write seconds (2, 0.25) or milliseconds (250ms)"
}
