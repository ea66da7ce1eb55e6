#!/usr/bin/env bats
# The guided lesson (`make demo`): when not on a terminal it prints its
# transcript, in English or Chinese; on a terminal it runs one step per key.
# Numbers that depend on timing (how many recvs a reply took) are not
# asserted; the lines that carry the lesson are.

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

@test "make demo without a terminal prints the whole lesson and ends by itself" {
    run timeout 120 make -s -C "$ROOT" demo </dev/null
    [ "$status" -eq 0 ]
    assert_line '== Stage 1: one recv per command (document v1.1) =='
    assert_line '== Stage 3: a 4-byte length before each reply (document v3.0) =='
    assert_line '== Stage 3 through the slicer =='
    assert_line '== Stage 4: a JSON header before each reply (document v4.0) =='
    assert_line '== Stage 4 through the slicer =='
    assert_line 'wire: STALE: recv #3 returned bytes of reply #2'
    assert_line --partial 'That is the whole story'
}

@test "stage 1 of the lesson shows the seq reply cut at 1024 bytes and MARK lost to a STALE recv" {
    lesson --stage 1
    [ "$status" -eq 0 ]
    printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/t"
    assert_line '$ ls'
    assert_line '$ seq 1 2000'
    assert_line '$ echo MARK'
    assert_line --regexp '^wire: reply #2: 8893 bytes, sends: 1; the client.s recvs: 1, 1024 bytes; pending: 7869 bytes$'
    assert_line 'wire: STALE: recv #3 returned bytes of reply #2'
    # Step 3 printed old seq output, and no MARK.
    run step_output "$BATS_TEST_TMPDIR/t" 3
    assert_line '  284'
    refute_line '  MARK'
}

@test "stage 3 of the lesson prints all of seq and then MARK, directly and through the slicer" {
    lesson --stage 3
    [ "$status" -eq 0 ]
    refute_output --partial 'wire: STALE'
    [ "$(grep -c '^wire: length field: 8893$' <<<"$output")" -eq 2 ]
    [ "$(grep -c '^  2000$' <<<"$output")" -eq 2 ]
    [ "$(grep -c '^  MARK$' <<<"$output")" -eq 2 ]
    assert_line --partial 'the client connects through tools/slicer, pieces of 1 to 7 bytes, seed 1'
    assert_line --regexp '^wire: reply #2: 8897 bytes, sends: 2; .* 8897 bytes; pending: 0 bytes$'
}

@test "stage 4 of the lesson shows the JSON header decoded and no STALE flag" {
    lesson --stage 4
    [ "$status" -eq 0 ]
    refute_output --partial 'wire: STALE'
    assert_line 'wire: JSON header: total_size=8893 stdout_size=8893 exit_code=0'
    assert_line 'wire: JSON header: total_size=5 stdout_size=5 exit_code=0'
    [ "$(grep -c '^  MARK$' <<<"$output")" -eq 2 ]
}

@test "stage 2 of the lesson shows two datagrams over UDP and one merged recv over TCP" {
    [ -x "$ROOT/stage2_udp_vs_tcp/tcp_client" ] || skip "stage 2 is not built"
    lesson --stage 2
    [ "$status" -eq 0 ]
    assert_line --regexp '^  recvfrom #1: 5 bytes "world" from 127\.0\.0\.1:[0-9]+$'
    assert_line --regexp '^  recvfrom #2: 5 bytes "hello" from 127\.0\.0\.1:[0-9]+$'
    assert_line '  recv #1: 10 bytes "helloworld"'
    assert_line "wire: client to server: 10 bytes, sends: 2; the server's recvs: 1"
}

@test "--lang zh prints the narration in Chinese on this machine as it is" {
    lesson --stage 1 --lang zh
    [ "$status" -eq 0 ]
    assert_line '== 第 1 阶段：每条命令只 recv 一次（文档 1.1 版） =='
    assert_line '`echo MARK` 本该打印 MARK。可是 recv 返回的是上一个 seq 回复接下来的 1024 字节，查看器把它标为 STALE：这就是 1.0 版的粘包错乱。'
    assert_line '线上: STALE: recv #3 returned bytes of reply #2'
}

