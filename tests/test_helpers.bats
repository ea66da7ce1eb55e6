#!/usr/bin/env bats
# The test helpers that look for processes (test_helper/common-setup.bash):
# a check that cannot run must fail, never pass. They read /proc, so they
# work without procps (ps, pgrep) too: these tests run them with a PATH
# where no program can be found.

bats_require_minimum_version 1.5.0

setup() { load 'test_helper/common-setup'; _common_setup; }
teardown() { _common_teardown; }

# A command line no other process on the machine has.
unique_sleep() { printf '100.%s%s' "$BATS_ROOT_PID" "$RANDOM"; }

# without_procps: a directory with `sleep` and nothing else, for PATH: a
# machine without procps (no ps, no pgrep), as far as the helpers can tell.
without_procps() {
    mkdir -p "$BATS_TEST_TMPDIR/bin"
    ln -sf "$(command -v sleep)" "$BATS_TEST_TMPDIR/bin/sleep"
    echo "$BATS_TEST_TMPDIR/bin"
}

# sleep_started PID: waits (deadline 10 s) until background job PID has
# become sleep: until its exec, its command line is still the shell's.
is_sleep() {
    local comm=
    { read -r comm <"/proc/$1/comm"; } 2>/dev/null || comm=
    [ "$comm" = sleep ]
}
sleep_started() { wait_until -i 0.01 is_sleep "$1"; }

@test "no_process_runs fails while the process runs, and passes once it is gone, without procps" {
    local forever
    forever=$(unique_sleep)
    sleep "$forever" 3>&- &
    STARTED_PIDS+=("$!")
    local sleeper=$!
    sleep_started "$sleeper"
    local bin
    bin=$(without_procps)
    run bash -c "$(declare -f process_pids no_process_runs); PATH=$bin; no_process_runs 'sleep $forever' 1"
    assert_failure
    assert_output "still running: sleep $forever (PID $sleeper)"
    kill "$sleeper"
    run bash -c "$(declare -f process_pids no_process_runs); PATH=$bin; no_process_runs 'sleep $forever' 5"
    assert_success
}

@test "process_pids matches the whole command line, not a part of it" {
    local forever
    forever=$(unique_sleep)
    sleep "$forever" 3>&- &
    STARTED_PIDS+=("$!")
    sleep_started "$!"
    run process_pids "sleep $forever"
    assert_output "$!"
    run process_pids "sleep ${forever%?}"
    assert_output ""
    run process_pids "sleep"
    refute_output --partial "$!"
}

@test "children_of lists a child that was never reaped (a zombie), without procps" {
    # The shell forks a child, then becomes a sleep that never waits: the
    # child stays a zombie of that process. The child exits only once its
    # parent is the sleep; a child that exited sooner could be reaped by the
    # shell's SIGCHLD handler before the exec, and there would be no zombie.
    local forever
    forever=$(unique_sleep)
    bash -c 'p=$$; { c=; until [ "$c" = sleep ]; do read -r c </proc/$p/comm; sleep 0.01; done; } & exec sleep '"$forever" 3>&- &
    STARTED_PIDS+=("$!")
    local parent=$!
    has_zombie_child() { [[ $(children_of "$1") == *" Z "* ]]; }
    wait_until has_zombie_child "$parent"
    run bash -c "$(declare -f children_of); PATH=$(without_procps); children_of $parent"
    assert_success
    assert_output --regexp '^[0-9]+ Z \[[a-z]+\]$'
    run children_of "$BASHPID.0"
    assert_output ""
}
