#!/bin/sh
# exercises/verdicts.sh - the grader's verdict table: every program listed in
# exercises/programs against every scenario of its mode and stage, as
# Markdown, one table per mode and stage. A cell is "pass" or "FAIL"; the
# last column says whether the row is what the program's EXPECT promises.
#
#   exercises/verdicts.sh [--seed N] [GROUP...]
#
# GROUP is client-stage3, client-stage4, server-stage3 or server-stage4
# (default: all four). Run from anywhere; it builds nothing (run make).
# Exits 1 when a row is not as expected.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
grade=tools/grade
seed=1
if [ "${1:-}" = "--seed" ]; then
    seed=$2
    shift 2
fi
groups=${*:-client-stage3 client-stage4 server-stage3 server-stage4}
status=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for group in $groups; do
    mode=${group%-*}
    proto=${group#*-}
    case "$mode $proto" in
        "client stage3" | "client stage4" | "server stage3" | "server stage4") ;;
        *) echo "verdicts.sh: no group '$group' (client-stage3 client-stage4 server-stage3 server-stage4)" >&2
           exit 2 ;;
    esac
    "$grade" "$mode" --proto "$proto" --list >"$tmp/list"
    names=$(awk '{print $1}' "$tmp/list")
    printf '\n%s %s\n\n| program |' "$mode" "$proto"
    for n in $names; do printf ' %s |' "$n"; done
    printf ' as expected |\n|---|'
    for n in $names; do printf -- '---|'; done
    printf -- '---|\n'
    grep -v '^#' exercises/programs | while read -r name p_mode p_proto expect command; do
        [ "$p_mode" = "$mode" ] && [ "$p_proto" = "$proto" ] || continue
        # shellcheck disable=SC2086  # COMMAND is words
        "$grade" "$mode" --proto "$proto" --seed "$seed" --tap --captures "$tmp/captures" \
            -- $command >"$tmp/tap" 2>&1 || true
        printf '| %s |' "$name"
        ok=yes
        for n in $names; do
            if grep -q "^ok [0-9]* - $n:" "$tmp/tap"; then got=pass
            elif grep -q "^not ok [0-9]* - $n:" "$tmp/tap"; then got=FAIL
            else got=none
            fi
            case $expect in
                none) want=pass ;;
                all) want=FAIL ;;
                *) if grep -q "^$n .*(catches:.*[ ,]$expect[,)]" "$tmp/list"; then want=FAIL; else want=pass; fi ;;
            esac
            [ "$got" = "$want" ] || ok=NO
            printf ' %s |' "$got"
        done
        printf ' %s |\n' "$ok"
        [ "$ok" = yes ] || echo "$name" >>"$tmp/unexpected"
    done
done
if [ -s "$tmp/unexpected" ]; then
    printf '\nnot as expected: %s\n' "$(tr '\n' ' ' <"$tmp/unexpected")" >&2
    status=1
fi
exit $status
