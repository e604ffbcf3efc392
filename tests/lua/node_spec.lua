-- node_spec.lua: the node module: cordon and uncordon with ownership (vmrun never uncordons a
-- node that someone else cordoned unless forced), idempotence, taints and labels, and the errors,
-- on tests/lua/fixtures/queries_cluster.yaml.
local fixtures = (os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/"
sim.load(fixtures .. "queries_cluster.yaml")

local function get(name) return cluster.get("Node", name) end

describe("node.cordon and node.uncordon", function()
  it("cordon marks the node as vmrun's, and twice changes nothing", function()
    expect(node.cordon("worker-1")).to_equal({ changed = true, owner = "vmrun" })
    local n = get("worker-1")
    expect(n.spec.unschedulable).to_be(true)
    expect(n.metadata.annotations["vmrun.io/cordoned-by"]).to_be("vmrun")
    expect(n.metadata.annotations["vmrun.io/cordoned-at"]).never.to_be_nil()
    local rv = n.metadata.resourceVersion
    expect(node.cordon("worker-1")).to_equal({ changed = false, owner = "vmrun" })
    expect(get("worker-1").metadata.resourceVersion).to_be(rv)
  end)

  it("uncordon undoes vmrun's cordon and its marks, once", function()
    expect(node.uncordon("worker-1")).to_equal({ changed = true, owner = "vmrun" })
    local n = get("worker-1")
    expect(n.spec.unschedulable).to_be_nil()
    expect((n.metadata.annotations or {})["vmrun.io/cordoned-by"]).to_be_nil()
    expect(node.uncordon("worker-1")).to_equal({ changed = false })
  end)

  it("leaves a node that someone else cordoned alone unless forced", function()
    cluster.patch("Node", "worker-2", { spec = { unschedulable = true } }) -- kubectl cordon
    expect(node.cordon("worker-2")).to_equal({ changed = false, owner = "someone else" })
    expect(get("worker-2").metadata.annotations).to_be_nil() -- not claimed
    expect(node.uncordon("worker-2")).to_equal({ changed = false, owner = "someone else" })
    expect(get("worker-2").spec.unschedulable).to_be(true)
    -- another vmrun run's cordon is not this one's either
    cluster.patch("Node", "worker-2", { metadata = { annotations = {
      ["vmrun.io/cordoned-by"] = "run-7" } } })
    expect(node.uncordon("worker-2", { owner = "run-9" })).to_equal({ changed = false, owner = "run-7" })
    expect(node.uncordon("worker-2", { owner = "run-7" })).to_equal({ changed = true, owner = "run-7" })
    cluster.patch("Node", "worker-2", { spec = { unschedulable = true } })
    expect(node.uncordon("worker-2", { force = true })).to_equal({ changed = true, owner = "someone else" })
    expect(get("worker-2").spec.unschedulable).to_be_nil()
  end)

  it("names a missing node and bad options at the caller's line", function()
    local err = expect(function() node.cordon("worker-9") end)
      .to_fail_with("not_found", "node_spec.lua:%d+: node.cordon: no node worker%-9")
    expect(err.resource).to_be("Node worker-9")
    expect(function() node.cordon("worker-1", { owner = 5 }) end)
      .to_fail_with("usage", "node_spec.lua:%d+: node.cordon: option owner must be a string")
    expect(function() node.uncordon("worker-1", { forced = true }) end)
      .to_fail_with("usage", "unknown option forced %(force, owner%)")
    expect(function() node.cordon() end)
      .to_fail_with("usage", "node_spec.lua:%d+: node.cordon: a node name is needed")
  end)
end)

describe("node.taint and node.label", function()
  it("adds, replaces and removes a taint, keeping the others", function()
    local t = { key = "maintenance", value = "soon", effect = "PreferNoSchedule" }
    expect(node.taint("worker-1", t)).to_equal({ changed = true })
    expect(node.taint("worker-1", t)).to_equal({ changed = false })
    node.taint("worker-1", { key = "other", effect = "NoSchedule" })
    node.taint("worker-1", { key = "maintenance", value = "now", effect = "PreferNoSchedule" })
    local taints = get("worker-1").spec.taints
    expect(#taints).to_be(2)
    expect(taints[1].key).to_be("other")
    expect(taints[2].value).to_be("now")
    expect(node.taint("worker-1", t, { remove = true })).to_equal({ changed = true })
    expect(#get("worker-1").spec.taints).to_be(1)
    expect(node.taint("worker-1", t, { remove = true })).to_equal({ changed = false })
    expect(function() node.taint("worker-1", { key = "x", effect = "Never" }) end)
      .to_fail_with("usage", "node_spec.lua:%d+: node.taint: the taint needs a key and an effect")
  end)

  it("sets and removes labels", function()
    expect(node.label("worker-1", { ["vmrun.io/done"] = "yes" })).to_equal({ changed = true })
    expect(get("worker-1").metadata.labels["vmrun.io/done"]).to_be("yes")
    expect(node.label("worker-1", { ["vmrun.io/done"] = "yes" })).to_equal({ changed = false })
    expect(node.label("worker-1", { ["vmrun.io/done"] = false })).to_equal({ changed = true })
    expect(get("worker-1").metadata.labels["vmrun.io/done"]).to_be_nil()
    expect(get("worker-1").metadata.labels.zone).to_be("a")
    expect(function() node.label("worker-1", { zone = 3 }) end)
      .to_fail_with("usage", "node_spec.lua:%d+: node.label: the value of zone must be a string")
    expect(function() node.label(nil, { zone = "a" }) end)
      .to_fail_with("usage", "node_spec.lua:%d+: node.label: a node name is needed")
  end)
end)

describe("node.maintenance", function()
  it("has the operator drain the node, waits for it, and ends it", function()
    task.sleep(60) -- the VMs run
    local m = node.maintenance("worker-2", "disk swap")
    expect(m.name).to_be("vmrun-worker-2")
    local cr = cluster.get("NodeMaintenance", "vmrun-worker-2")
    expect(cr.spec).to_equal({ nodeName = "worker-2", reason = "disk swap" })
    local early = expect(function() m:wait({ timeout = "1s" }) end)
      .to_fail_with("timeout", "node_spec.lua:%d+: node maintenance of worker%-2 not done after 1s")
    expect(early.message).to_contain("worker-2 stays cordoned until m:finish()")
    local st = m:wait({ timeout = "30m" })
    expect(st.phase).to_be("Succeeded")
    expect(st.drain_progress).to_be(100)
    expect(get("worker-2").spec.unschedulable).to_be(true)
    expect(#cluster.pods({ node = "worker-2", selector = "kubevirt.io=virt-launcher",
      field = "status.phase=Running" })).to_be(0)
    expect(function() node.maintenance("worker-2", "again") end).to_fail() -- one per node
    expect(m:finish()).to_be(true)
    expect(cluster.get("NodeMaintenance", "vmrun-worker-2")).to_be_nil()
    expect(get("worker-2").spec.unschedulable).to_be_nil()
    expect(m:finish()).to_be(false)
    expect(function() m:status() end).to_fail_with("not_found", "is gone")
  end, { timeout = "1h" })

  it("refuses a missing node and bad arguments at the caller's line", function()
    expect(function() node.maintenance("worker-9", "x") end)
      .to_fail_with("not_found", "node_spec.lua:%d+: node.maintenance: no node worker%-9")
    expect(function() node.maintenance("worker-1") end)
      .to_fail_with("usage", "node_spec.lua:%d+: node.maintenance: a reason is needed")
    expect(function() node.maintenance("worker-1", "x", { api = "v2" }) end)
      .to_fail_with("usage", "api must be")
  end)
end)
