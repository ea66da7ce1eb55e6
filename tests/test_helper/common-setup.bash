# Shared set-up for every .bats file (tests/*.bats, tests/serial/ and
# tests/heavy/ alike): load bats-support/bats-assert, find the repo, start
# servers on port 0 by reading their "listening on" line, and wait for a
# condition with a deadline (wait_until).

_common_setup() {
    load '/usr/lib/bats/bats-support/load'
    load '/usr/lib/bats/bats-assert/load'
    # the repository: two levels above this file, wherever the test file is
    ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    export ROOT
    STARTED_PIDS=()
}

_common_teardown() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        # A shell function started in the background is a subshell: end the
        # program it runs too, not only the shell around it.
        pkill -P "$pid" 2>/dev/null || true
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}

# start_server NAME PROGRAM [ARGS...]
# Starts PROGRAM in the background with stderr in $BATS_TEST_TMPDIR/NAME.log,
# waits (deadline 10 s, 60 s on a sanitized build) for its "listening on
# ADDR:PORT" line, and sets
# NAME_pid and NAME_port. Fails the test when the line never comes.
start_server() {
    local name=$1; shift
    local log="$BATS_TEST_TMPDIR/$name.log"
    : >"$log"
    "$@" </dev/null >"$BATS_TEST_TMPDIR/$name.out" 2>"$log" 3>&- &
    local pid=$!
    STARTED_PIDS+=("$pid")
    printf -v "${name}_pid" '%s' "$pid"
    # a hang guard, not a measure: longer on the slow sanitized builds
    local limit=10
    [ -z "${NIANBAO_SANITIZER:-}${NIANBAO_VALGRIND:-}" ] || limit=60
    local deadline=$((SECONDS + limit)) line
    while :; do
        line=$(grep -m1 '^listening on ' "$log" || true)
        if [ -n "$line" ]; then
            printf -v "${name}_port" '%s' "${line##*:}"
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "$name exited before listening:" >&2; cat "$log" >&2
            return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "$name did not announce 'listening on' within $limit s:" >&2; cat "$log" >&2
            return 1
        fi
        sleep 0.05
    done
}

# wait_for_exit PID [SECS]: waits for PID to end (deadline, default 10 s);
# sets EXIT_STATUS. Fails when it is still running at the deadline.
# shellcheck disable=SC2034  # the calling test reads EXIT_STATUS
wait_for_exit() {
    local pid=$1 secs=${2:-10}
    wait_until -t "$secs" is_gone "$pid" || {
        echo "process $pid still running after $secs s" >&2
        return 1
    }
    EXIT_STATUS=0
    wait "$pid" || EXIT_STATUS=$?
}

