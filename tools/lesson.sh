#!/bin/sh
# What `make demo` runs: the guided lesson of nianbao-view.
#
# On a terminal it opens the lesson's screen (one key press per step);
# otherwise - `make demo </dev/null`, or piped into a file - it prints the
# lesson as a transcript and ends by itself. Options are checked here and
# handed to `nianbao-view --lesson`.
set -eu
prog=$(basename "$0")
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
view="$root/viewer/nianbao-view"

usage() {
    cat <<EOF
usage: $prog [--lang en|zh] [--stage N] [--text] [--seed S] [--no-color]

The guided lesson of nianbao (what \`make demo\` runs): for each stage it starts
the stage's server and client under the viewer's tap, types the document's
commands one step at a time, and shows what happened on the wire. On a terminal
one key press runs each step; otherwise it prints the lesson as a transcript.

Options:
  --lang en|zh     language of the narration (default: from the locale)
  --stage N        only stage N (1 to 6)
  --text           print the transcript even on a terminal
  --seed S         the slicer's seed in the slicer parts (default 1)
  --no-color       reverse/underline/bold instead of colours
  -h, --help       show this help and exit
  -V, --version    show the version and exit

Keys on the screen: space or Enter for the next step, x hex, arrows scroll,
? help, q quit.
EOF
}

# fail MESSAGE: a usage error, as every nianbao program reports one.
fail() {
    printf '%s: %s\nTry '\''%s --help'\'' for more information.\n' "$prog" "$1" "$prog" >&2
    exit 2
}

# check_value OPTION VALUE: VALUE is one OPTION takes.
check_value() {
    case $1 in
    --lang) case $2 in en|zh) ;; *) fail "--lang: '$2' is not en or zh" ;; esac ;;
    --stage) case $2 in 1|2|3|4|5|6) ;; *) fail "--stage: '$2' is not a stage of the lesson (1 to 6)" ;; esac ;;
    --seed)
        case $2 in ''|*[!0-9]*) fail "--seed: '$2' is not a number (0 to 4294967295)" ;; esac
        [ "${#2}" -le 10 ] && [ "$2" -le 4294967295 ] ||
            fail "--seed: '$2' is not a number (0 to 4294967295)"
        ;;
    esac
}

for arg in "$@"; do
    case $arg in
    -h|--help) usage; exit 0 ;;
    -V|--version) echo "$prog (nianbao 1.0): the guided lesson (make demo)"; exit 0 ;;
    esac
done
expect=
for arg in "$@"; do
    if [ -n "$expect" ]; then
        check_value "$expect" "$arg"
        expect=
        continue
    fi
    case $arg in
    --lang|--stage|--seed) expect=$arg ;;
    --lang=*|--stage=*|--seed=*) check_value "${arg%%=*}" "${arg#*=}" ;;
    --text|--no-color) ;;
    *) fail "unknown option '$arg'" ;;
    esac
done
[ -z "$expect" ] || fail "option '$expect' needs a value"

if [ ! -x "$view" ]; then
    echo "$prog: $view is not built; run 'make demo' (or 'make all') first" >&2
    exit 1
fi
# The Chinese catalogue is built by make (viewer/viewer.mk); build it here
# too when that rule is missing or stale, so `--lang zh` works either way.
po="$root/viewer/po/zh_CN.po"
mo="$root/viewer/locale/zh_CN/LC_MESSAGES/nianbao.mo"
if [ -f "$po" ] && command -v msgfmt >/dev/null 2>&1; then
    if [ ! -f "$mo" ] || [ -n "$(find "$po" -newer "$mo")" ]; then
        mkdir -p "$(dirname "$mo")"
        msgfmt -o "$mo" "$po"
    fi
fi
exec "$view" --lesson "$@"
