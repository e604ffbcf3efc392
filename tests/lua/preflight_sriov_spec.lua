-- preflight_sriov_spec.lua: the SR-IOV rule, which depends on the KubeVirt version: before v0.56
-- (kubevirt/kubevirt#7990) a VM with an SR-IOV interface live-migrates only with the
-- SRIOVLiveMigration feature gate. A KubeVirt v0.53 cluster, with and then without the gate
-- missing; later versions only warn (preflight_spec.lua and the demo cluster's telco VM).
local helpers = require("spec_helpers")
local dir, remove_dir = helpers.tmpdir()
helpers.write_file(dir .. "/cluster.yaml", [[
apiVersion: kubevirt.io/v1
kind: KubeVirt
metadata: {name: kubevirt, namespace: kubevirt}
spec: {configuration: {evictionStrategy: LiveMigrate}}
status: {observedKubeVirtVersion: v0.53.2}
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Node, metadata: {name: w1}, status: {allocatable: {cpu: "16", memory: 64Gi}}}
- {apiVersion: v1, kind: Node, metadata: {name: w2}, status: {allocatable: {cpu: "16", memory: 64Gi}}}
- apiVersion: kubevirt.io/v1
  kind: VirtualMachine
  metadata: {name: vrouter, namespace: telco}
  spec:
    runStrategy: Always
    template:
      spec:
        domain:
          resources: {requests: {memory: 2Gi}}
          devices: {interfaces: [{name: default, masquerade: {}}, {name: fast, sriov: {}}]}
        networks: [{name: default, pod: {}}, {name: fast, multus: {networkName: sriov-net}}]
]])
sim.load(dir .. "/cluster.yaml")
remove_dir()
task.sleep(30)

describe("preflight on KubeVirt v0.53", function()
  it("refuses SR-IOV without the SRIOVLiveMigration feature gate, and passes it with the gate", function()
    local r = preflight.vm("telco/vrouter")
    expect(r.reasons).to_equal({ "InterfaceNotLiveMigratable" })
    expect(r.messages[1]).to_be("InterfaceNotLiveMigratable: SR-IOV interface fast needs the "
      .. "SRIOVLiveMigration feature gate on KubeVirt v0.53")
    expect(r.drain_action).to_be("block")
    cluster.patch("KubeVirt", "kubevirt", "kubevirt", { spec = { configuration = {
      developerConfiguration = { featureGates = { "SRIOVLiveMigration" } } } } }, { type = "merge" })
    r = preflight.vm("telco/vrouter")
    expect(r.migratable).to_be(true)
    expect(r.warnings[1]).to_contain("SR-IOV interface fast is unplugged for the migration")
  end)
end)
