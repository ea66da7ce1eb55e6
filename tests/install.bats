#!/usr/bin/env bats
# make install: the programs land under PREFIX/libexec/nianbao, a link named
# nianbao-* for each on PREFIX/bin, and they run from there; make uninstall
# takes exactly that away; nianbao-exercises copies the exercises out.
# (The Debian package: tests/heavy/deb.bats.)

setup() { load 'test_helper/common-setup'; _common_setup; cd "$BATS_TEST_TMPDIR"; }
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

@test "make uninstall removes exactly what make install put, and leaves no directory of nianbao's" {
    dest="$BATS_TEST_TMPDIR/dest"
    run make -s -C "$ROOT" install DESTDIR="$dest" PREFIX=/usr
    assert_success
    (cd "$dest" && find . ! -type d | sort) >installed.txt
    [ "$(wc -l <installed.txt)" -ge 80 ]
    grep -qx './usr/bin/nianbao-stage3-server' installed.txt
    grep -qx './usr/share/nianbao/exercises/stage3/client.py' installed.txt
    # a file of the user's beside them stays, and so does its directory
    touch "$dest/usr/bin/mine"
    run make -s -C "$ROOT" uninstall DESTDIR="$dest" PREFIX=/usr
    assert_success
    run find "$dest" ! -type d
    assert_output "$dest/usr/bin/mine"
    # what is left are the directories every PREFIX has, empty
    run sh -c "cd '$dest' && find . -type d | sort"
    assert_output ".
./usr
./usr/bin
./usr/libexec
./usr/share
./usr/share/man
./usr/share/man/man1
./usr/share/man/man7"
}

@test "nianbao-exercises copies the exercises out of an installed tree, and never overwrites" {
    dest="$BATS_TEST_TMPDIR/dest"
    run make -s -C "$ROOT" install DESTDIR="$dest" PREFIX=/usr
    assert_success
    run "$dest/usr/bin/nianbao-exercises" class
    assert_success
    assert_output "nianbao-exercises: copied 12 files into class: start with class/README.md"
    cmp class/stage3/client.c "$ROOT/exercises/stage3/client.c"
    cmp class/README.zh.md "$ROOT/exercises/README.zh.md"
    cmp class/stage6/server.py "$ROOT/exercises/stage6/server.py"
    [ ! -e class/broken ]
    echo "my work" >class/stage4/server.py
    run "$dest/usr/bin/nianbao-exercises" class
    assert_failure 1
    assert_output "nianbao-exercises: class/README.md exists: nothing copied (remove it, or choose another directory)"
    [ "$(cat class/stage4/server.py)" = "my work" ]
    run "$dest/usr/bin/nianbao-exercises"
    assert_failure 2
    assert_line --index 0 "nianbao-exercises: which directory? (nianbao-exercises DIR)"
}

@test "the stage programs run under their installed names" {
    dest="$BATS_TEST_TMPDIR/dest"
    run make -s -C "$ROOT" install DESTDIR="$dest" PREFIX=/usr
    assert_success
    start_server srv "$dest/usr/bin/nianbao-stage3-server" --port 0
    run sh -c "printf 'seq 1 2000\necho MARK\n' | '$dest/usr/bin/nianbao-stage3-client' -p $srv_port"
    assert_success
    [ "$(printf '%s\n' "$output" | tail -n 1)" = MARK ]
    [ "$(printf '%s\n' "$output" | sed -n 2000p)" = 2000 ]
}
