#!/usr/bin/env bash
# tests/e2e/rehearse.sh: vmrun --rehearse against `vmrun serve` (the demo cluster) as the real
# cluster, over HTTP on 127.0.0.1: the rolling maintenance rehearsed completes, names the
# rehearsal on its first line, sends the server nothing but GETs and leaves its nodes
# uncordoned; a rehearsed drain of a node says it drained while the served node stays
# uncordoned with its VMIs; sim.source() names the copy; the context's namespace still applies;
# the connection is closed before the playbook runs (a playbook that stops the server goes on);
# a rehearsal taken while a migration is in flight on the server (--clock client, a VMIM
# created and the clock moved to its Running phase) runs it to its end in the copy, leaving
# the server's as it was; a copy the simulator refuses (a claim naming no StorageClass) exits 2
# naming the object; --rehearse without a real cluster is a usage error (exit 2).
#   bash tests/e2e/rehearse.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: rehearse.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
command -v curl >/dev/null || { echo "FAIL: curl is not installed (README's first command installs it)"; exit 1; }
. "$(dirname "$0")/lib/serve.sh"
demo=$src/playbooks/clusters/demo.yaml
kc=$tmp/kubeconfig

# only_gets FROM WHAT: every request logged after line FROM is a GET (watches are logged when
# their stream ends, so the caller waits for the run's to be closed first)
only_gets() {
  local from=$1 what=$2 gets others
  gets=$(tail -n +"$((from + 1))" "$tmp/requests.log" | grep -c '"method":"GET"')
  others=$(tail -n +"$((from + 1))" "$tmp/requests.log" | grep -v '"method":"GET"')
  [ "$gets" -gt 0 ] || fail "$what: the server logged no request"
  [ -z "$others" ] || fail "$what: requests other than GET: $others"
}
# uncordoned: no node of the served cluster is cordoned
uncordoned() {
  lua_json 'for _, n in ipairs(doc.items) do
      assert(not n.spec.unschedulable, n.metadata.name .. " is cordoned") end' \
    <<<"$(curl -s "$base/api/v1/nodes")"
}
# vmis_on NODE: how many served VMIs run on NODE
vmis_on() {
  lua_json 'local n = 0
    for _, v in ipairs(doc.items) do if v.status.nodeName == arg[1] then n = n + 1 end end
    print(n)' "$1" <<<"$(curl -s "$base/apis/kubevirt.io/v1/virtualmachineinstances")"
}

# --- usage errors -----------------------------------------------------------------------------
out=$("$vmrun" --rehearse "$src/playbooks/hello.lua" 2>&1)
[ $? -eq 2 ] || fail "--rehearse alone: exit 2 expected: $out"
grep -q -- "--rehearse needs a real cluster to copy: --kubeconfig FILE" <<<"$out" ||
  fail "--rehearse alone: unclear message: $out"
out=$("$vmrun" --cluster "$demo" --rehearse "$src/playbooks/hello.lua" 2>&1)
[ $? -eq 2 ] || fail "--rehearse --cluster: exit 2 expected: $out"

start_server "$demo"

# --- the rolling maintenance, rehearsed -------------------------------------------------------
sleep 0.5
before=$(wc -l <"$tmp/requests.log")
"$vmrun" --kubeconfig "$kc" --rehearse "$src/playbooks/rolling-maintenance.lua" \
  >"$tmp/rolling.out" 2>"$tmp/rolling.err"
rc=$?
[ "$rc" -eq 0 ] || fail "rehearsed rolling maintenance exited $rc: $(tail -20 "$tmp/rolling.err")"
first=$(head -1 "$tmp/rolling.err")
grep -qE "^vmrun: rehearsal of cluster 'vmrun-sim' at http://127\.0\.0\.1:$port \(context 'vmrun-sim', user 'vmrun-sim', namespace 'default'; from .*kubeconfig\): read only, the playbook runs on a copy in the simulator$" <<<"$first" ||
  fail "first line: $first"
grep -q "rehearsing on a copy of cluster 'vmrun-sim' read at .* (15 nodes, 80 VMs, [0-9]* pods, 0 migrations in flight): the connection is closed" "$tmp/rolling.err" ||
  fail "no rehearsal line: $(head -5 "$tmp/rolling.err")"
