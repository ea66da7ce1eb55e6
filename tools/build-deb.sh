#!/bin/sh
# tools/build-deb.sh - what `make deb` runs: builds the Debian package with
# Debian's own tools (dpkg-buildpackage, debhelper; debian/ in the sources)
# in a temporary copy of the tracked files, so nothing of the build is left
# in the tree, then moves the .deb to dist/ and runs lintian on it: lintian's
# output is shown, and an error from it fails the build.
#   tools/build-deb.sh           dist/nianbao_VERSION_ARCH.deb
#   tools/build-deb.sh DIR       DIR/nianbao_VERSION_ARCH.deb (tests/heavy/deb.bats)
# Needs debhelper, dpkg-dev, fakeroot and lintian (make deb installs them).
set -eu
prog=build-deb.sh
if [ "${1:-}" = "-h" ] || [ "${1:-}" = "--help" ]; then
    sed -n '2,9s/^# \{0,1\}//p' "$0"
    exit 0
fi
root=$(cd "$(dirname "$0")/.." && pwd)
dist=${1:-$root/dist}
for tool in dpkg-buildpackage dh fakeroot; do
    command -v "$tool" >/dev/null ||
        { echo "$prog: $tool is missing (make deb installs debhelper, dpkg-dev, fakeroot)" >&2; exit 1; }
done
version=$(dpkg-parsechangelog -l "$root/debian/changelog" -S Version)
work=$(mktemp -d "${TMPDIR:-/tmp}/nianbao-deb-XXXXXX")
trap 'rm -rf "$work"' EXIT
src="$work/nianbao-$version"
mkdir "$src"
# The tracked files as they are in the tree (a tarball without .git: all of
# it, then make clean).
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$root" && git ls-files -z | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) |
        tar -xf - -C "$src"
else
    (cd "$root" && tar --exclude=./dist -cf - .) | tar -xf - -C "$src"
    make -s -C "$src" clean >/dev/null
fi
log="$work/build.log"
echo "$prog: building nianbao $version in $src"
if ! (cd "$src" && dpkg-buildpackage -us -uc -b -J2) >"$log" 2>&1; then
    cat "$log" >&2
    echo "$prog: dpkg-buildpackage failed (its output is above)" >&2
    exit 1
fi
grep -i 'warning:' "$log" | grep -v '^dpkg-buildpackage: warning: using a gain-root-command' >&2 || true
mkdir -p "$dist"
for deb in "$work"/nianbao_"$version"_*.deb; do
    out="$dist/$(basename "$deb")"
    mv "$deb" "$out"
    echo "$prog: $out ($(du -k "$out" | cut -f1) KiB)"
    if command -v lintian >/dev/null; then
        echo "$prog: lintian:"
        lintian --fail-on error "$out" ||
            { echo "$prog: lintian reports errors (above)" >&2; exit 1; }
    fi
done
