-- bench/api-efficiency/cluster.lua: the cluster of bench/api-efficiency/run.sh, as a cluster file
-- on stdout. KubeVirt v1.6.2 with a cluster-wide LiveMigrate eviction strategy and KubeVirt's
-- default limits (5 migrations per cluster, 2 outbound per node); worker w1 holds VMS VMs
-- (default 20; 2, 4 or 8 GiB, eviction strategy LiveMigrate, each loaded with its VMI Running on
-- w1) and a ReplicaSet pod with an emptyDir; workers w2 to w5 have room for all of them; every
-- node runs the virt-handler and node-exporter DaemonSet pods. Deterministic: no randomness.
--   vmrun -q bench/api-efficiency/cluster.lua [VMS] >cluster.yaml
local vms = math.tointeger(tonumber((...) or "20"))
if not vms or vms < 1 then
  io.stderr:write("usage: vmrun -q bench/api-efficiency/cluster.lua [VMS]\n")
  vmrun.exit(2)
end
local out = {}
local function add(s) out[#out + 1] = s end

add([[apiVersion: kubevirt.io/v1
kind: KubeVirt
metadata: {name: kubevirt, namespace: kubevirt}
spec:
  configuration:
    evictionStrategy: LiveMigrate
    migrations: {parallelMigrationsPerCluster: 5, parallelOutboundMigrationsPerNode: 2}
status: {observedKubeVirtVersion: v1.6.2}
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Namespace, metadata: {name: prod}}
- {apiVersion: v1, kind: Namespace, metadata: {name: kubevirt}}
- {apiVersion: v1, kind: Namespace, metadata: {name: monitoring}}]])
-- w1 holds every VM once; the others together hold them all again with room to spare
local per_vm_gib = 9 -- the largest VM plus its launcher overhead, rounded up
local w1_gib = math.max(64, vms * per_vm_gib)
local other_gib = math.max(64, (vms * per_vm_gib + 3) // 4 * 2)
local nodes = { { "cp1", 16, "control-plane" } }
for i = 1, 5 do nodes[#nodes + 1] = { "w" .. i, i == 1 and w1_gib or other_gib, "worker" } end
for _, n in ipairs(nodes) do
  local taints = n[3] == "control-plane"
      and ", spec: {taints: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]}" or ""
  add(("- {apiVersion: v1, kind: Node, metadata: {name: %s, labels: {node-role.kubernetes.io/%s: \"\"}}%s, "
    .. "status: {allocatable: {cpu: \"64\", memory: %dGi}}}"):format(n[1], n[3], taints, n[2]))
end
local uid = "9a1b2c3d-0000-4000-8000-%012d"
for d, ds in ipairs({ { "virt-handler", "kubevirt", "kubevirt.io: virt-handler" },
                      { "node-exporter", "monitoring", "app: node-exporter" } }) do
  local name, ns, label = ds[1], ds[2], ds[3]
  add(("- {apiVersion: apps/v1, kind: DaemonSet, metadata: {name: %s, namespace: %s, uid: %s}, "
    .. "spec: {selector: {matchLabels: {%s}}, template: {metadata: {labels: {%s}}, "
    .. "spec: {tolerations: [{operator: Exists}], containers: [{name: %s, image: %s}]}}}}")
    :format(name, ns, uid:format(d), label, label, name, name))
  for _, n in ipairs(nodes) do
    add(("- {apiVersion: v1, kind: Pod, metadata: {name: %s-%s, namespace: %s, labels: {%s}, "
      .. "ownerReferences: [{apiVersion: apps/v1, kind: DaemonSet, name: %s, uid: %s, controller: true}]}, "
      .. "spec: {nodeName: %s, tolerations: [{operator: Exists}], containers: [{name: %s, image: %s, "
      .. "resources: {requests: {cpu: 10m, memory: 64Mi}}}]}, status: {phase: Running}}")
      :format(name, n[1], ns, label, name, uid:format(d), n[1], name, name))
  end
end
-- a ReplicaSet of two web pods (w1 and w2), each with an emptyDir: kubectl needs
-- --delete-emptydir-data for it, and the ReplicaSet brings the evicted one back elsewhere
add(("- {apiVersion: apps/v1, kind: ReplicaSet, metadata: {name: web-5d4f, namespace: prod, uid: %s}, "
  .. "spec: {replicas: 2, selector: {matchLabels: {app: web}}, template: {metadata: {labels: {app: web}}, "
  .. "spec: {containers: [{name: web, image: nginx}], volumes: [{name: cache, emptyDir: {}}]}}}}"):format(uid:format(3)))
for i = 1, 2 do
  add(("- {apiVersion: v1, kind: Pod, metadata: {name: web-5d4f-%d, namespace: prod, labels: {app: web}, "
    .. "ownerReferences: [{apiVersion: apps/v1, kind: ReplicaSet, name: web-5d4f, uid: %s, controller: true}]}, "
    .. "spec: {nodeName: w%d, containers: [{name: web, image: nginx}], volumes: [{name: cache, emptyDir: {}}]}, "
    .. "status: {phase: Running}}"):format(i, uid:format(3), i))
end
for i = 1, vms do
  local mem = ({ 2, 4, 8, 4 })[(i - 1) % 4 + 1]
  local spec = ("{evictionStrategy: LiveMigrate, domain: {resources: {requests: {memory: %dGi}}}}"):format(mem)
  add(("- {apiVersion: kubevirt.io/v1, kind: VirtualMachine, metadata: {name: vm-%02d, namespace: prod}, "
    .. "spec: {runStrategy: Always, template: {spec: %s}}}"):format(i, spec))
  add(("- {apiVersion: kubevirt.io/v1, kind: VirtualMachineInstance, metadata: {name: vm-%02d, namespace: prod}, "
    .. "spec: %s, status: {nodeName: w1, phase: Running}}"):format(i, spec))
end
print(table.concat(out, "\n"))
