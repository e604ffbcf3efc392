-- evacuate_cancel_spec.lua: cluster.evacuate_cancel on tests/lua/fixtures/evacuation_cluster.yaml
-- (KubeVirt v1.8): an eviction marks a VM for evacuation that cannot happen (the only other node
-- is cordoned), KubeVirt keeps making migrations for it; cancelling clears the mark, deletes the
-- pending evacuation migration, and no new one comes. (drain_spec.lua checks the refusal on an
-- older KubeVirt.)
sim.load((os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/evacuation_cluster.yaml")
task.sleep(30)

local function vmi() return cluster.get("vmi", "prod", "db") end
local function evacuations()
  local out = {}
  for _, m in ipairs(cluster.migrations({ namespace = "prod", vmi = "db" })) do
    if m.metadata.name:match("^kubevirt%-evacuation%-") then out[#out + 1] = m end
  end
  return out
end

describe("cluster.evacuate_cancel", function()
  it("stops an evacuation that cannot finish, and deletes its pending migration", function()
    local pod = cluster.pods({ namespace = "prod", selector = "vm.kubevirt.io/name=db" })[1]
    local ok, err = cluster.try_evict("prod", pod.metadata.name)
    expect(ok).to_be_nil()
    expect(err.message).to_contain('Eviction triggered evacuation of VMI "prod/db"')
    task.sleep(20)
    expect(vmi().status.evacuationNodeName).to_be("worker-1")
    expect(#evacuations() >= 1).to_be(true)
    expect(vmi().status.nodeName).to_be("worker-1") -- nowhere to go

    local result = cluster.evacuate_cancel("prod/db")
    expect(result.cancelled).to_be(true)
    expect(result.node).to_be("worker-1")
    expect(#result.deleted >= 1).to_be(true)
    expect(vmi().status.evacuationNodeName).to_be_nil()
    local left = 0
    for _, m in ipairs(evacuations()) do
      if m.status.phase ~= "Succeeded" and m.status.phase ~= "Failed" then left = left + 1 end
    end
    expect(left).to_be(0)
    local count = #evacuations()
    task.sleep(600) -- KubeVirt would have retried by now
    expect(#evacuations()).to_be(count)
    expect(vmi().status.phase).to_be("Running")
    -- idempotent
    expect(cluster.evacuate_cancel("prod/db")).to_equal({ cancelled = false, deleted = {}, running = {} })
  end, { timeout = "30m" })

  it("refuses to undo an evacuation from another node, and what is not a VMI", function()
    local pod = cluster.pods({ namespace = "prod", selector = "vm.kubevirt.io/name=db" })[1]
    cluster.try_evict("prod", pod.metadata.name)
    expect(function() cluster.evacuate_cancel("prod/db", { node = "worker-2" }) end)
      .to_fail_with("conflict", "evacuate_cancel_spec.lua:%d+: cluster.evacuate_cancel: VMI prod/db is "
        .. "being evacuated from worker%-1, not from worker%-2")
    expect(vmi().status.evacuationNodeName).to_be("worker-1")
    expect(cluster.evacuate_cancel("prod/db").cancelled).to_be(true)
    expect(function() cluster.evacuate_cancel("prod/nope") end)
      .to_fail_with("not_found", "evacuate_cancel_spec.lua:%d+: cluster.evacuate_cancel: no VirtualMachineInstance prod/nope")
    expect(function() cluster.evacuate_cancel("prod/db", { nod = "x" }) end)
      .to_fail_with("usage", "unknown option nod")
  end)
end)
