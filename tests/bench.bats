#!/usr/bin/env bats
# `make bench` (bench/run.sh) on a tiny setting: it measures every part and
# writes its tables and plot; it never fails on a number, only when
# something breaks - shown here with a client that changes one byte.

bats_require_minimum_version 1.5.0

setup() {
    load 'test_helper/common-setup'
    _common_setup
    local p
    for p in bench/raw_server bench/raw_client bench/spawn_loop bench/tiny_sends bench/md5_speed \
        bench/rr_server bench/rr_client bench/rr_record; do
        [ -x "$ROOT/$p" ] || skip "$p is not built (make bench-programs builds it)"
    done
}
teardown() { _common_teardown; }

# tiny_bench ROOT_DIR: bench/run.sh of ROOT_DIR on sizes small enough for a
# test, results in $BATS_TEST_TMPDIR/results; bats' run sets the outcome.
tiny_bench() {
    run --separate-stderr env BENCH_SIZES="1024 65536" BENCH_RUNS=1 BENCH_ROUNDTRIPS=5 \
        BENCH_TINY_SENDS=1000 BENCH_SEQS="10 30 100" BENCH_RACE_RUNS=5 \
        BENCH_STAGE5_BYTES=1048576 STAGE6_LEVELS="1 2" STAGE6_TOTAL=4 STAGE6_IDLE=10 \
        STAGE6_GOOD=5 STAGE6_MODELS="iterative poll" POLL_FLOOR_LEVELS="1 2" POLL_FLOOR_TOTAL=4 \
        POLL_FLOOR_ROUNDS=1 BENCH_SANDBOX_RUNS=5 BENCH_CLASS_SIZE=2 \
        BENCH_RESULTS="$BATS_TEST_TMPDIR/results" NIANBAO_DOCUMENT="${NIANBAO_DOCUMENT:-/nonexistent}" \
        timeout 300 "$1/bench/run.sh" 3>&-
}

