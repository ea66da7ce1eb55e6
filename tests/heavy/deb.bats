#!/usr/bin/env bats
# The Debian package (make deb, tools/build-deb.sh), built, installed with
# apt-get on this machine, used from the installed paths (the lesson's
# transcript, a stage 3 server and client, the man pages), then purged:
# nothing of it may be left. It installs into the real /usr, so it runs only
# as root (CI's fresh machine), never beside an installed nianbao, and not in
# the sanitizer run (the package is built with Debian's flags, not ASan).

setup() {
    load '../test_helper/common-setup'; _common_setup
    [ -z "${NIANBAO_SANITIZER:-}" ] || skip "the package is built with Debian's flags, not under the sanitizers"
    [ "$(id -u)" -eq 0 ] || skip "installs a package into /usr: root only"
    local tool
    for tool in apt-get dpkg-buildpackage dh fakeroot lintian; do
        command -v "$tool" >/dev/null || skip "$tool is missing (make test-heavy installs debhelper, dpkg-dev, fakeroot, lintian)"
    done
    if dpkg-query -W -f='${Status}' nianbao 2>/dev/null | grep -q 'install ok installed'; then
        skip "nianbao is installed on this machine already: this test would remove it"
    fi
    cd "$BATS_TEST_TMPDIR"
}
teardown() {
    _common_teardown
    # purge even when the test failed half-way
    if [ -n "${PURGE_AT_END:-}" ] && dpkg-query -W nianbao >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq nianbao >/dev/null 2>&1 || true
    fi
}

@test "the .deb builds with no lintian error, installs with apt-get, works from /usr, and purges without a trace" {
    run "$ROOT/tools/build-deb.sh" "$BATS_TEST_TMPDIR/dist"
    assert_success
    assert_line --regexp "^build-deb.sh: .*/dist/nianbao_1\.0_[a-z0-9]+\.deb \([0-9]+ KiB\)$"
    refute_line --regexp '^E: '
    deb=$(ls "$BATS_TEST_TMPDIR"/dist/nianbao_1.0_*.deb)
    # The package depends on the libraries, and does not carry them.
    run dpkg-deb -f "$deb" Depends
    assert_success
    assert_output --regexp 'libcjson1'
    assert_output --regexp 'libncursesw6'
    assert_output --regexp 'libssl3'
    run sh -c "dpkg-deb -c '$deb' | grep -E '\.so(\.[0-9]+)*$'"
    assert_output --regexp 'usr/libexec/nianbao/viewer/libnianbao-tap\.so$'
    [ "${#lines[@]}" -eq 1 ]

    PURGE_AT_END=1
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb"
    assert_success
    dpkg -L nianbao >files.txt
    grep -qx /usr/bin/nianbao-stage3-server files.txt
    grep -qx /usr/share/nianbao/exercises/stage3/client.c files.txt

    # the lesson's transcript, from /usr/bin
    run env -u DISPLAY nianbao-lesson --seed 1 </dev/null
    assert_success
    assert_line 'wire: STALE: recv #3 returned bytes of reply #2'
    # a stage 3 pair, from /usr/bin
    start_server srv /usr/bin/nianbao-stage3-server --port 0
    run sh -c "printf 'seq 1 2000\necho MARK\n' | /usr/bin/nianbao-stage3-client -p $srv_port"
    assert_success
    [ "$(printf '%s\n' "$output" | sed -n 2000p)" = 2000 ]
    [ "$(printf '%s\n' "$output" | tail -n 1)" = MARK ]
    kill "$srv_pid"
    wait_for_exit "$srv_pid"
    # the pages, where man looks
    run man -w nianbao-stage3-client nianbao-slicer
    assert_success
    # (the stage programs' pages are links to their stage's page)
    assert_output "/usr/share/man/man1/nianbao-stage3.1.gz
/usr/share/man/man1/nianbao-slicer.1.gz"
    run nianbao-exercises class
    assert_success

    run env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq nianbao
    assert_success
    run dpkg-query -W -f='${Status}' nianbao
    refute_output --partial 'installed'
    local path left=""
    while IFS= read -r path; do
        [ -d "$path" ] && [ ! -L "$path" ] && continue
        if [ -e "$path" ] || [ -L "$path" ]; then left="$left $path"; fi
    done <files.txt
    [ -z "$left" ] || { echo "left after purge:$left"; return 1; }
    for path in /usr/libexec/nianbao /usr/share/nianbao /usr/share/doc/nianbao; do
        [ ! -e "$path" ] || { echo "left after purge: $path"; return 1; }
    done
}
