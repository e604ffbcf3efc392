-- vmrun/drain.lua: node drains that know about VMs, behind node.drain and the pre-flight checks.
-- plan() reads a node and says, without changing anything, what a drain would do to each VM
-- (migrate, shut down and restart, shut down and stay off, or block the drain, by its eviction
-- strategy, its LiveMigratable condition and its run strategy; reference kubevirt-migration.md
-- §3.1, §3.5, §3.6) and to each other pod (kubectl drain's filters, §4.2 step 4, in C through
-- vmrun.drain.core). run() carries a plan out: it cordons the node, migrates the migratable VMs
-- through the limit-aware queue, then evicts (or deletes) what is left with kubectl drain's loop
-- (§4.2 steps 6-7), reading every 429 for what it means. It never waits silently: each new reason
-- a pod is waiting for is logged, and a drain that cannot finish raises with what blocks it and
-- the account of what was done. Everything goes through the cluster module, so every backend
-- works the same. A drain that finds a blocker before it starts changes nothing.
local core = require("vmrun.drain.core")
local cluster = require("vmrun.cluster")
local queue = require("vmrun.queue")
local vmrun = require("vmrun")
local log = require("vmrun.log")
local time = require("vmrun.time")
local task = require("vmrun.task")
local key_list = require("vmrun.keys")
local strip_where = require("vmrun.message")

local M = {}

local EVICT_RETRY_SECONDS = 5 -- kubectl's EvictErrorRetryDelay
local DELETE_POLL_SECONDS = 1 -- kubectl's waitForDelete interval
local REMIND_SECONDS = 60     -- a pod still blocked for the same reason is logged again this often

local function null_to_nil(v)
  if v == vmrun.null then return nil end
  return v
end

local function labels_of(obj)
  return null_to_nil(obj.metadata and obj.metadata.labels) or {}
end

local function condition(obj, type)
  local st = null_to_nil(obj.status) or {}
  for _, c in ipairs(null_to_nil(st.conditions) or {}) do
    if c.type == type then return c end
  end
end

local function is_launcher(pod)
  return labels_of(pod)["kubevirt.io"] == "virt-launcher"
end

-- A pod that has finished (Succeeded or Failed).
local function terminal(pod)
  local phase = pod.status and pod.status.phase
  return phase == "Succeeded" or phase == "Failed"
end
M.terminal = terminal

