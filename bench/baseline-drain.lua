-- baseline-drain.lua: what an operator does with kubectl alone, node by node, as the baseline of
-- bench/rolling: for each worker in name order, `kubectl drain NODE --ignore-daemonsets
-- --delete-emptydir-data --force --timeout=1h` (cordon; evict every pod in parallel, re-sending
-- each eviction every 5 s while KubeVirt answers 429 and evacuates the VMs itself; wait until the
-- pods are gone), then reboot the node, wait until it is Ready again, and `kubectl uncordon`. A
-- drain that times out is given up (the node is still rebooted, as an operator in a hurry would).
-- No pre-flight, no ordering, no batches, no target steering. Prints nothing but the log.
--   vmrun --cluster FILE bench/baseline-drain.lua
cluster.settle()
local workers = {}
for _, n in ipairs(cluster.nodes()) do
  local labels = n.metadata.labels or {}
  if labels["node-role.kubernetes.io/control-plane"] == nil and labels["node-role.kubernetes.io/master"] == nil then
    workers[#workers + 1] = n.metadata.name
  end
end
table.sort(workers)

local function ready(name)
  local n = cluster.get("Node", name)
  for _, c in ipairs(n.status and n.status.conditions or {}) do
    if c.type == "Ready" then return c.status == "True", n.status.nodeInfo and n.status.nodeInfo.bootID end
  end
  return true, n.status and n.status.nodeInfo and n.status.nodeInfo.bootID
end

-- kubectl drain's eviction loop for one pod: 429 -> retry in 5 s; then wait until it is gone.
local function evict(pod, deadline)
  local ns, name, uid = pod.metadata.namespace, pod.metadata.name, pod.metadata.uid
  while time.now() < deadline do
    local ok, err = cluster.try_evict(ns, name)
    if ok or (err and err.kind == "not_found") then break end
    if err.status ~= 429 then return false end
    task.sleep(5)
    local p = cluster.get("Pod", ns, name)
    if p == nil or p.metadata.uid ~= uid then return true end
  end
  while time.now() < deadline do
    local p = cluster.get("Pod", ns, name)
    if p == nil or p.metadata.uid ~= uid then return true end
    task.sleep(1)
  end
  return false
end

for _, name in ipairs(workers) do
  log.info("kubectl drain " .. name)
  cluster.patch("Node", name, { spec = { unschedulable = true } }, { type = "merge" })
  local deadline = time.now() + 3600
  local jobs = {}
  for _, pod in ipairs(cluster.pods({ node = name })) do
    local owners = pod.metadata.ownerReferences or {}
    local daemon = false
    for _, o in ipairs(owners) do if o.kind == "DaemonSet" then daemon = true end end
    local mirror = (pod.metadata.annotations or {})["kubernetes.io/config.mirror"] ~= nil
    local phase = pod.status and pod.status.phase
    if not daemon and not mirror and phase ~= "Succeeded" and phase ~= "Failed" then
      jobs[#jobs + 1] = function() return evict(pod, deadline) end
    end
  end
  if #jobs > 0 then task.all(jobs) end
  local _, boot = ready(name)
  sim.reboot(name)
  task.sleep(1)
  while true do
    local ok, now = ready(name)
    if ok and now ~= boot then break end
    task.sleep(5)
  end
  cluster.patch("Node", name, { spec = { unschedulable = vmrun.null } }, { type = "merge" })
end
