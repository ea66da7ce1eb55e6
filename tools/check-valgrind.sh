#!/usr/bin/env bash
# tools/check-valgrind.sh - `make check-valgrind`: the lab's clients,
# servers, tools and viewer under valgrind's memcheck (issue 8).
#
# A copy of the tree (tools/sanitized-tree.sh) is built as usual (-O1 -g)
# and copied once more beside it (WORK/real). In the copy the tests run in,
# every program is then a two-line script that execs valgrind on the real
# binary of WORK/real, so the tests themselves are unchanged and
# /proc/self/exe still finds a program's siblings (the viewer's tap and
# catalogue). valgrind: memcheck, --error-exitcode=96, definite leaks are
# errors, one log file per process; the run fails when a test fails or any
# log holds an error. Children after fork are not checked (only the few
# lines before their exec run there: the commands run are /bin/sh's).
#
# Valgrind makes each program 20-50 times slower, so the files run are a
# choice (26 minutes here one test at a time, on 2 cores shared with other
# work; tests/run_suite.sh runs them several at a time, as make test does:
# NIANBAO_TEST_JOBS sets how many): CHECK_VALGRIND_TESTS overrides it (a
# list of bats files). The default covers every program:
#   stage1/3/4.bats         the clients and servers of stages 1, 3 and 4
#   stage2.bats             the four UDP and TCP demo programs
#   bad_input.bats          the error paths of flags and peers, canned
#   chaos.bats              the slicer, between the stages' programs
#   viewer_decode.bats      the viewer's decoder and dumps (20,000 conns)
#   fuzz_corpus.bats        the fuzz harnesses on their seeds (stage 5's
#                           server and client, stage 6's handler included)
#   stage5_names.bats       stage 5: every refused name, symlinks, FIFOs
#   stage5_resume.bats      stage 5: interrupted and resumed get and put
#   stage5_wire.bats        stage 5: requests and replies cut, glued,
#                           corrupted, out of step, from another protocol
# and, of stage6.bats (CHECK_VALGRIND_FILTERED: a file, a tab, a bats
# --filter regex, one a line), the tests that run each model's serving
# code without a load: get, put, exec and a refused name on all four,
# bad options, --frame-timeout and --idle, and SIGTERM's graceful stop
# (the server exits, so its leaks are checked too).
# Left out for time: server_robust.bats, canned.bats (their programs and
# paths are in the files above), stage5.bats (100 MiB up and down; its
# paths are in the stage 5 files above), the rest of stage6.bats (100
# clients at once, slow readers: a load test, not a memory one) and
# storm.bats (storms of bad connections; the storm tool itself is then not
# run under valgrind). The heavy tier (tests/heavy/) repeats at scale what
# these files prove.
#
# Environment: NIANBAO_KEEP_CHECK=1 keeps the temporary trees.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/sanitized-tree.sh
. "$here/sanitized-tree.sh"

start=$SECONDS
if ! command -v valgrind >/dev/null; then
    echo "check-valgrind: valgrind is not installed (apt-get install valgrind)" >&2
    exit 1
fi
copy_tree valgrind
echo "check-valgrind: building a copy in $TREE"
if ! make -C "$TREE" -j"${CHECK_JOBS:-2}" CFLAGS="-O1 -g" all >"$WORK/build.log" 2>&1; then
    cat "$WORK/build.log" >&2
    echo "check-valgrind: the build failed" >&2
    exit 1
fi
real=$WORK/real
cp -a "$TREE" "$real"

reports=$WORK/reports
mkdir "$reports"
# Every program the Makefile builds, except shared libraries and scripts.
programs=$(cd "$TREE" && for f in stage*_*/* tools/* viewer/* fuzz/replay-*; do
    [ -f "$f" ] && [ -x "$f" ] && case $(head -c 4 "$f") in $'\x7fELF') ;; *) continue ;; esac &&
        [[ $f != *.so ]] && echo "$f"
done)
for prog in $programs; do
    name=$(basename "$prog")
    cat >"$TREE/$prog" <<SH
#!/bin/sh
exec valgrind -q --tool=memcheck --error-exitcode=96 --leak-check=full \\
    --show-leak-kinds=definite --errors-for-leak-kinds=definite \\
    --child-silent-after-fork=yes --vgdb=no \\
    --log-file='$reports/$name.%p' '$real/$prog' "\$@"
SH
done
echo "check-valgrind: $(echo "$programs" | wc -w) programs under memcheck"

tests=${CHECK_VALGRIND_TESTS:-"tests/stage1.bats tests/stage3.bats tests/stage4.bats tests/stage2.bats tests/bad_input.bats tests/chaos.bats tests/viewer_decode.bats tests/fuzz_corpus.bats tests/stage5_names.bats tests/stage5_resume.bats tests/stage5_wire.bats"}
filtered=${CHECK_VALGRIND_FILTERED-"tests/stage6.bats	every model|models refuse bad options|(iterative|thread|poll): --frame-timeout|(iterative|poll): SIGTERM"}
echo "check-valgrind: bats $tests"
export NIANBAO_VALGRIND=1
# A valgrind'd server takes seconds to answer: the clients' busy notice
# (after 3 s) would land in output the tests check.
export NIANBAO_BUSY_NOTICE=600
# shellcheck disable=SC2086  # a list of files
(cd "$TREE" && tests/run_suite.sh --timing $tests)
bats_status=$?
while IFS=$'\t' read -r file regex; do
    [ -n "$file" ] || continue
    echo "check-valgrind: tests/run_suite.sh --filter '$regex' $file"
    (cd "$TREE" && tests/run_suite.sh --timing --filter "$regex" "$file") ||
        bats_status=$?
done <<<"$filtered"

status=0
if [ "$bats_status" -ne 0 ]; then
    echo "check-valgrind: bats failed (exit $bats_status)" >&2
    status=1
fi
shopt -s nullglob
# memcheck's own lines start "==PID=="; valgrind's notes "--PID--" (such as
# "unhandled syscall 434": valgrind 3.19 has no pidfd_open, so the programs
# take their fallback without it) are not errors.
bad=0
for f in "$reports"/*; do
    if grep -q '^==[0-9]*==' "$f"; then
        echo "---- valgrind log $(basename "$f")" >&2
        cat "$f" >&2
        bad=$((bad + 1))
    fi
done
if [ "$bad" -gt 0 ]; then
    echo "check-valgrind: $bad process(es) with memcheck errors" >&2
    status=1
fi
logs=("$reports"/*)
echo "check-valgrind: ${#logs[@]} processes checked; $( [ "$status" -eq 0 ] && echo passed || echo FAILED ) in $((SECONDS - start)) s"
exit "$status"
