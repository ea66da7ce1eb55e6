#!/usr/bin/env bats
# The viewer's screen as a picture: --svg (a still screen), --svg-animate
# (a screen after each event) and `make screenshots`, which draws the
# README's pictures from the committed captures (tests/golden/) and the
# lesson, byte for byte the same every run. The pictures are plain SVG: no
# script, nothing fetched, every captured byte escaped.

setup() { load 'test_helper/common-setup'; _common_setup; }
teardown() { _common_teardown; }

GOLDEN="$BATS_TEST_DIRNAME/golden"

# picture ARGS...: the viewer, as `make screenshots` runs it (English, a
# UTF-8 locale, the default wait markers), with its stderr in $output.
picture() {
    run env -u NO_COLOR -u LANGUAGE -u NIANBAO_VIEW_GAP_MS LC_ALL=C.UTF-8 \
        "$ROOT/viewer/nianbao-view" --lang en "$@"
}

# cells SVG: one line per text run, "CLASSES<TAB>TEXT", and per background
# run "rect CLASS", from the parsed picture (so the picture is well-formed
# XML, or this fails).
cells() {
    python3 - "$1" <<'PY'
import sys, xml.etree.ElementTree as E
ns = '{http://www.w3.org/2000/svg}'
for el in E.parse(sys.argv[1]).iter():
    if el.tag == ns + 'text':
        print(el.get('class') + '\t' + (el.text or ''))
    elif el.tag == ns + 'rect' and el.get('class'):
        print('rect ' + el.get('class'))
PY
}

# plain SVG: no script, no event handler, nothing fetched.
plain() {
    run grep -ciE '<script|href|url\(|[[:space:]]on[a-z]+=|<foreignObject|<image' "$1"
    assert_output 0
}

@test "--svg of a stage 1 capture draws the screen: send colours, recv marks and the STALE flag" {
    picture --replay "$GOLDEN/stage1_garble.nbcap" --keys w --svg "$BATS_TEST_TMPDIR/s1.svg"
    assert_success
    assert_output ''
    plain "$BATS_TEST_TMPDIR/s1.svg"
    cells "$BATS_TEST_TMPDIR/s1.svg" >"$BATS_TEST_TMPDIR/cells"
    run cat "$BATS_TEST_TMPDIR/cells"
    # send #1 green (2), send #2 yellow (3); the STALE recvs' bytes in
    # reverse: their send's colour behind black text
    assert_line $'f2\t1'
    assert_line $'f0\t284'
    assert_line $'f0\thi'
    assert_line 'rect b2'
    assert_line 'rect b3'
    # the recv marks: the first on white, the STALE ones "!" on red
    assert_line $'f0\t┃'
    assert_line $'f7\t!'
    assert_line 'rect b1'
    # the status line: the counts in reverse, the STALE flag white on red, bold
    assert_line $'f0\tsends 2  recvs 3  pending 0'
    assert_line $'f7 s\tSTALE: recv #3 returned bytes of reply #2'
    grep -q '\.f2{fill:#0dbc79}' "$BATS_TEST_TMPDIR/s1.svg"
    grep -q '\.f3{fill:#e5e510}' "$BATS_TEST_TMPDIR/s1.svg"
    # what it shows, for a screen reader and a code-hosting site
    grep -qx '<title id="t">nianbao-view: .*stage1_garble.nbcap</title>' "$BATS_TEST_TMPDIR/s1.svg"
    grep -q '<desc id="d">The nianbao-view screen (80x24) replaying .* Status line: sends 2  recvs 3  pending 0 | STALE: recv #3 returned bytes of reply #2' \
        "$BATS_TEST_TMPDIR/s1.svg"
}

