#!/usr/bin/env bash
# tests/e2e/rolling.sh: playbooks/rolling-maintenance.lua end to end: a full run on
# tests/lua/fixtures/rolling_cluster.yaml (exit 0, the summary table, report.json and junit.xml),
# the demo cluster stopped by its pre-flight (exit 1, nothing changed), --skip-blocked, a config
# file whose step command fails (the node stays cordoned, exit 1), and bad arguments and config
# files (exit 2, naming the file). Usage: bash tests/e2e/rolling.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: rolling.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
fixture="$src/tests/lua/fixtures/rolling_cluster.yaml"
rolling() { "$vmrun" "$@"; }
playbook="$src/playbooks/rolling-maintenance.lua"

out=$(rolling --cluster "$fixture" "$playbook" --report "$tmp/rep" 2>&1) || fail "a full run must exit 0: $out"
grep -qE '^NODE +BATCH +STATE +MIGRATED' <<<"$out" || fail "no summary header: $out"
[ "$(grep -cE '^w[1-4] +[12] +done ' <<<"$out")" -eq 4 ] || fail "four nodes done expected: $out"
grep -q '^left off by its policy: prod/scratch$' <<<"$out" || fail "leave-off not reported: $out"
grep -qE '^run: [0-9]+m[0-9]+s simulated in 2 batch\(es\) of up to 2; the limits allow no less than [0-9]+m[0-9]+s' <<<"$out" ||
  fail "no run line: $out"
