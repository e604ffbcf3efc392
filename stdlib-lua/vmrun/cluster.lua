-- vmrun/cluster.lua: the `cluster` module: the raw resource API of vmrun.cluster.core (get,
-- get_field, list, count, names, requests_by_node, create, replace, patch, delete, evict,
-- try_evict, watch, revision; bindings/cluster_core.c)
-- plus the typed queries playbooks use (nodes, vmis, vms, pods, pvcs, pdbs, migrations) and
-- migration_limits, the effective KubeVirt migration settings with where each comes from. It
-- reads everything through the core functions, so it works the same on every cluster backend.
-- Nothing here writes to the cluster.
local core = require("vmrun.cluster.core")
local migconfig = require("vmrun.migconfig")
local vmrun = require("vmrun")
local time = require("vmrun.time")

local M = {}
for name, fn in pairs(core) do M[name] = fn end

-- Raises kind "usage" at the playbook's line (level 3: the caller of the public function).
local function usage(fmt, ...)
  vmrun.error("usage", fmt:format(...), { level = 3 })
end

-- A query over cluster.list: checks the option names and types, then lists kind.
local function query(fname, kind, allowed)
  local list_text = require("vmrun.keys")(allowed)
  return function(opts)
    if opts == nil then return core.list(kind) end
    if type(opts) ~= "table" then usage("cluster.%s: options must be a table (%s)", fname, list_text) end
    local pass = {}
    for key, value in pairs(opts) do
      local want = allowed[key]
      if want == nil then
        usage("cluster.%s: unknown option %s (%s)", fname, tostring(key), list_text)
      elseif type(value) ~= want then
        usage("cluster.%s: option %s must be a %s, not a %s", fname, key, want, type(value))
      end
      pass[key] = value
    end
    return core.list(kind, pass)
  end
end

local NAMESPACED = { namespace = "string", selector = "string", field = "string" }
local WITH_NODE = { namespace = "string", selector = "string", field = "string", node = "string" }

--- cluster.nodes([{selector=, field=}]) -> Node objects, sorted by name
M.nodes = query("nodes", "Node", { selector = "string", field = "string" })
--- cluster.vmis([{node=, namespace=, selector=, field=}]) -> VirtualMachineInstance objects
M.vmis = query("vmis", "VirtualMachineInstance", WITH_NODE)
--- cluster.vms([{namespace=, selector=, field=}]) -> VirtualMachine objects
M.vms = query("vms", "VirtualMachine", NAMESPACED)
--- cluster.pods([{node=, namespace=, selector=, field=}]) -> Pod objects
M.pods = query("pods", "Pod", WITH_NODE)
--- cluster.pvcs([{namespace=, selector=, field=}]) -> PersistentVolumeClaim objects
M.pvcs = query("pvcs", "PersistentVolumeClaim", NAMESPACED)
--- cluster.pdbs([{namespace=, selector=, field=}]) -> PodDisruptionBudget objects
M.pdbs = query("pdbs", "PodDisruptionBudget", NAMESPACED)

local list_migrations = query("migrations", "VirtualMachineInstanceMigration", NAMESPACED)
local FINAL_PHASES = { Succeeded = true, Failed = true }

