#!/usr/bin/env bash
# bench/api-efficiency/run.sh: how many API requests, and how much wall time, a drain of a KubeVirt
# node through vmrun's REST backend costs against the yardstick measured in the same run: kubectl
# drain of the same node. The cluster (bench/api-efficiency/cluster.lua): worker w1 holds 20 VMs
# with eviction strategy LiveMigrate, a ReplicaSet pod with an emptyDir and two DaemonSet pods;
# four other workers have room for every VM. Each run gets a fresh `vmrun serve --speed SPEED --log`
# (default 20) on 127.0.0.1 and then one client:
#   vmrun --kubeconfig K playbooks/drain-node.lua w1 --delete-emptydir-data --timeout 5m
#   kubectl --kubeconfig K --cache-dir FRESH drain w1 --ignore-daemonsets --delete-emptydir-data --timeout=300s
# (vmrun's drain ignores DaemonSet pods by default; it leaves finished pods, such as the migrated
# VMs' source pods, which kubectl evicts, and it reads each kind with one streaming list where
# the server has them). A third side shows what those two are worth: vmrun with --evict-finished
# against a server started with --feature-gates WatchList=false. Measures the client's wall time, then stops
# the server and counts its request log: total, lists, watches, discovery (kubectl's, from an
# empty cache, count), other GETs, writes (of which evictions), and 429 answers. After each run the
# node must be drained (cordoned, no VMI on it, every VM Running elsewhere, only DaemonSet and
# finished pods left): otherwise the bench stops with exit 1, as the numbers would not compare. Prints min and
# median per side and the ratios vmrun/kubectl against the goals (at most half the requests, not
# slower), printed, never asserted. Needs kubectl and curl.
#   bench/api-efficiency/run.sh [PATH/TO/vmrun]     (default: build-rel/vmrun, else build/vmrun)
#   RUNS=5 VMS=40 SPEED=20 bench/api-efficiency/run.sh ...   (defaults 3, 20, 20)
#   VMRUN_ARGS='--dev-runtime stdlib-lua' bench/api-efficiency/run.sh   (more options for the vmrun
#   client, here the Lua library of the tree instead of the built-in one)
# shellcheck source-path=SCRIPTDIR/../..
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=bench/lib.sh
. "$root/bench/lib.sh"
bench_vmrun api-efficiency "${1:-}"
for tool in kubectl curl; do
  command -v "$tool" >/dev/null || { echo "bench/api-efficiency: $tool is not installed" >&2; exit 2; }
done
runs=${RUNS:-3} vms=${VMS:-20} speed=${SPEED:-20}
[[ "$runs" =~ ^[1-9][0-9]*$ && "$vms" =~ ^[1-9][0-9]*$ ]] ||
  { echo "bench/api-efficiency: RUNS and VMS must be positive integers" >&2; exit 2; }
node=w1
# $tmp (removed at exit, the server stopped), fail, start_server and stop_server
# shellcheck source=tests/e2e/lib/serve.sh
. "$root/tests/e2e/lib/serve.sh"

"$vmrun" -q "$here/cluster.lua" "$vms" >"$tmp/cluster.yaml"

# one_run SIDE N: a fresh server, the drain, the check; appends "SIDE counts... wall" to results
one_run() {
  local side=$1 dir=$tmp/$1-$2 t0 t1 rc=0 extra=()
  mkdir -p "$dir"
  rm -f "$tmp/requests.log"
  if [ "$side" = vmrun-strict ]; then
    start_server "$tmp/cluster.yaml" --speed "$speed" --feature-gates WatchList=false
    extra=(--evict-finished)
  else
    start_server "$tmp/cluster.yaml" --speed "$speed"
  fi
  t0=$EPOCHREALTIME
  if [ "$side" != kubectl ]; then
    # shellcheck disable=SC2086 # VMRUN_ARGS: options, split on spaces
    "$vmrun" ${VMRUN_ARGS:-} --kubeconfig "$tmp/kubeconfig" "$root/playbooks/drain-node.lua" "$node" \
      --delete-emptydir-data --timeout 5m "${extra[@]}" >"$dir/client.out" 2>&1 || rc=$?
  else
    kubectl --kubeconfig "$tmp/kubeconfig" --cache-dir "$dir/cache" drain "$node" --ignore-daemonsets \
      --delete-emptydir-data --timeout=300s >"$dir/client.out" 2>&1 || rc=$?
  fi
  t1=$EPOCHREALTIME
  # the cluster as the drain left it; the count leaves out these requests (query bench=check)
  curl -sf "$base/api/v1/nodes/$node?bench=check" >"$dir/node.json"
  curl -sf "$base/apis/kubevirt.io/v1/virtualmachines?bench=check" >"$dir/vms.json"
  curl -sf "$base/apis/kubevirt.io/v1/virtualmachineinstances?bench=check" >"$dir/vmis.json"
  curl -sf "$base/api/v1/pods?bench=check" >"$dir/pods.json"
  stop_server
  if [ "$rc" -ne 0 ] || ! "$vmrun" -q "$here/analyze.lua" check "$node" "$dir/node.json" "$dir/vms.json" \
    "$dir/vmis.json" "$dir/pods.json"; then
    fail "the $side drain failed (exit $rc): $(tail -20 "$dir/client.out")"
  fi
  echo "$side $("$vmrun" -q "$here/analyze.lua" count "$tmp/requests.log") $(awk -v a="$t0" -v b="$t1" \
    'BEGIN { printf "%.3f", b - a }')" >>"$tmp/results"
}

echo "bench/api-efficiency: drain $node ($vms VMs, LiveMigrate) on vmrun serve --speed $speed," \
  "$runs runs each ($(nproc) cores)"
for i in $(seq 1 "$runs"); do # alternate, so that a noisy minute hits both sides
  one_run vmrun "$i"
  one_run kubectl "$i"
  one_run vmrun-strict "$i"
done
"$vmrun" -q "$here/analyze.lua" table "$tmp/results" "$speed"
