-- demo_cluster_spec.lua: the demo cluster playbooks/clusters/demo.yaml and its generator
-- tools/gen-cluster.lua: what the file holds, that every VM set to run lands on a worker with
-- one virt-launcher pod after a simulated minute (reference §3.5, §6), that there is room for a
-- second copy of the largest VMs (§2.4), and the generator's determinism and usage errors.
local helpers = require("spec_helpers")

local source = os.getenv("VMRUN_SOURCE_DIR") or "."
local demo = source .. "/playbooks/clusters/demo.yaml"
local generator = source .. "/tools/gen-cluster.lua"

local counts = sim.load(demo)
local loaded_at = sim.clock()

-- Lets the simulated cluster run for a minute after the load (the first test; later calls
-- return at once, so every test sees the settled cluster and leaves no simulator timers).
local function settled()
  local left = loaded_at + 60 - sim.clock()
  if left > 0 then task.sleep(left) end
end

local function quantity(text)
  local n, unit = tostring(text):match("^(%d+)(%a*)$")
  local scale = ({ [""] = 1, Ki = 1024, Mi = 1024 ^ 2, Gi = 1024 ^ 3, Ti = 1024 ^ 4 })[unit]
  assert(n and scale, "unexpected quantity " .. tostring(text))
  return tonumber(n) * scale
end

local function nodes_by_name()
  local out = {}
  for _, n in ipairs(cluster.list("Node")) do out[n.metadata.name] = n end
  return out
end

local function is_worker(node)
  local l = node.metadata.labels
  return l["node-role.kubernetes.io/worker"] ~= nil
    and l["node-role.kubernetes.io/control-plane"] == nil
end

local function count_by(list, field)
  local out = {}
  for _, x in ipairs(list) do
    local v = field(x)
    out[v] = (out[v] or 0) + 1
  end
  return out
end

