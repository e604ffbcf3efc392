-- preflight.lua: what a maintenance run will meet, before anything changes: per node whether a
-- drain can finish and what blocks it, with the estimated drain time under the migration limits;
-- per VM whether it can live-migrate (KubeVirt's reason names), its eviction strategy, what a
-- drain does to it and where it can go; per batch whether the other nodes have room. Read-only.
--
--   vmrun playbooks/preflight.lua [CLUSTER.yaml] [--json] [--node NAME]... [--batch N]
--                                 [--delete-emptydir-data] [--force] [--disable-eviction]
--
-- Without a loaded cluster it simulates CLUSTER.yaml, or the demo cluster next to this file.
-- The drain options are node.drain's (kubectl drain's flags). --json prints one JSON document
-- (its shape is documented in docs/preflight.md and kept stable). Exits 0 when every node checked
-- can be drained, 1 when one cannot, 2 on bad arguments or a bad cluster file.
local USAGE = "usage: vmrun playbooks/preflight.lua [CLUSTER.yaml] [--json] [--node NAME]... "
  .. "[--batch N] [--delete-emptydir-data] [--force] [--disable-eviction]\n"

local function bad_usage(message)
  if message then io.stderr:write("preflight: " .. message .. "\n") end
  io.stderr:write(USAGE)
  vmrun.exit(2)
end