grep -q "12/12 nodes" "$tmp/rolling.err" || fail "the rehearsal did not maintain 12 nodes: $(tail "$tmp/rolling.err")"
grep -q '^total ' "$tmp/rolling.out" || fail "no summary table: $(cat "$tmp/rolling.out")"
sleep 0.5
only_gets "$before" "rehearsed rolling maintenance"
grep -q '/apis/kubevirt.io/v1/virtualmachineinstancemigrations' "$tmp/requests.log" || fail "VMIMs not read"
grep -q '/apis/apps/v1/daemonsets' "$tmp/requests.log" || fail "DaemonSets not read"
grep -q '/secrets' "$tmp/requests.log" && fail "Secrets were read"
uncordoned || fail "a served node is cordoned after the rehearsal"

# --- a rehearsed drain of one node --------------------------------------------------------------
on_02=$(vmis_on worker-02)
[ "$on_02" -gt 0 ] || fail "no served VMI on worker-02 to begin with"
before=$(wc -l <"$tmp/requests.log")
out=$("$vmrun" --kubeconfig "$kc" --rehearse "$src/playbooks/drain-node.lua" worker-02 2>&1)
rc=$?
[ "$rc" -eq 0 ] || fail "rehearsed drain exited $rc: $out"
grep -q 'worker-02 drained in' <<<"$out" || fail "the rehearsed drain did not say it drained: $out"
sleep 0.5
only_gets "$before" "rehearsed drain"
uncordoned || fail "worker-02 is cordoned after a rehearsed drain"
[ "$(vmis_on worker-02)" -eq "$on_02" ] || fail "the served worker-02 lost VMIs: $on_02 before, $(vmis_on worker-02) after"