@test "bench/run.sh measures every part and writes the table, the data and the plot" {
    tiny_bench "$ROOT"
    echo "$stderr"
    assert_success
    local md="$BATS_TEST_TMPDIR/results/bench.md"
    [ -s "$md" ]
    run grep -c '^## ' "$md"
    assert_output 16
    run cat "$md"
    assert_line '## Throughput: `head -c N /dev/zero`, client start to exit (seconds)'
    assert_line --regexp '^\| 64 KiB \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|'
    assert_line --regexp '^\| 5 local `sh -c true` spawns \(baseline\) \| [0-9.]+ \| [0-9.]+ \| 1\.00 \|$'
    assert_line --regexp '^\| `true` through stage 4 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|$'
    assert_line --regexp '^\| 1000 sends of 64 bytes \(bench/tiny_sends\) \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| '
    assert_line --regexp '^\| `seq 1 100` \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|$'
    assert_line --regexp '^`hello` alone: [0-9]+ of 5; `helloworld`: [0-9]+ of 5\.$'
    assert_line --regexp '^\| stage 4 vs its hash limit at 64 KiB \| '
    # --sandbox's cost, or why it was not measured (no bubblewrap)
    assert_line --regexp '^\| 5 \| ([0-9.]+ ms \| [0-9.]+ ms \| -?[0-9.]+ ms|- \| - \| not measured: .+) \|$'
    # a class through tools/grade --each, and its targets (not held to 60 s at 2)
    assert_line --regexp '^\| starter \(0/14\) \| [0-9.]+ s \| [0-9.]+ s \| [0-9.]+× \|$'
    assert_line --regexp '^\| finished \(14/14\) \| [0-9.]+ s \| [0-9.]+ s \| [0-9.]+× \|$'
    assert_line --regexp '^\| 2 starter Python stage 3 clients, `--each` \| [0-9.]+ s \(one alone: [0-9.]+ s\) \| ≤ 60 s \| - \(a class of 2\) \|$'
    # stages 5 and 6, in the same run
    assert_line --regexp '^\| stage 5 download, 1 MiB \| [0-9.]+ s \| [0-9.]+ s \| [0-9.]+× \| '
    assert_line --regexp '^\| stage 5 download again, 1 MiB \(SHA-256 remembered\) \| [0-9.]+ s \| [0-9.]+ s \| [0-9.]+× \| '
    assert_line --regexp '^\| stage 5 download again \(SHA-256 remembered\), 1 MiB, vs raw \| [0-9.]+× '
    assert_line --regexp '^\| again \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+× \|$'
    assert_line --regexp '^\| stage 5 streamed exec, 1 MiB, vs raw \| [0-9.]+× \([0-9.]+ s; raw [0-9.]+ s; '
    assert_line --regexp '^\| stage 5 peak RSS, server / client, any of the three \| [0-9.]+ / [0-9.]+ MiB \| '
    assert_line --regexp '^\| poll \| 2 \| [0-9.]+ \| '
    assert_line --regexp '^\| stage 6 poll: a good client.s p99 beside 10 idle connections \(10 held\) vs alone \| [0-9.]+× '
    [ -s "$BATS_TEST_TMPDIR/results/stage5.md" ]
    [ -s "$BATS_TEST_TMPDIR/results/stage6.md" ]
    # the poll model against its floor, the bytes of a get recorded in the run
    assert_line --regexp '^\| 2 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+× \| [0-9.]+ \| [0-9.]+× \|$'
    assert_line --regexp '^\| stage 6 poll, gets of 4 KiB at 2 clients, vs epoll alone with the same bytes \([0-9]+ up, [0-9]+ down\) \| [0-9.]+× \(.+\) \| ≥ 0\.6× \| (yes|no) \|$'
    [ -s "$BATS_TEST_TMPDIR/results/poll_floor.tsv" ]
    # the table is also printed, and where the results are
    assert_output --partial '## The targets of issue 8, in this run'
    [[ $stderr == *"bench: results in "* ]]
    run head -n 1 "$BATS_TEST_TMPDIR/results/throughput.tsv"
    assert_output --regexp $'^size\traw\tstage1\tstage3\tstage4'
    if command -v gnuplot >/dev/null; then
        run head -c 200 "$BATS_TEST_TMPDIR/results/bench.svg"
        assert_output --partial '<svg'
    fi
}

@test "bench/run.sh fails, naming the implementation, when a client's bytes are wrong" {
    # A copy of the tree made of links to the real programs, but a stage 3
    # client that turns the first zero byte of its output into an x.
    local fake="$BATS_TEST_TMPDIR/tree" dir f
    for dir in bench $("$ROOT/tools/stages" | cut -f2) tools viewer tests; do
        mkdir -p "$fake/$dir"
        for f in "$ROOT/$dir"/*; do ln -s "$f" "$fake/$dir/"; done
    done
    rm "$fake/stage3_struct_len/client" "$fake/bench/run.sh"
    cp "$ROOT/bench/run.sh" "$fake/bench/run.sh"
    printf '#!/bin/sh\n"%s" "$@" | sed "1s/\\x00/x/"\n' "$ROOT/stage3_struct_len/client" \
        >"$fake/stage3_struct_len/client"
    chmod +x "$fake/stage3_struct_len/client"
    tiny_bench "$fake"
    assert_failure 1
    assert_equal "${stderr_lines[-1]}" "bench: stage 3: 1024 bytes (1023 zeros) came for 1024 zeros"
}

@test "bench/run.sh --help says what it measures and how to set it" {
    run "$ROOT/bench/run.sh" --help
    assert_success
    assert_line --index 0 'bench/run.sh - `make bench`: the lab'"'"'s speed and memory, side by side, in'
    assert_output --partial 'BENCH_QUICK=1'
    refute_output --partial 'set -euo'
}
