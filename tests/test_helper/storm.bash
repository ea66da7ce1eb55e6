# Helpers for tools/storm's tests: tests/storm.bats (small storms) and
# tests/heavy/storm.bats (10,000 connections), loaded after common-setup.bash.

STORM="$ROOT/tools/storm"

# fd_count PID: the number of open descriptors of PID (fails when
# /proc/PID/fd cannot be read: then nothing could be checked).
fd_count() {
    local fds
    fds=$(ls "/proc/$1/fd") || { echo "cannot read /proc/$1/fd" >&2; return 1; }
    wc -w <<<"$fds"
}

# fds_back_to PID COUNT: polls (deadline 10 s) until PID holds COUNT
# descriptors; shows them when it does not.
fds_back_to() {
    fd_count "$1" >/dev/null || return 1
    wait_until -i 0.1 prints "$2" fd_count "$1" || {
        echo "$1 holds $(fd_count "$1") descriptors, $2 before the storm:"
        ls -l "/proc/$1/fd"
        return 1
    }
}

# zombies_of PID: prints the pids of PID's children that are zombies.
# Fails when /proc/PID/stat cannot be read (nothing could be checked).
zombies_of() {
    local f stat fields
    [ -r "/proc/$1/stat" ] || { echo "cannot read /proc/$1/stat" >&2; return 1; }
    for f in /proc/[0-9]*/stat; do
        read -r stat 2>/dev/null <"$f" || continue    # no fork per process
        # after "pid (comm) ": state ppid ...; comm may hold spaces and ')'
        read -ra fields <<<"${stat##*) }"
        if [ "${fields[1]}" = "$1" ] && [ "${fields[0]}" = Z ]; then
            echo "${f//[^0-9]/}"
        fi
    done
}

# storm_server STAGE COUNT: starts STAGE's server, storms it with COUNT bad
# connections, and checks the good client, the descriptors and the children.
storm_server() {
    local stage=$1 count=$2 before zombies
    # --idle 0.3: a client that sends nothing for 0.3 s is closed, well
    # before storm's own 2 s; --timeout 0.5 drops the one that never reads
    start_server srv "$ROOT/$(stage_dir "$stage")/server" --port 0 --timeout 0.5 --idle 0.3
    before=$(fd_count "$srv_pid")
    run "$STORM" server --proto "stage$stage" -p "$srv_port" --count "$count" \
        --stalls 4 --stall-ms 2000
    assert_success
    assert_line --regexp "^storm: $count bad connections to 127\\.0\\.0\\.1:[0-9]+ \\(stage[134], seed 1, 4 at a time\\) ended in [0-9.]+ s\$"
    # the stalls end by the server's idle limit, not by storm's patience
    assert_line --regexp '^storm: stalled connections 3: the server closed 3 of them first \(the last after [0-9]+ ms\), storm the rest after 2000 ms$'
    assert_line 'storm: connections that never read their reply 1, closed by storm after 2000 ms'
    assert_line "storm: good client: \"echo storm-ok\" answered exactly (9 bytes)"
    # and the lab's own client, after it
    run_client "$stage" "$srv_port" $'echo after the storm\n'
    [ "$status" -eq 0 ]
    if [ "$stage" = 1 ]; then
        expect_bytes "$BATS_TEST_TMPDIR/out" 'after the storm\n\n'   # print() adds one
    else
        expect_bytes "$BATS_TEST_TMPDIR/out" 'after the storm\n'
    fi
    fds_back_to "$srv_pid" "$before"
    zombies=$(zombies_of "$srv_pid")
    [ -z "$zombies" ] || { echo "zombie children of the server: $zombies"; return 1; }
    kill -0 "$srv_pid"
}

# storm_server5 COUNT PROGRAM [ARGS...]: starts a server of the stage 5
# protocol (stage 5's, or one of stage 6's models) on a root of its own,
# storms it with COUNT bad connections, then checks: storm's good client
# (an exec, its output and SHA-256 exact), the lab's stage 5 client (a
# get and an exec), nothing written outside the root, descriptors back to
# where they were, no zombie, the server still there.
storm_server5() {
    local count=$1 before zombies; shift
    local served="$BATS_TEST_TMPDIR/box/root"
    mkdir -p "$served" "$BATS_TEST_TMPDIR/box/outside"
    printf 'served\n' >"$served/a.txt"
    ln -s ../outside "$served/out"
    # --idle 0.3: a client that sends nothing for 0.3 s is closed, well
    # before storm's own 2 s
    start_server srv "$@" --port 0 --root "$served" --timeout 0.5 --idle 0.3
    before=$(fd_count "$srv_pid")
    run "$STORM" server --proto stage5 -p "$srv_port" --count "$count" --stalls 4 --stall-ms 2000
    assert_success
    assert_line --regexp "^storm: $count bad connections to 127\.0\.0\.1:[0-9]+ \(stage5, seed 1, 4 at a time\) ended in [0-9.]+ s$"
    assert_line --regexp '^storm: stalled connections 3: the server closed 3 of them first \(the last after [0-9]+ ms\), storm the rest after 2000 ms$'
    assert_line 'storm: connections that never read their reply 1, closed by storm after 2000 ms'
    assert_line 'storm: good client: "echo storm-ok" answered exactly (9 bytes)'
    # every case ran (the 27 quick ones drawn at random, 4 stalls spread)
    assert_line --regexp '^storm: cases: connect-close [0-9]+ .* dotdot-names [0-9]+ unknown-ops [0-9]+ .* never-reads-reply 1$'
    # the lab's own client, after it
    run "$ROOT/stage5_file_transfer/client" -p "$srv_port" get a.txt -
    assert_success
    assert_output --partial 'served'
    run_client 5 "$srv_port" $'echo after the storm\n'
    [ "$status" -eq 0 ]
    expect_bytes "$BATS_TEST_TMPDIR/out" 'after the storm\n'
    # nothing outside the root: ../, absolute names and the symlink out
    run ls -A "$BATS_TEST_TMPDIR/box/outside"
    assert_output ''
    run ls -A "$BATS_TEST_TMPDIR/box"
    assert_output $'outside\nroot'
    [ ! -e /etc/storm-x ]
    fds_back_to "$srv_pid" "$before"
    zombies=$(zombies_of "$srv_pid")
    [ -z "$zombies" ] || { echo "zombie children of the server: $zombies"; return 1; }
    kill -0 "$srv_pid"
}
