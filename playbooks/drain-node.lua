-- drain-node.lua: drains one node the VM-aware way (node.drain): refuses before any change when
-- a VM or pod can never leave, cordons it, migrates its VMs through the limit-aware queue, then
-- evicts the other pods with kubectl drain's rules, saying what each waits for (finished pods, such
-- as the source pods of migrated VMs, stay unless --evict-finished). The node stays
-- cordoned afterwards (uncordon it with node.uncordon, or --uncordon after a step you run
-- yourself). Prints the account per VM and per pod.
--
--   vmrun [--cluster FILE] playbooks/drain-node.lua NODE [--timeout DURATION]
--       [--delete-emptydir-data] [--force] [--disable-eviction] [--evict-finished]
--       [--pod-selector SEL] [--uncordon]
--
-- Exit code 0 when the node was drained, 1 when the drain was refused or could not finish (the
-- reason and what blocks it are printed), 2 for bad arguments or a node that does not exist.
local USAGE = "usage: vmrun [--cluster FILE] playbooks/drain-node.lua NODE [--timeout DURATION] "
  .. "[--delete-emptydir-data] [--force] [--disable-eviction] [--evict-finished] [--pod-selector SEL] "
  .. "[--uncordon]\n"
local args, name, opts, uncordon = { ... }, nil, {}, false
local i = 1
while i <= #args do
  local a = args[i]
  if a == "--timeout" or a == "--pod-selector" then
    i = i + 1
    if args[i] == nil then io.stderr:write("drain-node: " .. a .. " needs a value\n" .. USAGE) vmrun.exit(2) end
    opts[a == "--timeout" and "timeout" or "pod_selector"] = args[i]
  elseif a == "--delete-emptydir-data" then
    opts.delete_emptydir_data = true
  elseif a == "--force" then
    opts.force = true
  elseif a == "--disable-eviction" then
    opts.disable_eviction = true
  elseif a == "--evict-finished" then
    opts.evict_finished = true
  elseif a == "--uncordon" then
    uncordon = true
  elseif a:sub(1, 1) == "-" or name ~= nil then
    io.stderr:write("drain-node: unknown argument " .. a .. "\n" .. USAGE)
    vmrun.exit(2)
  else
    name = a
  end
  i = i + 1
end
if name == nil then io.stderr:write(USAGE) vmrun.exit(2) end

cluster.settle()
local ok, account = pcall(node.drain, name, opts)
if not ok then
  local err = account
  io.stderr:write("drain-node: " .. require("vmrun.message")(err) .. "\n")
  local kind = type(err) == "table" and err.kind
  vmrun.exit((kind == "usage" or kind == "not_found") and 2 or 1)
end
print(("%-34s %-17s %-10s %s"):format("VM", "ACTION", "STATE", "WHERE"))
for _, v in ipairs(account.vms) do
  print(("%-34s %-17s %-10s %s"):format(v.namespace .. "/" .. v.name, v.action, v.state or "-",
    v.target and (v.source .. " -> " .. v.target) or (v.source or "")))
end
print()
print(("%-44s %-8s %s"):format("POD", "ACTION", "REASON"))
for _, p in ipairs(account.pods) do
  print(("%-44s %-8s %s"):format(p.namespace .. "/" .. p.name, p.action, p.reason or ""))
end
print()
print(("%s drained in %.0f s%s"):format(name, account.seconds, time.is_virtual() and " (simulated)" or ""))
if uncordon then node.uncordon(name) end
