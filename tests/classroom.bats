#!/usr/bin/env bats
# A classroom in network namespaces, small (issue 17, item 2; the full class,
# each model with 45 students and 1,000 idle connections, is
# tests/heavy/serial/classroom.bats): the teacher's poll server in one namespace,
# bound to its bridge's address with --sandbox --read-only, three rooms of
# 7 students in three others (veth pairs, MTU 1280, netem delay 20ms or else
# a tbf rate; test_helper/classroom.bash draws the network). The students
# run ordinary commands and gets (every reply verified) beside a fork bomb,
# rm -rf ~, writes outside the root, reads of the teacher's secret, yes,
# sleep forever, 100 idle connections and a client that stops reading.
# Asserted: every ordinary request answered and verified; the canaries and
# the secret byte-identical, mtime and atime unchanged, the secret's bytes
# in no reply, log or capture; no process left; the server's descriptors
# and the teacher's namespace back to where they were. Latency is measured
# and printed, not asserted: this tier runs beside other tests.
# Root only; skipped otherwise, or on a sanitized build, with the reason.

# start_server sets srv_port/srv_pid, the helper sets the rest:
# shellcheck disable=SC2154
bats_require_minimum_version 1.5.0

setup() {
    load 'test_helper/common-setup'
    _common_setup
    load 'test_helper/classroom'
    classroom_needs
}

teardown() {
    classroom_teardown
}

# About 10 s on an idle 2-core machine: 21 students, one round each (the
# client that stops reading holds its pipe 8 s once its reply begins), the
# hazards ending at --timeout 2, the 100 idle connections at --idle 3.
@test "a small classroom on the poll server: ordinary requests verified, the hazards leave nothing (about 10 s)" {
    classroom_net
    classroom_files
    classroom_run poll 7 100 1 20
}
