-- migration_spec.lua: live migration in the simulator on tests/lua/fixtures/migration_cluster.yaml:
-- VMIM phases and timestamps (reference §2.2), the parallel limits (§2.4), the pre-copy model and
-- the completion timeout (§1.3, §1.4, §7.2), evacuation backoff (§2.4, §3.3), abort by deletion,
-- the unschedulable target timeout (§2.2) and garbage collection (§2.1).
sim.load((os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/migration_cluster.yaml")

local function vmi(name) return cluster.get("vmi", "prod", name) end
local function migrate(name, vmim_name)
  return cluster.create({ apiVersion = "kubevirt.io/v1", kind = "VirtualMachineInstanceMigration",
    metadata = { name = vmim_name or ("mig-" .. name), namespace = "prod" },
    spec = { vmiName = name } })
end
local function vmim(name) return cluster.get("vmim", "prod", name) end
local function wait_final(name, limit)
  local deadline = time.now() + time.duration(limit or "30m")
  while time.now() < deadline do
    local m = vmim(name)
    if m and m.status and (m.status.phase == "Succeeded" or m.status.phase == "Failed") then return m end
    task.sleep(1)
  end
  error("migration " .. name .. " did not finish")
end

describe("a VirtualMachineInstanceMigration (§2.2)", function()
  it("goes through the phases in order with timestamps and moves the VMI", function()
    local t0 = time.now()
    migrate("idle-1")
    local m = wait_final("mig-idle-1")
    expect(m.status.phase).to_be("Succeeded")
    local phases = {}
    for _, p in ipairs(m.status.phaseTransitionTimestamps) do phases[#phases + 1] = p.phase end
    expect(phases).to_equal({ "Pending", "Scheduling", "Scheduled", "PreparingTarget",
      "TargetReady", "Running", "Succeeded" })
    local v = vmi("idle-1")
    expect(v.status.nodeName).never.to_be("worker-1")
    expect(v.status.migrationState.completed).to_be(true)
    expect(v.status.migrationState.sourceNode).to_be("worker-1")
    expect(v.status.migrationState.mode).to_be("PreCopy")
    expect(m.status.migrationState.targetNode).to_be(v.status.nodeName)
    -- 4Gi at 10 Gbit/s is ~3.3 s of copying, after 5 s of target pod start and 3 s of handoff
    expect(time.now() - t0 < 20).to_be(true)
  end)

  it("fails a second migration while one is in flight", function()
    migrate("idle-2")
    migrate("idle-2", "mig-idle-2-again")
    local again = wait_final("mig-idle-2-again")
    expect(again.status.phase).to_be("Failed")
    expect(again.status.conditions[1].message).to_contain("another migration job is in progress")
    expect(wait_final("mig-idle-2").status.phase).to_be("Succeeded")
  end)
end)

describe("the parallel limits (§2.4)", function()
  -- How many of the VMIMs prefix..first to prefix..last hold a slot, and how many wait.
  local function slots(prefix, first, last)
    local running, pending = 0, 0
    for i = first, last do
      local phase = vmim(prefix .. i).status.phase
      if phase == "Pending" then pending = pending + 1 elseif phase ~= "Succeeded" then running = running + 1 end
    end
    return running, pending
  end

  it("runs at most 2 outbound from one node, the others wait in Pending", function()
    for i = 3, 6 do migrate("idle-" .. i) end
    task.sleep(6) -- target pods started for the first ones
    local running, pending = slots("mig-idle-", 3, 6)
    expect(running).to_be(2)
    expect(pending).to_be(2)
    for i = 3, 6 do expect(wait_final("mig-idle-" .. i).status.phase).to_be("Succeeded") end
  end, { timeout = "5m" })

  it("applies a change of the KubeVirt CR's limits to the next migrations", function()
    local function limit(n)
      cluster.patch("KubeVirt", "kubevirt", "kubevirt",
        { spec = { configuration = { migrations = { parallelMigrationsPerCluster = n } } } })
    end
    limit(1)
    for i = 3, 5 do migrate("idle-" .. i, "limit-" .. i) end
    task.sleep(6)
    local running, pending = slots("limit-", 3, 5)
    expect(running).to_be(1)
    expect(pending).to_be(2)
    limit(5)
    for i = 3, 5 do expect(wait_final("limit-" .. i).status.phase).to_be("Succeeded") end
  end, { timeout = "5m" })
end)

describe("the completion timeout (§1.3, §1.4)", function()
  it("aborts a VM that dirties memory faster than the link at 150 s per decimal GB", function()
    migrate("busy")
    local m = wait_final("mig-busy", "1h")
    expect(m.status.phase).to_be("Failed")
    local ms = vmi("busy").status.migrationState
    expect(ms.failed).to_be(true)
    -- 4Gi = 4.29e9 B -> 5 units -> 750 s, acted on at the monitor's next whole second
    expect(ms.failureReason).to_be("Live migration is not completed after 750 seconds and has been aborted")
    expect(vmi("busy").status.nodeName).to_be("worker-1")
    local running_at, failed_at
    for _, p in ipairs(m.status.phaseTransitionTimestamps) do
      if p.phase == "Running" then running_at = p.phaseTransitionTimestamp end
      if p.phase == "Failed" then failed_at = p.phaseTransitionTimestamp end
    end
    expect(running_at).to_be_a("string")
    expect(failed_at).to_be_a("string")
  end, { timeout = "2h" })
end)

describe("aborting and placement", function()
  it("aborts a running migration when its VMIM is deleted", function()
    migrate("busy", "mig-busy-abort")
    local deadline = time.now() + 60
    local function phase() return (vmim("mig-busy-abort").status or {}).phase end
    while phase() ~= "Running" and time.now() < deadline do task.sleep(1) end
    expect(vmim("mig-busy-abort").status.phase).to_be("Running")
    cluster.delete("vmim", "prod", "mig-busy-abort")
    task.sleep(5)
    local ms = vmi("busy").status.migrationState
    expect(ms.abortStatus).to_be("Succeeded")
    expect(ms.failed).to_be(true)
    expect(vmi("busy").status.nodeName).to_be("worker-1")
  end, { timeout = "5m" })

  it("fails a migration whose target pod fits nowhere after 5 minutes", function()
    migrate("huge")
    task.sleep(10)
    local m = vmim("mig-huge")
    expect(m.status.phase).to_be("Scheduling")
    expect(m.status.conditions[1].reason).to_be("Unschedulable")
    m = wait_final("mig-huge", "10m")
    expect(m.status.phase).to_be("Failed")
    expect(m.status.conditions[1].message).to_contain("unschedulable for 5 minutes")
  end, { timeout = "15m" })
end)

describe("evacuation (§3.3, §2.4)", function()
  it("retries a failing evacuation after 20, 40 and 80 s", function()
    local pod = cluster.list("Pod", { namespace = "prod", selector = "vm.kubevirt.io/name=huge",
      field = "status.phase=Running" })[1]
    local _, err = cluster.try_evict("prod", pod.metadata.name)
    expect(err.message).to_contain('Eviction triggered evacuation of VMI "prod/huge"')
    task.sleep("25m") -- four attempts, each failing after 5 minutes unschedulable
    local attempts = {}
    for _, m in ipairs(cluster.list("vmim", { namespace = "prod" })) do
      if m.metadata.annotations and m.metadata.annotations["kubevirt.io/evacuationMigration"] then
        local first, last = m.status.phaseTransitionTimestamps[1], nil
        for _, p in ipairs(m.status.phaseTransitionTimestamps) do last = p end
        attempts[#attempts + 1] = { created = m.metadata.creationTimestamp, phase = m.status.phase,
          ended = last.phaseTransitionTimestamp, started = first.phaseTransitionTimestamp }
      end
    end
    table.sort(attempts, function(a, b) return a.created < b.created end)
    expect(#attempts >= 4).to_be(true)
    local function secs(ts)
      local y, mo, d, h, mi, s = ts:match("(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)")
      return os.time({ year = y, month = mo, day = d, hour = h, min = mi, sec = s })
    end
    for i = 2, 4 do
      local gap = secs(attempts[i].created) - secs(attempts[i - 1].ended)
      expect(gap).to_be(20 * 2 ^ (i - 2) // 1)
    end
    -- stop the evacuation so that the run ends cleanly
    local i = vmi("huge")
    i.status.evacuationNodeName = nil
    cluster.replace(i)
    for _, m in ipairs(cluster.list("vmim", { namespace = "prod" })) do
      if m.status.phase ~= "Failed" and m.status.phase ~= "Succeeded" then
        cluster.delete("vmim", "prod", m.metadata.name)
      end
    end
    task.sleep("6m")
  end, { timeout = "1h" })
end)

describe("garbage collection (§2.1)", function()
  it("keeps only the 5 most recent finished migrations of a VMI", function()
    for i = 1, 7 do
      migrate("idle-7", "gc-" .. i)
      expect(wait_final("gc-" .. i).status.phase).to_be("Succeeded")
    end
    task.sleep(1)
    local kept = {}
    for _, m in ipairs(cluster.list("vmim", { namespace = "prod" })) do
      if m.spec.vmiName == "idle-7" then kept[#kept + 1] = m.metadata.name end
    end
    table.sort(kept)
    expect(kept).to_equal({ "gc-3", "gc-4", "gc-5", "gc-6", "gc-7" })
  end, { timeout = "30m" })
end)

describe("the VMI's address across a live migration", function()
  local function pod_of(v)
    for _, p in ipairs(cluster.pods({ namespace = "prod", selector = "kubevirt.io/created-by=" .. v.metadata.uid })) do
      if p.spec.nodeName == v.status.nodeName and p.status.phase == "Running" then return p end
    end
  end

  it("reports the address of the virt-launcher pod it runs in, before and after", function()
    local v = vmi("idle-8")
    local source, mac = pod_of(v), v.status.interfaces[1].mac
    expect(v.status.interfaces[1].ipAddress).to_be(source.status.podIP)
    migrate("idle-8")
    expect(wait_final("mig-idle-8").status.phase).to_be("Succeeded")
    v = vmi("idle-8")
    local target = pod_of(v)
    expect(target.metadata.name).never.to_be(source.metadata.name)
    -- masquerade: the guest's address is behind NAT, so the VMI reports the new pod's
    expect(v.status.interfaces[1].ipAddress).to_be(target.status.podIP)
    expect(v.status.interfaces[1].ipAddress).never.to_be(source.status.podIP)
    expect(v.status.interfaces[1].mac).to_be(mac) -- the guest's NIC moved with it
    -- the source virt-launcher exited
    local old = cluster.get("Pod", "prod", source.metadata.name)
    expect(old.status.phase).to_be("Succeeded")
    expect(old.status.containerStatuses[1].state.terminated.reason).to_be("Completed")
    expect(old.status.containerStatuses[1].ready).to_be(false)
  end, { timeout = "30m" })
end)
