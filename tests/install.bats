#!/usr/bin/env bats
# make install: the programs land under PREFIX/libexec/nianbao, the viewer and
# the lesson on PREFIX/bin, and the installed lesson runs from there.

setup() { load 'test_helper/common-setup'; _common_setup; }
teardown() { _common_teardown; }

@test "make install DESTDIR=... PREFIX=/usr installs a lesson that runs from its new place" {
    dest="$BATS_TEST_TMPDIR/dest"
    run make -s -C "$ROOT" install DESTDIR="$dest" PREFIX=/usr
    assert_success
    for prog in stage1_naive/server stage1_naive/client stage3_struct_len/client \
                stage4_json_header/server tools/slicer viewer/nianbao-view; do
        [ -x "$dest/usr/libexec/nianbao/$prog" ] || { echo "missing $prog"; return 1; }
    done
    [ -f "$dest/usr/libexec/nianbao/viewer/libnianbao-tap.so" ]
    [ ! -e "$dest/usr/libexec/nianbao/viewer/test_decode" ]
    run "$dest/usr/bin/nianbao-lesson" --text --stage 1 </dev/null
    assert_success
    assert_line 'wire: STALE: recv #3 returned bytes of reply #2'
    run "$dest/usr/bin/nianbao-view" --version
    assert_success
}
