#!/usr/bin/env bats
# The guided lesson (`make demo`): when not on a terminal it prints its
# transcript, in English or Chinese; on a terminal it runs one step per key.
# Every number the narration says is a number of the run: the tests check it
# against the status line and the "wire:" lines of the same step, and check
# that the paced slicer parts give the same numbers run after run.

# backquotes in the narration are text, not commands:
# shellcheck disable=SC2154,SC2016
setup() { load 'test_helper/common-setup'; _common_setup; }
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

# check_numbers FILE: every step of the transcript FILE says in its
# narration only numbers of its status and wire lines (or the commands'
# own: recv(1024), seq 1 2000, 4-byte, v1.1), and the ones that name sends,
# recvs, pending bytes, lengths and the STALE flag equal the status line's
# and the wire lines'. Prints one line per step: its status line.
check_numbers() {
    python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1], encoding='utf-8').read()
# the slicer's piece sizes, as its section's set-up line says them
pieces = re.findall(r'pieces of (\d+) to (\d+) bytes, seed', text)
steps = re.split(r'\n-- step \d+ of \d+ --\n', text)[1:]
bad = 0
for n, block in enumerate(steps, 1):
    lines = block.split('\n')
    narration = lines[0]
    wire = [l for l in lines if l.startswith('wire: ')]
    status = [l for l in lines if l.startswith('status: ')]
    if len(status) != 1:
        print('step %d: %d status lines' % (n, len(status))); bad += 1; continue
    status = status[0]
    print(status)
    if '{' in narration:
        print('step %d: a fact was left out: %s' % (n, narration)); bad += 1
    st = {k: int(v) for k, v in re.findall(r'(sends|recvs|pending) (\d+)', status)}
    allowed = set(re.findall(r'\d+', status + ' '.join(wire)))
    # the commands' and the lesson's own words: not numbers of the run
    said = re.sub(r'recv\(1024\)|seq 1 2000|4-byte|v1\.1|version 1\.1|stage 3 and 4|[Cc]lient [12]',
                  '', narration)
    for lo, hi in pieces:
        said = said.replace('pieces of %s to %s bytes' % (lo, hi), '')
    if not re.findall(r'\d+', said):
        print('step %d: the narration names no number of the run: %s' % (n, narration)); bad += 1
    for num in re.findall(r'\d+', said):
        if num not in allowed:
            print('step %d: %s is in the narration but not on the status or wire lines: %s'
                  % (n, num, narration)); bad += 1
    want = {
        'recvs': [r'(\d+) recvs', r'recv in a loop, (\d+) times', r'\((\d+) recv with data',
                  r"recvs of client 2's request: (\d+)", r'its recvs of it: (\d+)',
                  r"the server's recvs of it(?: then)?: (\d+)"],
        'sends': [r'(\d+) sends(?! for the)', r'(\d+) pieces', r'\((\d+) sends for'],
        'pending': [r'\((\d+) bytes pending', r'the other (\d+) wait'],
    }
    if narration.startswith('UDP') or narration.startswith('TCP'):
        want = {'recvs': [r'\((\d+) recv with data', r"server's (\d+) recvfrom"],
                'sends': [r'(\d+) sends,', r'(\d+) datagrams']}
    for key, patterns in want.items():
        for pat in patterns:
            for num in re.findall(pat, narration):
                if int(num) != st.get(key):
                    print('step %d: the narration says %s %s, the status line %s'
                          % (n, num, key, st.get(key))); bad += 1
    # stage 6: the wait the narration names is the one on the status line
    waited = re.findall(r'client 2 waited (\d+) ms', status)
    for num in re.findall(r'waited (\d+) ms', narration):
        if [num] != waited:
            print('step %d: the narration says waited %s ms, the status line %s' % (n, num, waited))
            bad += 1
    m = re.search(r'recv #(\d+) returns .* reply #(\d+)\)', narration)
    if m and 'STALE: recv #%s returned bytes of reply #%s' % m.groups() not in status:
        print('step %d: the STALE flag of the narration is not on the status line' % n); bad += 1
    for pat, line in ((r'length field \((\d+)\)', 'wire: length field: %s'),
                      (r'total_size (\d+)', 'total_size=%s'),
                      (r'header length \((\d+)\)', 'wire: header length: %s')):
        for num in re.findall(pat, narration):
            if not any(line % num in w for w in wire):
                print('step %d: %s is not on the wire lines' % (n, line % num)); bad += 1
sys.exit(1 if bad else 0)
PY
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