# --- what the playbook sees -------------------------------------------------------------------
out=$("$vmrun" -q --kubeconfig "$kc" --namespace batch --rehearse -e '
  print(sim.source())
  assert(cluster.get("vmi", nil, "batch-01"), "the namespace of --namespace applies")
  assert(time.is_virtual(), "a rehearsal runs on the virtual clock")
  sim.reboot("worker-05")
  for _, c in ipairs(cluster.get("Node", "worker-05").status.conditions) do
    if c.type == "Ready" then assert(c.status ~= "True", "the copy of worker-05 is Ready") end
  end' 2>&1) ||
  fail "sim.source/namespace: $out"
grep -qE "^rehearsal of cluster 'vmrun-sim' \(http://127\.0\.0\.1:$port\) as read at [0-9-]+T[0-9:.]+Z$" <<<"$out" ||
  fail "sim.source(): $out"
lua_json 'for _, c in ipairs(doc.status.conditions) do
    if c.type == "Ready" then assert(c.status == "True", "served worker-05 is not Ready") end end' \
  <<<"$(curl -s "$base/api/v1/nodes/worker-05")" || fail "sim.reboot reached the server"

# --- the connection is closed before the playbook runs: it goes on without the server ---------
out=$("$vmrun" --kubeconfig "$kc" --rehearse -e '
  exec.run{"kill", arg[1]}
  local function up() return exec.run{"curl", "-s", "-m", "2", arg[2] .. "/version"}.ok end
  for _ = 1, 100 do
    if not up() then break end
    exec.run{"sleep", "0.1"}
  end
  assert(not up(), "the server still answers")
  assert(#cluster.list("Node") == 15, "15 nodes")
  cluster.patch("Node", "worker-03", { spec = { unschedulable = true } })
  assert(cluster.get("Node", "worker-03").spec.unschedulable == true)
  print("went on without the server")' "$server" "$base" 2>&1)
rc=$?
wait "$server"
src_rc=$?
server=
[ "$rc" -eq 0 ] || fail "a rehearsal whose server went away exited $rc: $out"
grep -q '^went on without the server$' <<<"$out" || fail "without the server: $out"
[ "$src_rc" -eq 0 ] || fail "vmrun serve exited $src_rc after SIGTERM: $(tail -20 "$tmp/serve.err")"

# --- a migration in flight when the cluster is read ---------------------------------------------
start_server "$demo" --clock client
clock=/apis/sim.vmrun.io/v1/clock
now_ms() { lua_json 'print(math.tointeger(doc.nowMs))' <<<"$(curl -s "$base$clock")"; }
vmim_phase() {
  lua_json 'print(doc.status and doc.status.phase or "")' \
    <<<"$(curl -s "$base/apis/kubevirt.io/v1/namespaces/batch/virtualmachineinstancemigrations/mig-batch-01")"
}
source_node=$(lua_json 'print(doc.status.nodeName)' \
  <<<"$(curl -s "$base/apis/kubevirt.io/v1/namespaces/batch/virtualmachineinstances/batch-01")")
[ -n "$source_node" ] || fail "batch-01 runs nowhere"
code=$(curl -s -o "$tmp/vmim.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  "$base/apis/kubevirt.io/v1/namespaces/batch/virtualmachineinstancemigrations" \
  -d '{"apiVersion":"kubevirt.io/v1","kind":"VirtualMachineInstanceMigration","metadata":{"name":"mig-batch-01","namespace":"batch"},"spec":{"vmiName":"batch-01"}}')
[ "$code" = 201 ] || fail "VMIM not created ($code): $(cat "$tmp/vmim.json")"
t=$(now_ms)
for _ in $(seq 1 60); do
  [ "$(vmim_phase)" = Running ] && break
  t=$((t + 1000))
  curl -s -o /dev/null -X POST "$base$clock" -d "{\"advanceToMs\":$t}"
done
[ "$(vmim_phase)" = Running ] || fail "the served migration is not Running: $(vmim_phase)"
cat >"$tmp/inflight.lua" <<'EOF'
local function vmim() return cluster.get("vmim", "batch", "mig-batch-01") end
local source = cluster.get("vmi", "batch", "batch-01").status.nodeName
assert(vmim().status.phase == "Running", "in flight at the start: " .. vmim().status.phase)
local m
for _ = 1, 600 do
  m = vmim()
  if m.status.phase == "Succeeded" or m.status.phase == "Failed" then break end
  task.sleep(1)
end
local node = cluster.get("vmi", "batch", "batch-01").status.nodeName
print(("migration %s, batch-01 moved from %s to %s"):format(m.status.phase, source, node))
assert(m.status.phase == "Succeeded" and node ~= source, "the copy's migration did not succeed")
EOF
sleep 0.3
before=$(wc -l <"$tmp/requests.log")
out=$("$vmrun" --kubeconfig "$kc" --rehearse "$tmp/inflight.lua" 2>&1)
rc=$?
[ "$rc" -eq 0 ] || fail "rehearsal with a migration in flight exited $rc: $out"
grep -q "1 migrations in flight" <<<"$out" || fail "the in-flight migration was not counted: $out"
grep -q "^migration Succeeded, batch-01 moved from $source_node to " <<<"$out" || fail "in flight: $out"
sleep 0.5
only_gets "$before" "rehearsal with a migration in flight"
[ "$(vmim_phase)" = Running ] || fail "the served migration changed: $(vmim_phase)"
served_node=$(lua_json 'print(doc.status.nodeName)' \
  <<<"$(curl -s "$base/apis/kubevirt.io/v1/namespaces/batch/virtualmachineinstances/batch-01")")
[ "$served_node" = "$source_node" ] || fail "the served batch-01 moved to $served_node"

# --- a copy the simulator refuses: exit 2, one line naming the object -----------------------------
code=$(curl -s -o "$tmp/pvc.json" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  "$base/api/v1/namespaces/batch/persistentvolumeclaims" \
  -d '{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"static","namespace":"batch"},"spec":{"storageClassName":"manual","accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}}')
[ "$code" = 201 ] || fail "PVC not created ($code): $(cat "$tmp/pvc.json")"
out=$("$vmrun" --kubeconfig "$kc" --rehearse "$src/playbooks/hello.lua" 2>&1)
rc=$?
[ "$rc" -eq 2 ] || fail "a copy with a dangling reference: exit 2 expected ($rc): $out"
grep -qE "^vmrun: rehearsal of cluster 'vmrun-sim' \(http://127\.0\.0\.1:$port\) as read at [^ ]+: PersistentVolumeClaim batch/static: spec\.storageClassName 'manual' names no StorageClass among the objects read" <<<"$out" ||
  fail "a copy with a dangling reference: unclear message: $out"
stop_server
echo "rehearse: ok"
