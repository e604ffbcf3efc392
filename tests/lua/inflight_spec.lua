-- inflight_spec.lua: a cluster loaded in the middle of things (as a rehearsal copies a live
-- cluster, vmrun --rehearse): migrations in flight go on from their phase (KubeVirt's own
-- status.migrationState, or the simulator's target annotations; a missing target pod is made;
-- a Running one resumes as far as the model would have got; one whose target cannot be told
-- fails), finished ones stay, pods loaded Terminating go after their stop time and VMIs loaded
-- being deleted go. The cluster is written with timestamps a few seconds before the run's now.
local now = time.now()
local function ago(s) return (time.format(now - s):gsub("%.%d+Z$", "Z")) end
local cluster_yaml = ([[
apiVersion: kubevirt.io/v1
kind: KubeVirt
metadata: {name: kubevirt, namespace: kubevirt}
spec: {configuration: {migrations: {parallelMigrationsPerCluster: 5, parallelOutboundMigrationsPerNode: 2}}}
status: {observedKubeVirtVersion: v1.6.2}
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Node, metadata: {name: w1, annotations: {sim.vmrun.io/nic-bandwidth: 1250Mi}}, status: {allocatable: {cpu: "64", memory: 64Gi}}}
- {apiVersion: v1, kind: Node, metadata: {name: w2, annotations: {sim.vmrun.io/nic-bandwidth: 1250Mi}}, status: {allocatable: {cpu: "64", memory: 64Gi}}}
- {apiVersion: v1, kind: Node, metadata: {name: w3, annotations: {sim.vmrun.io/nic-bandwidth: 1250Mi}}, status: {allocatable: {cpu: "64", memory: 64Gi}}}
# Running for 2 s toward w2, as KubeVirt shows it: the VMI's migrationState, the labelled pod
- apiVersion: kubevirt.io/v1
  kind: VirtualMachineInstance
  metadata: {name: moving, namespace: prod, uid: vmi-moving-uid, annotations: {sim.vmrun.io/dirty-rate: "0", sim.vmrun.io/working-set: 64Mi}}
  spec: {domain: {resources: {requests: {memory: 4Gi}}}}
  status:
    nodeName: w1
    phase: Running
    migrationState: {migrationUid: vmim-moving-uid, sourceNode: w1, targetNode: w2, targetPod: virt-launcher-moving-tgt, startTimestamp: "%s"}
- apiVersion: v1
  kind: Pod
  metadata:
    name: virt-launcher-moving-tgt
    namespace: prod
    labels: {kubevirt.io: virt-launcher, kubevirt.io/created-by: vmi-moving-uid, kubevirt.io/migrationJobUID: vmim-moving-uid}
    annotations: {kubevirt.io/domain: moving}
  spec: {nodeName: w2, containers: [{name: compute, image: virt-launcher}]}
  status: {phase: Running}
- apiVersion: kubevirt.io/v1
  kind: VirtualMachineInstanceMigration
  metadata: {name: mig-moving, namespace: prod, uid: vmim-moving-uid}
  spec: {vmiName: moving}
  status: {phase: Running, phaseTransitionTimestamps: [{phase: Running, phaseTransitionTimestamp: "%s"}]}
# in the handoff toward w3, as the simulator records it, without its target pod
- apiVersion: kubevirt.io/v1
  kind: VirtualMachineInstance
  metadata: {name: handing, namespace: prod, annotations: {sim.vmrun.io/dirty-rate: "0", sim.vmrun.io/working-set: 64Mi}}
  spec: {domain: {resources: {requests: {memory: 4Gi}}}}
  status: {nodeName: w1, phase: Running}
- apiVersion: kubevirt.io/v1
  kind: VirtualMachineInstanceMigration
  metadata: {name: mig-handing, namespace: prod, annotations: {sim.vmrun.io/target-node: w3, sim.vmrun.io/target-pod: gone-pod}}
  spec: {vmiName: handing}
  status: {phase: PreparingTarget}
# Running, with nothing that says where to
- apiVersion: kubevirt.io/v1
  kind: VirtualMachineInstance
  metadata: {name: lost, namespace: prod}
  spec: {domain: {resources: {requests: {memory: 1Gi}}}}
  status: {nodeName: w2, phase: Running}
- apiVersion: kubevirt.io/v1
  kind: VirtualMachineInstanceMigration
  metadata: {name: mig-lost, namespace: prod}
  spec: {vmiName: lost}
  status: {phase: Running}
# finished before the copy
- apiVersion: kubevirt.io/v1
  kind: VirtualMachineInstanceMigration
  metadata: {name: mig-done, namespace: prod}
  spec: {vmiName: lost}
  status: {phase: Succeeded}
# deletions in flight
- apiVersion: v1
  kind: Pod
  metadata: {name: going, namespace: prod, deletionTimestamp: "%s", deletionGracePeriodSeconds: 30, annotations: {sim.vmrun.io/stop-seconds: "5"}}
  spec: {nodeName: w3, containers: [{name: app, image: app}]}
  status: {phase: Running}
- apiVersion: kubevirt.io/v1
  kind: VirtualMachineInstance
  metadata: {name: stopping, namespace: prod, deletionTimestamp: "%s", finalizers: [kubevirt.io/virtualMachineControllerFinalize]}
  spec: {domain: {resources: {requests: {memory: 1Gi}}}}
  status: {nodeName: w3, phase: Running}
]]):format(ago(2), ago(2), ago(1), ago(1))
local path = os.tmpname()
do
  local f = assert(io.open(path, "w"))
  f:write(cluster_yaml)
  f:close()
