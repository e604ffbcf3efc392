-- migrate-vm.lua: live-migrates one VM (cluster.migrate) and follows it to the end, printing its
-- phase and progress; --to NODE pins the target (addedNodeSelector kubernetes.io/hostname).
-- Checks first with preflight.vm that the VM can migrate (and to that node), so that a migration
-- that cannot succeed is not started.
--
--   vmrun [--cluster FILE] playbooks/migrate-vm.lua NAMESPACE/NAME [--to NODE] [--timeout DURATION]
--
-- Exit code 0 when the VM migrated, 1 when it cannot or the migration failed (KubeVirt's reason
-- is printed), 2 for bad arguments or a VM that does not exist.
local USAGE = "usage: vmrun [--cluster FILE] playbooks/migrate-vm.lua NAMESPACE/NAME [--to NODE] "
  .. "[--timeout DURATION]\n"
local args, target, to, timeout = { ... }, nil, nil, "1h"
local i = 1
while i <= #args do
  local a = args[i]
  if a == "--to" or a == "--timeout" then
    i = i + 1
    if args[i] == nil then io.stderr:write("migrate-vm: " .. a .. " needs a value\n" .. USAGE) vmrun.exit(2) end
    if a == "--to" then to = args[i] else timeout = args[i] end
  elseif a:sub(1, 1) == "-" or target ~= nil then
    io.stderr:write("migrate-vm: unknown argument " .. a .. "\n" .. USAGE)
    vmrun.exit(2)
  else
    target = a
  end
  i = i + 1
end
if target == nil or not target:match("^[^/]+/[^/]+$") then io.stderr:write(USAGE) vmrun.exit(2) end

local function stop(code, fmt, ...)
  io.stderr:write("migrate-vm: " .. fmt:format(...) .. "\n")
  vmrun.exit(code)
end

cluster.settle()
local ok, report = pcall(preflight.vm, target)
if not ok then stop(2, "%s", require("vmrun.message")(report)) end
if not report.migratable then stop(1, "%s cannot live-migrate: %s", target, table.concat(report.messages, "; ")) end
if to then
  local fits = false
  for _, t in ipairs(report.targets) do if t == to then fits = true end end
  if not fits then
    stop(1, "%s cannot go to %s: %s", target, to, report.excluded[to] or "not a node it may use")
  end
end
local m = cluster.migrate(target, { added_node_selector = to and { ["kubernetes.io/hostname"] = to } or nil })
log.info(("migrating %s from %s (about %.0f s)"):format(target, report.node, report.estimate_seconds or 0),
  { migration = m.name })
local last
local watcher = task.spawn(function()
  while true do
    local st = m:status()
    local line = ("%s %d%%"):format(st.phase, math.floor((st.progress or 0) * 100 + 0.5))
    if line ~= last then
      log.info(("%s: %s%s"):format(target, line, st.eta and (", about %.0f s left"):format(st.eta) or ""))
      last = line
    end
    task.sleep(5)
  end
end)
local done, err = pcall(m.wait, m, { timeout = timeout })
watcher:cancel("done")
if not done then stop(1, "%s", require("vmrun.message")(err)) end
local st = m:status()
print(("%s migrated: %s -> %s"):format(target, st.source or report.node, st.target or "?"))
