#!/usr/bin/env bash
# tests/e2e/preflight.sh: playbooks/preflight.lua on the demo cluster: the table and exit code 1
# (the demo has nodes a drain cannot finish on), --json with exactly the documented shape
# (docs/preflight.md) checked field by field, --node on a node that can be drained (exit 0), the
# drain options, and the usage errors (exit 2). Usage: bash tests/e2e/preflight.sh PATH/TO/vmrun
set -uo pipefail
vmrun=${1:?usage: preflight.sh PATH/TO/vmrun}
vmrun=$(cd "$(dirname "$vmrun")" && pwd)/$(basename "$vmrun")
src=${VMRUN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
preflight() { "$vmrun" "$src/playbooks/preflight.lua" "$@"; }

out=$(preflight) && fail "the demo cluster has blocked nodes: exit 1 expected"
[ $? -eq 1 ] || fail "exit code $? instead of 1"
grep -q '^vmrun pre-flight of .*demo.yaml: 15 nodes, 70 running VMs, KubeVirt v1.6$' <<<"$out" || fail "no header: $out"
grep -Eq '^worker-04 +BLOCKED +- +[0-9]+ +prod-db/reporting-01: eviction strategy LiveMigrate but not live-migratable \(DisksNotLiveMigratable' <<<"$out" \
  || fail "no worker-04 row: $out"
grep -Eq '^worker-01 +ok +[0-9]+m[0-9]+s +1 *$' <<<"$out" || fail "no worker-01 row: $out"
grep -Eq '^prod-web/gateway-01 +worker-07 +LiveMigrate +migrate +warning: the masquerade interface lists port 49152' <<<"$out" || fail "no gateway-01 row: $out"
grep -q '^some nodes cannot be drained: see BLOCKED BY$' <<<"$out" || fail "no verdict: $out"

preflight --json >"$tmp/all.json"
[ $? -eq 1 ] || fail "--json exit code"
"$vmrun" -e '
  local doc = json.decode_file(arg[1])
  local function keys(t, want, what)
    local n = 0
    for k in pairs(t) do
      n = n + 1
      assert(want[k], what .. ": unexpected field " .. tostring(k))
    end
    for k, ty in pairs(want) do
      local v = t[k]
      local got = v == json.null and "null" or type(v)
      assert(ty:find(got, 1, true), ("%s.%s: %s, not %s"):format(what, k, got, ty))
    end
  end
  keys(doc, { limits = "table", vms = "table", nodes = "table", batches = "table" }, "document")
  keys(doc.limits.parallelMigrationsPerCluster, { value = "number", source = "string" }, "limit")
  assert(#doc.vms == 70, "vms: " .. #doc.vms)
  local actions = { migrate = true, ["shutdown-restart"] = true, ["stay-off"] = true, block = true }
  for _, v in ipairs(doc.vms) do
    keys(v, { namespace = "string", name = "string", node = "string", migratable = "boolean",
      reasons = "table", messages = "table", warnings = "table", eviction_strategy = "string",
      run_strategy = "string", drain_action = "string", targets = "table",
      estimated_migration_seconds = "number null" }, v.name)
    assert(actions[v.drain_action], v.name .. ": drain_action " .. v.drain_action)
    assert(v.migratable == (#v.reasons == 0), v.name .. ": migratable and reasons disagree")
  end
  assert(#doc.nodes == 15, "nodes")
  for _, n in ipairs(doc.nodes) do
    keys(n, { name = "string", drainable = "boolean", blockers = "table",
      estimated_drain_seconds = n.drainable and "number" or "null" }, n.name)
    for _, b in ipairs(n.blockers) do keys(b, { namespace = "string", name = "string", reason = "string" }, n.name) end
    assert(n.drainable == (#n.blockers == 0), n.name .. ": drainable and blockers disagree")
  end
  for _, b in ipairs(doc.batches) do
    keys(b, { nodes = "table", room = "boolean", memory_needed_bytes = "number",
      memory_free_after_bytes = "number null" }, "batch")
  end
' "$tmp/all.json" || fail "the JSON document does not have the documented shape"

out=$(preflight --node worker-01 --json) || fail "worker-01 can be drained: exit 0 expected"
"$vmrun" -e '
  local doc = json.decode(arg[1])
  assert(#doc.nodes == 1 and doc.nodes[1].name == "worker-01" and doc.nodes[1].drainable)
  assert(doc.nodes[1].estimated_drain_seconds > 0)
  assert(#doc.vms == 1 and doc.vms[1].name == "hana-01", "vms of worker-01")
' "$out" || fail "--node worker-01: $out"

# worker-12 is held by a LiveMigrate VM on RWO storage and by a pod with local storage; the
# option lets the pod go, the VM still blocks
out=$(preflight --node worker-12 --delete-emptydir-data)
[ $? -eq 1 ] || fail "worker-12 must stay blocked"
grep -q 'redis-cache' <<<"$out" && fail "--delete-emptydir-data must lift the local-storage blocker: $out"
grep -q 'dev/dev-13: eviction strategy LiveMigrate' <<<"$out" || fail "dev-13 must block: $out"

err=$(preflight --bogus 2>&1) && fail "--bogus must fail"
grep -q 'preflight: unknown argument --bogus' <<<"$err" || fail "usage error: $err"
err=$(preflight --batch 0 2>&1)
[ $? -eq 2 ] || fail "--batch 0 must exit 2"
err=$(preflight "$tmp/missing.yaml" 2>&1)
[ $? -eq 2 ] || fail "a missing cluster file must exit 2"
grep -q 'missing.yaml' <<<"$err" || fail "the error must name the file: $err"
err=$(preflight --node worker-99 2>&1)
[ $? -eq 2 ] || fail "a missing node must exit 2"
grep -q 'no node worker-99' <<<"$err" || fail "missing node: $err"
echo "preflight: ok"
