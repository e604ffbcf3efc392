-- bench/rolling/measure.lua: runs one maintenance of the loaded cluster and prints its metrics as
-- one JSON line: "stock" (maintenance.rolling as playbooks/rolling-maintenance.lua runs it) or
-- "baseline" (bench/baseline-drain.lua). Metrics: simulated seconds; migrations that succeeded and
-- that failed; VMs migrated twice or more; VMs shut down (running at the start, and at the end not
-- running or running as a new VMI); for "stock" also the lower bound of maintenance.lower_bound.
--   vmrun --cluster FILE bench/rolling/measure.lua stock|baseline
local mode = ...
cluster.settle()
local before = {}
for _, vmi in ipairs(cluster.vmis()) do
  if vmi.status and vmi.status.phase == "Running" then
    before[vmi.metadata.namespace .. "/" .. vmi.metadata.name] = vmi.metadata.uid
  end
end
local started = time.now()
local lower
if mode == "stock" then
  local report = maintenance.rolling({ drain = { delete_emptydir_data = true, ignore_daemonsets = true,
    force = true }, skip_blocked = true, failure_budget = { nodes = 1000, vms = 100000 } })
  lower = maintenance.lower_bound(report)
elseif mode == "baseline" then
  local here = (arg[0]:match("^(.*)/[^/]*$") or ".")
  dofile(here .. "/../baseline-drain.lua")
else
  error("usage: measure.lua stock|baseline")
end
local seconds = time.now() - started
local ok_by_vmi, migrations, failed, twice = {}, 0, 0, 0
for _, m in ipairs(cluster.migrations()) do
  local phase = m.status and m.status.phase
  local key = m.metadata.namespace .. "/" .. m.spec.vmiName
  if phase == "Succeeded" then
    migrations = migrations + 1
    ok_by_vmi[key] = (ok_by_vmi[key] or 0) + 1
  elseif phase == "Failed" then
    failed = failed + 1
  end
end
for _, n in pairs(ok_by_vmi) do if n >= 2 then twice = twice + 1 end end
local shut = 0
for key, uid in pairs(before) do
  local ns, name = key:match("^([^/]+)/(.+)$")
  local vmi = cluster.get("vmi", ns, name)
  if not (vmi and vmi.metadata.uid == uid and vmi.status.phase == "Running") then shut = shut + 1 end
end
print(json.encode({ mode = mode, seconds = seconds, migrations = migrations, failed = failed,
  twice = twice, shut_down = shut, lower_bound = lower or json.null }))