@test "every number the narration says is the status line's, and 20 runs say the same" {
    # Stages 1, 3, 4 and 5 (the slicer parts paced), 20 runs each: the
    # counts of every step must match the status line in each run and be
    # equal across runs. The runs go two at a time.
    local stage i
    for stage in 1 3 4 5; do
        for i in $(seq 1 20); do
            timeout 60 "$ROOT/tools/lesson.sh" --stage "$stage" </dev/null \
                >"$BATS_TEST_TMPDIR/s$stage.$i" 2>&1 &
            if [ $((i % 2)) -eq 0 ]; then wait; fi
        done
        wait
        for i in $(seq 1 20); do
            run check_numbers "$BATS_TEST_TMPDIR/s$stage.$i"
            assert_success
            printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/status$stage.$i"
        done
        # the spread: every run's status lines, step by step, the same
        run sort -u < <(for i in $(seq 1 20); do sha "$BATS_TEST_TMPDIR/status$stage.$i"; done)
        if [ "${#lines[@]}" -ne 1 ]; then
            for i in $(seq 1 20); do echo "run $i:"; cat "$BATS_TEST_TMPDIR/status$stage.$i"; done
            return 1
        fi
        echo "stage $stage, 20 runs, all alike:"; cat "$BATS_TEST_TMPDIR/status$stage.1"
    done
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

@test "stage 6 of the lesson: behind a silent client, iterative makes the next one wait for the deadline, poll does not; 20 runs" {
    # 20 runs, two at a time; each run's numbers are its status line's,
    # and each says the same thing: under iterative 0 recvs of client 2's
    # request while client 1 was connected, all 37 bytes pending, client 1
    # cut before client 2 was read; under poll client 2 read and answered
    # with client 1 still connected. The waits are measured: they vary.
    local i
    for i in $(seq 1 20); do
        timeout 60 "$ROOT/tools/lesson.sh" --stage 6 </dev/null >"$BATS_TEST_TMPDIR/s6.$i" 2>&1 &
        if [ $((i % 2)) -eq 0 ]; then wait; fi
    done
    wait
    local waits=()
    for i in $(seq 1 20); do
        run check_numbers "$BATS_TEST_TMPDIR/s6.$i"
        assert_success
        sed -E 's/[0-9]+ ms/N ms/g' <<<"$output" >"$BATS_TEST_TMPDIR/status6.$i"
        run cat "$BATS_TEST_TMPDIR/status6.$i"
        assert_line --index 0 'status: sends 1  recvs 0  pending 37 | client 2 waited N ms'
        assert_line --index 1 'status: sends 1  recvs 1  pending 0 | client 2 waited N ms'
        run grep -c '^  hello$' "$BATS_TEST_TMPDIR/s6.$i"
        assert_output 2
        grep -q "^Client 1 connected and said nothing; .* it made 0 recvs of client 2 (37 bytes pending)\. Its --idle deadline cut client 1 [0-9]* ms after client 2 asked" "$BATS_TEST_TMPDIR/s6.$i"
        grep -q '^The same against the poll server, which watches every connection at once: with client 1 connected and silent, it read client 2.s request (37 bytes, 0 bytes pending; its recvs of it: 1) and answered: client 2 waited [0-9]* ms, not for client 1.$' "$BATS_TEST_TMPDIR/s6.$i"
        # the iterative wait covers the cut: client 2 waited at least until
        # client 1 was cut, and the poll wait is shorter than that
        local held waited_it waited_poll
        held=$(sed -nE 's/^wire: the server cut client 1 ([0-9]+) ms after client 2 asked.*/\1/p' "$BATS_TEST_TMPDIR/s6.$i")
        waited_it=$(sed -nE '1,/^-- step 2/s/^status: .*client 2 waited ([0-9]+) ms$/\1/p' "$BATS_TEST_TMPDIR/s6.$i")
        waited_poll=$(sed -nE '/^-- step 2/,$s/^status: .*client 2 waited ([0-9]+) ms$/\1/p' "$BATS_TEST_TMPDIR/s6.$i")
        [ "$waited_it" -ge "$held" ]
        [ "$waited_poll" -lt "$held" ]
        waits+=("iterative $waited_it ms (client 1 cut after $held ms), poll $waited_poll ms")
    done
    run sort -u < <(for i in $(seq 1 20); do sha "$BATS_TEST_TMPDIR/status6.$i"; done)
    assert_equal "${#lines[@]}" 1
    printf 'run %s\n' "${waits[@]}"
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
    pane_wait 'stage4_json_header'         # the client's output panel
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
