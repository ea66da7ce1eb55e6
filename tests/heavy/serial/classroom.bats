#!/usr/bin/env bats
# A classroom in network namespaces (issue 17, item 2), at full size: for
# each stage 6 model, the teacher's server in one namespace, bound to its
# bridge's address (10.199.17.1) with --sandbox --read-only --timeout 2
# --idle 3 --send-timeout 3 --max-output 8 MiB, and three rooms of 15
# students in three others, each room joined to the bridge by a link of
# MTU 1280 that delays every frame 20 ms each way: netem where the kernel
# has it, else tests/tools/delayline between two taps (the network and the
# students are test_helper/classroom.bash). The small version, one model
# and 21 students, is tests/classroom.bats. In serial/ (after the rest of
# the heavy tier, nothing beside it): it measures latency, and with other
# heavy tests on the same two cores an ordinary student's `echo` once took
# longer than the server's --timeout of 2 s (CI rehearsal).
#
# The 45 students, at once, each round after round (1-2 s apart, each
# student at its own moments) until the good client is done: 32 ordinary
# ones (exec with its exact output checked, get with its SHA-256, loadgen
# --verify of 5 execs or 5 gets),
# 12 hazards: two
# fork bombs, rm -rf ~ (and the teacher's home, by path), writes outside
# the root (a canary, the secret, /tmp, the repository, the home), three
# reads of the teacher's secret (cat by path and through /proc, find /,
# get ../../.ssh/id_ed25519 and get by absolute path), yes, two sleep 1e9,
# 1,000 connections that say nothing (loadgen --idle, reopened every 3 s)
# and a client that gets a 32 MiB file and stops reading; and the good
# client, room 1's first student: loadgen --verify, 300 execs one after
# another (fork 100, iterative 20), then as many gets of a 64 KiB file,
# alone first, then once the storm is on (900 connections up).
#
# Asserted for every model: every ordinary request answered and verified;
# the canaries and the secret byte-identical with mtime and atime unchanged
# (atime: where the mount tracks it), nothing written outside the root, the
# secret's bytes (any quarter of them) in no reply, log or capture of the
# teacher's bridge (and the capture does hold the students' replies); no
# process left (none carrying the hazards' tag, none below the server, the
# teacher's namespace back to the server alone or, for fork, its parent);
# the server's descriptors back to their count before the storm.
# Latency: the good client's p99 during the storm within 3x of alone, for
# its execs and for its gets, for poll and thread: what the server does for
# one client while the class storms it. Reported for fork (a process per
# connection makes 1,000 idle connections 1,000 processes). Each request
# crosses the rooms' link, 40 ms there and back, alone and in the storm
# alike, as in a classroom (see p99_within for a kernel with neither netem
# nor /dev/net/tun). A command's latency is the CPU's: two fork bombs, yes,
# find / and 44 clients (whose laptops are, here, the server's own two
# cores) run beside the good client's bwrap. --sandbox demotes a command
# that has used 100 ms of CPU to nice 19, its session's autogroup too
# (README, "Teaching on a classroom network"), and the server runs in a
# session of its own, as on a teacher's machine (classroom_run).
#
# iterative serves one client at a time, by design: a sleep 1e9 holds it
# for --timeout, a connection that says nothing for --idle, the client that
# stops reading for --send-timeout, and the 1,000 idle connections fill its
# accept queue (backlog 1024), so late clients wait for SYN retries. So
# each student goes once (one round), the good client asks 20 times, and
# what is asserted is safety and that every ordinary request is answered
# within a bound: 12 hazards x 4 s (the longest of those limits, 3 s, and
# a second to spare) + 3 s of idle connections held + 31 s of SYN retries
# (1 + 2 + 4 + 8 + 16) + 30 s for the 136 ordinary requests = 112 s, 120
# with the rest. Its latency is reported, not asserted.
#
# Root only (network namespaces), skipped otherwise and on sanitized
# builds, with the reason. About 3.5 minutes on an idle 2-core machine
# (the good client's 600 requests, alone and in the storm, 40 ms each at least).
# Each test prints its row of the table on fd 3 (and appends it to the
# file named by NIANBAO_CLASSROOM_FIGURES, when set).

# start_server sets srv_pid/srv_port, the helper sets the rest:
# shellcheck disable=SC2154
bats_require_minimum_version 1.5.0

setup() {
    load '../../test_helper/common-setup'
    _common_setup
    load '../../test_helper/classroom'
    classroom_needs
    classroom_net delay
    classroom_files
}

teardown() {
    classroom_teardown
}

# p99_within OP FACTOR: the good client's p99 for OP (exec, get) during the
# storm is at most FACTOR times its p99 alone. The link puts a 40 ms round
# trip into every request (netem, or tests/tools/delayline). Only where
# the kernel has neither netem nor /dev/net/tun (tbf paces the link, and
# adds no delay) is the bar applied to the figures with that round trip
# added: alone, a get then takes 0.6 ms, and a few milliseconds of
# scheduling on two shared cores would be 5-13x of it. The raw ratio is
# printed beside.
p99_within() {
    local alone="FIG_P99_ALONE_${1^^}" storm="FIG_P99_STORM_${1^^}"
    awk -v alone="${!alone}" -v storm="${!storm}" -v f="$2" -v op="$1" -v rtt="$((40 - LINK_RTT_MS))" 'BEGIN {
        printf "%s p99 %.3f ms in the storm, %.3f ms alone: %.2fx", op, storm, alone, storm / alone
        if (rtt > 0)
            printf "; with netem'"'"'s %d ms round trip: %.2fx", rtt, (storm + rtt) / (alone + rtt)
        printf " (bar %sx)\n", f
        exit !(storm + rtt <= f * (alone + rtt)) }'
}

# assert_p99_within OP FACTOR: p99_within, its line on fd 3 either way.
assert_p99_within() {
    local verdict rc=0
    verdict=$(p99_within "$@") || rc=$?
    echo "# $verdict -- asserted" >&3
    echo "$verdict"
    return "$rc"
}

# About 80 s.
@test "classroom, poll: 45 students and 1,000 idle connections; all verified, nothing escapes, p99 within 3x" {
    classroom_run poll 15 1000 60 300
    assert_p99_within exec 3
    assert_p99_within get 3
}

# About 80 s.
@test "classroom, thread: 45 students and 1,000 idle connections; all verified, nothing escapes, p99 within 3x" {
    classroom_run thread 15 1000 60 300
    assert_p99_within exec 3
    assert_p99_within get 3
}

# About 35 s: a process per connection, 1,000 of them at once.
@test "classroom, fork: 45 students and 1,000 idle connections; all verified, nothing escapes (p99 reported)" {
    classroom_run fork 15 1000 30 100
    echo "# $(p99_within get 3 || true) -- reported, not asserted" >&3
    echo "# $(p99_within exec 3 || true) -- reported, not asserted" >&3
}

# About 26 s: one client at a time (see above for the bound).
@test "classroom, iterative: every student answered within 120 s, nothing escapes (latency reported)" {
    classroom_run iterative 15 1000 1 20
    echo "the class took $CLASS_SECS s"
    [ "$CLASS_SECS" -le 120 ]
    echo "# $(p99_within get 3 || true) -- reported, not asserted" >&3
    echo "# $(p99_within exec 3 || true) -- reported, not asserted" >&3
}