@test "--size sets the screen's cells, --title the picture's title, --conn and --keys what it shows" {
    picture --replay "$GOLDEN/stage6_two.nbcap" --conn 2 --size 100x30 --title 'two <clients> & one server' \
        --svg "$BATS_TEST_TMPDIR/s6.svg"
    assert_success
    grep -q '<svg xmlns="http://www.w3.org/2000/svg" width="912" height="552"' "$BATS_TEST_TMPDIR/s6.svg"
    grep -qx '<title id="t">two &lt;clients&gt; &amp; one server</title>' "$BATS_TEST_TMPDIR/s6.svg"
    run cells "$BATS_TEST_TMPDIR/s6.svg"
    assert_line --regexp $'^f8\t\\| conn 2 of 2: 127\\.0\\.0\\.1:[0-9]+ -> 127\\.0\\.0\\.1:[0-9]+ +\\?: help$'
    picture --replay "$GOLDEN/stage6_two.nbcap" --keys n --size 100x30 --title 'two <clients> & one server' \
        --svg "$BATS_TEST_TMPDIR/n.svg"
    assert_success
    cmp "$BATS_TEST_TMPDIR/s6.svg" "$BATS_TEST_TMPDIR/n.svg"
    picture --replay "$GOLDEN/stage5_ft.nbcap" --keys d --svg "$BATS_TEST_TMPDIR/up.svg"
    assert_success
    run cells "$BATS_TEST_TMPDIR/up.svg"
    assert_line --regexp $'^f0\tconn 1/1  .*  requests \\(up\\)  \\[ft, guessed\\]'
}

@test "--svg with --at marks the byte, as the screen does" {
    picture --replay "$GOLDEN/stage1_garble.nbcap" --at down:1030 --size 120x24 --svg "$BATS_TEST_TMPDIR/at.svg"
    assert_success
    run cells "$BATS_TEST_TMPDIR/at.svg"
    assert_line --regexp $'^f8\t\\| byte 1030 marked \\(p: read on\\) +PAUSED  \\?: help$'
    # the byte itself, the 5 of "285": bold, in reverse
    assert_line $'f0 s\t5'
}

@test "--svg-animate shows the stage 1 garble event by event, with SMIL, ending on the STALE flag" {
    picture --replay "$GOLDEN/stage1_garble.nbcap" --keys w --svg-animate "$BATS_TEST_TMPDIR/a.svg"
    assert_success
    plain "$BATS_TEST_TMPDIR/a.svg"
    cells "$BATS_TEST_TMPDIR/a.svg" >"$BATS_TEST_TMPDIR/cells"
    run cat "$BATS_TEST_TMPDIR/cells"
    assert_line $'f8 d\t(no bytes in this direction yet)'
    assert_line $'f0\tsends 1  recvs 0  pending 0'
    assert_line $'f7 s\tSTALE: recv #2 returned bytes of reply #1'
    assert_line $'f7 s\tSTALE: recv #3 returned bytes of reply #2'
    # one clock that starts over; each screen a time window on it
    grep -q '<animate id="clock" attributeName="x" from="0" to="0" begin="0s;clock.end" dur="9200ms"/>' \
        "$BATS_TEST_TMPDIR/a.svg"
    run grep -o 'begin="clock.begin+[0-9]*ms"' "$BATS_TEST_TMPDIR/a.svg"
    [ "$(sort -u <<<"$output" | wc -l)" -eq 7 ]
    # the last screen is shown last, and held
    grep -q '<set attributeName="visibility" to="visible" begin="clock.begin+4200ms" dur="5000ms"/>.*STALE: recv #3' \
        "$BATS_TEST_TMPDIR/a.svg"
    [ "$(stat -c %s "$BATS_TEST_TMPDIR/a.svg")" -lt 300000 ]
    grep -q '<desc id="d">An animation of the nianbao-view screen (80x24) replaying .* (7 screens)' \
        "$BATS_TEST_TMPDIR/a.svg"
}

