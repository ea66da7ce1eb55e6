#!/bin/sh
# Installs the Debian packages nianbao needs that are not installed yet,
# and says which. Uses sudo when not root. Does nothing when all are there.
# Arguments name packages needed on top (`make bench` adds gnuplot-nox, libmd-dev).
set -eu
need="gcc make pkg-config libcjson-dev libssl-dev libncurses-dev bats bats-support bats-assert parallel tmux python3 gettext locales iproute2 procps time man-db groff-base mandoc bubblewrap util-linux $*"
missing=""
for pkg in $need; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) missing="$missing $pkg" ;;
    esac
done
[ -z "$missing" ] && exit 0
echo "nianbao: installing missing Debian packages:$missing"
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
# apt's own progress stays in a log, shown only when something fails.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# shellcheck disable=SC2086
if ! { $sudo apt-get update -qq &&
       $sudo env DEBIAN_FRONTEND=noninteractive \
           apt-get install -y -qq --no-install-recommends $missing; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "nianbao: could not install:$missing (apt-get's output is above)" >&2
    exit 1
fi
echo "nianbao: installed:$missing"