# wait_until [-t SECS] [-i SECS] CMD [ARGS...]: runs CMD (a command or a
# function, in this shell, so it may set variables) until it succeeds, every
# 0.05 s (-i), and fails when it has not within SECS (-t, default 10;
# fractions allowed): it then says on stderr what it waited for. The
# condition is tried once more at the deadline. Callers add what to show on
# failure: wait_until grep -q x "$log" || { cat "$log"; false; }
wait_until() {
    local secs=10 every=0.05
    while [ $# -gt 0 ]; do
        case $1 in
        -t) secs=$2; shift 2 ;;
        -i) every=$2; shift 2 ;;
        --) shift; break ;;
        *) break ;;
        esac
    done
    # deadline in microseconds, from bash's clock: no fork per poll
    local whole=${secs%.*} frac=
    [[ $secs == *.* ]] && frac=${secs#*.}
    frac=${frac}000000
    local now=${EPOCHREALTIME/[.,]/}
    local deadline=$((now + 10#${whole:-0} * 1000000 + 10#${frac:0:6}))
    until "$@"; do
        now=${EPOCHREALTIME/[.,]/}
        if [ "$now" -ge "$deadline" ]; then
            "$@" && return 0
            echo "wait_until: gave up after $secs s waiting for: $*" >&2
            return 1
        fi
        sleep "$every"
    done
}

# Conditions for wait_until (each a command, so it is run afresh each time):
# is_gone PID...: not all of the PIDs run any more (kill -0 fails).
is_gone() { ! kill -0 "$@" 2>/dev/null; }
# not CMD [ARGS...]: CMD fails.
not() { ! "$@"; }
# prints WANT CMD [ARGS...]: CMD prints exactly WANT (its status aside).
prints() {
    local want=$1; shift
    [ "$("$@")" = "$want" ]
}
# file_has_line FILE REGEX: a line of FILE matches the extended REGEX (no
# error when FILE does not exist yet).
file_has_line() { grep -Eq -- "$2" "$1" 2>/dev/null; }

# wait_for_line FILE REGEX [SECS]: waits (deadline SECS, default 10) until a
# line of FILE matches the extended REGEX; shows FILE when none does.
wait_for_line() {
    wait_until -t "${3:-10}" file_has_line "$1" "$2" || {
        echo "no line matching '$2' in $1 within ${3:-10} s; it holds:" >&2
        cat "$1" >&2
        return 1
    }
}

# sha FILE: the sha256 of FILE (or stdin with -).
sha() { sha256sum "${1:--}" | cut -d' ' -f1; }

# ---- helpers shared by the stage 1/3/4, robustness and interop tests ----

# stage_dir STAGE: the directory of a stage, from the one list of stages
# (common/stages.def, printed by tools/stages).
stage_dir() { "$ROOT/tools/stages" "$1" dir; }

# stages_framed FRAMING...: the numbers of the stages whose framing (in the
# same list) is one of FRAMING, in order. "raw len json" are the document's
# command servers (stages 1, 3, 4: a request is one recv, run by sh); "len
# json" those of them whose replies are framed.
stages_framed() {
    "$ROOT/tools/stages" | awk -F '\t' -v want=" $* " 'index(want, " " $4 " ") { print $1 }'
}

# run_client STAGE PORT INPUT [SECS]: feeds INPUT to STAGE's client talking
# to PORT (killed after SECS, default 20); its stdout and stderr go to
# $BATS_TEST_TMPDIR/out and /err, its exit status to $status, as bats' run
# would set it (run itself cannot keep stdout and stderr apart as files).
# shellcheck disable=SC2034  # the calling test reads status
run_client() {
    status=0
    printf '%s' "$3" | timeout "${4:-20}" "$ROOT/$(stage_dir "$1")/client" -p "$2" \
        >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" || status=$?
}

# same_bytes WANT GOT: the two files hold the same bytes; if not, shows their
# sizes, where they first differ and how each begins.
same_bytes() {
    if ! cmp -s "$1" "$2"; then
        echo "expected $1 ($(stat -c %s "$1") bytes), got $2 ($(stat -c %s "$2") bytes)"
        cmp "$1" "$2" || true
        echo "expected bytes:"; head -c 300 "$1" | od -c | head -20
        echo "got bytes:"; head -c 300 "$2" | od -c | head -20
        return 1
    fi
}

# expect_bytes FILE FORMAT [ARGS...]: FILE holds exactly printf FORMAT ARGS.
expect_bytes() {
    local file=$1; shift
    # shellcheck disable=SC2059  # FORMAT is the caller's printf format
    printf "$@" >"$BATS_TEST_TMPDIR/expected"
    same_bytes "$BATS_TEST_TMPDIR/expected" "$file"
}

# wait_for_log NAME REGEX: polls the log of the server start_server named
# NAME for a line matching the extended REGEX, deadline 10 s.
wait_for_log() { wait_for_line "$BATS_TEST_TMPDIR/$1.log" "$2"; }

# need_ipv6_loopback: skips the test, saying why, on a machine without ::1
# on its loopback interface (a container started without IPv6).
need_ipv6_loopback() {
    grep -qs '^00000000000000000000000000000001 .* lo$' /proc/net/if_inet6 ||
        skip "no IPv6 loopback (::1) on this machine"
}

# process_pids CMDLINE: the PIDs of the processes whose command line is
# exactly CMDLINE (arguments joined by single spaces), one a line. Read from
# /proc, so it needs no procps; fails (status 2) when /proc cannot be read:
# a check that cannot look must not pass.
process_pids() {
    local want=$1 f IFS=' '
    local -a args
    if [ ! -r /proc/self/cmdline ]; then
        echo "cannot read /proc: cannot tell which processes run" >&2
        return 2
    fi
    for f in /proc/[0-9]*/cmdline; do
        { mapfile -d '' -t args <"$f"; } 2>/dev/null || continue
        if [ "${#args[@]}" -gt 0 ] && [ "${args[*]}" = "$want" ]; then
            f=${f#/proc/}
            echo "${f%/cmdline}"
        fi
    done
}

# children_of PID: one line "PID STATE COMMAND" for each child of PID,
# zombies (STATE Z) included. From /proc, like process_pids, and failing
# the same way when /proc cannot be read.
children_of() {
    local parent=$1 f stat rest state ppid pid IFS=' '
    local -a args
    if [ ! -r /proc/self/stat ]; then
        echo "cannot read /proc: cannot tell which processes run" >&2
        return 2
    fi
    for f in /proc/[0-9]*/stat; do
        { read -r stat <"$f"; } 2>/dev/null || continue
        rest=${stat##*) }           # after "PID (COMMAND) "; COMMAND may hold ") "
        read -r state ppid _ <<<"$rest"
        [ "$ppid" = "$parent" ] || continue
        pid=${f#/proc/}; pid=${pid%/stat}
        { mapfile -d '' -t args <"/proc/$pid/cmdline"; } 2>/dev/null || args=()
        if [ "${#args[@]}" -eq 0 ]; then       # a zombie has no command line left
            args=("${stat#*(}")
            args=("[${args[0]%%) *}]")
        fi
        echo "$pid $state ${args[*]}"
    done
}

# process_runs ARGS: some process has exactly the command line ARGS.
process_runs() { [ -n "$(process_pids "$1")" ]; }

# no_process_runs ARGS [SECS]: polls (deadline SECS, default 5) until no
# process has exactly the command line ARGS (a killed command must not live
# on). Fails when it cannot look.
no_process_runs() {
    local deadline=$((SECONDS + ${2:-5})) pids
    while :; do
        pids=$(process_pids "$1") || return 1
        [ -n "$pids" ] || return 0
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "still running: $1 (PID $(echo $pids))"
            return 1
        fi
        sleep 0.05
    done
}

# exits_0_on_sigterm_and_sigint PROGRAM [ARGS...]: starts the server PROGRAM
# ARGS twice (as srv) and stops it once with SIGTERM, once with SIGINT;
# fails unless it exits 0 both times.
exits_0_on_sigterm_and_sigint() {
    local sig
    for sig in TERM INT; do
        start_server srv "$@"
        # shellcheck disable=SC2154  # start_server sets srv_pid
        kill -s "$sig" "$srv_pid"
        wait_for_exit "$srv_pid"
        echo "$1 SIG$sig: exit $EXIT_STATUS"
        [ "$EXIT_STATUS" -eq 0 ] || return 1
    done
}

# ---- memory bounds that hold on a sanitizer build too (make check-asan) ----
# An ASan build reserves terabytes of address space for its shadow and keeps
# freed memory in a quarantine, so `ulimit -v` cannot run it and its RSS
# starts ~20 MB higher. Under NIANBAO_SANITIZER (set by tools/check-asan.sh)
# these helpers bound the same thing by another means: the peak RSS above
# what the same program holds when it does nothing (its --version), with
# the quarantine cut to 8 MB for that run. Under valgrind (NIANBAO_VALGRIND,
# set by tools/check-valgrind.sh) memory cannot be measured: the test is
# skipped, saying so (make test and make check-asan measure it).

# peak_rss_kb FILE CMD...: runs CMD (stdout and stderr as the caller's);
# writes its peak RSS in KiB to FILE, less RSS_BASE_KB (see rss_base_kb).
# Returns CMD's status. Call it directly, not in $(...).
peak_rss_kb() {
    local file=$1; shift
    local rc=0
    rss_base_kb "$1"
    /usr/bin/time -f '%M' -o "$file" "$@" || rc=$?
    # time(1) writes "Command exited with non-zero status N" first then
    echo $(( $(tail -n 1 "$file") - RSS_BASE_KB )) >"$file"
    return "$rc"
}

# rss_base_kb PROGRAM: sets RSS_BASE_KB to what a memory bound must not
# count of PROGRAM's peak RSS: 0, or under a sanitizer the peak RSS of
# `PROGRAM --version` (its run time's own share; the quarantine is then cut
# to 8 MB for the rest of the test). Skips the test under valgrind. Call it
# directly, not in $(...): it exports and may skip.
rss_base_kb() {
    RSS_BASE_KB=0
    if [ -n "${NIANBAO_VALGRIND:-}" ]; then
        skip "memory is not measured under valgrind"
    fi
    [ -n "${NIANBAO_SANITIZER:-}" ] || return 0
    export ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=8"
    /usr/bin/time -f '%M' -o "$BATS_TEST_TMPDIR/rss_base" "$1" --version >/dev/null || return 1
    RSS_BASE_KB=$(tail -n 1 "$BATS_TEST_TMPDIR/rss_base")
}

# within_memory KB CMD...: runs CMD with at most KB KiB of address space
# (ulimit -v); under a sanitizer, fails (status 125) when its peak RSS grows
# more than KB KiB over its baseline. Returns CMD's status otherwise.
within_memory() {
    local limit=$1; shift
    if [ -n "${NIANBAO_VALGRIND:-}" ]; then
        skip "memory is not measured under valgrind"
    fi
    if [ -z "${NIANBAO_SANITIZER:-}" ]; then
        (ulimit -v "$limit"; exec "$@")
        return
    fi
    local rc=0
    peak_rss_kb "$BATS_TEST_TMPDIR/within_memory" "$@" || rc=$?
    local used
    used=$(cat "$BATS_TEST_TMPDIR/within_memory")
    if [ "$used" -gt "$limit" ]; then
        echo "within_memory: $1 grew by $used KiB, more than $limit" >&2
        return 125
    fi
    return "$rc"
}

# count_lines REGEX: how many lines of the server's log match.
count_lines() { grep -Ec -- "$1" "$BATS_TEST_TMPDIR/srv.log" || true; }

# wait_for_lines REGEX N: waits (wait_until's deadline) until N lines of the
# log of the server started as srv match the extended REGEX.
at_least_lines() { [ "$(count_lines "$1")" -ge "$2" ]; }
wait_for_lines() {
    wait_until at_least_lines "$1" "$2" || {
        echo "fewer than $2 lines match '$1':"; cat "$BATS_TEST_TMPDIR/srv.log"
        return 1
    }
}
