#!/usr/bin/env bash
# tests/e2e/resume_retry.sh: nodes that failed, and `vmrun resume --retry-failed`
# (docs/journal.md). A rolling maintenance of the demo cluster (tests/e2e/fixtures/failing_step.lua)
# runs through the REST backend against `vmrun serve --clock client`, its step failing on chosen
# nodes until a file exists; a failed node stays cordoned. Each case has its own server:
#   a. worker-12 fails, the budget (0) stops the run. A plain `vmrun resume` maintains every other
#      node but leaves worker-12 failed and untouched (not rebooted), exit 1, and the journal ends
#      "failed", not "done"; so does a second plain resume, with nothing left to do. Then (the
#      file made) `vmrun resume --retry-failed` maintains worker-12: exit 0, the journal ends "done".
#   b. worker-12 and then worker-03 fail (budget 2): `--retry-failed` takes them up in the order
#      they failed, worker-12 first, not in name order.
#   c. worker-02 fails; without its capacity the dedicated-CPU VMs of worker-06 have no room, so a
#      plain resume fails worker-06 too. `--retry-failed` holds worker-06 back until worker-02 is
#      done (the log says it waits) and ends with exit 0.
#   d. the step on worker-12 returns without rebooting it, so the wait for its new boot fails:
#      `--retry-failed` runs the step again (an earlier "success" that did not reboot the node
#      does not count), and worker-12 is rebooted once.
# Every case ends with every node uncordoned, the VMs running that run after the maintenance
# without failures, each worker rebooted exactly once (the server's request log) and the journal
# ending "done". `--retry-failed` on a new run is refused.
#   bash tests/e2e/resume_retry.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: resume_retry.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
srv=
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
export VMRUN_RUN_INDEX=$tmp/runs.tsv # (not the user's index)
fixture=$src/tests/e2e/fixtures/failing_step.lua

fail() {
  echo "FAIL: $*"
  exit 1
}

# shellcheck source=tests/e2e/lib/demo_server.sh
. "$src/tests/e2e/lib/demo_server.sh"

# check DIR: the end state (nodes, VMs, one reboot per worker); prints what is wrong
check() {
  "$vmrun" -q -e '
    local bad = dofile(arg[4])(arg[1], arg[2], "not after a maintenance without failures", nil, arg[3])
    table.sort(bad)
    if #bad > 0 then print(table.concat(bad, "; ")) os.exit(1) end' "$base" "$tmp/reference" "$1/requests.log" \
    "$src/tests/e2e/lib/end_state.lua"
}

