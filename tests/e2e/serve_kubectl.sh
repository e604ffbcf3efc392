#!/usr/bin/env bash
# tests/e2e/serve_kubectl.sh: `vmrun serve` used by the real kubectl over HTTP on 127.0.0.1 (an
# ephemeral port, a fresh --cache-dir): get (nodes, -o wide, pods -A -o wide, vmi, vmim, vm,
# -o yaml) with the columns kubectl shows on a real cluster; cordon, uncordon, label, taint,
# annotate, patch (strategic, merge, json), delete pod, wait, get -w; kubectl drain of a node whose
# VMs live-migrate (evictions answered 429 while KubeVirt evacuates, then the pods go and the VMs
# run elsewhere), a drain that a VM which cannot migrate holds until it times out with KubeVirt's
# message, and a drain with --disable-eviction that shuts VMs down. Skipped (exit 77 is not used by
# ctest here, so it passes with a message) when kubectl is not installed.
#   bash tests/e2e/serve_kubectl.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: serve_kubectl.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
if ! command -v kubectl >/dev/null; then
  echo "serve_kubectl: kubectl is not installed; skipped"
  exit 0
fi
. "$(dirname "$0")/lib/serve.sh"
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
start_server "$src/playbooks/clusters/demo.yaml"
grep -qE '^vmrun serve: .*demo.yaml \(15 nodes, 80 VMs; seed 1, speed 20\) on http://127\.0\.0\.1:[0-9]+$' \
  "$tmp/serve.out" || fail "no first line: $(cat "$tmp/serve.out")"
k() { kubectl --kubeconfig "$tmp/kubeconfig" --cache-dir "$tmp/cache" --request-timeout=60s "$@"; }

# --- get -------------------------------------------------------------------------------------
out=$(k get nodes 2>&1) || fail "get nodes: $out"
head -1 <<<"$out" | grep -qE '^NAME +STATUS +ROLES +AGE +VERSION$' || fail "get nodes header: $out"
[ "$(grep -c ' Ready ' <<<"$out")" -eq 15 ] || fail "15 Ready nodes expected: $out"
grep -qE '^control-plane-1 +Ready +control-plane(,master)? ' <<<"$out" || fail "control-plane role: $out"
grep -qE '^worker-01 +Ready +worker ' <<<"$out" || fail "worker role: $out"

out=$(k get nodes -o wide 2>&1) || fail "get nodes -o wide: $out"
head -1 <<<"$out" | grep -qE 'INTERNAL-IP +EXTERNAL-IP +OS-IMAGE +KERNEL-VERSION +CONTAINER-RUNTIME$' ||
  fail "get nodes -o wide header: $out"

out=$(k get pods -A -o wide 2>&1) || fail "get pods -A -o wide: $out"
head -1 <<<"$out" | grep -qE '^NAMESPACE +NAME +READY +STATUS +RESTARTS +AGE +IP +NODE +NOMINATED NODE +READINESS GATES$' ||
  fail "get pods header: $out"
grep -qE '^[a-z-]+ +virt-launcher-[a-z0-9-]+ +1/1 +Running +0 +[0-9a-z]+ +[0-9.]+ +worker-[0-9]+ ' <<<"$out" ||
  fail "no running virt-launcher pod row: $out"

out=$(k get vmi -A 2>&1) || fail "get vmi -A: $out"
head -1 <<<"$out" | grep -qE '^NAMESPACE +NAME +AGE +PHASE +IP +NODENAME +READY' || fail "get vmi header: $out"
[ "$(grep -cE ' Running +[0-9.]+ +worker-[0-9]+ +True' <<<"$out")" -ge 60 ] || fail "60+ running VMIs expected: $out"

out=$(k get vm -A 2>&1) || fail "get vm -A: $out"
head -1 <<<"$out" | grep -qE '^NAMESPACE +NAME +AGE +STATUS +READY$' || fail "get vm header: $out"
grep -qE ' Running +True$' <<<"$out" || fail "no running VM: $out"
grep -qE ' Stopped +False$' <<<"$out" || fail "no stopped VM: $out"

