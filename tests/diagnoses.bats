#!/usr/bin/env bats
# The grader's diagnoses are right: one starter and one broken program per
# bug (the first of each in exercises/programs), graded only in the
# scenarios they fail, get in each the diagnosis tests/diagnoses.txt
# lists, not only the verdict. tests/heavy/diagnoses.bats grades every
# program there in every scenario. About 30 s on two cores (four graders
# at a time; 20 to 43 s measured, the machine's load at 6 to 8).

setup() {
    load 'test_helper/common-setup'
    _common_setup
    load 'test_helper/grade'
    # Debian's interpreter when there is one: a pyenv shim costs seconds a start.
    [ -x /usr/bin/python3 ] && export PYTHON=/usr/bin/python3
    cd "$BATS_TEST_TMPDIR"
}
teardown() { _common_teardown; }

# The programs of GROUP in tests/diagnoses.txt, the first of each EXPECT.
diagnosed_one_per_bug() {
    local listed
    listed=$(awk '!/^#/ { print $1 }' "$ROOT/tests/diagnoses.txt" | sort -u)
    grep -v '^#' "$ROOT/exercises/programs" |
        awk -v group="$1" '$2 "-" $3 == group { print $1, $4 }' |
        grep -Fwf <(echo "$listed") | awk '!seen[$2]++ { print $1 }'
}

@test "every starter and broken program that fails a scenario has its diagnoses listed" {
    local name mode proto expect command
    while read -r name mode proto expect command; do
        [ "$expect" != none ] || continue
        case $name in lab-*) continue ;; esac
        grep -q "^$name " "$ROOT/tests/diagnoses.txt" || { echo "no line for $name"; return 1; }
    done < <(grep -v '^#' "$ROOT/exercises/programs")
}

@test "stage 3 clients, one per bug: each failure has the diagnosis its steps prove" {
    # shellcheck disable=SC2046
    check_diagnoses listed $(diagnosed_one_per_bug client-stage3)
}

@test "stage 4 clients, one per bug: each failure has the diagnosis its steps prove" {
    # shellcheck disable=SC2046
    check_diagnoses listed $(diagnosed_one_per_bug client-stage4)
}

@test "stage 3, 4 and 5 servers, one per bug: each failure has the diagnosis its steps prove" {
    # shellcheck disable=SC2046
    check_diagnoses listed $(diagnosed_one_per_bug server-stage3) \
        $(diagnosed_one_per_bug server-stage4) $(diagnosed_one_per_bug server-stage5)
}

@test "stage 6 servers, one per bug: each failure has the diagnosis its steps prove" {
    # shellcheck disable=SC2046
    check_diagnoses listed $(diagnosed_one_per_bug server-stage6)
}

@test "a server's report names the port it listens on, never the {port} placeholder" {
    run "$ROOT/tools/grade" server --proto stage3 --only whole --seed 1 -- \
        "$ROOT/exercises/broken/server3-byte-order" '{port}'
    assert_failure 1
    assert_line --regexp '^         1\. the grader \(playing the clients\) started the server: .*/server3-byte-order \{port\}; it listens on port [0-9]+, the one it was given$'
    refute_output --partial 'on port {port}'
}

@test "a client killed by a signal after a bogus length is told to check the length first" {
    # The lab's correct client with its check removed and the body in an
    # array of the length's size: it dies in the scenarios of bogus lengths.
    sed -e 's/if (length < 0 || length > MAX_LEN)/if (0)/' \
        -e 's/unsigned char \*body = malloc(length ? (size_t)length : 1);/unsigned char array[length ? length : 1], *body = array; memset(array, 0, sizeof array);/' \
        -e '/^ *free(body);$/d' "$ROOT/exercises/broken/client3.c" >vla.c
    cc -o vla vla.c
    run "$ROOT/tools/grade" client --proto stage3 --only huge-length --seed 1 -- ./vla '{port}'
    assert_failure 1
    assert_line --regexp '^      diagnosis: the client was killed by signal [0-9]+ \([^)]*\) after this length: it used the length before checking it .*length 0x7fffffff is 2147483647 bytes \(2 GiB\): refuse a length above 256 MiB'
}
