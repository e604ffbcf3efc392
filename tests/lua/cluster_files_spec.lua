-- cluster_files_spec.lua: bad cluster files and bad objects (issue "Bad input"): every
-- malformed object, unknown or ill-typed sim.vmrun.io/ annotation, and reference to something
-- that does not exist is refused with the file, the line and the object, before anything runs;
-- the same checks refuse bad writes through the cluster API afterwards (docs/cluster-files.md).
local helpers = require("spec_helpers")

local NODE = [[
apiVersion: v1
kind: Node
metadata:
  name: worker-1
  annotations:
    sim.vmrun.io/nic-bandwidth: 3125M
status:
  allocatable: {cpu: "16", memory: 64Gi}
]]

-- A cluster file: the node above, then `extra` as the next document (its first line is line 10).
local function cluster_with(extra)
  return NODE .. "---\n" .. extra
end

local VMI = [[
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata:
  name: vm-a
  namespace: prod
  annotations: {%s}
spec:
  domain: {resources: {requests: {memory: %s}}}
  volumes: %s
status:
  nodeName: %s
]]

local function vmi(annotations, memory, volumes, node)
  return VMI:format(annotations or "", memory or "1Gi", volumes or "[]", node or "worker-1")
end

local cases = {
  { "an unknown sim annotation, with the closest known one",
    vmi("sim.vmrun.io/dirty-rte: 8Mi"),
    "VirtualMachineInstance prod/vm-a: metadata.annotations: unknown annotation "
      .. "sim.vmrun.io/dirty-rte (did you mean sim.vmrun.io/dirty-rate?)" },
  { "a quantity annotation that is not a quantity",
    vmi("sim.vmrun.io/dirty-rate: 8MB"),
    "annotation sim.vmrun.io/dirty-rate: '8MB' is not a quantity" },
  { "a seconds annotation that is not a number",
    vmi("sim.vmrun.io/pod-start-seconds: soon"),
    "annotation sim.vmrun.io/pod-start-seconds: 'soon' is not a number of seconds" },
  { "a negative number of seconds",
    vmi("sim.vmrun.io/shutdown-seconds: '-3'"),
    "'-3' is not a number of seconds" },
  { "a node annotation on a VMI",
    vmi("sim.vmrun.io/reboot-seconds: '60'"),
    "annotation sim.vmrun.io/reboot-seconds belongs on a Node" },
  { "a zero NIC bandwidth",
    "apiVersion: v1\nkind: Node\nmetadata:\n  name: worker-2\n  annotations: "
      .. "{sim.vmrun.io/nic-bandwidth: '0'}\n",
    "Node worker-2: metadata.annotations: annotation sim.vmrun.io/nic-bandwidth must be more "
      .. "than 0" },
  { "VMI facts on the VM instead of its template",
    "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata:\n  name: vm-b\n  namespace: "
      .. "prod\n  annotations: {sim.vmrun.io/dirty-rate: 8Mi}\nspec:\n  runStrategy: Halted\n"
      .. "  template: {spec: {domain: {}}}\n",
    "VirtualMachine prod/vm-b: metadata.annotations: annotation sim.vmrun.io/dirty-rate belongs "
      .. "on a VMI or a VM's spec.template.metadata.annotations" },
  { "a VM without a template",
    "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {name: vm-c, namespace: prod}\n"
      .. "spec: {runStrategy: Always}\n",
    "VirtualMachine prod/vm-c: spec.template is missing" },
  { "an unknown run strategy",
    "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {name: vm-d, namespace: prod}\n"
      .. "spec: {runStrategy: Sometimes, template: {spec: {domain: {}}}}\n",
    "spec.runStrategy 'Sometimes' is not one of Always, RerunOnFailure" },
  { "running and runStrategy together",
    "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {name: vm-e, namespace: prod}\n"
      .. "spec: {running: true, runStrategy: Always, template: {spec: {domain: {}}}}\n",
    "spec.running and spec.runStrategy are mutually exclusive" },
  { "a VMI without a domain",
    "apiVersion: kubevirt.io/v1\nkind: VirtualMachineInstance\nmetadata: {name: vm-f, "
      .. "namespace: prod}\nspec: {}\n",
    "VirtualMachineInstance prod/vm-f: spec.domain is missing" },
  { "a memory request that is not a quantity",
    vmi(nil, "4GB"),
    "spec.domain.resources.requests.memory: '4GB' is not a quantity" },
  { "a pod without containers",
    "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: prod}\nspec: {nodeName: "
      .. "worker-1}\n",
    "Pod prod/web: spec.containers is missing" },
  { "a container request that is not a quantity",
    "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: prod}\nspec:\n  containers:\n"
      .. "  - {name: app, resources: {requests: {cpu: lots}}}\n",
    "spec.containers[0].resources.requests.cpu: 'lots' is not a quantity" },
  { "a KubeVirt CR whose version does not read",
    "apiVersion: kubevirt.io/v1\nkind: KubeVirt\nmetadata: {name: kubevirt, namespace: kubevirt}\n"
      .. "spec: {configuration: {}}\nstatus: {observedKubeVirtVersion: banana}\n",
    "KubeVirt kubevirt/kubevirt: status.observedKubeVirtVersion: 'banana' is not a version" },
  { "a VMI on a node that does not exist, with the closest node",
    vmi(nil, nil, nil, "worker-l"),
    "VirtualMachineInstance prod/vm-a: status.nodeName 'worker-l' names no Node in the file "
      .. "(did you mean 'worker-1'?)" },
  { "a pod on a node that does not exist",
    "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: prod}\nspec: {nodeName: "
      .. "db-7, containers: [{name: app}]}\n",
    "Pod prod/web: spec.nodeName 'db-7' names no Node in the file" },
  { "a volume naming a claim that does not exist",
    vmi(nil, nil, "[{name: root, persistentVolumeClaim: {claimName: vm-a-root}}]"),
    "spec.volumes[0].persistentVolumeClaim.claimName 'vm-a-root' names no "
      .. "PersistentVolumeClaim in the file in namespace prod" },
  { "a claim naming a StorageClass that does not exist",
    "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data, namespace: prod}\n"
      .. "spec: {storageClassName: fast-rwx, accessModes: [ReadWriteMany]}\n",
    "PersistentVolumeClaim prod/data: spec.storageClassName 'fast-rwx' names no StorageClass" },
}

