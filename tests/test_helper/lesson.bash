# Helpers for the guided lesson's tests: tests/lesson.bats and
# tests/heavy/lesson.bats (the same checks over 20 runs), loaded after
# common-setup.bash.

# check_numbers FILE: every step of the transcript FILE says in its
# narration only numbers of its status and wire lines (or the commands'
# own: recv(1024), seq 1 2000, 4-byte, v1.1), and the ones that name sends,
# recvs, pending bytes, lengths and the STALE flag equal the status line's
# and the wire lines'. Prints one line per step: its status line.
check_numbers() {
    python3 - "$1" <<'PY'
import re, sys
text = open(sys.argv[1], encoding='utf-8').read()
# the slicer's piece sizes, as its section's set-up line says them
pieces = re.findall(r'pieces of (\d+) to (\d+) bytes, seed', text)
steps = re.split(r'\n-- step \d+ of \d+ --\n', text)[1:]
bad = 0
for n, block in enumerate(steps, 1):
    lines = block.split('\n')
    narration = lines[0]
    wire = [l for l in lines if l.startswith('wire: ')]
    status = [l for l in lines if l.startswith('status: ')]
    if len(status) != 1:
        print('step %d: %d status lines' % (n, len(status))); bad += 1; continue
    status = status[0]
    print(status)
    if '{' in narration:
        print('step %d: a fact was left out: %s' % (n, narration)); bad += 1
    st = {k: int(v) for k, v in re.findall(r'(sends|recvs|pending) (\d+)', status)}
    allowed = set(re.findall(r'\d+', status + ' '.join(wire)))
    # the commands' and the lesson's own words: not numbers of the run
    said = re.sub(r'recv\(1024\)|seq 1 2000|4-byte|v1\.1|version 1\.1|stage 3 and 4|[Cc]lient [12]',
                  '', narration)
    for lo, hi in pieces:
        said = said.replace('pieces of %s to %s bytes' % (lo, hi), '')
    if not re.findall(r'\d+', said):
        print('step %d: the narration names no number of the run: %s' % (n, narration)); bad += 1
    for num in re.findall(r'\d+', said):
        if num not in allowed:
            print('step %d: %s is in the narration but not on the status or wire lines: %s'
                  % (n, num, narration)); bad += 1
    want = {
        'recvs': [r'(\d+) recvs', r'recv in a loop, (\d+) times', r'\((\d+) recv with data',
                  r"recvs of client 2's request: (\d+)", r'its recvs of it: (\d+)',
                  r"the server's recvs of it(?: then)?: (\d+)"],
        'sends': [r'(\d+) sends(?! for the)', r'(\d+) pieces', r'\((\d+) sends for'],
        'pending': [r'\((\d+) bytes pending', r'the other (\d+) wait'],
    }
    if narration.startswith('UDP') or narration.startswith('TCP'):
        want = {'recvs': [r'\((\d+) recv with data', r"server's (\d+) recvfrom"],
                'sends': [r'(\d+) sends,', r'(\d+) datagrams']}
    for key, patterns in want.items():
        for pat in patterns:
            for num in re.findall(pat, narration):
                if int(num) != st.get(key):
                    print('step %d: the narration says %s %s, the status line %s'
                          % (n, num, key, st.get(key))); bad += 1
    # stage 6: the wait the narration names is the one on the status line
    waited = re.findall(r'client 2 waited (\d+) ms', status)
    for num in re.findall(r'waited (\d+) ms', narration):
        if [num] != waited:
            print('step %d: the narration says waited %s ms, the status line %s' % (n, num, waited))
            bad += 1
    m = re.search(r'recv #(\d+) returns .* reply #(\d+)\)', narration)
    if m and 'STALE: recv #%s returned bytes of reply #%s' % m.groups() not in status:
        print('step %d: the STALE flag of the narration is not on the status line' % n); bad += 1
    for pat, line in ((r'length field \((\d+)\)', 'wire: length field: %s'),
                      (r'total_size (\d+)', 'total_size=%s'),
                      (r'header length \((\d+)\)', 'wire: header length: %s')):
        for num in re.findall(pat, narration):
            if not any(line % num in w for w in wire):
                print('step %d: %s is not on the wire lines' % (n, line % num)); bad += 1
sys.exit(1 if bad else 0)
PY
}

