#!/bin/sh
# nianbao-exercises DIR: copies the exercises a student is handed (the
# assignment in English and Chinese, the stage 3, 4 and 6 starters in C and
# Python) into DIR, which it creates. It never overwrites: when one of the
# files is already in DIR it copies nothing and says which. Installed, the
# exercises are in PREFIX/share/nianbao/exercises; in the lab's sources,
# in exercises/ (the same files: the Makefile's EXERCISE_HANDOUT).
set -eu
prog=$(basename "$0")
here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)

usage() {
    cat <<EOF2
usage: $prog DIR
Copies the nianbao exercises (README.md, README.zh.md, stage3/, stage4/ and
stage6/ starters in C and Python) into DIR, creating it; copies nothing when one of
them is already there.

options:
  -h, --help       show this help and exit
  -V, --version    show the version and exit
EOF2
}
fail() {
    printf '%s: %s\nTry '\''%s --help'\'' for more information.\n' "$prog" "$1" "$prog" >&2
    exit 2
}

case ${1:-} in
-h|--help) usage; exit 0 ;;
-V|--version) echo "$prog (nianbao 1.0): copies the exercises out"; exit 0 ;;
--) shift ;;
-?*) fail "unknown option '$1'" ;;
esac
[ $# -ge 1 ] || fail "which directory? (nianbao-exercises DIR)"
[ $# -eq 1 ] || fail "one directory only, got $#"
dest=$1

# Installed: libexec/nianbao/tools/ -> share/nianbao/exercises.
src="$here/../../../share/nianbao/exercises"
if [ ! -d "$src" ]; then
    src="$here/../exercises"
fi
if [ ! -f "$src/README.md" ]; then
    echo "$prog: the exercises are not where they should be ($src)" >&2
    exit 1
fi
src=$(cd "$src" && pwd)
files=$(cd "$src" && ls README.md README.zh.md stage3/*.c stage3/*.py stage4/*.c stage4/*.py \
    stage6/*.c stage6/*.py)

for f in $files; do
    if [ -e "$dest/$f" ] || [ -L "$dest/$f" ]; then
        echo "$prog: $dest/$f exists: nothing copied (remove it, or choose another directory)" >&2
        exit 1
    fi
done
for f in $files; do
    mkdir -p "$dest/$(dirname "$f")"
    cp "$src/$f" "$dest/$f"
done
echo "$prog: copied $(printf '%s\n' $files | wc -l) files into $dest: start with $dest/README.md"
