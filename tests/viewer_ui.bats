#!/usr/bin/env bats
# The viewer's screen, driven under tmux at 80x24: a stage 1 session shows
# recv marks, send colours and the STALE flag; a stage 4 session shows the
# decoded header and no STALE flag; keys, resize and the no-colour fallback.
# Sessions are recorded first (nianbao-view --record), then replayed.

# start_server sets NAME_port:
# shellcheck disable=SC2154
setup() { load 'test_helper/common-setup'; _common_setup; }
teardown() { _common_teardown; }

# The viewer, whichever test runs it.
nbview() { "$ROOT/viewer/nianbao-view" "$@"; }

# record STAGE_DIR COMMANDS: a capture of one client session with the
# stage's server, both under the tap, in $BATS_TEST_TMPDIR/run.nbcap.
record() {
    local dir=$1 commands=$2
    CAPTURE="$BATS_TEST_TMPDIR/run.nbcap"
    export NIANBAO_TAP_CAP=65536
    start_server srv "$ROOT/viewer/nianbao-view" --record "$CAPTURE" -- "$ROOT/$dir/server" --port 0
    printf '%s' "$commands" | timeout 20 "$ROOT/viewer/nianbao-view" --record "$CAPTURE" -- \
        "$ROOT/$dir/client" -p "$srv_port" >"$BATS_TEST_TMPDIR/client.out"
}

# wait_dump TEXT: the server's tap writes its last send when send()
# returns, which can be just after the client has read it; poll the dump
# (deadline 10 s) until the capture says TEXT.
dump_says() { nbview --replay "$CAPTURE" --dump | grep -qF -- "$1"; }
wait_dump() {
    wait_until dump_says "$1" || {
        echo "the capture never said: $1"; nbview --replay "$CAPTURE" --dump
        return 1
    }
}

# view ARGS...: the viewer in a fresh tmux session named "ui" (80x24, or
# $VIEW_SIZE as COLSxROWS), on a private tmux server that teardown stops
# with the other started PIDs.
# A wait is marked from VIEW_GAP_MS (default here 2000: a recorded session's
# own pace, slow under sanitizers, is not what these tests look at; empty:
# the viewer's default, 10 ms).
view() {
    local size=${VIEW_SIZE:-80x24} gap=${VIEW_GAP_MS-2000}
    TMUX_SOCKET="$BATS_TEST_TMPDIR/tmux.sock"
    tmux -S "$TMUX_SOCKET" -f /dev/null new-session -d -s ui -x "${size%x*}" -y "${size#*x}" \
        "env LANG=C.UTF-8 TERM=screen ${gap:+NIANBAO_VIEW_GAP_MS=$gap} $ROOT/viewer/nianbao-view $*; echo VIEW-EXIT=\$?; sleep 30" 3>&-
    STARTED_PIDS+=("$(tmux -S "$TMUX_SOCKET" display-message -p '#{pid}')")
}

# capture: one capture of the pane, with its colours in
# $BATS_TEST_TMPDIR/colours and as plain text in .../pane: both are the
# same screen.
capture() {
    tmux -S "$TMUX_SOCKET" capture-pane -p -e -t ui >"$BATS_TEST_TMPDIR/colours" 2>/dev/null || true
    sed 's/\x1b\[[0-9;]*m//g' "$BATS_TEST_TMPDIR/colours" >"$BATS_TEST_TMPDIR/pane"
}

# pane_wait TEXT: polls the pane (deadline 10 s) until it shows TEXT.
pane_wait() {
    wait_until captured grep -qF -- "$1" "$BATS_TEST_TMPDIR/pane" || {
        echo "pane never showed: $1"; cat "$BATS_TEST_TMPDIR/pane"
        return 1
    }
}

# pane_until CMD...: polls the pane (deadline 10 s) until CMD, run on a fresh
# capture, succeeds: the whole expected screen, never half of a redraw.
captured() { capture; "$@"; }
pane_until() {
    wait_until captured "$@" || {
        echo "the pane never satisfied: $*"; cat "$BATS_TEST_TMPDIR/pane"
        return 1
    }
}

