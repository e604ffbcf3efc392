#!/usr/bin/env bash
# tests/e2e/serve_sim_api.sh: `vmrun serve`'s vmrun-only group sim.vmrun.io/v1 over real HTTP on
# 127.0.0.1 (an ephemeral port), with curl: discovery (/apis, the group, its APIResourceList;
# kubectl api-resources and get nodes still clean), the Clock object in both --clock modes; with
# --clock client and --no-settle the clock stands still on its own and only POST advanceToMs
# moves it (the VMs start only then), nextDueMs, a backwards or malformed advance (400), POST
# with a paced clock (409); node reboot (NotReady, the VMs lost and restarted elsewhere, Ready
# with a new bootID and the other pods restarted in place once the clock has moved past the
# node's reboot-seconds) and an unknown node (404); X-Vmrun-Revision on answers and watch
# streams, rising after a write; --faults sparing the group; the request log. Under the
# sanitizer build a leak makes the server's exit status non-zero.
#   bash tests/e2e/serve_sim_api.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: serve_sim_api.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cluster="$src/tests/e2e/fixtures/serve_cluster.yaml"
command -v curl >/dev/null || { echo "FAIL: curl is not installed (README's first command installs it)"; exit 1; }
. "$(dirname "$0")/lib/serve.sh"
sim=/apis/sim.vmrun.io/v1
# req PATH [CURL ARGS...]: the body; $code gets the status, $tmp/headers the answer's headers
req() {
  local path=$1
  shift
  code=$(curl -s -D "$tmp/headers" -o "$tmp/body" -w '%{http_code}' "$@" "$base$path")
  cat "$tmp/body"
}
# revision: the X-Vmrun-Revision of the last answer
revision() {
  local r
  r=$(tr -d '\r' <"$tmp/headers" | sed -n 's/^X-Vmrun-Revision: \([0-9][0-9]*\)$/\1/p')
  [ -n "$r" ] || fail "no X-Vmrun-Revision header: $(cat "$tmp/headers")"
  echo "$r"
}
expect_status() { # CODE REASON
  [ "$code" = "$1" ] || fail "expected $1, got $code: $(cat "$tmp/body")"
  lua_json 'assert(doc.kind == "Status" and doc.code == tonumber(arg[1]) and doc.reason == arg[2])' "$1" "$2" \
    <"$tmp/body" || fail "expected a Status $1 $2: $(cat "$tmp/body")"
}
now_ms() { req $sim/clock | lua_json 'print(string.format("%d", doc.nowMs))'; }
advance() { # T: POST advanceToMs T, which must answer 200 with now T
  req $sim/clock -X POST -H 'Content-Type: application/json' -d "{\"advanceToMs\":$1}" >/dev/null
  [ "$code" = 200 ] || fail "advance to $1: $code $(cat "$tmp/body")"
  lua_json 'assert(doc.kind == "Clock" and string.format("%d", doc.nowMs) == arg[1])' "$1" <"$tmp/body" ||
    fail "advance to $1: $(cat "$tmp/body")"
}
# vmis: "name phase node" per VMI, sorted
vmis() {
  req /apis/kubevirt.io/v1/virtualmachineinstances | lua_json '
    local out = {}
    for _, v in ipairs(doc.items) do
      out[#out + 1] = v.metadata.name .. " " .. (v.status.phase or "-") .. " " .. (v.status.nodeName or "-")
    end
    table.sort(out)
    for _, l in ipairs(out) do print(l) end'
}
ready() { # NODE: its Ready condition's status
  req "/api/v1/nodes/$1" | lua_json '
    for _, c in ipairs(doc.status.conditions) do if c.type == "Ready" then print(c.status) end end'
}

# --- a client-driven clock ------------------------------------------------------------------------
start_server "$cluster" --clock client --no-settle
grep -qE 'serve_cluster.yaml \(5 nodes, 9 VMs; seed 1, clock client\) on http://' "$tmp/serve.out" ||
  fail "first line: $(cat "$tmp/serve.out")"
req $sim/clock >/dev/null
clock=$(cat "$tmp/body")
[ "$code" = 200 ] || fail "GET clock: $code $clock"
lua_json '
  assert(doc.apiVersion == "sim.vmrun.io/v1" and doc.kind == "Clock" and doc.mode == "client", "identity")
  assert(doc.speed == 20 and doc.seed == 1 and doc.source:match("serve_cluster%.yaml$"), "speed, seed, source")
  assert(math.type(doc.nowMs) == "integer" and doc.nowMs > 1.7e12, "nowMs")
  assert(doc.now:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$"), "now: " .. doc.now)
  assert(doc.revision:match("^%d+$"), "revision")
  -- the controllers have work due at once (the VMs to start) that nothing has run yet
  assert(doc.nextDueMs == doc.nowMs, "nextDueMs")' <<<"$clock" || fail "client Clock: $clock"
[ "$(revision)" = "$(lua_json 'print(doc.revision)' <<<"$clock")" ] || fail "header and revision differ: $clock"
t0=$(lua_json 'print(string.format("%d", doc.nowMs))' <<<"$clock")
[ -z "$(vmis)" ] || fail "VMIs before the clock moved: $(vmis)"
sleep 1
[ "$(now_ms)" = "$t0" ] || fail "the client clock moved on its own: $t0 -> $(now_ms)"
[ -z "$(vmis)" ] || fail "VMIs after a real second: $(vmis)"
# advancing to now fires what is due now: the VMIs exist, none runs yet
advance "$t0"
[ "$(vmis | wc -l)" -eq 9 ] || fail "9 VMIs after firing what was due: $(vmis)"
grep -q ' Running ' <<<"$(vmis)" && fail "a VMI runs without the clock having moved: $(vmis)"
advance $((t0 + 60000))
lua_json 'assert(doc.nextDueMs == json.null, "nextDueMs")' <"$tmp/body" || fail "nothing should be due: $(cat "$tmp/body")"
[ "$(vmis | grep -c ' Running w')" -eq 9 ] || fail "9 running VMIs a simulated minute on: $(vmis)"
t1=$((t0 + 60000))
# backwards, malformed
req $sim/clock -X POST -d "{\"advanceToMs\":$t0}" >/dev/null
expect_status 400 BadRequest
grep -q "$t0" "$tmp/body" && grep -q "$t1" "$tmp/body" || fail "the 400 names both times: $(cat "$tmp/body")"
for body in 'garbage' '{}' '{"advanceToMs":"1"}' '{"advanceToMs":1.5}' '{"advanceToMs":-1}' '[1]' ''; do
  req $sim/clock -X POST -d "$body" >/dev/null
  expect_status 400 BadRequest
done
[ "$(now_ms)" = "$t1" ] || fail "a refused advance moved the clock"
req $sim/clock -X PUT -d '{}' >/dev/null
expect_status 405 MethodNotAllowed

# --- X-Vmrun-Revision ---------------------------------------------------------------------------
req /api/v1/nodes/w2 >/dev/null
before=$(revision)
req /api/v1/nodes/w2 -X PATCH -H 'Content-Type: application/strategic-merge-patch+json' \
  -d '{"metadata":{"labels":{"team":"blue"}}}' >/dev/null
[ "$code" = 200 ] || fail "PATCH node: $code $(cat "$tmp/body")"
after=$(revision)
rv=$(lua_json 'print(doc.metadata.resourceVersion)' <"$tmp/body")
[ "$after" -gt "$before" ] && [ "$after" -ge "$rv" ] || fail "revision $before -> $after after a write (object $rv)"
req /api/v1/nodes/nope >/dev/null
[ "$(revision)" = "$after" ] || fail "an error answer carries the revision"
curl -s -D "$tmp/headers" -o /dev/null "$base/api/v1/nodes?watch=1&timeoutSeconds=1"
[ "$(revision)" = "$after" ] || fail "a watch stream's header carries the revision"
exec 3<>"/dev/tcp/127.0.0.1/$port" || fail "cannot connect"
printf 'GARBAGE\r\n\r\n' >&3
out=$(timeout 5 cat <&3 | tr -d '\r')
exec 3<&-
grep -q '^HTTP/1.1 400' <<<"$out" && grep -q "^X-Vmrun-Revision: $after$" <<<"$out" ||
  fail "a malformed request's 400 carries the revision: $out"
req /version >/dev/null
[ "$(revision)" = "$after" ] || fail "/version carries the revision"

# --- node reboot ----------------------------------------------------------------------------------
# back within the pods' tolerationSeconds (300), so that the other pods restart in place
req /api/v1/nodes/w1 -X PATCH -H 'Content-Type: application/merge-patch+json' \
  -d '{"metadata":{"annotations":{"sim.vmrun.io/reboot-seconds":"60"}}}' >/dev/null
[ "$code" = 200 ] || fail "annotate w1: $code"
boot=$(req /api/v1/nodes/w1 | lua_json 'print(doc.status.nodeInfo and doc.status.nodeInfo.bootID or "-")')
on_w1=$(vmis | awk '$3 == "w1" {print $1}')
[ -n "$on_w1" ] || fail "no VMI on w1: $(vmis)"
req $sim/nodes/w1/reboot -X POST >/dev/null
[ "$code" = 200 ] || fail "reboot: $code $(cat "$tmp/body")"
lua_json 'assert(doc.kind == "Status" and doc.status == "Success" and doc.details.name == "w1")' <"$tmp/body" ||
  fail "reboot answer: $(cat "$tmp/body")"
[ "$(ready w1)" = False ] || fail "w1 is not NotReady after its reboot"
list=$(vmis)
for vm in $on_w1; do
  grep -q "^$vm Failed w1$" <<<"$list" || fail "VMI $vm of w1 did not fail: $list"
done
req '/api/v1/pods?fieldSelector=spec.nodeName%3Dw1&labelSelector=kubevirt.io%3Dvirt-launcher' |
  lua_json 'assert(#doc.items == 0)' || fail "launcher pods left on w1"
lua_json 'assert(doc.nextDueMs ~= json.null)' <<<"$(req $sim/clock)" || fail "nothing due after a reboot"
advance $((t1 + 30000))
list=$(vmis)
for vm in $on_w1; do
  grep -qE "^$vm Running w[234]$" <<<"$list" || fail "VM $vm did not restart elsewhere: $list"
done
[ "$(ready w1)" = False ] || fail "w1 came back before its reboot-seconds"
advance $((t1 + 61000))
[ "$(ready w1)" = True ] || fail "w1 is not Ready after its reboot-seconds"
req /api/v1/nodes/w1 | lua_json 'assert(doc.status.nodeInfo.bootID:match("^%x+$") and doc.status.nodeInfo.bootID ~= arg[1])' "$boot" ||
  fail "no new bootID: $(cat "$tmp/body")"
req /api/v1/namespaces/default/pods/tools-1 | lua_json '
  local c = doc.status.containerStatuses[1]
  assert(c.restartCount == 1 and c.lastState.terminated.reason == "Unknown")' ||
  fail "tools-1 did not restart in place: $(cat "$tmp/body")"
req $sim/nodes/nope/reboot -X POST >/dev/null
expect_status 404 NotFound
grep -q '"message":"nodes \\"nope\\" not found"' "$tmp/body" || fail "404 message: $(cat "$tmp/body")"
req $sim/nodes/w1/reboot >/dev/null
expect_status 405 MethodNotAllowed
req $sim/nodes/w1 >/dev/null
expect_status 404 NotFound
req /apis/sim.vmrun.io/v2/clock >/dev/null
expect_status 404 NotFound
grep -q '"method":"POST","path":"/apis/sim.vmrun.io/v1/nodes/w1/reboot","query":"","status":200' "$tmp/requests.log" ||
  fail "the reboot is not in the request log"
grep -q '"method":"POST","path":"/apis/sim.vmrun.io/v1/clock","query":"","status":400' "$tmp/requests.log" ||
  fail "the refused advance is not in the request log"
stop_server

# --- a paced clock: discovery, kubectl, 409 ---------------------------------------------------------
start_server "$cluster"
req /apis | lua_json '
  for _, g in ipairs(doc.groups) do
    if g.name == "sim.vmrun.io" then assert(g.preferredVersion.groupVersion == "sim.vmrun.io/v1") return end
  end
  error("no sim.vmrun.io")' || fail "/apis: $(cat "$tmp/body")"
req /apis/sim.vmrun.io | lua_json 'assert(doc.name == "sim.vmrun.io" and doc.versions[1].version == "v1")' ||
  fail "/apis/sim.vmrun.io: $(cat "$tmp/body")"
req $sim | lua_json '
  assert(doc.kind == "APIResourceList" and doc.groupVersion == "sim.vmrun.io/v1", "list")
  local by = {}
  for _, r in ipairs(doc.resources) do by[r.name] = r end
  local c, r = by.clock, by["nodes/reboot"]
  assert(c and c.kind == "Clock" and c.namespaced == false, "clock")
  table.sort(c.verbs)
  assert(table.concat(c.verbs, ",") == "create,get", "clock verbs")
  assert(r and r.namespaced == false and table.concat(r.verbs, ",") == "create", "nodes/reboot")' ||
  fail "$sim: $(cat "$tmp/body")"
req / >/dev/null
grep -q '"/apis/sim.vmrun.io/v1"' "$tmp/body" || fail "/ does not list the group"
req $sim/clock >/dev/null
clock=$(cat "$tmp/body")
lua_json 'assert(doc.mode == "paced" and doc.speed == 20 and doc.nextDueMs == json.null)' <<<"$clock" ||
  fail "paced Clock: $clock"
p0=$(lua_json 'print(string.format("%d", doc.nowMs))' <<<"$clock")
sleep 0.5
p1=$(now_ms)
[ "$p1" -ge $((p0 + 5000)) ] || fail "a paced clock at speed 20 moved from $p0 to $p1 in half a second"
req $sim/clock -X POST -d "{\"advanceToMs\":$((p1 + 100000))}" >/dev/null
expect_status 409 Conflict
grep -q -- '--clock client' "$tmp/body" || fail "409 message: $(cat "$tmp/body")"
# a reboot with a paced clock (down for an hour: 3 real minutes at speed 20, so that kubectl below
# sees it NotReady however slow the machine)
req /api/v1/nodes/w2 -X PATCH -H 'Content-Type: application/merge-patch+json' \
  -d '{"metadata":{"annotations":{"sim.vmrun.io/reboot-seconds":"3600"}}}' >/dev/null
[ "$code" = 200 ] || fail "annotate w2: $code"
req $sim/nodes/w2/reboot -X POST >/dev/null
[ "$code" = 200 ] || fail "paced reboot: $code"
[ "$(ready w2)" = False ] || fail "w2 is not NotReady after its reboot"
if command -v kubectl >/dev/null; then
  k() { kubectl --kubeconfig "$tmp/kubeconfig" --cache-dir "$tmp/cache" --request-timeout=60s "$@"; }
  out=$(k api-resources 2>"$tmp/kubectl.err") || fail "kubectl api-resources: $(cat "$tmp/kubectl.err")"
  [ ! -s "$tmp/kubectl.err" ] || fail "kubectl api-resources wrote to stderr: $(cat "$tmp/kubectl.err")"
  grep -qE '^clock +sim\.vmrun\.io/v1 +false +Clock$' <<<"$out" || fail "api-resources: $out"
  grep -qE '^nodes +no +v1 +false +Node$' <<<"$out" || fail "api-resources nodes: $out"
  out=$(k get nodes 2>"$tmp/kubectl.err") || fail "kubectl get nodes: $(cat "$tmp/kubectl.err")"
  [ ! -s "$tmp/kubectl.err" ] || fail "kubectl get nodes wrote to stderr: $(cat "$tmp/kubectl.err")"
  [ "$(grep -c '^w[1-4] ' <<<"$out")" -eq 4 ] && grep -qE '^w2 +NotReady ' <<<"$out" || fail "get nodes: $out"
else
  echo "serve_sim_api: kubectl is not installed; its checks skipped"
fi
stop_server

# --- faults spare the group -------------------------------------------------------------------------
start_server "$cluster" --clock client --faults 'error@get+list+watch+create+update+patch+delete+evict+discovery=1:503'
req /api/v1/nodes/w1 >/dev/null
expect_status 503 ServiceUnavailable
req /apis >/dev/null
expect_status 503 ServiceUnavailable
req $sim >/dev/null
[ "$code" = 200 ] || fail "the group's discovery got a fault: $code"
req $sim/clock >/dev/null
[ "$code" = 200 ] || fail "GET clock got a fault: $code"
t=$(lua_json 'print(string.format("%d", doc.nowMs))' <"$tmp/body")
advance $((t + 1000))
req $sim/nodes/w3/reboot -X POST >/dev/null
[ "$code" = 200 ] || fail "a reboot got a fault: $code $(cat "$tmp/body")"
stop_server

out=$("$vmrun" serve --cluster "$cluster" --clock sometimes 2>&1)
[ $? -eq 2 ] && grep -q "bad --clock 'sometimes': expected paced or client" <<<"$out" || fail "bad --clock: $out"
"$vmrun" serve --help | grep -q -- '--clock MODE' || fail "--help does not list --clock"
echo "serve_sim_api: ok"
