# tools/sanitized-tree.sh - sourced by tools/check-asan.sh and
# tools/check-valgrind.sh: copies the project's files into a new temporary
# directory (the user's tree never gets a sanitizer object), and cleans up.
#
#   copy_tree NAME   sets WORK (the temporary directory, removed at exit
#                    unless NIANBAO_KEEP_CHECK=1) and TREE (the copy, in
#                    WORK/nianbao). The files copied are git's: committed,
#                    staged and new ones not ignored, as they are in the work
#                    tree now (so uncommitted edits are checked too); without
#                    git, everything but build products. The tutorial's text
#                    (../shared beside the tree), when there, is linked beside
#                    the copy, so the tests that use it run there too.

copy_tree() {
    local name=$1 src
    src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/nianbao-$name.XXXXXX")
    if [ "${NIANBAO_KEEP_CHECK:-0}" = 1 ]; then
        echo "$name: keeping $WORK"
    else
        # shellcheck disable=SC2064  # WORK is fixed now
        trap "rm -rf '$WORK'" EXIT
    fi
    TREE=$WORK/nianbao
    mkdir "$TREE"
    if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        (cd "$src" && git ls-files -z --cached --others --exclude-standard |
            tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$TREE"
    else
        (cd "$src" && tar --exclude='*.o' --exclude='*.d' --exclude='*.a' --exclude='*.so' \
            --exclude=./fuzz/build -cf - .) | tar -xf - -C "$TREE"
        make -C "$TREE" clean >/dev/null
    fi
    if [ -d "$src/../shared" ]; then
        ln -s "$(cd "$src/../shared" && pwd)" "$WORK/shared"
    fi
}