describe("after a simulated minute", function()
  it("runs every Always/RerunOnFailure VM on a worker, and no Halted/Manual one", function()
    settled() -- the first test: the simulated minute passes here
    local nodes = nodes_by_name()
    local running = 0
    for _, vm in ipairs(cluster.list("vm")) do
      local ns, name = vm.metadata.namespace, vm.metadata.name
      local vmi = cluster.get("vmi", ns, name)
      local s = vm.spec.runStrategy
      if s == "Always" or s == "RerunOnFailure" then
        expect(vmi and vmi.status.phase).to_be("Running")
        expect(is_worker(nodes[vmi.status.nodeName])).to_be(true)
        expect(vm.status.printableStatus).to_be("Running")
        running = running + 1
      else
        expect(vmi).to_be_nil()
        expect(vm.status.printableStatus).to_be("Stopped")
      end
    end
    expect(running).to_be(70)
  end, { timeout = "2m" })

  it("gives every running VMI exactly one virt-launcher pod, on its node", function()
    settled()
    local launchers = cluster.list("Pod", { selector = "kubevirt.io=virt-launcher" })
    local by_uid = {}
    for _, p in ipairs(launchers) do
      local uid = p.metadata.labels["kubevirt.io/created-by"]
      by_uid[uid] = by_uid[uid] or {}
      table.insert(by_uid[uid], p)
    end
    local vmis = cluster.list("vmi")
    expect(#vmis).to_be(70)
    expect(#launchers).to_be(70)
    for _, vmi in ipairs(vmis) do
      local pods = by_uid[vmi.metadata.uid] or {}
      expect(#pods).to_be(1)
      expect(pods[1].spec.nodeName).to_be(vmi.status.nodeName)
      expect(pods[1].status.phase).to_be("Running")
    end
  end)

  it("uses every zone", function()
    settled()
    local nodes, zones = nodes_by_name(), {}
    for _, vmi in ipairs(cluster.list("vmi")) do
      local zone = nodes[vmi.status.nodeName].metadata.labels["topology.kubernetes.io/zone"]
      zones[zone] = (zones[zone] or 0) + 1
    end
    expect(zones["zone-a"] or 0).never.to_be(0)
    expect(zones["zone-b"] or 0).never.to_be(0)
    expect(zones["zone-c"] or 0).never.to_be(0)
  end)

  it("keeps the large-memory VM on its tainted pool and the other VMs off it", function()
    settled()
    local nodes = nodes_by_name()
    local hana = cluster.get("vmi", "sap", "hana-01")
    expect(nodes[hana.status.nodeName].metadata.labels.dedicated).to_be("large-memory")
    for _, vmi in ipairs(cluster.list("vmi")) do
      local labels = nodes[vmi.status.nodeName].metadata.labels
      if vmi.metadata.name ~= "hana-01" then expect(labels.dedicated).to_be_nil() end
    end
  end)

  it("leaves room for a second copy of each of the largest VMs on another worker", function()
    settled()
    local nodes, free = nodes_by_name(), {}
    for name, n in pairs(nodes) do free[name] = quantity(n.status.allocatable.memory) end
    for _, p in ipairs(cluster.list("Pod")) do
      if p.status.phase ~= "Succeeded" and p.status.phase ~= "Failed" then
        for _, c in ipairs(p.spec.containers) do
          local want = c.resources and c.resources.requests and c.resources.requests.memory
          if want then free[p.spec.nodeName] = free[p.spec.nodeName] - quantity(want) end
        end
      end
    end
    local vmis = cluster.list("vmi")
    local function size(v) return quantity(v.spec.domain.resources.requests.memory) end
    table.sort(vmis, function(a, b) return size(a) > size(b) end)
    -- a target must be another worker that the VMI tolerates, matching its nodeSelector, with
    -- the same CPU vendor (§2.4)
    local function fits(vmi, node)
      if not is_worker(node) or node.metadata.name == vmi.status.nodeName then return false end
      for _, taint in ipairs(node.spec.taints or {}) do
        local ok = false
        for _, t in ipairs(vmi.spec.tolerations or {}) do
          if t.key == taint.key and t.effect == taint.effect then ok = true end
        end
        if not ok then return false end
      end
      local labels = node.metadata.labels
      for k, v in pairs(vmi.spec.nodeSelector or {}) do
        if labels[k] ~= v then return false end
      end
      local required = vmi.spec.affinity and vmi.spec.affinity.nodeAffinity
        and vmi.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution
      for _, expr in ipairs(required and required.nodeSelectorTerms[1].matchExpressions or {}) do
        expect(expr.operator).to_be("In") -- the only operator the generator writes
        local ok = false
        for _, v in ipairs(expr.values) do ok = ok or labels[expr.key] == v end
        if not ok then return false end
      end
      local src = nodes[vmi.status.nodeName].metadata.labels
      local vendor = src["cpu-vendor.node.kubevirt.io/Intel"] and "Intel" or "AMD"
      return node.metadata.labels["cpu-vendor.node.kubevirt.io/" .. vendor] ~= nil
        and free[node.metadata.name] >= size(vmi)
    end
    for i = 1, 6 do
      local found
      for _, n in pairs(nodes) do
        if fits(vmis[i], n) then found = n.metadata.name end
      end
      expect(found).never.to_be_nil()
    end
  end)
end)

describe("the demo cluster file", function()
  it("holds the expected objects", function()
    expect(counts.Node).to_be(15)
    expect(counts.VirtualMachine).to_be(80)
    expect(counts.VirtualMachineInstance).to_be(0) -- the VMs start them
    expect(counts.Pod).to_be(31) -- 15 node-exporter, 12 virt-handler, 3 Deployment pods, 1 bare
    expect(counts.PersistentVolumeClaim).to_be(91)
    expect(counts.PodDisruptionBudget).to_be(2)
    expect(#cluster.list("Namespace")).to_be(14)
    expect(#cluster.list("StorageClass")).to_be(2)
    expect(#cluster.list("DaemonSet")).to_be(2)
    expect(#cluster.list("Deployment")).to_be(2)
    expect(#cluster.list("ReplicaSet")).to_be(2)
    expect(#cluster.list("MigrationPolicy")).to_be(1)
  end)

  it("has 3 tainted control-plane nodes, 12 workers in 3 zones, the sim annotations", function()
    local control, workers, zones, vendors = 0, 0, {}, {}
    for _, n in pairs(nodes_by_name()) do
      local l, a = n.metadata.labels, n.metadata.annotations
      expect(a["sim.vmrun.io/nic-bandwidth"]).to_match("^%d+M$")
      expect(a["sim.vmrun.io/reboot-seconds"]).to_match("^%d+$")
      expect(n.status.allocatable.memory).to_match("^%d+Gi$")
      if l["node-role.kubernetes.io/control-plane"] then
        control = control + 1
        expect(n.spec.taints).to_equal({
          { key = "node-role.kubernetes.io/control-plane", effect = "NoSchedule" },
        })
      else
        workers = workers + 1
        expect(is_worker(n)).to_be(true)
        zones[l["topology.kubernetes.io/zone"]] = true
        vendors[l["cpu-vendor.node.kubevirt.io/Intel"] and "Intel" or "AMD"] = true
      end
    end
    expect(control).to_be(3)
    expect(workers).to_be(12)
    expect(zones).to_equal({ ["zone-a"] = true, ["zone-b"] = true, ["zone-c"] = true })
    expect(vendors).to_equal({ Intel = true, AMD = true })
  end)

  it("configures KubeVirt's migration limits and a MigrationPolicy", function()
    local kv = cluster.get("KubeVirt", "kubevirt", "kubevirt")
    expect(kv.spec.configuration.evictionStrategy).to_be("LiveMigrate")
    local m = kv.spec.configuration.migrations
    expect({ m.parallelMigrationsPerCluster, m.parallelOutboundMigrationsPerNode,
      m.completionTimeoutPerGiB, m.progressTimeout }).to_equal({ 5, 2, 150, 150 })
    expect(kv.status.observedKubeVirtVersion).to_be("v1.6.2")
    local policy = cluster.get("MigrationPolicy", "databases")
    expect(policy.spec.selectors.virtualMachineInstanceSelector).to_equal({ workload = "database" })
  end)

  it("spans the run strategies, eviction strategies and network cases", function()
    local vms = cluster.list("vm")
    local runs = count_by(vms, function(vm) return vm.spec.runStrategy end)
    for _, s in ipairs({ "Always", "RerunOnFailure", "Halted", "Manual" }) do
      expect(runs[s] or 0).never.to_be(0)
    end
    local evictions = count_by(vms, function(vm)
      return vm.spec.template.spec.evictionStrategy or "unset"
    end)
    for _, s in ipairs({ "LiveMigrate", "LiveMigrateIfPossible", "None", "External", "unset" }) do
      expect(evictions[s] or 0).never.to_be(0)
    end
    local bindings = count_by(vms, function(vm)
      local iface = vm.spec.template.spec.domain.devices.interfaces[1]
      return iface.bridge and "bridge" or "masquerade"
    end)
    expect(bindings.bridge).to_be(2)
    expect(bindings.masquerade).to_be(78)
    local vrouter = cluster.get("vm", "telco", "vrouter-01").spec.template.spec
    expect(vrouter.networks[2].multus.networkName).to_be("sriov-net")
    expect(vrouter.domain.devices.interfaces[2].sriov).to_equal({})
    local oracle = cluster.get("vm", "prod-db", "oracle-01").spec.template.spec
    expect(oracle.domain.cpu.dedicatedCpuPlacement).to_be(true)
    local hana = cluster.get("vm", "sap", "hana-01").spec.template.spec
    expect(hana.domain.resources.requests.memory).to_be("192Gi")
    local pdb = cluster.get("pdb", "prod-erp", "erp-vms")
    expect(pdb.spec.maxUnavailable).to_be(1)
    local modes = {}
    for _, pvc in ipairs(cluster.list("pvc")) do modes[pvc.spec.accessModes[1]] = true end
    expect(modes).to_equal({ ReadWriteMany = true, ReadWriteOnce = true })
  end)

  it("has DaemonSet pods on every worker, owned by their DaemonSet", function()
    local nodes = nodes_by_name()
    for _, ds in ipairs(cluster.list("DaemonSet")) do
      local pods = cluster.list("Pod", { namespace = ds.metadata.namespace,
        selector = "app=" .. ds.metadata.name })
      local on = {}
      for _, p in ipairs(pods) do
        expect(p.metadata.ownerReferences[1].uid).to_be(ds.metadata.uid)
        on[p.spec.nodeName] = true
      end
      for name, n in pairs(nodes) do
        if is_worker(n) then expect(on[name]).to_be(true) end
      end
    end
    expect(cluster.get("Pod", "default", "debug-toolbox").metadata.ownerReferences).to_be_nil()
  end)
end)

describe("tools/gen-cluster.lua", function()
  it("regenerates the committed demo cluster from its defaults", function()
    local r = helpers.vmrun({ generator, check = true })
    local f = assert(io.open(demo, "rb"))
    local committed = f:read("a")
    f:close()
    -- when this fails, regenerate: vmrun tools/gen-cluster.lua --out playbooks/clusters/demo.yaml
    if r.stdout ~= committed then -- show the first line that differs
      local a, b = helpers.lines(r.stdout), helpers.lines(committed)
      local i = 1
      while a[i] == b[i] do i = i + 1 end
      expect("line " .. i .. ": " .. tostring(b[i])).to_be("line " .. i .. ": " .. tostring(a[i]))
    end
    expect(#r.stdout).to_be(#committed)
  end)

  it("is deterministic for a seed, and another seed gives another cluster", function()
    local args = { generator, "--nodes", "20", "--vms", "150", "--seed", "7", check = true }
    local a = helpers.vmrun(args)
    local b = helpers.vmrun(args)
    expect(a.stdout == b.stdout).to_be(true)
    expect(#a.stdout).never.to_be(0)
    local c = helpers.vmrun({ generator, "--nodes", "20", "--vms", "150", "--seed", "8",
      check = true })
    expect(c.stdout == a.stdout).to_be(false)
    expect(a.stdout).to_contain("--nodes 20 --vms 150 --seed 7 --zones 3")
  end)

  it("writes --out FILE and reports on stderr", function()
    local dir, cleanup = helpers.tmpdir()
    local _ <close> = setmetatable({}, { __close = function() cleanup() end })
    local path = dir .. "/small.yaml"
    local r = helpers.vmrun({ generator, "--nodes", "4", "--vms", "10", "--zones", "2",
      "--out", path, check = true })
    expect(r.stdout).to_be("")
    expect(r.stderr).to_match("wrote .*small%.yaml: 7 nodes, 10 VMs")
    local docs = yaml.decode_file(path, { all = true })
    local kinds = count_by(docs, function(d) return d.kind end)
    expect(kinds.Node).to_be(7)
    expect(kinds.VirtualMachine).to_be(10)
  end)

  it("exits 2 with a one-line message for bad arguments", function()
    for _, bad in ipairs({
      { "--nodes", "x" }, { "--nodes", "0" }, { "--vms", "-3" }, { "--zones", "27" },
      { "--zones", "5", "--nodes", "3" }, { "--seed", "1.5" }, { "--bogus" }, { "--out" },
      { "stray" },
    }) do
      local args = { generator }
      for _, a in ipairs(bad) do args[#args + 1] = a end
      local r = helpers.vmrun(args)
      expect(r.status).to_be(2)
      expect(r.stdout).to_be("")
      expect(r.stderr).to_match("^gen%-cluster: [^\n]+%(usage: vmrun tools/gen%-cluster%.lua")
      expect(#helpers.lines(r.stderr)).to_be(1)
    end
  end)
end)
