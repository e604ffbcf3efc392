-- eviction_spec.lua: pod eviction in the simulator on tests/lua/fixtures/eviction_cluster.yaml:
-- KubeVirt's eviction webhook and its exact 429 messages (reference §3.2), strategy resolution
-- (§3.1), the LiveMigratable condition (§3.6), PodDisruptionBudgets and their traps (§4.3),
-- graceful deletion, and what happens to VMs that are shut down (§3.5).
sim.load((os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/eviction_cluster.yaml")
task.sleep(30) -- every VM running

local function vmi(name) return cluster.get("vmi", "prod", name) end
local function launcher(name)
  local pods = cluster.list("Pod", { namespace = "prod", selector = "vm.kubevirt.io/name=" .. name,
    field = "status.phase=Running" })
  return pods[1]
end
local function condition(obj, type)
  for _, c in ipairs(obj.status.conditions or {}) do
    if c.type == type then return c end
  end
end

describe("the LiveMigratable condition (§3.6)", function()
  it("is True for shared storage and masquerade, False with KubeVirt's reasons otherwise", function()
    expect(condition(vmi("lm"), "LiveMigratable").status).to_be("True")
    local c = condition(vmi("lm-rwo"), "LiveMigratable")
    expect(c.status).to_be("False")
    expect(c.reason).to_be("DisksNotLiveMigratable")
    expect(c.message).to_be("cannot migrate VMI: PVC local-disk is not shared, live migration "
      .. "requires that all PVCs must be shared (using ReadWriteMany access mode)")
    expect(condition(vmi("bridged"), "LiveMigratable").reason).to_be("InterfaceNotLiveMigratable")
  end)
end)

describe("KubeVirt's eviction webhook (§3.2)", function()
  it("marks a LiveMigrate VMI for evacuation and answers 429, then 'in progress'", function()
    local pod = launcher("lm")
    local err = expect(function() cluster.evict("prod", pod.metadata.name) end)
      .to_fail_with("too_many_requests", 'Eviction triggered evacuation of VMI "prod/lm"')
    expect(err.status).to_be(429)
    expect(vmi("lm").status.evacuationNodeName).to_be("worker-1")
    local ok, e2 = cluster.try_evict("prod", pod.metadata.name)
    expect(ok).to_be_nil()
    expect(e2.message).to_contain('Evacuation in progress: Eviction triggered evacuation of VMI "prod/lm"')
    expect(cluster.get("Pod", "prod", pod.metadata.name).metadata.deletionTimestamp).to_be_nil()
    -- the evacuation controller migrates it (§3.4); then the old pod may go
    task.sleep(60)
    local moved = vmi("lm")
    expect(moved.status.nodeName).to_be("worker-2")
    expect(moved.status.evacuationNodeName).to_be_nil()
    expect(moved.status.migrationState.completed).to_be(true)
    local vmims = cluster.list("vmim", { namespace = "prod" })
    expect(#vmims).to_be(1)
    expect(vmims[1].metadata.name).to_match("^kubevirt%-evacuation%-")
    expect(vmims[1].metadata.annotations["kubevirt.io/evacuationMigration"]).to_be("worker-1")
    expect(vmims[1].spec.priority).to_be("system-critical")
    expect(vmims[1].status.phase).to_be("Succeeded")
    local old = cluster.get("Pod", "prod", pod.metadata.name)
    expect(old.status.phase).to_be("Succeeded")
    expect(cluster.evict("prod", pod.metadata.name)).to_be(true) -- completed pods go (§3.4 step 5)
    task.sleep(1)
    expect(cluster.get("Pod", "prod", pod.metadata.name)).to_be_nil()
  end, { timeout = "5m" })

  it("denies a LiveMigrate VMI that cannot migrate, forever", function()
    local pod = launcher("lm-rwo")
    for _ = 1, 3 do
      local _, err = cluster.try_evict("prod", pod.metadata.name)
      expect(err.status).to_be(429)
      expect(err.message).to_contain("VMI lm-rwo is configured with an eviction strategy but is "
        .. "not live-migratable")
    end
    expect(vmi("lm-rwo").status.evacuationNodeName).to_be_nil()
  end)

  it("marks External VMIs too, and does not touch anything on a dry run", function()
    local _, err = cluster.try_evict("prod", launcher("bridged").metadata.name, { dry_run = true })
    expect(err.message).to_contain("not live-migratable") -- cluster-wide LiveMigrate, bridge
    _, err = cluster.try_evict("prod", launcher("ext").metadata.name, { dry_run = true })
    expect(err.message).to_contain('Eviction triggered evacuation of VMI "prod/ext"')
    expect(vmi("ext").status.evacuationNodeName).to_be_nil()
    _, err = cluster.try_evict("prod", launcher("ext").metadata.name)
    expect(vmi("ext").status.evacuationNodeName).to_be_a("string")
  end)

  it("records the descheduler as the eviction source", function()
    cluster.try_evict("prod", launcher("lm").metadata.name,
      { annotations = { ["requested-by"] = "sigs.k8s.io/descheduler" } })
    expect(vmi("lm").metadata.annotations["kubevirt.io/eviction-source"]).to_be("descheduler")
    task.sleep(60) -- migrated back; the mark is cleared on completion
    expect(vmi("lm").status.nodeName).to_be("worker-1")
    expect((vmi("lm").metadata.annotations or {})["kubevirt.io/eviction-source"]).to_be_nil()
  end, { timeout = "5m" })
end)

describe("evicting VMs that are not migrated (§3.5)", function()
  it("shuts a None VM down gracefully and restarts it (Always)", function()
    local pod = launcher("none")
    local old_uid = vmi("none").metadata.uid
    expect(cluster.evict("prod", pod.metadata.name)).to_be(true)
    expect(cluster.get("Pod", "prod", pod.metadata.name).metadata.deletionTimestamp).to_be_a("string")
    task.sleep(11) -- the guest's shutdown (10 s by default)
    expect(cluster.get("Pod", "prod", pod.metadata.name)).to_be_nil()
    task.sleep(10)
    expect(vmi("none").metadata.uid).never.to_be(old_uid)
    expect(vmi("none").status.phase).to_be("Running")
  end)

  it("leaves a RerunOnFailure VM off after its eviction (kubevirt#9823)", function()
    expect(cluster.evict("prod", launcher("rerun").metadata.name)).to_be(true)
    task.sleep(20)
    expect(vmi("rerun").status.phase).to_be("Succeeded")
    expect(cluster.get("vm", "prod", "rerun").status.printableStatus).to_be("Stopped")
  end)

  it("evicts a LiveMigrateIfPossible VMI that cannot migrate", function()
    expect(cluster.evict("prod", launcher("ifp-rwo").metadata.name)).to_be(true)
    task.sleep(20) -- shut down and restarted (Always)
    expect(vmi("ifp-rwo").status.phase).to_be("Running")
  end)

  it("fails a VMI whose launcher pod is deleted outright, and restarts it (Always)", function()
    local old_uid = vmi("bridged").metadata.uid
    local pod = launcher("bridged")
    cluster.delete("Pod", "prod", pod.metadata.name, { grace_period = 0 })
    task.sleep(10)
    expect(vmi("bridged").metadata.uid).never.to_be(old_uid)
  end)
end)

describe("PodDisruptionBudgets (§4.3)", function()
  it("lets one of two web pods go, then blocks with the API server's message", function()
    expect(cluster.evict("prod", "web-1")).to_be(true)
    task.sleep(2) -- its containers stop
    local err = expect(function() cluster.evict("prod", "web-2") end)
      .to_fail_with("too_many_requests", "Cannot evict pod as it would violate the pod's "
        .. "disruption budget.")
    expect(err.reason).to_be("DisruptionBudget")
    -- the disruption controller keeps the status: web-1 is gone, so its entry is too
    local st = cluster.get("pdb", "prod", "web-pdb").status
    expect(st.disruptedPods["web-1"]).to_be_nil()
    expect({ st.expectedPods, st.currentHealthy, st.desiredHealthy, st.disruptionsAllowed })
      .to_equal({ 1, 1, 1, 0 })
  end)

  it("drops a disruption the pod's deletion never confirmed after 2 minutes", function()
    local pdb = cluster.get("pdb", "prod", "web-pdb")
    cluster.create({ apiVersion = "v1", kind = "Pod", metadata = { name = "web-1", namespace = "prod",
      labels = { app = "web" }, ownerReferences = { { apiVersion = "apps/v1", kind = "ReplicaSet",
        name = "web-5d4f", uid = "9a1b2c3d-0000-4000-8000-000000000001", controller = true } } },
      spec = { nodeName = "worker-1", containers = { { name = "web", image = "nginx" } } },
      status = { phase = "Running" } })
    -- an eviction was recorded for web-1 (a StatefulSet-like pod that came back by the same
    -- name before its deletion was seen): it counts as disrupted until the timeout
    pdb.status.disruptedPods = { ["web-1"] = time.format() }
    cluster.replace(pdb)
    task.sleep(1)
    expect(cluster.get("pdb", "prod", "web-pdb").status.disruptionsAllowed).to_be(0)
    task.sleep(121)
    local st = cluster.get("pdb", "prod", "web-pdb").status
    expect(st.disruptedPods["web-1"]).to_be_nil()
    expect(st.disruptionsAllowed).to_be(1)
  end, { timeout = "5m" })

  it("blocks VM pods under maxUnavailable forever (the VMI has no /scale)", function()
    local _, err = cluster.try_evict("prod", launcher("trapped").metadata.name)
    expect(err.reason).to_be("DisruptionBudget")
  end)

  it("refuses a pod selected by two budgets with 500", function()
    local _, err = cluster.try_evict("prod", "doubly")
    expect(err.status).to_be(500)
    expect(err.kind).to_be("internal")
    expect(err.message).to_contain("more than one PodDisruptionBudget")
  end)

  it("reports a missing pod as 404", function()
    local _, err = cluster.try_evict("prod", "nope")
    expect(err.status).to_be(404)
    expect(err.kind).to_be("not_found")
  end)
end)