@test "captured bytes that are markup, controls, bidirectional overrides or not UTF-8 reach the SVG escaped" {
    python3 - "$BATS_TEST_TMPDIR/evil.nbcap" <<'PY'
import struct, sys
def ev(kind, role, result, local, peer, data=b''):
    addr = lambda p: struct.pack('<HH16s', 2, p, bytes([127, 0, 0, 1]) + bytes(12))
    return (struct.pack('<IBBBBQqIiiI', 0x3256424e, kind, 0, 1, role, 1, result, role, 3, 0,
                        len(data)) + addr(local) + addr(peer) + struct.pack('<q', result) + data)
evil = ('<script>alert(1)</script>&amp;"x"\x1b[31m\xff\xfe'.encode('latin-1')
        + '\u202eevil\u009b \u4e2d'.encode())
with open(sys.argv[1], 'wb') as out:
    out.write(ev(1, 1, 0, 40000, 8080, b'<client>&'))
    out.write(ev(3, 1, 2, 40000, 8080, b'ls'))
    out.write(ev(3, 2, len(evil), 8080, 40000, evil))
    out.write(ev(4, 1, len(evil), 40000, 8080, evil))
PY
    picture --replay "$BATS_TEST_TMPDIR/evil.nbcap" --svg "$BATS_TEST_TMPDIR/evil.svg" --title '<script>&'
    assert_success
    plain "$BATS_TEST_TMPDIR/evil.svg"
    run cells "$BATS_TEST_TMPDIR/evil.svg"
    assert_line --regexp $'^f2\t<script>alert\\(1\\)</script>&amp;"x"$'
    assert_line --partial '\x1b'
    assert_line --partial '\xff'
    assert_line --partial '\xe2'
    assert_line --regexp $'\t中$'
    grep -qF '&lt;script&gt;alert(1)&lt;/script&gt;&amp;amp;&quot;x&quot;' "$BATS_TEST_TMPDIR/evil.svg"
    grep -qx '<title id="t">&lt;script&gt;&amp;</title>' "$BATS_TEST_TMPDIR/evil.svg"
    # no control byte, C1 control or override, raw, anywhere in the file
    run python3 -c 'import sys; d = open(sys.argv[1], encoding="utf-8").read(); print(sum(1 for c in d if (ord(c) < 32 and c != "\n") or 0x7f <= ord(c) <= 0x9f or 0x202a <= ord(c) <= 0x202e))' \
        "$BATS_TEST_TMPDIR/evil.svg"
    assert_output 0
}

@test "--lesson --stage 1 --svg writes the screen of a step of the lesson; a step it does not have is refused" {
    run env -u NO_COLOR -u LANGUAGE NIANBAO_VIEW_GAP_MS=3600000 LC_ALL=C.UTF-8 \
        "$ROOT/viewer/nianbao-view" --lesson --lang en --stage 1 --step 2 --svg "$BATS_TEST_TMPDIR/l.svg"
    assert_success
    plain "$BATS_TEST_TMPDIR/l.svg"
    grep -qx '<title id="t">nianbao lesson: Stage 1: one recv per command (document v1.1), step 2 of 3</title>' \
        "$BATS_TEST_TMPDIR/l.svg"
    run cells "$BATS_TEST_TMPDIR/l.svg"
    assert_line $'f8 s\t$ seq 1 2000'
    assert_line $'f0\tsends 1  recvs 1  pending 7869'
    run env LC_ALL=C.UTF-8 "$ROOT/viewer/nianbao-view" --lesson --stage 1 --step 9 --svg "$BATS_TEST_TMPDIR/l9.svg"
    assert_failure 1
    assert_output 'nianbao-view: --step 9: stage 1 of the lesson has fewer steps'
    [ ! -e "$BATS_TEST_TMPDIR/l9.svg" ]
}

@test "--lesson --stage 1 --from-capture draws the recorded run's screens, the same bytes every time" {
    local cap="$GOLDEN/lesson_stage1.nbcap"
    run env -u NO_COLOR -u LANGUAGE NIANBAO_VIEW_GAP_MS=3600000 LC_ALL=C.UTF-8 \
        "$ROOT/viewer/nianbao-view" --lesson --lang en --stage 1 --step 2 --from-capture "$cap" \
        --svg "$BATS_TEST_TMPDIR/l2.svg"
    assert_success
    run cells "$BATS_TEST_TMPDIR/l2.svg"
    assert_line $'f8 s\t$ seq 1 2000'
    assert_line $'f0\tsends 1  recvs 1  pending 7869'
    local i
    for i in 1 2; do
        run env -u NO_COLOR -u LANGUAGE NIANBAO_VIEW_GAP_MS=3600000 LC_ALL=C.UTF-8 \
            "$ROOT/viewer/nianbao-view" --lesson --lang en --stage 1 --from-capture "$cap" \
            --svg "$BATS_TEST_TMPDIR/l3-$i.svg"
        assert_success
    done
    cmp "$BATS_TEST_TMPDIR/l3-1.svg" "$BATS_TEST_TMPDIR/l3-2.svg"
    run cells "$BATS_TEST_TMPDIR/l3-1.svg"
    assert_line $'f0\tsends 1  recvs 1  pending 6850'
    assert_line $'f7 s\tSTALE: recv #3 returned bytes of reply #2'
}

