# shellcheck shell=bash
# bench/lib.sh - what the bench scripts share; sourced, never run.

# bench_listening LOG PID: waits for the "listening on ADDR:PORT" line that
# the server PID writes to LOG (a look every 25 ms, 10 s at most) and prints
# PORT. When PID exits first or the time is up, prints LOG on stderr and
# returns 1.
bench_listening() {
    local log=$1 pid=$2 tries=0 port
    until port=$(sed -n 's/^listening on .*://p' "$log" 2>/dev/null) && [ -n "$port" ]; do
        tries=$((tries + 1))
        if [ "$tries" -gt 400 ] || ! kill -0 "$pid" 2>/dev/null; then
            cat "$log" >&2
            return 1
        fi
        sleep 0.025
    done
    printf '%s\n' "${port%%$'\n'*}"
}
