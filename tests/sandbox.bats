#!/usr/bin/env bats
# --sandbox (common/sandbox.c): each command in bubblewrap. The hazards a
# class brings (a fork bomb, `yes > f`, a memory hog, `sleep 1e9`) end within
# --timeout and leave no process; files outside the served root cannot be
# read or removed; there is no network; /tmp is the command's own. A server
# refuses to run commands unsandboxed when it cannot make the sandbox, and
# refuses an address other hosts reach without --sandbox.
#
# Every server here runs with --timeout 1: a hazard that ends by the timeout
# takes a second. Each test says how long it takes on an idle 2-core machine.

# start_server sets NAME_port/NAME_pid; run sets status/output:
# shellcheck disable=SC2154
bats_require_minimum_version 1.5.0

setup() {
    load 'test_helper/common-setup'
    _common_setup
    if ! command -v bwrap >/dev/null; then
        skip "no bwrap here (Debian: apt install bubblewrap)"
    fi
    if [ "$(id -u)" -eq 0 ]; then
        sandbox_probe=(setpriv --reuid=65534 --regid=65534 --clear-groups -- bwrap)
    else
        sandbox_probe=(bwrap)
    fi
    if ! "${sandbox_probe[@]}" --unshare-user --unshare-pid --unshare-net --ro-bind / / true 2>/dev/null; then
        skip "bwrap cannot make user namespaces here"
    fi
    # A server run as root runs its commands as nobody: the served root
    # must be reachable for nobody (the canaries beside it stay unbound).
    local dir=$BATS_TEST_TMPDIR
    while [ "$dir" != / ] && [ "$dir" != "${BATS_RUN_TMPDIR%/*}" ]; do
        chmod o+x "$dir"
        dir=${dir%/*}
    done
    SERVED="$BATS_TEST_TMPDIR/served"
    mkdir -p "$SERVED"
    chmod 777 "$SERVED"
    MARK="nb$$x$RANDOM"
    CANARY="$BATS_TEST_TMPDIR/canary-$MARK"
    SECRET="secret$$y$RANDOM"     # in the canary, and nowhere else
    printf 'the %s\n' "$SECRET" >"$CANARY"
    CANARY_SHA=$(sha "$CANARY")
    C3="$ROOT/stage3_struct_len/client"
    C5="$ROOT/stage5_file_transfer/client"
}

teardown() { _common_teardown; }

# marked_pids: processes whose command line holds $MARK (every hazard below
# carries it), one PID a line.
marked_pids() {
    local f
    for f in $(grep -laF -- "$MARK" /proc/[0-9]*/cmdline 2>/dev/null); do
        f=${f#/proc/}; echo "${f%/cmdline}"
    done
}
no_marked_process() { [ -z "$(marked_pids)" ]; }
no_child_of_srv() { [ -z "$(children_of "$srv_pid")" ]; }

# ask KIND COMMAND: runs COMMAND through srv's client (KIND 3: stage 3's,
# 5: stage 5's exec); sets output, status and ELAPSED_MS.
ask() {
    local kind=$1 command=$2 start=${EPOCHREALTIME/[.,]/}
    if [ "$kind" = 3 ]; then
        run timeout 20 "$C3" -p "$srv_port" <<<"$command"
    else
        run timeout 20 "$C5" -p "$srv_port" exec "$command"
    fi
    ELAPSED_MS=$(( (${EPOCHREALTIME/[.,]/} - start) / 1000 ))
}

# hazards KIND: each hazard ends within --timeout (1 s) and a margin, leaves
# no process (marked, or a child of the server), and the next command runs.
hazards() {
    local kind=$1 hazard
    local -a list=(
        "bomb_$MARK(){ bomb_$MARK|bomb_$MARK& };bomb_$MARK"
        "bomb_$MARK(){ bomb_$MARK|bomb_$MARK& };bomb_$MARK; sleep 100 # keeps its shell"
        "yes $MARK > f_$MARK"
        "yes $MARK > /tmp/f"
        "python3 -c 'a = bytearray(4 << 30)  # $MARK'"
        "head -c 5G /dev/zero | tail # $MARK"
        "sleep 1e9 # $MARK"
    )
    for hazard in "${list[@]}"; do
        ask "$kind" "$hazard"
        echo "$hazard: ${ELAPSED_MS} ms, status $status: ${output: -200}"
        [ "$ELAPSED_MS" -lt 3000 ]
        wait_until -t 3 no_marked_process || { marked_pids; false; }
        wait_until -t 3 no_child_of_srv || { children_of "$srv_pid"; false; }
        ask "$kind" "echo next"
        assert_output next
    done
    rm -f "$SERVED/f_$MARK"
}

# secrets KIND: the canary outside the root is not there to read or remove,
# the network is gone, and /tmp is the command's own, empty.
secrets() {
    local kind=$1
    ask "$kind" "cat $CANARY ~/.ssh/id_ed25519; cat /etc/shadow"
    refute_output --partial "$SECRET"
    assert_output --partial "$CANARY: No such file or directory"
    ask "$kind" "rm -rf $CANARY $BATS_TEST_TMPDIR ~ 2>/dev/null; echo done"
    assert_output --partial done
    [ "$(sha "$CANARY")" = "$CANARY_SHA" ]
    ask "$kind" "python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", $srv_port), 2); print(\"connected\")'"
    refute_output --partial connected
    assert_output --partial "Error"
    touch "/tmp/host-$MARK"
    ask "$kind" "ls -A /tmp | grep -c host-; ls -A /dev/shm | wc -l"
    rm -f "/tmp/host-$MARK"
    assert_line --index 0 0
    assert_line --index 1 0
}

