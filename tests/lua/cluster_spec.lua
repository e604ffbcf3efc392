-- cluster_spec.lua: the simulated cluster's raw resource API (sim.load, cluster.get/list/
-- create/replace/delete/watch/revision) on tests/lua/fixtures/small_cluster.yaml, and bad
-- cluster files failing with file, line and object (exit code 2).
local helpers = require("spec_helpers")

local fixtures = (os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/"

describe("sim.load", function()
  it("loads a List and single documents and counts the main kinds", function()
    local counts = sim.load(fixtures .. "small_cluster.yaml")
    expect(counts).to_equal({ Node = 2, Pod = 2, VirtualMachine = 1, VirtualMachineInstance = 1,
      PersistentVolumeClaim = 0, PodDisruptionBudget = 0 })
    expect(sim.source()).to_match("small_cluster%.yaml$")
    expect(function() sim.load(fixtures .. "small_cluster.yaml") end)
      .to_fail_with("usage", "a cluster is already loaded")
  end)

  it("reports a malformed file with its name and line, exit code 2", function()
    local dir, remove = helpers.tmpdir()
    local _ <close> = setmetatable({}, { __close = remove })
    helpers.write_file(dir .. "/bad.yaml", "apiVersion: v1\nkind: Node\nmetadata: {name: a}\n"
      .. "---\napiVersion: v1\nkind: Pod\nmetadata: {namespace: x}\n")
    local r = helpers.vmrun({ "-e", ("sim.load(%q)"):format(dir .. "/bad.yaml") })
    expect(r.status).to_be(2)
    expect(r.stderr).to_contain("bad.yaml:5: Pod x/(no name): Pod: metadata.name is missing")
    helpers.write_file(dir .. "/syntax.yaml", "apiVersion: v1\nkind: [\n")
    r = helpers.vmrun({ "-e", ("sim.load(%q)"):format(dir .. "/syntax.yaml") })
    expect(r.status).to_be(2)
    expect(r.stderr).to_contain("syntax.yaml:")
    r = helpers.vmrun({ "-e", ("sim.load(%q)"):format(dir .. "/missing.yaml") })
    expect(r.status).to_be(2)
    expect(r.stderr).to_contain("cannot read cluster file")
  end)

  it("refuses the cluster API before a cluster is loaded (a usage error, exit code 2)", function()
    -- (without a demo cluster: VMRUN_DEMO_CLUSTER set but empty)
    local r = helpers.vmrun({ "-e", "cluster.get('Node', 'x')", env = { VMRUN_DEMO_CLUSTER = "" } })
    expect(r.status).to_be(2)
    expect(r.stderr).to_contain("no cluster is loaded")
  end)
end)

describe("cluster.get", function()
  it("finds objects by kind, plural, short name and group/Kind", function()
    expect(cluster.get("Node", "worker-1").metadata.labels["topology.kubernetes.io/zone"])
      .to_be("zone-a")
    expect(cluster.get("vmi", "prod", "db").status.nodeName).to_be("worker-1")
    expect(cluster.get("virtualmachines", "prod", "db").spec.runStrategy).to_be("Always")
    expect(cluster.get("example.com/Widget", "prod", "w1").spec.size).to_be(3)
    expect(cluster.get("Pod", "prod", "nope")).to_be_nil()
  end)

  it("returns JSON-shaped tables: integers, empty objects and arrays kept", function()
    local w = cluster.get("example.com/Widget", "prod", "w1")
    expect(math.type(w.spec.size)).to_be("integer")
    expect(json.encode(w.spec)).to_be('{"empty":{},"list":[],"size":3}')
    expect(w.metadata.resourceVersion).to_be_a("string")
    expect(#w.metadata.uid).to_be(36)
  end)

  it("returns objects nested hundreds of levels deep intact, arrays and objects alike", function()
    local deep = {}
    local at = deep
    for i = 1, 300 do
      local next = {}
      if i % 2 == 0 then at.down = { next, i } else at.down = next end
      at = next
    end
    at.bottom = "here"
    cluster.create({ apiVersion = "example.com/v1", kind = "Widget",
      metadata = { name = "deep", namespace = "prod" }, spec = deep })
    local back = cluster.get("example.com/Widget", "prod", "deep")
    expect(json.encode(back.spec)).to_be(json.encode(deep))
    at = back.spec
    for i = 1, 300 do at = i % 2 == 0 and at.down[1] or at.down end
    expect(at.bottom).to_be("here")
    expect(json.encode(back.spec.down.down)).to_match("^%[")
  end)

  it("resolves each kind name the same way, however many names were used before", function()
    local names = { "Node", "nodes", "no", "vmi", "vmis", "VirtualMachineInstance", "vm",
      "virtualmachines", "example.com/Widget", "pods", "Pod", "po", "vmim", "pvc" }
    for round = 1, 3 do
      for _, name in ipairs(names) do cluster.list(name) end
      expect(cluster.get("no", "worker-1").metadata.name).to_be("worker-1")
      expect(cluster.get("vmis", "prod", "db").kind).to_be("VirtualMachineInstance")
      expect(cluster.get("vm", "prod", "db").kind).to_be("VirtualMachine")
      expect(function() cluster.get("Podd", "x") end).to_fail_with("usage", "unknown kind 'Podd'")
      expect(function() cluster.get("po", "web-1") end).to_fail_with("usage", "Pod is namespaced")
    end
  end)

  it("rejects unknown kinds and missing namespaces", function()
    expect(function() cluster.get("Podd", "x") end)
      .to_fail_with("usage", "unknown kind 'Podd' (did you mean 'Pod'?)")
    expect(function() cluster.get("Pod", "web-1") end)
      .to_fail_with("usage", "Pod is namespaced")
  end)
end)

describe("cluster.list", function()
  it("lists sorted by namespace and name, by namespace and through the node index", function()
    local names = {}
    for _, p in ipairs(cluster.list("Pod")) do names[#names + 1] = p.metadata.name end
    expect(names).to_equal({ "virt-launcher-db-abcde", "web-1" })
    expect(#cluster.list("Pod", { node = "worker-2" })).to_be(1)
    expect(#cluster.list("vmis", { node = "worker-1" })).to_be(1)
    expect(#cluster.list("vmis", { node = "worker-2" })).to_be(0)
    expect(#cluster.list("Pod", { namespace = "kube-system" })).to_be(0)
    expect(json.encode(cluster.list("PersistentVolumeClaim"))).to_be("[]")
  end)

  it("rejects unknown options", function()
    expect(function() cluster.list("Pod", { nodes = "worker-1" }) end)
      .to_fail("unknown option 'nodes' for cluster.list")
  end)
end)

describe("cluster.count", function()
  it("counts what cluster.list returns, for every kind of option", function()
    local cases = {
      { "Pod" }, { "Pod", { node = "worker-2" } }, { "vmis", { node = "worker-1" } },
      { "vmis", { node = "worker-2" } }, { "Pod", { namespace = "kube-system" } },
      { "Pod", { namespace = "prod" } }, { "PersistentVolumeClaim" },
      { "Pod", { selector = "kubevirt.io=virt-launcher" } },
      { "Pod", { selector = "!kubevirt.io" } },
      { "vmi", { field = "status.phase=Running" } }, { "vmi", { field = "status.phase!=Running" } },
      { "vmi", { node = "worker-1", field = "status.nodeName=worker-1" } },
      { "vmi", { node = "worker-2", field = "status.nodeName=worker-1" } },
      { "Node", { selector = "topology.kubernetes.io/zone=zone-a" } },
    }
    local nonzero = 0
    for _, c in ipairs(cases) do
      local n = cluster.count(c[1], c[2])
      expect(math.type(n)).to_be("integer")
      expect(n).to_be(#cluster.list(c[1], c[2]))
      if n > 0 then nonzero = nonzero + 1 end
    end
    expect(nonzero >= 7).to_be(true)
  end)

  it("raises as cluster.list does", function()
    expect(function() cluster.count("Podd") end).to_fail_with("usage", "unknown kind 'Podd'")
    expect(function() cluster.count("Pod", { nodes = "worker-1" }) end)
      .to_fail("unknown option 'nodes' for cluster.count")
    expect(function() cluster.count("Pod", { selector = "a in (" }) end)
      .to_fail_with("usage", "cluster.count:")
  end)

  it("with limit, counts at most that many", function()
    for i = 1, 5 do
      cluster.create({ apiVersion = "v1", kind = "ConfigMap",
        metadata = { name = "limit-" .. i, namespace = "default", labels = { limited = "yes" } } })
    end
    local opts = { selector = "limited=yes" }
    expect(cluster.count("ConfigMap", opts)).to_be(5)
    expect(cluster.count("ConfigMap", { selector = "limited=yes", limit = 1 })).to_be(1)
    expect(cluster.count("ConfigMap", { selector = "limited=yes", limit = 3 })).to_be(3)
    expect(cluster.count("ConfigMap", { selector = "limited=yes", limit = 9 })).to_be(5)
    local running = cluster.count("vmi", { field = "status.phase=Running" })
    expect(cluster.count("vmi", { field = "status.phase=Running", limit = 1 })).to_be(math.min(running, 1))
    expect(cluster.count("vmi", { field = "status.phase=NoSuchPhase", limit = 1 })).to_be(0)
    expect(function() cluster.count("Pod", { limit = 0 }) end).to_fail_with("usage", "limit")
    expect(function() cluster.count("Pod", { limit = 1.5 }) end).to_fail_with("usage", "limit")
    expect(function() cluster.count("Pod", { limit = "2" }) end).to_fail_with("usage", "limit")
    expect(function() cluster.count("NoKind", { limit = 0 }) end).to_fail_with("usage", "unknown kind")
    expect(function() cluster.count("Pod", { limit = 1, bogus = 1 }) end).to_fail("unknown option 'bogus'")
    expect(function() cluster.list("Pod", { limit = 1 }) end).to_fail("unknown option 'limit' for cluster.list")
  end)
end)

-- A minimal valid pod (the API server requires a container).
local function pod(name, namespace)
  return { apiVersion = "v1", kind = "Pod", metadata = { name = name, namespace = namespace },
    spec = { containers = { { name = "app", image = "app" } } } }
end

describe("cluster.create, replace and delete", function()
  it("creates with uid, resourceVersion and the simulated creation time", function()
    local before = tonumber(cluster.revision())
    local p = cluster.create({ apiVersion = "v1", kind = "Pod",
      metadata = { name = "new-pod", namespace = "prod" },
      spec = { nodeName = "worker-2", containers = { { name = "app", image = "app" } } } })
    expect(tonumber(p.metadata.resourceVersion)).to_be(before + 1)
    expect(p.metadata.creationTimestamp)
      .to_be((time.format(math.floor(time.now())):gsub("%.000Z", "Z")))
    expect(#cluster.list("Pod", { node = "worker-2" })).to_be(2)
    local err = expect(function() cluster.create(p) end).to_fail_with("already_exists")
    expect(err.status).to_be(409)
    expect(err.resource).to_be("Pod prod/new-pod")
    err = expect(function() cluster.create({ apiVersion = "v1", kind = "Pod", metadata = {} }) end)
      .to_fail_with("input", "metadata.name is missing")
    expect(err.status).to_be(422)
  end)

  it("replaces with optimistic concurrency and keeps the uid", function()
    local p = cluster.get("Pod", "prod", "new-pod")
    p.spec.nodeName = "worker-1"
    local stored = cluster.replace(p)
    expect(stored.metadata.uid).to_be(p.metadata.uid)
    expect(#cluster.list("Pod", { node = "worker-1" })).to_be(2)
    local err = expect(function() cluster.replace(p) end).to_fail_with("conflict")
    expect(err.status).to_be(409)
    p.metadata.resourceVersion = nil -- no version: last write wins
    expect(cluster.replace(p).spec.nodeName).to_be("worker-1")
  end)

  it("deletes pods gracefully (deletionTimestamp, then gone) and reports what is not there", function()
    expect(cluster.delete("Pod", "prod", "new-pod", { grace_period = 1 })).to_be(true)
    local p = cluster.get("Pod", "prod", "new-pod")
    expect(p.metadata.deletionTimestamp).to_be_a("string")
    expect(p.metadata.deletionGracePeriodSeconds).to_be(1)
    task.sleep(1)
    expect(cluster.get("Pod", "prod", "new-pod")).to_be_nil()
    local err = expect(function() cluster.delete("Pod", "prod", "new-pod") end)
      .to_fail_with("not_found", 'pods "new%-pod" not found')
    expect(err.status).to_be(404)
    cluster.create({ apiVersion = "kubevirt.io/v1", kind = "VirtualMachineInstanceMigration",
      metadata = { name = "m", namespace = "prod" }, spec = { vmiName = "nope" } })
    expect(cluster.delete("vmim", "prod", "m")).to_be(true) -- other kinds: at once
    expect(cluster.get("vmim", "prod", "m")).to_be_nil()
  end)

  it("holds an object with a foreign finalizer until it is removed, not one of KubeVirt's",
    function()
      cluster.create({ apiVersion = "v1", kind = "ConfigMap",
        metadata = { name = "held", namespace = "prod",
          finalizers = { "example.com/cleanup", "foregroundDeletion" } } })
      cluster.create({ apiVersion = "v1", kind = "PersistentVolumeClaim",
        metadata = { name = "claim", namespace = "prod",
          finalizers = { "kubernetes.io/pvc-protection" } } })
      cluster.delete("ConfigMap", "prod", "held")
      cluster.delete("PersistentVolumeClaim", "prod", "claim")
      expect(cluster.get("PersistentVolumeClaim", "prod", "claim")).to_be_nil()
      local held = cluster.get("ConfigMap", "prod", "held")
      expect(held.metadata.deletionTimestamp).to_be_a("string")
      held.metadata.finalizers = { "foregroundDeletion" } -- one the simulator completes itself
      cluster.replace(held)
      expect(cluster.get("ConfigMap", "prod", "held")).to_be_nil()
    end)
end)

describe("cluster.watch", function()
  it("delivers events to a waiting task in order, and ends at its timeout", function()
    local w <close> = cluster.watch("Pod", { namespace = "prod", timeout = "1m" })
    local writer = task.spawn(function()
      task.sleep(10)
      cluster.create(pod("a", "prod"))
      cluster.create(pod("b", "dev"))
      local a = cluster.get("Pod", "prod", "a")
      a.metadata.labels = { x = "1" }
      cluster.replace(a)
      cluster.delete("Pod", "prod", "a")
    end)
    local t0 = time.now()
    local seen = {}
    for ev in w do seen[#seen + 1] = ev.type .. " " .. ev.object.metadata.name end
    -- the pod's deletion is graceful: deletionTimestamp set, then gone 2 s later
    expect(seen).to_equal({ "ADDED a", "MODIFIED a", "MODIFIED a", "DELETED a" })
    expect(time.now() - t0).to_be(72) -- 10 s, 2 s until the pod is gone, then 1 min timeout
    writer:wait()
  end, { timeout = "5m" })

  it("resumes from a resourceVersion and reports expired ones", function()
    local since = cluster.revision()
    cluster.create(pod("c", "prod"))
    local w <close> = cluster.watch("Pod", { since = since, timeout = 1 })
    local ev = w:next()
    expect(ev.type).to_be("ADDED")
    expect(ev.object.metadata.name).to_be("c")
    expect(tonumber(ev.resource_version)).to_be(tonumber(since) + 1)
    local none, why = w:next()
    expect(none).to_be_nil()
    expect(why).to_be("timeout")
    w:close()
    none, why = w:next()
    expect(why).to_be("closed")
    cluster.delete("Pod", "prod", "c")
  end)

  it("raises kind 'expired' for a resourceVersion older than the retained events", function()
    for i = 1, 4100 do -- more writes than the event log keeps
      cluster.create({ apiVersion = "v1", kind = "ConfigMap",
        metadata = { name = "cm-" .. i, namespace = "prod" } })
    end
    local err = expect(function() cluster.watch("Pod", { since = 1 }) end).to_fail_with("expired")
    expect(err.status).to_be(410)
  end)
end)

describe("cluster.list selectors", function()
  it("filters by label selector as kubectl -l does", function()
    local names = function(list)
      local out = {}
      for _, o in ipairs(list) do out[#out + 1] = o.metadata.name end
      return out
    end
    expect(names(cluster.list("Node", { selector = "topology.kubernetes.io/zone=zone-b" })))
      .to_equal({ "worker-2" })
    expect(names(cluster.list("Node", { selector = "topology.kubernetes.io/zone in (zone-a, zone-b)" })))
      .to_equal({ "worker-1", "worker-2" })
    expect(names(cluster.list("Node", { selector = "node-role.kubernetes.io/worker,!gpu" })))
      .to_equal({ "worker-1", "worker-2" })
    expect(names(cluster.list("Pod", { selector = "kubevirt.io=virt-launcher" })))
      .to_equal({ "virt-launcher-db-abcde" })
  end)

  it("filters by field selector, using the node index for spec.nodeName", function()
    local pods = cluster.list("Pod", { field = "spec.nodeName=worker-1" })
    expect(#pods).to_be(1)
    expect(pods[1].metadata.name).to_be("virt-launcher-db-abcde")
    expect(#cluster.list("Pod", { field = "spec.nodeName=worker-1", node = "worker-2" })).to_be(0)
    expect(#cluster.list("vmi", { field = "status.phase=Running" })).to_be(1)
    expect(#cluster.list("vmi", { field = "status.phase!=Running" })).to_be(0)
    expect(#cluster.list("Pod", { field = "metadata.name=web-1,metadata.namespace=prod" })).to_be(1)
  end)

  it("rejects malformed selectors with the column", function()
    expect(function() cluster.list("Pod", { selector = "app=,=x" }) end)
      .to_fail_with("usage", "cluster.list: labelSelector:")
    expect(function() cluster.list("Pod", { field = "spec.nodeName" }) end)
      .to_fail_with("usage", "cluster.list: ")
  end)
end)

describe("cluster.patch", function()
  it("cordons and uncordons a node with kubectl's strategic merge patches", function()
    local n = cluster.patch("Node", "worker-1", { spec = { unschedulable = true } })
    expect(n.spec.unschedulable).to_be(true)
    expect(cluster.get("Node", "worker-1").spec.unschedulable).to_be(true)
    n = cluster.patch("Node", "worker-1", { spec = { unschedulable = json.null } })
    expect(n.spec.unschedulable).to_be_nil()
  end)

  it("merges labels and annotations, deletes with null", function()
    cluster.patch("Pod", "prod", "web-1", { metadata = { labels = { a = "1", b = "2" } } },
      { type = "merge" })
    local p = cluster.patch("Pod", "prod", "web-1", { metadata = { labels = { a = json.null } } })
    expect(p.metadata.labels).to_equal({ b = "2" })
  end)

  it("applies JSON patches atomically", function()
    local p = cluster.patch("Pod", "prod", "web-1", {
      { op = "add", path = "/metadata/annotations", value = { ["vmrun.io/x"] = "y" } },
      { op = "test", path = "/spec/nodeName", value = "worker-2" },
    }, { type = "json" })
    expect(p.metadata.annotations["vmrun.io/x"]).to_be("y")
    local before = cluster.get("Pod", "prod", "web-1").metadata.resourceVersion
    local err = expect(function()
      cluster.patch("Pod", "prod", "web-1", {
        { op = "remove", path = "/metadata/annotations" },
        { op = "test", path = "/spec/nodeName", value = "elsewhere" },
      }, { type = "json" })
    end).to_fail_with("input", "Pod prod/web%-1: op 1 %(test /spec/nodeName%)")
    expect(err.status).to_be(422)
    expect(cluster.get("Pod", "prod", "web-1").metadata.resourceVersion).to_be(before)
  end)

  it("merges containers by name (strategic) and keeps identity", function()
    local p = cluster.patch("Pod", "prod", "web-1",
      { spec = { containers = { { name = "sidecar", image = "envoy" } } } })
    expect(#p.spec.containers).to_be(2)
    expect(function()
      cluster.patch("Pod", "prod", "web-1", { metadata = { name = "other" } })
    end).to_fail_with("input", "cannot change the kind, name or namespace")
  end)

  it("checks a resourceVersion precondition and reports what is missing", function()
    expect(function()
      cluster.patch("Pod", "prod", "web-1", { metadata = { resourceVersion = "1" } })
    end).to_fail_with("conflict")
    expect(function() cluster.patch("Pod", "prod", "nope", { spec = {} }) end)
      .to_fail_with("not_found")
    expect(function() cluster.patch("Pod", "prod", "web-1", {}, { type = "yaml" }) end)
      .to_fail_with("usage", "bad type 'yaml'")
  end)
end)

describe("cluster.count with limit = 1, asked again and again", function()
  it("follows the objects as they stop and start matching", function()
    local function cm(name, ns, value)
      cluster.create({ apiVersion = "v1", kind = "ConfigMap",
        metadata = { name = name, namespace = ns, labels = { hinted = value } } })
    end
    cm("hint-a", "default", "yes")
    cm("hint-b", "default", "yes")
    local opts = { selector = "hinted=yes", limit = 1 }
    expect(cluster.count("ConfigMap", opts)).to_be(1)
    expect(cluster.count("ConfigMap", opts)).to_be(1) -- the object found the first time
    -- whichever was found stops matching: the other one is found
    cluster.patch("ConfigMap", "default", "hint-a", { metadata = { labels = { hinted = "no" } } })
    expect(cluster.count("ConfigMap", opts)).to_be(1)
    cluster.delete("ConfigMap", "default", "hint-b")
    expect(cluster.count("ConfigMap", opts)).to_be(0)
    expect(cluster.count("ConfigMap", opts)).to_be(0)
    -- a namespace or node narrows the count: an object elsewhere is not counted
    cm("hint-c", "prod", "yes")
    expect(cluster.count("ConfigMap", opts)).to_be(1)
    expect(cluster.count("ConfigMap", { selector = "hinted=yes", limit = 1, namespace = "default" })).to_be(0)
    expect(cluster.count("ConfigMap", { selector = "hinted=yes", limit = 1, namespace = "prod" })).to_be(1)
    -- the same kind with another selector is counted on its own
    expect(cluster.count("ConfigMap", { selector = "hinted=no", limit = 1 })).to_be(1)
    expect(cluster.count("ConfigMap", { selector = "hinted=maybe", limit = 1 })).to_be(0)
    -- cluster-scoped kinds and field selectors
    local nodes = cluster.count("Node", { field = "metadata.name!=nothing" })
    expect(cluster.count("Node", { field = "metadata.name!=nothing", limit = 1 })).to_be(math.min(nodes, 1))
    expect(cluster.count("Node", { field = "metadata.name!=nothing", limit = 1 })).to_be(math.min(nodes, 1))
  end)
end)

describe("cluster.count with limit = 1 over many objects", function()
  it("finds the one object that matches wherever it lies, before or after the last match", function()
    local names = {}
    for i = 1, 12 do
      names[i] = "ring-" .. i
      cluster.create({ apiVersion = "v1", kind = "ConfigMap",
        metadata = { name = names[i], namespace = "default", labels = { ring = "off" } } })
    end
    local opts = { selector = "ring=on", limit = 1 }
    local function only(name)
      for _, n in ipairs(names) do
        cluster.patch("ConfigMap", "default", n, { metadata = { labels = { ring = n == name and "on" or "off" } } })
      end
    end
    expect(cluster.count("ConfigMap", opts)).to_be(0)
    -- each object in turn is the only match: some lie before the one found last
    for _, pick in ipairs({ 7, 2, 12, 1, 9, 4, 11, 3 }) do
      only(names[pick])
      expect(cluster.count("ConfigMap", opts)).to_be(1)
    end
    only(nil)
    expect(cluster.count("ConfigMap", opts)).to_be(0)
  end)
end)
