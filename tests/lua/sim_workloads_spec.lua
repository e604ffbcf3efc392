-- sim_workloads_spec.lua: the simulator's workload controllers on
-- tests/lua/fixtures/workloads_cluster.yaml: run strategies (reference §3.5), scheduling filters
-- and scoring (§6.1-§6.3), virt-launcher pods, VM printable status, rescheduling when a node
-- frees up, and determinism for a seed.
local helpers = require("spec_helpers")

local fixture = (os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/workloads_cluster.yaml"
sim.load(fixture)

local function vmi(name) return cluster.get("vmi", "prod", name) end
local function vm(name) return cluster.get("vm", "prod", name) end
local function launcher(name)
  local pods = cluster.list("Pod", { namespace = "prod", selector = "vm.kubevirt.io/name=" .. name })
  return pods[1], #pods
end

describe("run strategies (§3.5)", function()
  it("starts Always, RerunOnFailure and running:true VMs, leaves Halted and Manual off", function()
    task.sleep(10) -- past the launcher pods' start time
    expect(vmi("web").status.phase).to_be("Running")
    expect(vmi("rerun").status.phase).to_be("Running")
    expect(vmi("legacy").status.phase).to_be("Running")
    expect(vmi("off")).to_be_nil()
    expect(vmi("manual")).to_be_nil()
    expect(vm("web").status.printableStatus).to_be("Running")
    expect(vm("web").status.ready).to_be(true)
    expect(vm("off").status.printableStatus).to_be("Stopped")
  end)

  it("makes the VMI from the template, owned by the VM", function()
    local i = vmi("web")
    expect(i.metadata.labels.app).to_be("web")
    expect(i.metadata.ownerReferences[1].kind).to_be("VirtualMachine")
    expect(i.metadata.ownerReferences[1].uid).to_be(vm("web").metadata.uid)
    expect(i.spec.domain.resources.requests.memory).to_be("2Gi")
  end)

  it("restarts a failed VMI for RerunOnFailure, a finished one for Always", function()
    local i = vmi("rerun")
    i.status.phase = "Failed"
    local old_uid = i.metadata.uid
    cluster.replace(i)
    task.sleep(10)
    expect(vmi("rerun").metadata.uid).never.to_be(old_uid)
    expect(vmi("rerun").status.phase).to_be("Running")
    i = vmi("web")
    i.status.phase = "Succeeded"
    old_uid = i.metadata.uid
    cluster.replace(i)
    task.sleep(10)
    expect(vmi("web").metadata.uid).never.to_be(old_uid)
  end)

  it("keeps a RerunOnFailure VM stopped after a clean shutdown (kubevirt#9823)", function()
    local i = vmi("rerun")
    i.status.phase = "Succeeded"
    cluster.replace(i)
    task.sleep(10)
    expect(vmi("rerun").status.phase).to_be("Succeeded")
    expect(vm("rerun").status.printableStatus).to_be("Stopped")
  end)

  it("stops a running VM whose strategy becomes Halted", function()
    local uid = vmi("legacy").metadata.uid
    local function pods() return cluster.pods({ selector = "kubevirt.io/created-by=" .. uid }) end
    expect(#pods()).to_be(1)
    cluster.patch("vm", "prod", "legacy", { spec = { running = false } })
    task.sleep(1)
    expect(vmi("legacy")).to_be_nil()
    expect(vm("legacy").status.printableStatus).to_be("Stopped")
    -- the garbage collector deletes its virt-launcher pod, which goes within its grace period
    expect(pods()[1].metadata.deletionTimestamp).never.to_be_nil()
    task.sleep(60)
    expect(#pods()).to_be(0)
  end, { timeout = "2m" })
end)

describe("scheduling (§6.1-§6.3)", function()
  it("honours nodeSelector and tolerations, and skips cordoned nodes", function()
    expect(vmi("db").status.nodeName).to_be("worker-2") -- tolerates the taint, zone b
    expect(vmi("web").status.nodeName).to_be("worker-1") -- not tolerating worker-2's taint
  end)

  it("leaves a VMI that fits nowhere Pending with the scheduler's reasons", function()
    local i = vmi("big")
    expect(i.status.phase).to_be("Pending")
    expect(i.status.nodeName).to_be_nil()
    local c = i.status.conditions[1]
    expect(c.type).to_be("PodScheduled")
    expect(c.reason).to_be("Unschedulable")
    expect(c.message).to_be("0/3 nodes are available: 1 node(s) were unschedulable, 1 node(s) "
      .. "had untolerated taint, 1 node(s) had insufficient cpu or memory.")
    expect(vm("big").status.printableStatus).to_be("ErrorUnschedulable")
  end)

  it("schedules the pending VMI once a node with room is uncordoned", function()
    cluster.patch("Node", "worker-3", { spec = { unschedulable = json.null } })
    task.sleep(10)
    expect(vmi("big").status.nodeName).to_be("worker-3")
    expect(vmi("big").status.phase).to_be("Running")
  end)
end)

describe("virt-launcher pods", function()
  it("runs one per VMI on its node, with KubeVirt's labels, owner and emptyDirs", function()
    local pod, count = launcher("db")
    expect(count).to_be(1)
    expect(pod.metadata.name).to_match("^virt%-launcher%-db%-%w%w%w%w%w$")
    expect(pod.spec.nodeName).to_be("worker-2")
    expect(pod.status.phase).to_be("Running")
    expect(pod.metadata.labels["kubevirt.io"]).to_be("virt-launcher")
    expect(pod.metadata.labels["kubevirt.io/created-by"]).to_be(vmi("db").metadata.uid)
    expect(pod.metadata.annotations["kubevirt.io/domain"]).to_be("db")
    expect(pod.metadata.ownerReferences[1].controller).to_be(true)
    expect(#pod.spec.volumes).to_be(6)
    expect(pod.spec.volumes[1].emptyDir).to_equal({})
    -- the guest's 16Gi plus KubeVirt's overhead: page tables (16Gi/512, in whole kB), 220Mi of
    -- processes, 8Mi for its one vCPU, 8Mi IOThread, 32Mi video
    local mib = 1024 * 1024
    local overhead = (16 * 1024 * mib + 999) // 1000 * 1000 // 512 + (220 + 8 + 8 + 32) * mib
    expect(pod.spec.containers[1].resources.requests.memory).to_be(tostring(16 * 1024 * mib
      + overhead))
    expect(pod.spec.terminationGracePeriodSeconds).to_be(60) -- the VMI's 30 s + 30 s
    expect(launcher("web").metadata.labels.app).to_be("web") -- the VMI's labels are copied
  end)

  it("gives a VMI loaded as running its pod at once", function()
    local pod = launcher("standalone")
    expect(pod.status.phase).to_be("Running")
    expect(pod.spec.nodeName).to_be("worker-1")
  end)
end)

describe("determinism", function()
  it("names pods and uids the same way on every run", function()
    local script = ("sim.load(%q) task.sleep(10) "
      .. "for _, p in ipairs(cluster.list('Pod')) do print(p.metadata.name, p.metadata.uid) end")
      :format(fixture)
    local a = helpers.vmrun({ "-e", script, check = true })
    local b = helpers.vmrun({ "-e", script, check = true })
    expect(a.stdout).to_be(b.stdout)
    expect(#helpers.lines(a.stdout)).to_be(5)
  end)
end)

describe("node reboot", function()
  local function ready(node)
    for _, c in ipairs(cluster.get("Node", node).status.conditions or {}) do
      if c.type == "Ready" then return c.status end
    end
  end

  it("loses the VMs on the node, restarts them elsewhere, and comes back Ready", function()
    expect(vmi("web").status.nodeName).to_be("worker-1")
    expect(sim.reboot("worker-1")).to_be(true)
    expect(ready("worker-1")).to_be("False")
    expect(vmi("standalone").status.phase).to_be("Failed") -- no VM to restart it
    task.sleep(10)
    expect(vmi("web").status.phase).to_be("Running")
    expect(vmi("web").status.nodeName).to_be("worker-3") -- not the NotReady node
    task.sleep("5m")
    expect(ready("worker-1")).to_be("True")
    expect(cluster.get("Node", "worker-1").status.nodeInfo.bootID).to_match("^%x+$")
    expect(function() sim.reboot("worker-9") end).to_fail_with("not_found")
  end, { timeout = "10m" })
end)

describe("the ReplicaSet controller", function()
  local function pods()
    local out = {}
    for _, p in ipairs(cluster.pods({ namespace = "prod", selector = "app=cache" })) do
      if not p.metadata.deletionTimestamp then out[#out + 1] = p end
    end
    return out
  end

  it("keeps spec.replicas pods, placing new ones with the scheduler, Pending where none fits", function()
    cluster.create({ apiVersion = "apps/v1", kind = "ReplicaSet",
      metadata = { name = "cache-7f9c", namespace = "prod", labels = { app = "cache" } },
      spec = { replicas = 2, selector = { matchLabels = { app = "cache" } },
        template = { metadata = { labels = { app = "cache" } }, spec = { containers = { {
          name = "redis", image = "redis", resources = { requests = { cpu = "100m", memory = "256Mi" } } } } } } } })
    task.sleep(1)
    local now = pods()
    expect(#now).to_be(2)
    for _, p in ipairs(now) do
      expect(p.metadata.name).to_match("^cache%-7f9c%-%w%w%w%w%w$")
      expect(p.status.phase).to_be("Running")
      expect(p.spec.nodeName).to_be_a("string")
      expect(p.metadata.ownerReferences[1].kind).to_be("ReplicaSet")
    end
    -- an evicted pod comes back (elsewhere when its node is cordoned)
    local gone = now[1]
    node.cordon(gone.spec.nodeName)
    cluster.evict("prod", gone.metadata.name)
    task.sleep(40)
    expect(cluster.get("Pod", "prod", gone.metadata.name)).to_be_nil()
    local before = { [now[1].metadata.name] = true, [now[2].metadata.name] = true }
    now = pods()
    expect(#now).to_be(2)
    local new = 0
    for _, p in ipairs(now) do
      if not before[p.metadata.name] then
        new = new + 1
        expect(p.spec.nodeName).never.to_be(gone.spec.nodeName) -- its node is cordoned
      end
    end
    expect(new).to_be(1)
    node.uncordon(gone.spec.nodeName)
    -- no node has room: the new pod waits Pending, with the scheduler's reasons
    cluster.patch("rs", "prod", "cache-7f9c", { spec = { replicas = 3,
      template = { spec = { containers = { { name = "redis", image = "redis",
        resources = { requests = { memory = "10Ti" } } } } } } } }, { type = "merge" })
    task.sleep(1)
    local pending
    for _, p in ipairs(pods()) do if p.status.phase == "Pending" then pending = p end end
    expect(pending.spec.nodeName).to_be_nil()
    expect(pending.status.conditions[1].reason).to_be("Unschedulable")
    expect(pending.status.conditions[1].message).to_match("^0/%d+ nodes are available")
  end, { timeout = "5m" })
end)

describe("the status fields a real cluster's agents report", function()
  local function condition(obj, type)
    for _, c in ipairs(obj.status.conditions or {}) do
      if c.type == type then return c end
    end
  end
  local function node_ip(name)
    for _, a in ipairs(cluster.get("Node", name).status.addresses or {}) do
      if a.type == "InternalIP" then return a.address end
    end
  end
  -- the VMI's live virt-launcher pod (earlier cases left old ones of restarted VMs behind)
  local function live_launcher(name)
    local uid = vmi(name).metadata.uid
    for _, p in ipairs(cluster.pods({ namespace = "prod", selector = "kubevirt.io/created-by=" .. uid })) do
      if p.status.phase == "Running" and not p.metadata.deletionTimestamp then return p end
    end
  end

  it("gives a running virt-launcher pod an address of its own, its node's, and a ready container", function()
    local pod = live_launcher("db")
    expect(pod.status.podIP).to_match("^10%.1[23]%d%.%d+%.%d+$") -- the pod network 10.128.0.0/14
    expect(pod.status.podIPs).to_equal({ { ip = pod.status.podIP } })
    expect(node_ip(pod.spec.nodeName)).to_match("^10%.0%.%d+%.%d+$")
    expect(pod.status.hostIP).to_be(node_ip(pod.spec.nodeName))
    local c = pod.status.containerStatuses
    expect(#c).to_be(1)
    expect(c[1].name).to_be("compute")
    expect(c[1].image).to_be(pod.spec.containers[1].image)
    expect(c[1].ready).to_be(true)
    expect(c[1].started).to_be(true)
    expect(c[1].restartCount).to_be(0)
    expect(c[1].state.running.startedAt).to_match("^%d+%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$")
    local seen = {} -- no two live pods share an address
    for _, p in ipairs(cluster.pods()) do
      if p.status.phase == "Running" and p.status.podIP then
        expect(seen[p.status.podIP]).to_be_nil()
        seen[p.status.podIP] = true
      end
    end
  end)

  it("reports the VMI's pod-network interface with its virt-launcher pod's address", function()
    local i = vmi("db").status.interfaces
    expect(#i).to_be(1)
    expect(i[1].name).to_be("default") -- KubeVirt's default interface on the pod network
    expect(i[1].ipAddress).to_be(live_launcher("db").status.podIP)
    expect(i[1].ipAddresses).to_equal({ i[1].ipAddress })
    expect(i[1].mac).to_match("^52:54:00:%x%x:%x%x:%x%x$")
    expect(i[1].queueCount).to_be(1)
  end)

  it("shows a VM Ready while it runs, and not Ready once its guest shut down or it stopped", function()
    expect(vm("db").status.ready).to_be(true)
    expect(condition(vm("db"), "Ready").status).to_be("True")
    expect(condition(vm("db"), "LiveMigratable")).never.to_be_nil() -- the VMI's, copied
    expect(condition(vm("off"), "Ready")).to_equal({ type = "Ready", status = "False",
      reason = "VMINotExists", message = "VMI does not exist" })
    expect(vm("off").status.created).to_be(false)
    -- the guest shuts down (its pod deleted) and Manual does not start it again
    cluster.patch("vm", "prod", "db", { spec = { runStrategy = "Manual" } })
    cluster.delete("Pod", "prod", live_launcher("db").metadata.name)
    task.sleep(60)
    expect(vmi("db").status.phase).to_be("Succeeded")
    expect(vm("db").status.printableStatus).to_be("Stopped")
    expect(vm("db").status.ready).to_be(false)
    expect(vm("db").status.created).to_be(true)
    expect(condition(vm("db"), "Ready").status).to_be("False")
    expect(condition(vm("db"), "Ready").reason).to_be("PodTerminating")
    -- a running VM stopped: no VMI at all
    expect(condition(vm("web"), "Ready").status).to_be("True")
    cluster.patch("vm", "prod", "web", { spec = { runStrategy = "Halted" } })
    task.sleep(1)
    expect(vmi("web")).to_be_nil()
    expect(vm("web").status.ready).to_be(false)
    expect(condition(vm("web"), "Ready").reason).to_be("VMINotExists")
    expect(vm("web").status.created).to_be(false)
    task.sleep(60) -- its virt-launcher pod goes within its grace period
  end, { timeout = "5m" })

  it("counts a restart of a pod whose node rebooted under it", function()
    local pod
    for _, p in ipairs(cluster.pods({ namespace = "prod", selector = "app=cache" })) do
      if p.status.phase == "Running" and not p.metadata.deletionTimestamp then pod = p end
    end
    local node, name, ip = pod.spec.nodeName, pod.metadata.name, pod.status.podIP
    local started = pod.status.containerStatuses[1].state.running.startedAt
    -- back within its tolerationSeconds (300), so that the taint manager leaves it
    cluster.patch("Node", node, { metadata = { annotations = { ["sim.vmrun.io/reboot-seconds"] = "60" } } })
    sim.reboot(node)
    task.sleep(61)
    pod = cluster.get("Pod", "prod", name)
    local c = pod.status.containerStatuses[1]
    expect(c.restartCount).to_be(1)
    expect(c.ready).to_be(true)
    expect(c.lastState.terminated.reason).to_be("Unknown")
    expect(c.lastState.terminated.startedAt).to_be(started)
    expect(c.state.running.startedAt > started).to_be(true)
    expect(pod.status.podIP).to_be(ip) -- the same pod, with its address
  end, { timeout = "5m" })
end)