@test "stage 3 with --sandbox: each hazard ends within --timeout, leaves no process, and the next client is served (about 5 s)" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0 --timeout 1 --sandbox
    grep -q '^sandbox: each command runs in bubblewrap' "$BATS_TEST_TMPDIR/srv.log"
    hazards 3
}

@test "stage 3 with --sandbox: no file outside, no network, an empty /tmp, in an empty directory (under 1 s)" {
    start_server srv "$ROOT/stage3_struct_len/server" --port 0 --timeout 1 --sandbox
    secrets 3
    ask 3 'pwd; echo "$HOME"; ls -A | wc -l; env | sort'
    assert_output $'/tmp\n/tmp\n0\nHOME=/tmp\nPATH=/usr/local/bin:/usr/bin:/bin\nPWD=/tmp\nTMPDIR=/tmp'
}

@test "stage 5 with --sandbox: the hazards end within --timeout, nothing outside the root is reached (about 5 s)" {
    start_server srv "$ROOT/stage5_file_transfer/server" --port 0 --root "$SERVED" --timeout 1 --sandbox
    hazards 5
    secrets 5
    ask 5 'pwd; echo made > made.txt && cat made.txt'
    assert_output "$SERVED"$'\nmade'
}

@test "stage 6 (poll and fork) with --sandbox: the hazards end within --timeout, nothing outside the root is reached (about 10 s)" {
    local model
    for model in poll fork; do
        start_server srv "$ROOT/stage6_concurrent/$model" --port 0 --root "$SERVED" --timeout 1 --sandbox
        hazards 5
        secrets 5
        kill "$srv_pid"
        wait_for_exit "$srv_pid"
    done
}

@test "with --sandbox a command that has used 100 ms of CPU drops to nice 19, its session's autogroup too, and a short one keeps nice 0 (under 1 s)" {
    local model kind
    # a busy loop that waits for its own demotion, then says what it has:
    # its "nice 19" line proves the demotion came before the server's
    # --timeout (5 s) ended it, on a busy machine too (100 ms of CPU may
    # take seconds of wall time there: no wall-time bound); `sleep` first:
    # waiting is not what demotes it
    local spin='sleep 0.3; echo "slept: nice $(nice)"; until [ "$(nice)" = 19 ]; do :; done; echo "nice $(nice)";'
    spin+=' cat /proc/self/autogroup 2>/dev/null | sed "s/^.* nice /autogroup nice /"'
    for model in stage3_struct_len/server stage6_concurrent/poll stage6_concurrent/thread; do
        if [ "$model" = stage3_struct_len/server ]; then
            start_server srv "$ROOT/$model" --port 0 --timeout 5 --sandbox
            kind=3
        else
            start_server srv "$ROOT/$model" --port 0 --root "$SERVED" --timeout 5 --sandbox
            kind=5
        fi
        ask "$kind" nice
        assert_output 0
        ask "$kind" "$spin"
        echo "$model: $ELAPSED_MS ms"
        assert_line --index 0 "slept: nice 0"
        assert_line --index 1 "nice 19"
        # where the kernel groups by session (CONFIG_SCHED_AUTOGROUP)
        [ ! -e /proc/self/autogroup ] || assert_line --index 2 "autogroup nice 19"
        kill "$srv_pid"
        wait_for_exit "$srv_pid"
    done
}

