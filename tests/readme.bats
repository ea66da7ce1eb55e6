#!/usr/bin/env bats
# What the README quotes is what the programs print: the examples are run
# here, and the quoted lines looked up in the README's text.

setup() { load 'test_helper/common-setup'; _common_setup; }
teardown() { _common_teardown; }

# readme_says FILE TEXT: FILE contains TEXT, line breaks and indentation
# folded into single spaces (the README wraps long lines).
readme_says() {
    tr '\n' ' ' <"$ROOT/$1" | tr -s ' ' | grep -qF -- "$2" || {
        echo "$1 does not say: $2"; return 1; }
}

@test "the README's HTTP example is the stage 3 client's exact error line" {
    printf 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n' >"$BATS_TEST_TMPDIR/http"
    start_server web "$ROOT/tools/canned" --reply "$BATS_TEST_TMPDIR/http" --port 0
    run bash -c "echo ls | timeout 10 '$ROOT/stage3_struct_len/client' -p '$web_port' 2>&1"
    assert_failure 1
    assert_output 'client: reply length 1347703880 is out of range 0..268435456 (bytes 48 54 54 50 "HTTP"): is the peer speaking another protocol?'
    readme_says README.md "${output#client: }"
}

@test "the stage 1 README's session is what the stage 1 client prints" {
    start_server srv "$ROOT/stage1_naive/server" --port 0
    printf 'seq 1 2000\necho MARK\n' | timeout 10 "$ROOT/stage1_naive/client" -p "$srv_port" \
        >"$BATS_TEST_TMPDIR/out"
    # the reply to seq ends at 283, the "reply" to echo MARK is 284..539
    seq 1 283 >"$BATS_TEST_TMPDIR/expected"
    echo >>"$BATS_TEST_TMPDIR/expected"
    seq 284 539 >>"$BATS_TEST_TMPDIR/expected"
    echo >>"$BATS_TEST_TMPDIR/expected"
    same_bytes "$BATS_TEST_TMPDIR/expected" "$BATS_TEST_TMPDIR/out"
    readme_says stage1_naive/README.md "283 <- bytes 0..1023 of seq's 8893"
    readme_says stage1_naive/README.md "284 <- the \"reply\" to \`echo MARK\`: bytes 1024..2047"
    readme_says stage1_naive/README.md "539"
    readme_says README.md 'the client shows the first 1024 (`1` to `283`). The "reply" to `echo MARK` is `284` to `539`'
}