out=$(k get vmim -A 2>&1) || fail "get vmim -A: $out"
grep -q 'No resources found' <<<"$out" || fail "no migrations expected yet: $out"

out=$(k get nodes -o yaml 2>&1) || fail "get nodes -o yaml: $out"
grep -q '^kind: List$' <<<"$out" || fail "-o yaml is not a List: $(head -5 <<<"$out")"
[ "$(grep -c '^  kind: Node$' <<<"$out")" -eq 15 ] || fail "15 nodes in -o yaml expected"

out=$(k get node no-such-node 2>&1) && fail "a missing node must fail"
grep -q 'Error from server (NotFound): nodes "no-such-node" not found' <<<"$out" || fail "404 message: $out"

# --- changes ----------------------------------------------------------------------------------
out=$(k cordon worker-01 2>&1) || fail "cordon: $out"
grep -q 'node/worker-01 cordoned' <<<"$out" || fail "cordon output: $out"
k get node worker-01 | grep -qE '^worker-01 +Ready,SchedulingDisabled ' || fail "cordoned node status"
out=$(k uncordon worker-01 2>&1) || fail "uncordon: $out"
grep -q 'node/worker-01 uncordoned' <<<"$out" || fail "uncordon output: $out"
k get node worker-01 | grep -qE '^worker-01 +Ready +worker' || fail "uncordoned node status"

k label node worker-02 vmrun-test=yes >/dev/null 2>&1 || fail "label"
out=$(k get nodes -l vmrun-test=yes -o name)
[ "$out" = "node/worker-02" ] || fail "label selector: $out"
k taint node worker-03 vmrun-test=yes:NoSchedule >/dev/null 2>&1 || fail "taint"
k get node worker-03 -o jsonpath='{.spec.taints}' | grep -q '"key":"vmrun-test"' || fail "taint not set"
k taint node worker-03 vmrun-test=yes:NoSchedule- >/dev/null 2>&1 || fail "untaint"
k get node worker-03 -o jsonpath='{.spec.taints}' | grep -q 'vmrun-test' && fail "taint not removed"
k annotate node worker-03 vmrun.io/test=annotated >/dev/null 2>&1 || fail "annotate"
[ "$(k get node worker-03 -o jsonpath='{.metadata.annotations.vmrun\.io/test}')" = annotated ] ||
  fail "annotation not set"
k patch node worker-04 -p '{"metadata":{"labels":{"smp":"1"}}}' >/dev/null 2>&1 || fail "strategic patch"
k patch node worker-04 --type=merge -p '{"metadata":{"labels":{"merge":"2"}}}' >/dev/null 2>&1 ||
  fail "merge patch"
k patch node worker-04 --type=json -p '[{"op":"add","path":"/metadata/labels/json","value":"3"}]' \
  >/dev/null 2>&1 || fail "json patch"
[ "$(k get node worker-04 -o jsonpath='{.metadata.labels.smp}{.metadata.labels.merge}{.metadata.labels.json}')" = 123 ] ||
  fail "patched labels"
out=$(k patch node worker-04 --type=json -p '[{"op":"remove","path":"/metadata/labels/nope"}]' 2>&1) &&
  fail "a JSON patch that does not apply must fail"
grep -q 'is invalid: .*remove \/metadata\/labels\/nope' <<<"$out" || fail "failed patch message: $out"

