-- cpu_model_spec.lua: where a VM may migrate by its CPU model, in pre-flight and in the simulator
-- alike (tests/lua/fixtures/cpu_model_cluster.yaml): a VM that names no model runs host-model
-- (KubeVirt's default), so a migration target must list the source's host model among its
-- cpu-model-migration labels; a named model needs the node's cpu-model label; the KubeVirt CR's
-- cpuModel is the default when set. Each migration names its target through added_node_selector.
sim.load((os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/cpu_model_cluster.yaml")
task.sleep(60) -- "new" and "named" run on ice-1, the only schedulable node
local function schedulable(name, yes)
  cluster.patch("Node", name, { spec = { unschedulable = not yes or vmrun.null } }, { type = "merge" })
end
schedulable("cas", true)
schedulable("ice-1", false)
cluster.patch("VirtualMachine", "prod", "old", { spec = { runStrategy = "Always" } }, { type = "merge" })
task.sleep(60) -- "old" runs on cas
schedulable("ice-1", true)
schedulable("ice-2", true)

local function targets(name)
  local r = preflight.vm("prod/" .. name)
  table.sort(r.targets)
  return r.targets, r.excluded
end

-- Migrates prod/NAME to node TO (its nodeSelector slot overridden), returns the final status.
local function migrate_to(name, to)
  local m = cluster.migrate("prod/" .. name, { added_node_selector = { slot = to } })
  return m:wait({ timeout = "10m" })
end

describe("CPU models and migration targets", function()
  it("lets a host-model VM from the older host go to the newer ones", function()
    expect(cluster.get("vmi", "prod", "old").status.nodeName).to_be("cas")
    expect((targets("old"))).to_equal({ "ice-1", "ice-2" })
  end)

  it("keeps a host-model VM of the newer host off the older one, in pre-flight and in the simulator", function()
    local list, excluded = targets("new")
    expect(list).to_equal({ "ice-2" })
    expect(excluded.cas).to_be("CPU model (host model Icelake-Server-noTSX)")
    expect(function() migrate_to("new", "cas") end).to_fail_with("migration_failed", "target pod was unschedulable")
    expect(cluster.get("vmi", "prod", "new").status.nodeName).to_be("ice-1")
  end, { timeout = "15m" })

  it("moves a VM with a named model to any node that offers it", function()
    expect((targets("named"))).to_equal({ "cas", "ice-2" })
    local st = migrate_to("named", "cas")
    expect(st.phase).to_be("Succeeded")
    expect(cluster.get("vmi", "prod", "named").status.nodeName).to_be("cas")
  end, { timeout = "15m" })

  it("takes the KubeVirt CR's cpuModel as the model of a VM that names none", function()
    cluster.patch("KubeVirt", "kubevirt", "kubevirt",
      { spec = { configuration = { cpuModel = "Cascadelake-Server-noTSX" } } }, { type = "merge" })
    expect((targets("new"))).to_equal({ "cas", "ice-2" })
    local st = migrate_to("new", "cas")
    expect(st.phase).to_be("Succeeded")
  end, { timeout = "15m" })
end)
