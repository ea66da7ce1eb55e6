# Helpers for the grader's tests at two sizes: the verdict table on one
# program per bug (tests/grade_verdicts.bats) or on every program
# (tests/heavy/grade_verdicts.bats), and the lab's programs graded over a
# few seeds (tests/grade_repeat.bats, grade_stage5.bats) or twenty
# (tests/heavy/). Loaded after common-setup.bash; the tests run in their
# BATS_TEST_TMPDIR.

# proto_args PROTO: the grader's options for a PROTO of exercises/programs
# (stage6: the stage 5 protocol with stage 6's scenarios).
proto_args() {
    if [ "$1" = stage6 ]; then echo "--proto stage5 --concurrent"; else echo "--proto $1"; fi
}

# one_per_bug GROUP: the names of GROUP's programs in exercises/programs,
# the first of each EXPECT (one lab or bug-free program, one starter, one
# program per bug), comma-separated.
one_per_bug() {
    grep -v '^#' "$ROOT/exercises/programs" |
        awk -v group="$1" '$2 "-" $3 == group && !seen[$4]++ { print $1 }' | paste -sd,
}

# check_group GROUP [NAME,...]: runs the table for GROUP (only the programs
# NAMEs, when given) and checks every cell.
check_group() {
    local group=$1 mode=${1%-*} proto=${1#*-} only=${2:-}
    # shellcheck disable=SC2046
    "$ROOT/tools/grade" "$mode" $(proto_args "$proto") --list >list.txt
    local names
    names=$(awk '{print $1}' list.txt)
    run "$ROOT/exercises/verdicts.sh" ${only:+--only "$only"} "$group"
    # What went wrong first (a failure's output is read from its top: CI's
    # log may keep no more), then the table.
    local why=$'\n'"not as expected: "
    if [[ $output == *"$why"* ]]; then
        printf '%s\n\n%s\n' "${why#?}${output#*"$why"}" "${output%%"$why"*}"
    else
        echo "$output"
    fi
    assert_success
    local table=$output rows=0 name p_mode p_proto expect command
    while read -r name p_mode p_proto expect command; do
        [ "$p_mode" = "$mode" ] && [ "$p_proto" = "$proto" ] || continue
        [ -z "$only" ] || [[ ,$only, == *",$name,"* ]] || continue
        rows=$((rows + 1))
        local want="| $name |" n
        for n in $names; do
            case $expect in
                none) want="$want pass |" ;;
                all) want="$want FAIL |" ;;
                *) if grep -Eq "^$n .*\(catches:.*[ ,]$expect[,)]" list.txt; then
                       want="$want FAIL |"
                   else
                       want="$want pass |"
                   fi ;;
            esac
        done
        want="$want yes |"
        grep -qxF -- "$want" <<<"$table" || {
            echo "expected the row: $want"
            grep -F "| $name |" <<<"$table"
            return 1
        }
    done < <(grep -v '^#' "$ROOT/exercises/programs")
    # Every program had its row, and there is no other (the header aside).
    [ "$rows" -gt 0 ]
    assert_equal "$(grep -c '^| ' <<<"$table")" "$((rows + 1))"
}

# repeat_pair ROUNDS MODE STAGE3-CMD(3 words) STAGE4-CMD(3 words): grades the
# two programs 2 x ROUNDS times each (seeds 1 to ROUNDS and ROUNDS+1 to
# 2 x ROUNDS by two graders each), four graders at once; their TAP goes to
# MODE-stageN.tap.
repeat_pair() {
    local rounds=$1 mode=$2 pids=() seed pid
    for seed in 1 $((rounds + 1)); do
        "$ROOT/tools/grade" "$mode" --proto stage3 --seed "$seed" --repeat "$rounds" --tap \
            --captures "c3-$seed" -- "${@:3:3}" >"$mode-stage3-$seed.tap" 3>&- &
        pids+=($!)
        "$ROOT/tools/grade" "$mode" --proto stage4 --seed "$seed" --repeat "$rounds" --tap \
            --captures "c4-$seed" -- "${@:6:3}" >"$mode-stage4-$seed.tap" 3>&- &
        pids+=($!)
    done
    STARTED_PIDS+=("${pids[@]}")
    for pid in "${pids[@]}"; do
        wait "$pid" || true
    done
    cat "$mode-stage3-1.tap" "$mode-stage3-$((rounds + 1)).tap" >"$mode-stage3.tap"
    cat "$mode-stage4-1.tap" "$mode-stage4-$((rounds + 1)).tap" >"$mode-stage4.tap"
}