# a pod that is not a VM's: deleted gracefully, then gone
pod=$(k get pods -A -o json | lua_json '
  for _, p in ipairs(doc.items) do
    if not p.metadata.name:match("^virt%-launcher") and p.metadata.namespace == "default" then
      print(p.metadata.namespace .. " " .. p.metadata.name) return end
  end')
[ -n "$pod" ] || fail "no plain pod in namespace default"
set -- $pod
out=$(k delete pod -n "$1" "$2" 2>&1) || fail "delete pod: $out"
grep -q "pod \"$2\" deleted" <<<"$out" || fail "delete pod output: $out"
out=$(k get pod -n "$1" "$2" 2>&1) && fail "the deleted pod is still there: $out"

out=$(k wait --for=condition=Ready node/worker-06 --timeout=20s 2>&1) || fail "wait: $out"
grep -q 'node/worker-06 condition met' <<<"$out" || fail "wait output: $out"

start=$(date +%s)
out=$(kubectl --kubeconfig "$tmp/kubeconfig" --cache-dir "$tmp/cache" get pods -A -w --request-timeout=3s 2>&1)
rc=$?
[ $(( $(date +%s) - start )) -le 15 ] || fail "get -w did not end after its request timeout"
head -1 <<<"$out" | grep -qE "^NAMESPACE +NAME +READY +STATUS +RESTARTS +AGE$" || fail "get -w header: $out"
[ "$rc" -eq 0 ] || fail "get -w must end with 0 when the server ends the watch: rc $rc: $out"
grep -qE '^[a-z-]+ +virt-launcher-' <<<"$out" || fail "get -w shows no pods: $out"

stop_server

# --- drains -------------------------------------------------------------------------------------
# on tests/e2e/fixtures/serve_cluster.yaml: VMs that live-migrate, one that cannot
start_server "$src/tests/e2e/fixtures/serve_cluster.yaml"
rm -rf "$tmp/cache"
# A worker whose VMIs all live-migrate (LiveMigratable, eviction strategy LiveMigrate either on
# the VMI or, unset, by the cluster default), another with a VMI that cannot.
default_strategy=$(k get kubevirt -A -o json | lua_json '
  local c = doc.items[1].spec.configuration or {}
  print(c.evictionStrategy or "None")')
nodes=$(k get vmi -A -o json | lua_json "
  local by, bad = {}, {}
  for _, v in ipairs(doc.items) do
    local node = v.status.nodeName
    if node then
      local ok = false
      for _, c in ipairs(v.status.conditions or {}) do
        if c.type == 'LiveMigratable' then ok = c.status == 'True' end
      end
      local strategy = v.spec.evictionStrategy or '$default_strategy'
      by[node] = by[node] or { good = 0, bad = 0, blocking = 0 }
      if ok and strategy == 'LiveMigrate' then by[node].good = by[node].good + 1
      else by[node].bad = by[node].bad + 1 end
      if not ok and strategy == 'LiveMigrate' then by[node].blocking = by[node].blocking + 1 end
    end
  end
  local migrate, blocked
  for node, n in pairs(by) do
    if n.bad == 0 and n.good >= 2 and (not migrate or n.good > by[migrate].good) then migrate = node end
  end
  for node, n in pairs(by) do
    if n.blocking > 0 and node ~= migrate then blocked = node end
  end
  print((migrate or '') .. ' ' .. (blocked or ''))")
set -- $nodes
migrate_node=${1:-}
blocked_node=${2:-}
[ -n "$migrate_node" ] || fail "no worker whose VMs all live-migrate"
[ -n "$blocked_node" ] || fail "no worker with a VM that cannot migrate"
vmis_before=$(k get vmi -A --field-selector "status.nodeName=$migrate_node" -o name | sort)
[ -n "$vmis_before" ] || fail "no VMIs on $migrate_node"

out=$(k drain "$migrate_node" --ignore-daemonsets --delete-emptydir-data --force --timeout=180s 2>&1) ||
  fail "drain $migrate_node: $out"
grep -q "node/$migrate_node drained" <<<"$out" || fail "drain output: $out"
grep -q '"method":"POST","path":"/api/v1/namespaces/[^"]*/pods/virt-launcher-[^"]*/eviction","query":"[^"]*","status":429' \
  "$tmp/requests.log" || fail "no 429 eviction in the request log"
grep -q '"path":"/api/v1/namespaces/[^"]*/pods/virt-launcher-[^"]*/eviction","query":"[^"]*","status":201' \
  "$tmp/requests.log" || fail "no successful eviction in the request log"
left=$(k get pods -A --field-selector "spec.nodeName=$migrate_node" -o name | grep virt-launcher || true)
[ -z "$left" ] || fail "virt-launcher pods left on $migrate_node: $left"
for vmi in $vmis_before; do
  ns_name=$(k get vmi -A -o json | lua_json "
    for _, v in ipairs(doc.items) do
      if 'virtualmachineinstance.kubevirt.io/' .. v.metadata.name == '$vmi' then
        print(v.status.phase .. ' ' .. (v.status.nodeName or '')) return end
    end")
  set -- $ns_name
  [ "${1:-}" = Running ] && [ -n "${2:-}" ] && [ "$2" != "$migrate_node" ] ||
    fail "$vmi is not running on another node after the drain: $ns_name"
done
out=$(k get vmim -A 2>&1) || fail "get vmim -A: $out"
head -1 <<<"$out" | grep -qE '^NAMESPACE +NAME +PHASE +VMI$' || fail "get vmim header: $out"
[ "$(grep -cE ' Succeeded +vm-[0-9]+$' <<<"$out")" -ge 2 ] || fail "no succeeded migrations: $out"
k uncordon "$migrate_node" >/dev/null 2>&1 || fail "uncordon after drain"

out=$(k drain "$blocked_node" --ignore-daemonsets --delete-emptydir-data --force --timeout=12s 2>&1) &&
  fail "a drain held by a VM that cannot migrate must fail: $out"
grep -q 'global timeout reached: 12s' <<<"$out" || fail "no timeout message: $out"
grep -q 'error when evicting pods/"virt-launcher-' <<<"$out" || fail "no eviction error: $out"
grep -q 'admission webhook "virt-launcher-eviction-interceptor.kubevirt.io" denied the request' <<<"$out" ||
  fail "the drain does not report KubeVirt's message: $out"
k get node "$blocked_node" | grep -q SchedulingDisabled || fail "the timed-out drain must leave the node cordoned"
k uncordon "$blocked_node" >/dev/null 2>&1 || fail "uncordon after failed drain"

# --disable-eviction: the pods are deleted, the VMs shut down (those that run always start again)
target=$(k get vmi -A -o json | lua_json "
  local count = {}
  for _, v in ipairs(doc.items) do
    local n = v.status.nodeName
    if n and n ~= '$migrate_node' and n ~= '$blocked_node' then
      count[n] = (count[n] or 0) + 1
    end
  end
  local best
  for n, c in pairs(count) do if not best or c > count[best] then best = n end end
  print(best or '')")
[ -n "$target" ] || fail "no node for the --disable-eviction drain"
uids_before=$(k get vmi -A --field-selector "status.nodeName=$target" -o jsonpath='{.items[*].metadata.uid}')
evictions_before=$(grep -c '/eviction"' "$tmp/requests.log")
out=$(k drain "$target" --ignore-daemonsets --delete-emptydir-data --disable-eviction --force --timeout=120s 2>&1) ||
  fail "drain --disable-eviction: $out"
grep -q "node/$target drained" <<<"$out" || fail "drain --disable-eviction output: $out"
[ "$(grep -c '/eviction"' "$tmp/requests.log")" -eq "$evictions_before" ] ||
  fail "--disable-eviction must not evict"
grep -q '"method":"DELETE","path":"/api/v1/namespaces/[^"]*/pods/virt-launcher-' "$tmp/requests.log" ||
  fail "no pod deletes in the request log"
# none of the VMIs that ran there runs any more (those that run always came back as new VMIs)
k get vmi -A -o json | lua_json '
  local before = {}
  for uid in arg[1]:gmatch("%S+") do before[uid] = true end
  assert(next(before), "no VMI ran on the node")
  for _, v in ipairs(doc.items) do
    assert(not (before[v.metadata.uid] and v.status.phase == "Running"), v.metadata.name .. " still runs")
  end' "$uids_before" || fail "VMIs still running after --disable-eviction on $target"
k uncordon "$target" >/dev/null 2>&1 || fail "uncordon after --disable-eviction"

stop_server
echo "serve_kubectl: ok"
