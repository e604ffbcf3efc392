-- requests_by_node_spec.lua: cluster.requests_by_node on tests/lua/fixtures/rolling_cluster.yaml
-- with two extra pods: it sums, per node, what the live pods request as the scheduler counts it
-- (containers, the largest init container if more, overhead; a CPU request given as a number),
-- the same as queue.pod_requests summed over cluster.pods; finished and unbound pods count nowhere.
sim.load((os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/rolling_cluster.yaml")
cluster.settle()

local function pod(name, node, spec_extra, phase)
  local spec = { nodeName = node, containers = {
    { name = "a", resources = { requests = { cpu = "250m", memory = "1Gi" } } },
    { name = "b", resources = { requests = { cpu = "0.5", memory = "512Mi" } } } } }
  for k, v in pairs(spec_extra or {}) do spec[k] = v end
  return cluster.create({ apiVersion = "v1", kind = "Pod", metadata = { name = name, namespace = "prod" },
    spec = spec, status = phase and { phase = phase } or nil })
end

describe("cluster.requests_by_node", function()
  it("sums the live pods' requests per node as the scheduler counts them", function()
    local before = cluster.requests_by_node()
    pod("tools", "w1", {
      initContainers = { { name = "init", resources = { requests = { cpu = "2", memory = "256Mi" } } } },
      overhead = { cpu = "100m", memory = "64Mi" } })
    pod("done", "w1", nil, "Succeeded")
    cluster.create({ apiVersion = "v1", kind = "Pod", metadata = { name = "numeric", namespace = "prod" },
      spec = { nodeName = "w2", containers = { { name = "n", resources = { requests = { cpu = 0.5 } } } } } })
    pod("unbound", nil)
    local after = cluster.requests_by_node()
    local w1, was = after.w1, before.w1 or { cpu = 0, memory = 0, pods = 0 }
    -- containers 750m and 1.5Gi; the init container's 2 CPUs are more, its 256Mi less; overhead
    expect(w1.cpu - was.cpu).to_be(2000 + 100)
    expect(w1.memory - was.memory).to_be(1536 * 1024 * 1024 + 64 * 1024 * 1024)
    expect(w1.pods - was.pods).to_be(1)
    local w2_before = before.w2 or { cpu = 0 }
    expect(after.w2.cpu - w2_before.cpu).to_be(500) -- a number of CPUs, not rounded to cores

    local summed = {}
    for _, p in ipairs(cluster.pods()) do
      local node, phase = p.spec.nodeName, p.status and p.status.phase
      if type(node) == "string" and phase ~= "Succeeded" and phase ~= "Failed" then
        local r = queue.pod_requests(p)
        local s = summed[node] or { cpu = 0, memory = 0, pods = 0 }
        s.cpu, s.memory, s.pods = s.cpu + r.cpu, s.memory + r.memory, s.pods + 1
        summed[node] = s
      end
    end
    expect(after).to_equal(summed)
  end)

  it("with since, gives only the nodes whose sums changed, a node left empty at zero", function()
    local seen = cluster.revision("Pod")
    local kept = cluster.requests_by_node()
    local none, whole = cluster.requests_by_node(seen)
    expect(whole).to_be(false)
    expect(next(none)).to_be(nil)
    pod("lonely", "w3")
    local add = cluster.requests_by_node(seen)
    expect(add.w3.pods).to_be(((kept.w3 or {}).pods or 0) + 1)
    expect(add.w1).to_be(nil)
    -- every pod on w3 finishes: w3 reports zero, and updating what was kept gives the whole
    local step = cluster.revision("Pod")
    for _, p in ipairs(cluster.pods({ node = "w3" })) do
      p.status = p.status or {}
      p.status.phase = "Succeeded"
      cluster.replace(p)
    end
    local changes = cluster.requests_by_node(step)
    expect(changes.w3).to_equal({ cpu = 0, memory = 0, pods = 0 })
    for name, sum in pairs(cluster.requests_by_node(seen)) do kept[name] = sum.pods > 0 and sum or nil end
    expect(kept).to_equal((cluster.requests_by_node()))
    expect(select(2, cluster.requests_by_node())).to_be(true)
  end)

  it("refuses a since that is not a revision", function()
    local ok, err = pcall(cluster.requests_by_node, "12x")
    expect(ok).to_be(false)
    expect(vmrun.is_error(err, "usage")).to_be(true)
    expect(tostring(err)).to_contain("bad since")
  end)
end)

describe("cluster.changed", function()
  it("gives the objects written after a revision and how many there are", function()
    local seen = cluster.revision("Node")
    local all = cluster.changed("Node", 0)
    expect(#all).to_be(#cluster.nodes())
    local none, total = cluster.changed("Node", seen)
    expect(#none).to_be(0)
    expect(total).to_be(#all)
    cluster.patch("Node", "w2", { metadata = { labels = { touched = "yes" } } })
    local changed, now = cluster.changed("Node", seen)
    expect(#changed).to_be(1)
    expect(changed[1].metadata.name).to_be("w2")
    expect(changed[1].metadata.labels.touched).to_be("yes")
    expect(now).to_be(total)
    local ok, err = pcall(cluster.changed, "Node", {})
    expect(ok).to_be(false)
    expect(vmrun.is_error(err, "usage")).to_be(true)
    expect(#cluster.changed("Node", 0.0)).to_be(#all) -- a number with an integer value will do
  end)

  it("reports a delete that a finalizer holds (the object is marked at a new revision)", function()
    cluster.create({ apiVersion = "v1", kind = "ConfigMap",
      metadata = { name = "kept", namespace = "default", finalizers = { "example.com/keep" } } })
    local seen = cluster.revision("ConfigMap")
    cluster.delete("ConfigMap", "default", "kept")
    local changed, total = cluster.changed("ConfigMap", seen)
    expect(#changed).to_be(1)
    expect(changed[1].metadata.deletionTimestamp).never.to_be_nil()
    expect(changed[1].metadata.resourceVersion).to_be(cluster.revision("ConfigMap"))
    expect(total).to_be(#cluster.list("ConfigMap"))
  end)

  it("with names = true, gives the names cluster.names gives instead of the objects", function()
    local seen = cluster.revision()
    cluster.patch("Node", "w3", { metadata = { labels = { named = "yes" } } })
    cluster.patch("Node", "w1", { metadata = { labels = { named = "yes" } } })
    cluster.create({ apiVersion = "v1", kind = "ConfigMap", metadata = { name = "named", namespace = "default" } })
    local names, total = cluster.changed("Node", seen, { names = true })
    expect(names).to_equal({ "w1", "w3" }) -- sorted as cluster.list sorts
    expect(total).to_be(#cluster.nodes())
    expect(cluster.changed("ConfigMap", seen, { names = true })).to_equal({ "default/named" })
    expect(cluster.changed("ConfigMap", seen, { names = false, namespace = "default" })[1].metadata.name)
      .to_be("named")
    expect(function() cluster.changed("Node", seen, { names = "yes" }) end).to_fail_with("usage", "names")
  end)
end)

describe("cluster.wait_change", function()
  it("returns at once on a change already made, waits for the next one, and times out", function()
    local seen = { vmim = cluster.revision("vmim"), Node = cluster.revision("Node") }
    local t0 = time.now()
    expect(cluster.wait_change(seen, 5)).to_be(false)
    expect(time.now() - t0).to_be(5)
    task.spawn(function()
      task.sleep(3)
      cluster.patch("Node", "w1", { metadata = { labels = { waited = "yes" } } })
    end)
    t0 = time.now()
    expect(cluster.wait_change(seen, 60)).to_be(true)
    expect(time.now() - t0).to_be(3)
    expect(cluster.wait_change(seen)).to_be(true) -- the Node revision moved: at once
    expect(time.now() - t0).to_be(3)
    expect(function() cluster.wait_change({ nosuch = "1" }) end).to_fail_with("usage", "unknown kind")
    expect(function() cluster.wait_change({ vmim = "x" }) end).to_fail_with("usage", "bad since")
  end)

  it("stops waiting when its task is cancelled", function()
    local seen = { vmim = cluster.revision("vmim") }
    local t = task.spawn(function() return cluster.wait_change(seen) end)
    task.sleep(1)
    t:cancel("enough")
    local ok, err = pcall(t.wait, t)
    expect(ok).to_be(false)
    expect(vmrun.is_error(err, "cancelled")).to_be(true)
  end)
end)

describe("cluster.pod_requests", function()
  it("gives one pod's requests as queue.pod_requests counts them, nil for no pod", function()
    pod("single", "w2", {
      initContainers = { { name = "init", resources = { requests = { cpu = "3", memory = "8Gi" } } } },
      overhead = { cpu = "50m", memory = "32Mi" } })
    local r = cluster.pod_requests("prod", "single")
    -- the init container's 3 CPUs and 8Gi are more than the containers' 750m and 1.5Gi
    expect(r).to_equal({ cpu = 3000 + 50, memory = (8 * 1024 + 32) * 1024 * 1024 })
    expect(r).to_equal(queue.pod_requests(cluster.get("Pod", "prod", "single")))
    for _, p in ipairs(cluster.pods({ selector = "kubevirt.io=virt-launcher" })) do
      expect(cluster.pod_requests(p.metadata.namespace, p.metadata.name)).to_equal(queue.pod_requests(p))
    end
    expect(cluster.pod_requests("prod", "no-such-pod")).to_be(nil)
    expect(function() cluster.pod_requests("prod") end).to_fail_with("usage")
  end)
end)
