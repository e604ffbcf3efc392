-- vmrun/node.lua: the `node` module: cordon and uncordon with ownership, taints and labels, on
-- top of the cluster module (so every backend works the same). vmrun marks the nodes it cordons
-- with the annotation vmrun.io/cordoned-by, and uncordons only those unless told otherwise, so a
-- node that someone else cordoned (for a broken disk, a hardware ticket) stays cordoned. Every
-- change is a patch with the node's resourceVersion as a precondition, read again and retried
-- when someone else changed the node meanwhile.
local cluster = require("vmrun.cluster")
local vmrun = require("vmrun")
local log = require("vmrun.log")
local time = require("vmrun.time")
local json = require("vmrun.json")
local task = require("vmrun.task")
local key_list = require("vmrun.keys")

local M = {}

M.OWNER_ANNOTATION = "vmrun.io/cordoned-by"
M.SINCE_ANNOTATION = "vmrun.io/cordoned-at"

local CONFLICT_RETRIES = 5

-- Raises kind "usage" at the playbook's line: for helpers called by the public functions
-- (check_options, check_name); public functions themselves call usage_here.
local function usage(fmt, ...) vmrun.error("usage", fmt:format(...), { level = 4 }) end
local function usage_here(fmt, ...) vmrun.error("usage", fmt:format(...), { level = 3 }) end

local function check_name(fname, name)
  if type(name) ~= "string" or name == "" then usage("node.%s: a node name is needed", fname) end
end

