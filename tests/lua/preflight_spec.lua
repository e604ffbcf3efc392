-- preflight_spec.lua: the pre-flight checks on tests/lua/fixtures/preflight_cluster.yaml, one VM
-- per rule: each asserts the verdict, KubeVirt's reason name, the drain action and the feasible
-- targets (with why the others are not). Then a node's verdict and blockers, its estimated drain
-- time against a real drain once the blockers are gone, batches without room, and that nothing
-- is written.
sim.load((os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/preflight_cluster.yaml")
task.sleep(60) -- every VM runs on w1
for i = 2, 6 do node.uncordon("w" .. i, { force = true }) end
task.sleep(1) -- the node controller drops the unschedulable taints

local function vm(name) return preflight.vm("prod/" .. name) end

describe("preflight.vm", function()
  it("passes a VM on shared storage with the nodes that can take it", function()
    local r = vm("ok")
    expect(r.migratable).to_be(true)
    expect(r.reasons).to_equal({})
    expect(r.node).to_be("w1")
    expect(r.eviction_strategy).to_be("LiveMigrate")
    expect(r.run_strategy).to_be("Always")
    expect(r.drain_action).to_be("migrate")
    expect(r.targets).to_equal({ "w2", "w6" })
    expect(r.excluded.w3).to_be("CPU vendor (not Intel)")
    expect(r.excluded.w4).to_be("taint dedicated=gpu:NoSchedule")
    expect(r.excluded.w5).to_match("^memory %(1%.0 GiB free, 2%.%d GiB needed%)$")
    expect(r.estimate_seconds > 5).to_be(true)
  end)

  it("names DisksNotLiveMigratable for a ReadWriteOnce PVC; LiveMigrate then blocks the drain", function()
    local r = vm("rwo")
    expect(r.migratable).to_be(false)
    expect(r.reasons).to_equal({ "DisksNotLiveMigratable" })
    expect(r.messages[1]).to_be("DisksNotLiveMigratable: cannot migrate VMI: PVC local is not "
      .. "shared, live migration requires that all PVCs must be shared (using ReadWriteMany access mode)")
    expect(r.drain_action).to_be("block")
  end)

  it("names InterfaceNotLiveMigratable for bridge on the pod network, unless the annotation allows it", function()
    local r = vm("bridge")
    expect(r.reasons).to_equal({ "InterfaceNotLiveMigratable" })
    expect(r.eviction_strategy).to_be("LiveMigrateIfPossible")
    expect(r.drain_action).to_be("shutdown-restart") -- not migratable: shut down; Always restarts it
    expect(vm("bridge-allowed").migratable).to_be(true)
  end)

  it("warns of a migration port listed by a masquerade interface on the legacy transport", function()
    -- KubeVirt keeps 49152/49153 for the migration and never forwards them: the VM migrates
    local r = vm("ports")
    expect(r.migratable).to_be(true)
    expect(r.reasons).to_equal({})
    expect(table.concat(r.warnings, "\n")).to_contain("lists port 49152")
    local vmi = cluster.get("vmi", "prod", "ports")
    vmi.status.migrationTransport = "Unix" -- after its first migration: unix sockets, no ports
    expect(table.concat(preflight.vm(vmi).warnings, "\n")).never.to_contain("49152")
  end)

  it("names HostDeviceNotLiveMigratable; None with RerunOnFailure stays off", function()
    local r = vm("hostdev")
    expect(r.reasons).to_equal({ "HostDeviceNotLiveMigratable" })
    expect(r.eviction_strategy).to_be("None")
    expect(r.run_strategy).to_be("RerunOnFailure")
    expect(r.drain_action).to_be("stay-off")
  end)

  it("names CPUModeLiveMigratable for host-model on a node without host-model labels", function()
    expect(vm("hostmodel").reasons).to_equal({ "CPUModeLiveMigratable" })
  end)

  it("keeps a named CPU model to the nodes that have it", function()
    local r = vm("skylake")
    expect(r.targets).to_equal({ "w2" })
    expect(r.excluded.w6).to_be("CPU model Skylake-Server")
  end)

  it("follows nodeSelector and tolerations to the only node that fits", function()
    local r = vm("gpu-pinned")
    expect(r.targets).to_equal({ "w4" })
    expect(r.excluded.w2).to_be("nodeSelector gpu=true")
  end)

  it("blocks on External and warns of a budget that allows no disruption", function()
    expect(vm("ext").drain_action).to_be("block")
    local r = vm("budgeted")
    expect(r.drain_action).to_be("shutdown-restart")
    expect(r.pdbs).to_equal({ "budgeted" })
    expect(r.warnings[1]).to_be("PodDisruptionBudget prod/budgeted allows no disruption (1 of 1 pods "
      .. "healthy, 1 needed)")
  end)

  it("with room = false, lists the nodes the rules allow, room or not", function()
    local ok = cluster.get("vmi", "prod", "ok")
    local r = preflight.vms({ ok }, { room = false })[1]
    expect(r.targets).to_equal({ "w2", "w5", "w6" }) -- w5 has no room now, and is listed
    expect(r.excluded.w5).to_be_nil()
    expect(r.excluded.w3).to_be("CPU vendor (not Intel)")
    expect(preflight.vms({ ok })[1].targets).to_equal({ "w2", "w6" })
    expect(function() preflight.vms({ ok }, { roomy = false }) end).to_fail_with("usage", "unknown option roomy")
    expect(function() preflight.vms({ ok }, { room = "no" }) end).to_fail_with("usage", "must be a boolean")
  end)

  it("reads quantities as Kubernetes does", function()
    expect(queue.quantity("1e9")).to_be(1000000000)
    expect(queue.quantity("1.5Gi")).to_be(1610612736)
    expect(queue.quantity("2Gix")).to_be_nil()
    expect(queue.millicores("500m")).to_be(500)
    expect(queue.millicores("1.5")).to_be(1500)
  end)

  it("takes KubeVirt's first reason in virt-handler's order, and a term without requirements as none", function()
    local vmi = cluster.get("vmi", "prod", "hostmodel")
    vmi.spec.domain.devices = { hostDevices = { { name = "nic", deviceName = "intel.com/e810" } } }
    expect(preflight.vm(vmi).reasons).to_equal({ "CPUModeLiveMigratable", "HostDeviceNotLiveMigratable" })
    local ok = cluster.get("vmi", "prod", "ok")
    ok.spec.affinity = { nodeAffinity = { requiredDuringSchedulingIgnoredDuringExecution = {
      nodeSelectorTerms = { { matchExpressions = { { key = "cpu-model.node.kubevirt.io/Skylake-Server",
        operator = "Exists" } } }, {} } } } }
    local r = preflight.vm(ok)
    expect(r.targets).to_equal({ "w2" }) -- the empty term matches no node: not w6
    expect(r.excluded.w6).to_be("node affinity")
  end)

  it("refuses what is not a VMI at the caller's line", function()
    expect(function() preflight.vm("prod/nope") end)
      .to_fail_with("not_found", "preflight_spec.lua:%d+: preflight.vm: no VMI prod/nope")
    expect(function() preflight.vm(42) end).to_fail_with("usage", "preflight_spec.lua:%d+: preflight.vm: ")
  end)
end)

describe("preflight.node", function()
  it("says what blocks a node, and changes nothing", function()
    local before = cluster.revision()
    local r = preflight.node("w1")
    expect(cluster.revision()).to_be(before)
    expect(r.drainable).to_be(false)
    expect(r.estimated_drain_seconds).to_be_nil()
    local by = {}
    for _, b in ipairs(r.blockers) do by[b.name] = b.reason end
    expect(by.ext).to_contain("eviction strategy External")
    expect(by.rwo).to_contain("DisksNotLiveMigratable")
    expect(by.ports).to_be_nil() -- a warning, not a blocker
    expect(by.hostmodel).to_contain("CPUModeLiveMigratable")
    local budget
    for name, reason in pairs(by) do
      if name:match("^virt%-launcher%-budgeted%-") then budget = reason end
    end
    expect(budget).to_be("PodDisruptionBudget prod/budgeted allows no disruption (1 of 1 pods "
      .. "healthy, 1 needed)")
    expect(#r.vms).to_be(11)
    -- a pod under two budgets: the eviction API answers 500, the drain cannot finish
    cluster.create({ apiVersion = "policy/v1", kind = "PodDisruptionBudget",
      metadata = { name = "budgeted-too", namespace = "prod" },
      spec = { minAvailable = 0, selector = { matchLabels = { app = "budgeted" } } } })
    local two
    for _, b in ipairs(preflight.node("w1").blockers) do
      if b.reason:match("^selected by more than one PodDisruptionBudget") then two = b.reason end
    end
    expect(two).to_be("selected by more than one PodDisruptionBudget (budgeted, budgeted-too): "
      .. "the eviction API refuses it (500)")
    cluster.delete("pdb", "prod", "budgeted-too")
    local empty = preflight.node("w3")
    expect(empty.drainable).to_be(true)
    expect(empty.estimated_drain_seconds).to_be(0)
  end)

  it("estimates the drain time under the limits, close to what the drain takes", function()
    -- take the blockers away: stop the VMs that block, delete the budget
    for _, name in ipairs({ "ext", "rwo", "ports", "hostmodel" }) do
      cluster.patch("vm", "prod", name, { spec = { runStrategy = "Halted" } }, { type = "merge" })
    end
    cluster.delete("pdb", "prod", "budgeted")
    task.sleep(120)
    local r = preflight.node("w1")
    expect(r.blockers).to_equal({})
    expect(r.drainable).to_be(true)
    local estimate = r.estimated_drain_seconds
    local account = node.drain("w1", { timeout = "1h" })
    log.info("drain estimate", { estimate = estimate, actual = account.seconds })
    expect(account.seconds <= estimate).to_be(true) -- the shutdowns take less than their grace
    expect(account.seconds >= estimate / 4).to_be(true)
  end, { timeout = "2h" })

  it("refuses a missing node and bad options at the caller's line", function()
    expect(function() preflight.node("w9") end)
      .to_fail_with("not_found", "preflight_spec.lua:%d+: preflight.node: no node w9")
    expect(function() preflight.node("w1", { forse = true }) end)
      .to_fail_with("usage", "preflight_spec.lua:%d+: preflight.node: unknown option forse")
  end)
end)

describe("preflight.cluster", function()
  it("reports the limits, every VM, every node, and batches the others have no room for", function()
    local before = cluster.revision()
    local r = preflight.cluster({ nodes = { "w1", "w2", "w3", "w4", "w6" }, batch = 5 })
    expect(cluster.revision()).to_be(before)
    expect(r.limits.parallelMigrationsPerCluster.value).to_be(2)
    expect(r.limits.parallelOutboundMigrationsPerNode.source)
      .to_be("KubeVirt CR spec.configuration.migrations.parallelOutboundMigrationsPerNode")
    expect(#r.nodes).to_be(5)
    expect(#r.batches).to_be(1)
    expect(r.batches[1].room).to_be(false) -- only w5, with 1 GiB, would be left
    for _, n in ipairs(r.nodes) do
      if #n.vms > 0 then
        expect(n.drainable).to_be(false)
        expect(n.blockers[#n.blockers].reason).to_match("^the other nodes lack [%d.]+ GiB of memory")
      end
    end
    local one = preflight.cluster({ nodes = { "w2" } })
    expect(one.batches[1].room).to_be(true)
    expect(#one.vms > 0).to_be(true)
    expect(function() preflight.cluster({ batch = 0 }) end)
      .to_fail_with("usage", "preflight_spec.lua:%d+: preflight.cluster: option batch must be an integer >= 1")
    expect(function() preflight.cluster({ nodes = { "w9" } }) end)
      .to_fail_with("not_found", "preflight.cluster: no node w9")
  end)
end)
