#!/usr/bin/env bash
# tests/e2e/rest_faults.sh: the rolling maintenance of the demo cluster through the REST backend
# against `vmrun serve --faults` on 20 seeds: 500s on reads and watches, 503s on everything,
# latency, dropped connections (writes included), 409 conflicts on patches, 429 throttling with
# Retry-After, and watch streams cut every 15 s. The server runs with --clock client (the run
# drives its time, so that a seed fails the same way every time and a run takes seconds). Each
# run must end with exit 0, every node uncordoned and every VM that should run Running (those
# that run after the same maintenance without faults, in-process), as the server's own API shows
# it (read with retries: the faults hit curl too); across the seeds the faults must have fired
# (the request logs show them). Two seeds run at a time.
#   bash tests/e2e/rest_faults.sh PATH/TO/vmrun [SEEDS]
set -uo pipefail
vmrun=${1:?usage: rest_faults.sh PATH/TO/vmrun [SEEDS]}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
seeds=${2:-20}
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck source=tests/e2e/lib/demo_server.sh
. "$src/tests/e2e/lib/demo_server.sh"
faults='error@get+list+watch=0.03:500,error=0.02:503,latency=0.05:100ms,drop=0.01,conflict=0.05,throttle=0.02:1,watch-cut=15s'

# one SEED: prints "ok SEED" or "FAIL SEED: why" (the server is this function's own)
one() {
  local seed=$1 d=$tmp/seed-$1 srv base rc
  mkdir -p "$d"
  serve_demo "$d" --seed "$seed" --faults "$faults"
  if [ -z "$base" ]; then
    kill "$srv" 2>/dev/null
    echo "FAIL $seed: the server did not start: $(cat "$d/serve.err")"
    return
  fi
  timeout 600 "$vmrun" --kubeconfig "$d/kubeconfig" "$src/playbooks/rolling-maintenance.lua" \
    >"$d/out" 2>"$d/err"
  rc=$?
  # the end state, from the server itself: no node cordoned, and the VMs running that run at
  # the end of the same maintenance without faults (in-process: $tmp/reference)
  "$vmrun" -q -e '
    local bad = dofile(arg[3])(arg[1], arg[2], "not without faults",
      { "--retry", "30", "--retry-delay", "0", "--retry-all-errors" })
    table.sort(bad)
    if #bad > 0 then print(table.concat(bad, "; ")) os.exit(1) end' "$base" "$tmp/reference" \
    "$src/tests/e2e/lib/end_state.lua" >"$d/state" 2>&1
  local state_rc=$?
  kill "$srv"
  wait "$srv" 2>/dev/null
  if [ "$rc" -ne 0 ]; then
    echo "FAIL $seed: exit $rc: $(grep -E 'ERROR|vmrun:' "$d/err" | tail -3)"
  elif [ "$state_rc" -ne 0 ]; then
    echo "FAIL $seed: end state: $(cat "$d/state")"
  else
    echo "ok $seed $(grep -c '"status":\(0\|409\|429\|500\|503\)' "$d/requests.log") faults $(grep -o 'run: [^;]*' "$d/out")"
  fi
}

# the reference: which VMIs run after the maintenance without faults (in-process)
"$vmrun" -q --cluster "$src/playbooks/clusters/demo.yaml" "$src/tests/e2e/fixtures/run_then_state.lua" \
  "$src/playbooks/rolling-maintenance.lua" >"$tmp/reference.out" 2>"$tmp/reference.err" ||
  { echo "FAIL: the run without faults: $(tail -3 "$tmp/reference.err")"; exit 1; }
sed -n 's/^vmi \([^ ]*\) Running on .*/\1/p' "$tmp/reference.out" >"$tmp/reference"
[ -s "$tmp/reference" ] || { echo "FAIL: no VMI runs after the run without faults"; exit 1; }

results=$tmp/results
: >"$results"
seed=1
while [ "$seed" -le "$seeds" ]; do
  one "$seed" >>"$results" &
  if [ $((seed + 1)) -le "$seeds" ]; then one $((seed + 1)) >>"$results" & fi
  wait
  seed=$((seed + 2))
done
sort -n -k2 "$results"
[ "$(grep -c '^ok ' "$results")" -eq "$seeds" ] || { echo "FAIL: $(grep -vc '^ok ' "$results") seed(s) failed"; exit 1; }
total=$(awk '{ s += $3 } END { print s + 0 }' "$results")
[ "$total" -ge "$seeds" ] || { echo "FAIL: only $total faults fired over $seeds seeds"; exit 1; }
echo "rest_faults: ok ($seeds seeds, $total faults answered)"
