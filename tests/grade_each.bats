#!/usr/bin/env bats
# tools/grade --each: a whole class at once. The same command once per
# submission directory ({dir} replaced), several graders at a time; each
# directory gets its report and its captures, stdout the class table,
# --html a page; --format writes the report as text, TAP, JUnit XML or
# Gradescope's results.json (for one program too). The submissions are the
# stage 3 starter (fails every scenario), exercises/broken/client3.py
# (its default is --bug none: passes every one) and that client with its
# byte-order bug switched on. The 40-submission runs are in heavy/.

setup() {
    load 'test_helper/common-setup'
    _common_setup
    GRADE="$ROOT/tools/grade"
    # Debian's interpreter when there is one: a pyenv shim costs seconds a start.
    PY=python3
    [ -x /usr/bin/python3 ] && PY=/usr/bin/python3
    load 'test_helper/grade'
    cd "$BATS_TEST_TMPDIR"
}
teardown() { _common_teardown; }

# all_scenarios: the stage 3 client's scenarios, as the table lists them.
all_scenarios() {
    "$GRADE" client --proto stage3 --list | awk '{ print $1 }' | paste -sd, | sed 's/,/, /g'
}

# ~4 s
@test "--each grades each directory: the class table in the order given, exit 1, each report and its captures in its own directory" {
    submission subs/alice correct
    submission subs/bob starter
    submission subs/carol starter
    run "$GRADE" client --proto stage3 --each subs/alice subs//bob subs/carol/ -- \
        "$PY" '{dir}/client.py' '{port}'
    assert_failure 1
    all=$(all_scenarios)
    assert_output "submission  passed  failed
subs/alice  14/14
subs/bob    0/14    $all
subs/carol  0/14    $all
1 of 3 submissions passed every scenario; each one's report is DIR/grade.txt, the captures of its failures in DIR/grade-captures/"
    # Each report is the one-program report of that directory's program.
    run head -1 subs/bob/grade.txt
    assert_output "grading the stage3 client with 14 scenarios, seed 1: $PY subs/bob/client.py {port}"
    run tail -1 subs/alice/grade.txt
    assert_output 'all 14 scenarios passed'
    run tail -1 subs/carol/grade.txt
    assert_output "0 of 14 scenarios passed; failed: $all"
    # Every capture a report names is in its own directory, and is there.
    for who in bob carol; do
        run grep -c "^      capture: subs/$who/grade-captures/client-stage3-.*-seed1.nbcap$" "subs/$who/grade.txt"
        assert_output 14
        for capture in $(sed -n 's/^      capture: //p' "subs/$who/grade.txt"); do
            [ -s "$capture" ] || { echo "no $capture"; return 1; }
        done
        run grep -c "^      view: .* --replay subs/$who/grade-captures/" "subs/$who/grade.txt"
        assert_output 14
    done
    [ ! -e subs/alice/grade-captures ] && [ ! -e grade-captures ]
    # No path with "//", and the replay line runs that one scenario again.
    run grep -l '//' subs/*/grade.txt
    assert_output ''
    replay=$(sed -n 's/^      replay: //p' subs/bob/grade.txt | head -1)
    [[ $replay == *"--only coalesced --seed 1 --captures subs/bob/grade-captures -- $PY subs/bob/client.py {port}" ]]
    run bash -c "$replay"
    assert_failure 1
    assert_line '0 of 1 scenario passed; failed: coalesced'
}

# ~3 s
@test "every submission passing exits 0; {dir} is replaced in any argument, as often as it comes" {
    submission 'class/a b' correct
    submission class/c correct
    run "$GRADE" client --proto stage3 --only coalesced,dribble --each 'class/a b' class/c -- \
        sh -c 'cd "$1" && exec "$2" client.py "$3" # {dir}' sh '{dir}' "$PY" '{port}'
    assert_success
    assert_output "submission  passed  failed
class/a b   2/2
class/c     2/2
2 of 2 submissions passed every scenario; each one's report is DIR/grade.txt"
    run head -1 'class/a b/grade.txt'
    assert_output --partial ": sh -c 'cd \"\$1\" && exec \"\$2\" client.py \"\$3\" # class/a b' sh 'class/a b' $PY {port}"
}

# < 1 s
@test "a directory that does not exist, is no directory or is named twice: one line, exit 2, nothing graded" {
    submission subs/alice correct
    run "$GRADE" client --proto stage3 --each subs/alice subs/zed -- "$PY" '{dir}/client.py' '{port}'
    assert_failure 2
    assert_output 'grade: --each: subs/zed: No such file or directory'
    run "$GRADE" client --proto stage3 --each subs/alice subs/alice/client.py -- "$PY" '{dir}/client.py' '{port}'
    assert_failure 2
    assert_output 'grade: --each: subs/alice/client.py: not a directory'
    run "$GRADE" client --proto stage3 --each subs/alice subs/../subs/alice -- "$PY" '{dir}/client.py' '{port}'
    assert_failure 2
    assert_output 'grade: --each: subs/../subs/alice: the same directory as subs/alice, named before'
    [ ! -e subs/alice/grade.txt ]
}

# < 1 s
@test "usage: {dir} and --each go together, --html and --jobs are for --each, --captures is not, --tap is --format tap" {
    run "$GRADE" client --proto stage3 -- "$PY" '{dir}/client.py' '{port}'
    assert_failure 2
    assert_line --index 0 'grade: {dir} in the command is for a class: grade with --each DIR...'
    mkdir a
    run "$GRADE" client --proto stage3 --each a -- "$PY" client.py '{port}'
    assert_failure 2
    assert_line --index 0 'grade: --each: the command must say where a submission is: put {dir} in it (-- python3 {dir}/client.py {port})'
    run "$GRADE" client --proto stage3 --each -- "$PY" '{dir}/client.py' '{port}'
    assert_failure 2
    assert_line --index 0 "grade: --each: name the submissions' directories after it (--each subs/*)"
    run "$GRADE" client --proto stage3 --html page.html -- "$PY" client.py '{port}'
    assert_failure 2
    assert_line --index 0 'grade: --html is for a class: grade with --each DIR...'
    run "$GRADE" client --proto stage3 --jobs 2 -- "$PY" client.py '{port}'
    assert_failure 2
    assert_line --index 0 'grade: --jobs is for a class: grade with --each DIR...'
    run "$GRADE" client --proto stage3 --each a --captures c -- "$PY" '{dir}/client.py' '{port}'
    assert_failure 2
    assert_line --index 0 'grade: --captures is not for --each: each DIR gets its own (its captures in DIR/grade-captures)'
    run "$GRADE" client --proto stage3 --tap --format junit -- "$PY" client.py '{port}'
    assert_failure 2
    assert_line --index 0 'grade: --tap is --format tap: give one of them'
    run "$GRADE" client --proto stage3 --format xml -- "$PY" client.py '{port}'
    assert_failure 2
    assert_line --index 0 "grade: --format: 'xml' is not one of text|tap|junit|gradescope"
    run "$GRADE" client --proto stage3 --each a --jobs 0 -- "$PY" '{dir}/client.py' '{port}'
    assert_failure 2
    assert_line --index 0 --partial 'grade: --jobs: '
    run "$GRADE" client --proto stage3 --each a --html /no/such/dir/page.html -- "$PY" '{dir}/client.py' '{port}'
    assert_failure 2
    assert_output 'grade: --html: cannot write /no/such/dir/page.html: No such file or directory'
    [ ! -e a/grade.txt ]
}

# ~3 s
@test "--html: one page, submissions x scenarios; hostile names and output escaped; each failed cell opens on its steps, diagnosis, replay and view" {
    hostile=$'subs/<script>"q\'&\e[31m'
    submission "$hostile" byte-order
    submission subs/alice correct
    # A program that prints invalid UTF-8, markup and terminal escapes.
    mkdir subs/mallory
    printf '%s\n' 'import sys' \
        'sys.stdout.buffer.write(b"\xff\xfe<b>&\x1b[2J\x00</td>")' \
        'sys.stderr.buffer.write(b"reply length \xc3\x28 <script>\x07\n")' \
        'sys.exit(1)' >subs/mallory/client.py
    run "$GRADE" client --proto stage3 --only coalesced,dribble,text-as-length --each "$hostile" \
        subs/alice subs/mallory --html page.html -- "$PY" '{dir}/client.py' '{port}'
    assert_failure 1
    # The table shows the escape, it does not send it.
    assert_line 'subs/<script>"q'"'"'&\x1b[31m  1/3     coalesced, dribble'
    run grep -c $'\e' page.html
    assert_output 0
    run grep -c '<script' page.html
    assert_output 0
    grep -qF '<tr><th>subs/&lt;script&gt;&quot;q&#39;&amp;\x1b[31m</th><td>1/3</td>' page.html
    grep -qF '<tr><th>subs/alice</th><td>3/3</td><td class="pass">pass</td><td class="pass">pass</td><td class="pass">pass</td></tr>' page.html
    # Valid UTF-8 with no control byte, its elements balanced, one <details>
    # a failure (2 + 3), each with steps, replay and view.
    "$PY" - page.html <<'EOF'
import sys
from html.parser import HTMLParser
text = open(sys.argv[1], encoding='utf-8', errors='strict').read()
assert not any(ord(c) < 32 and c not in '\t\n\r' for c in text), 'a control character'
void = {'meta', 'br'}
class Check(HTMLParser):
    def __init__(self):
        super().__init__()
        self.stack, self.count = [], {}
    def handle_starttag(self, tag, attrs):
        self.count[tag] = self.count.get(tag, 0) + 1
        if tag not in void:
            self.stack.append(tag)
    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-5:])
        self.stack.pop()
c = Check()
c.feed(text)
assert c.stack == [], c.stack
assert c.count['details'] == 5, c.count
assert c.count['tr'] == 4, c.count
assert 'script' not in c.count and 'b' not in c.count, c.count
EOF
    [ "$(grep -c '^<p>replay: <code>' page.html)" -eq 5 ]
    [ "$(grep -c '^<p>view: <code>' page.html)" -eq 5 ]
    [ "$(grep -c '^<p>diagnosis: ' page.html)" -ge 2 ]
    grep -qF '1. the grader (playing the server) started the client' page.html
}

# ~12 s
@test "--jobs 1 and --jobs 4 give the same table and the same verdicts and advice in each report" {
    submission s/1 starter
    submission s/2 correct
    submission s/3 byte-order
    submission s/4 starter
    run "$GRADE" client --proto stage3 --jobs 1 --each s/* -- "$PY" '{dir}/client.py' '{port}'
    assert_failure 1
    one=$output
    for n in 1 2 3 4; do cp "s/$n/grade.txt" "jobs1-$n.txt"; done
    run "$GRADE" client --proto stage3 --jobs 4 --each s/* -- "$PY" '{dir}/client.py' '{port}'
    assert_failure 1
    assert_equal "$output" "$one"
    assert_line --index 2 's/2         14/14'
    for n in 1 2 3 4; do assert_equal "$(verdict_lines "s/$n/grade.txt")" "$(verdict_lines "jobs1-$n.txt")"; done
}

# junit_failed FILE: the names of FILE's failed test cases, comma-separated,
# with the numbers of tests and failures the suite declares; parsed by
# Python's XML parser (which refuses what XML 1.0 cannot carry).
junit_failed() {
    "$PY" -c '
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "testsuites"
suites = root.findall("testsuite")
assert len(suites) == 1
suite = suites[0]
cases = suite.findall("testcase")
failed = [c.get("name") for c in cases if c.find("failure") is not None]
for c in cases:
    f = c.find("failure")
    assert f is None or (f.get("message") and f.text.startswith("FAIL  " + c.get("name")))
assert int(suite.get("tests")) == len(cases) == int(root.get("tests"))
assert int(suite.get("failures")) == len(failed) == int(root.get("failures"))
print("%d %d %s" % (len(cases), len(failed), ", ".join(failed)))' "$1"
}

# ~5 s
@test "--format junit: a testcase a scenario, a failure each failed one, as the text verdicts say; with --each in DIR/grade.xml" {
    submission order byte-order
    hostile=$'k/<&\e\x01'
    submission "$hostile" byte-order
    submission k/start starter
    run "$GRADE" client --proto stage3 --format junit -- "$PY" order/client.py '{port}'
    assert_failure 1
    echo "$output" >one.xml
    run "$GRADE" client --proto stage3 -- "$PY" order/client.py '{port}'
    failed=$(sed -n 's/^[0-9]* of 14 scenarios passed; failed: //p' <<<"$output")
    n_failed=$(grep -c '^FAIL' <<<"$output")
    [ -n "$failed" ] && [ "$n_failed" -gt 0 ]
    run junit_failed one.xml
    assert_success
    assert_output "14 $n_failed $failed"
    # A class: each grade.xml against its row of the table.
    run "$GRADE" client --proto stage3 --format junit --each "$hostile" k/start -- "$PY" '{dir}/client.py' '{port}'
    assert_failure 1
    assert_output --partial "each one's report is DIR/grade.xml"
    table=$output
    for dir in "$hostile" k/start; do
        run junit_failed "$dir/grade.xml"
        assert_success
        names=${output#* * }
        grep -qF -- "  $names" <<<"$table" || { echo "no row failing $names"; echo "$table"; return 1; }
    done
    grep -qF 'k/&lt;&amp;\x1b\x01/client.py' "$hostile/grade.xml"
}

# ~4 s
@test "--format gradescope: results.json's score, max_score and tests are the text verdicts; with --each in DIR/results.json" {
    submission order byte-order
    run "$GRADE" client --proto stage3 -- "$PY" order/client.py '{port}'
    text=$output
    run "$GRADE" client --proto stage3 --format gradescope -- "$PY" order/client.py '{port}'
    assert_failure 1
    echo "$output" >results.json
    check='
import json, re, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
text = open(sys.argv[2]).read()
verdicts = re.findall(r"^(PASS|FAIL)  (\S+)", text, re.M)
assert [t["name"] for t in d["tests"]] == [n for _, n in verdicts]
for t, (v, n) in zip(d["tests"], verdicts):
    assert t["status"] == ("passed" if v == "PASS" else "failed"), t
    assert t["score"] == (1 if v == "PASS" else 0) and t["max_score"] == 1, t
    assert t["output"].startswith(v + "  " + n), t["output"][:40]
assert d["max_score"] == len(verdicts)
assert d["score"] == sum(v == "PASS" for v, _ in verdicts)
print(d["score"], d["max_score"])'
    echo "$text" >text.txt
    run "$PY" -c "$check" results.json text.txt
    assert_success
    assert_output "3 14"
    # A class: each results.json against that directory's own text report.
    submission g/a correct
    submission g/b starter
    run "$GRADE" client --proto stage3 --format gradescope --each g/a g/b -- "$PY" '{dir}/client.py' '{port}'
    assert_failure 1
    run "$GRADE" client --proto stage3 --each g/a g/b --jobs 1 -- "$PY" '{dir}/client.py' '{port}'
    run "$PY" -c "$check" g/a/results.json g/a/grade.txt
    assert_output "14 14"
    run "$PY" -c "$check" g/b/results.json g/b/grade.txt
    assert_output "0 14"
}

# ~2 s
@test "--tap is --format tap, for one program and with --each (DIR/grade.tap)" {
    submission t/a starter
    run "$GRADE" client --proto stage3 --only coalesced,dribble --tap -- "$PY" t/a/client.py '{port}'
    tap=$output
    run "$GRADE" client --proto stage3 --only coalesced,dribble --format tap -- "$PY" t/a/client.py '{port}'
    assert_failure 1
    assert_equal "$output" "$tap"
    assert_line 'TAP version 13'
    assert_line 'not ok 2 - dribble: every byte of every reply in a segment of its own'
    run "$GRADE" client --proto stage3 --only coalesced,dribble --tap --each t/a -- "$PY" '{dir}/client.py' '{port}'
    assert_failure 1
    assert_line 't/a         0/2     coalesced, dribble'
    # the same verdicts (its captures are in t/a/grade-captures)
    assert_equal "$(grep -E '^(not )?ok|^#.*passed' t/a/grade.tap)" "$(grep -E '^(not )?ok|^#.*passed' <<<"$tap")"
    grep -qF '# capture: t/a/grade-captures/client-stage3-dribble-seed1.nbcap' t/a/grade.tap
}

# < 1 s
@test "a submission whose report cannot be written: its row says why, the others are graded, exit 3" {
    submission w/a correct
    submission w/b correct
    mkdir w/b/grade.txt
    run "$GRADE" client --proto stage3 --only coalesced --each w/a w/b -- "$PY" '{dir}/client.py' '{port}'
    assert_failure 3
    assert_output "submission  passed  failed
w/a         1/1
w/b         -/1     could not grade: cannot write w/b/grade.txt: Is a directory
1 of 2 submissions passed every scenario; 1 could not be graded; each one's report is DIR/grade.txt"
}
