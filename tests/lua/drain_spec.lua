-- drain_spec.lua: node.drain on tests/lua/fixtures/drain_cluster.yaml. Refusals before any
-- change (a VM that can never leave, kubectl's filters); a full drain of a node with one VM of
-- each kind (migrated through the queue within KubeVirt's limits, shut down and restarted, shut
-- down and left off) and pods of each kind (evicted, skipped with kubectl's warnings); a drain
-- that a PodDisruptionBudget holds up (reported by name, with the account); disable_eviction;
-- bad options at the caller's line.
sim.load((os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/drain_cluster.yaml")
task.sleep(60) -- every VM runs: pinned-rwo on worker-2, the others on worker-1
node.uncordon("worker-2", { force = true })
node.uncordon("worker-3", { force = true })

local function by_name(list)
  local out = {}
  for _, x in ipairs(list) do out[x.name] = x end
  return out
end

local function names(list)
  local out = {}
  for _, x in ipairs(list) do out[#out + 1] = x.metadata.name end
  table.sort(out)
  return out
end

local function cordoned(name)
  return (cluster.get("Node", name).spec or {}).unschedulable
end

local function running_vmi(name)
  local vmi = cluster.get("vmi", "prod", name)
  return vmi and vmi.status.phase == "Running" and vmi or nil
end

describe("node.drain refuses, before changing anything", function()
  it("a node with VMs that can never leave (LiveMigrate but not migratable, External), naming each and why", function()
    expect(running_vmi("pinned-rwo").status.nodeName).to_be("worker-2")
    expect(running_vmi("ext").status.nodeName).to_be("worker-2")
    local err = expect(function() node.drain("worker-2") end).to_fail_with("drain_blocked",
      "drain_spec.lua:%d+: node.drain worker%-2: cannot drain, nothing changed: VM prod/")
    local blockers = by_name(err.blockers)
    expect(blockers["pinned-rwo"].kind).to_be("vm")
    expect(blockers["pinned-rwo"].reason).to_match("^eviction strategy LiveMigrate but not "
      .. "live%-migratable %(DisksNotLiveMigratable: cannot migrate VMI: PVC local%-2 is not shared")
    expect(blockers.ext.reason).to_match("^eviction strategy External: KubeVirt only marks it")
    expect(#err.blockers).to_be(2)
    expect(cordoned("worker-2")).to_be_nil()
  end)

  it("a node whose pods kubectl's filters refuse, with the option that overrides each", function()
    local err = expect(function() node.drain("worker-3") end).to_fail_with("drain_blocked",
      "drain_spec.lua:%d+: node.drain worker%-3: cannot drain, nothing changed: cannot delete Pods "
      .. "with local storage %(use delete_emptydir_data = true to override%): prod/scratch$")
    expect(err.blockers).to_equal({ { namespace = "prod", name = "scratch", kind = "pod",
      reason = "Pods with local storage (use delete_emptydir_data = true to override)" } })
    local e3 = expect(function() node.drain("worker-3", { delete_emptydir_data = true }) end)
      .to_fail_with("drain_blocked", "cannot delete Pods that declare no controller %(use force = "
        .. "true to override%): prod/scratch")
    expect(e3.blockers[1].name).to_be("scratch")
    expect(cordoned("worker-3")).to_be_nil()
    expect(#cluster.migrations()).to_be(0)
  end)
end)

describe("node.drain", function()
  it("migrates the VMs through the queue within the limits, shuts down the others, evicts the pods", function()
    local peak, watching = 0, true
    local monitor = task.spawn(function()
      while watching do
        local n = 0
        for _, m in ipairs(cluster.migrations({ active = true })) do
          if m.status and m.status.phase and m.status.phase ~= "Pending" then n = n + 1 end
        end
        peak = math.max(peak, n)
        task.sleep(0.5)
      end
    end)
    local events = {}
    -- the VMs' pods have emptyDirs (KubeVirt's scratch space): no delete_emptydir_data needed
    local account = node.drain("worker-1", { timeout = "30m",
      on_event = function(ev) events[#events + 1] = ev.type end })
    watching = false
    monitor:wait()
    expect(peak).to_be(2) -- KubeVirt's limits: 2 per cluster, 2 outbound per node

    expect(account.node).to_be("worker-1")
    expect(account.cordoned).to_be(true)
    local vms = by_name(account.vms)
    for _, n in ipairs({ "mig-1", "mig-2", "mig-3", "mig-4" }) do
      expect(vms[n].action).to_be("migrate")
      expect(vms[n].state).to_be("migrated")
      expect(vms[n].attempts).to_be(1)
      expect(vms[n].target == "worker-2" or vms[n].target == "worker-3").to_be(true)
      expect(running_vmi(n).status.nodeName).to_be(vms[n].target)
    end
    expect(vms["restart-me"].action).to_be("shutdown-restart")
    expect(vms["restart-me"].eviction_strategy).to_be("LiveMigrateIfPossible")
    expect(vms["restart-me"].state).to_be("shut down")
    expect(vms["stay-off"].action).to_be("stay-off")
    expect(vms["stay-off"].run_strategy).to_be("RerunOnFailure")
    expect(vms["stay-off"].state).to_be("shut down")
    expect(vms.solo.action).to_be("stay-off") -- a VMI without a VM: nothing restarts it
    expect(vms.solo.run_strategy).to_be("none (a VMI without a VirtualMachine)")

    local pods = by_name(account.pods)
    expect(pods["web-1"].action).to_be("evicted")
    expect(pods["report-28512"].action).to_be("evicted")
    expect(pods["virt-handler-w1"].action).to_be("skipped")
    expect(pods["virt-handler-w1"].reason).to_be("ignoring DaemonSet-managed Pods")
    expect(pods["kube-apiserver-worker-1"].action).to_be("skipped")
    expect(account.warnings).to_be("ignoring DaemonSet-managed Pods: kubevirt/virt-handler-w1")
    -- the migrated VMs' source pods have finished: they stay, and nothing else but the two runs
    local finished = {}
    for _, p in ipairs(account.pods) do
      if p.name:match("^virt%-launcher%-mig%-") then
        expect(p.action).to_be("skipped")
        expect(p.reason).to_be("finished (Succeeded)")
        finished[#finished + 1] = p.name
      end
    end
    expect(#finished).to_be(4)
    local running = {}
    for _, p in ipairs(cluster.pods({ node = "worker-1" })) do
      if p.status.phase ~= "Succeeded" then running[#running + 1] = p end
    end
    expect(names(running)).to_equal({ "kube-apiserver-worker-1", "virt-handler-w1" })

    local node_obj = cluster.get("Node", "worker-1")
    expect(node_obj.spec.unschedulable).to_be(true)
    expect(node_obj.metadata.annotations["vmrun.io/cordoned-by"]).to_be("vmrun")
    task.sleep(60) -- the VM controller restarts restart-me elsewhere; stay-off stays off
    expect(running_vmi("restart-me").status.nodeName ~= "worker-1").to_be(true)
    expect(running_vmi("stay-off")).to_be_nil()
    expect(running_vmi("solo")).to_be_nil()
    expect(events[1]).to_be("cordoned")
    expect(events[#events]).to_be("drained")
    -- again: nothing left to do
    local again = node.drain("worker-1")
    expect(again.cordoned).to_be(false)
    expect(#again.vms).to_be(0)
    expect(#again.pods).to_be(6)
    for _, p in ipairs(again.pods) do expect(p.action).to_be("skipped") end
    -- and with evict_finished, the finished pods go as kubectl drain would take them
    local tidy = node.drain("worker-1", { evict_finished = true })
    local evicted = {}
    for _, p in ipairs(tidy.pods) do
      if p.action == "evicted" then evicted[#evicted + 1] = p.name end
    end
    table.sort(evicted)
    table.sort(finished)
    expect(evicted).to_equal(finished)
    expect(names(cluster.pods({ node = "worker-1" })))
      .to_equal({ "kube-apiserver-worker-1", "virt-handler-w1" })
  end, { timeout = "1h" })

  it("follows a migration someone else started, and fails when a pod it cannot take arrives meanwhile", function()
    local followed
    for _, v in ipairs(cluster.vmis({ node = "worker-3" })) do
      if v.metadata.name:match("^mig%-") and followed == nil then followed = v.metadata.name end
    end
    cluster.migrate("prod/" .. followed)
    local arrived = false
    local err = expect(function()
      node.drain("worker-3", { delete_emptydir_data = true, force = true, ignore_daemonsets = false,
        timeout = "20m", on_event = function(ev)
          if ev.type == "vm_started" and not arrived then
            arrived = true
            cluster.create({ apiVersion = "v1", kind = "Pod", metadata = { name = "virt-handler-w3",
              namespace = "kubevirt", ownerReferences = { { apiVersion = "apps/v1", kind = "DaemonSet",
                name = "virt-handler", uid = "9a1b2c3d-0000-4000-8000-000000000002", controller = true } } },
              spec = { nodeName = "worker-3", containers = { { name = "virt-handler", image = "virt-handler" } } },
              status = { phase = "Running" } })
          end
        end })
    end).to_fail_with("drain_failed", "drain_spec.lua:%d+: node.drain worker%-3: new pods or VMs "
      .. "block the drain: pod kubevirt/virt%-handler%-w3: DaemonSet%-managed Pods %(use "
      .. "ignore_daemonsets = true to ignore%); worker%-3 stays cordoned$")
    expect(arrived).to_be(true)
    local vms = by_name(err.account.vms)
    expect(vms[followed].state).to_be("migrated")
    expect(vms[followed].attempts).to_be_nil() -- followed, not queued
    for _, v in ipairs(err.account.vms) do
      if v.action == "migrate" then expect(v.state).to_be("migrated") end
    end
    expect(#err.account.pods).to_be(0) -- nothing evicted
    expect(cluster.get("Pod", "prod", "singleton-0")).never.to_be_nil()
  end, { timeout = "1h" })

  it("waits on a budget that allows no disruption, says which, and raises with the account", function()
    local err = expect(function()
      node.drain("worker-3", { delete_emptydir_data = true, force = true, timeout = "20m" })
    end).to_fail_with("timeout", "drain_spec.lua:%d+: node.drain worker%-3: timed out with pods left: ")
    expect(err.message).to_contain("pod prod/singleton-0: PodDisruptionBudget prod/singleton allows "
      .. "no disruption (1 of 1 pods healthy, 1 needed)")
    expect(err.message).to_contain("worker-3 stays cordoned")
    local pods = by_name(err.account.pods)
    expect(pods["singleton-0"].action).to_be("blocked")
    expect(pods["scratch"].action).to_be("evicted")
    for _, v in ipairs(err.account.vms) do
      expect(v.state == "migrated" or v.state == "shut down").to_be(true)
    end
    expect(cluster.get("Pod", "prod", "singleton-0")).never.to_be_nil()
    expect(cordoned("worker-3")).to_be(true)
  end, { timeout = "1h" })

  it("deletes what budgets protect with disable_eviction", function()
    local account = node.drain("worker-3", { delete_emptydir_data = true, force = true,
      disable_eviction = true, timeout = "20m" })
    local pods = by_name(account.pods)
    expect(pods["singleton-0"].action).to_be("deleted")
    expect(cluster.get("Pod", "prod", "singleton-0")).to_be_nil()
  end, { timeout = "1h" })

  it("refuses bad options and missing nodes at the caller's line", function()
    expect(function() node.drain("worker-2", { ignore_pdbs = true }) end)
      .to_fail_with("usage", "drain_spec.lua:%d+: node.drain: unknown option ignore_pdbs")
    expect(function() node.drain("worker-2", { grace_period = "5" }) end)
      .to_fail_with("usage", "drain_spec.lua:%d+: node.drain: option grace_period must be an integer")
    expect(function() node.drain("worker-2", { timeout = "soon" }) end)
      .to_fail_with("usage", "drain_spec.lua:%d+: node.drain: option timeout: ")
    expect(function() node.drain("worker-2", { queue = { limit = 3 } }) end)
      .to_fail_with("usage", "drain_spec.lua:%d+: node.drain: option queue: queue.new: unknown option limit")
    expect(function() node.drain("worker-2", { pod_selector = "app in (web" }) end)
      .to_fail_with("usage", "drain_spec.lua:%d+: node.drain: option pod_selector: ")
    expect(function() node.drain("worker-2", { priority = 1 << 40 }) end)
      .to_fail_with("usage", "drain_spec.lua:%d+: node.drain: option priority must fit in 32 bits")
    expect(function() node.drain("worker-2", { owner = "" }) end)
      .to_fail_with("usage", "option owner must not be empty")
    expect(cordoned("worker-2")).to_be_nil()
    expect(function() cluster.evacuate_cancel("prod/mig-1") end).to_fail_with("unsupported",
      "drain_spec.lua:%d+: cluster.evacuate_cancel: KubeVirt v1.6 has no evacuate/cancel %(v1.8 or later%)")
    expect(function() node.drain("worker-9") end)
      .to_fail_with("not_found", "drain_spec.lua:%d+: node.drain: no node worker%-9")
    expect(function() node.drain() end)
      .to_fail_with("usage", "drain_spec.lua:%d+: node.drain: a node name is needed")
  end)
end)

describe("429 answers to an eviction", function()
  local drain = require("vmrun.drain")
  local pod = { metadata = { namespace = "prod", name = "virt-launcher-db-x1" } }
  local function why(message) return drain.explain_429(pod, { message = message, status = 429 }) end

  it("are read for what KubeVirt means", function()
    local text, kind = why('x.lua:3: Eviction triggered evacuation of VMI "prod/db"')
    expect(kind).to_be("evacuation_started")
    expect(text).to_be("KubeVirt started evacuating VMI prod/db (its eviction strategy migrates it)")
    text, kind = why('Evacuation in progress: Eviction triggered evacuation of VMI "prod/db"')
    expect(kind).to_be("evacuation_in_progress")
    expect(text).to_be("KubeVirt is migrating VMI prod/db away (evacuation in progress)")
    text, kind = why("VMI db is configured with an eviction strategy but is not live-migratable")
    expect(kind).to_be("not_migratable")
    expect(text).to_contain("VMI prod/db has eviction strategy LiveMigrate but cannot live-migrate")
    expect(select(2, why("Eviction request for target Pod"))).to_be("migration_target")
    text, kind = why("x.lua:9: something new")
    expect(kind).to_be("other")
    expect(text).to_be("something new")
  end)

  it("name the budget, and the maxUnavailable trap on VM pods", function()
    local text, kind = why("Cannot evict pod as it would violate the pod's disruption budget.")
    expect(kind).to_be("disruption_budget")
    expect(text).to_be("a PodDisruptionBudget allows no disruption") -- none selects this pod
    cluster.create({ apiVersion = "policy/v1", kind = "PodDisruptionBudget",
      metadata = { name = "db-trap", namespace = "prod" },
      spec = { maxUnavailable = 1, selector = { matchExpressions = {
        { key = "kubevirt.io", operator = "In", values = { "virt-launcher" } } } } } })
    pod.metadata.labels = { ["kubevirt.io"] = "virt-launcher" }
    text = why("Cannot evict pod as it would violate the pod's disruption budget.")
    expect(text).to_be("PodDisruptionBudget prod/db-trap uses maxUnavailable on a VM's pod, which "
      .. "has no /scale: it never allows a disruption (use an integer minAvailable; "
      .. "kubevirt/kubevirt#18063)")
  end)
end)
