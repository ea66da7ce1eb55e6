#!/usr/bin/env bash
# tools/check-asan.sh - `make check-asan`: the whole bats suite, both tiers,
# on a build with AddressSanitizer and UndefinedBehaviorSanitizer (issue 8).
#
# A copy of the tree (tools/sanitized-tree.sh) is built with
#   -fsanitize=address,undefined -fno-sanitize-recover=all
# and tests/run_suite.sh runs tests/ and tests/heavy/ there, several tests
# at a time as make test does (NIANBAO_TEST_JOBS sets how many). Every report a sanitizer makes, in any
# process, goes to a file of its own (log_path): the run fails when a test
# fails OR when any report was written, so an error in a server that a test
# stops, or in a program whose failure a test expects, is not missed.
# Sanitizer exits use codes 97 (ASan) and 98 (UBSan), never the programs' own
# 1 and 2. Leaks are reported (LeakSanitizer) for the programs that exit on
# their own.
#
# The tap (viewer/libnianbao-tap.so) is built with the sanitizers too: it is
# checked fully inside the sanitized stage programs and viewer it is loaded
# into. Loaded into programs that are not built so (python3, sh) it needs
# the ASan runtime in their process: LD_PRELOAD takes the tap alone, so
# ASan's run time comes in as the tap's dependency, after libc
# (verify_asan_link_order=0 allows that): stack and global accesses of the
# tap are checked there, its heap ones are not (malloc is libc's).
#
# Built with clang (-shared-libasan: one run time for ASan and UBSan, so
# both write their reports to files); CHECK_CC=gcc works too, but gcc's
# separate UBSan run time writes to stderr only.
#
# Environment: CHECK_CC (default clang, else gcc), CHECK_JOBS (make -j,
# default 2), NIANBAO_KEEP_CHECK=1 keeps the temporary tree, BATS_ARGS
# (default: tests/ tests/heavy/) to run fewer files, NIANBAO_TEST_JOBS
# (tests at once, default tests/run_suite.sh's).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tools/sanitized-tree.sh
. "$here/sanitized-tree.sh"

start=$SECONDS
san_flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
cc=${CHECK_CC:-}
if [ -z "$cc" ]; then
    if command -v clang >/dev/null; then cc=clang; else cc=gcc; fi
fi
case $cc in
*clang*)
    # One run time for ASan and UBSan, as a shared library (the tap's too),
    # so both honour log_path.
    rt=$(dirname "$("$cc" -print-file-name=libclang_rt.asan-x86_64.so)")
    san_flags="$san_flags -shared-libasan -Wl,-rpath,$rt" ;;
*)
    echo "check-asan: $cc: UBSan reports go to stderr, not to a file; an error in a" \
         "process whose output and status no test reads can be missed (clang has no such gap)" >&2 ;;
esac
copy_tree asan
reports=$WORK/reports
mkdir "$reports"
asan_options="log_path=$reports/asan:exitcode=97:detect_leaks=1:verify_asan_link_order=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
ubsan_options="log_path=$reports/ubsan:exitcode=98:print_stacktrace=1:halt_on_error=1"
# The same options compiled into every program and the tap, for the tests
# that run a program with a cleared environment (env -i).
cat >"$WORK/sanitizer_defaults.c" <<C
const char *__asan_default_options(void);
const char *__ubsan_default_options(void);
const char *__asan_default_options(void) { return "$asan_options"; }
const char *__ubsan_default_options(void) { return "$ubsan_options"; }
C
if ! "$cc" -fPIC -c -o "$WORK/sanitizer_defaults.o" "$WORK/sanitizer_defaults.c"; then
    echo "check-asan: cannot compile with $cc" >&2
    exit 1
fi
echo "check-asan: building a copy in $TREE with $cc $san_flags"
if ! make -C "$TREE" -j"${CHECK_JOBS:-2}" CC="$cc" CFLAGS="-O1 -g $san_flags" \
        LDFLAGS="$WORK/sanitizer_defaults.o" all test-tools >"$WORK/build.log" 2>&1; then
    cat "$WORK/build.log" >&2
    echo "check-asan: the sanitized build failed" >&2
    exit 1
fi

export NIANBAO_SANITIZER=address
export ASAN_OPTIONS="$asan_options"
export UBSAN_OPTIONS="$ubsan_options"
export LSAN_OPTIONS="exitcode=97"

bats_args=${BATS_ARGS:-tests/ tests/heavy/}
echo "check-asan: tests/run_suite.sh $bats_args"
# shellcheck disable=SC2086  # BATS_ARGS is a list of files
(cd "$TREE" && tests/run_suite.sh --timing $bats_args)
bats_status=$?

status=0
if [ "$bats_status" -ne 0 ]; then
    echo "check-asan: bats failed (exit $bats_status)" >&2
    status=1
fi
shopt -s nullglob
found=("$reports"/*)
if [ ${#found[@]} -gt 0 ]; then
    echo "check-asan: ${#found[@]} sanitizer report(s):" >&2
    for f in "${found[@]}"; do
        echo "---- $(basename "$f")" >&2
        cat "$f" >&2
    done
    status=1
fi
echo "check-asan: $( [ "$status" -eq 0 ] && echo passed || echo FAILED ) in $((SECONDS - start)) s"
exit "$status"