end
sim.load(path)
os.remove(path)

local function vmim(name) return cluster.get("vmim", "prod", name) end
local function wait_final(name)
  for _ = 1, 600 do
    local m = vmim(name)
    if m.status.phase == "Succeeded" or m.status.phase == "Failed" then return m end
    task.sleep(0.5)
  end
  error(name .. " did not finish")
end

describe("a cluster loaded in flight", function()
  it("a Running one (KubeVirt's migrationState) goes on where the model would be by now", function()
    local t0 = time.now()
    expect(vmim("mig-moving").status.phase).to_be("Running")
    local m = wait_final("mig-moving")
    expect(m.status.phase).to_be("Succeeded")
    -- 4Gi at 10 Gbit/s is ~3.3 s of copying, 2 s of it done before the load
    expect(time.now() - t0 < 2.5).to_be(true)
    local v = cluster.get("vmi", "prod", "moving")
    expect(v.status.nodeName).to_be("w2")
    expect(v.status.migrationState.completed).to_be(true)
    expect(v.status.migrationState.startTimestamp).to_be(ago(2))
    expect(m.metadata.annotations["sim.vmrun.io/target-pod"]).to_be("virt-launcher-moving-tgt")
    expect(cluster.get("Pod", "prod", "virt-launcher-moving-tgt").status.phase).to_be("Running")
  end)

  it("(meanwhile) a Terminating pod goes after its stop time, a VMI being deleted goes", function()
    expect(time.now() - now < 5).to_be(true)
    expect(cluster.get("Pod", "prod", "going").metadata.deletionTimestamp).to_be(ago(1))
    expect(cluster.get("vmi", "prod", "stopping")).to_be_nil()
    task.sleep(5 - (time.now() - now))
    expect(cluster.get("Pod", "prod", "going")).to_be_nil()
  end)

  it("one in the handoff gets its missing target pod and finishes", function()
    local m = wait_final("mig-handing")
    expect(m.status.phase).to_be("Succeeded")
    expect(cluster.get("vmi", "prod", "handing").status.nodeName).to_be("w3")
    local pod = m.metadata.annotations["sim.vmrun.io/target-pod"]
    expect(pod).never.to_be("gone-pod")
    expect(cluster.get("Pod", "prod", pod).spec.nodeName).to_be("w3")
  end)

  it("one whose target cannot be told fails with that reason; a finished one stays", function()
    local m = vmim("mig-lost")
    expect(m.status.phase).to_be("Failed")
    expect(m.status.conditions[1].message).to_match("no target node")
    expect(cluster.get("vmi", "prod", "lost").status.nodeName).to_be("w2")
    expect(vmim("mig-done").status.phase).to_be("Succeeded")
  end)
end)
