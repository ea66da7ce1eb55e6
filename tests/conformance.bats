#!/usr/bin/env bats
# The stage 5 protocol's conformance suite: the same requests, sent to every
# server that speaks it - stage 5's (stage5_file_transfer/server, a blocking
# op table) and stage 6's four models (common/ftconn.c, a state machine) -
# must get byte-identical replies, error messages included. The judge is the
# specification, stage5_file_transfer/README.md. The requests and the
# transcript are tests/py/conformance.py's: valid ones (list, stat, get, put,
# exec, resumes), every error code, bad frames, cut and truncated frames,
# pipelined requests. Normalised: how a command's output is cut into
# "output" frames (it depends on how the pipe was read; the specification
# says "as the command produces them"): consecutive output frames of one
# stream are shown as one. No reply to these requests holds a time, a port
# or a path outside the root.

# start_server sets NAME_port/NAME_pid, bats' run sets status/output; the
# backquotes in single quotes are the README's markdown:
# shellcheck disable=SC2154,SC2016
setup() {
    load 'test_helper/common-setup'
    _common_setup
    load 'test_helper/stage5'
}
teardown() { _common_teardown; }
bats_require_minimum_version 1.5.0

# spec_codes: the error codes of the specification's table, one a line.
spec_codes() {
    sed -n '/^| code | meaning | then |$/,/^$/p' "$ROOT/$S5/README.md" |
        grep -o '^| `[a-z_]*`\(, `[a-z_]*`\)*' | grep -o '[a-z_]\+' | sort
}

# header_codes: the error codes common/ft.h defines (FT_E_*), one a line.
header_codes() {
    sed -n 's/^#define FT_E_[A-Z_]* *"\([a-z_]*\)".*/\1/p' "$ROOT/common/ft.h" | sort
}

# transcripts PART MODELS SERVER-ARGS...: each model of MODELS serves a
# fresh root with SERVER-ARGS; conformance.py PART's transcript of it goes
# to $BATS_TEST_TMPDIR/PART.MODEL.
transcripts() {
    local part=$1 models=$2 model; shift 2
    for model in $models; do
        ft_serve "$model" "$@"
        timeout 120 python3 -B "$ROOT/tests/py/conformance.py" "$srv_port" "$SERVED" "$part" \
            >"$BATS_TEST_TMPDIR/$part.$model"
        ft_stop
    done
}

# same_as FIRST PART MODELS: PART's transcript of each of MODELS is the
# one of FIRST, byte for byte (diff shows where not).
same_as() {
    local first=$1 part=$2 model
    for model in $3; do
        run diff -u "$BATS_TEST_TMPDIR/$part.$first" "$BATS_TEST_TMPDIR/$part.$model"
        assert_success
    done
}

# codes_in FILE: the error codes FILE's replies carry, one a line.
codes_in() { grep -o '"op":"error","code":"[a-z_]*"' "$1" | cut -d'"' -f8 | sort -u; }

@test "the specification's error codes are the ones common/ft.h defines" {
    run spec_codes
    assert_success
    assert [ "${#lines[@]}" -ge 17 ]
    run diff <(spec_codes) <(header_codes)
    assert_success
}

@test "every server of the protocol answers the conformance requests with the same bytes as stage 5's" {
    # (about 15 s: five servers, about 120 requests each)
    # The digest of a file is remembered once it is 0.05 s old, so that a
    # remembered file touched while it is sent gets "changed".
    NIANBAO_DIGEST_SETTLE=0.05 transcripts main "$FT_SERVERS" --max-command 100 \
        --max-upload 2000000
    same_as stage5 main "iterative fork thread poll"
    # Every reply came: nothing waited for a reply that did not come.
    run grep -c '^<no reply' "$BATS_TEST_TMPDIR/main.stage5"
    assert_output 0
    # Every code of the specification is asked for here, but for the ones
    # of a --read-only server and stage 6's own (the next two tests).
    run diff <(codes_in "$BATS_TEST_TMPDIR/main.stage5") \
        <(header_codes | grep -vx 'read_only\|busy\|timeout')
    assert_success
}

@test "every server refuses a put with read_only when started with --read-only, with the same bytes" {
    transcripts read_only "$FT_SERVERS" --read-only
    same_as stage5 read_only "iterative fork thread poll"
    run codes_in "$BATS_TEST_TMPDIR/read_only.stage5"
    assert_output 'read_only'
}

@test "stage 6's models say busy and timeout with the same bytes (stage 5 has neither: one client, closed in silence)" {
    # busy needs --max-clients, which the iterative model does not have.
    transcripts stage6 "fork thread poll" --max-clients 1 --frame-timeout 0.3
    same_as fork stage6 "thread poll"
    run cat "$BATS_TEST_TMPDIR/stage6.fork"
    assert_output '== timeout: a frame not whole within --frame-timeout
{"op":"error","code":"timeout","message":"the frame did not arrive within 0.3 s (--frame-timeout): closing the connection","size":0}
<closed>
== busy: a client over --max-clients
{"op":"error","code":"busy","message":"the server is serving its limit of 1 clients (--max-clients); try again later","size":0}
<closed>'
    transcripts timeout iterative --frame-timeout 0.3
    run cat "$BATS_TEST_TMPDIR/timeout.iterative"
    assert_output "$(head -n 3 "$BATS_TEST_TMPDIR/stage6.fork")"
}