describe("a cluster file", function()
  after_each(function() expect(sim.source()).to_be(nil) end) -- nothing was loaded

  for i, case in ipairs(cases) do
    local what, text, message = case[1], case[2], case[3]
    it("is refused for " .. what .. ", naming the file, line and object", function()
      local dir, remove = helpers.tmpdir()
      local _ <close> = setmetatable({}, { __close = remove })
      local path = ("%s/case-%d.yaml"):format(dir, i)
      helpers.write_file(path, cluster_with(text))
      local err = expect(function() sim.load(path) end).to_fail_with("input")
      expect(err.message).to_contain(path .. ":10: ")
      expect(err.message).to_contain(message)
    end)
  end
end)

describe("a good cluster file", function()
  it("may refer to a DataVolume its VM creates from a template", function()
    local dir, remove = helpers.tmpdir()
    local _ <close> = setmetatable({}, { __close = remove })
    local path = dir .. "/templated.yaml"
    helpers.write_file(path, cluster_with(
      "apiVersion: kubevirt.io/v1\nkind: VirtualMachine\nmetadata: {name: vm-g, namespace: prod}\n"
      .. "spec:\n  runStrategy: Halted\n  dataVolumeTemplates: [{metadata: {name: vm-g-root}}]\n"
      .. "  template: {spec: {domain: {}, volumes: [{name: root, dataVolume: {name: vm-g-root}}]}}\n"))
    local counts = sim.load(path)
    expect(counts.VirtualMachine).to_be(1)
  end)

  it("refuses the same mistakes in later writes through the cluster API", function()
    local bad = cluster.get("Node", "worker-1")
    bad.metadata.annotations["sim.vmrun.io/reboot-seconds"] = "a while"
    expect(function() cluster.replace(bad) end)
      .to_fail_with("input", "annotation sim.vmrun.io/reboot%-seconds: 'a while' is not a number")
    expect(function()
      cluster.patch("Node", "worker-1", { metadata = { annotations = {
        ["sim.vmrun.io/nic-bandwith"] = "1G" } } })
    end).to_fail_with("input", "did you mean sim.vmrun.io/nic%-bandwidth%?")
    expect(cluster.get("Node", "worker-1").metadata.annotations).to_equal({
      ["sim.vmrun.io/nic-bandwidth"] = "3125M" })
  end)
end)

describe("a bad cluster file on the command line", function()
  it("exits with code 2 and one message naming the file, line and object", function()
    local dir, remove = helpers.tmpdir()
    local _ <close> = setmetatable({}, { __close = remove })
    helpers.write_file(dir .. "/c.yaml", cluster_with(vmi("sim.vmrun.io/dirty-rate: fast")))
    local r = helpers.vmrun({ "-e", ("sim.load(%q)"):format(dir .. "/c.yaml") })
    expect(r.status).to_be(2)
    expect(r.stderr).to_contain(dir .. "/c.yaml:10: VirtualMachineInstance prod/vm-a: "
      .. "metadata.annotations: annotation sim.vmrun.io/dirty-rate: 'fast' is not a quantity")
  end)
end)