@test "bad picture options get one line and a pointer to --help, status 2" {
    local cap="$GOLDEN/stage1_garble.nbcap" out="$BATS_TEST_TMPDIR/x.svg"
    local -a cases=(
        "--svg $out"
        "--replay $cap --svg $out --svg-animate $out"
        "--replay $cap --svg $out --dump"
        "--replay $cap --svg-animate $out --at down:5"
        "--lesson --svg-animate $out"
        "--replay $cap --size 80x24"
        "--replay $cap --svg $out --size 80"
        "--replay $cap --svg $out --size 10x10"
        "--replay $cap --svg $out --size 80x24x"
        "--replay $cap --svg $out --keys q"
        "--replay $cap --svg $out --step 2"
        "--lesson --svg $out"
        "--replay $cap --from-capture $cap --svg $out"
        "--lesson --from-capture $cap --svg $out"
        "--lesson --stage 3 --from-capture $cap --svg $out"
    )
    local args
    for args in "${cases[@]}"; do
        # shellcheck disable=SC2086  # the words of one case
        run "$ROOT/viewer/nianbao-view" $args
        assert_failure 2
        [ "${#lines[@]}" -eq 2 ] || { echo "for $args: $output"; return 1; }
        assert_line --index 0 --regexp '^nianbao-view: .+'
        assert_line --index 1 "Try 'nianbao-view --help' for more information."
        [ ! -e "$out" ]
    done
    run "$ROOT/viewer/nianbao-view" --replay "$cap" --svg "$out" --keys q
    assert_output --partial "--keys: 'q' is not one of jkbfgGxwsnNd?"
}

@test "an SVG that cannot be written, or a capture or connection that is not there, gets one line and status 1" {
    picture --replay "$GOLDEN/stage1_garble.nbcap" --svg "$BATS_TEST_TMPDIR/no/such/dir/x.svg"
    assert_failure 1
    assert_output "nianbao-view: cannot write $BATS_TEST_TMPDIR/no/such/dir/x.svg: No such file or directory"
    picture --replay "$GOLDEN/stage1_garble.nbcap" --svg-animate /dev/full
    assert_failure 1
    assert_output 'nianbao-view: cannot write /dev/full: No space left on device'
    [ -c /dev/full ]
    picture --replay "$BATS_TEST_TMPDIR/none.nbcap" --svg "$BATS_TEST_TMPDIR/x.svg"
    assert_failure 1
    assert_output "nianbao-view: cannot open $BATS_TEST_TMPDIR/none.nbcap: No such file or directory"
    picture --replay "$GOLDEN/stage1_garble.nbcap" --svg-animate "$BATS_TEST_TMPDIR/x.svg" --conn 2
    assert_failure 1
    assert_output 'nianbao-view: --conn 2: the capture has 1 connection'
    [ ! -e "$BATS_TEST_TMPDIR/x.svg" ]
}

@test "--help lists the picture options" {
    run "$ROOT/viewer/nianbao-view" --help
    assert_success
    local option
    for option in --svg --svg-animate --size --keys --title --step; do
        assert_line --regexp "^ +$option "
    done
}

@test "make screenshots draws the README's pictures again, byte for byte" {
    run make -s -C "$ROOT" screenshots SCREENSHOT_DIR="$BATS_TEST_TMPDIR/img"
    assert_success
    run diff <(cd "$ROOT/docs/img" && ls) <(cd "$BATS_TEST_TMPDIR/img" && ls)
    assert_success
    local f
    for f in "$ROOT"/docs/img/*.svg; do
        cmp "$f" "$BATS_TEST_TMPDIR/img/${f##*/}"
        python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$f"
        plain "$f"
        [ "$(stat -c %s "$f")" -lt 300000 ]
        # every picture says what it shows
        grep -q '<title id="t">[^<]' "$f"
        grep -q '<desc id="d">[^<]' "$f"
    done
    # the lesson's picture is in Chinese
    grep -q '<text [^>]*>[^<]*STALE：recv #3' "$ROOT/docs/img/lesson-zh.svg"
    # and the README shows each with alt text
    for f in "$ROOT"/docs/img/*.svg; do
        grep -qE "^!\[[^]]{20,}\]\(docs/img/${f##*/}\)" "$ROOT/README.md"
    done
}
