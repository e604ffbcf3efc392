#!/usr/bin/env bash
# tests/e2e/resume_retry.sh: nodes that failed, and `vmrun resume --retry-failed`
# (docs/journal.md). A rolling maintenance of the demo cluster (tests/e2e/fixtures/failing_step.lua)
# runs through the REST backend against `vmrun serve --clock client`; its step fails on worker-02
# until a file exists, so the run stops after that batch (failure budget 0) with worker-02
# cordoned. Then, on one server: `vmrun resume` leaves worker-02 failed and untouched (exit 1,
# still cordoned, not rebooted); without worker-02's capacity the dedicated-CPU VMs of a later
# node have no room, so that node fails too and the run ends "failed" or "stopped". With the file
# made, `vmrun resume --retry-failed` takes both up again, worker-02 first (the order they
# failed), holds back the nodes whose VMs only a retried node could take until it is back, and
# ends with exit 0. On another server: `vmrun resume --retry-failed` straight after the stop takes
# worker-02 first. Both end with every node uncordoned, the VMs running that run after a
# maintenance without the failure, each worker rebooted exactly once (the server's request log)
# and the journal ending "done". `--retry-failed` on a new run is refused.
#   bash tests/e2e/resume_retry.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: resume_retry.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
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
    local bad = dofile(arg[4])(arg[1], arg[2], "not after a maintenance without the failure", nil, arg[3])
    table.sort(bad)
    if #bad > 0 then print(table.concat(bad, "; ")) os.exit(1) end' "$base" "$tmp/reference" "$1/requests.log" \
    "$src/tests/e2e/lib/end_state.lua"
}