# shows TEXT / lacks TEXT: the last capture has (or has not) TEXT.
shows() { grep -qF -- "$1" "$BATS_TEST_TMPDIR/pane"; }
lacks() { ! grep -qF -- "$1" "$BATS_TEST_TMPDIR/pane"; }

# hex_without_note: the hex bytes of the JSON header are shown, and the
# note is gone from the status line, in the same screen.
hex_without_note() { shows '7b 22' && lacks 'no STALE recv on this connection'; }

keys() { tmux -S "$TMUX_SOCKET" send-keys -t ui "$@"; }

@test "a stage 1 session shows recv marks, one colour per send and the STALE flag" {
    # The third command prints nothing: the server sends no third reply,
    # so what the capture holds does not depend on whether the server's
    # send came before the client closed (pending stays 6845).
    record stage1_naive $'echo first\nseq 1 2000\ntrue\n'
    wait_dump 'STALE: recv #3 returned bytes of reply #2'
    view --replay "$CAPTURE"
    pane_wait ' sends 2  recvs 3  pending 6845 '
    pane_wait 'STALE: recv #3 returned bytes of reply #2'
    keys g                         # to the oldest bytes
    pane_wait '┃first\n'
    # send #1 (echo first) in green, send #2 (seq) in yellow, each recv
    # boundary a mark in black on white.
    grep -qF $'\e[32m\e[49mfirst' "$BATS_TEST_TMPDIR/colours"
    grep -qF $'\e[33m\e[49m1' "$BATS_TEST_TMPDIR/colours"
    [ "$(grep -o '┃' "$BATS_TEST_TMPDIR/pane" | wc -l)" -eq 2 ]
    keys s                         # to the STALE recv: "!" on red
    pane_wait '!284\n'
    grep -qF $'\e[41m!' "$BATS_TEST_TMPDIR/colours"
    keys q
    pane_wait 'VIEW-EXIT=0'
}

@test "a stage 4 session shows the decoded header length, JSON header and body, and no STALE flag" {
    record stage4_json_header $'echo MARK\n'
    wait_dump 'down (server -> client): 3 sends'
    view --replay "$CAPTURE"
    pane_wait '┃[hdr 107]┃{"file_name":"a.txt","total_size":5,'
    pane_wait '┃MARK\n'
    pane_wait 'header length 107 | total_size=5 stdout_size=5 exit_code=0'
    pane_wait ' sends 3  recvs 3  pending 0 '
    refute grep -qF 'STALE' "$BATS_TEST_TMPDIR/pane"
    # header length in black on magenta, the JSON header underlined
    grep -qF $'\e[45m[hdr 107]' "$BATS_TEST_TMPDIR/colours"
    grep -qF $'\e[4m' "$BATS_TEST_TMPDIR/colours"
    keys x                         # hex: the header length's 4 bytes
    pane_wait '┃6b 00 00 00┃7b 22 66 69'
    keys x d                       # back to text, then the request
    pane_wait 'requests (up)'
    pane_wait 'echo MARK'
}

@test "without colours the viewer marks sends with bold and recvs with reverse video" {
    record stage1_naive $'echo one\necho two\n'
    wait_dump 'down (server -> client): 2 sends'
    view --no-color --replay "$CAPTURE"
    pane_wait '┃one\n'
    pane_wait '┃two\n'
    refute grep -qE $'\e\\[3[1-7]m' "$BATS_TEST_TMPDIR/colours"
    # SGR 7 (reverse) before each mark, SGR 1 (bold) on the second send
    grep -qP '\x1b\[(0;)?7m(\x1b\[\d+m)*┃' "$BATS_TEST_TMPDIR/colours"
    grep -qP '\x1b\[(0;)?1m(\x1b\[\d+m)*two' "$BATS_TEST_TMPDIR/colours"
}