-- Does a LabelSelector ({matchLabels, matchExpressions}) select these labels? An empty or missing
-- selector selects nothing (PodDisruptionBudget semantics, §4.3).
local function selects(selector, labels)
  selector = null_to_nil(selector)
  if selector == nil then return false end
  local ml, me = null_to_nil(selector.matchLabels), null_to_nil(selector.matchExpressions)
  if (ml == nil or next(ml) == nil) and (me == nil or #me == 0) then return false end
  for k, v in pairs(ml or {}) do
    if labels[k] ~= v then return false end
  end
  for _, e in ipairs(me or {}) do
    local have, values = labels[e.key], {}
    for _, v in ipairs(null_to_nil(e.values) or {}) do values[v] = true end
    if e.operator == "In" then
      if have == nil or not values[have] then return false end
    elseif e.operator == "NotIn" then
      if have ~= nil and values[have] then return false end
    elseif e.operator == "Exists" then
      if have == nil then return false end
    elseif e.operator == "DoesNotExist" then
      if have ~= nil then return false end
    else
      return false
    end
  end
  return true
end
M.selects = selects

-- The PodDisruptionBudgets of the pod's namespace that select it.
function M.budgets_of(pod)
  local found = {}
  for _, pdb in ipairs(cluster.pdbs({ namespace = pod.metadata.namespace })) do
    if selects(pdb.spec and pdb.spec.selector, labels_of(pod)) then found[#found + 1] = pdb end
  end
  return found
end

-- Why a budget allows no disruption of this pod, in words, or nil when it allows one.
function M.budget_blocks(pdb, pod)
  local st = null_to_nil(pdb.status) or {}
  local allowed = st.disruptionsAllowed
  if allowed ~= nil and allowed > 0 then return nil end
  local name = pdb.metadata.namespace .. "/" .. pdb.metadata.name
  local spec = pdb.spec or {}
  if is_launcher(pod) and (spec.maxUnavailable ~= nil or type(spec.minAvailable) == "string") then
    return ("PodDisruptionBudget %s uses %s on a VM's pod, which has no /scale: it never allows a "
      .. "disruption (use an integer minAvailable; kubevirt/kubevirt#18063)"):format(name,
        spec.maxUnavailable ~= nil and "maxUnavailable" or "a percentage minAvailable")
  end
  return ("PodDisruptionBudget %s allows no disruption (%s of %s pods healthy, %s needed)"):format(
    name, tostring(st.currentHealthy or "?"), tostring(st.expectedPods or "?"),
    tostring(st.desiredHealthy or "?"))
end

--- M.explain_429(pod, err) -> reason, kind
-- What a 429 on the eviction of pod means: kind is "evacuation_started", "evacuation_in_progress",
-- "not_migratable", "migration_target", "disruption_budget" or "other"; reason says it in words,
-- naming the VMI or the budget.
function M.explain_429(pod, err)
  local msg = tostring(err.message or err)
  local vmi = msg:match('evacuation of VMI "([^"]+)"')
  if msg:find("Evacuation in progress", 1, true) then
    return ("KubeVirt is migrating VMI %s away (evacuation in progress)"):format(vmi or "?"),
      "evacuation_in_progress"
  elseif msg:find("Eviction triggered evacuation", 1, true) then
    return ("KubeVirt started evacuating VMI %s (its eviction strategy migrates it)"):format(vmi or "?"),
      "evacuation_started"
  elseif msg:find("is configured with an eviction strategy but is not live-migratable", 1, true) then
    local name = msg:match("VMI (%S+) is configured")
    return ("VMI %s/%s has eviction strategy LiveMigrate but cannot live-migrate: KubeVirt refuses "
      .. "its eviction for ever"):format(pod.metadata.namespace, name or "?"), "not_migratable"
  elseif msg:find("Eviction request for target Pod", 1, true) then
    return "the pod is the target of a migration that has not ended yet", "migration_target"
  elseif msg:find("disruption budget", 1, true) then
    local reasons = {}
    for _, pdb in ipairs(M.budgets_of(pod)) do reasons[#reasons + 1] = M.budget_blocks(pdb, pod) end
    if #reasons == 0 then reasons[1] = "a PodDisruptionBudget allows no disruption" end
    return table.concat(reasons, "; "), "disruption_budget"
  end
  return strip_where(msg), "other"
end

-- --- options -----------------------------------------------------------------------------------

local OPTIONS = {
  ignore_daemonsets = "boolean", delete_emptydir_data = "boolean", force = "boolean",
  grace_period = "integer", pod_selector = "string", timeout = "duration",
  disable_eviction = "boolean", skip_wait_for_delete_timeout = "duration", owner = "string",
  evict_finished = "boolean", on_abort = "string",
  queue = "table", on_event = "function", priority = "integer", vm_targets = "function",
}

local function usage(level, fmt, ...) vmrun.error("usage", fmt:format(...), { level = level + 1 }) end

-- Checks drain options; returns a copy with the defaults filled in. level: the playbook's line.
function M.options(fname, opts, level)
  if opts ~= nil and type(opts) ~= "table" then usage(level + 1, "%s: options must be a table", fname) end
  local out = {}
  for k, v in pairs(opts or {}) do
    local want = OPTIONS[k]
    if want == nil then
      usage(level + 1, "%s: unknown option %s (%s)", fname, tostring(k), key_list(OPTIONS))
    elseif want == "integer" then
      if math.type(v) ~= "integer" then usage(level + 1, "%s: option %s must be an integer", fname, k) end
    elseif want == "duration" then
      if type(v) ~= "string" and type(v) ~= "number" then
        usage(level + 1, "%s: option %s must be a duration (\"90s\", \"1h\" or seconds)", fname, k)
      end
      local ok, s = pcall(time.duration, v)
      if not ok then usage(level + 1, "%s: option %s: %s", fname, k, strip_where(s)) end
      v = s
    elseif type(v) ~= want then
      usage(level + 1, "%s: option %s must be a %s", fname, k, want)
    end
    out[k] = v
  end
  if out.ignore_daemonsets == nil then out.ignore_daemonsets = true end
  if out.grace_period ~= nil and out.grace_period < 0 then
    usage(level + 1, "%s: option grace_period must be >= 0 (leave it out for the pod's own)", fname)
  end
  if out.priority ~= nil and (out.priority < -2147483648 or out.priority > 2147483647) then
    usage(level + 1, "%s: option priority must fit in 32 bits", fname)
  end
  if out.owner == "" then usage(level + 1, "%s: option owner must not be empty", fname) end
  if out.on_abort ~= nil and out.on_abort ~= "finish" and out.on_abort ~= "cancel" then
    usage(level + 1, "%s: option on_abort must be \"finish\" or \"cancel\"", fname)
  end
  if out.skip_wait_for_delete_timeout then
    -- kubectl counts whole seconds
    out.skip_wait_for_delete_timeout = math.min(math.ceil(out.skip_wait_for_delete_timeout), 1e9)
  end
  if out.pod_selector then
    -- parsed now, so that a bad one is refused at the playbook's line, before anything changes
    local ok, e = pcall(cluster.count, "Pod", { namespace = "default", selector = out.pod_selector })
    if not ok then usage(level + 1, "%s: option pod_selector: %s", fname, strip_where(e)) end
  end
  if out.queue then
    -- checked by making one, without its targets (whose room it would read); the targets must
    -- be nodes
    local probe = {}
    for k, v in pairs(out.queue) do if k ~= "targets" and k ~= "prefer" then probe[k] = v end end
    local ok, e = pcall(queue.new, probe)
    if ok and out.queue.targets ~= nil then
      if type(out.queue.targets) ~= "table" then
        ok, e = false, "queue.new: targets must be a list of node names"
      else
        local _, nodes_by_name = require("vmrun.snapshot").nodes()
        for _, t in ipairs(out.queue.targets) do
          if type(t) ~= "string" or nodes_by_name[t] == nil then
            ok, e = false, ("queue.new: target %s is not a node of the cluster"):format(tostring(t))
          end
        end
      end
    end
    if not ok then usage(level + 1, "%s: option queue: %s", fname, strip_where(e)) end
  end
  return out
end

-- kubectl's texts name its flags; a playbook sets options.
local function as_options(text)
  return (text:gsub("%-%-delete%-emptydir%-data", "delete_emptydir_data = true")
    :gsub("%-%-ignore%-daemonsets", "ignore_daemonsets = true"):gsub("%-%-force", "force = true"))
end

-- --- the plan ------------------------------------------------------------------------------------

function M.run_strategy_of(vmi)
  for _, o in ipairs(null_to_nil(vmi.metadata.ownerReferences) or {}) do
    if o.kind == "VirtualMachine" then
      -- two fields, not the VM with its whole template
      local ns = vmi.metadata.namespace
      local strategy = cluster.get_field("VirtualMachine", ns, o.name, "spec.runStrategy")
      if strategy ~= nil and strategy ~= vmrun.null then return strategy end
      local running = cluster.get_field("VirtualMachine", ns, o.name, "spec.running")
      if running == true then return "Always" end
      if running == nil and cluster.get_field("VirtualMachine", ns, o.name, "metadata.name") == nil then
        return nil -- the VM is gone
      end
      return "Halted" -- running: false, or neither field (KubeVirt's default)
    end
  end
  return nil -- a VMI without a VM
end

-- KubeVirt's verdict: the VMI's LiveMigratable condition. Returns migratable, reason, message.
function M.condition_verdict(vmi)
  local cond = condition(vmi, "LiveMigratable")
  if cond ~= nil and cond.status == "True" then return true end
  if cond == nil then
    return false, "LiveMigratableUnknown", "KubeVirt has not reported the LiveMigratable condition"
  end
  return false, null_to_nil(cond.reason) or "LiveMigratableUnknown", null_to_nil(cond.message) or ""
end

-- What a drain does to a VMI: action "migrate", "shutdown-restart", "stay-off" or "block", with
-- the reason (KubeVirt's reason name) and a message. verdict(vmi) -> migratable, reason,
-- message (default: M.condition_verdict).
function M.vm_action(vmi, cluster_strategy, disable_eviction, verdict)
  local strategy = null_to_nil(vmi.spec and vmi.spec.evictionStrategy) or cluster_strategy or "None"
  local migratable, reason, message = (verdict or M.condition_verdict)(vmi)
  local run_strategy = M.run_strategy_of(vmi)
  local v = { namespace = vmi.metadata.namespace, name = vmi.metadata.name,
    node = vmi.status and null_to_nil(vmi.status.nodeName), eviction_strategy = strategy,
    run_strategy = run_strategy or "none (a VMI without a VirtualMachine)", migratable = migratable,
    memory = vmi.spec and vmi.spec.domain and vmi.spec.domain.resources
      and vmi.spec.domain.resources.requests and vmi.spec.domain.resources.requests.memory }
  if not migratable then v.reason, v.message = reason, message end
  local function shutdown()
    if run_strategy == "Always" then
      v.action = "shutdown-restart"
    else
      v.action = "stay-off"
    end
  end
  if strategy == "LiveMigrate" or strategy == "LiveMigrateIfPossible" then
    if migratable then
      v.action = "migrate"
    elseif strategy == "LiveMigrate" and not disable_eviction then
      v.action = "block"
      v.block = ("eviction strategy LiveMigrate but not live-migratable (%s: %s): no drain can "
        .. "take it off the node"):format(v.reason, v.message)
    else
      shutdown()
    end
  elseif strategy == "External" and not disable_eviction then
    v.action = "block"
    v.block = "eviction strategy External: KubeVirt only marks it, and an external controller "
      .. "(cluster-api-provider-kubevirt) must move it"
  else
    shutdown()
  end
  return v
end

-- Reads the node and decides, without changing anything. Returns {node, vms, pods, blockers,
-- errors, warnings}: vms as M.vm_action; pods {namespace, name, uid, decision, message, vm}, where
-- vm names the VM of a launcher pod; blockers {namespace, name, kind = "vm"|"pod", reason}.
-- level: of the line to blame, counted from plan's caller (1: the caller). verdict: as for
-- M.vm_action.
function M.plan(name, opts, level, verdict)
  -- whether the node exists: one field, not the whole (large) node
  if cluster.get_field("Node", nil, name, "metadata.name") == nil then
    vmrun.error("not_found", ("no node %s"):format(name), { level = level + 1, resource = "Node " .. name })
  end
  local pod_keys = cluster.names("Pod", { node = name, selector = opts.pod_selector })
  local limits = cluster.migration_limits()
  local cluster_strategy = limits.evictionStrategy and null_to_nil(limits.evictionStrategy.value)
  local vm_of_uid = {}
  local plan = { node = name, vms = {}, pods = {}, blockers = {}, errors = "", warnings = "" }
  for _, vmi in ipairs(cluster.vmis({ node = name })) do
    local phase = vmi.status and vmi.status.phase
    if phase ~= "Succeeded" and phase ~= "Failed" then vm_of_uid[vmi.metadata.uid] = vmi end
  end
  local filtered, daemonsets = {}, {}
  for _, key in ipairs(pod_keys) do
    -- first what decides the pod's way (a VM's pod, the pod of a VM elsewhere, another pod),
    -- not the whole pod: most pods of a node are VMs' pods. Their entries keep what the drain
    -- and pre-flight read of them: namespace, name, uid, labels, phase, grace period.
    local ns, pod_name = key:match("^([^/]+)/(.+)$")
    local pod = { metadata = { namespace = ns, name = pod_name,
      uid = cluster.get_field("Pod", ns, pod_name, "metadata.uid"),
      labels = cluster.get_field("Pod", ns, pod_name, "metadata.labels") },
      status = { phase = cluster.get_field("Pod", ns, pod_name, "status.phase") } }
    local entry = { namespace = ns, name = pod_name, uid = pod.metadata.uid, pod = pod }
    local vmi = is_launcher(pod) and not terminal(pod)
      and vm_of_uid[labels_of(pod)["kubevirt.io/created-by"]]
    if vmi and vmi.status.nodeName == name then
      local v = M.vm_action(vmi, cluster_strategy, opts.disable_eviction, verdict)
      v.vmi = vmi
      v.pod = pod.metadata.name
      entry.vm = v
      plan.vms[#plan.vms + 1] = v
      vm_of_uid[vmi.metadata.uid] = nil -- one active pod per VMI
      if v.action == "block" then
        plan.blockers[#plan.blockers + 1] = { namespace = v.namespace, name = v.name, kind = "vm",
          reason = v.block }
      end
    end
    if entry.vm == nil and is_launcher(pod) and not terminal(pod) then
      -- a virt-launcher pod whose VMI is not on this node: a migration's source that has not
      -- ended yet, or a target; KubeVirt's webhook answers its eviction (429 until it ends)
      entry.decision = "delete"
    end
    if entry.vm == nil and entry.decision == nil then
      -- a VM's pod is not held back by kubectl's filters: its emptyDirs are KubeVirt's scratch
      -- space, and what happens to the VM follows its eviction and run strategies; every other
      -- pod goes through the filters, whole
      pod = cluster.get("Pod", ns, pod_name) or pod
      entry.pod = pod
      filtered[#filtered + 1] = entry
      for _, o in ipairs(null_to_nil(pod.metadata.ownerReferences) or {}) do
        if o.kind == "DaemonSet" and o.controller == true then
          local ds = pod.metadata.namespace .. "/" .. o.name
          if daemonsets[ds] == nil then
            daemonsets[ds] = cluster.get_field("DaemonSet", pod.metadata.namespace, o.name,
              "metadata.name") ~= nil
          end
        end
      end
    else
      pod.spec = { terminationGracePeriodSeconds = cluster.get_field("Pod", ns, pod_name,
        "spec.terminationGracePeriodSeconds") }
    end
    plan.pods[#plan.pods + 1] = entry
  end
  local list = {}
  for i, e in ipairs(filtered) do list[i] = e.pod end
  local decisions, errors, warnings = core.filter(list, { force = opts.force,
    ignore_daemonsets = opts.ignore_daemonsets, delete_emptydir_data = opts.delete_emptydir_data,
    skip_wait_for_delete_timeout = opts.skip_wait_for_delete_timeout, now = time.now(),
    daemonsets = daemonsets, keep_finished = not opts.evict_finished })
  for i, e in ipairs(filtered) do
    e.decision, e.message = decisions[i].decision, decisions[i].message
    if e.decision == "error" then
      plan.blockers[#plan.blockers + 1] = { namespace = e.namespace, name = e.name, kind = "pod",
        reason = as_options(e.message) }
    end
  end
  for _, e in ipairs(plan.pods) do
    if e.decision == nil then e.decision = e.vm.action == "block" and "block" or "delete" end -- a VM's pod
  end
  plan.errors, plan.warnings = as_options(errors), as_options(warnings)
  return plan
end

-- --- carrying it out ---------------------------------------------------------------------------

local function blockers_text(blockers)
  local parts = {}
  for _, b in ipairs(blockers) do
    parts[#parts + 1] = ("%s %s/%s: %s"):format(b.kind == "vm" and "VM" or "pod", b.namespace,
      b.name, b.reason)
  end
  return table.concat(parts, "; ")
end

-- Sleeps until the next retry, not past the deadline. With since ({[kind] = revision}) and in real
-- time (a real cluster), the wait also ends when an object of those kinds changes: the watches
-- bring what a poll would find, at once.
local function pause(seconds, deadline, since)
  if deadline then seconds = math.max(0.001, math.min(seconds, deadline - time.now())) end
  if since ~= nil and not time.is_virtual() then
    cluster.wait_change(since, seconds)
  else
    task.sleep(seconds)
  end
end

-- Evicts (or deletes) one pod and waits until it is gone, kubectl's way: a 429 is retried every
-- 5 s, each new reason logged (and again every minute while it lasts); any other error ends it.
-- Never raises but for cancellation: returns the pod's record, and emits pod_<action>.
local function remove_pod(entry, opts, deadline, drain_name, emit)
  local rec = { namespace = entry.namespace, name = entry.name, vm = entry.vm and entry.vm.name }
  local ns, name, uid = entry.namespace, entry.name, entry.uid
  local where = ns .. "/" .. name
  local last, last_logged = nil, 0
  local function timed_out()
    return deadline ~= nil and time.now() >= deadline
  end
  local function gone() -- (its uid only: a drain polls each of its pods until it is gone)
    return cluster.get_field("Pod", ns, name, "metadata.uid") ~= uid
  end
  local function say(why, kind)
    if why ~= last or time.now() - last_logged >= REMIND_SECONDS then
      log.info(("node.drain %s: pod %s waits: %s"):format(drain_name, where, why),
        { node = drain_name, pod = where, reason = kind })
      last, last_logged = why, time.now()
    end
  end
  local ok, err = pcall(function()
    if opts.disable_eviction then
      local done, e = pcall(cluster.delete, "Pod", ns, name, { grace_period = opts.grace_period })
      if not done then
        if vmrun.is_error(e, "not_found") then rec.action = "gone" return end
        rec.action, rec.reason = "failed", strip_where(e)
        return
      end
      rec.action = "deleted"
    else
      while true do
        if timed_out() then
          rec.action, rec.reason = "blocked", last or "global timeout reached"
          return
        end
        local stop = opts.on_abort and vmrun.abort_requested()
        if stop then -- (a pod the webhook or a budget holds back: the run is stopping)
          rec.action, rec.reason = "aborted", stop
          return
        end
        local done, e = cluster.try_evict(ns, name, { grace_period = opts.grace_period })
        if done then rec.action = "evicted" break end
        if e.kind == "not_found" then rec.action = "gone" return end
        if e.status == 429 then
          local why, kind = M.explain_429(entry.pod, e)
          rec.kind = kind
          say(why, kind)
        elseif e.status == 403 and tostring(e.message):find("NamespaceTerminating", 1, true) then
          -- kubectl: done when the pod is going already, else retried
          local p = cluster.get("Pod", ns, name)
          if p == nil or null_to_nil(p.metadata.deletionTimestamp) then rec.action = "evicted" break end
          say("its namespace is being deleted", "namespace_terminating")
        else
          rec.action, rec.reason = "failed", strip_where(e)
          return
        end
        pause(EVICT_RETRY_SECONDS, deadline)
        if gone() then rec.action = "gone" return end
      end
    end
    -- waitForDelete
    local since = time.now()
    while true do
      local pods_seen = cluster.revision("Pod")
      if gone() then return end
      local p = opts.skip_wait_for_delete_timeout and opts.skip_wait_for_delete_timeout > 0
        and cluster.get("Pod", ns, name)
      if p and p.metadata.uid == uid then
        -- kubectl stops waiting for a pod whose deletion began longer ago than that: the same
        -- test as its skip-deleted filter
        local d = core.filter({ p }, { skip_wait_for_delete_timeout = opts.skip_wait_for_delete_timeout,
          now = time.now(), ignore_daemonsets = true, delete_emptydir_data = true, force = true })
        if d[1].decision == "skip" then
          rec.reason = "still terminating; skip_wait_for_delete_timeout passed"
          return
        end
      end
      if timed_out() then
        rec.action, rec.reason = "blocked", "evicted, but still terminating when the timeout passed"
        return
      end
      if time.now() - since >= REMIND_SECONDS then -- a pod that takes its time is not silent
        say(("still terminating (grace period %s s)"):format(
          tostring(p and null_to_nil(p.metadata.deletionGracePeriodSeconds) or "?")), "terminating")
      end
      pause(DELETE_POLL_SECONDS, deadline, { Pod = pods_seen })
    end
  end)
  if not ok then
    if vmrun.is_error(err, "cancelled") then error(err, 0) end
    rec.action, rec.reason = "failed", strip_where(err)
  end
  emit({ type = "pod_" .. rec.action, pod = where, reason = rec.reason })
  return rec
end

-- Is the VMI being migrated by someone else: an unfinished VMIM, or marked for evacuation?
local function in_flight(v)
  local vmi = cluster.get("vmi", v.namespace, v.name)
  if vmi == nil then return false end
  if vmi.status and null_to_nil(vmi.status.evacuationNodeName) then return true end
  return #cluster.migrations({ namespace = v.namespace, vmi = v.name, active = true }) > 0
end

-- Follows a migration someone else runs until the VMI has left the node (state "migrated"),
-- stopped ("skipped"), or is left on the node with nothing migrating it ("failed"). KubeVirt
-- retries an evacuation by itself, so a VMI marked for evacuation is waited for until the
-- deadline. Never raises but for cancellation.
local function follow_foreign(r, node_name, deadline)
  local last_logged = time.now()
  while true do
    local vmi = cluster.get("vmi", r.namespace, r.name)
    local st = vmi and vmi.status or {}
    if vmi == nil or st.phase == "Succeeded" or st.phase == "Failed" then
      r.state, r.reason = "skipped", "the VMI stopped"
      return
    end
    if st.nodeName ~= node_name then
      r.state, r.target = "migrated", st.nodeName
      return
    end
    if not in_flight(r) then
      r.state, r.reason = "failed", "the migration someone else started ended without moving it"
      return
    end
    if deadline and time.now() >= deadline then
      r.state, r.reason = "in flight", "still migrated by someone else at the timeout"
      return
    end
    if time.now() - last_logged >= REMIND_SECONDS then
      log.info(("node.drain %s: still waiting for the migration of %s/%s that someone else "
        .. "started"):format(node_name, r.namespace, r.name), { node = node_name })
      last_logged = time.now()
    end
    pause(EVICT_RETRY_SECONDS, deadline)
  end
end

local SETTLE_SECONDS = 300 -- how long a drain waits for starting VMs before it plans

-- Waits (at most SETTLE_SECONDS, and not past the deadline) until every VMI on the node that is
-- not finished runs and has KubeVirt's LiveMigratable verdict, so that the plan does not take a
-- VM that is still starting for one that can never migrate.
local function settle(name, deadline)
  local until_ = time.now() + SETTLE_SECONDS
  if deadline and deadline < until_ then until_ = deadline end
  local last_logged = 0
  while true do
    local starting = {}
    -- by name and two fields, not the VMIs whole: every drain starts with this look
    for _, key in ipairs(cluster.names("vmi", { node = name })) do
      local ns, vname = key:match("^([^/]+)/(.+)$")
      local phase = cluster.get_field("vmi", ns, vname, "status.phase")
      if phase ~= "Succeeded" and phase ~= "Failed" and (phase ~= "Running" or condition(
          { status = { conditions = cluster.get_field("vmi", ns, vname, "status.conditions") } },
          "LiveMigratable") == nil) then
        starting[#starting + 1] = key
      end
    end
    if #starting == 0 or time.now() >= until_ then return end
    if time.now() - last_logged >= REMIND_SECONDS then
      log.info(("node.drain %s: waiting for %d starting VM(s) before planning: %s"):format(name,
        #starting, table.concat(starting, ", ")), { node = name })
      last_logged = time.now()
    end
    task.sleep(math.max(0.001, math.min(2, until_ - time.now())))
  end
end

local function vm_record(v)
  return { namespace = v.namespace, name = v.name, action = v.action, source = v.node,
    eviction_strategy = v.eviction_strategy, run_strategy = v.run_strategy, uid = v.vmi and v.vmi.metadata.uid }
end

local MAX_ROUNDS = 3 -- VMs that migrate arriving or turning migratable during the drain

--- M.run(name, opts) -> account — waits
-- node.drain: see docs/lua-api.md.
function M.run(name, opts)
  local started = time.now()
  local deadline = opts.timeout and opts.timeout > 0 and started + opts.timeout or nil
  local on_event = opts.on_event
  local function emit(ev)
    ev.node = name
    if on_event then on_event(ev) end
  end
  settle(name, deadline)
  local plan = M.plan(name, opts, 3)
  local account = { node = name, vms = {}, pods = {}, warnings = plan.warnings }
  local records = {} -- "ns/name" -> the VM's record in account.vms
  local function record_of(v)
    local key = v.namespace .. "/" .. v.name
    local r = records[key]
    if r == nil then
      r = vm_record(v)
      records[key] = r
      account.vms[#account.vms + 1] = r
    elseif r.action ~= v.action then
      r.action = v.action -- it changed since the last round (it turned migratable)
    end
    return r
  end
  local function fail(kind, what, blockers)
    account.seconds = time.now() - started
    for _, r in pairs(records) do r.uid = nil end
    vmrun.error(kind, ("node.drain %s: %s: %s; %s stays cordoned"):format(name, what,
      blockers_text(blockers), name), { level = 4, resource = "Node " .. name, blockers = blockers,
      account = account })
  end
  if #plan.blockers > 0 then
    account.seconds = time.now() - started
    -- the VMs one by one, then the pods in kubectl's words (grouped by reason)
    local vms = {}
    for _, b in ipairs(plan.blockers) do
      if b.kind == "vm" then vms[#vms + 1] = b end
    end
    local text = blockers_text(vms)
    if plan.errors ~= "" then text = text ~= "" and (text .. "; " .. plan.errors) or plan.errors end
    vmrun.error("drain_blocked", ("node.drain %s: cannot drain, nothing changed: %s"):format(name,
      text), { level = 3, resource = "Node " .. name,
      blockers = plan.blockers, account = account })
  end
  if plan.warnings ~= "" then
    -- kubectl prints these as warnings; DaemonSet pods left by ignore_daemonsets are expected
    local expected = plan.warnings:match("^ignoring DaemonSet%-managed Pods: [^;]*$") ~= nil
    log[expected and "info" or "warn"](("node.drain %s: %s"):format(name, plan.warnings), { node = name })
  end
  local cordon = require("vmrun.node").cordon(name, { owner = opts.owner })
  account.cordoned = cordon.changed
  emit({ type = "cordoned", changed = cordon.changed })

  -- 1. the migratable VMs, through the queue; again while the plan finds more (a VM that turned
  -- migratable, or arrived before the cordon took effect)
  for round = 1, MAX_ROUNDS + 1 do
    local movers, waiters = {}, {}
    for _, v in ipairs(plan.vms) do
      local r = record_of(v)
      if v.action == "migrate" then movers[#movers + 1] = { v = v, r = r } end
    end
    if #movers == 0 then break end
    if round > MAX_ROUNDS then
      local left = {}
      for _, m in ipairs(movers) do
        left[#left + 1] = { namespace = m.v.namespace, name = m.v.name, kind = "vm",
          reason = ("still on the node after %d rounds of migrations"):format(MAX_ROUNDS) }
      end
      fail("drain_failed", "VMs keep arriving", left)
    end
    local q, by_item = nil, {}
    for _, m in ipairs(movers) do
      local v, r = m.v, m.r
      if in_flight(v) then
        -- someone else (KubeVirt's evacuation, another tool) migrates it already: follow that
        r.state = "in flight"
        waiters[#waiters + 1] = task.spawn(follow_foreign, r, name, deadline)
      else
        q = q or queue.new(opts.queue)
        -- the plan's VMI while it is unchanged (the queue reads it), else the cluster's
        local rv = v.vmi.metadata.resourceVersion
        local same = rv ~= nil and cluster.get_field("vmi", v.namespace, v.name,
          "metadata.resourceVersion") == rv
        local ok, id = pcall(q.add, q, same and v.vmi or { v.namespace, v.name },
          { priority = opts.priority, targets = opts.vm_targets and opts.vm_targets(v.vmi) or nil })
        if ok then
          by_item[id] = r
        elseif vmrun.is_error(id, "input") then
          r.state, r.reason = "skipped", strip_where(id) -- stopped, or gone from the node
        else
          error(id, 0)
        end
      end
    end
    if q and #q.items > 0 then
      local total, done = #q.items, 0
      log.info(("node.drain %s: migrating %d VM(s) through the queue%s"):format(name, total,
        round > 1 and (" (round %d)"):format(round) or ""), { node = name, vms = total })
      local ok, result = pcall(q.run, q, {
        timeout = deadline and math.max(0.001, deadline - time.now()) or nil,
        on_abort = opts.on_abort,
        on_event = function(ev)
          local r = by_item[ev.item]
          if ev.type == "succeeded" or ev.type == "failed" or ev.type == "skipped" then done = done + 1 end
          if ev.type == "started" then
            local it = q.items[ev.item]
            log.info(("node.drain %s: migrating %s (attempt %d, about %.0f s)"):format(name, ev.vmi,
              ev.attempt, it and it.estimate or 0), { node = name, vmi = ev.vmi })
          elseif ev.type == "succeeded" then
            log.info(("node.drain %s: migrated %s to %s (%d/%d%s)"):format(name, ev.vmi,
              tostring(ev.target), done, total, ev.eta and ev.eta > 0
                and (", about %.0f s left"):format(ev.eta) or ""), { node = name, vmi = ev.vmi })
          elseif ev.type == "retry" or ev.type == "failed" then
            log.warn(("node.drain %s: migration of %s failed%s: %s"):format(name, ev.vmi,
              ev.type == "retry" and ", will retry" or "", tostring(ev.reason)), { node = name, vmi = ev.vmi })
          end
          if r then r.target = ev.target or r.target end
          ev.type = "vm_" .. ev.type
          emit(ev)
        end,
      })
      for id, it in ipairs(q.items) do
        local r = by_item[id]
        r.attempts = (r.attempts or 0) + it.attempts
        r.target = it.target or r.target
        r.state = it.state == "done" and "migrated" or it.state
        r.reason = it.reason
        if it.started and it.finished then
          r.started, r.finished, r.seconds = it.started, it.finished, it.finished - it.started
        end
      end
      if not ok then
        if not vmrun.is_error(result, "timeout") then error(result, 0) end
        local blockers = {}
        for _, m in ipairs(movers) do
          if m.r.state ~= "migrated" and m.r.state ~= "skipped" then
            blockers[#blockers + 1] = { namespace = m.r.namespace, name = m.r.name, kind = "vm",
              reason = "migration still " .. tostring(m.r.state) .. " at the timeout" }
          end
        end
        fail("timeout", "timed out while migrating VMs", blockers)
      end
    end
    for _, w in ipairs(waiters) do w:wait() end
    local blockers = {}
    for _, m in ipairs(movers) do
      if m.r.state ~= "migrated" and m.r.state ~= "skipped" then
        blockers[#blockers + 1] = { namespace = m.r.namespace, name = m.r.name, kind = "vm",
          reason = m.r.state == "failed" and ("its migration failed: " .. tostring(m.r.reason))
            or tostring(m.r.reason) }
      end
    end
    if #blockers > 0 then
      fail(deadline and time.now() >= deadline and "timeout" or "drain_failed",
        "VMs could not migrate", blockers)
    end
    plan = M.plan(name, opts, 3)
    if #plan.blockers > 0 then fail("drain_failed", "new pods or VMs block the drain", plan.blockers) end
  end
  if plan.warnings ~= "" and plan.warnings ~= account.warnings then
    log.warn(("node.drain %s: %s"):format(name, plan.warnings), { node = name })
    account.warnings = account.warnings ~= "" and (account.warnings .. "; " .. plan.warnings) or plan.warnings
  end

  -- 2. the other pods, kubectl's way (the plan was made again after the migrations)
  local jobs, entries = {}, {}
  for _, e in ipairs(plan.pods) do
    if e.decision == "delete" or e.decision == "delete_warn" then
      entries[#entries + 1] = e
      jobs[#jobs + 1] = function() return remove_pod(e, opts, deadline, name, emit) end
    else
      account.pods[#account.pods + 1] = { namespace = e.namespace, name = e.name, action = "skipped",
        reason = e.message and as_options(e.message) or nil }
    end
  end
  if #jobs > 0 then
    log.info(("node.drain %s: %s %d pod(s)"):format(name, opts.disable_eviction and "deleting" or "evicting",
      #jobs), { node = name, pods = #jobs })
  end
  local results = #jobs > 0 and task.all(jobs) or {}
  local blockers, timed = {}, false
  for _, rec in ipairs(results) do
    if rec.action == "aborted" then
      vmrun.error("aborted", ("node.drain %s: stopped (%s) with pods left; %s stays cordoned"):format(
        name, rec.reason, name), { level = 3, resource = "Node " .. name })
    end
  end
  for i, rec in ipairs(results) do
    account.pods[#account.pods + 1] = rec
    if rec.action == "blocked" or rec.action == "failed" then
      blockers[#blockers + 1] = { namespace = rec.namespace, name = rec.name, kind = "pod",
        reason = rec.reason }
      if rec.action == "blocked" then timed = true end
    end
    local v = entries[i].vm
    if v then
      -- what became of the VM: shut down, or moved by KubeVirt (its strategy turned out to
      -- migrate it after all)
      local r = record_of(v)
      local now = cluster.get("vmi", v.namespace, v.name)
      local st = now and now.metadata.uid == r.uid and now.status or {}
      if st.phase == "Running" and st.nodeName and st.nodeName ~= name then
        r.state, r.target = "migrated", st.nodeName
      elseif rec.action == "evicted" or rec.action == "deleted" or rec.action == "gone" then
        r.state = "shut down"
      else
        r.state = rec.action
      end
    end
  end
  if #blockers > 0 then
    fail(timed and "timeout" or "drain_failed",
      timed and "timed out with pods left" or "pods could not be removed", blockers)
  end
  for _, r in pairs(records) do r.uid = nil end
  account.seconds = time.now() - started
  log.info(("node.drain %s: drained in %.0f s"):format(name, account.seconds), { node = name })
  emit({ type = "drained" })
  return account
end

return M
