#!/usr/bin/env bash
# tests/e2e/resume.sh: kill -9 and `vmrun resume` (docs/journal.md). The rolling maintenance of
# the demo cluster runs through the REST backend against `vmrun serve --clock client` (the cluster
# outlives the killed process; the run drives its time, so a seed does the same every time), and
# is killed with SIGKILL once its journal has a number of records that the seed picks (anywhere
# from the plan to the last node). `vmrun resume` must then finish it (exit 0) as the same run:
# every node uncordoned, the VMs running that run after an uninterrupted maintenance, each worker
# rebooted exactly once (the server's request log), no migration that vmrun created left
# unfinished, and the journal ends "done" after a "resumed" record. Also: resume refuses a
# finished run, a journal with a corrupt record (file:line) and one of another cluster, changing
# nothing. Two seeds run at a time.
#   bash tests/e2e/resume.sh PATH/TO/vmrun [SEEDS]
set -uo pipefail
vmrun=${1:?usage: resume.sh PATH/TO/vmrun [SEEDS]}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
seeds=${2:-20}
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap "[ -n \"${KEEP:-}\" ] || rm -rf \"$tmp\"" EXIT
export VMRUN_RUN_INDEX=$tmp/runs.tsv # (not the user's index)
playbook=$src/playbooks/rolling-maintenance.lua

# shellcheck source=tests/e2e/lib/demo_server.sh
. "$src/tests/e2e/lib/demo_server.sh"

