-- gen.lua: writes a deterministic Kubernetes-style List (Pods and VirtualMachineInstances) of about
-- SIZE_MB megabytes of compact JSON to stdout, for bench/json/run.sh.
-- Usage: lua5.4 bench/json/gen.lua [SIZE_MB]    (default 100)
-- The same SIZE_MB always gives the same bytes (fixed seed, no clock, no pairs() order). It only
-- writes to stdout; it needs no module beyond the Lua standard library.

local size_mb = tonumber(arg[1] or "100")
if not size_mb or size_mb <= 0 then
  io.stderr:write("usage: gen.lua [SIZE_MB]\n")
  os.exit(2)
end
local target = math.floor(size_mb * 1024 * 1024)

math.randomseed(20240501)
local rnd = math.random
local fmt = string.format

local function hex(n)
  local t = {}
  for i = 1, n do
    t[i] = fmt("%x", rnd(0, 15))
  end
  return table.concat(t)
end

local function uid()
  return hex(8) .. "-" .. hex(4) .. "-" .. hex(4) .. "-" .. hex(4) .. "-" .. hex(12)
end

local function ts()
  return fmt("2024-%02d-%02dT%02d:%02d:%02dZ", rnd(1, 12), rnd(1, 28), rnd(0, 23), rnd(0, 59),
    rnd(0, 59))
end

local function q(s) -- strings here never need escapes except where built explicitly
  return '"' .. s .. '"'
end

local nodes, zones = 64, { "eu-west-1a", "eu-west-1b", "eu-west-1c" }
local phases = { "Running", "Running", "Running", "Pending", "Succeeded", "Failed" }
local descriptions = { "database tier", "caf\u{e9} front end \u{2713}", "\u{65e5}\u{672c} batch",
  "plain worker" }

local function labels(i, app)
  return fmt('{"app":%s,"kubevirt.io/domain":"vm-%05d","kubevirt.io/nodeName":"worker-%02d",' ..
    '"topology.kubernetes.io/zone":%s,"tier":%s,"vm.kubevirt.io/template":"rhel9-server-medium",' ..
    '"vm.kubevirt.io/template.revision":"%d"}',
    q(app), i, i % nodes, q(zones[i % 3 + 1]), q(i % 2 == 0 and "backend" or "frontend"), rnd(1, 9))
end

-- kubectl's last-applied-configuration: JSON inside a string, so full of \" escapes
local function last_applied(i, kind)
  local inner = fmt('{"apiVersion":"kubevirt.io/v1","kind":"%s","metadata":{"annotations":{},' ..
    '"name":"vm-%05d","namespace":"ns-%02d"},"spec":{"running":true,"template":{"spec":' ..
    '{"domain":{"cpu":{"cores":%d},"memory":{"guest":"%dGi"}}}}}}\n', kind, i, i % 40,
    rnd(1, 8), rnd(1, 32))
  return (inner:gsub('"', '\\"'):gsub("\n", "\\n"))
end