local args = { ... }
local cluster_file, as_json, nodes, batch = nil, false, nil, nil
local drain_opts = {}
local i = 1
while i <= #args do
  local a = args[i]
  if a == "--json" then
    as_json = true
  elseif a == "--node" or a == "--batch" then
    local v = args[i + 1]
    if v == nil then bad_usage(a .. " needs a value") end
    if a == "--node" then
      nodes = nodes or {}
      nodes[#nodes + 1] = v
    else
      batch = math.tointeger(tonumber(v))
      if batch == nil or batch < 1 then bad_usage("--batch needs a whole number >= 1") end
    end
    i = i + 1
  elseif a == "--delete-emptydir-data" then
    drain_opts.delete_emptydir_data = true
  elseif a == "--force" then
    drain_opts.force = true
  elseif a == "--disable-eviction" then
    drain_opts.disable_eviction = true
  elseif a:sub(1, 1) == "-" or cluster_file ~= nil then
    bad_usage("unknown argument " .. a)
  else
    cluster_file = a
  end
  i = i + 1
end

-- Bad input (a missing or broken cluster file, a node that does not exist): its message, exit 2.
local function or_exit(ok, ...)
  if ok then return ... end
  local err = ...
  io.stderr:write("preflight: " .. tostring(type(err) == "table" and err.message or err) .. "\n")
  vmrun.exit(2)
end

if sim.source() == nil then
  local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
  cluster_file = cluster_file or (here .. "/clusters/demo.yaml")
  or_exit(pcall(sim.load, cluster_file))
  task.sleep(120) -- the simulated controllers start the VMs
elseif cluster_file ~= nil then
  bad_usage("a cluster is loaded already (" .. sim.source() .. ")")
end

local opts = { nodes = nodes, batch = batch }
for k, v in pairs(drain_opts) do opts[k] = v end
local report = or_exit(pcall(preflight.cluster, opts))

local all_drainable = true
for _, n in ipairs(report.nodes) do
  if not n.drainable then all_drainable = false end
end

if as_json then
  -- exactly the documented shape (docs/preflight.md)
  local vms, out_nodes, batches = json.array(), json.array(), json.array()
  for _, v in ipairs(report.vms) do
    vms[#vms + 1] = { namespace = v.namespace, name = v.name, node = v.node or json.null,
      migratable = v.migratable, reasons = json.array(v.reasons), messages = json.array(v.messages),
      warnings = json.array(v.warnings), eviction_strategy = v.eviction_strategy,
      run_strategy = v.run_strategy, drain_action = v.drain_action, targets = json.array(v.targets),
      estimated_migration_seconds = v.estimate_seconds and math.ceil(v.estimate_seconds) or json.null }
  end
  for _, n in ipairs(report.nodes) do
    local blockers = json.array()
    for _, b in ipairs(n.blockers) do
      blockers[#blockers + 1] = { namespace = b.namespace, name = b.name, reason = b.reason }
    end
    out_nodes[#out_nodes + 1] = { name = n.name, drainable = n.drainable, blockers = blockers,
      estimated_drain_seconds = n.estimated_drain_seconds or json.null }
  end
  for _, b in ipairs(report.batches) do
    batches[#batches + 1] = { nodes = json.array(b.nodes), room = b.room,
      memory_needed_bytes = b.memory_needed, memory_free_after_bytes = b.memory_free_after or json.null }
  end
  print(json.encode({ limits = report.limits, vms = vms, nodes = out_nodes, batches = batches },
    { sort_keys = true }))
  vmrun.exit(all_drainable and 0 or 1)
end

local function duration(s)
  if s == nil then return "-" end
  s = math.ceil(s)
  if s < 60 then return s .. "s" end
  if s < 3600 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return ("%dh%02dm"):format(s // 3600, (s % 3600) // 60)
end

local l = report.limits
local running = #report.vms
print(("vmrun pre-flight of %s: %d nodes, %d running VMs, KubeVirt %s"):format(sim.source(),
  #report.nodes, running, tostring(l.kubevirtVersion)))
print(("limits: %d migrations per cluster, %d outbound per node, completion %s s/GiB, eviction "
  .. "strategy %s"):format(l.parallelMigrationsPerCluster.value, l.parallelOutboundMigrationsPerNode.value,
  tostring(l.completionTimeoutPerGiB.value), tostring(l.evictionStrategy.value)))
print()
print(("%-18s %-9s %8s %4s  %s"):format("NODE", "DRAIN", "ESTIMATE", "VMS", "BLOCKED BY"))
for _, n in ipairs(report.nodes) do
  local first = n.blockers[1]
  local what = first and ("%s/%s: %s"):format(first.namespace, first.name, first.reason) or ""
  print(("%-18s %-9s %8s %4d  %s"):format(n.name, n.drainable and "ok" or "BLOCKED",
    duration(n.estimated_drain_seconds), #n.vms, what))
  for k = 2, #n.blockers do
    local b = n.blockers[k]
    print(("%-18s %-9s %8s %4s  %s/%s: %s"):format("", "", "", "", b.namespace, b.name, b.reason))
  end
end
print()
print("VMs that need attention:")
print(("%-28s %-12s %-22s %-17s %s"):format("VM", "NODE", "EVICTION STRATEGY", "DRAIN ACTION", "WHY"))
local shown = 0
for _, v in ipairs(report.vms) do
  if not v.migratable or #v.warnings > 0 or v.drain_action ~= "migrate" then
    shown = shown + 1
    local why = {}
    for _, m in ipairs(v.messages) do why[#why + 1] = m end
    for _, w in ipairs(v.warnings) do why[#why + 1] = "warning: " .. w end
    print(("%-28s %-12s %-22s %-17s %s"):format(v.namespace .. "/" .. v.name, v.node or "-",
      v.eviction_strategy, v.drain_action, why[1] or ""))
    for k = 2, #why do print(("%-28s %-12s %-22s %-17s %s"):format("", "", "", "", why[k])) end
  end
end
if shown == 0 then print("  none: every VM migrates") end
for _, b in ipairs(report.batches) do
  if not b.room then
    print(("no room to take %s out: the other nodes lack %.1f GiB of memory"):format(
      table.concat(b.nodes, ", "), -b.memory_free_after / (1024 ^ 3)))
  end
end
print()
print(all_drainable and "every node can be drained" or "some nodes cannot be drained: see BLOCKED BY")
vmrun.exit(all_drainable and 0 or 1)