# one SEED: prints "ok SEED ..." or "FAIL SEED: why"
one() {
  local seed=$1 d=$tmp/seed-$1 srv base client rc at lines journal
  mkdir -p "$d"
  serve_demo "$d"
  [ -n "$base" ] || { echo "FAIL $seed: the server did not start: $(cat "$d/serve.err")"; return; }
  at=${KILL_AT:-$((3 + (seed * 131) % 250))} # the journal's record count at which the run is killed
  "$vmrun" --kubeconfig "$d/kubeconfig" --state-dir "$d/state" "$playbook" >"$d/out1" 2>"$d/err1" &
  client=$!
  lines=0
  while kill -0 "$client" 2>/dev/null; do
    journal=$(ls "$d"/state/runs/*.jsonl 2>/dev/null | head -1)
    [ -n "$journal" ] && lines=$(grep -c '' "$journal")
    [ "$lines" -ge "$at" ] && break
    sleep 0.02
  done
  kill -9 "$client" 2>/dev/null
  wait "$client" 2>/dev/null
  if grep -q '"type":"end","status":"done"\|"status":"done","type":"end"\|"type":"end"' "$journal" 2>/dev/null; then
    echo "FAIL $seed: the run finished before it was killed ($lines records): pick a smaller point"
    kill "$srv"; wait "$srv" 2>/dev/null
    return
  fi
  timeout 600 "$vmrun" resume --state-dir "$d/state" >"$d/out2" 2>"$d/err2"
  rc=$?
  "$vmrun" -q -e '
    local bad, get = dofile(arg[4])(arg[1], arg[2], "not after an uninterrupted run", nil, arg[3])
    for _, m in ipairs(get("/apis/kubevirt.io/v1/virtualmachineinstancemigrations").items) do
      local by = (m.metadata.labels or {})["app.kubernetes.io/managed-by"]
      local phase = m.status and m.status.phase
      if by == "vmrun" and phase ~= "Succeeded" and phase ~= "Failed" then
        bad[#bad + 1] = "migration " .. m.metadata.name .. " left " .. tostring(phase)
      end
    end
    table.sort(bad)
    if #bad > 0 then print(table.concat(bad, "; ")) os.exit(1) end' "$base" "$tmp/reference" "$d/requests.log" \
    "$src/tests/e2e/lib/end_state.lua" >"$d/state.txt" 2>&1
  local state_rc=$?
  kill "$srv"
  wait "$srv" 2>/dev/null
  if [ "$rc" -ne 0 ]; then
    echo "FAIL $seed: resume exited $rc (killed at $lines records): $(grep -E 'ERROR|vmrun' "$d/err2" | tail -3)"
  elif [ "$state_rc" -ne 0 ]; then
    echo "FAIL $seed: end state (killed at $lines records): $(cat "$d/state.txt")"
  elif ! tail -1 "$journal" | grep -q '"status":"done"' || ! grep -q '"type":"resumed"' "$journal"; then
    echo "FAIL $seed: the journal does not end done after a resumed record: $(tail -2 "$journal")"
  else
    echo "ok $seed killed at $lines records; $(grep -o 'resuming run [^:]*: [0-9]* node(s) finished earlier' "$d/err2" | sed 's/resuming run [^:]*: //')"
  fi
}

# the reference: which VMIs run after the maintenance without an interruption (in-process)
"$vmrun" -q --cluster "$src/playbooks/clusters/demo.yaml" "$src/tests/e2e/fixtures/run_then_state.lua" \
  "$playbook" >"$tmp/reference.out" 2>"$tmp/reference.err" ||
  { echo "FAIL: the uninterrupted run: $(tail -3 "$tmp/reference.err")"; exit 1; }
sed -n 's/^vmi \([^ ]*\) Running on .*/\1/p' "$tmp/reference.out" >"$tmp/reference"
[ -s "$tmp/reference" ] || { echo "FAIL: no VMI runs after the uninterrupted run"; exit 1; }

results=$tmp/results
for seed in ${SEED_LIST:-$(seq 1 "$seeds")}; do
  one "$seed" >>"$results" &
  if [ $((seed % 2)) -eq 0 ]; then wait; fi
done
wait
cat "$results"
failed=$(grep -c '^FAIL' "$results")
[ "$failed" -eq 0 ] || { echo "FAIL: $failed of $seeds seeds"; exit 1; }
[ "$(grep -c '^ok' "$results")" -eq "$seeds" ] || { echo "FAIL: results missing"; exit 1; }

# --- what resume refuses, changing nothing ---------------------------------------------------
d=$tmp/refuse
mkdir -p "$d"
serve_demo "$d"
[ -n "$base" ] || { echo "FAIL: the server did not start"; exit 1; }
fail() { echo "FAIL: $*"; kill "$srv" 2>/dev/null; exit 1; }
"$vmrun" --kubeconfig "$d/kubeconfig" --state-dir "$d/state" "$playbook" --nodes worker-01 >"$d/out" 2>"$d/err" ||
  fail "a one-node run: $(tail -3 "$d/err")"
journal=$(ls "$d"/state/runs/*.jsonl)
id=$(basename "$journal" .jsonl)
out=$("$vmrun" resume --state-dir "$d/state" "$id" 2>&1) && fail "resume of a finished run: $out"
grep -q "run $id has finished" <<<"$out" || fail "finished: $out"
writes() { grep -cE '"method":"(POST|PUT|PATCH|DELETE)"' "$d/requests.log"; }
# a corrupt record in the middle (not the last line: a crash cuts only that one)
head -3 "$journal" >"$d/j" && echo '{"seq": 4, "type": "node", "node": ' >>"$d/j" && sed -n '5,6p' "$journal" >>"$d/j"
grep -v '"type":"end"' "$d/j" >"$journal"
before=$(writes)
out=$("$vmrun" resume --state-dir "$d/state" "$id" 2>&1) && fail "resume of a corrupt journal: $out"
grep -q "$id.jsonl:4: not a journal record" <<<"$out" || fail "corrupt: no file:line: $out"
[ "$(writes)" = "$before" ] || fail "a corrupt journal changed the cluster"
# the journal of another cluster: the same run id against another server
"$vmrun" -q -e '
  local lines = {}
  for line in io.lines(arg[1]) do lines[#lines + 1] = line end
  local head = json.decode(lines[1])
  head.cluster = "cluster '"'"'prod'"'"' at https://api.prod.example:6443"
  lines[1] = json.encode(head)
  local f = io.open(arg[1], "w") f:write(table.concat(lines, "\n", 1, 3), "\n") f:close()' "$journal"
out=$("$vmrun" resume --state-dir "$d/state" "$id" 2>&1) && fail "resume on another cluster: $out"
grep -q "acted on cluster 'prod' at https://api.prod.example:6443" <<<"$out" || fail "other cluster: $out"
[ "$(writes)" = "$before" ] || fail "a journal of another cluster changed the cluster"
# a last line cut by a crash is left out with a note, and the run resumes
printf '{"seq":99,"type":"no' >>"$journal"
"$vmrun" -q -e '
  local lines = {}
  for line in io.lines(arg[1]) do lines[#lines + 1] = line end
  local head = json.decode(lines[1])
  head.cluster = arg[2]
  lines[1] = json.encode(head)
  local f = io.open(arg[1], "w") f:write(table.concat(lines, "\n")) f:close()' "$journal" "cluster 'vmrun-sim' at $base"
out=$("$vmrun" resume --state-dir "$d/state" "$id" 2>&1) || fail "resume after a cut record: $out"
grep -q "a record cut short by a crash was left out" <<<"$out" || fail "no note of the cut record: $out"
kill "$srv"
wait "$srv" 2>/dev/null
echo "resume: ok"
