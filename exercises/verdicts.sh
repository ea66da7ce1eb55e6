#!/bin/sh
# exercises/verdicts.sh - the grader's verdict table: every program listed in
# exercises/programs against every scenario of its mode and stage, as
# Markdown, one table per mode and stage. A cell is "pass" or "FAIL"; the
# last column says whether the row is what the program's EXPECT promises.
#
#   exercises/verdicts.sh [--seed N] [--jobs N] [--only NAME,...] [GROUP...]
#
# GROUP is client-stage3, client-stage4, client-stage5, server-stage3,
# server-stage4, server-stage5 or server-stage6 (the stage 5 protocol with
# --concurrent) (default: all seven). --only keeps the programs of those
# names (the first column of exercises/programs). Programs are graded N at a
# time (default 4: most of the time the grader waits for a program to do
# something). Run from
# anywhere; it builds nothing (run make). $PYTHON, when set, runs the Python
# programs instead of python3. Exits 1 when a row is not as expected, or
# when any verdict rests on the grader's last guard (30 s of nothing at
# all) rather than on what the program did.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
grade=tools/grade
seed=1
jobs=4
only=
while [ $# -gt 0 ]; do
    case $1 in
        -h | --help)
            sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//;p}' "$0"
            exit 0 ;;
        --seed | --jobs | --only)
            [ $# -ge 2 ] || { echo "verdicts.sh: $1 needs a value" >&2; exit 2; }
            case $1 in
                --seed) seed=$2 ;;
                --jobs) jobs=$2 ;;
                --only) only=$2 ;;
            esac
            shift 2 ;;
        -*) echo "verdicts.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
        *) break ;;
    esac
done
all_groups="client-stage3 client-stage4 client-stage5 server-stage3 server-stage4 server-stage5 server-stage6"
groups=${*:-$all_groups}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for group in $groups; do
    case $group in
        client-stage[345] | server-stage[3456]) ;;
        *) echo "verdicts.sh: no group '$group' ($all_groups)" >&2
           exit 2 ;;
    esac
done

# grade_args PROTO: the grader's protocol options for a PROTO of exercises/programs.
grade_args() {
    case $1 in
        stage6) echo "--proto stage5 --concurrent" ;;
        *) echo "--proto $1" ;;
    esac
}

# Grade every program of every group, JOBS at a time, each into its file.
grep -v '^#' exercises/programs >"$tmp/programs"
if [ -n "$only" ]; then
    for name in $(echo "$only" | tr ',' ' '); do
        grep -q "^$name " "$tmp/programs" ||
            { echo "verdicts.sh: --only: no program '$name' in exercises/programs" >&2; exit 2; }
    done
    awk -v only=",$only," 'index(only, "," $1 ",")' "$tmp/programs" >"$tmp/only"
    mv "$tmp/only" "$tmp/programs"
fi
running=0
while read -r name mode proto expect command; do
    case " $groups " in *" $mode-$proto "*) ;; *) continue ;; esac
    case $command in python3\ *) command="${PYTHON:-python3} ${command#python3 }" ;; esac
    # shellcheck disable=SC2086  # COMMAND is words
    # shellcheck disable=SC2046  # the options are words
    "$grade" "$mode" $(grade_args "$proto") --seed "$seed" --tap --waits --captures "$tmp/captures-$name" \
        -- $command >"$tmp/$name.tap" 2>&1 </dev/null &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait
        running=0
    fi
done <"$tmp/programs"
wait

for group in $groups; do
    mode=${group%-*}
    proto=${group#*-}
    # shellcheck disable=SC2046
    "$grade" "$mode" $(grade_args "$proto") --list >"$tmp/list"
    names=$(awk '{print $1}' "$tmp/list")
    printf '\n%s %s\n\n| program |' "$mode" "$proto"
    for n in $names; do printf ' %s |' "$n"; done
    printf ' as expected |\n|---|'
    for n in $names; do printf -- '---|'; done
    printf -- '---|\n'
    while read -r name p_mode p_proto expect command; do
        [ "$p_mode" = "$mode" ] && [ "$p_proto" = "$proto" ] || continue
        printf '| %s |' "$name"
        ok=yes
        for n in $names; do
            if grep -q "^ok [0-9]* - $n:" "$tmp/$name.tap"; then got=pass
            elif grep -q "^not ok [0-9]* - $n:" "$tmp/$name.tap"; then got=FAIL
            else got=none
            fi
            case $expect in
                none) want=pass ;;
                all) want=FAIL ;;
                *) if grep -q "^$n .*(catches:.*[ ,]$expect[,)]" "$tmp/list"; then want=FAIL; else want=pass; fi ;;
            esac
            if [ "$got" != "$want" ]; then
                ok=NO
                echo "$n" >>"$tmp/wrong-$name"
            fi
            printf ' %s |' "$got"
        done
        printf ' %s |\n' "$ok"
        [ "$ok" = yes ] || echo "$name" >>"$tmp/unexpected"
    done <"$tmp/programs"
done
# No verdict may rest on the grader's last guard (30 s of nothing at all):
# every lab program, starter and broken program is decided by what it did.
for f in "$tmp"/*.tap; do
    awk -v prog="$(basename "$f" .tap)" '
        /^(not )?ok [0-9]+ - / { scenario = $0; sub(/^(not )?ok [0-9]+ - /, "", scenario); sub(/:.*/, "", scenario) }
        /^# waits: / && !/ 0 last-guard/ { printf "%s %s: the grader waited out its last guard (%s)\n", prog, scenario, substr($0, 3) }
    ' "$f"
done >"$tmp/last-guard"
if [ -s "$tmp/last-guard" ]; then
    printf '\n' >&2
    cat "$tmp/last-guard" >&2
    echo "last-guard" >>"$tmp/unexpected"
fi
if [ -s "$tmp/unexpected" ]; then
    printf '\nnot as expected: %s\n' "$(tr '\n' ' ' <"$tmp/unexpected")" >&2
    # Each unexpected cell's lines of its program's TAP: the verdict, the
    # steps and the advice, what the grader saw.
    for f in "$tmp"/wrong-*; do
        [ -e "$f" ] || continue
        name=${f##*/wrong-}
        awk -v prog="$name" -v wrong=" $(tr '\n' ' ' <"$f")" '
            /^(not )?ok [0-9]+ - / {
                scenario = $0
                sub(/^(not )?ok [0-9]+ - /, "", scenario)
                sub(/:.*/, "", scenario)
                show = index(wrong, " " scenario " ") > 0
                if (show) printf "\n%s, %s:\n", prog, scenario
            }
            show' "$tmp/$name.tap" >&2
    done
    exit 1
fi