@test "the viewer redraws for a new terminal size and shows its key help" {
    record stage1_naive $'echo hello\n'
    wait_dump 'down (server -> client): 1 sends'
    view --replay "$CAPTURE"
    pane_wait '┃hello\n'
    tmux -S "$TMUX_SOCKET" resize-window -t ui -x 100 -y 30
    row_30() { tmux -S "$TMUX_SOCKET" capture-pane -p -t ui | sed -n 30p | grep -c 'sends 1  recvs 1'; }
    wait_until prints 1 row_30
    keys '?'
    pane_wait 'jump to the newest STALE recv'
    keys Space q
    pane_wait 'VIEW-EXIT=0'
}

@test "--help, a bad option and a bad --proto get usage, status 2 and a one-line error" {
    run nbview --help
    [ "$status" -eq 0 ]
    assert_line --partial 'usage: nianbao-view [options]'
    # the live view's PROG cannot read the terminal: --help says what to do
    assert_line "      (PROG's stdin is /dev/null and its output goes to a log: the screen"
    assert_line "      in one terminal and --replay FILE, which follows it, in another.)"
    run nbview --version
    assert_success
    assert_output 'nianbao-view (nianbao 1.0): the byte-stream viewer'
    run nbview --frobnicate
    [ "$status" -eq 2 ]
    assert_line "nianbao-view: unknown option '--frobnicate'"
    run nbview --replay x.nbcap --proto xml
    [ "$status" -eq 2 ]
    assert_output "nianbao-view: --proto: 'xml' is not raw, len, json, ft or stage1..stage6"
    run nbview
    [ "$status" -eq 2 ]
    assert_line --partial 'choose one of --lesson, --replay FILE, or -- PROG'
}

@test "--replay of a missing capture says so in one line" {
    run nbview --replay "$BATS_TEST_TMPDIR/none.nbcap"
    [ "$status" -eq 1 ]
    assert_output --partial "none.nbcap: No such file or directory"
}

@test "the live view shows a program run under the tap as it talks" {
    start_server srv "$ROOT/stage1_naive/server" --port 0
    printf 'echo live\n' >"$BATS_TEST_TMPDIR/commands"
    # wide enough for every message of the status line
    VIEW_SIZE=120x24 view -- sh -c "'$ROOT/stage1_naive/client -p $srv_port <$BATS_TEST_TMPDIR/commands'"
    pane_wait '┃live\n'
    # two messages, each its own segment: never run together
    pane_wait ' | the program exited (status 0) | STALE needs both ends tapped'
    keys q
    pane_wait 'VIEW-EXIT=0'
}

@test "UTF-8 bytes are shown as text in a UTF-8 locale" {
    record stage1_naive $'echo 粘包\n'
    wait_dump 'down (server -> client): 1 sends'
    view --replay "$CAPTURE"
    pane_wait '┃粘包\n'
    keys x
    pane_wait '┃e7 b2 98 e5 8c 85 0a'
}

@test "without colours STALE bytes are standout + underline, unlike a JSON header in an even send" {
    view --no-color --replay "$BATS_TEST_DIRNAME/golden/stage1_garble.nbcap"
    pane_wait '!hi\n'
    # TERM=screen draws standout as SGR 3; before, STALE bytes were bold +
    # underline (SGR 1;4), which is also a JSON header in an even send
    grep -qP '!\x1b\[0;3;4m(\x1b\[\d+m)*284' "$BATS_TEST_TMPDIR/colours"
    refute grep -qP '\x1b\[0;1;4m' "$BATS_TEST_TMPDIR/colours"
    keys '?'
    pane_wait "reverse (no colour: standout+underline): a STALE recv's bytes"
}

@test "the note that there is no STALE recv goes with the next key" {
    view --replay "$BATS_TEST_DIRNAME/golden/stage4_json.nbcap"
    pane_wait '?: help'
    keys s
    pane_wait 'no STALE recv on this connection'
    keys x
    pane_until hex_without_note
}