# lab_clients_repeat ROUNDS: the lab's stage 3 and 4 clients pass every
# scenario 2 x ROUNDS times (seeds 1 to 2 x ROUNDS).
lab_clients_repeat() {
    local rounds=$1 runs=$((2 * $1))
    repeat_pair "$rounds" client "$ROOT/stage3_struct_len/client" -p '{port}' \
        "$ROOT/stage4_json_header/client" -p '{port}'
    # The failures first: a run that failed says which scenario and why.
    run grep -h -A12 '^not ok ' client-stage3.tap client-stage4.tap
    assert_output ''
    run grep -c '^ok ' client-stage3.tap
    assert_output $((14 * runs))
    run grep -c '^ok ' client-stage4.tap
    assert_output $((16 * runs))
    run grep -h '^# [0-9]* of [0-9]* passed' client-stage3.tap
    assert_output "# $((14 * rounds)) of $((14 * rounds)) passed
# $((14 * rounds)) of $((14 * rounds)) passed"
    # The seed of each grader's first round is in its plan line.
    run grep -h '^# nianbao-grade' client-stage3.tap
    assert_line --index 0 --partial 'seed 1:'
    assert_line --index 1 --partial "seed $((rounds + 1)):"
}

# lab_servers_repeat ROUNDS: the lab's stage 3 and 4 servers pass every
# scenario 2 x ROUNDS times (seeds 1 to 2 x ROUNDS).
lab_servers_repeat() {
    local rounds=$1 runs=$((2 * $1))
    repeat_pair "$rounds" server "$ROOT/stage3_struct_len/server" -p '{port}' \
        "$ROOT/stage4_json_header/server" -p '{port}'
    run grep -h -A12 '^not ok ' server-stage3.tap server-stage4.tap
    assert_output ''
    run grep -c '^ok ' server-stage3.tap
    assert_output $((9 * runs))
    run grep -c '^ok ' server-stage4.tap
    assert_output $((9 * runs))
}

# lab_stage5_repeat ROUNDS: the lab's stage 5 server and client pass every
# scenario ROUNDS times (seeds 1 to ROUNDS), both graders at once. Run in
# the test's temporary directory; $GRADE is tools/grade.
lab_stage5_repeat() {
    local rounds=$1
    mkdir root
    "$GRADE" server --proto stage5 --repeat "$rounds" --tap --captures cs -- \
        "$ROOT/stage5_file_transfer/server" --root root --port '{port}' >server.tap 3>&- &
    local server_grader=$!
    "$GRADE" client --proto stage5 --repeat "$rounds" --tap --captures cc -- \
        "$ROOT/stage5_file_transfer/client" -p '{port}' >client.tap 3>&- &
    local client_grader=$!
    STARTED_PIDS+=("$server_grader" "$client_grader")
    wait "$server_grader" || true
    wait "$client_grader" || true
    run grep -h -A12 '^not ok ' server.tap client.tap
    assert_output ''
    run tail -1 server.tap
    assert_output "# $((14 * rounds)) of $((14 * rounds)) passed"
    run tail -1 client.tap
    assert_output "# $((16 * rounds)) of $((16 * rounds)) passed"
}

# check_diagnoses all|listed NAME...: grades each program NAME of
# exercises/programs (seed 1, four graders at once; $PYTHON runs the Python
# ones), in every scenario (all) or only in those tests/diagnoses.txt lists
# for it (listed), and checks every failure's "diagnosis:" line against its
# pattern there. With all, a failure without a line there, or a line
# without its failure, fails the test too.
# scenario_report FILE SCENARIO: SCENARIO's whole report in a grader's
# text output (with --waits: how each of its waits ended).
scenario_report() { awk -v s="$2" '/^(PASS|FAIL) / { on = ($2 == s) } on' "$1"; }

