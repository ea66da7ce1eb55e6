# A classroom in network namespaces (issue 17, item 2), shared by
# tests/classroom.bats (the fast tier: one model, a small class) and
# tests/heavy/serial/classroom.bats (each model, 45 students, 1,000 idle
# connections).
#
# The network: the teacher's namespace holds a bridge (10.199.17.1/24, the
# address the server binds); each of three room namespaces is joined to it
# (room N's end is 10.199.17.1N) by a veth pair, or, for the heavy test on a
# kernel without netem, by two taps and tests/tools/delayline
# (classroom_net). Every link and the bridge have a 1280-byte MTU. The
# heavy test's links delay every frame 20 ms each way (netem, or the delay
# line); the small test's veth pairs have netem's delay where the kernel
# has it, else a tbf rate (1gbit), as tests/stage2_netns.bats falls back.
# 1gbit, a wired classroom, and not stage 2's 20mbit: at 100mbit a room's
# downloads queue the good client's 64 KiB gets behind them in tbf (its
# get p99 went from 5.6 ms alone to 25-49 ms: the link's doing, not the
# server's). The addresses exist only inside the namespaces made here; the
# namespaces are deleted in teardown (NETNS_TO_DELETE).
#
# The teacher: HOME is $TEACHER, which holds the secret (.ssh/id_ed25519:
# random bytes, world-readable, so only the sandbox keeps students from it),
# canaries (world-writable, likewise) and class/served, the served root.
# The server runs as root, so its commands run as nobody (README,
# "Teaching on a classroom network"): every directory above the served root
# is made searchable (o+x) for nobody.
#
# The class: students (background shells, each started in its room by
# `ip netns exec`) running the stage 5 client or tools/loadgen. Ordinary
# students' every reply is verified (exact output, SHA-256); hazards carry
# $NTAG (digits) in their command line, so a process they leave is found.

# start_server sets srv_pid/srv_port; the FIG_* and LINK_* figures are
# read by the calling tests:
# shellcheck disable=SC2154,SC2034

# needs: skips the test, saying why, where a classroom cannot be made.
classroom_needs() {
    [ "$(id -u)" -eq 0 ] || skip "needs root to create network namespaces"
    if [ -n "${NIANBAO_SANITIZER:-}${NIANBAO_VALGRIND:-}" ]; then
        skip "latency figures and a thousand connections a model mean nothing on a sanitized build"
    fi
    local tool
    for tool in ip tc bwrap setpriv ss dumpcap; do
        command -v "$tool" >/dev/null || skip "needs $tool"
    done
    setpriv --reuid=65534 --regid=65534 --clear-groups -- \
        bwrap --unshare-user --unshare-pid --unshare-net --ro-bind / / true 2>/dev/null ||
        skip "bwrap cannot make user namespaces here"
    # 1,000 idle connections and the server's own: a few thousand descriptors.
    ulimit -n 8192 2>/dev/null || skip "cannot raise ulimit -n to 8192 (hard limit $(ulimit -Hn))"
}

# shape NS DEV: delays (netem) or paces (tbf) what leaves DEV; prints what.
classroom_shape() {
    if tc -n "$1" qdisc add dev "$2" root netem delay 20ms 2>/dev/null; then
        echo "netem delay 20ms"
    elif tc -n "$1" qdisc add dev "$2" root tbf rate 1gbit burst 256kb latency 50ms 2>/dev/null; then
        echo "tbf rate 1gbit burst 256kb latency 50ms (this kernel has no netem)"
    else
        return 1
    fi
}