@test "SIGTERM to the lesson on screen gives the terminal back with echo and line editing" {
    TMUX_SOCKET="$BATS_TEST_TMPDIR/tmux.sock"
    local dir=$BATS_TEST_TMPDIR
    tmux -S "$TMUX_SOCKET" -f /dev/null new-session -d -s ui -x 80 -y 24 \
        "env LANG=C.UTF-8 TERM=screen sh -c 'echo \$\$ >$dir/pid; exec $ROOT/viewer/nianbao-view --lesson --stage 1'; stty -a >$dir/stty; echo VIEW-EXIT; sleep 30" 3>&-
    STARTED_PIDS+=("$(tmux -S "$TMUX_SOCKET" display-message -p '#{pid}')")
    pane_wait 'space/enter: type the first command'
    kill -TERM "$(cat "$dir/pid")"
    pane_wait 'VIEW-EXIT'
    grep -qw -- 'icanon' "$dir/stty"
    grep -qw -- 'echo' "$dir/stty"
    refute grep -qw -- '-icanon' "$dir/stty"
}

@test "a connection freed to bound memory is listed with its totals only" {
    python3 - "$BATS_TEST_TMPDIR/many.nbcap" <<'PY'
import struct, sys
out = open(sys.argv[1], 'wb')
def addr(port): return struct.pack('<HH16s', 2, port, bytes([127, 0, 0, 1]) + bytes(12))
def ev(kind, call, role, result, pid, local, peer, data=b''):
    return struct.pack('<IBBBBQqIiiI', 0x3156424e, kind, call, 1, role, 1, result, pid, 3, 0,
                       len(data)) + local + peer + data
for i in range(70):
    cl, sv = addr(10000 + i), addr(8080)
    out.write(ev(1, 11, 1, 0, 1, cl, sv, b'client'))
    out.write(ev(3, 1, 1, 2, 1, cl, sv, b'ls'))
    out.write(ev(4, 6, 2, 2, 2, sv, cl, b'ls'))
    out.write(ev(5, 14, 1, 0, 1, cl, sv))
    out.write(ev(5, 14, 2, 0, 2, sv, cl))
PY
    view --replay "$BATS_TEST_TMPDIR/many.nbcap"
    pane_wait 'conn 1/70'
    pane_wait "(totals only: this old connection's bytes were freed)"
    keys d
    pane_wait 'requests (up)'
    pane_wait 'sends 1  recvs 1'
    keys n n n n n n
    pane_wait 'conn 7/70'
    pane_wait '┃ls'
    refute grep -qF "(totals only" "$BATS_TEST_TMPDIR/pane"
}

# stale_mark_in_hex: the STALE recv's mark is on screen, in hex.
stale_mark_in_hex() { shows '!32 38 34 0a'; }

@test "x keeps the STALE recv in view, and the help draws the mark the screen draws" {
    view --replay "$BATS_TEST_DIRNAME/golden/stage1_garble.nbcap"
    pane_wait ' sends 2  recvs 3  pending 0 | STALE: recv #3 returned bytes of reply #2'
    keys s
    pane_wait '!284\n'
    keys x
    pane_until stale_mark_in_hex
    keys x
    pane_wait '!284\n'
    keys '?'
    pane_wait '┃ mark: where a recv() returned;  ! : a STALE recv'
    pane_wait '+40ms: the call came that long after the one before'
}

# nagle_capture: $BATS_TEST_TMPDIR/nagle.nbcap, a request sent as two pieces
# whose second reaches the server's second recv 40 ms after the first.
nagle_capture() {
    python3 - "$BATS_TEST_TMPDIR/nagle.nbcap" <<'PY'
import struct, sys
def ev(kind, role, result, local, peer, data=b'', t=1):
    addr = lambda p: struct.pack('<HH16s', 2, p, bytes([127, 0, 0, 1]) + bytes(12))
    return (struct.pack('<IBBBBQqIiiI', 0x3256424e, kind, 0, 1, role, t, result, role, 3, 0,
                        len(data)) + addr(local) + addr(peer) + struct.pack('<q', result) + data)
ms = 1000000
with open(sys.argv[1], 'wb') as out:
    out.write(ev(1, 1, 0, 40000, 8081, b'client', 1 * ms))
    out.write(ev(2, 2, 0, 8081, 40000, b'server', 1 * ms))
    out.write(ev(3, 1, 5, 40000, 8081, b'head:', 2 * ms))
    out.write(ev(3, 1, 5, 40000, 8081, b'body.', 2 * ms + 5000))
    out.write(ev(4, 2, 5, 8081, 40000, b'head:', 2 * ms + 9000))
    out.write(ev(4, 2, 5, 8081, 40000, b'body.', 42 * ms + 300000))
PY
}

