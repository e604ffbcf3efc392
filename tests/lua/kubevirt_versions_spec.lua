-- kubevirt_versions_spec.lua: behaviour that depends on the KubeVirt version a cluster file
-- declares (status.observedKubeVirtVersion; reference kubevirt-migration.md §3.2, "Version
-- differences"): up to v1.5 the disruption-budget controller gives every VMI that migrates on
-- eviction a PodDisruptionBudget (minAvailable 2 while it migrates); up to v1.4 the eviction
-- webhook lets later evictions of a marked VMI's pod through to that budget; from v1.6 the
-- controller only deletes the budgets older versions left.
local helpers = require("spec_helpers")

local fixtures = (os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/"
sim.load(fixtures .. "kubevirt_v14_cluster.yaml")
task.sleep(30) -- every VM running

local function budgets()
  local out = {}
  for _, pdb in ipairs(cluster.list("pdb", { namespace = "prod" })) do
    if pdb.metadata.name:find("^kubevirt%-disruption%-budget%-") then out[#out + 1] = pdb end
  end
  return out
end

local function launcher(name)
  return cluster.list("Pod", { namespace = "prod", selector = "vm.kubevirt.io/name=" .. name,
    field = "status.phase=Running" })[1]
end

describe("KubeVirt v1.4: the disruption-budget controller (§3.2, v1.5 and older)", function()
  it("gives the LiveMigrate VMI a budget of one, owned by the VMI, and none to the None VM", function()
    local vmi = cluster.get("vmi", "prod", "lm")
    local list = budgets()
    expect(#list).to_be(1)
    local pdb = list[1]
    expect(pdb.spec.minAvailable).to_be(1)
    expect(pdb.spec.selector).to_equal({ matchLabels = { ["kubevirt.io/created-by"] =
      vmi.metadata.uid } })
    expect(pdb.metadata.ownerReferences[1].kind).to_be("VirtualMachineInstance")
    expect(pdb.metadata.ownerReferences[1].uid).to_be(vmi.metadata.uid)
  end)
end)

describe("KubeVirt v1.4: draining a LiveMigrate VM (§3.2, §3.4)", function()
  it("marks on the first eviction, then leaves the pod to the budget, raised to 2 while migrating",
    function()
      local pod = launcher("lm")
      local source = pod.spec.nodeName
      expect(function() cluster.evict("prod", pod.metadata.name) end)
        .to_fail_with("too_many_requests", 'Eviction triggered evacuation of VMI "prod/lm"')
      expect(cluster.get("vmi", "prod", "lm").status.evacuationNodeName).to_be(source)
      task.sleep(3) -- the evacuation VMIM is created and starts
      expect(budgets()[1].spec.minAvailable).to_be(2)
      local err = expect(function() cluster.evict("prod", pod.metadata.name) end)
        .to_fail_with("too_many_requests", "Cannot evict pod as it would violate the pod's "
          .. "disruption budget.")
      expect(err.reason).to_be("DisruptionBudget")
      -- the migration completes; the source pod is done and goes without a budget check
      local vmi
      for _ = 1, 120 do
        task.sleep(1)
        vmi = cluster.get("vmi", "prod", "lm")
        if vmi.status.nodeName ~= source then break end
      end
      expect(vmi.status.nodeName).never.to_be(source)
      task.sleep(1)
      expect(budgets()[1].spec.minAvailable).to_be(1)
      cluster.evict("prod", pod.metadata.name)
      task.sleep(1)
      expect(cluster.get("Pod", "prod", pod.metadata.name)).to_be_nil()
    end, { timeout = "10m" })

  it("lets a None VM's pod go (no budget), shutting the VM down", function()
    local pod = launcher("off")
    cluster.evict("prod", pod.metadata.name)
    task.sleep(15)
    expect(cluster.get("Pod", "prod", pod.metadata.name)).to_be_nil()
  end)
end)

describe("KubeVirt v1.6 and newer (§3.2)", function()
  it("deletes the budgets older versions left and makes no new ones", function()
    local dir, remove = helpers.tmpdir()
    local _ <close> = setmetatable({}, { __close = remove })
    local f = assert(io.open(fixtures .. "kubevirt_v14_cluster.yaml"))
    local text = f:read("a"):gsub("v1%.4%.1", "v1.6.0")
    f:close()
    text = text .. [[
- apiVersion: policy/v1
  kind: PodDisruptionBudget
  metadata:
    name: kubevirt-disruption-budget-x7k2p
    namespace: prod
    ownerReferences: [{apiVersion: kubevirt.io/v1, kind: VirtualMachineInstance, name: old,
      uid: 0000-old, controller: true}]
  spec: {minAvailable: 1, selector: {matchLabels: {kubevirt.io/created-by: 0000-old}}}
- apiVersion: policy/v1
  kind: PodDisruptionBudget
  metadata: {name: user-budget, namespace: prod}
  spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}
]]
    helpers.write_file(dir .. "/v16.yaml", text)
    local r = helpers.vmrun({ "-e", ([[
      sim.load(%q)
      task.sleep(30)
      for _, p in ipairs(cluster.list("pdb", { namespace = "prod" })) do print(p.metadata.name) end
    ]]):format(dir .. "/v16.yaml") })
    expect(r.stderr).to_be("")
    expect(r.stdout).to_be("user-budget\n")
  end)
end)

describe("a run whose simulator still has work", function()
  it("ends when the playbook ends (an evacuation retrying forever does not keep it going)", function()
    local dir, remove = helpers.tmpdir()
    local _ <close> = setmetatable({}, { __close = remove })
    local f = assert(io.open(fixtures .. "kubevirt_v14_cluster.yaml"))
    -- pinned to worker-1, the VM's migration target pod can never be scheduled
    local text = f:read("a"):gsub("domain: {resources: {requests: {memory: 2Gi}}}\n        volumes",
      "nodeSelector: {kubernetes.io/hostname: worker-1}\n        %0", 1)
    f:close()
    helpers.write_file(dir .. "/pinned.yaml", text)
    local r = helpers.vmrun({ timeout = 30, "-e", ([[
      sim.load(%q)
      task.sleep(30)
      local pod = cluster.list("Pod", { namespace = "prod", selector = "vm.kubevirt.io/name=lm" })[1]
      print(pod.spec.nodeName, pcall(cluster.evict, "prod", pod.metadata.name))
      task.sleep(600)
      print(#cluster.list("vmim", { namespace = "prod" }) > 1)
    ]]):format(dir .. "/pinned.yaml") })
    expect(r.stderr).to_be("")
    expect(r.status).to_be(0)
    expect(r.stdout).to_be('worker-1\tfalse\tEviction triggered evacuation of VMI "prod/lm"\ntrue\n')
  end)
end)