# classroom_net [delay]: the namespaces, the bridge and the three rooms.
# Sets NS_T, NS_R (array, rooms 1-3), SRV_ADDR, LINK (what shapes the
# links), LINK_RTT_MS (the round trip it adds). With "delay" (the heavy
# test, which measures latency), a kernel without netem gets its delay
# from tests/tools/delayline: each room joined to the bridge by a pair of taps
# that it links, 20 ms each way, run at a real-time priority (netem runs in
# the kernel, before any program: a link's delay must not wait for the
# class's commands on the same two cores). Otherwise the rooms' veth
# pairs get netem's delay where the kernel has it, else a tbf rate, which
# adds no delay.
classroom_net() {
    local err="$BATS_TEST_TMPDIR/ip.err" i tag="$$-$BATS_TEST_NUMBER" use_taps=
    local -a pairs=()
    NS_T="nbclass-t-$tag"
    NS_R=("" "nbclass-r1-$tag" "nbclass-r2-$tag" "nbclass-r3-$tag")
    NETNS_TO_DELETE="$NS_T ${NS_R[*]:1}"
    SRV_ADDR=10.199.17.1
    for i in $NETNS_TO_DELETE; do
        ip netns add "$i" 2>"$err" || skip "ip netns add failed: $(cat "$err")"
    done
    ip -n "$NS_T" link set lo up
    ip -n "$NS_T" link add br0 type bridge 2>"$err" || skip "cannot make a bridge: $(cat "$err")"
    if [ "${1:-}" = delay ] && ! tc -n "$NS_T" qdisc add dev lo root netem delay 20ms 2>/dev/null &&
        [ -c /dev/net/tun ] && ip -n "$NS_T" tuntap add dev tapprobe mode tap 2>/dev/null; then
        ip -n "$NS_T" link del tapprobe
        use_taps=1
    fi
    tc -n "$NS_T" qdisc del dev lo root 2>/dev/null || true
    for i in 1 2 3; do
        ip -n "${NS_R[i]}" link set lo up
        if [ -n "$use_taps" ]; then
            ip -n "$NS_T" tuntap add dev "room$i" mode tap
            ip -n "${NS_R[i]}" tuntap add dev eth0 mode tap
            pairs+=("eth0@${NS_R[i]}=room$i@$NS_T")
        else
            ip -n "$NS_T" link add "room$i" type veth peer name eth0 netns "${NS_R[i]}" 2>"$err" ||
                skip "cannot create a veth pair: $(cat "$err")"
        fi
        ip -n "$NS_T" link set "room$i" mtu 1280 master br0 up
        ip -n "${NS_R[i]}" link set eth0 mtu 1280 up
        ip -n "${NS_R[i]}" addr add "10.199.17.1$i/24" dev eth0
        [ -z "$use_taps" ] || continue
        LINK="veth, $(classroom_shape "$NS_T" "room$i")" || skip "tc has neither netem nor tbf here"
        # the round trip netem adds to every request (two 20 ms delays); tbf none
        LINK_RTT_MS=0
        [[ $LINK != "veth, netem"* ]] || LINK_RTT_MS=40
        classroom_shape "${NS_R[i]}" eth0 >/dev/null
    done
    if [ -n "$use_taps" ]; then
        local -a rt=()
        ! chrt -f 10 true 2>/dev/null || rt=(chrt -f 10)
        "${rt[@]}" "$ROOT/tests/tools/delayline" --delay 20ms "${pairs[@]}" \
            </dev/null >/dev/null 2>"$BATS_TEST_TMPDIR/delayline.log" 3>&- &
        STARTED_PIDS+=("$!")
        wait_for_line "$BATS_TEST_TMPDIR/delayline.log" "^delaying every frame by 20 ms on 3 pairs"
        LINK="two taps a room joined by tests/tools/delayline, 20 ms each way${rt:+ (SCHED_FIFO 10)} (this kernel has no netem)"
        LINK_RTT_MS=40
    fi
    ip -n "$NS_T" link set br0 mtu 1280 up
    ip -n "$NS_T" addr add "$SRV_ADDR/24" dev br0
    # (no ping here: the bridge up, its ports forwarding, is enough)
    wait_until -t 10 link_up "$NS_T" br0 || { ip -n "$NS_T" link show br0; return 1; }
}

link_up() { ip -n "$1" link show "$2" | grep -q 'state UP'; }