check_diagnoses() {
    local scope=$1 table="$ROOT/tests/diagnoses.txt" name mode proto expect command
    shift
    local batch=() pid
    for name in "$@"; do
        read -r mode proto expect command < <(awk -v n="$name" '$1 == n { $1 = ""; print }' \
                                                  <(grep -v '^#' "$ROOT/exercises/programs"))
        [ -n "$mode" ] || { echo "no program '$name' in exercises/programs"; return 1; }
        case $command in python3\ *) command="${PYTHON:-python3} ${command#python3 }" ;; esac
        local only=
        [ "$scope" = all ] ||
            only=$(awk -v n="$name" '!/^#/ && $1 == n { print $2 }' "$table" | paste -sd,)
        # shellcheck disable=SC2046,SC2086  # the options and COMMAND are words
        (cd "$ROOT" && exec tools/grade "$mode" $(proto_args "$proto") --seed 1 --waits \
            --captures "$BATS_TEST_TMPDIR/captures-$name" ${only:+--only "$only"} \
            -- $command) >"$name.txt" 2>&1 </dev/null 3>&- &
        batch+=($!)
        STARTED_PIDS+=($!)
        if [ "${#batch[@]}" -ge 4 ]; then
            for pid in "${batch[@]}"; do wait "$pid" || true; done
            batch=()
        fi
    done
    for pid in "${batch[@]}"; do wait "$pid" || true; done
    local bad=0 scenario diagnosis pattern
    for name in "$@"; do
        # scenario TAB diagnosis (or "-"), one line per failure
        awk '/^FAIL / { if (s != "") print s "\t" d; s = $2; d = "-" }
             /^      diagnosis: / { d = $0; sub(/^      diagnosis: /, "", d) }
             END { if (s != "") print s "\t" d }' "$name.txt" >"$name.failed"
        while IFS=$'\t' read -r scenario diagnosis; do
            pattern=$(awk -v n="$name" -v s="$scenario" '!/^#/ && $1 == n && $2 == s {
                          sub(/^[^ ]+ +[^ ]+ +/, ""); print }' "$table")
            if [ -z "$pattern" ]; then
                echo "$name fails $scenario, which tests/diagnoses.txt does not list: $diagnosis"
                scenario_report "$name.txt" "$scenario"
                bad=1
            elif [[ $diagnosis != $pattern* ]]; then
                printf '%s %s: the diagnosis is\n    %s\nnot\n    %s\n' "$name" "$scenario" \
                    "$diagnosis" "$pattern"
                scenario_report "$name.txt" "$scenario"
                bad=1
            fi
        done <"$name.failed"
        # Every line of the table is a failure.
        for scenario in $(awk -v n="$name" '!/^#/ && $1 == n { print $2 }' "$table"); do
            grep -q "^$scenario	" "$name.failed" || {
                echo "$name passes $scenario, which tests/diagnoses.txt lists"
                bad=1
            }
        done
    done
    return "$bad"
}

# submission DIR KIND: a submission's directory holding client.py, KIND
# starter (exercises/stage3/client.py), correct (exercises/broken/client3.py,
# no bug) or byte-order (the same with its byte-order bug on).
submission() {
    mkdir -p "$1"
    case $2 in
        starter) cp "$ROOT/exercises/stage3/client.py" "$1/client.py" ;;
        correct) cp "$ROOT/exercises/broken/client3.py" "$1/client.py" ;;
        byte-order)
            sed "s/^    bug = 'none'$/    bug = 'byte-order'/" \
                "$ROOT/exercises/broken/client3.py" >"$1/client.py"
            grep -q "^    bug = 'byte-order'$" "$1/client.py" ;;
    esac
}

# verdict_lines REPORT: a text report's verdict and diagnosis lines. A
# failure's steps may say how far a send got before the program closed
# (timing, on a loaded machine); which scenarios pass and what the advice
# is may not.
verdict_lines() { grep -E '^(PASS|FAIL)  |^      diagnosis: |passed' "$1"; }
