-- vmrun/queue.lua: the `queue` module: the limit-aware migration queue (DESIGN §6). The
-- decisions are made in C (runtime/migqueue.c through vmrun.queue.core): never more migrations
-- in flight than the cluster limit, the outbound limit per source node and vmrun's own inbound
-- limit per target node allow, counting the migrations that others started; the busiest source
-- and the longest migration first; failed migrations retried with backoff. This file connects it
-- to the cluster: it reads the limits, counts foreign migrations, starts migrations with
-- cluster.migrate (pinned to the chosen target when targets are given) and follows them to the
-- end. It creates a VMIM only when a slot is free, so it never leaves more Pending VMIMs in the
-- cluster than there are free slots.
local core = require("vmrun.queue.core")
local cluster = require("vmrun.cluster")
local vmrun = require("vmrun")
local time = require("vmrun.time")
local task = require("vmrun.task")
local log = require("vmrun.log")
local model = require("vmrun.migration.model")
local snapshot = require("vmrun.snapshot")

local M = {}
local Queue = {}
local NONE = {} -- (an empty list, never changed)
local VMIM = "VirtualMachineInstanceMigration"
Queue.__index = Queue
Queue.__name = "vmrun.Queue"

local GIB = 1024 * 1024 * 1024
local HOSTNAME = "kubernetes.io/hostname"

local function usage(fmt, ...) vmrun.error("usage", fmt:format(...), { level = 3 }) end

local migconfig = require("vmrun.migconfig")

-- A Kubernetes quantity ("8Gi", "1.5Gi", "1e9", "1250M", "512") in units, or nil (the C parser
-- of runtime/migration_config.c, as Kubernetes reads them).
local function quantity(text)
  if type(text) ~= "string" and type(text) ~= "number" then return nil end
  return (migconfig.quantity(text))
end
M.quantity = quantity

-- CPU in millicores from a quantity ("4", "400m", "1.5"), or nil.
local function millicores(text)
  if type(text) ~= "string" and type(text) ~= "number" then return nil end
  return (migconfig.quantity(text, -3))
end
M.millicores = millicores

--- queue.pod_requests(pod) -> {cpu = millicores, memory = bytes}
-- What the scheduler counts for a pod: the larger of its containers' requests summed and its
-- largest init container's, plus spec.overhead (KubeVirt sets none; RuntimeClasses may).
function M.pod_requests(pod)
  local spec = type(pod.spec) == "table" and pod.spec or {}
  local function requests(c)
    local req = type(c.resources) == "table" and type(c.resources.requests) == "table"
      and c.resources.requests or {}
    return millicores(req.cpu) or 0, quantity(req.memory) or 0
  end
  local cpu, mem = 0, 0
  for _, c in ipairs(type(spec.containers) == "table" and spec.containers or {}) do
    local c_cpu, c_mem = requests(c)
    cpu, mem = cpu + c_cpu, mem + c_mem
  end
  for _, c in ipairs(type(spec.initContainers) == "table" and spec.initContainers or {}) do
    local c_cpu, c_mem = requests(c)
    cpu, mem = math.max(cpu, c_cpu), math.max(mem, c_mem)
  end
  local overhead = type(spec.overhead) == "table" and spec.overhead or {}
  return { cpu = cpu + (millicores(overhead.cpu) or 0), memory = mem + (quantity(overhead.memory) or 0) }
end

--- queue.node_resources(node) -> memory, cpu
-- What the node offers pods: status.allocatable, else status.capacity; nil for what it does not
-- say (not checked: the scheduler would not check it either).
function M.node_resources(node)
  local st = type(node.status) == "table" and node.status or {}
  local alloc = type(st.allocatable) == "table" and st.allocatable or {}
  local cap = type(st.capacity) == "table" and st.capacity or {}
  return quantity(alloc.memory) or quantity(cap.memory), millicores(alloc.cpu) or millicores(cap.cpu)
end