# narration_agrees RUNS: stages 1, 3, 4 and 5 of the lesson, RUNS times
# each; every run's narration says its status line's numbers, and every
# run's status lines are the same.
narration_agrees() {
    # Stages 1, 3, 4 and 5 (the slicer parts paced), RUNS runs each: the
    # counts of every step must match the status line in each run and be
    # equal across runs. The runs go two at a time.
    local runs=$1 stage i
    for stage in 1 3 4 5; do
        for i in $(seq 1 "$runs"); do
            timeout 60 "$ROOT/tools/lesson.sh" --stage "$stage" </dev/null \
                >"$BATS_TEST_TMPDIR/s$stage.$i" 2>&1 &
            if [ $((i % 2)) -eq 0 ]; then wait; fi
        done
        wait
        for i in $(seq 1 "$runs"); do
            run check_numbers "$BATS_TEST_TMPDIR/s$stage.$i"
            assert_success
            printf '%s\n' "$output" >"$BATS_TEST_TMPDIR/status$stage.$i"
        done
        # the spread: every run's status lines, step by step, the same
        run sort -u < <(for i in $(seq 1 "$runs"); do sha "$BATS_TEST_TMPDIR/status$stage.$i"; done)
        if [ "${#lines[@]}" -ne 1 ]; then
            for i in $(seq 1 "$runs"); do echo "run $i:"; cat "$BATS_TEST_TMPDIR/status$stage.$i"; done
            return 1
        fi
        echo "stage $stage, $runs runs, all alike:"; cat "$BATS_TEST_TMPDIR/status$stage.1"
    done
}

# stage6_agrees RUNS: stage 6 of the lesson, RUNS times; each run's numbers
# are its status line's, iterative makes client 2 wait for client 1's cut
# and poll does not, and every run says the same thing.
stage6_agrees() {
    # RUNS runs, two at a time; each run's numbers are its status line's,
    # and each says the same thing: under iterative 0 recvs of client 2's
    # request while client 1 was connected, all 37 bytes pending, client 1
    # cut before client 2 was read; under poll client 2 read and answered
    # with client 1 still connected. The waits are measured: they vary.
    local runs=$1 i
    for i in $(seq 1 "$runs"); do
        timeout 60 "$ROOT/tools/lesson.sh" --stage 6 </dev/null >"$BATS_TEST_TMPDIR/s6.$i" 2>&1 &
        if [ $((i % 2)) -eq 0 ]; then wait; fi
    done
    wait
    local waits=()
    for i in $(seq 1 "$runs"); do
        run check_numbers "$BATS_TEST_TMPDIR/s6.$i"
        assert_success
        sed -E 's/[0-9]+ ms/N ms/g' <<<"$output" >"$BATS_TEST_TMPDIR/status6.$i"
        run cat "$BATS_TEST_TMPDIR/status6.$i"
        assert_line --index 0 'status: sends 1  recvs 0  pending 37 | client 2 waited N ms'
        assert_line --index 1 'status: sends 1  recvs 1  pending 0 | client 2 waited N ms'
        run grep -c '^  hello$' "$BATS_TEST_TMPDIR/s6.$i"
        assert_output 2
        grep -q "^Client 1 connected and said nothing; .* it made 0 recvs of client 2 (37 bytes pending)\. Its --idle deadline cut client 1 [0-9]* ms after client 2 asked" "$BATS_TEST_TMPDIR/s6.$i"
        grep -q '^The same against the poll server, which watches every connection at once: with client 1 connected and silent, it read client 2.s request (37 bytes, 0 bytes pending; its recvs of it: 1) and answered: client 2 waited [0-9]* ms, not for client 1.$' "$BATS_TEST_TMPDIR/s6.$i"
        # the iterative wait covers the cut: client 2 waited at least until
        # client 1 was cut, and the poll wait is shorter than that
        local held waited_it waited_poll
        held=$(sed -nE 's/^wire: the server cut client 1 ([0-9]+) ms after client 2 asked.*/\1/p' "$BATS_TEST_TMPDIR/s6.$i")
        waited_it=$(sed -nE '1,/^-- step 2/s/^status: .*client 2 waited ([0-9]+) ms$/\1/p' "$BATS_TEST_TMPDIR/s6.$i")
        waited_poll=$(sed -nE '/^-- step 2/,$s/^status: .*client 2 waited ([0-9]+) ms$/\1/p' "$BATS_TEST_TMPDIR/s6.$i")
        [ "$waited_it" -ge "$held" ]
        [ "$waited_poll" -lt "$held" ]
        waits+=("iterative $waited_it ms (client 1 cut after $held ms), poll $waited_poll ms")
    done
    run sort -u < <(for i in $(seq 1 "$runs"); do sha "$BATS_TEST_TMPDIR/status6.$i"; done)
    assert_equal "${#lines[@]}" 1
    printf 'run %s\n' "${waits[@]}"
}
