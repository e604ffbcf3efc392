-- migrate_spec.lua: cluster.migrate and its handle (vmrun.Migration) on
-- tests/lua/fixtures/queries_cluster.yaml: a migration steered by added_node_selector, status
-- while it runs, wait returning on success, timing out, failing with KubeVirt's reason, cancel,
-- and the argument errors.
local fixtures = (os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/"
sim.load(fixtures .. "queries_cluster.yaml")
task.sleep(60) -- both VMs running

local function zone_of(node) return cluster.get("Node", node).metadata.labels.zone end

describe("cluster.migrate", function()
  it("moves a VMI to a node with the added labels, and wait returns its final status", function()
    local vmi = cluster.get("vmi", "prod", "db")
    local from = vmi.status.nodeName
    local to_zone = zone_of(from) == "a" and "b" or "a"
    local m = cluster.migrate(vmi, { added_node_selector = { zone = to_zone } })
    local vmim = cluster.get("vmim", "prod", m.name)
    expect(vmim.spec).to_equal({ vmiName = "db", addedNodeSelector = { zone = to_zone } })
    expect(vmim.metadata.labels["app.kubernetes.io/managed-by"]).to_be("vmrun")
    expect(m:status().phase).to_be("Pending")
    local st = m:wait({ timeout = "5m" })
    expect(st.phase).to_be("Succeeded")
    expect(st.progress).to_be(1)
    expect(st.source).to_be(from)
    expect(zone_of(st.target)).to_be(to_zone)
    expect(cluster.get("vmi", "prod", "db").status.nodeName).to_be(st.target)
    expect(m:cancel()).to_be(false) -- already ended
  end)

  it("reports progress while the transfer runs", function()
    local m = cluster.migrate("prod/db")
    local running
    for _ = 1, 60 do
      running = m:status()
      if running.phase == "Running" and running.data_processed then break end
      task.sleep(0.5)
    end
    expect(running.phase).to_be("Running")
    expect(running.data_total > 0).to_be(true)
    expect(running.progress >= 0 and running.progress <= 1).to_be(true)
    expect(running.source).never.to_be_nil()
    local done = m:wait({ timeout = "5m" })
    expect(done.progress).to_be(1)
    expect(done.eta_seconds).to_be(0)
  end)

  it("times out without stopping the migration, and cancel stops it", function()
    local m = cluster.migrate({ "prod", "web" }, { added_node_selector = { zone = "nowhere" } })
    local err = expect(function() m:wait({ timeout = "20s" }) end)
      .to_fail_with("timeout", "migrate_spec.lua:%d+: migration of prod/web still Scheduling after 20s")
    expect(err.resource).to_be("VirtualMachineInstanceMigration prod/" .. m.name)
    expect(m:cancel()).to_be(true)
    expect(function() m:wait() end).to_fail_with("not_found", "was deleted")
    expect(cluster.get("vmi", "prod", "web").status.phase).to_be("Running")
  end)

  it("raises migration_failed with KubeVirt's reason", function()
    local m = cluster.migrate("prod/web", { added_node_selector = { zone = "nowhere" } })
    local err = expect(function() m:wait({ timeout = "10m" }) end)
      .to_fail_with("migration_failed", "migration of prod/web failed: target pod was unschedulable")
    expect(err.reason).to_be("target pod was unschedulable for 5 minutes")
    expect(m:status().failure_reason).to_be("target pod was unschedulable for 5 minutes")
  end, { timeout = "15m" }) -- KubeVirt gives an unschedulable target pod 5 minutes

  it("refuses what it cannot migrate, with the caller's line", function()
    expect(function() cluster.migrate("prod/nope") end)
      .to_fail_with("not_found", "migrate_spec.lua:%d+: cluster.migrate: no VirtualMachineInstance prod/nope")
    expect(function() cluster.migrate("db") end).to_fail_with("usage", "namespace/name")
    expect(function() cluster.migrate("prod/db", { selector = {} }) end)
      .to_fail_with("usage", "unknown option selector")
    expect(function() cluster.migrate("prod/db", { added_node_selector = { zone = 1 } }) end)
      .to_fail_with("usage", "map label names to strings")
    cluster.patch("VirtualMachine", "prod", "web", { spec = { runStrategy = "Halted" } })
    for _ = 1, 30 do
      if cluster.get("vmi", "prod", "web") == nil then break end
      task.sleep(1)
    end
    expect(function() cluster.migrate("prod/web") end).to_fail_with("not_found")
    task.sleep(60) -- its virt-launcher pod goes
  end, { timeout = "3m" })
end)
