-- vmrun/actors.lua: the `actors` module: the other maintenance actors on a cluster, found before a
-- run starts (reference peers.md §4.4: kured, NMO, MCO and cordons do not see each other), and
-- what a run does about them. actors.detect reads kured's reboot lock (the annotation
-- weave.works/kured-node-lock on its DaemonSet), NodeMaintenance objects (medik8s and the older
-- kubevirt group) draining or holding nodes, MachineConfigPools that are updating, and nodes
-- cordoned without vmrun's mark (vmrun.io/cordoned-by); actors.check applies a policy to them:
-- refuse (kind "busy"), warn, ignore, or leave their nodes out of the run. Kinds the cluster does
-- not serve read as none. It only reads the cluster: it never takes kured's lock, ends a
-- NodeMaintenance, pauses a pool or uncordons a node.
local cluster = require("vmrun.cluster")
local node = require("vmrun.node")
local drain = require("vmrun.drain")
local vmrun = require("vmrun")
local log = require("vmrun.log")
local time = require("vmrun.time")
local json = require("vmrun.json")
local k8stime = require("vmrun.k8stime")
local key_list = require("vmrun.keys")
local present = require("vmrun.present")

local M = {}

M.KURED_LOCK_ANNOTATION = "weave.works/kured-node-lock"

local MCO_STATE_ANNOTATION = "machineconfiguration.openshift.io/state"
local NODE_MAINTENANCE_KINDS = {
  { kind = "NodeMaintenance", group = nil },
  { kind = "nodemaintenance.kubevirt.io/NodeMaintenance", group = "nodemaintenance.kubevirt.io" },
}

local function usage(level, fmt, ...) vmrun.error("usage", fmt:format(...), { level = level + 1 }) end


local function annotation(obj, key)
  local notes = present(obj.metadata.annotations)
  return notes and present(notes[key])
end

local function sorted_keys(set)
  local out = {}
  for k in pairs(set) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- --- kured -----------------------------------------------------------------------------------------

