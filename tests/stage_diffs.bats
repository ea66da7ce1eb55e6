#!/usr/bin/env bats
# The READMEs' promises about the diffs between neighbouring stages:
# `diff -u` of stage 1 and 3, and of stage 3 and 4, touches only the header
# comment, the includes and defines, the config struct, main's option lines
# and the functions the later stage's "What changed" section names (in
# backquotes); and the 4 -> 5 client diff stays within the number of changed
# lines stage 5's README gives. tests/py/diff_regions.py maps each changed
# line to the part of its file it is in.

bats_require_minimum_version 1.5.0

setup() { load 'test_helper/common-setup'; _common_setup; }
teardown() { _common_teardown; }

# what_changed README: the names in backquotes of its "What changed" section.
what_changed() {
    # shellcheck disable=SC2016 # the backquotes are Markdown's, not the shell's
    sed -n '/^## What changed/,/^## /p' "$1" | grep -o '`[A-Za-z_][A-Za-z0-9_]*`' | tr -d '`' |
        sort -u
}

# touches_only_named OLD_DIR NEW_DIR FILE: the parts of FILE that the diff
# touches, less what every stage may change, are all named in NEW_DIR's
# README.
touches_only_named() {
    local old="$ROOT/$1/$3" new="$ROOT/$2/$3" named
    named=$(what_changed "$ROOT/$2/README.md")
    [ -n "$named" ] || fail "$2/README.md has no names in its 'What changed' section"
    run python3 "$ROOT/tests/py/diff_regions.py" "$old" "$new"
    assert_success
    [ -n "$output" ] || fail "diff -u $1/$3 $2/$3 shows nothing"
    local region stray=()
    while IFS= read -r region; do
        case "$region" in
            'header comment' | includes | defines | 'struct client_config' | \
                'struct server_config' | 'main: options') ;;
            *) grep -qxF "$region" <<<"$named" || stray+=("$region") ;;
        esac
    done <<<"$output"
    [ "${#stray[@]}" -eq 0 ] ||
        fail "diff -u $1/$3 $2/$3 touches what $2/README.md does not name: ${stray[*]}"
}

@test "the stage 1 to 3 client diff touches only receive_reply, options and the header comment" {
    touches_only_named stage1_naive stage3_struct_len client.c
}

@test "the stage 1 to 3 server diff touches only send_reply, options and the header comment" {
    touches_only_named stage1_naive stage3_struct_len server.c
}

@test "the stage 3 to 4 client diff touches only the functions the stage 4 README names" {
    touches_only_named stage3_struct_len stage4_json_header client.c
}

@test "the stage 3 to 4 server diff touches only the functions the stage 4 README names" {
    touches_only_named stage3_struct_len stage4_json_header server.c
}

@test "a change to main outside its options is one the diff check catches" {
    # The check itself: a stage 4 client whose main sends differently.
    sed 's/return session_run(&cfg.session, receive_reply, &cfg);/return session_run(\&cfg.session, receive_reply, (void *)\&cfg);/' \
        "$ROOT/stage4_json_header/client.c" >"$BATS_TEST_TMPDIR/client.c"
    run python3 "$ROOT/tests/py/diff_regions.py" "$ROOT/stage4_json_header/client.c" \
        "$BATS_TEST_TMPDIR/client.c"
    assert_success
    assert_output 'main'
}

@test "the stage 4 to 5 client diff has no more changed lines than stage 5's README says" {
    local most changed
    most=$(grep -o 'at most [0-9]* changed lines' "$ROOT/stage5_file_transfer/README.md" |
        grep -o '[0-9]*')
    [ -n "$most" ] || fail "stage5_file_transfer/README.md gives no 'at most N changed lines'"
    changed=$(diff -u "$ROOT/stage4_json_header/client.c" "$ROOT/stage5_file_transfer/client.c" |
        grep -c '^[-+][^-+]')
    [ "$changed" -le "$most" ] ||
        fail "diff -u stage4_json_header/client.c stage5_file_transfer/client.c: $changed changed lines, the README says at most $most"
}