# classroom_files: the teacher's home, its secret and canaries, the served
# root and its files. Sets TEACHER, SERVED, SECRET_FILE, SECRET_PARTS
# (four 16-hex-digit quarters of the secret's 64), CANARIES, NTAG, MARK.
classroom_files() {
    local dir
    TEACHER="$BATS_TEST_TMPDIR/teacher"
    SERVED="$TEACHER/class/served"
    mkdir -p "$TEACHER/.ssh" "$SERVED"
    # nobody must reach the served root (not read what is beside it: the
    # modes below open the canaries on purpose, the sandbox must hold them)
    dir=$BATS_TEST_TMPDIR
    while [ "$dir" != / ] && [ "$dir" != "${BATS_RUN_TMPDIR%/*}" ]; do
        chmod o+x "$dir"
        dir=${dir%/*}
    done
    chmod 777 "$TEACHER" "$TEACHER/.ssh" "$TEACHER/class"
    local secret
    secret=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
    SECRET_PARTS=("${secret:0:16}" "${secret:16:16}" "${secret:32:16}" "${secret:48:16}")
    printf -- '-----BEGIN OPENSSH PRIVATE KEY-----\n%s\n-----END OPENSSH PRIVATE KEY-----\n' \
        "$secret" >"$TEACHER/.ssh/id_ed25519"
    SECRET_FILE="$TEACHER/.ssh/id_ed25519"
    printf 'marks: alice 17, bob 12\n' >"$TEACHER/class/marks.csv"
    printf 'remember the milk\n' >"$TEACHER/notes.txt"
    CANARIES=("$SECRET_FILE" "$TEACHER/class/marks.csv" "$TEACHER/notes.txt")
    chmod 666 "${CANARIES[@]}"
    # an old atime: under relatime a read sets it to now (classroom_canaries_ok)
    touch -a -d '2001-01-01 00:00:00' "${CANARIES[@]}"
    head -c 100000 /dev/urandom >"$SERVED/f0.bin"
    head -c 65536 /dev/urandom >"$SERVED/f1.bin"
    printf 'the syllabus\n' >"$SERVED/f2.bin"
    head -c 32M /dev/zero >"$SERVED/big.bin"
    NTAG="$$$RANDOM$RANDOM"
    MARK="nb$NTAG"
    TOKEN="tok$RANDOM$RANDOM"
    classroom_state >"$BATS_TEST_TMPDIR/canaries.before"
    (cd "$SERVED" && sha256sum -- *) >"$BATS_TEST_TMPDIR/served.before"
}

# classroom_state: each canary's SHA-256, size, mtime, atime and inode.
classroom_state() {
    local f
    for f in "${CANARIES[@]}"; do
        printf '%s %s\n' "$(sha "$f")" "$(stat -c '%s %Y %X %i %n' "$f")"
    done
}

# atime_tracked: reading a file with an old atime updates it here (relatime,
# not noatime), so an unchanged atime means unread.
atime_tracked() {
    local f="$BATS_TEST_TMPDIR/atime-probe"
    echo probe >"$f"
    touch -a -d '2001-01-01 00:00:00' "$f"
    cat "$f" >/dev/null
    [ "$(stat -c %X "$f")" -gt 978307200 ]
}

# in_room N CMD...: CMD in room N's namespace (a student's shell is in
# its room already: IN_ROOM).
in_room() {
    local room=$1; shift
    if [ "${IN_ROOM:-}" = "$room" ]; then
        "$@"
    else
        ip netns exec "${NS_R[room]}" "$@"
    fi
}

# Results: each student appends "ok N KIND" or "fail N KIND WHY" lines
# to $CLASS/sS.res (N requests); replies are kept in $CLASS for the scan.
note_ok() { echo "ok $1 $2" >>"$CLASS/s$S.res"; }
note_fail() { echo "fail $1 $2 ${*:3}" >>"$CLASS/s$S.res"; }

# c5 ROOM ARGS...: the stage 5 client in ROOM against the server. The
# bound is a guard against a hang, far above what the iterative model needs.
c5() {
    local room=$1; shift
    in_room "$room" timeout 300 "$ROOT/stage5_file_transfer/client" -H "$SRV_ADDR" -p "$srv_port" "$@"
}

# loadgen_note ROOM KIND ARGS...: one verified loadgen run in ROOM; notes
# its requests and failures from --tsv.
loadgen_note() {
    local room=$1 kind=$2; shift 2
    local out="$CLASS/s$S.r$R.tsv" ok failed not_run
    in_room "$room" "$ROOT/tools/loadgen" -H "$SRV_ADDR" -p "$srv_port" --verify --tsv \
        --timeout 300 "$@" >"$out" 2>"$CLASS/s$S.r$R.err"
    read -r ok failed not_run _ < <(sed -n 2p "$out")
    if [ -n "$ok" ] && [ "$failed" -eq 0 ] && [ "$not_run" -eq 0 ]; then
        note_ok "$ok" "$kind"
    else
        note_fail "$(( ${ok:-0} + ${failed:-1} + ${not_run:-0} ))" "$kind" \
            "$(tr '\n' ' ' <"$CLASS/s$S.r$R.err")"
    fi
}

# one_turn KIND ROOM: student $S's round $R of KIND.
one_turn() {
    local kind=$1 room=$2 base="$CLASS/s$S.r$R" rc=0
    case $kind in
    # ---- ordinary students: every reply verified ----
    exec)
        c5 "$room" exec "echo ord-$S-$R-$TOKEN; echo from room $room" >"$base.out" 2>"$base.err" || rc=$?
        if [ "$rc" -eq 0 ] && [ "$(cat "$base.out")" = "ord-$S-$R-$TOKEN"$'\n'"from room $room" ]; then
            note_ok 1 exec
        else
            note_fail 1 exec "exit $rc: $(head -c 300 "$base.out" "$base.err" | tr '\n' ' ')"
        fi ;;
    get)
        local name="f$((S % 3)).bin"
        c5 "$room" get "$name" "$base.get" >"$base.out" 2>"$base.err" || rc=$?
        if [ "$rc" -eq 0 ] && [ "$(sha "$base.get")" = "$(sha "$SERVED/$name")" ]; then
            note_ok 1 get
        else
            note_fail 1 get "exit $rc: $(head -c 300 "$base.err" | tr '\n' ' ')"
        fi
        rm -f "$base.get" ;;
    loadgen-exec) loadgen_note "$room" loadgen-exec -c 1 -n 5 --seed "$S$R" ;;
    loadgen-get) loadgen_note "$room" loadgen-get -c 1 -n 5 --op get --name f0.bin ;;
    # ---- hazards: each carries $NTAG; only the aftermath is checked ----
    bomb)
        c5 "$room" exec "b_$MARK(){ b_$MARK|b_$MARK& };b_$MARK" >"$base.out" 2>"$base.err" || true ;;
    rm)
        c5 "$room" exec "rm -rf ~ ~/.. ~/../.. $TEACHER 2>&1 | tail -n 3; echo rm $MARK" \
            >"$base.out" 2>"$base.err" || true ;;
    write)
        c5 "$room" exec "echo x > $CANARY_WRITTEN; echo x >> $SECRET_FILE; echo x > $TEACHER/pwned-$MARK;
            echo x > /tmp/pwned-$MARK; echo x > $ROOT/pwned-$MARK; echo x > ~/../pwned-$MARK;
            echo x > pwned-$MARK; echo x > /dev/shm/pwned-$MARK; touch -a $CANARY_TOUCHED; echo write $MARK" \
            >"$base.out" 2>"$base.err" || true ;;
    peek)
        c5 "$room" exec "cat $SECRET_FILE ~/../../.ssh/id_ed25519 /proc/1/root$SECRET_FILE;
            ls -la ~/.. /; find / -name 'id_*' -type f -exec cat {} + 2>/dev/null; echo peek $MARK" \
            >"$base.out" 2>"$base.err" || true ;;
    peek-get)
        c5 "$room" get ../../.ssh/id_ed25519 "$base.get1" >"$base.out" 2>"$base.err" || true
        c5 "$room" get "$SECRET_FILE" "$base.get2" >>"$base.out" 2>>"$base.err" || true ;;
    yes)
        c5 "$room" exec "yes $MARK" 2>"$base.err" | tail -c 1000 >"$base.out" || true ;;
    sleep)
        # `; echo` keeps the shell (with $NTAG) above sleep; sleep sums its arguments
        c5 "$room" exec "sleep 1e9 0.$NTAG; echo $MARK" >"$base.out" 2>"$base.err" || true ;;
    idle)
        in_room "$room" "$ROOT/tools/loadgen" -H "$SRV_ADDR" -p "$srv_port" -c 0 \
            --idle "$CLASS_IDLE" --hold 3 --timeout 60 >"$base.out" 2>"$base.err" || true ;;
    stop-reading)
        # asks for 32 MiB (more than both ends' socket buffers hold) and reads
        # about 64 KiB of it: its stdout is a pipe that nobody reads for 8 s,
        # past --send-timeout (3 s), when the server drops it
        # (once its reply has begun: the iterative model may serve it late)
        { c5 "$room" get big.bin - 2>"$base.err" || true; } | { head -c 1 >/dev/null; sleep 8; } ;;
    esac
}

# student S KIND ROOM: rounds of KIND until $CLASS/stop (at least one, at
# most CLASS_ROUNDS): a student types, reads the answer, thinks, types
# again. Each starts within the storm's first second and thinks 1-2 s
# between rounds, on a sequence of its own (RANDOM seeded with S: the same
# class each run). Students do not press Enter in the same millisecond
# round after round, as shells started together and sleeping a second each
# did; and 44 of them on the server's own two cores (in a classroom each
# has a laptop) would otherwise measure the test's load, not the server.
# (At 0.5-1.5 s, with the delay line, the good client's exec p99 was
# 1.7-3.1x alone in 5 runs of poll and thread; at 1-2 s, 1.6-1.8x in 4.)
student() {
    local kind=$2 room=$3 ms
    S=$1
    RANDOM=$S
    ms=$((RANDOM % 1000))
    sleep "0.$(printf %03d "$ms")"
    for ((R = 1; R <= CLASS_ROUNDS; R++)); do
        one_turn "$kind" "$room"
        [ ! -e "$CLASS/stop" ] || break
        ms=$((1000 + RANDOM % 1000))
        [ "$R" -eq "$CLASS_ROUNDS" ] || sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
    done
}

# classroom_roster N: N students per room, as "KIND ROOM" lines. Room 1's
# first is the good client (measured apart). Hazards: two fork bombs, rm,
# writes, two peeks by exec and one by get, yes, two sleeps forever, the
# idle connections, a client that stops reading; `yes` and the one that
# stops reading sit in room 3, so room 1's link is not what they load (a
# student who floods a shared link slows the class whatever the server does).
# The rest are ordinary, in turn exec, get, loadgen-exec, loadgen-get.
classroom_roster() {
    local per_room=$1 room kind n=0 slot
    local -a ordinary=(exec get loadgen-exec loadgen-get) kinds
    for room in 1 2 3; do
        case $room in
        1) kinds=(good bomb peek sleep rm) ;;
        2) kinds=(bomb peek write sleep peek-get) ;;
        3) kinds=(yes stop-reading idle) ;;
        esac
        for ((slot = 0; slot < per_room; slot++)); do
            if [ "$slot" -lt "${#kinds[@]}" ]; then
                kind=${kinds[slot]}
            else
                kind=${ordinary[n % 4]}; n=$((n + 1))
            fi
            echo "$kind $room"
        done
    done
}

# established: connections to the server's port in the teacher's namespace
# (accepted or in the accept queue).
established() {
    ip netns exec "$NS_T" ss -tnH state established "( sport = :$srv_port )" | wc -l
}
# no_connection: no connection to the server's port but in TIME-WAIT.
no_connection() {
    [ "$(ip netns exec "$NS_T" ss -tnH state connected exclude time-wait \
        "( sport = :$srv_port )" | wc -l)" -eq 0 ]
}
# procs_in_teacher_ns: processes in the teacher's network namespace.
# (the capture aside: it is the test's, not the teacher's)
procs_in_teacher_ns() { ip netns pids "$NS_T" | grep -vcx -- "${cap_pid:-none}" || true; }
fds_of_srv() {
    local fds=("/proc/$srv_pid/fd/"*)
    echo "${#fds[@]}"
}
# descendants PID: every process below PID, one "PID STATE COMMAND" a line.
descendants() {
    local -a queue=("$1") line
    while [ "${#queue[@]}" -gt 0 ]; do
        local p=${queue[0]}; queue=("${queue[@]:1}")
        while read -r line; do
            [ -n "$line" ] || continue
            echo "$line"
            queue+=("${line%% *}")
        done < <(children_of "$p")
    done
}
no_descendant() { [ -z "$(descendants "$srv_pid")" ]; }
# tagged_pids: processes whose command line holds $NTAG (every hazard's).
tagged_pids() {
    local f
    while IFS= read -r f; do
        f=${f#/proc/}; echo "${f%/cmdline}"
    done < <(grep -laF -- "$NTAG" /proc/[0-9]*/cmdline 2>/dev/null)
}
no_tagged_process() { [ -z "$(tagged_pids)" ]; }
fds_back() { [ "$(fds_of_srv)" -eq "$FDS_BEFORE" ]; }
teacher_ns_back() { [ "$(procs_in_teacher_ns)" -eq "$PROCS_BEFORE" ]; }

