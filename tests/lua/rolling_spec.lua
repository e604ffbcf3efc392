-- rolling_spec.lua: maintenance.rolling on tests/lua/fixtures/rolling_cluster.yaml: a whole
-- rolling maintenance of four workers (the control plane left out), in batches chosen from the
-- limits, with hooks and a gate; the VM policies (restart-after, leave-off, restart-elsewhere)
-- recorded and restored; then a step that fails: the node stays cordoned, the run stops within
-- its failure budget; a pre-flight that finds a blocker stops the run before anything changes;
-- bad options at the caller's line.
sim.load((os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/rolling_cluster.yaml")

local function vmi(name) return cluster.get("vmi", "prod", name) end
local function cordoned(name) return (cluster.get("Node", name).spec or {}).unschedulable == true end

describe("maintenance.rolling", function()
  it("maintains every worker in batches, VMs first, and leaves the cluster as it found it", function()
    cluster.settle()
    local calls, gates, events = {}, 0, {}
    local report = maintenance.rolling({
      hooks = {
        before_batch = function(batch) calls[#calls + 1] = "before " .. table.concat(batch, "+") end,
        after_node = function(name) calls[#calls + 1] = "node " .. name end,
      },
      gate = function(batch)
        gates = gates + 1
        for _, n in ipairs(batch) do
          if cordoned(n) then return false, n .. " is still cordoned" end
        end
        return true
      end,
      on_event = function(ev) events[#events + 1] = ev.type end,
    })
    expect(report.batch_size).to_be(2) -- 4 per cluster / 2 outbound per node
    expect(#report.batches).to_be(2)
    expect(gates).to_be(2)
    expect(report.failed_nodes).to_be(0)
    expect(#report.nodes).to_be(4)
    for _, n in ipairs(report.nodes) do
      expect(n.state).to_be("done")
      expect(n.name).never.to_be("cp1") -- the control plane is left out
      expect(cordoned(n.name)).to_be(false)
      expect(n.drain_s > 0).to_be(true)
      expect(n.step_s >= 0).to_be(true)
      expect(n.ready_s >= 100).to_be(true) -- the simulated reboot takes 120 s
    end
    expect(calls[1]).to_match("^before ")
    expect(#calls).to_be(2 + 4)
    expect(events[1]).to_be("planned")
    -- every VM runs again, but the one whose policy is leave-off
    for _, name in ipairs({ "vm-1", "vm-2", "vm-3", "vm-4", "vm-5", "vm-6", "vm-7", "vm-8", "db-rwo", "batch" }) do
      expect(vmi(name) and vmi(name).status.phase).to_be("Running")
    end
    expect(vmi("scratch")).to_be_nil()
    expect(report.left_off).to_equal({ "prod/scratch" })
    local vm = cluster.get("vm", "prod", "db-rwo")
    expect(vm.metadata.annotations["vmrun.io/stopped-for-maintenance"]).to_be_nil()
    expect(vm.spec.runStrategy).to_be("Always")
    expect(cluster.get("vm", "prod", "scratch").spec.runStrategy).to_be("Halted")
    -- few VMs move twice: the second batch's VMs go to the nodes the first batch finished
    local moves, twice = {}, 0
    for _, m in ipairs(cluster.migrations()) do moves[m.spec.vmiName] = (moves[m.spec.vmiName] or 0) + 1 end
    for _, n in pairs(moves) do
      expect(n <= 2).to_be(true)
      if n == 2 then twice = twice + 1 end
    end
    expect(twice <= 3).to_be(true)
  end, { timeout = "3h" })

  it("leaves a node whose step fails cordoned, and stops within the failure budget", function()
    local report = maintenance.rolling({ nodes = { "w1", "w2", "w3" }, batch = 1,
      step = function(name)
        if name == "w2" then error("the firmware update failed") end
        sim.reboot(name)
      end })
    local by = {}
    for _, n in ipairs(report.nodes) do by[n.name] = n end
    expect(by.w2.state).to_be("failed")
    expect(by.w2.error).to_be("step failed: the firmware update failed")
    expect(cordoned("w2")).to_be(true)
    expect(report.stopped).to_match("^stopped after batch %d: 1 failed node")
    for _, n in ipairs(report.nodes) do -- the run stopped at the failure (budget 0)
      expect(n.batch <= by.w2.batch).to_be(true)
    end
    -- nothing stays off because a node failed: a restart-after VM on it is started elsewhere
    task.sleep(60)
    for _, vm in ipairs(cluster.vms({ namespace = "prod" })) do
      local stopped = (vm.metadata.annotations or {})["vmrun.io/stopped-for-maintenance"]
      if vm.metadata.name ~= "scratch" then
        expect(stopped).to_be_nil()
        expect(vmi(vm.metadata.name) and vmi(vm.metadata.name).status.phase).to_be("Running")
      end
    end
    node.uncordon("w2")
  end, { timeout = "3h" })

  it("starts the VMs an interrupted run left stopped, but not those whose policy is leave-off", function()
    -- what an earlier run that was killed half way leaves: vm-2 stopped for its node
    cluster.patch("vm", "prod", "vm-2", { metadata = { annotations = {
      ["vmrun.io/stopped-for-maintenance"] = json.encode({ runStrategy = "Always", policy = "restart-after" }) } },
      spec = { runStrategy = "Halted" } }, { type = "merge" })
    task.sleep(30)
    expect(vmi("vm-2")).to_be_nil()
    maintenance.rolling({ nodes = { "w1" } })
    local vm = cluster.get("vm", "prod", "vm-2")
    expect(vm.spec.runStrategy).to_be("Always")
    expect(vm.metadata.annotations["vmrun.io/stopped-for-maintenance"]).to_be_nil()
    expect(vmi("vm-2").status.phase).to_be("Running")
    expect(cluster.get("vm", "prod", "scratch").spec.runStrategy).to_be("Halted") -- leave-off stays off
  end, { timeout = "1h" })

  it("says a node a hook failed on was not cordoned", function()
    local report = maintenance.rolling({ nodes = { "w1" },
      hooks = { before_node = function() error("the change window is closed") end } })
    expect(report.nodes[1].state).to_be("failed")
    expect(report.nodes[1].error).to_be("the change window is closed")
    expect(report.nodes[1].cordoned).to_be(false)
    expect(cordoned("w1")).to_be(false)
  end)

  it("stops before touching anything when a node would block, unless told to skip it", function()
    cluster.create({ apiVersion = "v1", kind = "Pod", metadata = { name = "pinned", namespace = "prod" },
      spec = { nodeName = "w4", containers = { { name = "c", image = "busybox" } } },
      status = { phase = "Running" } })
    local before = cluster.revision()
    local err = expect(function() maintenance.rolling({ nodes = { "w3", "w4" } }) end)
      .to_fail_with("preflight_failed", "rolling_spec.lua:%d+: maintenance.rolling: 1 node%(s%) "
        .. "would block, nothing was changed %(skip_blocked = true leaves them out%): w4: prod/pinned: "
        .. "cannot delete Pods that declare no controller %(use force = true to override%)")
    expect(err.blocked[1].name).to_be("w4")
    expect(cluster.revision()).to_be(before)
    local report = maintenance.rolling({ nodes = { "w3", "w4" }, skip_blocked = true })
    expect(report.skipped[1].name).to_be("w4")
    expect(#report.nodes).to_be(1)
    expect(report.nodes[1].state).to_be("done")
  end, { timeout = "3h" })

  it("refuses bad options, policies and nodes at the caller's line", function()
    expect(function() maintenance.rolling({ batch = 0 }) end)
      .to_fail_with("usage", "rolling_spec.lua:%d+: maintenance.rolling: batch must be")
    expect(function() maintenance.rolling({ bogus = 1 }) end)
      .to_fail_with("usage", "rolling_spec.lua:%d+: maintenance.rolling: unknown option bogus")
    expect(function() maintenance.rolling({ step = {} }) end)
      .to_fail_with("usage", "the step's argv template is empty")
    expect(function() maintenance.rolling({ nodes = { "w9" } }) end)
      .to_fail_with("not_found", "rolling_spec.lua:%d+: maintenance.rolling: no node w9")
    expect(function() maintenance.rolling({ drain = { forse = true } }) end)
      .to_fail_with("usage", "unknown option forse")
    cluster.patch("vm", "prod", "vm-1", { metadata = { annotations = { ["vmrun.io/maintenance-policy"] = "teleport" } } })
    expect(function() maintenance.rolling({ nodes = { "w1" } }) end)
      .to_fail_with("input", "rolling_spec.lua:%d+: maintenance.rolling: VirtualMachine prod/vm%-1: "
        .. "vmrun.io/maintenance%-policy is \"teleport\"; it must be one of leave%-off, migrate")
  end)
end)