grep -qE 'INFO  w[1-4] done: [1-4]/4 nodes' <<<"$out" || fail "no progress lines: $out"
"$vmrun" -e '
  local doc = json.decode_file(arg[1])
  assert(doc.run.failed_nodes == 0 and doc.run.seconds > 0 and doc.run.lower_bound_seconds > 0, "run")
  assert(#doc.nodes == 4, "nodes")
  local migrated = 0
  for _, n in ipairs(doc.nodes) do
    assert(n.state == "done" and n.drain_seconds > 0 and n.ready_seconds > 0, n.name)
    for _, v in ipairs(n.vms) do
      if v.outcome == "migrated" then
        migrated = migrated + 1
        assert(v.target ~= n.name and v.start and v["end"] and v.retries == 0, v.name)
      end
    end
  end
  assert(migrated >= 8, "migrations: " .. migrated)
' "$tmp/rep/report.json" || fail "report.json"
grep -q '<testsuite name="rolling-maintenance" tests="4" failures="0" skipped="0"' "$tmp/rep/junit.xml" ||
  fail "junit.xml: $(cat "$tmp/rep/junit.xml")"
# timeline.html: one self-contained page, a row per node, a bar per migration, nothing fetched
html="$tmp/rep/timeline.html"
[ "$(grep -cE '<text x="4" y="[0-9]+">w[1-4] \(batch [12]\)</text>' "$html")" -eq 4 ] || fail "timeline rows: $(head -c 2000 "$html")"
[ "$(grep -c '<line class="mig"' "$html")" -ge 8 ] || fail "timeline migrations"
grep -qE '<script|src=|href=|@import|url\(' "$html" && fail "timeline.html must not fetch anything"
grep -q '</svg>' "$html" && grep -q '</html>' "$html" || fail "timeline.html is cut"

# the demo cluster with kubectl's strict drain flags: pre-flight finds that worker-05's bare pod
# would block; nothing changes
printf 'drain: {delete_emptydir_data: true}\n' >"$tmp/strict.yaml"
out=$(rolling "$playbook" --config "$tmp/strict.yaml" --nodes worker-01,worker-05 2>&1)
[ $? -eq 1 ] || fail "a blocked node must exit 1: $out"
grep -q 'pre-flight: 1 node(s) would block; nothing was changed:' <<<"$out" || fail "no pre-flight stop: $out"
grep -qE '^  worker-05 +default/debug-toolbox: cannot delete Pods that declare no controller \(use force = true to override\)$' <<<"$out" ||
  fail "no blocker line: $out"
grep -q 'cordoned' <<<"$out" && fail "nothing may be cordoned: $out"
out=$(rolling "$playbook" --config "$tmp/strict.yaml" --skip-blocked --nodes worker-01,worker-05 2>&1)
[ $? -eq 1 ] || fail "a skipped node must exit 1: $out"
grep -qE '^worker-01 +1 +done' <<<"$out" || fail "worker-01 not done: $out"
grep -q '^skipped worker-05: pre-flight: default/debug-toolbox' <<<"$out" || fail "worker-05 not skipped: $out"
# with the playbook's default flags (KubeVirt's), the VMs' maintenance policies let the demo's
# special cases through: reporting-01 (ReadWriteOnce) is stopped and started again after
out=$(rolling "$playbook" --nodes worker-04 --report "$tmp/demo" 2>&1) || fail "worker-04 must be maintained: $out"
grep -qE '^worker-04 +1 +done' <<<"$out" || fail "worker-04 not done: $out"
grep -q 'stopped prod-db/reporting-01 for the maintenance (restart-after)' <<<"$out" || fail "no policy stop: $out"
grep -q 'started prod-db/reporting-01 again' <<<"$out" || fail "no policy start: $out"

# on a terminal (script(1) gives the run a pty): the live status line under the log lines
script -qfc "'$vmrun' --cluster '$fixture' '$playbook'" "$tmp/tty.out" >/dev/null 2>&1 || fail "the run on a pty must exit 0"
grep -aqE 'vmrun batch [12]/2 \(w[1-4], w[1-4]\) \| nodes [0-4]/4 done \| [0-9]+ migrating' "$tmp/tty.out" ||
  fail "no live status line: $(tail -c 600 "$tmp/tty.out" | cat -v)"
grep -aq $'\r\033\[K' "$tmp/tty.out" || fail "the status line is not redrawn in place"
NO_COLOR=1 script -qfc "'$vmrun' --cluster '$fixture' '$playbook'" "$tmp/tty2.out" >/dev/null 2>&1
grep -aq $'\033\[1m' "$tmp/tty2.out" && fail "NO_COLOR must keep colours out"
grep -aq '| nodes' "$tmp/tty2.out" || fail "NO_COLOR keeps the status line"
out=$(rolling --cluster "$fixture" "$playbook" 2>&1)
grep -q '| nodes' <<<"$out" && fail "no status line when not on a terminal: $out"

# the main job: the whole demo cluster, every worker maintained
out=$(rolling "$playbook" 2>&1) || fail "the demo's rolling maintenance must exit 0: $out"
[ "$(grep -cE '^worker-[0-9]+ +[0-9]+ +done ' <<<"$out")" -eq 12 ] || fail "12 workers done expected: $out"
grep -q '^run: .* simulated in [0-9]* batch(es)' <<<"$out" || fail "no run line: $out"

# a step command that fails: the node stays cordoned, the run stops (failure budget 0)
printf 'step: ["false"]\nnodes: [w1, w2]\nbatch: 1\n' >"$tmp/fails.yaml"
out=$(rolling --cluster "$fixture" "$playbook" --config "$tmp/fails.yaml" 2>&1)
[ $? -eq 1 ] || fail "a failing step must exit 1: $out"
grep -qE 'step failed: false exited 1' <<<"$out" || fail "no step failure: $out"
grep -qE 'failed: .*it stays cordoned' <<<"$out" || fail "no cordoned notice: $out"
grep -q '^stopped after batch 1: 1 failed node' <<<"$out" || fail "no stop: $out"

# bad arguments and config files: exit 2, naming what is wrong
expect2() {
  local pattern=$1
  shift
  out=$(rolling "$@" 2>&1)
  [ $? -eq 2 ] || fail "vmrun $* must exit 2: $out"
  grep -qE -- "$pattern" <<<"$out" || fail "vmrun $*: no /$pattern/: $out"
}
expect2 'unknown argument --bogus' --cluster "$fixture" "$playbook" --bogus
expect2 '--batch needs a whole number' --cluster "$fixture" "$playbook" --batch 0
expect2 'no node w9' --cluster "$fixture" "$playbook" --nodes w9
printf 'step: ["true"]\nbatchsize: 2\n' >"$tmp/unknown.yaml"
expect2 "unknown.yaml: unknown setting batchsize" --cluster "$fixture" "$playbook" --config "$tmp/unknown.yaml"
printf 'step: [true\nnodes: 3\n' >"$tmp/broken.yaml"
expect2 "broken.yaml:[0-9]+" --cluster "$fixture" "$playbook" --config "$tmp/broken.yaml"
printf 'step: []\n' >"$tmp/empty.yaml"
expect2 "argv template is empty" --cluster "$fixture" "$playbook" --config "$tmp/empty.yaml"
echo "rolling: ok"
