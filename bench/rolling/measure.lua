-- bench/rolling/measure.lua: runs one maintenance of the loaded cluster and prints its metrics as
-- one JSON line: "stock" (maintenance.rolling as playbooks/rolling-maintenance.lua runs it) or
-- "baseline" (bench/baseline-drain.lua). Metrics: simulated seconds; migrations that succeeded and
-- that failed; VMs migrated twice or more; VMs shut down (running at the start, and at the end not
-- running or running as a new VMI); for "stock" also the lower bound of maintenance.lower_bound;
-- and the process's CPU seconds by phase (cpu: load = reading the cluster file, before this
-- script; start = the simulator starting the cluster's VMs; run = the maintenance itself).
--   vmrun --cluster FILE bench/rolling/measure.lua stock|baseline
local mode = ...
local cpu = { load = os.clock() }
cluster.settle()
cpu.start = os.clock() - cpu.load
-- the few fields it needs, not whole objects: the measurement should not weigh on what it
-- measures (a 1,000-node cluster has 25,000 VMIs and ends with 16,000 migrations)
local function split(key) return key:match("^([^/]+)/(.+)$") end
local before = {}
for _, key in ipairs(cluster.names("vmi", { field = "status.phase=Running" })) do
  local ns, name = split(key)
  before[key] = cluster.get_field("vmi", ns, name, "metadata.uid")
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
cpu.run = os.clock() - cpu.load - cpu.start
local ok_by_vmi, migrations, failed, twice = {}, 0, 0, 0
for _, mkey in ipairs(cluster.names("vmim")) do
  local ns, name = split(mkey)
  local phase = cluster.get_field("vmim", ns, name, "status.phase")
  local key = ns .. "/" .. cluster.get_field("vmim", ns, name, "spec.vmiName")
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
  local ns, name = split(key)
  if not (cluster.get_field("vmi", ns, name, "metadata.uid") == uid
      and cluster.get_field("vmi", ns, name, "status.phase") == "Running") then
    shut = shut + 1
  end
end
print(json.encode({ mode = mode, seconds = seconds, migrations = migrations, failed = failed,
  twice = twice, shut_down = shut, lower_bound = lower or json.null, cpu = cpu }))