# records FILE: the journal's records after the last "resumed" one (all without one), a line each:
# "resumed retry_failed=...", "node NODE STATE", "end STATUS"
records() {
  "$vmrun" -q -e '
    local lines = {}
    for line in io.lines(arg[1]) do
      local r = json.decode(line)
      if r.type == "resumed" then lines = { "resumed retry_failed=" .. tostring(r.retry_failed) } end
      if r.type == "node" then lines[#lines + 1] = "node " .. r.node .. " " .. r.state end
      if r.type == "end" then lines[#lines + 1] = "end " .. r.status end
    end
    print(table.concat(lines, "\n"))' "$1"
}

# start CASE FAILING [BUDGET [MODE]]: a server for the case (sets d, srv, base) and the run whose
# step fails on the comma-separated FAILING nodes (failing_step.lua's MODE); sets journal. The
# run must exit 1 with those nodes failed and cordoned.
start() {
  local case=$1 failing=$2 budget=${3:-0} mode=${4:-} rc n
  d=$tmp/$case
  mkdir -p "$d"
  serve_demo "$d"
  [ -n "$base" ] || fail "$case: the server did not start: $(cat "$d/serve.err")"
  "$vmrun" --kubeconfig "$d/kubeconfig" --state-dir "$d/state" "$fixture" "$failing" "$d/fixed" "$budget" \
    ${mode:+"$mode"} >"$d/out1" 2>"$d/err1"
  rc=$?
  [ "$rc" -eq 1 ] || fail "$case: the failing run exited $rc (1 expected): $(tail -3 "$d/err1")"
  journal=$(ls "$d"/state/runs/*.jsonl)
  for n in ${failing//,/ }; do
    grep -q "^$n failed$" "$d/out1" || fail "$case: $n did not fail: $(cat "$d/out1")"
    [ "$(curl -sf "$base/api/v1/nodes/$n" | "$vmrun" -q -e 'print(json.decode(io.read("a")).spec.unschedulable)')" = true ] ||
      fail "$case: $n is not cordoned after its failure"
  done
}

# resume CASE OUT EXPECTED_RC [OPTIONS...]: vmrun resume of the case's run; $d/OUT.out, .err,
# .records (records of this attempt)
resume() {
  local case=$1 out=$2 want=$3 rc
  shift 3
  "$vmrun" resume --state-dir "$d/state" "$@" >"$d/$out.out" 2>"$d/$out.err"
  rc=$?
  [ "$rc" -eq "$want" ] || fail "$case: resume $* exited $rc ($want expected): $(grep -E 'ERROR|vmrun' "$d/$out.err" | tail -3)"
  records "$journal" >"$d/$out.records"
}

# finish CASE: the end state, and the server goes
finish() {
  local bad
  [ "$(tail -1 "$d/retry.records")" = "end done" ] || fail "$1: the journal does not end done: $(tail -1 "$d/retry.records")"
  bad=$(check "$d") || fail "$1: end state: $bad"
  kill "$srv"
  wait "$srv" 2>/dev/null
  srv=
}

# the reference: which VMIs run after the same maintenance without failures (in-process)
: >"$tmp/fixed"
"$vmrun" -q --cluster "$src/playbooks/clusters/demo.yaml" "$src/tests/e2e/fixtures/run_then_state.lua" \
  "$fixture" worker-02 "$tmp/fixed" >"$tmp/reference.out" 2>"$tmp/reference.err" ||
  fail "the run without failures: $(tail -3 "$tmp/reference.err")"
sed -n 's/^vmi \([^ ]*\) Running on .*/\1/p' "$tmp/reference.out" >"$tmp/reference"
[ -s "$tmp/reference" ] || fail "no VMI runs after the run without failures"

# --- a: a plain resume leaves the failed node, and the run failed; --retry-failed takes it up ---------
start a worker-12
grep -q "^stopped: " "$d/out1" || fail "a: the run did not stop at the failure budget: $(cat "$d/out1")"
resume a plain 1
grep -q "^worker-12 skipped: failed earlier in run " "$d/plain.out" || fail "a: worker-12 not reported failed earlier: $(cat "$d/plain.out")"
grep -qE "^worker-12 (done|failed)$" "$d/plain.out" && fail "a: the plain resume maintained worker-12: $(cat "$d/plain.out")"
[ "$(grep -c ' done$' "$d/plain.out")" -ge 1 ] || fail "a: the plain resume maintained no other node: $(cat "$d/plain.out")"
grep -q ' failed$' "$d/plain.out" && fail "a: another node failed: $(cat "$d/plain.out")"
grep -q "^node worker-12 " "$d/plain.records" && fail "a: the plain resume touched worker-12: $(cat "$d/plain.records")"
[ "$(tail -1 "$d/plain.records")" = "end failed" ] || fail "a: the plain resume's journal does not end failed: $(tail -1 "$d/plain.records")"
grep -q 'nodes/worker-12/reboot' "$d/requests.log" && fail "a: worker-12 was rebooted without --retry-failed"
resume a again 1 # (nothing left but the failed node)
[ "$(tr '\n' ' ' <"$d/again.records")" = "resumed retry_failed=nil end failed " ] ||
  fail "a: the second plain resume's journal: $(cat "$d/again.records")"
: >"$d/fixed"
resume a retry 0 --retry-failed
grep -q "the node(s) that failed earlier are tried again, before the nodes not started yet: worker-12 run=" "$d/retry.err" ||
  fail "a: resume --retry-failed did not say what it retries: $(grep INFO "$d/retry.err" | head -5)"
[ "$(head -2 "$d/retry.records" | tr '\n' ' ')" = "resumed retry_failed=true node worker-12 started " ] ||
  fail "a: the retried attempt's journal: $(cat "$d/retry.records")"
finish a

# --- b: retried in the order they failed --------------------------------------------------------------
start b worker-12,worker-03 2
: >"$d/fixed"
resume b retry 0 --retry-failed
grep -q "the node(s) that failed earlier are tried again, before the nodes not started yet: worker-12, worker-03 run=" "$d/retry.err" ||
  fail "b: not in the order they failed: $(grep 'tried again' "$d/retry.err")"
[ "$(sed -n 2p "$d/retry.records")" = "node worker-12 started" ] || fail "b: worker-12 did not go first: $(head -4 "$d/retry.records")"
finish b

# --- c: a node whose VMs only the failed node can take waits for it ----------------------------------------
start c worker-02
resume c plain 1
grep -q "^worker-06 failed$" "$d/plain.out" || fail "c: worker-06 did not fail for want of worker-02: $(cat "$d/plain.out")"
: >"$d/fixed"
resume c retry 0 --retry-failed
grep -q "tried again, before the nodes not started yet: worker-02, worker-06 run=" "$d/retry.err" ||
  fail "c: not in the order they failed: $(grep 'tried again' "$d/retry.err")"
grep -q "worker-06 waits for a later batch: no room now outside the batch for prod-db/oracle-03" "$d/retry.err" ||
  fail "c: worker-06 did not wait for worker-02: $(grep -E 'batch' "$d/retry.err" | head -5)"
finish c
# --- d: a step that "succeeded" without rebooting the node runs again -----------------------------------
start d worker-12 0 noreboot
grep -q "worker-12 failed: .*boot" "$d/err1" || fail "d: worker-12 did not fail waiting for its new boot: $(grep ERROR "$d/err1")"
grep -q 'nodes/worker-12/reboot' "$d/requests.log" && fail "d: worker-12 was rebooted by the first run"
: >"$d/fixed"
resume d retry 0 --retry-failed
grep -q "maintenance step on worker-12: begun by the earlier attempt" "$d/retry.err" &&
  fail "d: the step was taken as done: $(grep 'worker-12' "$d/retry.err" | head -5)"
finish d

# a finished run: nothing to retry
out=$("$vmrun" resume --state-dir "$tmp/c/state" --retry-failed 2>&1) && fail "c: resume of a finished run: $out"

# --- a new run has nothing to retry ---------------------------------------------------------------------
out=$("$vmrun" --retry-failed -e 'print(1)' 2>&1)
[ $? -eq 2 ] || fail "--retry-failed on a new run: exit 2 expected: $out"
grep -q -- "--retry-failed belongs to \`vmrun resume\`" <<<"$out" || fail "--retry-failed on a new run: $out"
echo "resume_retry: ok"