@test "--read-only refuses put with read_only, the same bytes from stage 5 and stage 6, and the sandbox sees the root read-only (under 1 s)" {
    local prog
    printf 'upload\n' >"$BATS_TEST_TMPDIR/up.txt"
    for prog in stage5_file_transfer/server stage6_concurrent/thread stage6_concurrent/iterative; do
        start_server srv "$ROOT/$prog" --port 0 --root "$SERVED" --read-only --sandbox
        run --separate-stderr "$C5" -p "$srv_port" put "$BATS_TEST_TMPDIR/up.txt" up.txt
        assert_equal "$status" 1
        assert_equal "$stderr" 'client: server: "up.txt": this server'"'"'s files are read-only (--read-only): put is refused (read_only)'
        [ ! -e "$SERVED/up.txt" ]
        ask 5 'echo x > written.txt; echo status $?'
        assert_output --partial 'Read-only file system'
        assert_output --partial 'status 2'
        kill "$srv_pid"
        wait_for_exit "$srv_pid"
    done
    # The wire: stage 5's and stage 6's error frames are the same bytes.
    printf '{"op":"put","name":"up.txt","file_size":7,"size":0}' >"$BATS_TEST_TMPDIR/hdr"
    local -a replies=()
    for prog in stage5_file_transfer/server stage6_concurrent/poll; do
        start_server srv "$ROOT/$prog" --port 0 --root "$SERVED" --read-only
        run python3 -c '
import socket, struct, sys
h = open(sys.argv[2], "rb").read()
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(struct.pack(">I", len(h)) + h)
n = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0]
print(s.recv(n, socket.MSG_WAITALL).decode())' "$srv_port" "$BATS_TEST_TMPDIR/hdr"
        assert_success
        replies+=("$output")
        kill "$srv_pid"
        wait_for_exit "$srv_pid"
    done
    assert_equal "${replies[0]}" "${replies[1]}"
    assert_equal "${replies[0]}" '{"op":"error","code":"read_only","message":"\"up.txt\": this server'"'"'s files are read-only (--read-only): put is refused","size":0}'
}

@test "an address other hosts reach is refused without --sandbox, in one line that says what to add (under 1 s)" {
    local prog
    for prog in stage1_naive/server stage3_struct_len/server stage4_json_header/server \
        "stage5_file_transfer/server --root $SERVED" "stage6_concurrent/poll --root $SERVED"; do
        # shellcheck disable=SC2086  # PROG holds its options
        run --separate-stderr $ROOT/$prog -H 0.0.0.0 --port 0
        assert_equal "$status" 1
        # stage 5 says which root it serves first
        [ "$(grep -vc '^serving ' <<<"$stderr")" -eq 1 ]
        stderr=$(grep -v '^serving ' <<<"$stderr")
        [[ $stderr =~ ^[a-z]+:\ 0\.0\.0\.0:[0-9]+\ is\ reachable\ from\ other\ hosts,\ and\ whoever\ connects\ would\ run\ commands\ as\ you:\ add\ --sandbox,\ or\ --unsafe-no-sandbox\ to\ take\ that\ risk$ ]] ||
            { echo "$prog said: $stderr"; false; }
    done
    start_server srv "$ROOT/stage3_struct_len/server" -H 0.0.0.0 --port 0 --sandbox
    ! grep -q '^warning' "$BATS_TEST_TMPDIR/srv.log"
}

@test "without bwrap, or when bwrap cannot make the sandbox, the server says why in one line and runs nothing (under 1 s)" {
    run --separate-stderr env NIANBAO_BWRAP=/nonexistent "$ROOT/stage3_struct_len/server" --port 0 --sandbox
    assert_equal "$status" 1
    assert_equal "$stderr" "server: --sandbox needs bubblewrap, and there is no /nonexistent: install it (Debian: apt install bubblewrap) or leave --sandbox out on loopback"
    # A bwrap that cannot make namespaces (as on a kernel without them): its words, once.
    printf '#!/bin/sh\necho ran >>"%s"\necho "bwrap: No permissions to create a new namespace" >&2\nexit 1\n' \
        "$BATS_TEST_TMPDIR/ran" >"$BATS_TEST_TMPDIR/bwrap"
    chmod +x "$BATS_TEST_TMPDIR/bwrap"
    : >"$BATS_TEST_TMPDIR/ran"
    chmod 666 "$BATS_TEST_TMPDIR/ran"    # a server run as root runs bwrap as nobody
    run --separate-stderr env NIANBAO_BWRAP="$BATS_TEST_TMPDIR/bwrap" \
        "$ROOT/stage6_concurrent/thread" --port 0 --root "$SERVED" --sandbox
    assert_equal "$status" 1
    assert_equal "$stderr" "thread: cannot make the sandbox: bwrap: No permissions to create a new namespace"
    assert_equal "$(cat "$BATS_TEST_TMPDIR/ran")" ran
}