-- What a node has free: what it offers (snapshot.node_offers) minus what its live pods request
-- (nil: none). Unknown: -1 (not checked).
local function free_on(offers, used)
  local mem, cpu = offers and offers.memory, offers and offers.cpu
  if mem == nil and cpu == nil then return -1, -1 end
  used = used or { memory = 0, cpu = 0 }
  if mem then mem = mem - used.memory end
  if cpu then cpu = cpu - used.cpu end
  return mem and math.max(0, mem) or -1, cpu and math.max(0, cpu) or -1
end

-- What the VMI's second copy needs on the target: its live virt-launcher pod's requests.
local function launcher_requests(vmi)
  local node = vmi.status.nodeName
  if type(node) ~= "string" then return nil end
  -- by name and two fields: the pods are not made into tables
  for _, key in ipairs(cluster.names("Pod", { namespace = vmi.metadata.namespace, node = node,
    selector = "kubevirt.io/created-by=" .. tostring(vmi.metadata.uid) })) do
    local ns, name = key:match("^([^/]+)/(.+)$")
    if cluster.get_field("Pod", ns, name, "spec.nodeName") == node
        and cluster.get_field("Pod", ns, name, "status.phase") == "Running" then
      return cluster.pod_requests(ns, name)
    end
  end
  return nil
end

local function memory_bytes(vmi)
  local spec = vmi.spec or {}
  local domain = spec.domain or {}
  local mem = (domain.memory and domain.memory.guest)
    or (domain.resources and domain.resources.requests and domain.resources.requests.memory)
  return quantity(mem) or 2 * GIB
end

local function annotation(obj, key)
  local a = obj and obj.metadata and obj.metadata.annotations
  if type(a) ~= "table" then return nil end
  return a[key]
end

-- The first of the annotations that is set, as a quantity: vmrun's own, then the simulator's.
local function hint(obj, name)
  return quantity(annotation(obj, "vmrun.io/" .. name)) or quantity(annotation(obj, "sim.vmrun.io/" .. name))
end

local DEFAULT_LINK = 1250 * 1024 * 1024 -- bytes/s: 10 GbE, as the simulator's nodes
local TARGET_START_SECONDS = 5          -- the target virt-launcher pod starting

--- queue.estimate(vmi [, {limits=, share=}]) -> seconds, details
-- How long the VMI's migration takes, from the migration model (runtime/migration_model.c): its
-- memory (domain.memory.guest or requests.memory), its working set and dirty rate (annotations
-- vmrun.io/working-set and vmrun.io/dirty-rate, default a quarter of memory and 0), the source
-- node's link (annotation vmrun.io/nic-bandwidth, default 10 GbE) shared by `share` migrations
-- (default 1), and the settings it migrates with (limits: cluster.migration_limits(vmi)), plus
-- 5 s for the target pod to start. details: the model's answer (outcome "completed", "failed"
-- with KubeVirt's reason, or "never"). A migration that never ends counts as one day.
function M.estimate(vmi, opts)
  if type(vmi) ~= "table" or type(vmi.metadata) ~= "table" then
    usage("queue.estimate: the VMI must be a VMI object")
  end
  if opts ~= nil and type(opts) ~= "table" then usage("queue.estimate: options must be a table (limits, share)") end
  opts = opts or {}
  if opts.share ~= nil and (type(opts.share) ~= "number" or not (opts.share >= 1)) then
    usage("queue.estimate: share must be a number >= 1")
  end
  if opts.limits ~= nil and type(opts.limits) ~= "table" then
    usage("queue.estimate: limits must be a table (cluster.migration_limits' shape)")
  end
  local limits = opts.limits or cluster._migration_limits_shared(vmi) -- read only
  local function value(name, dflt)
    local v = limits[name]
    if type(v) == "table" then v = v.value end
    if v == nil or v == vmrun.null then return dflt end
    local want = dflt == nil and "boolean" or type(dflt)
    if type(v) ~= want then
      vmrun.error("usage", ("queue.estimate: limits.%s must be a %s"):format(name, want), { level = 3 })
    end
    return v
  end
  local node = vmi.status and vmi.status.nodeName
    and select(2, snapshot.nodes())[vmi.status.nodeName]
  local link = hint(node, "nic-bandwidth") or DEFAULT_LINK
  local memory = memory_bytes(vmi)
  local details = model.estimate({ memory = memory,
    working_set = hint(vmi, "working-set") or memory / 4, dirty_rate = hint(vmi, "dirty-rate") or 0,
    bandwidth = link / math.max(1, opts.share or 1),
    bandwidth_per_migration = value("bandwidthPerMigration", 0),
    completion_timeout_per_gib = value("completionTimeoutPerGiB", 150),
    progress_timeout = value("progressTimeout", 150),
    allow_auto_converge = value("allowAutoConverge", false) == true,
    allow_post_copy = value("allowPostCopy", false) == true,
    allow_workload_disruption = value("allowWorkloadDisruption", nil) })
  return TARGET_START_SECONDS + math.min(details.seconds, 86400), details
