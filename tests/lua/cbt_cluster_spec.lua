-- cbt_cluster_spec.lua: cbt.check_cluster, KubeVirt's own change tracking (reference
-- vmware-cbt.md §5.3, §8.3) on a simulated cluster written by the spec: the IncrementalBackup
-- feature gate, the changedBlockTrackingLabelSelectors, each chosen VM's
-- status.changedBlockTracking.state and its VirtualMachineBackupTracker checkpoint.
local helpers = require("spec_helpers")

local dir, remove_dir = helpers.tmpdir()
local function vm(ns, name, labels, state)
  return ([[
---
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: %s, namespace: %s, labels: %s}
spec:
  runStrategy: Halted
  template: {spec: {domain: {resources: {requests: {memory: 1Gi}}}}}
status: {changedBlockTracking: {state: %s}}
]]):format(name, ns, labels, state)
end
helpers.write_file(dir .. "/cluster.yaml", table.concat({ [[
apiVersion: v1
kind: Node
metadata: {name: worker-1}
status: {allocatable: {cpu: "8", memory: 32Gi}}
---
apiVersion: v1
kind: Namespace
metadata: {name: prod, labels: {backup: "on"}}
---
apiVersion: v1
kind: Namespace
metadata: {name: dev}
---
apiVersion: kubevirt.io/v1
kind: KubeVirt
metadata: {name: kubevirt, namespace: kubevirt}
spec:
  configuration:
    developerConfiguration: {featureGates: [IncrementalBackup]}
    changedBlockTrackingLabelSelectors:
      namespaceLabelSelector: {matchLabels: {backup: "on"}}
      virtualMachineLabelSelector:
        matchExpressions: [{key: tier, operator: In, values: [db, app]}]
---
apiVersion: backup.kubevirt.io/v1alpha1
kind: VirtualMachineBackupTracker
metadata: {name: db-tracker, namespace: prod}
spec: {source: {apiGroup: kubevirt.io, kind: VirtualMachine, name: db}}
status: {latestCheckpoint: {name: cp-1, creationTime: "2026-11-01T00:00:00Z"}}
]],
  vm("prod", "db", "{tier: db}", "Enabled"),
  vm("prod", "app", "{tier: app}", "PendingRestart"),
  vm("prod", "cache", "{tier: db}", "Enabled"),
  vm("prod", "web", "{tier: web}", "Disabled"),
  vm("dev", "db", "{tier: db}", "Disabled") }, ""))
sim.load(dir .. "/cluster.yaml")
remove_dir()

local function ids(report)
  local out = {}
  for _, f in ipairs(report.findings) do out[#out + 1] = f.id .. " " .. (f.vm or "-") end
  table.sort(out)
  return out
end

describe("cbt.check_cluster", function()
  it("checks the VMs the selectors choose: state Enabled, and a tracker checkpoint", function()
    local r = cbt.check_cluster()
    expect(r.feature_gate).to_be(true)
    expect(ids(r)).to_equal({ "KV-STATE prod/app", "KV-TRACKER prod/cache" })
    local chosen = {}
    for _, v in ipairs(r.vms) do if v.chosen then chosen[#chosen + 1] = v.vm end end
    table.sort(chosen)
    expect(chosen).to_equal({ "prod/app", "prod/cache", "prod/db" }) -- not dev/db, not prod/web
    for _, f in ipairs(r.findings) do
      if f.id == "KV-STATE" then expect(f.fix).to_contain("restart the VM") end
    end
  end)

  it("says when the feature gate is off or no VM is chosen", function()
    cluster.patch("kubevirt.io/KubeVirt", "kubevirt", "kubevirt", { spec = { configuration = {
      developerConfiguration = { featureGates = json.array() } } } }, { type = "merge" })
    local r = cbt.check_cluster()
    expect(r.feature_gate).to_be(false)
    expect(r.findings[1].id).to_be("KV-FG")
    expect(r.findings[1].message).to_contain("IncrementalBackup is off")
    cluster.patch("kubevirt.io/KubeVirt", "kubevirt", "kubevirt", { spec = { configuration = {
      developerConfiguration = { featureGates = { "IncrementalBackup" } },
      changedBlockTrackingLabelSelectors = json.null } } }, { type = "merge" })
    expect(ids(cbt.check_cluster())).to_equal({ "KV-FG -" })
  end)
end)