# tsv_field FILE N: field N of loadgen --tsv's figures line.
tsv_field() { sed -n 2p "$1" | cut -f "$2"; }

# classroom_run MODEL PER_ROOM IDLE ROUNDS GOOD_N: the whole lesson for
# MODEL; the figures go to $BATS_TEST_TMPDIR/figures and fd 3. Asserts
# nothing about latency (the caller does); fails on any safety breach or
# any failed ordinary request.
classroom_run() {
    local model=$1 per_room=$2
    CLASS_IDLE=$3 CLASS_ROUNDS=$4
    local good_n=$5
    CLASS="$BATS_TEST_TMPDIR/class"
    mkdir -p "$CLASS"
    local -a limits=()
    [ "$model" = iterative ] || limits=(--max-clients 3000)
    # every packet on the teacher's bridge, for the secret scan
    ip netns exec "$NS_T" dumpcap -i br0 -w "$BATS_TEST_TMPDIR/cap.pcapng" \
        </dev/null >/dev/null 2>"$BATS_TEST_TMPDIR/cap.log" 3>&- &
    cap_pid=$!
    STARTED_PIDS+=("$cap_pid")
    wait_for_line "$BATS_TEST_TMPDIR/cap.log" "^Capturing on"
    # setsid: the server in a session of its own, as a teacher's server is
    # (its terminal), and so in an autogroup of its own; the students'
    # clients, on laptops in a class, share the test's session here, and
    # would otherwise share the server's CPU weight with it.
    start_server srv ip netns exec "$NS_T" env HOME="$TEACHER" setsid \
        "$ROOT/stage6_concurrent/$model" -H "$SRV_ADDR" --port 0 --root "$SERVED" \
        --sandbox --read-only --timeout 2 --idle 3 --frame-timeout 2 --send-timeout 3 \
        --max-output 8388608 --grace 1 "${limits[@]}"
    [ "$(readlink "/proc/$srv_pid/exe")" = "$ROOT/stage6_concurrent/$model" ]

    # ---- alone: the good client in room 1, nobody else ----
    good_client alone exec "$good_n"
    good_client alone get "$good_n"
    # the good client's last connection closed on the server's side too
    # (its FIN crosses the link after loadgen has exited)
    wait_until -t 10 -i 0.05 no_connection ||
        { ip netns exec "$NS_T" ss -tanH "( sport = :$srv_port )"; return 1; }
    FDS_BEFORE=$(fds_of_srv)
    PROCS_BEFORE=$(procs_in_teacher_ns)

    # ---- the storm: every student at once, the good client once it is on ----
    local kind room s=0 start=${EPOCHREALTIME/[.,]/}
    STUDENT_PIDS=()
    CANARY_WRITTEN=${CANARIES[1]} CANARY_TOUCHED=${CANARIES[2]}
    export -f student one_turn c5 in_room note_ok note_fail loadgen_note sha
    export CLASS CLASS_ROUNDS CLASS_IDLE TOKEN SERVED ROOT SRV_ADDR srv_port MARK NTAG \
        SECRET_FILE TEACHER CANARY_WRITTEN CANARY_TOUCHED
    while read -r kind room; do
        s=$((s + 1))
        [ "$kind" != good ] || continue
        # each student's shell enters its room once: an `ip netns exec` a
        # request (a mount namespace made and torn down each time) was the
        # class's laptops' work on the server's two cores
        IN_ROOM=$room ip netns exec "${NS_R[room]}" bash -c 'student "$@"' student "$s" "$kind" "$room" 3>&- &
        STUDENT_PIDS+=($!)
    done < <(classroom_roster "$per_room")
    STUDENTS=$s
    wait_until -t 60 -i 0.2 prints_at_least "$((CLASS_IDLE * 9 / 10))" established ||
        { echo "the idle connections never came: $(established) established" >&2; return 1; }
    local procs_during
    procs_during=$(procs_in_teacher_ns)
    local good_rc=0
    good_client storm exec "$good_n" || good_rc=1
    good_client storm get "$good_n" || good_rc=1
    procs_during="$procs_during/$(procs_in_teacher_ns)"
    touch "$CLASS/stop"
    wait_until -t 900 -i 0.5 is_gone_all "${STUDENT_PIDS[@]}" ||
        { echo "students still running: $(jobs -p)" >&2; return 1; }
    CLASS_SECS=$(( (${EPOCHREALTIME/[.,]/} - start) / 1000000 ))

    # ---- aftermath ----
    wait_until -t 20 no_tagged_process || { echo "left: $(tagged_pids)"; ps -o pid,user,args -p "$(tagged_pids | paste -sd,)"; return 1; }
    wait_until -t 20 no_descendant || { descendants "$srv_pid"; return 1; }
    wait_until -t 20 teacher_ns_back || { ip netns pids "$NS_T" | xargs ps -o pid,args -p; return 1; }
    wait_until -t 20 fds_back || { echo "fds: $FDS_BEFORE before, $(fds_of_srv) after"; ls -l "/proc/$srv_pid/fd"; return 1; }
    local procs_after fds_after
    procs_after=$(procs_in_teacher_ns) fds_after=$(fds_of_srv)
    kill -s INT "$cap_pid" 2>/dev/null || true
    wait_for_exit "$cap_pid" 10 || true

    local requests=0 failures=0 n k
    while read -r k n kind _; do
        requests=$((requests + n))
        [ "$k" = ok ] || failures=$((failures + n))
    done < <(cat "$CLASS"/s*.res)
    local tsv
    for tsv in "$BATS_TEST_TMPDIR"/storm-*.tsv; do
        requests=$((requests + $(tsv_field "$tsv" 1) + $(tsv_field "$tsv" 2) + $(tsv_field "$tsv" 3)))
        failures=$((failures + $(tsv_field "$tsv" 2) + $(tsv_field "$tsv" 3)))
    done
    FIG_REQUESTS=$requests FIG_FAILURES=$failures
    local row op phase
    for op in exec get; do
        for phase in alone storm; do
            printf -v "FIG_P50_${phase^^}_${op^^}" '%s' "$(tsv_field "$BATS_TEST_TMPDIR/$phase-$op.tsv" 6)"
            printf -v "FIG_P99_${phase^^}_${op^^}" '%s' "$(tsv_field "$BATS_TEST_TMPDIR/$phase-$op.tsv" 7)"
        done
    done
    printf -v row '| %s | %d | %d | %d | %s / %s | %s / %s | %s | %s / %s | %s / %s | %s | %s -> %s | %s -> %s | %d s |' \
        "$model" "$STUDENTS" "$requests" "$failures" \
        "$FIG_P50_ALONE_EXEC" "$FIG_P99_ALONE_EXEC" "$FIG_P50_STORM_EXEC" "$FIG_P99_STORM_EXEC" \
        "$(ratio "$FIG_P99_ALONE_EXEC" "$FIG_P99_STORM_EXEC")" \
        "$FIG_P50_ALONE_GET" "$FIG_P99_ALONE_GET" "$FIG_P50_STORM_GET" "$FIG_P99_STORM_GET" \
        "$(ratio "$FIG_P99_ALONE_GET" "$FIG_P99_STORM_GET")" \
        "$PROCS_BEFORE" "$procs_during -> $procs_after" "$FDS_BEFORE" "$fds_after" "$CLASS_SECS"
    {
        echo "# link: $LINK; a bridge; MTU 1280; the server: $model --sandbox --read-only --timeout 2 --idle 3 --send-timeout 3 --max-output 8 MiB; the good client: $good_n execs, then $good_n gets of 64 KiB"
        echo "# | model | students | requests | failures | exec p50/p99 ms alone | exec p50/p99 ms storm | exec p99 storm/alone | get p50/p99 ms alone | get p50/p99 ms storm | get p99 storm/alone | procs in teacher ns before -> during (storm on / good client done) -> after | server fds before -> after | class took |"
        echo "# $row"
    } | tee -a "$BATS_TEST_TMPDIR/figures" >&3
    [ -z "${NIANBAO_CLASSROOM_FIGURES:-}" ] || cat "$BATS_TEST_TMPDIR/figures" >>"$NIANBAO_CLASSROOM_FIGURES"

    # ---- every ordinary request answered and verified ----
    [ "$good_rc" -eq 0 ] || { cat "$BATS_TEST_TMPDIR"/storm-*.err; return 1; }
    if [ "$failures" -ne 0 ]; then
        grep -h '^fail' "$CLASS"/s*.res | head -20
        return 1
    fi

    # ---- nothing outside the root touched or read ----
    classroom_state >"$BATS_TEST_TMPDIR/canaries.after"
    if atime_tracked; then
        diff "$BATS_TEST_TMPDIR/canaries.before" "$BATS_TEST_TMPDIR/canaries.after"
    else
        # atime aside (noatime): content, size, mtime, inode
        diff <(cut -d' ' -f1-3,5- "$BATS_TEST_TMPDIR/canaries.before") \
            <(cut -d' ' -f1-3,5- "$BATS_TEST_TMPDIR/canaries.after")
    fi
    diff "$BATS_TEST_TMPDIR/served.before" <(cd "$SERVED" && sha256sum -- *)
    local pwned
    # find's status is not the answer: a folder another test removes while
    # it walks /tmp makes it exit 1; what it prints is.
    pwned=$(find "$BATS_TEST_TMPDIR" "$ROOT" /tmp /dev/shm -maxdepth 4 -name "pwned-$MARK" 2>/dev/null || true)
    [ -z "$pwned" ] || { echo "written outside the root: $pwned"; return 1; }
    # the secret's bytes in no reply, no log, no capture: any of its four
    # quarters (a segment boundary cuts 64 bytes in at most a few places)
    local -a pats=()
    for n in "${SECRET_PARTS[@]}"; do pats+=(-e "$n"); done
    if grep -rlaF "${pats[@]}" "$CLASS" "$BATS_TEST_TMPDIR"/*.log "$BATS_TEST_TMPDIR"/*.tsv \
        "$BATS_TEST_TMPDIR/cap.pcapng"; then
        echo "the secret's bytes are in the files above"
        return 1
    fi
    # ... and the capture saw the class: an ordinary student's reply is in
    # it (a line that ends with the token: in the request a ';' follows it)
    grep -qaE -- "-$TOKEN\$" "$BATS_TEST_TMPDIR/cap.pcapng" ||
        { echo "the capture holds no student's reply: it proves nothing"; return 1; }
    # the hazards did run, and were ended: the secret is not there to read,
    # sleep 1e9 was killed at --timeout, the one that stopped reading was
    # dropped at --send-timeout
    grep -qa "id_ed25519: No such file or directory" "$CLASS"/s*.r1.err
    grep -qa "command killed after 2 s (timeout)" "$CLASS"/s*.r1.err
    grep -qE '^client 10\.199\.17\.13:[0-9]+: not reading its reply for 3 s; dropping the client$' \
        "$BATS_TEST_TMPDIR/srv.log"
    # (the capture is 20-130 MB; kept when a check above failed)
    rm -f "$BATS_TEST_TMPDIR/cap.pcapng"
}

# good_client PHASE OP N: the good student in room 1, N verified OPs (exec
# of echo, or get of f1.bin, 64 KiB) one after another; --tsv into
# PHASE-OP.tsv. Fails when a reply is missing or wrong.
good_client() {
    local -a what=()
    [ "$2" = exec ] || what=(--op get --name f1.bin)
    in_room 1 "$ROOT/tools/loadgen" -H "$SRV_ADDR" -p "$srv_port" -c 1 -n "$3" "${what[@]}" \
        --verify --tsv --timeout 600 >"$BATS_TEST_TMPDIR/$1-$2.tsv" 2>"$BATS_TEST_TMPDIR/$1-$2.err"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", b / a }'; }

prints_at_least() {
    local want=$1; shift
    [ "$("$@")" -ge "$want" ]
}
is_gone_all() {
    local p
    for p in "$@"; do kill -0 "$p" 2>/dev/null && return 1; done
    return 0
}

# classroom_teardown: the students and everything they started, the
# servers, the capture, the namespaces (even when the test failed).
classroom_teardown() {
    local pid line
    local -a doomed=()
    # each student and everything below it (a pipeline's sleep is a grandchild)
    for pid in "${STUDENT_PIDS[@]}"; do
        doomed+=("$pid")
        while read -r line; do doomed+=("${line%% *}"); done < <(descendants "$pid")
    done
    [ "${#doomed[@]}" -eq 0 ] || kill -KILL "${doomed[@]}" 2>/dev/null || true
    [ -z "${NTAG:-}" ] || tagged_pids | xargs -r kill -KILL 2>/dev/null || true
    _common_teardown
    local ns
    for ns in ${NETNS_TO_DELETE:-}; do
        # whatever still runs in a namespace of ours goes with it
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
}
