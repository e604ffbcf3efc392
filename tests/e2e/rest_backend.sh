#!/usr/bin/env bash
# tests/e2e/rest_backend.sh: vmrun's REST backend against `vmrun serve` over HTTP on 127.0.0.1:
# the first line names the cluster and context; a playbook drains a node through the API
# (each kind read with one streaming list, cordon as a PATCH, migrations created as VMIMs, with
# --evict-finished the source launcher pods evicted) and the server's state shows it; a
# playbook's own reads and writes (cluster.get, create, patch, delete, errors with status, reason
# and resource). A server that refuses streaming lists (--feature-gates WatchList=false): one
# 422, then LIST and WATCH for every kind, and the drain (finished pods left in place) works. Bad input: a malformed kubeconfig
# (file:line), a missing context, --cluster with --kubeconfig, an unreachable server and a TLS
# proxy (nginx) that answers its HTML error page: each exits 2 with a clear message and changes
# nothing. A server that never answers: --timeout (exit 3) and one Ctrl-C (exit 130) end the
# connect at once.
#   bash tests/e2e/rest_backend.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: rest_backend.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
. "$(dirname "$0")/lib/serve.sh"
. "$(dirname "$0")/lib/tls.sh"
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
start_server "$src/playbooks/clusters/demo.yaml" --speed 50
kc=$tmp/kubeconfig

# --- a drain through the API -------------------------------------------------------------------
out=$("$vmrun" --kubeconfig "$kc" "$src/playbooks/drain-node.lua" worker-02 --evict-finished 2>&1)
rc=$?
[ "$rc" -eq 0 ] || fail "drain-node exited $rc: $out"
first=$(head -1 <<<"$out")
grep -qE "^vmrun: cluster 'vmrun-sim' at http://127\.0\.0\.1:$port \(context 'vmrun-sim', user 'vmrun-sim', namespace 'default'; from .*kubeconfig\)$" <<<"$first" ||
  fail "first line: $first"
grep -q 'worker-02 drained in' <<<"$out" || fail "no drain summary: $out"
grep -q '"method":"PATCH","path":"/api/v1/nodes/worker-02"' "$tmp/requests.log" || fail "no cordon PATCH"
grep -q '"method":"POST","path":"/apis/kubevirt.io/v1/namespaces/[a-z-]*/virtualmachineinstancemigrations","query":"","status":201' "$tmp/requests.log" ||
  fail "no VMIM created: $(grep POST "$tmp/requests.log" | head)"
grep -q '/eviction","query":"","status":201' "$tmp/requests.log" || fail "no eviction"
grep -q '"query":"watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=[0-9]*","status":200' \
  "$tmp/requests.log" || fail "no streaming list: $(head -5 "$tmp/requests.log")"
! grep -q '"query":"limit=500' "$tmp/requests.log" || fail "a LIST although the server streams lists"
pods=$(curl -s "$base/api/v1/pods")
lua_json 'for _, p in ipairs(doc.items) do
  local ds = p.metadata.ownerReferences and p.metadata.ownerReferences[1].kind == "DaemonSet"
  assert(p.spec.nodeName ~= "worker-02" or ds, p.metadata.name .. " still on worker-02")
end' <<<"$pods" || fail "--evict-finished left pods on worker-02"
node=$(curl -s "$base/api/v1/nodes/worker-02")
lua_json 'assert(doc.spec.unschedulable == true, "worker-02 is not cordoned")' <<<"$node" || fail "cordon: $node"
vmis=$(curl -s "$base/apis/kubevirt.io/v1/virtualmachineinstances")
lua_json 'for _, v in ipairs(doc.items) do assert(v.status.nodeName ~= "worker-02", v.metadata.name .. " still on worker-02") end' <<<"$vmis" ||
  fail "a VMI is left on worker-02"