@test "the locale chooses Chinese even when zh_CN.UTF-8 was never generated" {
    run env -i PATH="$PATH" LANG=zh_CN.UTF-8 timeout 60 "$ROOT/tools/lesson.sh" --stage 1 </dev/null
    [ "$status" -eq 0 ]
    assert_line '== 第 1 阶段：每条命令只 recv 一次（文档 1.1 版） =='
}

@test "--lang en wins over a Chinese locale, and a plain C locale gets English" {
    run env -i PATH="$PATH" LANG=zh_CN.UTF-8 timeout 60 "$ROOT/tools/lesson.sh" --stage 1 --lang en </dev/null
    [ "$status" -eq 0 ]
    assert_line '== Stage 1: one recv per command (document v1.1) =='
    run env -i PATH="$PATH" LC_ALL=C timeout 60 "$ROOT/tools/lesson.sh" --stage 1 </dev/null
    [ "$status" -eq 0 ]
    assert_line '== Stage 1: one recv per command (document v1.1) =='
}

@test "an unknown --lang is refused with a one-line error and status 2" {
    run "$ROOT/viewer/nianbao-view" --lesson --lang fr
    [ "$status" -eq 2 ]
    assert_output "nianbao-view: --lang: 'fr' is not en or zh"
}

# pane_wait TEXT: polls the lesson's pane (deadline 10 s) until it shows TEXT
# (plain text; pane_colours below keeps the escape sequences).
pane_wait() {
    local deadline=$((SECONDS + 10))
    while :; do
        tmux -S "$TMUX_SOCKET" capture-pane -p -t lesson >"$BATS_TEST_TMPDIR/pane" 2>/dev/null || true
        grep -qF -- "$1" "$BATS_TEST_TMPDIR/pane" && return 0
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "pane never showed: $1"; cat "$BATS_TEST_TMPDIR/pane"
            return 1
        fi
        sleep 0.05
    done
}

@test "on an 80x24 terminal the lesson runs one step per key press and quits with q" {
    TMUX_SOCKET="$BATS_TEST_TMPDIR/tmux.sock"
    tmux -S "$TMUX_SOCKET" -f /dev/null new-session -d -s lesson -x 80 -y 24 \
        "env LANG=C.UTF-8 TERM=screen '$ROOT/tools/lesson.sh' --stage 1; echo LESSON-EXIT=\$?; sleep 30" 3>&-
    # teardown stops the private tmux server with the other started PIDs
    STARTED_PIDS+=("$(tmux -S "$TMUX_SOCKET" display-message -p '#{pid}')")
    pane_wait 'space/enter: type the first command'
    pane_wait 'The client sends a command and calls recv(1024) once'
    tmux -S "$TMUX_SOCKET" send-keys -t lesson Space
    pane_wait '$ ls'
    pane_wait 'stage4_json_header'         # the client's output panel
    tmux -S "$TMUX_SOCKET" send-keys -t lesson Space
    pane_wait '$ seq 1 2000'
    pane_wait 'pending 7869'
    tmux -S "$TMUX_SOCKET" send-keys -t lesson Space
    pane_wait '$ echo MARK'
    pane_wait 'STALE: recv #3 returned bytes of reply #2'
    # The stream panel opens at the STALE recv, marked "!" on red.
    tmux -S "$TMUX_SOCKET" capture-pane -p -e -t lesson >"$BATS_TEST_TMPDIR/colours"
    grep -qF $'\e[41m!' "$BATS_TEST_TMPDIR/colours"
    tmux -S "$TMUX_SOCKET" send-keys -t lesson q
    pane_wait 'LESSON-EXIT=0'
}