--- cluster.migrations([{namespace=, selector=, field=, vmi=, active=}]) -> VMIM objects
-- vmi: only those of that VMI (spec.vmiName); active = true: only those not yet Succeeded or
-- Failed (the ones that hold or wait for a migration slot).
function M.migrations(opts)
  if opts ~= nil and type(opts) ~= "table" then
    usage("cluster.migrations: options must be a table (active, field, namespace, selector, vmi)")
  end
  local vmi, active, rest = nil, nil, nil
  if opts then
    rest = {}
    for k, v in pairs(opts) do
      if k == "vmi" then
        if type(v) ~= "string" then usage("cluster.migrations: option vmi must be a string") end
        vmi = v
      elseif k == "active" then
        if type(v) ~= "boolean" then usage("cluster.migrations: option active must be a boolean") end
        active = v
      else
        rest[k] = v
      end
    end
  end
  -- the cluster filters (field selectors), so that the finished VMIMs a busy cluster keeps are
  -- not all read into Lua on each call; the Lua test below stays the reference
  if vmi ~= nil or active == true then
    rest = rest or {}
    local terms = { rest.field }
    if vmi ~= nil and not vmi:find("[,=\\!]") then terms[#terms + 1] = "spec.vmiName=" .. vmi end
    if active == true then terms[#terms + 1] = "status.phase!=Succeeded,status.phase!=Failed" end
    rest.field = table.concat(terms, ",")
  end
  local ok, items = pcall(list_migrations, rest)
  if not ok then
    items.message = items.message:gsub("%(field, namespace, selector%)",
      "(active, field, namespace, selector, vmi)")
    error(items, 0)
  end
  if vmi == nil and active == nil then return items end
  local out = {}
  for _, m in ipairs(items) do
    local phase = m.status and m.status.phase
    if (vmi == nil or (m.spec and m.spec.vmiName == vmi))
        and (active == nil or active == not FINAL_PHASES[phase]) then
      out[#out + 1] = m
    end
  end
  return out
end

-- The objects of kind; none when the cluster does not serve that kind (no HyperConverged CRD,
-- say). Any other error is raised: limits computed from defaults because a read failed would
-- be wrong without saying so.
local function all(kind)
  local ok, items = pcall(core.list, kind)
  if ok then return items end
  if vmrun.is_error(items, "not_found") then return {} end
  error(items, 0)
end

--- cluster.migration_limits([vmi]) -> settings
-- The effective live-migration settings, each {value=, source=} (value vmrun.null when unset):
-- parallelMigrationsPerCluster, parallelOutboundMigrationsPerNode, bandwidthPerMigration
-- (bytes/s, 0 = unlimited), completionTimeoutPerGiB, progressTimeout, allowAutoConverge,
-- allowPostCopy, allowWorkloadDisruption, evictionStrategy, ... plus kubevirtVersion and
-- hyperConvergedVersion (whose defaults applied) and, with a VMI (an object, or {namespace,
-- name}), migrationPolicy: the MigrationPolicy that VMI migrates under, and its own eviction
-- strategy. Read from the KubeVirt CR, the HyperConverged CR (v1beta1 or v1) and the
-- MigrationPolicies; defaults follow their versions. Raises kind "input" when a CR does not read
-- (naming the object and field), "not_found" for a VMI that does not exist.
-- Settings computed earlier, kept while none of the objects they come from changed: a run asks
-- for them per VMI many times, and each computation reads the CRs and policies whole.
-- label_keys: the VMI label names the MigrationPolicies select on, sorted (false: a policy's
-- selector is not a map of strings, which the computation reports).
local settings_cache = { revisions = nil, by_key = {}, label_keys = false }

local function policy_label_keys()
  local keys, seen = {}, {}
  for _, p in ipairs(all("MigrationPolicy")) do
    local spec = type(p) == "table" and p.spec
    local selectors = type(spec) == "table" and spec.selectors
    local sel = type(selectors) == "table" and selectors.virtualMachineInstanceSelector
    if sel ~= nil and sel ~= vmrun.null then
      if type(sel) ~= "table" then return false end
      for k, v in pairs(sel) do
        if type(k) ~= "string" or type(v) ~= "string" then return false end
        if not seen[k] then seen[k] = true keys[#keys + 1] = k end
      end
    end
  end
  table.sort(keys)
  return keys
end

local function refresh_settings_cache()
  local revisions = core.revision("KubeVirt") .. "/" .. core.revision("HyperConverged") .. "/"
    .. core.revision("MigrationPolicy") .. "/" .. core.revision("Namespace")
  if settings_cache.revisions ~= revisions then
    settings_cache = { revisions = revisions, by_key = {}, label_keys = policy_label_keys() }
  end
end

-- What decides a VMI's settings besides the cluster's objects, as a string: its kind, namespace
-- and eviction strategy, whether it has labels (KubeVirt matches every policy against a VMI
-- without), and the values of the labels the policies select on. nil when it cannot be told in
-- one (labels or a strategy of the wrong type), which the computation itself reports.
local function vmi_settings_key(vmi)
  local md, spec = vmi.metadata, vmi.spec
  -- only the shapes the computation takes without complaint: the others it reports, each time
  if spec ~= nil and type(spec) ~= "table" then return nil end
  if vmi.kind == "VirtualMachine" then
    local template = spec and spec.template
    if template ~= nil and type(template) ~= "table" then return nil end
    spec = template and template.spec
    if spec ~= nil and type(spec) ~= "table" then return nil end
  end
  if type(md) ~= "table" or type(md.namespace) ~= "string" then return nil end
  local labels = md.labels
  local strategy = type(spec) == "table" and spec.evictionStrategy or nil
  if strategy == vmrun.null then strategy = nil end
  if labels == vmrun.null then labels = nil end
  if (labels ~= nil and type(labels) ~= "table") or (strategy ~= nil and type(strategy) ~= "string") then
    return nil
  end
  local keys = settings_cache.label_keys
  if not keys then return nil end
  for k, v in pairs(labels or {}) do
    if type(k) ~= "string" or type(v) ~= "string" then return nil end
  end
  local parts = { tostring(vmi.kind), md.namespace, strategy or "", labels and "labels" or "none" }
  for _, k in ipairs(keys) do parts[#parts + 1] = labels and labels[k] or "\2" end
  return table.concat(parts, "\1")
end

local function copy_settings(t)
  local out = {}
  for k, v in pairs(t) do
    if type(v) == "table" then
      local c = {}
      for k2, v2 in pairs(v) do c[k2] = v2 end
      out[k] = c
    else
      out[k] = v
    end
  end
  return out
end

local function cached_settings(key, compute, shared)
  local kept = settings_cache.by_key[key]
  if kept == nil then
    kept = compute()
    settings_cache.by_key[key] = kept
  end
  if shared then return kept end
  return copy_settings(kept) -- callers may change theirs
end

local function migration_limits(vmi, shared)
  refresh_settings_cache()
  if vmi == nil then
    return cached_settings("", function()
      return migconfig.effective(all("KubeVirt")[1], all("HyperConverged")[1], nil, nil, nil)
    end, shared)
  end
  if type(vmi) ~= "table" then
    usage("cluster.migration_limits: vmi must be a VMI object or {namespace, name}")
  end
  if vmi.metadata == nil then
    local ns, name = vmi.namespace or vmi[1], vmi.name or vmi[2]
    if type(ns) ~= "string" or type(name) ~= "string" then
      usage("cluster.migration_limits: vmi must be a VMI object or {namespace, name}")
    end
    local found = core.get("VirtualMachineInstance", ns, name)
    if found == nil then
      vmrun.error("not_found", ("cluster.migration_limits: no VirtualMachineInstance %s/%s")
        :format(ns, name), { level = 2, resource = "VirtualMachineInstance " .. ns .. "/" .. name })
    end
    vmi = found
  end
  local function compute()
    local ns = vmi.metadata.namespace and core.get("Namespace", vmi.metadata.namespace) or nil
    return migconfig.effective(all("KubeVirt")[1], all("HyperConverged")[1], all("MigrationPolicy"), vmi, ns)
  end
  local key = vmi_settings_key(vmi)
  if key == nil then return compute() end
  return cached_settings(key, compute, shared)
end

function M.migration_limits(vmi) return migration_limits(vmi, false) end

-- The stdlib's own read of cluster.migration_limits(vmi): the kept table itself, not a copy (the
-- migration model asks for every VM of a run); read it, never change it. Not for playbooks.
function M._migration_limits_shared(vmi) return migration_limits(vmi, true) end

-- --- live migrations --------------------------------------------------------------------------

local Migration = {}
Migration.__index = Migration
Migration.__name = "vmrun.Migration"

local VMIM = "VirtualMachineInstanceMigration"

-- {namespace, name} of a VMI given as an object, {namespace, name} or "namespace/name".
local function vmi_ref(fname, vmi)
  if type(vmi) == "string" then
    local ns, name = vmi:match("^([^/]+)/([^/]+)$")
    if ns then return ns, name end
  elseif type(vmi) == "table" then
    if type(vmi.metadata) == "table" then return vmi.metadata.namespace, vmi.metadata.name end
    local ns, name = vmi.namespace or vmi[1], vmi.name or vmi[2]
    if type(ns) == "string" and type(name) == "string" then return ns, name end
  end
  usage("%s: the VMI must be an object, {namespace, name} or \"namespace/name\"", fname)
end

--- cluster.migrate(vmi [, {added_node_selector=, name=}]) -> vmrun.Migration
-- Creates a VirtualMachineInstanceMigration for a running VMI (optionally with
-- spec.addedNodeSelector, labels the target node must have) and returns its handle. Raises kind
-- "not_found" when the VMI does not exist, "input" when it is not running, "usage" for bad
-- options; a create error (already_exists, ...) as the cluster reports it.
function M.migrate(vmi, opts)
  local ns, name = vmi_ref("cluster.migrate", vmi)
  if opts ~= nil and type(opts) ~= "table" then
    usage("cluster.migrate: options must be a table (added_node_selector, name)")
  end
  opts = opts or {}
  for key, value in pairs(opts) do
    if key == "added_node_selector" then
      if type(value) ~= "table" then usage("cluster.migrate: added_node_selector must be a table") end
      for k, v in pairs(value) do
        if type(k) ~= "string" or type(v) ~= "string" then
          usage("cluster.migrate: added_node_selector must map label names to strings")
        end
      end
    elseif key == "name" then
      if type(value) ~= "string" then usage("cluster.migrate: name must be a string") end
    else
      usage("cluster.migrate: unknown option %s (added_node_selector, name)", tostring(key))
    end
  end
  -- two fields, not the whole VMI: a drain's queue starts many migrations
  local resource = "VirtualMachineInstance " .. ns .. "/" .. name
  if core.get_field("VirtualMachineInstance", ns, name, "metadata.name") == nil then
    vmrun.error("not_found", ("cluster.migrate: no VirtualMachineInstance %s/%s"):format(ns, name),
      { level = 2, resource = resource })
  end
  local phase = core.get_field("VirtualMachineInstance", ns, name, "status.phase")
  if phase == vmrun.null then phase = nil end
  if phase ~= "Running" then
    vmrun.error("input", ("cluster.migrate: %s/%s is %s, not Running"):format(ns, name,
      tostring(phase or "without a phase")), { level = 2, resource = resource })
  end
  local object = {
    apiVersion = "kubevirt.io/v1", kind = VMIM,
    metadata = { namespace = ns, labels = { ["app.kubernetes.io/managed-by"] = "vmrun" } },
    spec = { vmiName = name, addedNodeSelector = opts.added_node_selector },
  }
  if opts.name then object.metadata.name = opts.name else object.metadata.generateName = name .. "-vmrun-" end
  local created = core.create(object)
  return setmetatable({ namespace = ns, name = created.metadata.name, vmi = name,
    created_at = time.now(), samples = {} }, Migration)
end

-- What cluster.settle waits for, as field selectors: VMs that should run and are Starting or have
-- no status yet, and VMIs that have not reached Running (no phase yet, Pending, Scheduling,
-- Scheduled). Counted where the objects are: a settle of a large cluster polls often. Starting
-- VMs first: while VMs start, most polls end at the first look (cluster.count with limit = 1
-- looks first where it found one the last time), and only a look that finds nothing goes through
-- every object of its kind.
local SHOULD_RUN = ",spec.runStrategy!=Halted,spec.runStrategy!=Manual,spec.running!=false"
local SETTLE_WAITS_FOR = {
  { "VirtualMachine", "status.printableStatus=Starting" .. SHOULD_RUN },
  { "VirtualMachine", "status.printableStatus=" .. SHOULD_RUN },
  { "VirtualMachineInstance", "status.phase=" },
  { "VirtualMachineInstance", "status.phase=Pending" },
  { "VirtualMachineInstance", "status.phase=Scheduling" },
  { "VirtualMachineInstance", "status.phase=Scheduled" },
}

-- Whether anything is still starting (the first object found ends the look).
local function any_starting()
  for _, w in ipairs(SETTLE_WAITS_FOR) do
    if core.count(w[1], { field = w[2], limit = 1 }) > 0 then return true end
  end
  return false
end

-- Their names, "namespace/name" (for the timeout's message).
local function starting_names()
  local out = {}
  for _, w in ipairs(SETTLE_WAITS_FOR) do
    for _, o in ipairs(core.list(w[1], { field = w[2] })) do
      out[#out + 1] = o.metadata.namespace .. "/" .. o.metadata.name
    end
  end
  return out
end

--- cluster.settle([{timeout=}]) -> seconds — waits
-- Waits until the cluster is quiet: no VirtualMachine that should run is still starting (printable
-- status Starting, or none yet) and no VMI is scheduling or pending. A cluster just loaded into the
-- simulator starts its VMs during the first simulated minute or so; playbooks call this before
-- they plan. Returns the seconds waited; raises kind "timeout" (default 10 minutes) naming what
-- is still starting.
function M.settle(opts)
  if opts ~= nil and type(opts) ~= "table" then usage("cluster.settle: options must be a table (timeout)") end
  for k in pairs(opts or {}) do
    if k ~= "timeout" then usage("cluster.settle: unknown option %s (timeout)", tostring(k)) end
  end
  local limit = time.duration(opts and opts.timeout or 600)
  local started = time.now()
  local task = require("vmrun.task")
  task.sleep(0.001) -- let the cluster's controllers see what was just loaded
  while true do
    if not any_starting() then return time.now() - started end
    if time.now() - started >= limit then
      local starting = starting_names()
      table.sort(starting)
      vmrun.error("timeout", ("cluster.settle: still starting after %.0f s: %s"):format(limit,
        table.concat(starting, ", ", 1, math.min(#starting, 10))), { level = 2 })
    end
    task.sleep(2)
  end
end

local NOT_STARTED = { Pending = true, Scheduling = true, Scheduled = true, PreparingTarget = true,
  TargetReady = true }

--- cluster.evacuate_cancel(vmi [, {node=, delete_pending=}]) -> {cancelled, node, deleted, running}
-- Stops KubeVirt's evacuation of a VMI (KubeVirt v1.8+, the evacuate/cancel subresource): clears
-- its status.evacuationNodeName if it is node (default: the node it is marked for), so that no
-- new evacuation migrations are made, and deletes its evacuation VMIMs that have not started
-- running (delete_pending = false keeps them). Migrations already running go on (their names are
-- in running; cancel one with cluster.migration(ns, name):cancel()). cancelled is false when the
-- VMI was not marked. Raises kind "unsupported" on an older KubeVirt, "not_found" for a missing
-- VMI, "conflict" when it is marked for another node than node, "usage" for bad arguments.
function M.evacuate_cancel(vmi, opts)
  local ns, name = vmi_ref("cluster.evacuate_cancel", vmi)
  if opts ~= nil and type(opts) ~= "table" then
    usage("cluster.evacuate_cancel: options must be a table (delete_pending, node)")
  end
  opts = opts or {}
  for key, value in pairs(opts) do
    if key == "node" then
      if type(value) ~= "string" or value == "" then usage("cluster.evacuate_cancel: node must be a node name") end
    elseif key == "delete_pending" then
      if type(value) ~= "boolean" then usage("cluster.evacuate_cancel: delete_pending must be a boolean") end
    else
      usage("cluster.evacuate_cancel: unknown option %s (delete_pending, node)", tostring(key))
    end
  end
  local version = M.migration_limits().kubevirtVersion
  local major, minor = tostring(version):match("^v(%d+)%.(%d+)")
  if major and (tonumber(major) < 1 or (tonumber(major) == 1 and tonumber(minor) < 8)) then
    vmrun.error("unsupported", ("cluster.evacuate_cancel: KubeVirt %s has no evacuate/cancel "
      .. "(v1.8 or later); uncordoning the node does not stop an evacuation before that"):format(version),
      { level = 2 })
  end
  local resource = "VirtualMachineInstance " .. ns .. "/" .. name
  local current = core.get("VirtualMachineInstance", ns, name)
  if current == nil then
    vmrun.error("not_found", ("cluster.evacuate_cancel: no VirtualMachineInstance %s/%s"):format(ns, name),
      { level = 2, resource = resource })
  end
  local marked = current.status and current.status.evacuationNodeName
  if marked == vmrun.null then marked = nil end
  local node = opts.node or marked
  local result = { cancelled = false, node = node, deleted = {}, running = {} }
  if node ~= nil then
    local ok, err = pcall(core.evacuate_cancel, ns, name, node)
    if not ok then
      vmrun.error(err.kind or "runtime", "cluster.evacuate_cancel: " .. require("vmrun.message")(err),
        { level = 2, resource = resource, status = err.status })
    end
    result.cancelled = marked ~= nil
  end
  for _, m in ipairs(M.migrations({ namespace = ns, vmi = name, active = true })) do
    local annotations = m.metadata.annotations
    if type(annotations) == "table" and annotations["kubevirt.io/evacuationMigration"] then
      local phase = m.status and m.status.phase
      if (phase == nil or phase == vmrun.null or NOT_STARTED[phase]) and opts.delete_pending ~= false then
        local ok, err = pcall(core.delete, VMIM, ns, m.metadata.name)
        if ok or vmrun.is_error(err, "not_found") then result.deleted[#result.deleted + 1] = m.metadata.name end
        if not ok and not vmrun.is_error(err, "not_found") then error(err, 0) end
      else
        result.running[#result.running + 1] = m.metadata.name
      end
    end
  end
  return result
end

--- cluster.migration(namespace, name) -> vmrun.Migration | nil
-- A handle on an existing VirtualMachineInstanceMigration (one that another run created, say).
function M.migration(namespace, name)
  local m = core.get(VMIM, namespace, name)
  if m == nil then return nil end
  return setmetatable({ namespace = namespace, name = name, vmi = m.spec.vmiName,
    created_at = time.now(), samples = {} }, Migration)
end

local function failure_reason(vmim, vstate)
  local state = (vmim.status and vmim.status.migrationState) or {}
  if state.failureReason then return state.failureReason end
  for _, c in ipairs((vmim.status and vmim.status.conditions) or {}) do
    if c.type == "Failed" or c.reason == "MigrationFailed" then return c.message or c.reason end
  end
  if type(vstate) == "table" and vstate.migrationUid == vmim.metadata.uid and vstate.failureReason then
    return vstate.failureReason
  end
  return "the migration failed (KubeVirt gave no reason)"
end

--- m:status() -> {phase, source, target, data_total, data_processed, data_remaining, progress,
---                eta_seconds, mode, failure_reason}
-- What the migration is doing now: its VMIM's phase and the VMI's migrationState (bytes in
-- bytes; progress from 0 to 1; eta_seconds from the transfer rate seen by earlier calls, nil
-- until two calls saw data move). Raises kind "not_found" when the VMIM is gone.
function Migration:status()
  local vmim = core.get(VMIM, self.namespace, self.name)
  if vmim == nil then
    vmrun.error("not_found", ("migration %s/%s: its VirtualMachineInstanceMigration is gone")
      :format(self.namespace, self.name), { level = 2, resource = VMIM .. " " .. self.namespace
      .. "/" .. self.name })
  end
  -- only the VMI's migrationState: a VMI is a large object and a queue polls every second
  local vstate = core.get_field("VirtualMachineInstance", self.namespace, self.vmi, "status.migrationState")
  local state = (vmim.status and vmim.status.migrationState) or nil
  if type(vstate) == "table" and vstate.migrationUid == vmim.metadata.uid then state = vstate end
  state = state or {}
  local phase = (vmim.status and vmim.status.phase) or "Pending"
  local out = { phase = phase, source = state.sourceNode, target = state.targetNode,
    mode = state.mode, data_total = state.dataTotalBytes, data_processed = state.dataProcessedBytes,
    data_remaining = state.dataRemainingBytes }
  if out.data_total and out.data_total > 0 and out.data_processed then
    out.progress = math.min(1, out.data_processed / out.data_total)
  end
  if phase == "Succeeded" then out.progress, out.eta_seconds = 1, 0 end
  if phase == "Failed" then out.failure_reason = failure_reason(vmim, vstate) end
  local now = time.now()
  if out.data_processed and phase == "Running" then
    local samples = self.samples
    local first = samples[1]
    samples[#samples + 1] = { t = now, bytes = out.data_processed }
    if #samples > 8 then table.remove(samples, 1) end
    if first and now > first.t and out.data_processed > first.bytes and out.data_remaining then
      local rate = (out.data_processed - first.bytes) / (now - first.t)
      out.eta_seconds = out.data_remaining / rate
    end
  end
  return out
end

--- m:wait([{timeout=}]) -> status — waits
-- Waits until the migration ends. Returns its status when it succeeded; raises kind
-- "migration_failed" with KubeVirt's reason (fields reason, resource) when it failed, kind
-- "timeout" when timeout passes first (the migration goes on; m:cancel() stops it), kind
-- "not_found" when its VMIM is deleted.
function Migration:wait(opts)
  if opts ~= nil and type(opts) ~= "table" then usage("m:wait: options must be a table (timeout)") end
  for k in pairs(opts or {}) do
    if k ~= "timeout" then usage("m:wait: unknown option %s (timeout)", tostring(k)) end
  end
  local limit = opts and opts.timeout and time.duration(opts.timeout) or nil
  local deadline = limit and time.now() + limit
  local resource = VMIM .. " " .. self.namespace .. "/" .. self.name
  local w <close> = core.watch(VMIM, { namespace = self.namespace, since = core.revision() })
  while true do
    local vmim = core.get(VMIM, self.namespace, self.name)
    if vmim == nil then
      vmrun.error("not_found", ("migration %s/%s: its VirtualMachineInstanceMigration was deleted")
        :format(self.namespace, self.name), { level = 2, resource = resource })
    end
    local phase = vmim.status and vmim.status.phase
    if phase == "Succeeded" then return self:status() end
    if phase == "Failed" then
      local reason = failure_reason(vmim,
        core.get_field("VirtualMachineInstance", self.namespace, self.vmi, "status.migrationState"))
      vmrun.error("migration_failed", ("migration of %s/%s failed: %s"):format(self.namespace,
        self.vmi, reason), { level = 2, resource = resource, reason = reason })
    end
    local left = deadline and deadline - time.now()
    if left and left <= 0 then
      vmrun.error("timeout", ("migration of %s/%s still %s after %s"):format(self.namespace,
        self.vmi, tostring(phase or "Pending"), tostring(opts.timeout)),
        { level = 2, resource = resource })
    end
    w:next(left and math.min(left, 60) or 60) -- re-read at least every minute
  end
end

--- m:cancel() -> boolean
-- Aborts the migration by deleting its VMIM (KubeVirt then aborts a running transfer and the
-- VMI stays where it was). Returns false when it had already ended or was gone.
function Migration:cancel()
  local vmim = core.get(VMIM, self.namespace, self.name)
  if vmim == nil then return false end
  local phase = vmim.status and vmim.status.phase
  if phase == "Succeeded" or phase == "Failed" then return false end
  local ok, err = pcall(core.delete, VMIM, self.namespace, self.name)
  if not ok then
    if vmrun.is_error(err, "not_found") then return false end
    error(err, 0)
  end
  return true
end

function Migration:__tostring()
  return ("vmrun.Migration %s/%s (VMI %s)"):format(self.namespace, self.name, self.vmi)
end

return M