@test "a wait of 40 ms between two recvs is marked where the second one starts" {
    nagle_capture
    VIEW_GAP_MS= view --replay "$BATS_TEST_TMPDIR/nagle.nbcap"
    pane_wait '?: help'
    keys d
    pane_wait '┃head: +40ms┃body.'
}

@test "NIANBAO_VIEW_GAP_MS=50 leaves a wait of 40 ms unmarked" {
    nagle_capture
    VIEW_GAP_MS=50 view --replay "$BATS_TEST_TMPDIR/nagle.nbcap"
    pane_wait '?: help'
    keys d
    pane_wait '┃head:┃body.'
}

# at_byte_marked: the --at byte (the "5" of 285) is drawn blinking (SGR 5).
at_byte_marked() {
    grep -qP '28(\x1b\[[0-9;]*m)*\x1b\[([0-9;]*;)?5(;[0-9;]*)?m(\x1b\[[0-9;]*m)*5' \
        "$BATS_TEST_TMPDIR/colours"
}

@test "--replay --at opens the screen at that byte, marked" {
    VIEW_SIZE=120x24 view --replay "$BATS_TEST_DIRNAME/golden/stage1_garble.nbcap" --at down:1030
    pane_wait 'byte 1030 marked (p: read on)'
    pane_wait '!284\n'
    pane_until at_byte_marked
    keys p
    pane_until lacks 'byte 1030 marked'
}

@test "several connections: n/Tab and N switch between them, the status line says which, stage 5 frames both ways" {
    CAPTURE="$BATS_TEST_TMPDIR/run.nbcap"
    mkdir "$BATS_TEST_TMPDIR/root"
    export NIANBAO_TAP_CAP=65536
    start_server srv "$ROOT/viewer/nianbao-view" --record "$CAPTURE" -- \
        "$ROOT/stage6_concurrent/poll" --port 0 --root "$BATS_TEST_TMPDIR/root"
    local word
    for word in one two three; do
        timeout 20 "$ROOT/viewer/nianbao-view" --record "$CAPTURE" -- \
            "$ROOT/stage5_file_transfer/client" -p "$srv_port" exec echo "$word" \
            >"$BATS_TEST_TMPDIR/client.out"
        assert_equal "$(cat "$BATS_TEST_TMPDIR/client.out")" "$word"
    done
    wait_dump 'connection 3: client stage5_file_transfer/client, server stage6_concurrent/poll'
    wait_dump 'three\n'
    local ports
    mapfile -t ports < <(nbview --replay "$CAPTURE" --dump -v | sed -nE 's/^  client (127\.0\.0\.1:[0-9]+) pid .*/\1/p')
    assert_equal "${#ports[@]}" 3
    VIEW_SIZE=120x30 view --replay "$CAPTURE"
    pane_wait "conn 1 of 3: ${ports[0]} -> 127.0.0.1:$srv_port"
    pane_wait 'one\n'
    pane_wait '[hdr 42]'
    keys Tab
    pane_wait "conn 2 of 3: ${ports[1]} -> 127.0.0.1:$srv_port"
    pane_wait 'two\n'
    keys n
    pane_wait "conn 3 of 3: ${ports[2]} -> 127.0.0.1:$srv_port"
    pane_wait 'three\n'
    keys d                          # its request: a frame too
    pane_wait 'requests (up)'
    pane_wait '[hdr 23]{"op":"exec","size":10}echo three'
    keys N                          # back one
    pane_wait "conn 2 of 3: ${ports[1]} -> 127.0.0.1:$srv_port"
    keys BTab
    pane_wait "conn 1 of 3: ${ports[0]} -> 127.0.0.1:$srv_port"
    keys '?'
    pane_wait 'N / Shift-Tab    previous connection'
    keys Space q
    pane_wait 'VIEW-EXIT=0'
}
