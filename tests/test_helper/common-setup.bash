# Shared set-up for every .bats file: load bats-support/bats-assert, find
# the repo, and start servers on port 0 by reading their "listening on" line.

_common_setup() {
    load '/usr/lib/bats/bats-support/load'
    load '/usr/lib/bats/bats-assert/load'
    ROOT="$(cd "$BATS_TEST_DIRNAME/.." && pwd)"
    export ROOT
    STARTED_PIDS=()
}

_common_teardown() {
    local pid
    for pid in "${STARTED_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
}

# start_server NAME PROGRAM [ARGS...]
# Starts PROGRAM in the background with stderr in $BATS_TEST_TMPDIR/NAME.log,
# waits (deadline 10 s) for its "listening on ADDR:PORT" line, and sets
# NAME_pid and NAME_port. Fails the test when the line never comes.
start_server() {
    local name=$1; shift
    local log="$BATS_TEST_TMPDIR/$name.log"
    : >"$log"
    "$@" </dev/null >"$BATS_TEST_TMPDIR/$name.out" 2>"$log" 3>&- &
    local pid=$!
    STARTED_PIDS+=("$pid")
    printf -v "${name}_pid" '%s' "$pid"
    local deadline=$((SECONDS + 10)) line
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
            echo "$name did not announce 'listening on' within 10 s:" >&2; cat "$log" >&2
            return 1
        fi
        sleep 0.05
    done
}

# wait_for_exit PID [SECS]: waits for PID to end (deadline, default 10 s);
# sets EXIT_STATUS. Fails when it is still running at the deadline.
wait_for_exit() {
    local pid=$1 secs=${2:-10}
    local deadline=$((SECONDS + secs))
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "process $pid still running after $secs s" >&2
            return 1
        fi
        sleep 0.05
    done
    EXIT_STATUS=0
    wait "$pid" || EXIT_STATUS=$?
}

# sha FILE: the sha256 of FILE (or stdin with -).
sha() { sha256sum "${1:--}" | cut -d' ' -f1; }