local function metadata(i, kind, app, prefix)
  local parts = {
    fmt('"name":"%svm-%05d%s"', prefix, i, kind == "Pod" and ("-" .. hex(5)) or ""),
    fmt('"namespace":"ns-%02d"', i % 40),
    fmt('"uid":"%s"', uid()),
    fmt('"resourceVersion":"%d"', 100000000 + i * 37 + rnd(0, 30)),
    fmt('"generation":%d', rnd(1, 20)),
    fmt('"creationTimestamp":"%s"', ts()),
    '"labels":' .. labels(i, app),
  }
  local ann = {
    fmt('"kubevirt.io/latest-observed-api-version":"v1","kubevirt.io/storage-observed-api-version":' ..
      '"v1","vmrun.io/description":"%s"', descriptions[i % #descriptions + 1]),
  }
  if i % 3 == 0 then
    ann[#ann + 1] = fmt('"kubectl.kubernetes.io/last-applied-configuration":"%s"',
      last_applied(i, kind))
  end
  parts[#parts + 1] = '"annotations":{' .. table.concat(ann, ",") .. "}"
  if kind == "Pod" then
    parts[#parts + 1] = fmt('"generateName":"virt-launcher-vm-%05d-","ownerReferences":[{' ..
      '"apiVersion":"kubevirt.io/v1","kind":"VirtualMachineInstance","name":"vm-%05d",' ..
      '"uid":"%s","controller":true,"blockOwnerDeletion":true}]', i, i, uid())
  else
    parts[#parts + 1] = '"finalizers":["kubevirt.io/virtualMachineControllerFinalize",' ..
        '"foregroundDeleteVirtualMachine"]'
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

local function pod(i)
  local cpu, mem = rnd(1, 16), rnd(1, 64)
  local spec = fmt('{"containers":[{"name":"compute","image":"quay.io/kubevirt/virt-launcher:' ..
    'v1.2.%d","command":["/usr/bin/virt-launcher-monitor","--qemu-timeout","%ds","--name",' ..
    '"vm-%05d","--uid","%s","--namespace","ns-%02d"],"env":[{"name":"XDG_CACHE_HOME",' ..
    '"value":"/var/run/kubevirt-private"},{"name":"POD_NAME","valueFrom":{"fieldRef":' ..
    '{"apiVersion":"v1","fieldPath":"metadata.name"}}}],"resources":{"limits":{"cpu":"%d",' ..
    '"memory":"%dGi","devices.kubevirt.io/kvm":"1"},"requests":{"cpu":"%dm","memory":"%dMi",' ..
    '"ephemeral-storage":"50M"}},"ports":[{"containerPort":%d,"name":"http","protocol":"TCP"}],' ..
    '"securityContext":{"privileged":false,"runAsUser":107,"capabilities":{"add":' ..
    '["NET_BIND_SERVICE"],"drop":["ALL"]}},"volumeMounts":[{"mountPath":' ..
    '"/var/run/kubevirt-private","name":"private"},{"mountPath":"/var/run/kubevirt/container-disks",' ..
    '"name":"container-disks","readOnly":true}],"terminationMessagePolicy":"File"}],' ..
    '"nodeName":"worker-%02d","nodeSelector":{"kubevirt.io/schedulable":"true",' ..
    '"cpu-model.node.kubevirt.io/Skylake":"true"},"tolerations":[{"key":' ..
    '"node.kubernetes.io/not-ready","operator":"Exists","effect":"NoExecute",' ..
    '"tolerationSeconds":300},{"key":"node.kubernetes.io/unreachable","operator":"Exists",' ..
    '"effect":"NoExecute","tolerationSeconds":300}],"priority":0,"enableServiceLinks":false,' ..
    '"terminationGracePeriodSeconds":%d,"hostname":"vm-%05d","automountServiceAccountToken":' ..
    'false,"affinity":null,"volumes":[{"name":"private","emptyDir":{}},{"name":' ..
    '"container-disks","emptyDir":{}},{"name":"hotplug-disks","emptyDir":{}}]}',
    rnd(0, 9), rnd(200, 300), i, uid(), i % 40, cpu, mem, cpu * 100, mem * 1024, rnd(1024, 65535),
    i % nodes, rnd(30, 210), i)
  local phase = phases[i % #phases + 1]
  local status = fmt('{"phase":"%s","conditions":[{"type":"Initialized","status":"True",' ..
    '"lastProbeTime":null,"lastTransitionTime":"%s"},{"type":"Ready","status":"%s",' ..
    '"lastProbeTime":null,"lastTransitionTime":"%s"},{"type":"PodScheduled","status":"True",' ..
    '"lastProbeTime":null,"lastTransitionTime":"%s"}],"hostIP":"10.0.%d.%d","podIP":' ..
    '"10.128.%d.%d","podIPs":[{"ip":"10.128.%d.%d"}],"startTime":"%s","containerStatuses":' ..
    '[{"name":"compute","ready":%s,"restartCount":%d,"started":true,"state":{"running":' ..
    '{"startedAt":"%s"}},"image":"quay.io/kubevirt/virt-launcher:v1.2.0","imageID":' ..
    '"quay.io/kubevirt/virt-launcher@sha256:%s","containerID":"cri-o://%s"}],' ..
    '"qosClass":"Burstable"}',
    phase, ts(), phase == "Running" and "True" or "False", ts(), ts(), rnd(0, 255), rnd(1, 254),
    rnd(0, 255), rnd(1, 254), rnd(0, 255), rnd(1, 254), ts(), phase == "Running" and "true" or
    "false", rnd(0, 3), ts(), hex(64), hex(64))
  return fmt('{"apiVersion":"v1","kind":"Pod","metadata":%s,"spec":%s,"status":%s}',
    metadata(i, "Pod", "virt-launcher", "virt-launcher-"), spec, status)
end

local function vmi(i)
  local disks, volumes = {}, {}
  for d = 1, rnd(1, 4) do
    disks[d] = fmt('{"name":"disk%d","bootOrder":%d,"disk":{"bus":"virtio"},"cache":"none"}', d, d)
    volumes[d] = fmt('{"name":"disk%d","dataVolume":{"name":"vm-%05d-disk%d","hotpluggable":%s}}',
      d, i, d, d > 2 and "true" or "false")
  end
  local migrating = i % 5 == 0
  local spec = fmt('{"domain":{"cpu":{"cores":%d,"sockets":1,"threads":1,"model":' ..
    '"host-model","dedicatedCpuPlacement":false},"memory":{"guest":"%dGi"},"resources":' ..
    '{"requests":{"memory":"%dGi","cpu":"%dm"},"overcommitGuestOverhead":false},"machine":' ..
    '{"type":"pc-q35-rhel9.2.0"},"firmware":{"uuid":"%s","bootloader":{"efi":{"secureBoot":' ..
    'false}}},"features":{"acpi":{"enabled":true},"smm":{}},"devices":{"disks":[%s],' ..
    '"interfaces":[{"name":"default","masquerade":{},"model":"virtio","macAddress":' ..
    '"02:%s:%s:%s:%s:%s"}],"rng":{},"networkInterfaceMultiqueue":true}},"evictionStrategy":' ..
    '"LiveMigrate","networks":[{"name":"default","pod":{}}],"volumes":[%s],' ..
    '"terminationGracePeriodSeconds":180,"nodeSelector":null}',
    rnd(1, 16), rnd(1, 128), rnd(1, 128), rnd(100, 4000), uid(), table.concat(disks, ","),
    hex(2), hex(2), hex(2), hex(2), hex(2), table.concat(volumes, ","))
  local migration = "null"
  if migrating then
    migration = fmt('{"migrationUid":"%s","sourceNode":"worker-%02d","targetNode":"worker-%02d",' ..
      '"targetPod":"virt-launcher-vm-%05d-%s","startTimestamp":"%s","completed":false,' ..
      '"failed":false,"mode":"PreCopy","dataProcessedBytes":%d,"memoryRemainingBytes":%d,' ..
      '"dirtyRateMbps":%.3f,"progress":%.4f,"abortRequested":false}',
      uid(), i % nodes, (i + 7) % nodes, i, hex(5), ts(), rnd(0, 1 << 40), rnd(0, 1 << 34),
      rnd() * 500, rnd())
  end
  local status = fmt('{"phase":"%s","nodeName":"worker-%02d","conditions":[{"type":"Ready",' ..
    '"status":"True","lastProbeTime":null,"lastTransitionTime":"%s"},{"type":"LiveMigratable",' ..
    '"status":"True","lastProbeTime":null,"lastTransitionTime":null}],"interfaces":[{"name":' ..
    '"default","ipAddress":"10.128.%d.%d","ipAddresses":["10.128.%d.%d","fd02::%x"],"mac":' ..
    '"02:00:00:%s:%s:%s","infoSource":"domain, guest-agent","queueCount":%d}],' ..
    '"migrationMethod":"BlockMigration","migrationTransport":"Unix","migrationState":%s,' ..
    '"guestOSInfo":{"id":"rhel","name":"Red Hat Enterprise Linux","version":"9.%d",' ..
    '"kernelRelease":"5.14.0-%d.el9.x86_64"},"qosClass":"Burstable","activePods":{"%s":' ..
    '"worker-%02d"},"launcherContainerImageVersion":"quay.io/kubevirt/virt-launcher:v1.2.0",' ..
    '"memory":{"guestAtBoot":"%dGi","guestCurrent":"%dGi","guestRequested":"%dGi"},' ..
    '"currentCPUTopology":{"cores":%d,"sockets":1,"threads":1},"selinuxContext":"none",' ..
    '"virtualMachineRevisionName":"revision-start-vm-%s-%d"}',
    phases[i % 3 + 1], i % nodes, ts(), rnd(0, 255), rnd(1, 254), rnd(0, 255), rnd(1, 254),
    rnd(1, 65535), hex(2), hex(2), hex(2), rnd(1, 8), migration, rnd(0, 4), rnd(100, 400), uid(),
    i % nodes, rnd(1, 64), rnd(1, 64), rnd(1, 64), rnd(1, 16), uid(), rnd(1, 30))
  return fmt('{"apiVersion":"kubevirt.io/v1","kind":"VirtualMachineInstance","metadata":%s,' ..
    '"spec":%s,"status":%s}', metadata(i, "VirtualMachineInstance", "vm", ""), spec, status)
end

local out = io.stdout
local written = 0
local function emit(s)
  out:write(s)
  written = written + #s
end

emit('{"apiVersion":"v1","kind":"List","metadata":{"resourceVersion":"","continue":""},"items":[')
local i = 0
while written < target - 4096 do
  i = i + 1
  emit(i > 1 and "," or "")
  emit(i % 2 == 0 and pod(i) or vmi(i))
end
emit("]}\n")
