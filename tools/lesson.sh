#!/bin/sh
# What `make demo` runs: the guided lesson of nianbao-view.
#
# On a terminal it opens the lesson's screen (one key press per step);
# otherwise - `make demo </dev/null`, or piped into a file - it prints the
# lesson as a transcript and ends by itself. Arguments go to the viewer:
#   tools/lesson.sh --lang zh        narration in Chinese
#   tools/lesson.sh --stage 3        one stage only
#   tools/lesson.sh --text           the transcript even on a terminal
set -eu
root=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
view="$root/viewer/nianbao-view"
if [ ! -x "$view" ]; then
    echo "tools/lesson.sh: $view is not built; run 'make demo' (or 'make all') first" >&2
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
