-- vmrun/cluster.lua: the `cluster` module: the raw resource API of vmrun.cluster.core (get, list,
-- count, create, replace, patch, delete, evict, try_evict, watch, revision; bindings/cluster_core.c)
-- plus the typed queries playbooks use (nodes, vmis, vms, pods, pvcs, pdbs, migrations) and
-- migration_limits, the effective KubeVirt migration settings with where each comes from. It
-- reads everything through the core functions, so it works the same on every cluster backend.
-- Nothing here writes to the cluster.
local core = require("vmrun.cluster.core")
local migconfig = require("vmrun.migconfig")
local vmrun = require("vmrun")

local M = {}
for name, fn in pairs(core) do M[name] = fn end

-- Raises kind "usage" at the playbook's line (level 3: the caller of the public function).
local function usage(fmt, ...)
  vmrun.error("usage", fmt:format(...), { level = 3 })
end

-- A query over cluster.list: checks the option names and types, then lists kind.
local function query(fname, kind, allowed)
  local names = {}
  for name in pairs(allowed) do names[#names + 1] = name end
  table.sort(names)
  local list_text = table.concat(names, ", ")
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

local function first(kind)
  local ok, items = pcall(core.list, kind)
  if not ok then return nil end -- a cluster without that kind's API
  return items[1]
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
function M.migration_limits(vmi)
  local kubevirt, hco = first("KubeVirt"), first("HyperConverged")
  if vmi == nil then return migconfig.effective(kubevirt, hco, nil, nil, nil) end
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
  local policies = {}
  local ok, listed = pcall(core.list, "MigrationPolicy")
  if ok then policies = listed end
  local ns = vmi.metadata.namespace and core.get("Namespace", vmi.metadata.namespace) or nil
  return migconfig.effective(kubevirt, hco, policies, vmi, ns)
end

return M
