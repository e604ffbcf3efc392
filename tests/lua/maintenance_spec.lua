-- maintenance_spec.lua: the simulator's NodeMaintenance operator on
-- tests/lua/fixtures/maintenance_cluster.yaml: admission (reference §5.1, with the etcd quorum
-- guard), the reconcile loop
-- (§5.2: finalizer, status, taints, cordon, label, lease, drain attempts, deletion), the drain it
-- runs (§4.2 with KubeVirt's eviction webhook, §3.2-§3.4, and PodDisruptionBudgets, §4.3), the
-- lease held by someone else (§5.2 steps 2-3) and the deprecated kubevirt.io group whose
-- kubevirt.io/drain taint KubeVirt's evacuation controller acts on by itself (§3.3, §5.1).
-- Every test takes its maintenance down again, so that no simulator timer is left behind.
sim.load((os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/maintenance_cluster.yaml")

local NM, OLD_NM = "NodeMaintenance", "nodemaintenance.kubevirt.io/NodeMaintenance"
local EXCLUDE = "remediation.medik8s.io/exclude-from-remediation"

local function create_nm(name, node, old)
  return cluster.create({
    apiVersion = (old and "nodemaintenance.kubevirt.io" or "nodemaintenance.medik8s.io") .. "/v1beta1",
    kind = "NodeMaintenance", metadata = { name = name },
    spec = { nodeName = node, reason = "vmrun maintenance spec" } })
end
local function node(name) return cluster.get("Node", name) end
local function vmi(name) return cluster.get("vmi", "prod", name) end
local function launcher(name)
  return cluster.list("Pod", { namespace = "prod", selector = "vm.kubevirt.io/name=" .. name,
    field = "status.phase=Running" })[1]
end
-- "key:effect" of a node's taints, sorted.
local function taints(n)
  local out = {}
  for _, t in ipairs((n.spec or {}).taints or {}) do out[#out + 1] = t.key .. ":" .. t.effect end
  table.sort(out)
  return out
end
-- Polls fn every second until it returns a value; fails after limit seconds.
local function wait_for(what, fn, limit)
  local deadline = time.now() + (limit or 120)
  while time.now() < deadline do
    local v = fn()
    if v then return v end
    task.sleep(1)
  end
  error("timed out waiting for " .. what)
end
local function phase_is(kind, name, phase)
  return function()
    local m = cluster.get(kind, name)
    return m and m.status and m.status.phase == phase and m
  end
end
-- Deletes a NodeMaintenance (step 7) and checks that it and everything it did are gone: the
-- node is back to its own taints (worker-2 and worker-4 have one), uncordoned, unlabelled.
local function end_maintenance(kind, name, node_name, lease_ns, lease_name)
  expect(cluster.delete(kind, name)).to_be(true)
  local deleting = cluster.get(kind, name) -- the finalizer keeps it until the controller ran
  expect(deleting.metadata.deletionTimestamp).to_be_a("string")
  task.sleep(1)
  expect(cluster.get(kind, name)).to_be_nil()
  local n = node(node_name)
  expect(n.spec.unschedulable).to_be_nil()
  local own = (node_name == "worker-2" or node_name == "worker-4") and { "dedicated:NoSchedule" } or {}
  expect(taints(n)).to_equal(own)
  expect((n.metadata.labels or {})[EXCLUDE]).to_be_nil()
  if lease_name then expect(cluster.get("Lease", lease_ns, lease_name)).to_be_nil() end
end
-- after_each: a failed test must not leave its maintenance running (its drain would retry for
-- ever and the run would never end).
local function remove_leftovers()
  for _, kind in ipairs({ NM, OLD_NM }) do
    for _, m in ipairs(cluster.list(kind)) do cluster.delete(kind, m.metadata.name) end
  end
  task.sleep(1)
end

describe("admission (§5.1)", function()
  it("refuses a node that does not exist", function()
    local err = expect(function() create_nm("nm-nowhere", "worker-9") end)
      .to_fail_with("forbidden", 'admission webhook "vnodemaintenance.kb.io" denied the request: '
        .. "invalid nodeName, no node with name worker-9 found")
    expect(err.status).to_be(403)
    expect(cluster.get(NM, "nm-nowhere")).to_be_nil()
  end)

  it("refuses a control-plane node whose etcd member the guard PDB cannot spare", function()
    local function master(name, role)
      cluster.create({ apiVersion = "v1", kind = "Node", metadata = { name = name,
        labels = { ["node-role.kubernetes.io/" .. role] = "" } },
        status = { allocatable = { cpu = "8", memory = "32Gi" } } })
    end
    local function guard(node_name, ready)
      cluster.create({ apiVersion = "v1", kind = "Pod",
        metadata = { name = "etcd-guard-" .. node_name, namespace = "openshift-etcd",
          labels = { app = "guard" } },
        spec = { nodeName = node_name, containers = { { name = "guard", image = "guard" } },
          tolerations = { { operator = "Exists" } } },
        status = { phase = "Running",
          conditions = { { type = "Ready", status = ready and "True" or "False" } } } })
    end
    local function pdb(name, min)
      cluster.create({ apiVersion = "policy/v1", kind = "PodDisruptionBudget",
        metadata = { name = name, namespace = "openshift-etcd" },
        spec = { minAvailable = min, selector = { matchLabels = { app = "guard" } } } })
    end
    local function admitted(name, node_name) -- created, and taken up by the operator
      create_nm(name, node_name)
      wait_for(name, function() local m = cluster.get(NM, name) return m.status and m.status.phase end)
      end_maintenance(NM, name, node_name)
    end
    local quorum = "can not put master/control-plane node into maintenance at this moment, "
      .. "disrupting node %s will violate etcd quorum"
    cluster.create({ apiVersion = "v1", kind = "Namespace", metadata = { name = "openshift-etcd" } })
    master("master-1", "master")
    master("master-2", "control-plane")
    master("master-3", "control-plane")
    guard("master-1", true)
    guard("master-2", true)
    -- no guard PDB: not OpenShift, nothing to check
    admitted("nm-m3", "master-3")
    pdb("etcd-guard-pdb", 2)
    for _, n in ipairs({ "master-1", "master-2" }) do -- both roles count as control-plane
      expect(function() create_nm("nm-" .. n, n) end)
        .to_fail_with("forbidden", quorum:format(n))
      expect(cluster.get(NM, "nm-" .. n)).to_be_nil()
    end
    admitted("nm-m3", "master-3") -- no guard pod on it: its etcd member is not counted
    master("plain-1", "infra") -- not control-plane
    admitted("nm-p1", "plain-1")
    local function set_ready(node_name, ready)
      cluster.patch("Pod", "openshift-etcd", "etcd-guard-" .. node_name, { status = {
        conditions = { { type = "Ready", status = ready and "True" or "False" } } } })
    end
    -- master-2's member is down already: taking it costs no more quorum
    set_ready("master-2", false)
    admitted("nm-m2", "master-2")
    expect(function() create_nm("nm-m1", "master-1") end).to_fail_with("forbidden", quorum:format("master-1"))
    -- the PDB allows one disruption (OpenShift before 4.11 named it etcd-quorum-guard)
    cluster.delete("PodDisruptionBudget", "openshift-etcd", "etcd-guard-pdb")
    pdb("etcd-quorum-guard", 1)
    set_ready("master-2", true)
    admitted("nm-m1", "master-1")
    cluster.delete("PodDisruptionBudget", "openshift-etcd", "etcd-quorum-guard")
    expect(cluster.get("Pod", "openshift-etcd", "etcd-guard-master-1")).to_be_nil() -- drained
    cluster.delete("Pod", "openshift-etcd", "etcd-guard-master-2", { grace_period = 0 })
    task.sleep(1)
    for _, n in ipairs({ "master-1", "master-2", "master-3", "plain-1" }) do cluster.delete("Node", n) end
  end)
end)

describe("a NodeMaintenance (§5.2)", function()
  after_each(remove_leftovers)
  it("cordons, taints, labels and leases its node, drains it through the webhook, and undoes "
    .. "it all when deleted", function()
    local t0 = time.now()
    local pod = launcher("mover").metadata.name
    create_nm("nm-w1", "worker-1")
    task.sleep(1)
    -- step 1-4: finalizer, owner, first status, label, taints, cordon, lease
    local m = cluster.get(NM, "nm-w1")
    expect(m.metadata.finalizers).to_equal({ "foregroundDeleteNodeMaintenance" })
    expect(m.metadata.ownerReferences[1].kind).to_be("Node")
    expect(m.metadata.ownerReferences[1].uid).to_be(node("worker-1").metadata.uid)
    expect(m.status.phase).to_be("Running")
    expect(m.status.totalpods).to_be(4)    -- with the virt-handler pod
    expect(m.status.evictionPods).to_be(3) -- without it (IgnoreAllDaemonSets)
    expect(m.status.pendingPods).to_equal({ "bare-1", pod, "web-1" })
    expect(m.status.pendingPodsRefs[2]).to_equal({ namespace = "prod", name = pod })
    expect(m.status.lastUpdate).to_be_a("string")
    local n = node("worker-1")
    expect(n.spec.unschedulable).to_be(true)
    expect(taints(n)).to_equal({ "medik8s.io/drain:NoSchedule",
      "node.kubernetes.io/unschedulable:NoSchedule" })
    expect(n.metadata.labels[EXCLUDE]).to_be("true")
    local lease = cluster.get("Lease", "medik8s-leases", "node-worker-1")
    expect(lease.spec.holderIdentity).to_be("node-maintenance")
    expect(lease.spec.leaseDurationSeconds).to_be(3600)
    expect(lease.metadata.ownerReferences[1]).to_equal({ apiVersion = "v1", kind = "Node",
      name = "worker-1", uid = n.metadata.uid })
    -- step 5: the evictions went out; KubeVirt's webhook marked the VM (§3.2, §3.4)
    expect(vmi("mover").status.evacuationNodeName).to_be("worker-1")
    expect(cluster.get("Pod", "prod", "web-1").metadata.deletionTimestamp).to_be_a("string")
    expect(cluster.get("Pod", "prod", "bare-1").metadata.deletionTimestamp) -- Force: no
      .to_be_a("string")                                                   -- controller is fine
    -- step 6: the VM migrated, its old pod was evicted on a later 5 s retry: Succeeded
    m = wait_for("Succeeded", phase_is(NM, "nm-w1", "Succeeded"))
    expect(time.now() - t0 < 30).to_be(true) -- within the first 30 s attempt
    expect(time.now() - t0 >= 5).to_be(true)  -- not before the first 5 s retry
    expect(m.status.drainProgress).to_be(100)
    expect(m.status.pendingPods).to_be_nil()
    expect(m.status.pendingPodsRefs).to_be_nil()
    expect(m.status.lastError).to_be_nil()
    expect(vmi("mover").status.nodeName).never.to_be("worker-1")
    expect(vmi("mover").status.migrationState.completed).to_be(true)
    expect(cluster.get("Pod", "prod", pod)).to_be_nil()
    expect(cluster.get("Pod", "prod", "web-1")).to_be_nil()
    expect(cluster.get("Pod", "prod", "bare-1")).to_be_nil()
    expect(cluster.get("Pod", "kubevirt", "virt-handler-w1").status.phase).to_be("Running")
    -- admission while it exists (§5.1): one per node, in either group; nodeName is immutable
    expect(function() create_nm("nm-w1-again", "worker-1") end)
      .to_fail_with("forbidden", "invalid nodeName, a NodeMaintenance for node worker-1 already exists")
    expect(function() create_nm("nm-w1-old", "worker-1", true) end)
      .to_fail_with("forbidden", "a NodeMaintenance for node worker-1 already exists")
    expect(function() cluster.patch(NM, "nm-w1", { spec = { nodeName = "worker-2" } }) end)
      .to_fail_with("forbidden", "updating spec.NodeName isn't allowed")
    -- step 7
    end_maintenance(NM, "nm-w1", "worker-1", "medik8s-leases", "node-worker-1")
  end, { timeout = "5m" })

  it("waits forever for a LiveMigrate VM that cannot migrate, naming it (§3.2, §5.2 step 5)",
    function()
      local pod = launcher("stuck").metadata.name
      local blocked = 'error when evicting pods/"' .. pod .. '" -n "prod": global timeout reached: 30s'
      create_nm("nm-w2", "worker-2")
      task.sleep(31) -- the first attempt timed out after 30 s of 429s
      local m = cluster.get(NM, "nm-w2")
      expect(m.status.phase).to_be("Running")
      expect(m.status.lastError).to_be(blocked)
      expect(m.status.pendingPods).to_equal({ pod })
      expect(m.status.pendingPodsRefs).to_equal({ { namespace = "prod", name = pod } })
      expect(m.status.evictionPods).to_be(1)
      expect(m.status.drainProgress).to_be_nil() -- 0 %
      local first = m.status.lastUpdate
      task.sleep(36) -- the next attempt starts 5 s after the first failed one, fails at 65 s
      expect(cluster.get(NM, "nm-w2").status.lastUpdate).never.to_be(first)
      task.sleep(600) -- and so on, for ever
      m = cluster.get(NM, "nm-w2")
      expect(m.status.phase).to_be("Running")
      expect(m.status.lastError).to_be(blocked)
      expect(m.status.lastUpdate).never.to_be(first)
      expect(vmi("stuck").status.nodeName).to_be("worker-2")
      expect(vmi("stuck").status.evacuationNodeName).to_be_nil()
      expect(cluster.get("Pod", "prod", pod).metadata.deletionTimestamp).to_be_nil()
      end_maintenance(NM, "nm-w2", "worker-2", "medik8s-leases", "node-worker-2")
    end, { timeout = "15m" })

  it("is held up by a PodDisruptionBudget, then fails when another holder takes its lease "
    .. "(§4.3, §5.2 steps 2-3)", function()
    create_nm("nm-w4", "worker-4")
    task.sleep(31)
    local m = cluster.get(NM, "nm-w4")
    expect(m.status.phase).to_be("Running")
    expect(m.status.lastError)
      .to_be('error when evicting pods/"db-1" -n "prod": global timeout reached: 30s')
    expect(m.status.pendingPods).to_equal({ "db-1" })
    expect(m.status.totalpods).to_be(3)
    expect(m.status.evictionPods).to_be(2)
    expect(m.status.drainProgress).to_be(50) -- cache-1 went
    expect(cluster.get("Pod", "prod", "cache-1")).to_be_nil()
    expect(cluster.get("Pod", "kubevirt", "virt-handler-w4").status.phase).to_be("Running")
    -- someone else (a Node Healthcheck) now holds the still valid lease
    cluster.patch("Lease", "medik8s-leases", "node-worker-4",
      { spec = { holderIdentity = "node-healthcheck" } })
    task.sleep(10) -- the next reconcile meets it: errorOnLeaseCount 1, 2, 3, 4, then Failed
    m = cluster.get(NM, "nm-w4")
    expect(m.status.phase).to_be("Failed")
    expect(m.status.errorOnLeaseCount).to_be(4)
    expect(m.status.lastError).to_be("maintenance failed: lease could not be extended after 4 attempts")
    local n = node("worker-4")
    expect(n.spec.unschedulable).to_be_nil()
    expect(taints(n)).to_equal({ "dedicated:NoSchedule" }) -- only its own
    expect((n.metadata.labels or {})[EXCLUDE]).to_be_nil()
    expect(cluster.get("Lease", "medik8s-leases", "node-worker-4").spec.holderIdentity)
      .to_be("node-healthcheck") -- not ours to invalidate
    expect(cluster.get("Pod", "prod", "db-1").metadata.deletionTimestamp).to_be_nil()
    end_maintenance(NM, "nm-w4", "worker-4")
    expect(cluster.get("Lease", "medik8s-leases", "node-worker-4")).never.to_be_nil()
  end, { timeout = "5m" })
end)

describe("the kubevirt.io/drain taint (§3.3, §5.1)", function()
  after_each(remove_leftovers)
  it("makes KubeVirt's evacuation controller migrate the node's VMs by itself", function()
    local pod = launcher("tainted").metadata.name
    cluster.patch("Node", "worker-5",
      { spec = { taints = { { key = "kubevirt.io/drain", effect = "NoSchedule" } } } })
    task.sleep(30)
    local v = vmi("tainted")
    expect(v.status.nodeName).never.to_be("worker-5")
    expect(v.status.migrationState.completed).to_be(true)
    expect(v.status.evacuationNodeName).to_be_nil() -- no eviction marked it
    local vmims = cluster.list("vmim", { namespace = "prod", selector = "kubevirt.io/vmi-name=tainted" })
    expect(#vmims).to_be(1)
    expect(vmims[1].metadata.name).to_match("^kubevirt%-evacuation%-")
    expect(vmims[1].metadata.annotations["kubevirt.io/evacuationMigration"]).to_be("worker-5")
    expect(vmims[1].spec.priority).to_be("system-critical")
    -- nothing was evicted: the old pod completed and is still there, as is the other pod
    expect(cluster.get("Pod", "prod", pod).status.phase).to_be("Succeeded")
    expect(cluster.get("Pod", "prod", "db-2").status.phase).to_be("Running")
    cluster.patch("Node", "worker-5", { { op = "remove", path = "/spec/taints" } }, { type = "json" })
  end, { timeout = "5m" })

  it("is what the deprecated group's NodeMaintenance uses, with its own lease", function()
    local evacuated = {}
    for _, v in ipairs(cluster.list("vmi", { namespace = "prod" })) do
      if v.status.nodeName == "worker-3" then evacuated[#evacuated + 1] = v.metadata.name end
    end
    expect(#evacuated >= 2).to_be(true) -- evac-1, evac-2 and the VMs that moved there
    create_nm("nm-w3", "worker-3", true)
    task.sleep(1)
    local m = cluster.get(OLD_NM, "nm-w3")
    expect(m.metadata.finalizers).to_equal({ "foregroundDeleteNodeMaintenance" })
    expect(m.status.phase).to_be("Running")
    expect(taints(node("worker-3"))).to_equal({ "kubevirt.io/drain:NoSchedule",
      "node.kubernetes.io/unschedulable:NoSchedule" })
    expect(cluster.get("Lease", "node-maintenance", "worker-3").spec.holderIdentity)
      .to_be("node-maintenance")
    expect(cluster.get("Lease", "medik8s-leases", "node-worker-3")).to_be_nil()
    expect(function() create_nm("nm-w3-new", "worker-3") end) -- one per node across groups
      .to_fail_with("forbidden", "a NodeMaintenance for node worker-3 already exists")
    m = wait_for("Succeeded", phase_is(OLD_NM, "nm-w3", "Succeeded"))
    -- the deprecated CR has no drainProgress, lastUpdate or pendingPodsRefs (§5.1)
    expect(m.status.drainProgress).to_be_nil()
    expect(m.status.lastUpdate).to_be_nil()
    expect(m.status.evictionPods).to_be(#evacuated)
    for _, name in ipairs(evacuated) do expect(vmi(name).status.nodeName).never.to_be("worker-3") end
    end_maintenance(OLD_NM, "nm-w3", "worker-3", "node-maintenance", "worker-3")
  end, { timeout = "5m" })
end)

describe("a NodeMaintenance loaded long before it is reconciled", function()
  it("is read afresh after each write, not through a pointer into the replaced CR", function()
    -- more writes than the store's event log keeps (4,096) between loading the CR and its first
    -- reconcile: the replaced CR is freed at once, so a stale pointer is a use-after-free (ASan)
    local helpers = require("spec_helpers")
    local dir, remove = helpers.tmpdir()
    local _ <close> = setmetatable({}, { __close = remove })
    local lines = { "apiVersion: v1", "kind: List", "items:",
      "- {apiVersion: v1, kind: Node, metadata: {name: w1}}",
      "- {apiVersion: nodemaintenance.medik8s.io/v1beta1, kind: NodeMaintenance, "
        .. "metadata: {name: nm1}, spec: {nodeName: w1}}" }
    for i = 1, 4200 do
      lines[#lines + 1] = ("- {apiVersion: v1, kind: ConfigMap, metadata: {name: c%d}}"):format(i)
    end
    helpers.write_file(dir .. "/many.yaml", table.concat(lines, "\n") .. "\n")
    local r = helpers.vmrun({ "-e", ([[
      sim.load(%q)
      task.sleep(2)
      local m = cluster.get("NodeMaintenance", "nm1")
      print(m.status.phase, m.metadata.finalizers[1], cluster.get("Node", "w1").spec.unschedulable)
    ]]):format(dir .. "/many.yaml") })
    expect(r.stderr).to_be("")
    expect(r.stdout).to_be("Succeeded\tforegroundDeleteNodeMaintenance\ttrue\n")
  end)
end)