end

--- queue.new([{limits=, targets=, retry=}]) -> vmrun.Queue
-- limits: {cluster=, outbound_per_node=, inbound_per_node=} (default: the cluster's effective
-- limits and an inbound limit of 2); targets: node names the migrations may go to, pinned with
-- addedNodeSelector kubernetes.io/hostname, each taking what its free memory and CPU hold
-- (default: none pinned, the cluster places them and the inbound limit does not apply); retry: {max_attempts=3, budget=10, backoff=20,
-- max_backoff=300} (seconds).
function M.new(opts)
  if opts ~= nil and type(opts) ~= "table" then usage("queue.new: options must be a table") end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "limits" and k ~= "targets" and k ~= "retry" and k ~= "prefer" then
      usage("queue.new: unknown option %s (limits, prefer, retry, targets)", tostring(k))
    end
  end
  local limits = opts.limits
  if limits == nil then
    local eff = cluster.migration_limits()
    limits = { cluster = eff.parallelMigrationsPerCluster.value,
      outbound_per_node = eff.parallelOutboundMigrationsPerNode.value, inbound_per_node = 2 }
  elseif type(limits) ~= "table" then
    usage("queue.new: limits must be a table {cluster=, outbound_per_node=, inbound_per_node=}")
  else
    for k, v in pairs(limits) do
      if k ~= "cluster" and k ~= "outbound_per_node" and k ~= "inbound_per_node" then
        usage("queue.new: unknown limit %s (cluster, inbound_per_node, outbound_per_node)", tostring(k))
      elseif math.type(v) ~= "integer" then
        usage("queue.new: limit %s must be an integer", k)
      end
    end
  end
  if opts.targets ~= nil and type(opts.targets) ~= "table" then
    usage("queue.new: targets must be a list of node names")
  end
  local names, index = snapshot.node_names()
  local self = setmetatable({ core = core.new(#names, limits), names = names, index = index,
    items = {}, limits = limits, pinned = false }, Queue)
  if opts.retry ~= nil then self.core:set_retry(opts.retry) end
  if opts.prefer ~= nil and (type(opts.prefer) ~= "table" or opts.targets == nil) then
    usage("queue.new: prefer must be a list of node names, with targets")
  end
  if opts.targets ~= nil then
    local preferred = {}
    for _, name in ipairs(opts.prefer or {}) do preferred[name] = true end
    for _, name in ipairs(opts.targets) do
      if index[name] == nil then usage("queue.new: target %s is not a node of the cluster", tostring(name)) end
    end
    -- the room of each target is read when the queue first needs it (set_targets): a drain's
    -- items usually name their few allowed targets among a large cluster's
    self.pending_targets, self.preferred, self.pinned = opts.targets, preferred, #opts.targets > 0
    self.target_set, self.targets_dirty = {}, true
  end
  return self
end

-- Gives the core the room of the targets that the items may use: those of every item's allowed
-- list, or all of them once an item has no list (and at least one, so that the core knows
-- targets are pinned). A pinned target must have room for the second copy (KubeVirt's scheduler
-- checks the target pod's requests the same way); preferred targets are taken first.
function Queue:set_targets()
  local pending = self.pending_targets
  if pending == nil or not self.targets_dirty then return end
  self.targets_dirty = false
  local wanted, all = {}, false
  for _, it in ipairs(self.items) do
    if it.allowed == nil then all = true break end
    for _, i in ipairs(it.allowed) do wanted[i] = true end
  end
  local _, nodes_by_name = snapshot.nodes()
  local offers, used = snapshot.node_offers(), snapshot.requests_by_node()
  local set, first = self.target_set, next(self.target_set) == nil
  for _, name in ipairs(pending) do
    local i = self.index[name]
    if not set[i] and (all or wanted[i] or first) then
      local node = nodes_by_name[name]
      local free_memory, free_cpu = -1, -1
      if node ~= nil then free_memory, free_cpu = free_on(offers[name], used[name]) end
      self.core:set_target(i, true, self.preferred[name] and 1 or 0, free_memory, free_cpu)
      set[i], first = true, false
    end
  end
end

--- q:add(vmi [, {priority=, estimate=, targets=}]) -> item number
-- Queues a migration of a running VMI (an object, {namespace, name} or "namespace/name") away
-- from its node. estimate: seconds (default: queue.estimate, the migration model).
function Queue:add(vmi, opts)
  if opts ~= nil and type(opts) ~= "table" then usage("q:add: options must be a table (estimate, priority)") end
  opts = opts or {}
  for k, v in pairs(opts) do
    if k == "priority" then
      if math.type(v) ~= "integer" then usage("q:add: priority must be an integer") end
    elseif k == "targets" then
      if type(v) ~= "table" then usage("q:add: targets must be a list of node names") end
      for _, name in ipairs(v) do
        if self.index[name] == nil then usage("q:add: target %s is not a node of the cluster", tostring(name)) end
      end
    elseif k ~= "estimate" then
      usage("q:add: unknown option %s (estimate, priority, targets)", tostring(k))
    end
  end
  if type(vmi) == "string" then
    local ns, name = vmi:match("^([^/]+)/([^/]+)$")
    if not ns then usage("q:add: the VMI must be an object, {namespace, name} or \"namespace/name\"") end
    vmi = cluster.get("vmi", ns, name)
  elseif type(vmi) == "table" and vmi.metadata == nil then
    local ns, name = vmi.namespace or vmi[1], vmi.name or vmi[2]
    if type(ns) ~= "string" or type(name) ~= "string" then
      usage("q:add: the VMI must be an object, {namespace, name} or \"namespace/name\"")
    end
    vmi = cluster.get("vmi", ns, name)
  elseif type(vmi) ~= "table" then
    usage("q:add: the VMI must be an object, {namespace, name} or \"namespace/name\"")
  end
  if type(vmi) ~= "table" or vmi.status == nil or vmi.status.nodeName == nil then
    vmrun.error("input", "q:add: the VMI does not exist or runs on no node", { level = 2 })
  end
  local source = self.index[vmi.status.nodeName]
  if source == nil then
    vmrun.error("input", ("q:add: node %s is not known to the queue"):format(vmi.status.nodeName),
      { level = 2 })
  end
  for _, it in ipairs(self.items) do
    if it.namespace == vmi.metadata.namespace and it.name == vmi.metadata.name then
      usage("q:add: %s/%s is queued already", it.namespace, it.name)
    end
  end
  local estimate, details
  if opts.estimate then
    estimate = time.duration(opts.estimate)
  else
    -- the link is shared by as many migrations as may leave the node at once
    estimate, details = M.estimate(vmi, { share = math.max(1, self.limits.outbound_per_node or 1) })
  end
  local need = self.pinned and launcher_requests(vmi) or nil
  local allowed
  if opts.targets and self.pinned then
    -- only these nodes (those the VM's own placement rules allow), among the queue's targets
    allowed = {}
    for _, name in ipairs(opts.targets) do allowed[#allowed + 1] = self.index[name] end
  end
  local id = self.core:add({ source = source, estimate = estimate, priority = opts.priority or 0,
    memory = need and need.memory or 0, cpu = need and need.cpu or 0, targets = allowed })
  self.items[id] = { namespace = vmi.metadata.namespace, name = vmi.metadata.name,
    source = vmi.status.nodeName, estimate = estimate, outcome = details and details.outcome,
    outcome_reason = details and details.reason, state = "waiting", attempts = 0, allowed = allowed }
  self.targets_dirty = true
  return id
end

-- Counts the active migrations this queue did not start, per source and target node.
-- The migrations that hold a slot (§2.4: past Pending, not finished): {key, namespace, vmi,
-- uid}, listed again only when a migration object changed (the queues of a batch poll often,
-- and the cluster keeps every finished migration).
local holding_cache = { revision = nil, list = nil, known = {} }
local function holding_slots()
  local revision = cluster.revision(VMIM)
  if holding_cache.revision == revision then return holding_cache.list end
  local list, known, seen = {}, holding_cache.known, {}
  -- the unfinished ones by name, then their phase: the objects are not made into tables (this
  -- runs whenever a migration changed), and the VMI and uid of one already seen (they do not
  -- change) are not read again
  for _, key in ipairs(cluster.names(VMIM, { field = "status.phase!=Succeeded,status.phase!=Failed" })) do
    local ns, name = key:match("^([^/]+)/(.+)$")
    local phase = cluster.get_field(VMIM, ns, name, "status.phase")
    local uid = cluster.get_field(VMIM, ns, name, "metadata.uid")
    local k = known[key]
    if k == nil or k.uid ~= uid then -- the same name may come again for a new migration
      k = { key = key, namespace = ns, vmi = cluster.get_field(VMIM, ns, name, "spec.vmiName"), uid = uid }
    end
    seen[key] = k
    -- a Pending VMIM holds no slot yet; counting it would only make us wait
    if type(phase) == "string" and phase ~= "Pending" then list[#list + 1] = k end
  end
  holding_cache.revision, holding_cache.list, holding_cache.known = revision, list, seen
  return list
end

function Queue:count_foreign()
  -- the same migrations, the same migrations of ours and the same VMIs as at the last count:
  -- the same counts (a queue counts on every poll, and most polls see no change). Only the VMIs
  -- of the foreign migrations matter, by their resourceVersions.
  local vmim_rev, vmi_rev = cluster.revision(VMIM), cluster.revision("VirtualMachineInstance")
  local seen = self.foreign_seen
  if seen and seen.vmim == vmim_rev and seen.handles == self.handles then
    if seen.vmi == vmi_rev then return self.foreign_total end
    local same = true
    for _, h in ipairs(seen.holders) do
      if cluster.get_field("vmi", h.namespace, h.vmi, "metadata.resourceVersion") ~= h.rv then
        same = false
        break
      end
    end
    if same then
      seen.vmi = vmi_rev
      return self.foreign_total
    end
  end
  local ours = self.ours
  if ours == nil or ours.handles ~= self.handles then
    ours = { handles = self.handles, keys = {} }
    for _, it in ipairs(self.items) do
      if it.handle then ours.keys[it.namespace .. "/" .. it.handle.name] = true end
    end
    self.ours = ours
  end
  ours = ours.keys
  local total, out, inn, holders = 0, {}, {}, {}
  for _, m in ipairs(holding_slots()) do
    if not ours[m.key] then
      total = total + 1
      holders[#holders + 1] = { namespace = m.namespace, vmi = m.vmi,
        rv = cluster.get_field("vmi", m.namespace, m.vmi, "metadata.resourceVersion") }
      -- two fields of the VMI, not the whole (large) object: this runs on every poll
      local state = cluster.get_field("vmi", m.namespace, m.vmi, "status.migrationState")
      -- the VMI's migrationState may still be that of an earlier migration: use it only when
      -- it is this one's, else the VMI's node is the source and the target is not known yet
      if type(state) ~= "table" or state.migrationUid ~= m.uid then state = {} end
      local node = state.sourceNode or cluster.get_field("vmi", m.namespace, m.vmi, "status.nodeName")
      local src = self.index[type(node) == "string" and node or ""]
      local dst = self.index[state.targetNode or ""]
      if src then out[src] = (out[src] or 0) + 1 end -- only the nodes that have some
      if dst then inn[dst] = (inn[dst] or 0) + 1 end
    end
  end
  self.core:set_foreign(total, out, inn)
  self.foreign_seen = { vmim = vmim_rev, vmi = vmi_rev, handles = self.handles, holders = holders }
  self.foreign_total = total
  return total
end

-- Passes an event to on_event with eta: the seconds until the whole queue is done, from the
-- estimates (nil when an item can never start).
local function emit(self, on_event, event)
  if on_event == nil then return end
  local now = time.now()
  local finish = self.core:simulate(now, 0, true) -- an estimate: no look-ahead
  event.eta = finish and math.max(0, finish - now) or nil
  on_event(event)
end

--- q:run([{timeout=, on_event=, poll=, on_abort=}]) -> account — waits
-- Runs the queue to the end: starts migrations as slots free up, follows them, retries failed
-- ones; an item whose VMI stopped or left the node before its turn is skipped. on_event(event)
-- gets {type = "started"|"succeeded"|"failed"|"retry"|"skipped", item, vmi,
-- source, target, attempt, reason, eta} (eta: seconds until the whole queue is done, from the
-- estimates). Returns {items = {{vmi, state, attempts, source, target,
-- reason, started, finished}}, succeeded, failed, skipped, seconds}. Raises kind "timeout" when timeout
-- passes (migrations in flight go on; their handles are in q.items). With on_abort ("finish" or
-- "cancel"), once vmrun.abort_requested() says so no migration starts, the running ones finish
-- (or are cancelled: their VMIMs deleted), and then it raises kind "aborted" (the items not
-- done are in state "aborted").
function Queue:run(opts)
  if opts ~= nil and type(opts) ~= "table" then usage("q:run: options must be a table (on_event, poll, timeout)") end
  opts = opts or {}
  for k, v in pairs(opts) do
    if k == "on_event" then
      if type(v) ~= "function" then usage("q:run: on_event must be a function") end
    elseif k == "on_abort" then
      if v ~= "finish" and v ~= "cancel" then usage("q:run: on_abort must be \"finish\" or \"cancel\"") end
    elseif k ~= "timeout" and k ~= "poll" then
      usage("q:run: unknown option %s (on_abort, on_event, poll, timeout)", tostring(k))
    end
  end
  local on_event, poll = opts.on_event, opts.poll and time.duration(opts.poll) or 1
  if poll <= 0 then usage("q:run: poll must be more than 0 s") end
  local started_at = time.now()
  local deadline = opts.timeout and started_at + time.duration(opts.timeout)
  local checked -- the migrations' revision when the running items were last read
  while true do
    local now = time.now()
    -- what this poll sees: the migrations and VMIs as of these revisions
    local seen_vmim, seen_vmi = cluster.revision(VMIM), cluster.revision("VirtualMachineInstance")
    local acted = false -- an item changed state in this poll: the next one looks again anyway
    self:set_targets()
    -- finished migrations: only a change to a migration object can finish one
    local look = seen_vmim ~= checked
    checked = seen_vmim
    for id, it in ipairs(look and self.items or NONE) do -- in order: runs are deterministic
      -- the phase alone first: the whole status only for a migration that ended (or is gone)
      local early = it.state == "running"
        and cluster.get_field(VMIM, it.handle.namespace, it.handle.name, "status.phase")
      if it.state == "running" and (early == "Succeeded" or early == "Failed" or early == nil) then
        local ok, st = pcall(it.handle.status, it.handle)
        local phase = ok and st.phase or nil
        if not ok and vmrun.is_error(st, "not_found") then
          phase = "Failed" -- its VMIM was deleted: the migration is over
        elseif not ok then
          -- a read that failed (an API error, a timeout) says nothing about the migration: it
          -- keeps its slot, and the next poll looks again
          checked, acted = nil, true
          log.warn("cannot read a migration's status", { vmi = it.namespace .. "/" .. it.name,
            error = tostring(st) })
        end
        if phase == "Succeeded" or phase == "Failed" then
          local reason = ok and st.failure_reason or "its VirtualMachineInstanceMigration is gone"
          local state = self.core:finish(id, now, phase == "Succeeded")
          it.state, it.finished, it.reason = state, now, phase == "Failed" and reason or nil
          acted = true
          it.target = ok and st.target or it.target
          local kind = phase == "Succeeded" and "succeeded" or (state == "waiting" and "retry" or "failed")
          emit(self, on_event, { type = kind, item = id, vmi = it.namespace .. "/" .. it.name,
            source = it.source, target = it.target, attempt = it.attempts, reason = it.reason })
        end
      end
    end
    -- new starts; the migrations of others are counted only when one of ours might start (most
    -- polls of a busy queue find its own migrations filling its limits)
    local may_start = self.core:could_start(now)
    local abort = opts.on_abort and vmrun.abort_requested()
    if abort then
      -- stopping: nothing new starts; what runs finishes, or is cancelled
      may_start = false
      local running = 0
      for _, it in ipairs(self.items) do
        if it.state == "running" then
          running = running + 1
          if opts.on_abort == "cancel" and not it.cancel_sent then
            it.cancel_sent = true
            log.info(("stopping: cancelling the migration of %s/%s"):format(it.namespace, it.name),
              { vmi = it.namespace .. "/" .. it.name })
            local ok, err = pcall(it.handle.cancel, it.handle)
            if not ok and not vmrun.is_error(err, "not_found") then
              log.warn("cannot cancel a migration", { vmi = it.namespace .. "/" .. it.name, error = tostring(err) })
            end
          end
        end
      end
      if running == 0 then
        local left = 0
        for _, it in ipairs(self.items) do
          if it.state ~= "done" and it.state ~= "failed" and it.state ~= "skipped" then
            it.state, it.reason, left = "aborted", abort, left + 1
          end
        end
        vmrun.error("aborted", ("q:run: stopped (%s): %d migration(s) not done"):format(abort, left),
          { level = 2 })
      end
    end
    if may_start then self:count_foreign() end
    while may_start do
      local id, target = self.core:next(now)
      if id == nil then break end
      local it = self.items[id]
      local selector = target and self.pinned and { [HOSTNAME] = self.names[target] } or nil
      -- two fields of the VMI, not the whole object
      local where = cluster.get_field("vmi", it.namespace, it.name, "status.phase") == "Running"
        and cluster.get_field("vmi", it.namespace, it.name, "status.nodeName")
      if where == vmrun.null then where = nil end
      local ok, handle
      if where and where ~= it.source then
        ok, handle = false, vmrun.null -- moved meanwhile (by someone else): nothing to do
      elseif not where then
        ok, handle = false, nil -- gone, or not running: nothing to migrate
      else
        -- a run that journals (a maintenance) writes the migration before and after it is made
        local jr = require("vmrun.journal").active()
        local vmi = it.namespace .. "/" .. it.name
        if jr then jr:record("migration", { vmi = vmi, source = it.source, phase = "create" }) end
        ok, handle = pcall(cluster.migrate, { it.namespace, it.name }, { added_node_selector = selector })
        if jr then
          jr:record("migration", { vmi = vmi, phase = ok and "created" or "refused",
            name = ok and handle and handle.name or nil })
        end
      end
      it.attempts = it.attempts + 1
      if not ok and (handle == nil or handle == vmrun.null) then
        -- not a failure to retry: the VMI left the node, or stopped, before its turn
        self.core:finish(id, now, false)
        self.core:cancel(id)
        it.state, acted = "skipped", true
        it.attempts = it.attempts - 1
        it.reason = handle == nil and "the VMI is gone or not running"
          or ("the VMI moved to " .. where .. " meanwhile")
        emit(self, on_event, { type = "skipped", item = id, vmi = it.namespace .. "/" .. it.name,
          source = it.source, reason = it.reason })
      elseif ok then
        it.handle, it.state, it.started, acted = handle, "running", now, true
        self.handles = (self.handles or 0) + 1 -- the migrations of ours changed
        it.target = target and self.names[target] or nil
        emit(self, on_event, { type = "started", item = id, vmi = it.namespace .. "/" .. it.name,
          source = it.source, target = it.target, attempt = it.attempts })
      else
        it.reason = tostring(handle)
        it.state, acted = self.core:finish(id, now, false), true
        log.warn("cannot start a migration", { vmi = it.namespace .. "/" .. it.name, reason = it.reason })
        emit(self, on_event, { type = it.state == "waiting" and "retry" or "failed", item = id,
          vmi = it.namespace .. "/" .. it.name, source = it.source, reason = it.reason,
          attempt = it.attempts })
      end
    end
    local busy, running = false, false
    for _, it in ipairs(self.items) do
      if it.state == "running" or it.state == "waiting" then busy = true end
      if it.state == "running" then running = true end
    end
    if not busy then break end
    if not running and self.core:next_ready(now) == nil then
      -- nothing runs and no backoff ends: an item no target may ever take fails now, instead of
      -- the run waiting for ever
      local finish, stuck = self.core:simulate(now, 0)
      if finish == nil and stuck ~= nil then
        local it = self.items[stuck]
        self.core:cancel(stuck)
        it.state, it.reason, acted = "failed", "no target node may take it (targets, limits or room)", true
        emit(self, on_event, { type = "failed", item = stuck, vmi = it.namespace .. "/" .. it.name,
          source = it.source, reason = it.reason })
      end
    end
    if deadline and time.now() >= deadline then
      vmrun.error("timeout", ("q:run: migrations still queued or running after %s"):format(
        tostring(opts.timeout)), { level = 2 })
    end
    -- Polls every `poll` seconds; after a poll that changed no item, the polls that could only
    -- find what it found (no migration or VMI changed, no item was added, no backoff ended, the
    -- deadline is not there) do nothing but wait for the next one. In real time (a real cluster) a migration that ends frees its slot at once: the waits
    -- also end when a migration or VMI changes (the watches bring it), at the latest after poll.
    local function pause()
      if time.is_virtual() then
        task.sleep(poll)
      else
        cluster.wait_change({ [VMIM] = seen_vmim, VirtualMachineInstance = seen_vmi }, poll)
      end
    end
    local last, items_seen = time.now(), #self.items
    pause()
    if not acted then
      local horizon = math.min(self.core:next_ready(last) or math.huge, deadline or math.huge)
      while time.now() < horizon and #self.items == items_seen and cluster.revision(VMIM) == seen_vmim
          and cluster.revision("VirtualMachineInstance") == seen_vmi do
        pause()
      end
    end
  end
  local account, succeeded, failed, skipped = {}, 0, 0, 0
  for id = 1, #self.items do
    local it = self.items[id]
    account[id] = { vmi = it.namespace .. "/" .. it.name, state = it.state, attempts = it.attempts,
      source = it.source, target = it.target, reason = it.reason, started = it.started,
      finished = it.finished }
    if it.state == "done" then succeeded = succeeded + 1 elseif it.state == "failed" then failed = failed + 1 end
    if it.state == "skipped" then skipped = skipped + 1 end
  end
  return { items = account, succeeded = succeeded, failed = failed, skipped = skipped,
    seconds = time.now() - started_at }
end

--- q:plan() -> seconds, etas | nil, stuck_vmi
-- The estimated time until every queued migration ends, from the estimates and the limits, and
-- per item the seconds until it ends (etas[item] = {vmi =, seconds =}; 0 for items already over).
function Queue:plan()
  local now = time.now()
  self:set_targets()
  self:count_foreign()
  local finish, ends = self.core:simulate(now, 0)
  if finish == nil then
    local it = ends and self.items[ends]
    return nil, it and (it.namespace .. "/" .. it.name)
  end
  local etas = {}
  for id, it in ipairs(self.items) do
    local over = it.state ~= "waiting" and it.state ~= "running"
    etas[id] = { vmi = it.namespace .. "/" .. it.name,
      seconds = over and 0 or math.max(0, (ends[id] or now) - now) }
  end
  return finish - now, etas
end

return M