# Lua: the journal's records as "TYPE NODE STATE" lines after the last "resumed" record (arg 1)
after_resumed='
  local lines = {}
  for line in io.lines(arg[1]) do
    local r = json.decode(line)
    if r.type == "resumed" then lines = { "resumed retry_failed=" .. tostring(r.retry_failed) } end
    if r.type == "node" then lines[#lines + 1] = "node " .. r.node .. " " .. r.state end
    if r.type == "end" then lines[#lines + 1] = "end " .. r.status end
  end
  print(table.concat(lines, "\n"))'

# first DIR: the run that fails on worker-02 and stops; sets journal
first() {
  local d=$1 rc
  "$vmrun" --kubeconfig "$d/kubeconfig" --state-dir "$d/state" "$fixture" worker-02 "$d/fixed" >"$d/out1" 2>"$d/err1"
  rc=$?
  [ "$rc" -eq 1 ] || fail "$d: the failing run exited $rc (1 expected): $(tail -3 "$d/err1")"
  grep -q "^worker-02 failed$" "$d/out1" || fail "$d: worker-02 did not fail: $(cat "$d/out1")"
  grep -q "^stopped: " "$d/out1" || fail "$d: the run did not stop at the failure budget: $(cat "$d/out1")"
  journal=$(ls "$d"/state/runs/*.jsonl)
  tail -1 "$journal" | grep -q '"status":"stopped"' || fail "$d: the journal does not end stopped: $(tail -1 "$journal")"
  [ "$(curl -sf "$base/api/v1/nodes/worker-02" | "$vmrun" -q -e 'print(json.decode(io.read("a")).spec.unschedulable)')" = true ] ||
    fail "$d: worker-02 is not cordoned after its failure"
}

# the reference: which VMIs run after the same maintenance without the failure (in-process)
: >"$tmp/fixed"
"$vmrun" -q --cluster "$src/playbooks/clusters/demo.yaml" "$src/tests/e2e/fixtures/run_then_state.lua" \
  "$fixture" worker-02 "$tmp/fixed" >"$tmp/reference.out" 2>"$tmp/reference.err" ||
  fail "the run without the failure: $(tail -3 "$tmp/reference.err")"
sed -n 's/^vmi \([^ ]*\) Running on .*/\1/p' "$tmp/reference.out" >"$tmp/reference"
[ -s "$tmp/reference" ] || fail "no VMI runs after the run without the failure"

# --- a: resume leaves the failed node; resume --retry-failed takes it up -----------------------------
d=$tmp/a
mkdir -p "$d"
serve_demo "$d"
[ -n "$base" ] || fail "the server did not start: $(cat "$d/serve.err")"
srv_a=$srv
first "$d"
"$vmrun" resume --state-dir "$d/state" >"$d/out2" 2>"$d/err2"
rc=$?
[ "$rc" -eq 1 ] || fail "a: resume without --retry-failed exited $rc (1: worker-02 stays failed): $(tail -3 "$d/err2")"
grep -q "^worker-02 skipped: failed earlier in run " "$d/out2" || fail "a: worker-02 not reported failed earlier: $(cat "$d/out2")"
grep -q " done$" "$d/out2" || fail "a: no other node was maintained: $(cat "$d/out2")"
"$vmrun" -q -e "$after_resumed" "$journal" >"$d/after2"
grep -q "^node worker-02 " "$d/after2" && fail "a: resume without --retry-failed touched worker-02: $(cat "$d/after2")"
# (worker-02's capacity is missing while it stays cordoned: the demo cluster's dedicated-CPU
# VMs then have no room, and the node they are on fails too; the budget stops the run)
grep -qE "^end (failed|stopped)$" <<<"$(tail -1 "$d/after2")" || fail "a: the journal does not end failed: $(tail -1 "$d/after2")"
grep -q 'nodes/worker-02/reboot' "$d/requests.log" && fail "a: worker-02 was rebooted without --retry-failed"
: >"$d/fixed"
"$vmrun" resume --state-dir "$d/state" --retry-failed >"$d/out3" 2>"$d/err3"
rc=$?
[ "$rc" -eq 0 ] || fail "a: resume --retry-failed exited $rc: $(grep -E 'ERROR|vmrun' "$d/err3" | tail -3)"
grep -q "the node(s) that failed earlier are tried again, before the nodes not started yet: worker-02, worker-06" "$d/err3" ||
  fail "a: resume --retry-failed did not say what it retries: $(grep INFO "$d/err3" | head -5)"
"$vmrun" -q -e "$after_resumed" "$journal" >"$d/after3"
[ "$(head -2 "$d/after3" | tr '\n' ' ')" = "resumed retry_failed=true node worker-02 started " ] ||
  fail "a: the retried attempt's journal: $(cat "$d/after3")"
[ "$(tail -1 "$d/after3")" = "end done" ] || fail "a: the journal does not end done: $(tail -1 "$d/after3")"
bad=$(check "$d") || fail "a: end state: $bad"
kill "$srv_a"
wait "$srv_a" 2>/dev/null

# --- b: resume --retry-failed straight after the stop: the failed node goes first -----------------
d=$tmp/b
mkdir -p "$d"
serve_demo "$d"
[ -n "$base" ] || fail "the server did not start: $(cat "$d/serve.err")"
srv_b=$srv
first "$d"
: >"$d/fixed"
"$vmrun" resume --state-dir "$d/state" --retry-failed >"$d/out2" 2>"$d/err2"
rc=$?
[ "$rc" -eq 0 ] || fail "b: resume --retry-failed exited $rc: $(grep -E 'ERROR|vmrun' "$d/err2" | tail -3)"
"$vmrun" -q -e "$after_resumed" "$journal" >"$d/after2"
[ "$(sed -n 2p "$d/after2")" = "node worker-02 started" ] || fail "b: worker-02 did not go first: $(head -4 "$d/after2")"
[ "$(tail -1 "$d/after2")" = "end done" ] || fail "b: the journal does not end done: $(tail -1 "$d/after2")"
bad=$(check "$d") || fail "b: end state: $bad"
# a finished run: nothing to retry
out=$("$vmrun" resume --state-dir "$d/state" --retry-failed 2>&1) && fail "b: resume of a finished run: $out"
kill "$srv_b"
wait "$srv_b" 2>/dev/null

# --- a new run has nothing to retry ---------------------------------------------------------------------
out=$("$vmrun" --retry-failed -e 'print(1)' 2>&1)
[ $? -eq 2 ] || fail "--retry-failed on a new run: exit 2 expected: $out"
grep -q -- "--retry-failed belongs to \`vmrun resume\`" <<<"$out" || fail "--retry-failed on a new run: $out"
echo "resume_retry: ok"
