#!/usr/bin/env bash
# tests/e2e/abort.sh: stopping a maintenance and putting back what it changed (docs/journal.md).
# The rolling maintenance of the demo cluster runs through the REST backend against `vmrun serve
# --speed 20`; once its journal shows a migration created, `vmrun abort RUN_ID` (from another
# shell: this script) asks it to stop. With --on-abort finish it must exit 130 with the journal
# ending "aborted", no migration of vmrun's left unfinished, no node begun after the abort, and
# `vmrun undo RUN_ID` must then uncordon what it cordoned and start what it stopped (exit 0), and
# refuse while a run is alive or for an unknown id. With --on-abort cancel the migrations in flight
# are cancelled (their VMIMs deleted) and the run exits 130 as well. Ctrl-C (SIGINT to the process)
# is what `vmrun abort` sends.
#   bash tests/e2e/abort.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: abort.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
. "$(dirname "$0")/lib/serve.sh"
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
export VMRUN_RUN_INDEX=$tmp/runs.tsv
playbook=$src/playbooks/rolling-maintenance.lua

# run_until_migration ON_ABORT: starts the maintenance in the background and waits for its first
# created migration; sets client, journal, id
run_until_migration() {
  rm -rf "$tmp/state"
  "$vmrun" --kubeconfig "$tmp/kubeconfig" --state-dir "$tmp/state" "$playbook" --on-abort "$1" \
    >"$tmp/out" 2>"$tmp/err" &
  client=$!
  journal=
  for _ in $(seq 1 1200); do
    journal=$(ls "$tmp"/state/runs/*.jsonl 2>/dev/null | head -1)
    [ -n "$journal" ] && grep -q '"phase":"created"' "$journal" && break
    kill -0 "$client" 2>/dev/null || fail "the run ended before a migration: $(tail -5 "$tmp/err")"
    sleep 0.05
  done
  id=$(basename "$journal" .jsonl)
  [ -n "$id" ] || fail "no journal"
}
# server_state: "cordoned NODES" / "unfinished VMIMS" lines from the server's API
server_state() {
  "$vmrun" -q -e '
    local function get(p) return json.decode((exec.run({ "curl", "-sf", arg[1] .. p }, { check = true }).stdout)) end
    local cordoned, open = {}, {}
    for _, n in ipairs(get("/api/v1/nodes").items) do
      if n.spec.unschedulable == true then cordoned[#cordoned + 1] = n.metadata.name end
    end
    for _, m in ipairs(get("/apis/kubevirt.io/v1/virtualmachineinstancemigrations").items) do
      local phase = m.status and m.status.phase
      if (m.metadata.labels or {})["app.kubernetes.io/managed-by"] == "vmrun" and phase ~= "Succeeded" and phase ~= "Failed" then
        open[#open + 1] = m.metadata.name
      end
    end
    table.sort(cordoned)
    print("cordoned " .. table.concat(cordoned, ","))
    print("unfinished " .. table.concat(open, ","))' "$base"
}

# --- finish ------------------------------------------------------------------------------------
start_server "$src/playbooks/clusters/demo.yaml" --speed 20
run_until_migration finish
out=$("$vmrun" undo "$id" 2>&1) && fail "undo of a live run: $out"
grep -q "run $id is still running" <<<"$out" || fail "undo of a live run: $out"
out=$("$vmrun" abort "$id" 2>&1) || fail "vmrun abort: $out"
grep -q "asked run $id (pid [0-9]*) to stop" <<<"$out" || fail "abort said: $out"
wait "$client"
rc=$?
[ "$rc" -eq 130 ] || fail "an aborted run exits 130, not $rc: $(tail -5 "$tmp/err")"
grep -q 'interrupted; stopping' "$tmp/err" || fail "no stop message: $(tail -5 "$tmp/err")"
tail -1 "$journal" | grep -q '"status":"aborted"' || fail "the journal does not end aborted: $(tail -2 "$journal")"
state=$(server_state)
grep -q '^unfinished $' <<<"$state" || fail "migrations left running after finish: $state"
cordoned=$(sed -n 's/^cordoned //p' <<<"$state")
[ -n "$cordoned" ] || fail "no node stays cordoned after stopping mid-drain: $state"
begun=$(grep -o '"node":"[^"]*","seq":[0-9]*,"state":"started"\|"batch":[0-9]*,"node":"[^"]*","seq":[0-9]*,"state":"started"' "$journal" |
  sed 's/.*"node":"\([^"]*\)".*/\1/' | sort -u | tr '\n' ,)
for n in ${cordoned//,/ }; do
  grep -q "$n," <<<"$begun" || fail "$n is cordoned but the run never began it (begun: $begun)"
done
out=$("$vmrun" abort "$id" 2>&1) && fail "abort of a stopped run: $out"
grep -q "is not running" <<<"$out" || fail "abort of a stopped run: $out"
out=$("$vmrun" undo "$id" 2>&1) || fail "undo: $out"
grep -q "undo of run $id: .*uncordoned" <<<"$out" || fail "undo said: $out"
state=$(server_state)
grep -q '^cordoned $' <<<"$state" || fail "nodes still cordoned after undo: $state"
grep -q '"type":"undo","phase":"end"\|"phase":"end".*"type":"undo"' "$journal" || fail "no undo record"
out=$("$vmrun" undo 20200101T000000Z-00000000 2>&1) && fail "undo of an unknown run: $out"
grep -q "no journal of run 20200101T000000Z-00000000" <<<"$out" || fail "unknown run: $out"
stop_server

# --- cancel ------------------------------------------------------------------------------------
rm -f "$tmp/requests.log"
start_server "$src/playbooks/clusters/demo.yaml" --speed 20
run_until_migration cancel
kill -INT "$client" # Ctrl-C
wait "$client"
rc=$?
[ "$rc" -eq 130 ] || fail "Ctrl-C with --on-abort cancel exits 130, not $rc: $(tail -5 "$tmp/err")"
state=$(server_state)
grep -q '^unfinished $' <<<"$state" || fail "migrations left after cancel: $state"
tail -1 "$journal" | grep -q '"status":"aborted"' || fail "the journal does not end aborted: $(tail -2 "$journal")"
# (a migration had just been created: at --speed 20 it runs for a second or more)
grep -q 'cancelling the migration of' "$tmp/err" || fail "no migration cancelled: $(grep -i 'stop\|cancel' "$tmp/err" | tail -5)"
grep -q '"method":"DELETE","path":"/apis/kubevirt.io/v1/namespaces/[^"]*/virtualmachineinstancemigrations/' "$tmp/requests.log" ||
  fail "a migration was cancelled without a DELETE of its VMIM"
stop_server
echo "abort: ok"
