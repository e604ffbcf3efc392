-- evacuate.lua: the sim-scale benchmark's workload, run by vmrun: load a generated cluster and
-- evacuate every worker node in turn (cordon, migrate each migratable running VM away with a
-- VirtualMachineInstanceMigration, wait, uncordon). Prints one line of numbers:
--   vms=<running VMs> nodes=<workers> migrations=<n> failed=<n> simulated_s=<s> cpu_s=<s>
--   load_s=<s> start_s=<s> evacuate_s=<s>   (CPU seconds of each phase, all threads: sim.load,
--   starting every VM, the evacuation with the final count of running VMIs)
-- Usage: vmrun bench/sim-scale/evacuate.lua CLUSTER.yaml [MAX_NODES]
local path, max_nodes = ...
assert(path, "usage: vmrun bench/sim-scale/evacuate.lua CLUSTER.yaml [MAX_NODES]")
max_nodes = tonumber(max_nodes)

local cpu0 = os.clock()
sim.load(path)
local cpu_loaded = os.clock()
task.sleep(60) -- every VM started
local cpu_started = os.clock()
local t0 = time.now()

local function migratable(vmi)
  for _, c in ipairs(vmi.status.conditions or {}) do
    if c.type == "LiveMigratable" then return c.status == "True" end
  end
  return false
end

local migrations, failed, done = 0, 0, 0
local workers = cluster.list("Node", { selector = "node-role.kubernetes.io/worker" })
for _, node in ipairs(workers) do
  if max_nodes and done >= max_nodes then break end
  local name = node.metadata.name
  cluster.patch("Node", name, { spec = { unschedulable = true } })
  local pending = {}
  for _, vmi in ipairs(cluster.list("vmi", { node = name, field = "status.phase=Running" })) do
    if migratable(vmi) then
      migrations = migrations + 1
      local vmim = cluster.create({ apiVersion = "kubevirt.io/v1",
        kind = "VirtualMachineInstanceMigration",
        metadata = { generateName = "bench-", namespace = vmi.metadata.namespace },
        spec = { vmiName = vmi.metadata.name } })
      pending[#pending + 1] = vmim
    end
  end
  for _, vmim in ipairs(pending) do
    local ns, n = vmim.metadata.namespace, vmim.metadata.name
    while true do
      local m = cluster.get("vmim", ns, n)
      local phase = m and m.status and m.status.phase
      if phase == "Succeeded" then break end
      if phase == "Failed" or m == nil then failed = failed + 1 break end
      task.sleep(5)
    end
  end
  cluster.patch("Node", name, { spec = { unschedulable = json.null } })
  done = done + 1
end

local running = cluster.count("vmi", { field = "status.phase=Running" })
local cpu_end = os.clock()
print(("vms=%d nodes=%d migrations=%d failed=%d simulated_s=%.0f cpu_s=%.2f load_s=%.2f "
  .. "start_s=%.2f evacuate_s=%.2f"):format(running, done, migrations, failed, time.now() - t0,
  cpu_end - cpu0, cpu_loaded - cpu0, cpu_started - cpu_loaded, cpu_end - cpu_started))
