-- scheduling_spec.lua: the simulator's scheduler and node controllers on
-- tests/lua/fixtures/scheduling_cluster.yaml, table-driven, each case citing
-- /work/shared/reference/kubevirt-migration.md: node affinity operators (§6.2), tolerations
-- (§6.3), the taint manager's NoExecute evictions (§6.3), the node-lifecycle taints following
-- cordon (§4.2 step 2) and readiness (§6.3), the scheduler profiles (DESIGN §4, OpenShift's
-- Scheduler CR), kube-scheduler's percentageOfNodesToScore sampling, and KubeVirt's
-- virt-launcher memory overhead. sim_workloads_spec.lua covers nodeSelector, one toleration,
-- cordon and the unschedulable message already.
local helpers = require("spec_helpers")

sim.load((os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/scheduling_cluster.yaml")
task.sleep(10)

local created = 0
-- Creates a VMI (1Gi unless memory is given) with the spec fields given and lets the scheduler
-- run; returns the VMI as stored.
local function schedule(spec, memory)
  created = created + 1
  local name = "case-" .. created
  spec.domain = spec.domain or { resources = { requests = { memory = memory or "1Gi" } } }
  cluster.create({ apiVersion = "kubevirt.io/v1", kind = "VirtualMachineInstance",
    metadata = { name = name, namespace = "prod" }, spec = spec })
  task.sleep(1)
  return cluster.get("vmi", "prod", name)
end

local function required(...)
  return { nodeAffinity = { requiredDuringSchedulingIgnoredDuringExecution = {
    nodeSelectorTerms = { ... } } } }
end

local function taint_of(node, key, effect)
  for _, t in ipairs(cluster.get("Node", node).spec.taints or {}) do
    if t.key == key and t.effect == effect then return t end
  end
end

local function pod(name) return cluster.get("Pod", "infra", name) end
local function gone_or_going(p) return p == nil or p.metadata.deletionTimestamp ~= nil end

describe("required node affinity operators (§6.2)", function()
  local pool = { key = "pool", operator = "In", values = { "aff" } }
  local cases = {
    { "In: label present and value listed", { { key = "tier", operator = "In", values = { "gold" } } }, "aff-a" },
    { "NotIn: value not listed", { { key = "tier", operator = "NotIn", values = { "gold", "silver" } },
      { key = "gen", operator = "Exists" } }, "aff-c" },
    { "NotIn: an absent label counts as not in", { { key = "tier", operator = "NotIn",
      values = { "gold", "silver", "bronze" } } }, "aff-d" },
    { "Exists: label present", { { key = "ssd", operator = "Exists" } }, "aff-a" },
    { "DoesNotExist: label absent", { { key = "tier", operator = "DoesNotExist" } }, "aff-d" },
    { "Gt: integer label greater", { { key = "gen", operator = "Gt", values = { "4" } } }, "aff-b" },
    { "Lt: integer label smaller", { { key = "gen", operator = "Lt", values = { "4" } } }, "aff-a" },
    { "Gt/Lt: a label that is no integer never matches", { { key = "gen", operator = "Gt", values = { "0" } },
      { key = "tier", operator = "In", values = { "bronze" } } }, nil },
    { "Gt: nothing greater", { { key = "gen", operator = "Gt", values = { "5" } } }, nil },
  }
  for _, c in ipairs(cases) do
    it(c[1], function()
      local expressions = { pool }
      for _, e in ipairs(c[2]) do expressions[#expressions + 1] = e end
      local vmi = schedule({ affinity = required({ matchExpressions = expressions }) })
      expect(vmi.status.nodeName).to_be(c[3])
      if c[3] == nil then
        expect(vmi.status.phase).to_be("Pending")
        expect(vmi.status.conditions[1].message).to_contain("didn't match Pod's node affinity/selector")
      end
    end)
  end

  it("matchFields: metadata.name In and NotIn, ANDed with the expressions of its term", function()
    expect(schedule({ affinity = required({ matchFields = {
      { key = "metadata.name", operator = "In", values = { "aff-c" } } } }) }).status.nodeName)
      .to_be("aff-c")
    expect(schedule({ affinity = required({
      matchExpressions = { pool, { key = "tier", operator = "In", values = { "gold", "silver" } } },
      matchFields = { { key = "metadata.name", operator = "NotIn", values = { "aff-a" } } },
    }) }).status.nodeName).to_be("aff-b")
  end)

  it("ORs the terms; a term with neither expressions nor fields matches nothing", function()
    local vmi = schedule({ affinity = required(
      { matchExpressions = { { key = "tier", operator = "In", values = { "bronze" } } } },
      { matchFields = { { key = "metadata.name", operator = "In", values = { "no-such-node" } } } }) })
    expect(vmi.status.nodeName).to_be("aff-c")
    vmi = schedule({ affinity = required({}) })
    expect(vmi.status.nodeName).to_be_nil()
    expect(vmi.status.conditions[1].message).to_contain("didn't match Pod's node affinity/selector")
  end)

  it("places a waiting VMI once a node is relabelled to match, not before", function()
    local vmi = schedule({ nodeSelector = { tier = "platinum" } })
    expect(vmi.status.phase).to_be("Pending")
    cluster.patch("Node", "aff-d", { metadata = { annotations = { note = "not a label" } } })
    task.sleep(1)
    expect(cluster.get("vmi", "prod", vmi.metadata.name).status.nodeName).to_be_nil()
    cluster.patch("Node", "aff-d", { metadata = { labels = { tier = "platinum" } } })
    task.sleep(1)
    expect(cluster.get("vmi", "prod", vmi.metadata.name).status.nodeName).to_be("aff-d")
    cluster.patch("Node", "aff-d", { metadata = { labels = { tier = json.null } } })
  end)
end)

describe("tolerations against tol-1's taint team=red:NoSchedule (§6.3)", function()
  local cases = {
    { "Equal with the same value", { key = "team", operator = "Equal", value = "red", effect = "NoSchedule" }, true },
    { "empty operator means Equal", { key = "team", value = "red", effect = "NoSchedule" }, true },
    { "Equal with another value", { key = "team", operator = "Equal", value = "blue", effect = "NoSchedule" }, false },
    { "Exists on the key", { key = "team", operator = "Exists", effect = "NoSchedule" }, true },
    { "empty key with Exists tolerates everything", { operator = "Exists" }, true },
    { "empty effect matches every effect", { key = "team", operator = "Exists" }, true },
    { "effect mismatch", { key = "team", operator = "Equal", value = "red", effect = "NoExecute" }, false },
    { "another key", { key = "dedicated", operator = "Exists" }, false },
  }
  for _, c in ipairs(cases) do
    it(c[1], function()
      local vmi = schedule({ nodeSelector = { pool = "tol" }, tolerations = { c[2] } })
      if c[3] then
        expect(vmi.status.nodeName).to_be("tol-1")
      else
        expect(vmi.status.nodeName).to_be_nil()
        expect(vmi.status.conditions[1].message).to_contain("1 node(s) had untolerated taint")
      end
    end)
  end
end)

describe("scheduler profiles (DESIGN §4; Scheduler CR spec.profile)", function()
  -- p-1 has 16Gi of 32Gi requested, p-2 24Gi, p-3 nothing; the first node by name is p-1
  local function set_profile(profile)
    if cluster.get("config.openshift.io/Scheduler", "cluster") then
      cluster.patch("config.openshift.io/Scheduler", "cluster", { spec = { profile = profile } })
    else
      cluster.create({ apiVersion = "config.openshift.io/v1", kind = "Scheduler",
        metadata = { name = "cluster" }, spec = { profile = profile } })
    end
  end
  local cases = {
    { nil, "p-3", "LowNodeUtilization (the default) spreads: least requested" },
    { "HighNodeUtilization", "p-2", "HighNodeUtilization bin-packs: most requested that fits" },
    { "NoScoring", "p-1", "NoScoring takes the first feasible node in the scheduler's order" },
    { "LowNodeUtilization", "p-3", "LowNodeUtilization set explicitly" },
  }
  for _, c in ipairs(cases) do
    it(c[3], function()
      if c[1] then set_profile(c[1]) end
      expect(schedule({ nodeSelector = { pool = "p" } }).status.nodeName).to_be(c[2])
    end)
  end

  it("scores preferred node affinity (§6.2) over spreading", function()
    set_profile("LowNodeUtilization") -- spreading alone picks p-3
    local vmi = schedule({ nodeSelector = { pool = "p" }, affinity = { nodeAffinity = {
      preferredDuringSchedulingIgnoredDuringExecution = { { weight = 100, preference = {
        matchFields = { { key = "metadata.name", operator = "In", values = { "p-1" } } } } } } } } })
    expect(vmi.status.nodeName).to_be("p-1")
  end)

  it("scores against untolerated PreferNoSchedule taints (§6.3), which never filter", function()
    cluster.patch("Node", "p-3", { spec = { taints = { { key = "soft", effect = "PreferNoSchedule" } } } })
    expect(schedule({ nodeSelector = { pool = "p" } }).status.nodeName).never.to_be("p-3")
    expect(schedule({ nodeSelector = { pool = "p" }, tolerations = { { key = "soft", operator = "Exists" } } })
      .status.nodeName).to_be("p-3")
    expect(schedule({ affinity = required({ matchFields = {
      { key = "metadata.name", operator = "In", values = { "p-3" } } } }) }).status.nodeName).to_be("p-3")
    cluster.patch("Node", "p-3", { spec = { taints = json.null } })
  end)
end)

describe("virt-launcher memory overhead (KubeVirt GetMemoryOverhead)", function()
  it("keeps a 4Gi VM off a node with 4Gi allocatable, unless the overhead is overcommitted", function()
    local vmi = schedule({ nodeSelector = { pool = "o" } }, "4Gi")
    expect(vmi.status.nodeName).to_be_nil()
    expect(vmi.status.conditions[1].message).to_contain("1 node(s) had insufficient cpu or memory")
    vmi = schedule({ nodeSelector = { pool = "o" },
      domain = { resources = { requests = { memory = "4Gi" }, overcommitGuestOverhead = true } } })
    expect(vmi.status.nodeName).to_be("o-1")
  end)

  it("leaves the overhead out of an overcommitted VM's pod request, which the node's accounting counts", function()
    local vmi = schedule({ nodeSelector = { pool = "o" } }, "3Gi")
    expect(vmi.status.nodeName).to_be_nil() -- o-1 holds the 4Gi VM now
    expect(vmi.status.conditions[1].message).to_contain("1 node(s) had insufficient cpu or memory")
    local pods = cluster.list("Pod", { node = "o-1" })
    expect(#pods).to_be(1)
    expect(pods[1].spec.containers[1].resources.requests.memory).to_be(tostring(4 * 1024 * 1024 * 1024))
  end)

  local mib = 1024 * 1024
  local function request(domain)
    local vmi = schedule({ nodeSelector = { pool = "aff" }, domain = domain })
    local pods = cluster.list("Pod", { selector = "vm.kubevirt.io/name=" .. vmi.metadata.name })
    return math.tointeger(tonumber(pods[1].spec.containers[1].resources.requests.memory))
  end

  it("grows with vCPUs, graphics and VFIO devices", function()
    local base = request({ resources = { requests = { memory = "1Gi" } } })
    expect(base - 1024 * mib).to_be((1024 * mib + 999) // 1000 * 1000 // 512 + (220 + 8 + 8 + 32) * mib)
    expect(request({ resources = { requests = { memory = "1Gi" } }, cpu = { cores = 4 } }) - base)
      .to_be(3 * 8 * mib)
    expect(request({ resources = { requests = { memory = "1Gi" } },
      devices = { autoattachGraphicsDevice = false } }) - base).to_be(-32 * mib)
    expect(request({ resources = { requests = { memory = "1Gi" } },
      devices = { hostDevices = { { name = "nic", deviceName = "vendor/nic" } } } }) - base)
      .to_be(1024 * mib)
  end)

  it("is multiplied by the KubeVirt CR's additionalGuestMemoryOverheadRatio, also when it changes", function()
    local domain = { resources = { requests = { memory = "1Gi" } } }
    local overhead = request(domain) - 1024 * mib
    cluster.create({ apiVersion = "kubevirt.io/v1", kind = "KubeVirt",
      metadata = { name = "kubevirt", namespace = "kubevirt" },
      spec = { configuration = { additionalGuestMemoryOverheadRatio = "2" } } })
    expect(request(domain) - 1024 * mib).to_be(overhead + (overhead + 999) // 1000 * 1000)
    cluster.delete("KubeVirt", "kubevirt", "kubevirt")
    task.sleep(1)
    expect(request(domain) - 1024 * mib).to_be(overhead)
  end)
end)

describe("virt-launcher CPU request (KubeVirt's cpuAllocationRatio, default 10)", function()
  local function cpu(domain)
    domain.resources = domain.resources or {}
    domain.resources.requests = domain.resources.requests or {}
    domain.resources.requests.memory = "1Gi"
    local vmi = schedule({ nodeSelector = { pool = "aff" }, domain = domain })
    local pods = cluster.list("Pod", { selector = "vm.kubevirt.io/name=" .. vmi.metadata.name })
    return pods[1].spec.containers[1].resources.requests.cpu
  end

  it("asks vCPUs / 10 when the VMI names no CPU, whole CPUs when they are dedicated", function()
    expect(cpu({})).to_be("100m")
    expect(cpu({ cpu = { cores = 4 } })).to_be("400m")
    expect(cpu({ cpu = { cores = 2, sockets = 2, threads = 2 } })).to_be("800m")
    expect(cpu({ cpu = { cores = 3, dedicatedCpuPlacement = true } })).to_be("3000m")
  end)

  it("keeps a CPU the VMI names: its request, else its limit", function()
    expect(cpu({ cpu = { cores = 4 }, resources = { requests = { cpu = "1500m" } } }))
      .to_be("1500m")
    expect(cpu({ cpu = { cores = 4 }, resources = { limits = { cpu = "2" } } })).to_be("2000m")
  end)

  it("follows the KubeVirt CR's developerConfiguration.cpuAllocationRatio, then HCO's", function()
    cluster.create({ apiVersion = "hco.kubevirt.io/v1beta1", kind = "HyperConverged",
      metadata = { name = "kubevirt-hyperconverged", namespace = "openshift-cnv" },
      spec = { resourceRequirements = { vmiCPUAllocationRatio = 4 } } })
    task.sleep(1)
    expect(cpu({ cpu = { cores = 2 } })).to_be("500m")
    cluster.create({ apiVersion = "kubevirt.io/v1", kind = "KubeVirt",
      metadata = { name = "kubevirt", namespace = "kubevirt" },
      spec = { configuration = { developerConfiguration = { cpuAllocationRatio = 3 } } } })
    task.sleep(1)
    expect(cpu({ cpu = { cores = 2 } })).to_be("667m") -- 2/3 CPU, rounded up to a millicore
    cluster.delete("KubeVirt", "kubevirt", "kubevirt")
    cluster.delete("HyperConverged", "openshift-cnv", "kubevirt-hyperconverged")
    task.sleep(1)
    expect(cpu({ cpu = { cores = 2 } })).to_be("200m")
  end)
end)

describe("the taint manager: NoExecute taints (§6.3)", function()
  it("deletes pods that do not tolerate at once, bypassing KubeVirt's webhook: the VM shuts down", function()
    expect(cluster.get("vmi", "prod", "vmi-x").status.phase).to_be("Running")
    local launcher = cluster.list("Pod", { node = "x-1", selector = "kubevirt.io=virt-launcher" })[1]
    -- the DefaultTolerationSeconds admission's tolerations do not cover other taints
    expect(launcher.spec.tolerations).to_equal({
      { key = "node.kubernetes.io/not-ready", operator = "Exists", effect = "NoExecute", tolerationSeconds = 300 },
      { key = "node.kubernetes.io/unreachable", operator = "Exists", effect = "NoExecute", tolerationSeconds = 300 },
    })
    cluster.patch("Node", "x-1", { spec = { taints = { { key = "maint", effect = "NoExecute" } } } })
    task.sleep(1)
    expect(taint_of("x-1", "maint", "NoExecute").timeAdded).to_match("^%d+%-%d+%-%d+T") -- set for it
    expect(gone_or_going(pod("plain"))).to_be(true)
    expect(cluster.get("Pod", "prod", launcher.metadata.name).metadata.deletionTimestamp).never.to_be_nil()
    expect(pod("for-60s").metadata.deletionTimestamp).to_be_nil() -- tolerates it for 60 s
    task.sleep(57)
    expect(pod("for-60s").metadata.deletionTimestamp).to_be_nil() -- 58 s
    task.sleep(3)
    expect(cluster.get("vmi", "prod", "vmi-x").status.phase).to_be("Succeeded") -- not migrated
    expect(#cluster.list("vmim", { namespace = "prod" })).to_be(0)
  end, { timeout = "5m" })

  it("deletes a tolerating pod tolerationSeconds after timeAdded, keeps one without", function()
    -- the taint was added 61 s ago (previous case); for-60s went at 60 s
    expect(gone_or_going(pod("for-60s"))).to_be(true)
    task.sleep("10m")
    expect(pod("forever").metadata.deletionTimestamp).to_be_nil()
  end, { timeout = "15m" })

  it("counts from timeAdded and cancels when the taint goes away", function()
    cluster.patch("Node", "x-2", { spec = { taints = { { key = "maint", effect = "NoExecute" } } } })
    task.sleep(119)
    expect(pod("for-120s").metadata.deletionTimestamp).to_be_nil()
    task.sleep(2)
    expect(gone_or_going(pod("for-120s"))).to_be(true)
    -- a pod arriving on the tainted node is due at timeAdded + 200 s; the taint goes at 151 s
    cluster.create({ apiVersion = "v1", kind = "Pod", metadata = { name = "late", namespace = "infra" },
      spec = { nodeName = "x-2", containers = { { name = "c" } }, tolerations = {
        { key = "maint", operator = "Exists", effect = "NoExecute", tolerationSeconds = 200 } } },
      status = { phase = "Running" } })
    task.sleep(30)
    expect(pod("late").metadata.deletionTimestamp).to_be_nil()
    cluster.patch("Node", "x-2", { spec = { taints = json.null } })
    task.sleep(1)
    expect(cluster.get("Node", "x-2").spec.taints).to_be_nil()
    task.sleep(119) -- 271 s: past the deadline it had
    expect(pod("late")).never.to_be_nil()
    expect(pod("late").metadata.deletionTimestamp).to_be_nil()
  end, { timeout = "10m" })
end)

describe("node-lifecycle taints (§4.2 step 2, §6.3)", function()
  it("follow cordon and uncordon, and come back if removed by hand", function()
    cluster.patch("Node", "aff-d", { spec = { unschedulable = true } })
    task.sleep(1)
    local t = taint_of("aff-d", "node.kubernetes.io/unschedulable", "NoSchedule")
    expect(t).never.to_be_nil()
    expect(t.timeAdded).to_match("T")
    cluster.patch("Node", "aff-d", { spec = { taints = json.null } })
    task.sleep(1)
    expect(taint_of("aff-d", "node.kubernetes.io/unschedulable", "NoSchedule")).never.to_be_nil()
    local rv = cluster.get("Node", "aff-d").metadata.resourceVersion
    task.sleep(5)
    expect(cluster.get("Node", "aff-d").metadata.resourceVersion).to_be(rv) -- no write loop
    cluster.patch("Node", "aff-d", { spec = { unschedulable = json.null } })
    task.sleep(1)
    expect(cluster.get("Node", "aff-d").spec.taints).to_be_nil()
  end)

  it("taint a NotReady node not-ready (NoSchedule, NoExecute); pods go after 300 s", function()
    expect(sim.reboot("l-1")).to_be(true) -- NotReady for 600 s
    task.sleep(1)
    expect(taint_of("l-1", "node.kubernetes.io/not-ready", "NoSchedule")).never.to_be_nil()
    expect(taint_of("l-1", "node.kubernetes.io/not-ready", "NoExecute").timeAdded).to_match("T")
    task.sleep(290)
    expect(pod("l-plain").metadata.deletionTimestamp).to_be_nil() -- DefaultTolerationSeconds
    task.sleep(15)
    expect(gone_or_going(pod("l-plain"))).to_be(true)
    expect(pod("l-daemon").metadata.deletionTimestamp).to_be_nil() -- tolerates it forever
    task.sleep(300)
    expect(cluster.get("Node", "l-1").spec.taints).to_be_nil() -- Ready again
  end, { timeout = "15m" })

  it("taint a node whose Ready condition is Unknown unreachable", function()
    cluster.patch("Node", "l-1", { status = { conditions = { { type = "Ready", status = "Unknown" } } } })
    task.sleep(1)
    expect(taint_of("l-1", "node.kubernetes.io/unreachable", "NoExecute")).never.to_be_nil()
    expect(taint_of("l-1", "node.kubernetes.io/unreachable", "NoSchedule")).never.to_be_nil()
    expect(taint_of("l-1", "node.kubernetes.io/not-ready", "NoExecute")).to_be_nil()
    cluster.patch("Node", "l-1", { status = { conditions = { { type = "Ready", status = "True" } } } })
    task.sleep(1)
    expect(cluster.get("Node", "l-1").spec.taints).to_be_nil()
  end)

  it("keep pods off a NotReady node only through those taints: a pod tolerating them lands (§6.1)", function()
    cluster.patch("Node", "l-1", { status = { conditions = { { type = "Ready", status = "False" } } } })
    local vmi = schedule({ nodeSelector = { pool = "l" } })
    expect(vmi.status.nodeName).to_be_nil()
    expect(vmi.status.conditions[1].message).to_match("^0/%d+ nodes are available: .*node%(s%) had untolerated taint%.$")
    expect(vmi.status.conditions[1].message).never.to_contain("not ready")
    -- the DefaultTolerationSeconds toleration (NoExecute) does not cover the NoSchedule taint
    vmi = schedule({ nodeSelector = { pool = "l" }, tolerations = {
      { key = "node.kubernetes.io/not-ready", operator = "Exists", effect = "NoExecute" } } })
    expect(vmi.status.nodeName).to_be_nil()
    vmi = schedule({ nodeSelector = { pool = "l" }, tolerations = {
      { key = "node.kubernetes.io/not-ready", operator = "Exists" } } })
    expect(vmi.status.nodeName).to_be("l-1")
    cluster.patch("Node", "l-1", { status = { conditions = { { type = "Ready", status = "True" } } } })
    task.sleep(1)
  end)
end)

describe("percentageOfNodesToScore (kube-scheduler's adaptive sample)", function()
  -- A child run on N generated nodes schedules VMIs one by one with NoScoring and prints where
  -- each went: the search starts where the previous one stopped, after finding max(100 nodes,
  -- N * (50 - N/125)%) feasible ones, over the nodes in node-tree order (zones interleaved).
  local function placements(nodes, zones, vmis)
    local dir, cleanup = helpers.tmpdir()
    helpers.write_file(dir .. "/empty.yaml", "apiVersion: v1\nkind: List\nitems: []\n")
    local script = ([[
      sim.load(%q)
      local nodes, zones = %d, %d
      cluster.create({ apiVersion = "config.openshift.io/v1", kind = "Scheduler",
        metadata = { name = "cluster" }, spec = { profile = "NoScoring" } })
      for i = 0, nodes - 1 do
        cluster.create({ apiVersion = "v1", kind = "Node", metadata = { name = ("n-%%03d"):format(i),
          labels = { ["topology.kubernetes.io/zone"] = "z" .. (i * zones // nodes) } },
          status = { allocatable = { cpu = "64", memory = "256Gi" } } })
      end
      for i = 1, %d do
        cluster.create({ apiVersion = "kubevirt.io/v1", kind = "VirtualMachineInstance",
          metadata = { name = "v" .. i, namespace = "default" },
          spec = { domain = { resources = { requests = { memory = "1Gi" } } } } })
        task.sleep(1)
        print(cluster.get("vmi", "default", "v" .. i).status.nodeName)
      end]]):format(dir .. "/empty.yaml", nodes, zones, vmis)
    local out = helpers.vmrun({ "-e", script, check = true }).stdout
    cleanup()
    return helpers.lines(out)
  end

  it("150 nodes: at least 100 found, so the start moves by 100", function()
    -- one zone: node order is name order; 0, 100, 200 % 150 = 50, 150 % 150 = 0
    expect(placements(150, 1, 4)).to_equal({ "n-000", "n-100", "n-050", "n-000" })
  end)

  it("250 nodes: 48% = 120 found per cycle", function()
    expect(placements(250, 1, 4)).to_equal({ "n-000", "n-120", "n-240", "n-110" })
  end)

  it("interleaves zones in the node order", function()
    -- zones z0 (n-000..n-074) and z1 (n-075..n-149): order n-000, n-075, n-001, n-076, ...
    expect(placements(150, 2, 3)).to_equal({ "n-000", "n-050", "n-025" })
  end)
end)