# --- a playbook's own reads and writes ------------------------------------------------------
cat >"$tmp/crud.lua" <<'EOF'
local n = cluster.get("Node", "worker-03")
assert(n and n.metadata.name == "worker-03", "get Node")
assert(#cluster.list("Node") == 15, "15 nodes")
local cm = cluster.create({ apiVersion = "v1", kind = "ConfigMap",
  metadata = { name = "vmrun-e2e", namespace = "default" }, data = { a = "1" } })
assert(cm.metadata.uid and cm.metadata.resourceVersion, "create returns the stored object")
assert(cluster.get("ConfigMap", "default", "vmrun-e2e").data.a == "1", "read your own create")
local p = cluster.patch("ConfigMap", "default", "vmrun-e2e", { data = { b = "2" } })
assert(p.data.b == "2" and p.data.a == "1", "merge patch")
local ok, err = pcall(cluster.create, cm)
assert(not ok and err.kind == "already_exists" and err.status == 409 and err.reason == "AlreadyExists",
  "409 AlreadyExists: " .. tostring(err))
assert(err.resource == "ConfigMap default/vmrun-e2e", "resource: " .. tostring(err.resource))
ok, err = pcall(cluster.patch, "ConfigMap", "default", "vmrun-e2e",
  { metadata = { resourceVersion = "1" }, data = { c = "3" } })
assert(not ok and err.kind == "conflict" and err.status == 409, "precondition: " .. tostring(err))
assert(cluster.delete("ConfigMap", "default", "vmrun-e2e") == true, "delete")
assert(cluster.get("ConfigMap", "default", "vmrun-e2e") == nil, "read your own delete")
ok, err = pcall(cluster.patch, "Node", "no-such-node", { metadata = { labels = { a = "b" } } })
assert(not ok and err.kind == "not_found" and err.status == 404, "404: " .. tostring(err))
local ev, eerr = cluster.try_evict("default", "no-such-pod")
assert(ev == nil and eerr.status == 404, "try_evict 404")
print("crud ok")
EOF
out=$("$vmrun" --kubeconfig "$kc" "$tmp/crud.lua" 2>&1) || fail "crud.lua: $out"
grep -q '^crud ok$' <<<"$out" || fail "crud.lua: $out"

# --- bad input: exit 2, a clear message, no request that changes anything -------------------
writes_before=$(grep -cE '"method":"(POST|PUT|PATCH|DELETE)"' "$tmp/requests.log")
printf 'apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster: [oops\n' >"$tmp/bad.yaml"
out=$("$vmrun" --kubeconfig "$tmp/bad.yaml" "$src/playbooks/drain-node.lua" worker-03 2>&1)
[ $? -eq 2 ] || fail "malformed kubeconfig: exit 2 expected: $out"
grep -qE "bad\.yaml:[0-9]+" <<<"$out" || fail "malformed kubeconfig: no file:line: $out"

out=$("$vmrun" --kubeconfig "$kc" --context nope "$src/playbooks/drain-node.lua" worker-03 2>&1)
[ $? -eq 2 ] || fail "missing context: exit 2 expected: $out"
grep -q "nope" <<<"$out" || fail "missing context not named: $out"

out=$("$vmrun" --kubeconfig "$kc" --cluster "$src/playbooks/clusters/demo.yaml" -e 'print(1)' 2>&1)
[ $? -eq 2 ] || fail "--cluster with --kubeconfig: exit 2 expected: $out"

# a port nothing listens on (picked as lib/tls.sh picks its ports)
dead=$(free_port)
sed "s#server: http://127.0.0.1:$port#server: http://127.0.0.1:$dead#" "$kc" >"$tmp/dead.yaml"
out=$(timeout 120 "$vmrun" --kubeconfig "$tmp/dead.yaml" "$src/playbooks/drain-node.lua" worker-03 2>&1)
[ $? -eq 2 ] || fail "unreachable server: exit 2 expected: $out"
grep -q "cannot use cluster 'vmrun-sim'" <<<"$out" || fail "unreachable server: $out"
grep -qi "refused\|connect" <<<"$out" || fail "unreachable server: no reason: $out"

# a proxy that answers HTML: nginx (TLS, lib/tls.sh) in front of a port nothing listens on
# answers 502 with its HTML error page
make_pki "$tmp/pki"
start_tls_proxy "$tmp/pki" "$dead"
cat >"$tmp/html.yaml" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: behind-proxy
  cluster:
    server: https://127.0.0.1:$tls_port
    certificate-authority: $tmp/pki/ca.crt
contexts:
- name: proxy
  context: {cluster: behind-proxy, user: nobody}
current-context: proxy
users:
- name: nobody
  user: {}
EOF
out=$(timeout 120 "$vmrun" --kubeconfig "$tmp/html.yaml" "$src/playbooks/drain-node.lua" worker-03 2>&1)
rc=$?
stop_tls_proxy
[ "$rc" -eq 2 ] || fail "HTML answer: exit 2 expected ($rc): $out"
grep -q "HTTP 502 with a body that is not a Kubernetes Status (text/html" <<<"$out" ||
  fail "HTML answer: no clear message: $out"
writes_after=$(grep -cE '"method":"(POST|PUT|PATCH|DELETE)"' "$tmp/requests.log")
[ "$writes_before" -eq "$writes_after" ] || fail "bad input changed the cluster"
stop_server

# --- a server that refuses streaming lists (Kubernetes 1.33's default) -------------------------
rm -f "$tmp/requests.log"
start_server "$src/playbooks/clusters/demo.yaml" --speed 50 --feature-gates WatchList=false
out=$("$vmrun" --kubeconfig "$kc" "$src/playbooks/drain-node.lua" worker-03 2>&1) ||
  fail "drain-node against a server without streaming lists: $out"
grep -q 'worker-03 drained in' <<<"$out" || fail "no drain summary: $out"
refused=$(grep -c '"query":"watch=1&sendInitialEvents=true.*"status":422' "$tmp/requests.log")
[ "$refused" -eq 1 ] || fail "$refused streaming lists refused; 1 expected (then LISTs)"
grep -q '"path":"/api/v1/pods","query":"limit=500","status":200' "$tmp/requests.log" || fail "no LIST of pods"
grep -q '"path":"/api/v1/pods","query":"watch=1&allowWatchBookmarks=true&timeoutSeconds=[0-9]*&resourceVersion=[0-9]*","status":200' \
  "$tmp/requests.log" || fail "no WATCH of pods from the list's resourceVersion"
# the migrated VMs' source pods have finished: left in place, never evicted
finished=$(grep -oE '^[a-z0-9-]+/virt-launcher-\S+ +skipped +finished \(Succeeded\)$' <<<"$out" | cut -d' ' -f1)
[ -n "$finished" ] || fail "no finished launcher pod in the account: $out"
for p in $finished; do
  grep -q "/namespaces/${p%%/*}/pods/${p#*/}/eviction\"" "$tmp/requests.log" && fail "finished pod $p was evicted"
done
pods=$(curl -s "$base/api/v1/pods")
lua_json 'for _, p in ipairs(doc.items) do
  local ds = p.metadata.ownerReferences and p.metadata.ownerReferences[1].kind == "DaemonSet"
  assert(p.spec.nodeName ~= "worker-03" or ds or p.status.phase == "Succeeded",
    p.metadata.name .. " still runs on worker-03")
end' <<<"$pods" || fail "pods still run on worker-03"
stop_server

# a server that never answers: --timeout covers the connect (exit 3), and so does one Ctrl-C
# (exit 130), without waiting for the client's own timeouts
start_server "$src/playbooks/clusters/demo.yaml" --faults 'latency@discovery+get+list=1:60s'
start=$(date +%s)
out=$(timeout 60 "$vmrun" --timeout 2s --kubeconfig "$kc" -e 'print("ran")' 2>&1)
rc=$?
[ "$rc" -eq 3 ] || fail "a hanging server with --timeout 2s: exit 3 expected ($rc): $out"
[ $(($(date +%s) - start)) -le 15 ] || fail "--timeout 2s took $(($(date +%s) - start)) s"
grep -q 'timed out while connecting to the cluster' <<<"$out" || fail "no timeout message: $out"
"$vmrun" --kubeconfig "$kc" -e 'print("ran")' >"$tmp/int.out" 2>&1 &
client=$!
sleep 1
kill -INT "$client"
wait "$client"
rc=$?
[ "$rc" -eq 130 ] || fail "Ctrl-C while connecting: exit 130 expected ($rc): $(cat "$tmp/int.out")"
grep -q 'interrupted while connecting to the cluster' "$tmp/int.out" || fail "no interrupt message: $(cat "$tmp/int.out")"
stop_server
echo "rest_backend: ok"
