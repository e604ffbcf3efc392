-- vmrun/preflight.lua: the `preflight` module: what a maintenance run will meet, read from the
-- cluster before anything changes (DESIGN §7; reference kubevirt-migration.md §3, §6). Per VM:
-- whether it can live-migrate and why not (KubeVirt's reason names first: non-RWX PVCs, bridge
-- on the pod network, SR-IOV without the feature gate where the version needs it, host devices,
-- CPU model, then vmrun's own: the masquerade migration ports, no feasible target), its resolved
-- eviction strategy and what a drain does to it, the budgets that allow no disruption of its pod,
-- and the nodes that could take it (selectors, affinity, taints, room for the second copy, CPU
-- vendor and model). Per node: drainable or not and by what, and the estimated drain time under
-- the limits. Per run: whether the other nodes have room to take each node (or batch) out.
-- Read-only: it only gets and lists (no dry-run evictions, no writes).
local cluster = require("vmrun.cluster")
local drain = require("vmrun.drain")
local queue = require("vmrun.queue")
local snapshot = require("vmrun.snapshot")
local vmrun = require("vmrun")

local M = {}

local GIB = 1024 * 1024 * 1024
local quantity = queue.quantity

local function null_to_nil(v)
  if v == vmrun.null then return nil end
  return v
end

-- t without its null values (at any depth), so that the rules can read optional fields with
-- `or {}`: t itself when it has none, else a copy that shares the parts without nulls. Read it,
-- do not change it.
local denull = vmrun.without_nulls

local function usage(level, fmt, ...) vmrun.error("usage", fmt:format(...), { level = level + 1 }) end

local millicores = queue.millicores

local terminal = drain.terminal

-- "v1.6" -> 1, 6; "HEAD" (or unknown) -> a version after every release.
local function version(text)
  local major, minor = tostring(text or ""):match("^v(%d+)%.(%d+)")
  if not major then return math.huge, math.huge end
  return tonumber(major), tonumber(minor)
end

-- --- what every check reads once ------------------------------------------------------------------

-- The cluster's nodes without null values, each copied again only when its resourceVersion
-- changed (a run makes a context per batch; most nodes stay the same between them).
-- Returns the list and the same by name; both are kept while the snapshot's node list is the
-- same table (no node changed): read them, do not change them.
-- With the same names in the same places as at the last call (the snapshot keeps its name list
-- then), only the places whose node table changed are copied again.
local node_copies = {}
local function plain_copy(n)
  local name, rv = n.metadata.name, n.metadata.resourceVersion
  local copy = node_copies[name]
  if copy == nil or copy.rv ~= rv or rv == nil then
    copy = { rv = rv, node = denull(n) }
    node_copies[name] = copy
  end
  return name, copy.node
end
local plain_seen = { from = nil, list = nil, by_name = nil, names = nil }
local function plain_nodes()
  local nodes = snapshot.nodes()
  local seen = plain_seen
  if seen.from == nodes then return seen.list, seen.by_name end
  local names = snapshot.node_names()
  if seen.names == names and #nodes == #seen.from then
    local out, by_name = table.move(seen.list, 1, #seen.list, 1, {}), {}
    for name, copy in pairs(seen.by_name) do by_name[name] = copy end
    local before = seen.from
    for i = 1, #nodes do
      local n = nodes[i]
      if n ~= before[i] then
        local name, plain = plain_copy(n)
        out[i], by_name[name] = plain, plain
      end
    end
    plain_seen = { from = nodes, list = out, by_name = by_name, names = names }
    return out, by_name
  end
  local out, by_name = {}, {}
  for i, n in ipairs(nodes) do
    local name, plain = plain_copy(n)
    out[i], by_name[name] = plain, plain
  end
  for name in pairs(node_copies) do if not by_name[name] then node_copies[name] = nil end end
  plain_seen = { from = nodes, list = out, by_name = by_name, names = names }
  return out, by_name
end

local function context()
  local node_list, nodes = plain_nodes()
  local ctx = { limits = cluster.migration_limits(), nodes = nodes, node_list = node_list,
    node_rev = cluster.revision("Node"), node_position = select(2, snapshot.node_names()),
    changed_since = {}, room = true, schedulable = {},
    used = {}, pvcs = {}, gates = {}, launchers = {}, placement = {}, offers = {},
    roomy = setmetatable({}, { __mode = "k" }) }
  -- a node's link is shared by as many migrations as may leave it at once
  local outbound = ctx.limits.parallelOutboundMigrationsPerNode
  ctx.share = math.max(1, math.tointeger(outbound and outbound.value) or 1)
  local kv = cluster.list("KubeVirt")[1]
  local dev = kv and kv.spec and kv.spec.configuration and kv.spec.configuration.developerConfiguration
  for _, g in ipairs(dev and null_to_nil(dev.featureGates) or {}) do ctx.gates[g] = true end
  -- the CPU model of a VMI that names none: the cluster's cpuModel, else KubeVirt's host-model
  local configured = kv and kv.spec and kv.spec.configuration and null_to_nil(kv.spec.configuration.cpuModel)
  ctx.cpu_model = type(configured) == "string" and configured ~= "" and configured or "host-model"
  ctx.major, ctx.minor = version(ctx.limits.kubevirtVersion)
  ctx.cluster_strategy = null_to_nil(ctx.limits.evictionStrategy and ctx.limits.evictionStrategy.value)
  -- the requests already on each node; each VMI's live launcher pod is looked up when needed
  ctx.used = snapshot.requests_by_node()
  return ctx
end

-- What the rules read of a PVC: {spec = {accessModes}}, or nil when there is none (two fields,
-- not the whole claim: a large cluster has a claim or more per VM).
local function pvc(ctx, ns, name)
  local key = ns .. "/" .. name
  if ctx.pvcs[key] == nil then
    local found = cluster.get_field("PersistentVolumeClaim", ns, name, "metadata.name") ~= nil
    ctx.pvcs[key] = found and { spec = { accessModes = null_to_nil(cluster.get_field(
      "PersistentVolumeClaim", ns, name, "spec.accessModes")) } } or false
  end
  return ctx.pvcs[key] or nil
end

-- The VMI's live virt-launcher pod on its node, or nil; the launchers of a node are listed once
-- per context. Only what pre-flight reads of it: {metadata = {namespace, name, labels}, status =
-- {phase}} (its requests: cluster.pod_requests), so that no pod is made into a whole table.
local function launcher_of(ctx, vmi)
  local node = vmi.status and null_to_nil(vmi.status.nodeName)
  if not (node and vmi.metadata.uid) then return nil end
  local on_node = ctx.launchers[node]
  if on_node == nil then
    on_node = {}
    for _, key in ipairs(cluster.names("Pod", { node = node, selector = "kubevirt.io=virt-launcher" })) do
      local ns, name = key:match("^([^/]+)/(.+)$")
      local labels = null_to_nil(cluster.get_field("Pod", ns, name, "metadata.labels")) or {}
      local pod = { metadata = { namespace = ns, name = name, labels = labels },
        status = { phase = null_to_nil(cluster.get_field("Pod", ns, name, "status.phase")) } }
      if labels["kubevirt.io/created-by"] and not terminal(pod) then
        on_node[labels["kubevirt.io/created-by"]] = pod
      end
    end
    ctx.launchers[node] = on_node
  end
  return on_node[vmi.metadata.uid]
end

-- --- the live-migration rules ------------------------------------------------------------------

-- KubeVirt's reasons, in the order virt-handler checks them (§3.6), then vmrun's own. Each
-- finding: {reason, message}.
local function migration_findings(vmi, ctx)
  local found, warnings = {}, {}
  local function add(reason, message) found[#found + 1] = { reason = reason, message = message } end
  local spec = vmi.spec or {}
  local domain = spec.domain or {}
  local devices = domain.devices or {}
  local annotations = null_to_nil(vmi.metadata.annotations) or {}
  local pod_net
  for _, net in ipairs(null_to_nil(spec.networks) or {}) do
    if net.pod ~= nil then pod_net = net.name end
  end
  local ports_in_use
  for _, iface in ipairs(null_to_nil(devices.interfaces) or {}) do
    if iface.name == pod_net and iface.bridge ~= nil
        and annotations["kubevirt.io/allow-pod-bridge-network-live-migration"] == nil then
      add("InterfaceNotLiveMigratable", ("interface %s binds the pod network with bridge (use "
        .. "masquerade, or the annotation kubevirt.io/allow-pod-bridge-network-live-migration)")
        :format(iface.name))
    elseif iface.sriov ~= nil then
      -- SRIOVLiveMigration was a feature gate until kubevirt/kubevirt#7990 (v0.56)
      if (ctx.major == 0 and ctx.minor < 56) and not ctx.gates.SRIOVLiveMigration then
        add("InterfaceNotLiveMigratable", ("SR-IOV interface %s needs the SRIOVLiveMigration feature "
          .. "gate on KubeVirt %s"):format(iface.name, tostring(ctx.limits.kubevirtVersion)))
      else
        warnings[#warnings + 1] = ("SR-IOV interface %s is unplugged for the migration and plugged "
          .. "again after it: expect a network interruption"):format(iface.name)
      end
    end
    if iface.masquerade ~= nil and iface.name == pod_net then
      for _, p in ipairs(null_to_nil(iface.ports) or {}) do
        if p.port == 49152 or p.port == 49153 then ports_in_use = p.port end
      end
    end
  end
  local cpu = domain.cpu or {}
  if cpu.model == "host-model" then
    local node = ctx.nodes[vmi.status and vmi.status.nodeName or ""]
    local has = false
    for k in pairs(node and null_to_nil(node.metadata.labels) or {}) do
      if k:find("^host%-model%-cpu%.node%.kubevirt%.io/") then has = true end
    end
    if not has then
      add("CPUModeLiveMigratable", "cpu model host-model, but the node has no host-model CPU labels")
    end
  elseif cpu.model == "host-passthrough" then
    warnings[#warnings + 1] = "cpu model host-passthrough: it can only move to a node with the same CPU"
  end
  local hostdevs = null_to_nil(devices.hostDevices) or {}
  local gpus = null_to_nil(devices.gpus) or {}
  if #hostdevs > 0 then
    add("HostDeviceNotLiveMigratable", ("host device %s cannot move"):format(tostring(hostdevs[1].name)))
  elseif #gpus > 1 or (#gpus == 1 and not ctx.gates.VGPULiveMigration) then
    add("HostDeviceNotLiveMigratable", #gpus > 1 and "more than one GPU"
      or "a GPU without the VGPULiveMigration feature gate")
  end
  if domain.launchSecurity ~= nil then add("SEVNotLiveMigratable", "confidential computing (launchSecurity)") end
  for _, vol in ipairs(null_to_nil(spec.volumes) or {}) do
    local claim = (vol.persistentVolumeClaim and vol.persistentVolumeClaim.claimName)
      or (vol.dataVolume and vol.dataVolume.name)
    if claim then
      local c = pvc(ctx, vmi.metadata.namespace, claim)
      local rwx = false
      for _, m in ipairs(c and null_to_nil(c.spec and c.spec.accessModes) or {}) do
        if m == "ReadWriteMany" then rwx = true end
      end
      if c == nil then
        add("DisksNotLiveMigratable", ("PVC %s does not exist: its access mode is unknown"):format(claim))
      elseif not rwx then
        add("DisksNotLiveMigratable", ("cannot migrate VMI: PVC %s is not shared, live migration "
          .. "requires that all PVCs must be shared (using ReadWriteMany access mode)"):format(claim))
      end
    elseif vol.hostDisk ~= nil and vol.hostDisk.shared ~= true then
      add("DisksNotLiveMigratable", ("hostDisk %s is not shared"):format(tostring(vol.name)))
    end
  end
  -- what KubeVirt itself says, when it names a reason the rules above do not know
  local ok, reason, message = drain.condition_verdict(vmi)
  if not ok and reason ~= "LiveMigratableUnknown" then
    local known = false
    for _, f in ipairs(found) do if f.reason == reason then known = true end end
    if not known then add(reason, message) end
  end
  local status = vmi.status or {}
  if ports_in_use and status.migrationTransport ~= "Unix" then
    -- KubeVirt keeps the two ports for the migration and does not forward them to the guest:
    -- the migration works, the guest never saw traffic on that port
    warnings[#warnings + 1] = ("the masquerade interface lists port %d, which KubeVirt keeps for "
      .. "migrations on the legacy transport: traffic to it does not reach the guest"):format(ports_in_use)
  end
  return found, warnings
end

-- --- target nodes -----------------------------------------------------------------------------

local function tolerates(tolerations, taint)
  for _, t in ipairs(tolerations or {}) do
    local effect_ok = t.effect == nil or t.effect == "" or t.effect == taint.effect
    local key_ok = (t.key == nil or t.key == "") and t.operator == "Exists" or t.key == taint.key
    local value_ok = t.operator == "Exists" or (t.value or "") == (taint.value or "")
    if effect_ok and key_ok and value_ok then return true end
  end
  return false
end

local function expression_matches(e, labels)
  local have = labels[e.key]
  local values = {}
  for _, v in ipairs(null_to_nil(e.values) or {}) do values[v] = true end
  if e.operator == "In" then return have ~= nil and values[have] == true end
  if e.operator == "NotIn" then return have == nil or not values[have] end
  if e.operator == "Exists" then return have ~= nil end
  if e.operator == "DoesNotExist" then return have == nil end
  -- Gt and Lt compare integers (anything else does not match)
  local function int(x) return type(x) == "string" and x:match("^%-?%d+$") and math.tointeger(tonumber(x)) end
  local n, v = int(have), int((null_to_nil(e.values) or {})[1])
  if e.operator == "Gt" then return n ~= nil and v ~= nil and n > v end
  if e.operator == "Lt" then return n ~= nil and v ~= nil and n < v end
  return false
end

-- Required node affinity (§6.2): any term whose expressions and fields all match.
local function affinity_matches(affinity, labels, node_name)
  local na = affinity and affinity.nodeAffinity
  local req = na and null_to_nil(na.requiredDuringSchedulingIgnoredDuringExecution)
  if req == nil then return true end
  for _, term in ipairs(null_to_nil(req.nodeSelectorTerms) or {}) do
    local exprs, fields = term.matchExpressions or {}, term.matchFields or {}
    -- a term without requirements matches no node
    local all = #exprs + #fields > 0
    for _, e in ipairs(exprs) do
      if not expression_matches(e, labels) then all = false end
    end
    for _, e in ipairs(fields) do
      if not expression_matches(e, { ["metadata.name"] = node_name }) then all = false end
    end
    if all then return true end
  end
  return false
end

-- The label names under prefix set to "true", without the prefix; remembered per labels table
-- (a check reads the same node's labels once per VM).
local prefixed = setmetatable({}, { __mode = "k" })
local function label_with_prefix(labels, prefix)
  local by_prefix = prefixed[labels]
  if by_prefix == nil then
    by_prefix = {}
    prefixed[labels] = by_prefix
  end
  local out = by_prefix[prefix]
  if out ~= nil then return out end
  out = {}
  for k, v in pairs(labels) do
    if v == "true" and k:sub(1, #prefix) == prefix then out[k:sub(#prefix + 1)] = true end
  end
  by_prefix[prefix] = out
  return out
end

-- Why node cannot take the VMI's second copy for any reason but room, or nil when it can: the
-- scheduling rules, which depend on the node and on what placement_key says of the VMI only.
local function why_not_placed(vmi, node, ctx)
  local name = node.metadata.name
  local labels = null_to_nil(node.metadata.labels) or {}
  local spec = vmi.spec or {}
  local tolerations = null_to_nil(spec.tolerations) or {}
  if node.spec and node.spec.unschedulable == true and not ctx.schedulable[name]
      and not tolerates(tolerations, { key = "node.kubernetes.io/unschedulable", effect = "NoSchedule" }) then
    return "cordoned"
  end
  for _, t in ipairs(node.spec and null_to_nil(node.spec.taints) or {}) do
    if (t.effect == "NoSchedule" or t.effect == "NoExecute") and not tolerates(tolerations, t)
        and not (ctx.schedulable[name] and t.key == "node.kubernetes.io/unschedulable") then
      return ("taint %s=%s:%s"):format(t.key, t.value or "", t.effect)
    end
  end
  -- virt-launcher pods select kubevirt.io/schedulable=true; virt-handler sets it false on a
  -- node it cannot run VMs on (a node without the label is taken as able)
  if labels["kubevirt.io/schedulable"] == "false" then return "kubevirt.io/schedulable=false" end
  for k, v in pairs(null_to_nil(spec.nodeSelector) or {}) do
    if labels[k] ~= v then return ("nodeSelector %s=%s"):format(k, v) end
  end
  if not affinity_matches(null_to_nil(spec.affinity), labels, name) then return "node affinity" end
  -- CPU: the same vendor; the source's host model, or the named model, available here
  local source = ctx.nodes[vmi.status and vmi.status.nodeName or ""]
  local src_labels = source and null_to_nil(source.metadata.labels) or {}
  local src_vendor = label_with_prefix(src_labels, "cpu-vendor.node.kubevirt.io/")
  local vendor = label_with_prefix(labels, "cpu-vendor.node.kubevirt.io/")
  if next(src_vendor) and next(vendor) then
    for v in pairs(src_vendor) do
      if not vendor[v] then return ("CPU vendor (not %s)"):format(v) end
    end
  end
  local cpu = spec.domain and null_to_nil(spec.domain.cpu) or {}
  local model = type(cpu.model) == "string" and cpu.model ~= "" and cpu.model or ctx.cpu_model
  if model == "host-model" then
    local migratable_models = label_with_prefix(labels, "cpu-model-migration.node.kubevirt.io/")
    for m in pairs(label_with_prefix(src_labels, "host-model-cpu.node.kubevirt.io/")) do
      if not migratable_models[m] then return ("CPU model (host model %s)"):format(m) end
    end
  elseif model ~= "host-passthrough" then
    local models = label_with_prefix(labels, "cpu-model.node.kubevirt.io/")
    if next(models) and not models[model] then return ("CPU model %s"):format(model) end
  end
  return nil
end

-- What why_not_placed reads of a VMI, as a string: VMIs with the same key pass the same nodes.
local encode = require("vmrun.json").encode
local function placement_key(vmi, ctx)
  local spec = vmi.spec or {}
  local source = ctx.nodes[vmi.status and vmi.status.nodeName or ""]
  local src_labels = source and null_to_nil(source.metadata.labels) or {}
  local cpu = spec.domain and null_to_nil(spec.domain.cpu) or {}
  return encode({ spec.nodeSelector or vmrun.null, spec.affinity or vmrun.null,
    spec.tolerations or vmrun.null, type(cpu.model) == "string" and cpu.model or vmrun.null,
    ctx.cpu_model,
    label_with_prefix(src_labels, "cpu-vendor.node.kubevirt.io/"),
    label_with_prefix(src_labels, "host-model-cpu.node.kubevirt.io/") })
end

-- Why the node named name cannot take a second copy that needs need, for want of room, or nil.
local function no_room(name, node, ctx, need)
  local used = ctx.used[name] or { cpu = 0, memory = 0 }
  local offers = ctx.offers[name]
  if offers == nil then
    local m, c = queue.node_resources(node)
    offers = { memory = m or false, cpu = c or false }
    ctx.offers[name] = offers
  end
  local mem, cpus = offers.memory or nil, offers.cpu or nil
  if mem and used.memory + need.memory > mem then
    return ("memory (%.1f GiB free, %.1f GiB needed)"):format((mem - used.memory) / GIB, need.memory / GIB)
  end
  if cpus and used.cpu + need.cpu > cpus then
    return ("CPU (%dm free, %dm needed)"):format(cpus - used.cpu, need.cpu)
  end
  return nil
end

-- What each node has free in this context: {[name] = {memory, cpu}} (math.huge for what it does
-- not say); no_room says why when a VMI does not fit.
local function free_by_node(ctx)
  if ctx.free == nil then
    ctx.free = {}
    local offers = snapshot.node_offers()
    for _, node in ipairs(ctx.node_list) do
      local name = node.metadata.name
      local used = ctx.used[name] or { cpu = 0, memory = 0 }
      local o = offers[name] or {}
      ctx.free[name] = { memory = o.memory and o.memory - used.memory or math.huge,
        cpu = o.cpu and o.cpu - used.cpu or math.huge }
    end
  end
  return ctx.free
end

-- The verdicts of each placement key, kept across contexts (one cluster per Lua state): when
-- nodes changed since, only those are checked again (cluster.changed), and the record is reused
-- as it is when none of them changed its verdict; all nodes are checked again when a node came or
-- went. key -> {node_rev, position, placed_names, refused, by_own}. Only for contexts that count
-- no cordoned node as schedulable (the verdicts depend on it): the others work theirs out.
local kept_verdicts = {}

-- The names of the nodes written after revision since, once per context; nil when nodes were
-- added or deleted (their positions changed: everything is checked again).
local function nodes_changed_since(ctx, since)
  local memo = ctx.changed_since[since]
  if memo == nil then
    local changed, total = cluster.changed("Node", since, { names = true })
    memo = total == #ctx.node_list and changed
    ctx.changed_since[since] = memo
  end
  return memo or nil
end

-- The scheduling verdicts of a placement key in a context: {placed_names = the names of the
-- nodes that pass the rules, in node order; refused = {[name] = why}; by_own = the target lists
-- of VMIs on each node (made by targets_of)}, worked out once for all VMIs of the key.
local function verdicts(vmi, ctx)
  local key = placement_key(vmi, ctx)
  local v = ctx.placement[key]
  if v ~= nil then return v end
  local shared = next(ctx.schedulable) == nil
  local kept = shared and kept_verdicts[key] or nil
  local changed = kept ~= nil and kept.position == ctx.node_position and kept.node_rev ~= ctx.node_rev
    and nodes_changed_since(ctx, kept.node_rev)
  if kept ~= nil and kept.node_rev == ctx.node_rev then
    v = kept
  elseif changed then
    -- the changed nodes again; a new record (reports made earlier share the old one) only when
    -- one of them changed its verdict
    local now, same = {}, true
    for _, name in ipairs(changed) do
      local node = ctx.nodes[name]
      local why = node and why_not_placed(vmi, node, ctx) or false
      now[name] = why
      if why ~= (kept.refused[name] or false) then same = false end
    end
    if same then
      v = kept
      v.node_rev = ctx.node_rev
    else
      v = { node_rev = ctx.node_rev, position = ctx.node_position, placed_names = {}, refused = {},
        by_own = {} }
      for name, why in pairs(kept.refused) do v.refused[name] = why end
      for name, why in pairs(now) do v.refused[name] = why or nil end
      for _, node in ipairs(ctx.node_list) do
        local name = node.metadata.name
        if not v.refused[name] then v.placed_names[#v.placed_names + 1] = name end
      end
    end
  else
    v = { node_rev = ctx.node_rev, position = ctx.node_position, placed_names = {}, refused = {},
      by_own = {} }
    for _, node in ipairs(ctx.node_list) do
      local name = node.metadata.name
      local why = why_not_placed(vmi, node, ctx)
      if why then
        v.refused[name] = why
      else
        v.placed_names[#v.placed_names + 1] = name
      end
    end
  end
  if shared then kept_verdicts[key] = v end
  ctx.placement[key] = v
  return v
end

-- A VMI's `excluded`: its own room refusals, in front of the refusals its placement key shares
-- with other VMIs (read through, and listed by pairs), without its own node or the nodes left
-- out (skip), which are neither targets nor excluded.
local excluded_view = setmetatable({}, { __mode = "k" })
local Excluded = {
  __index = function(t, k)
    local view = excluded_view[t]
    if k == view.own or view.skip[k] then return nil end
    return view.shared[k]
  end,
  __pairs = function(t)
    local view = excluded_view[t]
    local in_shared, k = true, nil
    return function()
      while in_shared do
        local why
        k, why = next(view.shared, k)
        if k == nil then
          in_shared = false
        elseif k ~= view.own and not view.skip[k] and rawget(t, k) == nil then
          return k, why
        end
      end
      local why
      k, why = next(t, k)
      return k, why
    end
  end,
}

-- What the VMI's pod requests: its live launcher pod's requests, else its own.
local function needs(vmi, ctx)
  local pod = launcher_of(ctx, vmi)
  local req = pod and cluster.pod_requests(pod.metadata.namespace, pod.metadata.name)
  if req then return req end
  local req = vmi.spec and vmi.spec.domain and vmi.spec.domain.resources
    and null_to_nil(vmi.spec.domain.resources.requests) or {}
  return { cpu = millicores(req.cpu) or 100, memory = quantity(req.memory) or 2 * GIB }
end

-- The least room among the nodes a key allows, in this context: {memory, cpu}.
local function roomiest(v, ctx)
  local r = ctx.roomy[v]
  if r == nil then
    local free = free_by_node(ctx)
    r = { memory = math.huge, cpu = math.huge }
    for _, name in ipairs(v.placed_names) do
      local f = free[name]
      if f.memory < r.memory then r.memory = f.memory end
      if f.cpu < r.cpu then r.cpu = f.cpu end
    end
    ctx.roomy[v] = r
  end
  return r
end

-- The verdicts record a shared target list was made from (for room_for's sums).
local list_origin = setmetatable({}, { __mode = "k" })

-- The nodes a key allows without the VMI's own, shared by the VMIs of the key on that node
-- while the key's verdicts stay the same.
local function shared_targets(v, own)
  local key = own or ""
  local shared = v.by_own[key]
  if shared == nil then
    shared = {}
    for _, name in ipairs(v.placed_names) do
      if name ~= own then shared[#shared + 1] = name end
    end
    v.by_own[key] = shared
    list_origin[shared] = v
  end
  return shared
end

-- A VMI's targets (in node order) and why the other nodes are not. A VMI that fits on every
-- node its key allows, with no node left out but its own, gets the list that the VMIs of its
-- key on the same node share (read it, do not change it): on a large cluster most VMIs do, and
-- one list per node and key instead of one per VMI is what keeps a whole pre-flight small. A
-- context without room checks (ctx.room false) gives every VMI that list.
local function targets_of(vmi, ctx, exclude)
  local targets, excluded = {}, {}
  local need = needs(vmi, ctx)
  local v = verdicts(vmi, ctx)
  local own = vmi.status and vmi.status.nodeName
  if next(exclude) == nil then
    local r = not ctx.room or roomiest(v, ctx)
    if not ctx.room or (need.memory <= r.memory and need.cpu <= r.cpu) then
      excluded_view[excluded] = { shared = v.refused, own = own, skip = exclude }
      return shared_targets(v, own), setmetatable(excluded, Excluded), need
    end
  end
  local free, need_memory, need_cpu = free_by_node(ctx), need.memory, need.cpu
  for _, name in ipairs(v.placed_names) do
    if name ~= own and not exclude[name] then
      local f = free[name]
      if not ctx.room or (f.memory >= need_memory and f.cpu >= need_cpu) then
        targets[#targets + 1] = name
      else
        excluded[name] = no_room(name, ctx.nodes[name], ctx, need)
      end
    end
  end
  excluded_view[excluded] = { shared = v.refused, own = own, skip = exclude }
  return targets, setmetatable(excluded, Excluded), need
end

-- Counts the exclusion reasons: "cordoned on 3 nodes; memory on 2 nodes".
local function exclusion_summary(excluded)
  local count, order = {}, {}
  for _, why in pairs(excluded) do
    local kind = why
    if count[kind] == nil then order[#order + 1] = kind end
    count[kind] = (count[kind] or 0) + 1
  end
  table.sort(order)
  local parts = {}
  for _, k in ipairs(order) do
    parts[#parts + 1] = ("%s on %d node%s"):format(k, count[k], count[k] == 1 and "" or "s")
  end
  return table.concat(parts, "; ")
end

-- --- per VM -----------------------------------------------------------------------------------

local function vm_report(vmi, ctx, exclude, disable_eviction)
  vmi = denull(vmi)
  local found, warnings = migration_findings(vmi, ctx)
  local targets, excluded, need = targets_of(vmi, ctx, exclude or {})
  local reasons, messages = {}, {}
  for _, f in ipairs(found) do
    reasons[#reasons + 1] = f.reason
    messages[#messages + 1] = f.reason .. ": " .. f.message
  end
  if #targets == 0 then
    reasons[#reasons + 1] = "NoFeasibleTarget"
    messages[#messages + 1] = "NoFeasibleTarget: no node can take it (" .. exclusion_summary(excluded) .. ")"
  end
  local verdict = function()
    if #reasons == 0 then return true end
    return false, reasons[1], messages[1]:gsub("^[^:]+: ", "")
  end
  local v = drain.vm_action(vmi, ctx.cluster_strategy, disable_eviction, verdict)
  local pod = launcher_of(ctx, vmi)
  local budgets = {}
  for _, pdb in ipairs(pod and drain.budgets_of(pod) or {}) do
    local why = drain.budget_blocks(pdb, pod)
    if why then
      budgets[#budgets + 1] = pdb.metadata.name
      if v.action == "migrate" then
        warnings[#warnings + 1] = why .. " (no matter for a migration; a plain eviction waits)"
      else
        warnings[#warnings + 1] = why
      end
    end
  end
  local report = { namespace = vmi.metadata.namespace, name = vmi.metadata.name,
    node = vmi.status and null_to_nil(vmi.status.nodeName), migratable = #reasons == 0,
    reasons = reasons, messages = messages, warnings = warnings,
    eviction_strategy = v.eviction_strategy, run_strategy = v.run_strategy, drain_action = v.action,
    block = v.block, targets = targets, excluded = excluded, pdbs = budgets, memory = need.memory,
    cpu = need.cpu }
  if v.action == "migrate" then
    local seconds, details = queue.estimate(vmi, { share = ctx.share })
    report.estimate_seconds = seconds
    if details.outcome ~= "completed" then
      -- with the dirty rate and link it was given, the migration cannot finish: a drain that
      -- waits for it cannot either
      report.model_failure = ("the migration model expects it to %s: %s"):format(
        details.outcome == "failed" and "fail" or "never end", tostring(details.reason or "no progress"))
      report.warnings[#report.warnings + 1] = report.model_failure
    end
  end
  return report
end

-- The VMI object from an object, {namespace, name} or "namespace/name".
local function resolve_vmi(fname, vmi, level)
  local ns, name
  if type(vmi) == "string" then
    ns, name = vmi:match("^([^/]+)/([^/]+)$")
  elseif type(vmi) == "table" and vmi.metadata ~= nil then
    return vmi
  elseif type(vmi) == "table" then
    ns, name = vmi.namespace or vmi[1], vmi.name or vmi[2]
  end
  if type(ns) ~= "string" or type(name) ~= "string" then
    usage(level + 1, "%s: the VMI must be an object, {namespace, name} or \"namespace/name\"", fname)
  end
  local obj = cluster.get("vmi", ns, name)
  if obj == nil then
    vmrun.error("not_found", ("%s: no VMI %s/%s"):format(fname, ns, name),
      { level = level + 1, resource = "VirtualMachineInstance " .. ns .. "/" .. name })
  end
  return obj
end

-- The nodes a report's target list allows as a set, {[name] = true}, OR ELSE THE VM'S OWN NODE
-- TOO: for a list shared among VMIs, the set of the verdicts it was made from (one per
-- placement key, where the lists are one per key and node, each naming almost every node of a
-- large cluster). For a caller that never picks the VM's own node anyway (maintenance.place
-- leaves out the batch's nodes). Kept while the list lives; read it, do not change it. Not for
-- playbooks.
local target_sets = setmetatable({}, { __mode = "k" })
function M._allowed_nodes(targets)
  local v = list_origin[targets]
  if v ~= nil then
    if v.placed_set == nil then
      v.placed_set = {}
      for _, name in ipairs(v.placed_names) do v.placed_set[name] = true end
    end
    return v.placed_set
  end
  local set = target_sets[targets]
  if set == nil then
    set = {}
    for _, t in ipairs(targets) do set[t] = true end
    target_sets[targets] = set
  end
  return set
end

--- preflight.vm(vmi) -> report
-- See docs/lua-api.md.
function M.vm(vmi)
  vmi = resolve_vmi("preflight.vm", vmi, 2)
  return vm_report(vmi, context())
end

--- preflight.vms(vmis [, {room=, schedulable=}]) -> reports
-- preflight.vm for each VMI object of the list, from one reading of the cluster (what a caller
-- checking many VMs at once wants: each preflight.vm reads every node and pod). room = false:
-- targets by the scheduling rules alone, for a caller that weighs the room itself. schedulable:
-- node names cordoned now that are counted as targets (they will be back), as
-- preflight.cluster's.
function M.vms(vmis, opts)
  if type(vmis) ~= "table" then usage(2, "preflight.vms: a list of VMI objects is needed") end
  if opts ~= nil and type(opts) ~= "table" then
    usage(2, "preflight.vms: options must be a table (room, schedulable)")
  end
  for k, val in pairs(opts or {}) do
    if k ~= "room" and k ~= "schedulable" then
      usage(2, "preflight.vms: unknown option %s (room, schedulable)", tostring(k))
    end
    if k == "room" and type(val) ~= "boolean" then usage(2, "preflight.vms: option room must be a boolean") end
    if k == "schedulable" and type(val) ~= "table" then
      usage(2, "preflight.vms: option schedulable must be a list of node names")
    end
  end
  local ctx, out = context(), {}
  ctx.room = not (opts and opts.room == false)
  for _, n in ipairs(opts and opts.schedulable or {}) do ctx.schedulable[n] = true end
  for i, vmi in ipairs(vmis) do
    out[i] = vm_report(resolve_vmi("preflight.vms", vmi, 2), ctx)
  end
  return out
end

-- --- per node ---------------------------------------------------------------------------------

-- known: VM reports by uid already made with nothing excluded but their own node, or nil.
local function node_report(name, ctx, opts, exclude, known)
  local reports = {}
  local plan = drain.plan(name, opts, 3, function(vmi)
    local r = known and known[vmi.metadata.uid] or vm_report(vmi, ctx, exclude, opts.disable_eviction)
    reports[vmi.metadata.uid] = r
    if r.migratable then return true end
    return false, r.reasons[1], r.messages[1]:gsub("^[^:]+: ", "")
  end)
  local blockers, vms, warnings = {}, {}, {}
  for _, b in ipairs(plan.blockers) do
    blockers[#blockers + 1] = { namespace = b.namespace, name = b.name, reason = b.reason }
  end
  local allowed_now = {} -- per budget: the disruptions it allows now, less those planned here
  local max_grace = 0
  -- the drain's own queue: its limits and the link shared as the queue shares it
  local q = queue.new(opts.queue)
  local migrating = 0
  for _, e in ipairs(plan.pods) do
    if e.vm then
      local r = reports[e.vm.vmi.metadata.uid]
      vms[#vms + 1] = r
      if e.vm.action == "migrate" then
        -- the report's estimate when the queue shares the link as the report did (the same
        -- model run, not made twice)
        local same_share = math.max(1, q.limits.outbound_per_node or 1) == ctx.share
        q:add(e.vm.vmi, { estimate = same_share and r.estimate_seconds or nil })
        migrating = migrating + 1
        if r.model_failure then
          blockers[#blockers + 1] = { namespace = r.namespace, name = r.name, reason = r.model_failure }
        end
      end
    end
    local evicted = (e.decision == "delete" or e.decision == "delete_warn")
      and not (e.vm and e.vm.action == "migrate")
    if evicted and not opts.disable_eviction and not terminal(e.pod) then
      local budgets = drain.budgets_of(e.pod)
      if #budgets > 1 then
        local names = {}
        for _, pdb in ipairs(budgets) do names[#names + 1] = pdb.metadata.name end
        blockers[#blockers + 1] = { namespace = e.namespace, name = e.name, reason = ("selected by "
          .. "more than one PodDisruptionBudget (%s): the eviction API refuses it (500)"):format(
            table.concat(names, ", ")) }
      end
      for _, pdb in ipairs(#budgets == 1 and budgets or {}) do
        local key = pdb.metadata.namespace .. "/" .. pdb.metadata.name
        local trap = drain.budget_blocks(pdb, e.pod)
        local st = null_to_nil(pdb.status) or {}
        if allowed_now[key] == nil then allowed_now[key] = st.disruptionsAllowed or 0 end
        if trap and (allowed_now[key] <= 0) then
          -- allows nothing now: the eviction waits for something outside the drain
          blockers[#blockers + 1] = { namespace = e.namespace, name = e.name, reason = trap }
        elseif allowed_now[key] <= 0 then
          -- allowed some, but fewer than the node holds: the rest wait for replacements
          warnings[#warnings + 1] = ("pod %s/%s waits for PodDisruptionBudget %s: it allows %d "
            .. "disruption(s) and the node has more of its pods; the evictions go as replacements "
            .. "become ready"):format(e.namespace, e.name, key, st.disruptionsAllowed or 0)
        end
        allowed_now[key] = allowed_now[key] - 1
      end
    end
    if evicted then
      local grace = opts.grace_period
        or (e.pod.spec and null_to_nil(e.pod.spec.terminationGracePeriodSeconds)) or 30
      if grace > max_grace then max_grace = grace end
    end
  end
  local seconds = 0
  if migrating > 0 then
    local planned, stuck = q:plan()
    if planned == nil then
      blockers[#blockers + 1] = { namespace = stuck and stuck:match("^([^/]+)") or "",
        name = stuck and stuck:match("/(.+)$") or "", reason = "the queue finds no slot or target for it" }
    end
    seconds = planned or 0
  end
  if plan.warnings ~= "" then table.insert(warnings, 1, plan.warnings) end
  local drainable = #blockers == 0
  return { name = name, drainable = drainable, blockers = blockers,
    estimated_drain_seconds = drainable and math.ceil(seconds + max_grace) or nil,
    vms = vms, warnings = warnings }
end

--- preflight.node(name [, drain_opts]) -> report
-- See docs/lua-api.md.
function M.node(name, opts)
  if type(name) ~= "string" or name == "" then usage(2, "preflight.node: a node name is needed") end
  opts = drain.options("preflight.node", opts, 2)
  if cluster.get("Node", name) == nil then
    vmrun.error("not_found", ("preflight.node: no node %s"):format(name),
      { level = 2, resource = "Node " .. name })
  end
  return node_report(name, context(), opts, {})
end

-- --- per run ----------------------------------------------------------------------------------

-- Whether the nodes that the batch's moving VMs (migrated or restarted) could go to have the
-- memory for them all: the union of their targets (computed with the whole batch excluded, so
-- cordoned, tainted or unsuitable nodes do not count), each with what it has free. A node that
-- says nothing of its memory is not limited. Returns room, free_after (bytes), needed (bytes).
local function room_for(batch, ctx, reports)
  local needed, inside, lists, origins, all_shared = 0, {}, {}, {}, true
  for _, n in ipairs(batch) do inside[n] = true end
  local seen = {} -- target lists are shared among VMs: each is read once
  for _, n in ipairs(batch) do
    for _, vm in ipairs(reports[n] and reports[n].vms or {}) do
      if vm.drain_action == "migrate" or vm.drain_action == "shutdown-restart" then
        needed = needed + (vm.memory or 0)
        if not seen[vm.targets] then
          seen[vm.targets] = true
          lists[#lists + 1] = vm.targets
          local v = list_origin[vm.targets]
          if v then origins[#origins + 1] = v else all_shared = false end
        end
      end
    end
  end
  local offers = snapshot.node_offers()
  -- what a node adds to the room: its free memory, or nil when it says nothing of its memory
  local function free_of(name)
    local o = offers[name]
    local mem = o and o.memory
    if mem == nil then return nil end
    return math.max(0, mem - (ctx.used[name] or { memory = 0 }).memory)
  end
  local free, unlimited = 0, 0
  if all_shared then
    -- every list is a key's nodes less the VM's own node, which is in the batch: the union is
    -- that of the keys' nodes, summed once per set of keys and context, less the batch's nodes
    local ids = {}
    for i, v in ipairs(origins) do ids[i] = tostring(v) end
    table.sort(ids)
    local memo_key = table.concat(ids, " ")
    ctx.unions = ctx.unions or {}
    local union = ctx.unions[memo_key]
    if union == nil then
      union = { free = 0, unlimited = 0 }
      local counted = {}
      for _, v in ipairs(origins) do
        for _, name in ipairs(v.placed_names) do
          if not counted[name] then
            counted[name] = true
            local f = free_of(name)
            if f == nil then union.unlimited = union.unlimited + 1 else union.free = union.free + f end
          end
        end
      end
      ctx.unions[memo_key] = union
    end
    free, unlimited = union.free, union.unlimited
    for n in pairs(inside) do
      local member = false
      for _, v in ipairs(origins) do if v.refused[n] == nil then member = true break end end
      if member and ctx.nodes[n] ~= nil then
        local f = free_of(n)
        if f == nil then unlimited = unlimited - 1 else free = free - f end
      end
    end
  else
    -- (targets worked out with only the VM's own node left out may name the batch's others)
    local usable = {}
    for _, list in ipairs(lists) do
      for _, t in ipairs(list) do if not inside[t] then usable[t] = true end end
    end
    for name in pairs(usable) do
      local f = free_of(name)
      if f == nil then unlimited = unlimited + 1 else free = free + f end
    end
  end
  if unlimited > 0 then return true, nil, needed end
  return needed <= free, free - needed, needed
end

--- preflight.batch_room(report, nodes) -> room, free_after, needed
-- Whether the nodes outside a batch have the memory for what the batch's VMs need, from a
-- preflight.cluster report made with batches of one (its VMs' targets, less the batch's nodes),
-- without checking the VMs again: the room check of preflight.cluster{batch = #nodes}.
function M.batch_room(report, nodes)
  if type(report) ~= "table" or type(report.nodes) ~= "table" or type(nodes) ~= "table" then
    usage(2, "preflight.batch_room: a preflight.cluster report and a list of node names are needed")
  end
  local by_name = {}
  for _, r in ipairs(report.nodes) do by_name[r.name] = r end
  return room_for(nodes, context(), by_name)
end

local CLUSTER_OPTIONS = { nodes = "table", batch = "integer", schedulable = "table" }

--- preflight.cluster([opts]) -> report
-- See docs/lua-api.md.
function M.cluster(opts)
  if opts ~= nil and type(opts) ~= "table" then usage(2, "preflight.cluster: options must be a table") end
  local drain_opts, own = {}, {}
  for k, v in pairs(opts or {}) do
    if CLUSTER_OPTIONS[k] then
      if (CLUSTER_OPTIONS[k] == "integer" and (math.type(v) ~= "integer" or v < 1))
          or (CLUSTER_OPTIONS[k] == "table" and type(v) ~= "table") then
        usage(2, "preflight.cluster: option %s must be %s", k,
          k == "batch" and "an integer >= 1" or "a list of node names")
      end
      own[k] = v
    else
      drain_opts[k] = v
    end
  end
  drain_opts = drain.options("preflight.cluster", drain_opts, 2)
  local ctx = context()
  -- nodes cordoned now that will be back (a resumed maintenance's own): counted as targets
  for _, n in ipairs(own.schedulable or {}) do ctx.schedulable[n] = true end
  local names = {}
  if own.nodes then
    for _, n in ipairs(own.nodes) do
      if ctx.nodes[n] == nil then
        vmrun.error("not_found", ("preflight.cluster: no node %s"):format(tostring(n)),
          { level = 2, resource = "Node " .. tostring(n) })
      end
      names[#names + 1] = n
    end
  else
    for _, n in ipairs(ctx.node_list) do names[#names + 1] = n.metadata.name end
  end
  local batch = own.batch or 1
  local limits = {}
  for k, v in pairs(ctx.limits) do
    if type(v) == "table" then limits[k] = { value = v.value, source = v.source } else limits[k] = v end
  end
  local report = { limits = limits, vms = {}, nodes = {}, batches = {} }
  local checked = {}
  for _, n in ipairs(names) do checked[n] = true end
  local by_uid = {}
  -- one VMI at a time, not the whole list at once: a large cluster's VMIs as tables would all
  -- be alive together
  for _, key in ipairs(cluster.names("vmi", { field = "status.phase=Running" })) do
    local ns, vname = key:match("^([^/]+)/(.+)$")
    local node = cluster.get_field("vmi", ns, vname, "status.nodeName")
    local vmi = checked[node] and cluster.get("vmi", ns, vname)
    local phase = vmi and vmi.status and vmi.status.phase
    if phase == "Running" and checked[vmi.status.nodeName] then
      local r = vm_report(vmi, ctx, {}, drain_opts.disable_eviction)
      report.vms[#report.vms + 1] = r
      by_uid[vmi.metadata.uid] = r
    end
  end
  local by_name = {}
  for i = 1, #names, batch do
    local members, exclude = {}, {}
    for j = i, math.min(#names, i + batch - 1) do
      members[#members + 1] = names[j]
      exclude[names[j]] = true
    end
    -- a batch's VMs must go to nodes outside it
    for _, n in ipairs(members) do
      -- batches of one exclude only the VMs' own node, as report.vms did: those reports stand
      local r = node_report(n, ctx, drain_opts, exclude, batch == 1 and by_uid or nil)
      -- a node's report makes its pods and VMIs into tables for a moment: on a large cluster
      -- these pile up faster than the collector's own steps take them (some 50 MB at 1,000
      -- nodes), so a young collection every 20 nodes
      if #report.nodes % 20 == 0 then collectgarbage("step", 0) end
      by_name[n] = r
      report.nodes[#report.nodes + 1] = r
    end
    local room, free_after, needed = room_for(members, ctx, by_name)
    report.batches[#report.batches + 1] = { nodes = members, room = room,
      memory_needed = needed, memory_free_after = free_after }
    if not room then
      for _, n in ipairs(members) do
        local r = by_name[n]
        r.drainable = false
        r.estimated_drain_seconds = nil
        r.blockers[#r.blockers + 1] = { namespace = "", name = n, reason = ("the other nodes lack "
          .. "%.1f GiB of memory for the VMs of %s"):format(-free_after / GIB, table.concat(members, ", ")) }
      end
    end
  end
  return report
end

return M