local function check_options(fname, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" then usage("node.%s: options must be a table", fname) end
  for key, value in pairs(opts) do
    local want = allowed[key]
    if want == nil then
      usage("node.%s: unknown option %s (%s)", fname, tostring(key), key_list(allowed))
    elseif type(value) ~= want then
      usage("node.%s: option %s must be a %s", fname, key, want)
    end
  end
  return opts
end

-- The Node, or a not_found error at the playbook's line.
-- level: of the playbook's line, counted from get_node's caller (update: 3; a public function: 2).
local function get_node(fname, name, level)
  local n = cluster.get("Node", name)
  if n == nil then
    vmrun.error("not_found", ("node.%s: no node %s"):format(fname, name),
      { level = 1 + (level or 3), resource = "Node " .. name })
  end
  return n
end

-- Reads the node, lets change(node) return a patch (or nil: nothing to do) and applies it with
-- the resourceVersion as precondition; on a conflict, reads again. Returns the patched node (or
-- the unchanged one) and whether it changed.
local function update(fname, name, change)
  for _ = 1, CONFLICT_RETRIES do
    local n = get_node(fname, name)
    local patch = change(n)
    if patch == nil then return n, false end
    patch.metadata = patch.metadata or {}
    patch.metadata.resourceVersion = n.metadata.resourceVersion
    local ok, result = pcall(cluster.patch, "Node", name, patch, { type = "merge" })
    if ok then return result, true end
    if not vmrun.is_error(result, "conflict") then
      result.message = ("node.%s %s: %s"):format(fname, name, result.message)
      error(result, 0)
    end
  end
  vmrun.error("conflict", ("node.%s %s: the node kept changing under %d attempts"):format(
    fname, name, CONFLICT_RETRIES), { level = 3, resource = "Node " .. name })
end

local function annotation(n, key)
  local a = n.metadata.annotations
  if a == nil or a == vmrun.null then return nil end
  local v = a[key]
  if v == vmrun.null then return nil end
  return v
end

--- node.cordon(name [, {owner=}]) -> {changed, owner}
-- Marks the node unschedulable and records vmrun (or owner) as the one who cordoned it.
-- Idempotent. A node already cordoned by someone else stays theirs: nothing changes and owner
-- says who (the annotation's value, or "someone else").
function M.cordon(name, opts)
  check_name("cordon", name)
  opts = check_options("cordon", opts, { owner = "string" })
  local owner = opts.owner or "vmrun"
  local who
  local _, changed = update("cordon", name, function(n)
    if n.spec and n.spec.unschedulable == true then
      who = annotation(n, M.OWNER_ANNOTATION) or "someone else"
      return nil
    end
    who = owner
    return { spec = { unschedulable = true }, metadata = { annotations = {
      [M.OWNER_ANNOTATION] = owner, [M.SINCE_ANNOTATION] = time.format() } } }
  end)
  if changed then log.info("cordoned " .. name, { node = name, owner = owner }) end
  return { changed = changed, owner = who }
end

--- node.uncordon(name [, {owner=, force=}]) -> {changed, owner}
-- Makes the node schedulable again if vmrun (or owner) cordoned it, and removes the marks. A
-- node that someone else cordoned stays cordoned (logged as a warning; owner says who) unless
-- force = true. Idempotent.
function M.uncordon(name, opts)
  check_name("uncordon", name)
  opts = check_options("uncordon", opts, { owner = "string", force = "boolean" })
  local owner = opts.owner or "vmrun"
  local who
  local _, changed = update("uncordon", name, function(n)
    local marked = annotation(n, M.OWNER_ANNOTATION)
    local cordoned = n.spec and n.spec.unschedulable == true
    who = marked or (cordoned and "someone else" or nil)
    if cordoned and marked ~= owner and not opts.force then return nil end
    if not cordoned and marked == nil then return nil end
    return { spec = { unschedulable = vmrun.null }, metadata = { annotations = {
      [M.OWNER_ANNOTATION] = vmrun.null, [M.SINCE_ANNOTATION] = vmrun.null } } }
  end)
  if changed then
    log.info("uncordoned " .. name, { node = name })
  elseif who ~= nil and who ~= owner then
    log.warn(("left %s cordoned: %s cordoned it (force = true to uncordon)"):format(name, who),
      { node = name, owner = who })
  end
  return { changed = changed, owner = who }
end

local EFFECTS = { NoSchedule = true, PreferNoSchedule = true, NoExecute = true }

--- node.taint(name, {key=, value=, effect=} [, {remove=}]) -> {changed}
-- Adds the taint (replacing one with the same key and effect), or removes it with remove = true.
function M.taint(name, taint, opts)
  check_name("taint", name)
  opts = check_options("taint", opts, { remove = "boolean" })
  if type(taint) ~= "table" or type(taint.key) ~= "string" or not EFFECTS[taint.effect] then
    usage_here("node.taint: the taint needs a key and an effect (NoSchedule, PreferNoSchedule, NoExecute)")
  end
  if taint.value ~= nil and type(taint.value) ~= "string" then
    usage_here("node.taint: the taint's value must be a string")
  end
  local _, changed = update("taint", name, function(n)
    local old = (n.spec and n.spec.taints ~= vmrun.null and n.spec.taints) or {}
    local new, found, same = {}, false, false
    for _, t in ipairs(old) do
      if t.key == taint.key and t.effect == taint.effect then
        found = true
        same = (t.value or "") == (taint.value or "")
      else
        new[#new + 1] = t
      end
    end
    if opts.remove then
      if not found then return nil end
    else
      if found and same then return nil end
      new[#new + 1] = { key = taint.key, value = taint.value, effect = taint.effect,
        timeAdded = taint.effect == "NoExecute" and time.format() or nil }
    end
    return { spec = { taints = json.array(new) } }
  end)
  return { changed = changed }
end

--- node.label(name, labels) -> {changed}
-- Sets labels (a string value) and removes them (false or vmrun.null).
function M.label(name, labels)
  check_name("label", name)
  if type(labels) ~= "table" or next(labels) == nil then
    usage_here("node.label: labels must be a table of name = value (false to remove)")
  end
  for k, v in pairs(labels) do
    if type(k) ~= "string" then usage_here("node.label: label names must be strings") end
    if v ~= false and v ~= vmrun.null and type(v) ~= "string" then
      usage_here("node.label: the value of %s must be a string, or false to remove it", k)
    end
  end
  local _, changed = update("label", name, function(n)
    local now = (n.metadata.labels ~= vmrun.null and n.metadata.labels) or {}
    local patch, any = {}, false
    for k, v in pairs(labels) do
      if v == false or v == vmrun.null then
        if now[k] ~= nil then patch[k], any = vmrun.null, true end
      elseif now[k] ~= v then
        patch[k], any = v, true
      end
    end
    if not any then return nil end
    return { metadata = { labels = patch } }
  end)
  return { changed = changed }
end

--- node.drain(name [, opts]) -> account — waits
-- Takes every pod off the node, VMs first: cordons it (owned, as node.cordon), migrates its
-- migratable VMs through the limit-aware queue, then evicts (or, with disable_eviction, deletes)
-- the other pods with kubectl drain's filters and retry loop. opts: ignore_daemonsets (default
-- true), delete_emptydir_data, force, grace_period, pod_selector, timeout,
-- skip_wait_for_delete_timeout, disable_eviction (kubectl's options), evict_finished (finished
-- pods stay unless it is set), owner (of the cordon),
-- queue (queue.new's options), priority (of the migrations), on_event(ev). Returns {node,
-- cordoned, vms = {{namespace, name, action, state, source, target, attempts, reason, ...}},
-- pods = {{namespace, name, action, reason, vm}}, warnings, seconds}. Raises kind
-- "drain_blocked" before changing anything when a VM or pod can never leave (with blockers),
-- "drain_failed" or "timeout" when the drain cannot finish (with blockers and the account; the
-- node stays cordoned), "not_found" for a missing node, "usage" for bad options.
function M.drain(name, opts)
  check_name("drain", name)
  local drain = require("vmrun.drain")
  opts = drain.options("node.drain", opts, 2)
  get_node("drain", name, 2)
  local account = drain.run(name, opts) -- not a tail call: errors blame the playbook's line
  return account
end

-- --- NodeMaintenance ----------------------------------------------------------------------------

local Maintenance = {}
Maintenance.__index = Maintenance
Maintenance.__name = "vmrun.NodeMaintenance"

local NM_KINDS = {
  medik8s = { api = "nodemaintenance.medik8s.io/v1beta1", kind = "nodemaintenance.medik8s.io/NodeMaintenance" },
  kubevirt = { api = "nodemaintenance.kubevirt.io/v1beta1", kind = "nodemaintenance.kubevirt.io/NodeMaintenance" },
}

--- node.maintenance(name, reason [, {api=, name=}]) -> vmrun.NodeMaintenance
-- Asks the Node Maintenance Operator to take the node out: creates a NodeMaintenance (api
-- "medik8s", the default, or the deprecated "kubevirt" group; named name, default
-- "vmrun-<node>"), which cordons, taints and drains the node. Returns a handle: m:status(),
-- m:wait{timeout=}, m:finish(). Raises kind "not_found" for a missing node, the create error as
-- the cluster reports it (the admission webhook's refusals: kind "input" or "already_exists").
function M.maintenance(name, reason, opts)
  check_name("maintenance", name)
  if type(reason) ~= "string" then usage_here("node.maintenance: a reason is needed") end
  opts = check_options("maintenance", opts, { api = "string", name = "string" })
  local api = NM_KINDS[opts.api or "medik8s"]
  if api == nil then usage_here("node.maintenance: api must be \"medik8s\" or \"kubevirt\"") end
  get_node("maintenance", name, 2)
  local cr = cluster.create({ apiVersion = api.api, kind = "NodeMaintenance",
    metadata = { name = opts.name or ("vmrun-" .. name),
      labels = { ["app.kubernetes.io/managed-by"] = "vmrun" } },
    spec = { nodeName = name, reason = reason } })
  log.info("node maintenance requested", { node = name, maintenance = cr.metadata.name })
  return setmetatable({ node = name, name = cr.metadata.name, kind = api.kind }, Maintenance)
end

--- m:status() -> {phase, drain_progress, pending_pods, last_error, total_pods, eviction_pods}
-- Raises kind "not_found" when the NodeMaintenance is gone.
function Maintenance:status()
  local cr = cluster.get(self.kind, self.name)
  if cr == nil then
    vmrun.error("not_found", ("node maintenance %s is gone"):format(self.name),
      { level = 2, resource = "NodeMaintenance " .. self.name })
  end
  local st = cr.status or {}
  local pending = {}
  for _, p in ipairs(st.pendingPods ~= vmrun.null and st.pendingPods or {}) do pending[#pending + 1] = p end
  return { phase = st.phase or "Pending", drain_progress = st.drainProgress,
    pending_pods = pending, last_error = st.lastError ~= vmrun.null and st.lastError or nil,
    total_pods = st.totalpods, eviction_pods = st.evictionPods }
end

--- m:wait([{timeout=}]) -> status — waits
-- Waits until the operator has drained the node (phase Succeeded) and returns the status.
-- Raises kind "maintenance_failed" (phase Failed, with lastError) and kind "timeout" when the
-- timeout passes first; both messages say what still blocks the drain (the pending pods and the
-- operator's last error), so a stuck drain never waits silently.
function Maintenance:wait(opts)
  if opts ~= nil and type(opts) ~= "table" then usage_here("m:wait: options must be a table (timeout)") end
  for k in pairs(opts or {}) do
    if k ~= "timeout" then usage_here("m:wait: unknown option %s (timeout)", tostring(k)) end
  end
  local deadline = opts and opts.timeout and time.now() + time.duration(opts.timeout)
  local resource = "NodeMaintenance " .. self.name
  while true do
    local st = self:status()
    if st.phase == "Succeeded" then return st end
    local blocking = ("pending pods: %s; last error: %s"):format(
      #st.pending_pods > 0 and table.concat(st.pending_pods, ", ") or "none",
      st.last_error or "none")
    -- Neither error ends the maintenance: the node stays cordoned and tainted until m:finish().
    local stays = ("; %s stays cordoned until m:finish()"):format(self.node)
    if st.phase == "Failed" then
      vmrun.error("maintenance_failed", ("node maintenance of %s failed: %s%s"):format(self.node,
        blocking, stays), { level = 2, resource = resource, reason = st.last_error })
    end
    if deadline and time.now() >= deadline then
      vmrun.error("timeout", ("node maintenance of %s not done after %s (%d%% drained): %s%s")
        :format(self.node, tostring(opts.timeout), st.drain_progress or 0, blocking, stays),
        { level = 2, resource = resource, pending_pods = st.pending_pods })
    end
    task.sleep(deadline and math.max(0.001, math.min(5, deadline - time.now())) or 5)
  end
end

--- m:finish([{wait=}]) -> boolean
-- Ends the maintenance: deletes the NodeMaintenance, and the operator removes its taints and
-- uncordons the node. With wait = true (the default), waits until the CR is gone. False when it
-- was gone already.
function Maintenance:finish(opts)
  opts = opts or {}
  local ok, err = pcall(cluster.delete, self.kind, self.name)
  if not ok then
    if vmrun.is_error(err, "not_found") then return false end
    error(err, 0)
  end
  if opts.wait ~= false then
    while cluster.get(self.kind, self.name) ~= nil do task.sleep(1) end
  end
  log.info("node maintenance ended", { node = self.node, maintenance = self.name })
  return true
end

return M