-- kured's --lock-ttl (seconds) from the DaemonSet's container arguments, or nil when it is not set
-- or does not read: the TTL that applies to a lock that recorded none.
local function kured_lock_ttl_flag(ds)
  local pod_spec = present(((present(ds.spec) or {}).template or {}).spec) or {}
  for _, c in ipairs(present(pod_spec.containers) or {}) do
    local argv = {}
    for _, list in ipairs({ present(c.command) or {}, present(c.args) or {} }) do
      for _, a in ipairs(list) do argv[#argv + 1] = a end
    end
    for i, a in ipairs(argv) do
      local value = type(a) == "string" and a:match("^%-%-lock%-ttl=(.*)$")
      if a == "--lock-ttl" then value = argv[i + 1] end
      if type(value) == "string" then
        local ok, seconds = pcall(time.duration, value)
        return ok and seconds or nil
      end
    end
  end
  return nil
end

-- The lock entries of a kured lock annotation ({nodeID, created, TTL} for a single lock,
-- {maxOwners, locks = {...}} for several), or nil and why when it does not read.
local function kured_entries(text)
  local value, err = json.try_decode(text)
  if type(value) ~= "table" then
    return nil, err and tostring(err.message or err) or "not a JSON object"
  end
  if value.locks ~= nil or value.maxOwners ~= nil then
    local locks = present(value.locks) or {}
    if type(locks) ~= "table" then return nil, "its locks are not a list" end
    return locks
  end
  return { value }
end

-- The live locks of one kured DaemonSet: {node, since, expires} for those that name a node of
-- the cluster (a lock for "manual" or a node since deleted holds kured off instead), or nil and
-- why when the annotation does not read.
local function kured_live_locks(ds, text, now)
  local entries, why = kured_entries(text)
  if entries == nil then return nil, why end
  local flag_ttl = kured_lock_ttl_flag(ds)
  local live = {}
  for _, e in ipairs(entries) do
    local id = type(e) == "table" and present(e.nodeID)
    if type(id) == "string" and cluster.get("Node", id) ~= nil then
      local created = k8stime.parse(present(e.created))
      local stored = present(e.TTL)
      -- kured's TTL is a Go duration in nanoseconds; 0 means the one configured now, if any
      local ttl = (type(stored) == "number" and stored > 0) and stored / 1e9 or flag_ttl
      local expires = (ttl and ttl > 0 and created) and created + ttl or nil
      if expires == nil or expires > now then
        live[#live + 1] = { node = id, since = created, expires = expires }
      end
    end
  end
  return live
end

local function kured_actors(out, opts, now)
  for _, ds in ipairs(cluster.list("DaemonSet")) do
    local text = annotation(ds, opts.kured_annotation)
    if text ~= nil then
      local name = ds.metadata.namespace .. "/" .. ds.metadata.name
      local what = ("kured (DaemonSet %s)"):format(name)
      local live, why = kured_live_locks(ds, tostring(text), now)
      if live == nil then
        out[#out + 1] = { kind = "kured", name = name, what = what, nodes = {},
          reason = ("has a reboot lock that does not read (%s: %s), taken as held"):format(
            opts.kured_annotation, why) }
      elseif #live > 0 then
        local parts, nodes = {}, {}
        for _, l in ipairs(live) do
          nodes[#nodes + 1] = l.node
          parts[#parts + 1] = ("%s since %s (%s)"):format(l.node,
            l.since and time.format(l.since) or "an unknown time",
            l.expires and ("expires at " .. time.format(l.expires)) or "no TTL: until kured releases it")
        end
        out[#out + 1] = { kind = "kured", name = name, what = what, nodes = nodes,
          reason = "holds its reboot lock for node " .. table.concat(parts, ", node ") }
      end
    end
  end
end

-- --- NodeMaintenance -------------------------------------------------------------------------------

-- in_run(name): whether a node is one of the run's. Work under way is reported wherever it is; a
-- node only held (drained and kept) matters when it is one of the run's.
local function node_maintenance_actors(out, in_run)
  for _, k in ipairs(NODE_MAINTENANCE_KINDS) do
    for _, nm in ipairs(cluster.list(k.kind)) do
      local spec, st = present(nm.spec) or {}, present(nm.status) or {}
      local target = present(spec.nodeName)
      local phase = present(st.phase)
      local deleting = present(nm.metadata.deletionTimestamp) ~= nil
      local reason
      if deleting then
        reason = ("is ending: the operator gives node %s back"):format(tostring(target))
      elseif phase == nil or phase == "" then
        reason = ("waits for the operator to drain node %s (no phase yet)"):format(tostring(target))
      elseif phase == "Running" then
        local last_error = present(st.lastError)
        reason = ("is draining node %s (phase Running, %s%% drained%s)"):format(tostring(target),
          tostring(present(st.drainProgress) or 0), last_error and ("; last error: " .. tostring(last_error)) or "")
      elseif phase == "Succeeded" and (target == nil or in_run(target)) then
        reason = ("holds node %s in maintenance (drained, cordoned until the NodeMaintenance is "
          .. "deleted)"):format(tostring(target))
      end
      -- phase Failed: the operator gave the node back (uncordoned, lease invalidated)
      if reason ~= nil then
        local labels = present(nm.metadata.labels) or {}
        local by_vmrun = labels["app.kubernetes.io/managed-by"] == "vmrun" and ", created by vmrun" or ""
        out[#out + 1] = { kind = "node_maintenance", name = nm.metadata.name,
          what = ("NodeMaintenance %s (%s%s)"):format(nm.metadata.name,
            k.group and (k.group .. ", node " .. tostring(target)) or ("node " .. tostring(target)), by_vmrun),
          reason = reason, nodes = type(target) == "string" and { target } or {} }
      end
    end
  end
end

-- --- MachineConfigPool -----------------------------------------------------------------------------

local function condition(st, kind)
  for _, c in ipairs(present(st.conditions) or {}) do
    if c.type == kind then return c end
  end
  return nil
end

local function machine_config_pool_actors(out)
  for _, pool in ipairs(cluster.list("MachineConfigPool")) do
    local spec, st = present(pool.spec) or {}, present(pool.status) or {}
    local updating = condition(st, "Updating")
    local degraded = condition(st, "Degraded")
    local total, updated = present(st.machineCount), present(st.updatedMachineCount)
    local counts_differ = math.type(total) == "integer" and math.type(updated) == "integer" and updated < total
    local paused = spec.paused == true
    if (updating and updating.status == "True") or (counts_differ and not paused) then
      local notes = {}
      if updating and updating.status == "True" then notes[#notes + 1] = "Updating=True" end
      if paused then notes[#notes + 1] = "paused" end
      if degraded and degraded.status == "True" then
        notes[#notes + 1] = "Degraded: " .. tostring(present(degraded.message) or present(degraded.reason) or "")
      end
      local nodes = {}
      for _, n in ipairs(cluster.nodes()) do
        if drain.selects(spec.nodeSelector, present(n.metadata.labels) or {}) then nodes[#nodes + 1] = n.metadata.name end
      end
      out[#out + 1] = { kind = "machine_config_pool", name = pool.metadata.name,
        what = "MachineConfigPool " .. pool.metadata.name, nodes = nodes,
        reason = ("is updating its nodes: %s of %s updated%s"):format(tostring(updated or "?"),
          tostring(total or "?"), #notes > 0 and (" (" .. table.concat(notes, ", ") .. ")") or "") }
    end
  end
end

-- --- cordoned nodes --------------------------------------------------------------------------------

-- held_by[node] = "NodeMaintenance x" etc.: the other actors that explain a cordon.
local function cordoned_actors(out, opts, held_by)
  local nodes
  if opts.nodes then
    nodes = {}
    for _, name in ipairs(opts.nodes) do nodes[#nodes + 1] = cluster.get("Node", name) end
  else
    nodes = cluster.nodes()
  end
  for _, n in ipairs(nodes) do
    local name = n.metadata.name
    local mark = annotation(n, node.OWNER_ANNOTATION)
    local spec = present(n.spec) or {}
    if spec.unschedulable == true and (mark == nil or (opts.owner ~= nil and mark ~= opts.owner)) then
      local by = mark and ("by vmrun's owner %q, not this run's %q"):format(mark, opts.owner)
        or ("by someone else (no %s mark)"):format(node.OWNER_ANNOTATION)
      local others = {}
      for _, h in ipairs(held_by[name] or {}) do others[#others + 1] = h end
      if annotation(n, MCO_STATE_ANNOTATION) == "Working" then
        others[#others + 1] = "the Machine Config Operator (state Working)"
      end
      out[#out + 1] = { kind = "cordoned", name = name, what = "node " .. name, nodes = { name },
        reason = "is cordoned " .. by .. (#others > 0 and ("; other actors on it: " .. table.concat(others, ", ")) or "") }
    end
  end
end

-- How a cordoned node's reason names the other actors on it.
local LABELS = { kured = "kured", node_maintenance = "NodeMaintenance", machine_config_pool = "MachineConfigPool" }

local DETECT_OPTIONS = { nodes = "table", owner = "string", kured_annotation = "string" }

--- actors.detect([{nodes=, owner=, kured_annotation=}]) -> {{kind, name, what, reason, nodes}, ...}
-- The other maintenance actors, in this order: "kured" (a DaemonSet whose annotation
-- weave.works/kured-node-lock, or kured_annotation, holds a live reboot lock for a node),
-- "node_maintenance" (a NodeMaintenance draining a node, waiting for its operator or ending; or
-- holding one of `nodes` drained), "machine_config_pool" (Updating=True, or fewer machines updated
-- than it has while not paused) and "cordoned" (one of `nodes`, default all, unschedulable without
-- vmrun's mark vmrun.io/cordoned-by, or, with owner, with another owner's mark). `what` names the
-- object, `reason` says what it does ("what reason" reads as a sentence), `nodes` the nodes it
-- concerns. Kinds the cluster does not serve count as none. Raises kind "usage" for bad options,
-- and the cluster's errors (a kind that cannot be read is never taken for none).
function M.detect(opts)
  if opts ~= nil and type(opts) ~= "table" then usage(2, "actors.detect: options must be a table") end
  opts = opts or {}
  for k, v in pairs(opts) do
    if DETECT_OPTIONS[k] == nil then
      usage(2, "actors.detect: unknown option %s (%s)", tostring(k), key_list(DETECT_OPTIONS))
    elseif type(v) ~= DETECT_OPTIONS[k] then
      usage(2, "actors.detect: option %s must be a %s", k, DETECT_OPTIONS[k])
    end
  end
  for i, name in ipairs(opts.nodes or {}) do
    if type(name) ~= "string" then usage(2, "actors.detect: nodes[%d] must be a node name", i) end
  end
  local scan = { nodes = opts.nodes, owner = opts.owner,
    kured_annotation = opts.kured_annotation or M.KURED_LOCK_ANNOTATION }
  local run_nodes
  if opts.nodes then
    run_nodes = {}
    for _, name in ipairs(opts.nodes) do run_nodes[name] = true end
  end
  local function in_run(name) return run_nodes == nil or run_nodes[name] == true end
  local found = {}
  kured_actors(found, scan, time.now())
  node_maintenance_actors(found, in_run)
  machine_config_pool_actors(found)
  local held_by = {}
  for _, a in ipairs(found) do
    for _, name in ipairs(a.nodes) do
      held_by[name] = held_by[name] or {}
      table.insert(held_by[name], LABELS[a.kind] .. " " .. a.name)
    end
  end
  cordoned_actors(found, scan, held_by)
  return found
end

-- --- policy ----------------------------------------------------------------------------------------

local KINDS = { kured = true, node_maintenance = true, machine_config_pool = true, cordoned = true }
local ACTIONS = { refuse = true, warn = true, ignore = true, skip = true }
-- The kinds whose nodes a run can leave out and be clear of them.
local SKIPPABLE = { node_maintenance = true, cordoned = true }

-- The action for each kind, from a policy (nil, a string, or a table of kind = action with an
-- optional default); usage errors at the line that called actors.check.
local function policy_table(policy)
  local default, per_kind = "refuse", {}
  if type(policy) == "string" then
    default = policy
  elseif type(policy) == "table" then
    for k, v in pairs(policy) do
      if k ~= "default" and not KINDS[k] then
        usage(3, "actors.check: unknown actor kind %s in the policy (default, %s)", tostring(k), key_list(KINDS))
      end
      if not ACTIONS[v] then
        usage(3, "actors.check: policy %s must be \"refuse\", \"warn\", \"ignore\"%s", tostring(k),
          SKIPPABLE[k] and " or \"skip\"" or "")
      end
      if k == "default" then default = v else per_kind[k] = v end
    end
  elseif policy ~= nil then
    usage(3, "actors.check: the policy must be \"refuse\", \"warn\", \"ignore\" or a table of kind = action")
  end
  if not ACTIONS[default] or default == "skip" then
    usage(3, "actors.check: the default policy must be \"refuse\", \"warn\" or \"ignore\" (\"skip\" is "
      .. "for cordoned and node_maintenance only: {cordoned = \"skip\"})")
  end
  for k, v in pairs(per_kind) do
    if v == "skip" and not SKIPPABLE[k] then
      usage(3, "actors.check: \"skip\" is for cordoned and node_maintenance only, not %s", k)
    end
  end
  return function(kind) return per_kind[kind] or default end
end

local function sentence(a) return a.what .. " " .. a.reason end

--- actors.check(found, [policy]) -> {node, ...}
-- Applies the policy to what actors.detect found and returns the nodes to leave out of the run
-- (sorted). policy: "refuse" (the default), "warn" (log.warn and go on), "ignore", or a table
-- {default =, kured =, node_maintenance =, machine_config_pool =, cordoned =} whose
-- node_maintenance and cordoned may also be "skip" (leave that actor's nodes out, logged).
-- Raises kind "busy" (with err.actors, the actors refused) naming each actor refused and how to
-- go on; kind "usage" for a bad policy or found.
function M.check(found, policy)
  if type(found) ~= "table" then usage(2, "actors.check: found must be the list actors.detect returns") end
  local action_for = policy_table(policy)
  local refused, actions, no_node = {}, {}, {}
  for i, a in ipairs(found) do
    if type(a) ~= "table" or not KINDS[a.kind] then
      usage(2, "actors.check: found[%d] is not an actor of actors.detect", i)
    end
    local action = action_for(a.kind)
    if action == "skip" and #(a.nodes or {}) == 0 then action, no_node[a] = "refuse", true end
    if action == "refuse" then refused[#refused + 1] = a end
    actions[i] = action
  end
  if #refused > 0 then
    local lines, kinds = {}, {}
    for _, a in ipairs(refused) do
      lines[#lines + 1] = sentence(a) .. (no_node[a] and " (it names no node to leave out)" or "")
      kinds[a.kind] = true
    end
    local kind_names = sorted_keys(kinds)
    local can_skip = {}
    for _, k in ipairs(kind_names) do
      if SKIPPABLE[k] then can_skip[#can_skip + 1] = k end
    end
    vmrun.error("busy", ("actors.check: other maintenance is under way, not starting: %s. To go on "
      .. "anyway, set the policy of %s to \"warn\" or \"ignore\"%s"):format(table.concat(lines, "; "),
      table.concat(kind_names, ", "), #can_skip > 0 and (", or of " .. table.concat(can_skip, ", ")
        .. " to \"skip\" (leave their nodes out)") or ""), { level = 2, actors = refused })
  end
  -- nothing refused: the run goes on, and the log says with what
  local skip = {}
  for i, a in ipairs(found) do
    if actions[i] == "warn" then
      log.warn("another maintenance actor: " .. sentence(a), { kind = a.kind, name = a.name })
    elseif actions[i] == "skip" then
      for _, name in ipairs(a.nodes) do skip[name] = true end
      log.warn(("leaving %s out of the run: %s"):format(table.concat(a.nodes, ", "), sentence(a)),
        { kind = a.kind, name = a.name })
    else
      log.debug("ignored maintenance actor: " .. sentence(a), { kind = a.kind, name = a.name })
    end
  end
  return sorted_keys(skip)
end

return M
