-- vmrun/maintenance.lua: the `maintenance` module: rolling maintenance of a cluster's nodes,
-- batch by batch (DESIGN §5, §9; what users of kubectl drain, Ansible, kured, NMO and MCO miss:
-- reference peers.md §3-§4). maintenance.rolling checks the whole run first (pre-flight) and
-- touches nothing when a node would block; picks the batch size from the limits, the VMs and the
-- spare capacity; per batch cordons and drains the nodes (VMs through the limit-aware queue,
-- steered to nodes already done so that few VMs move twice), runs the maintenance step, waits for
-- the nodes to be Ready, uncordons them and runs the health gate; honours each VM's maintenance
-- policy (annotation vmrun.io/maintenance-policy), and starts again what it stopped. A node that
-- fails stays cordoned and is reported; a failure budget stops the run in a safe state. Works
-- through the cluster, node, drain, queue and preflight modules, so every backend works alike.
local cluster = require("vmrun.cluster")
local node = require("vmrun.node")
local drain = require("vmrun.drain")
local preflight = require("vmrun.preflight")
local queue = require("vmrun.queue")
local snapshot = require("vmrun.snapshot")
local vmrun = require("vmrun")
local log = require("vmrun.log")
local time = require("vmrun.time")
local task = require("vmrun.task")
local exec = require("vmrun.exec")
local sim = require("vmrun.sim")
local key_list = require("vmrun.keys")
local journal = require("vmrun.journal")
local lock = require("vmrun.lock")
local notify = require("vmrun.notify")
local actors = require("vmrun.actors")
local k8stime = require("vmrun.k8stime")
local journal_core = require("vmrun.journal.core")

local M = {}

-- On each node a run maintains: {"run": id, "state": ..., "at": time} (docs/journal.md)
M.RUN_ANNOTATION = "vmrun.io/maintenance"

M.POLICY_ANNOTATION = "vmrun.io/maintenance-policy"
M.STOPPED_ANNOTATION = "vmrun.io/stopped-for-maintenance"

-- What each policy does to a VM on a node under maintenance.
local POLICIES = {
  migrate = true,             -- live-migrate it (the default; the drain's rules otherwise)
  ["restart-elsewhere"] = true, -- shut it down before the drain; start it again at once (elsewhere)
  ["restart-after"] = true,   -- shut it down before the drain; start it again when its node is done
  ["leave-off"] = true,       -- shut it down before the drain and leave it off
  ["skip-node"] = true,       -- leave its node out of the run
}

local CONTROL_PLANE = { "node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master" }

local function usage(level, fmt, ...) vmrun.error("usage", fmt:format(...), { level = level + 1 }) end

local function null_to_nil(v)
  if v == vmrun.null then return nil end
  return v
end

local strip_where = require("vmrun.message")

-- --- options --------------------------------------------------------------------------------------

local OPTIONS = {
  nodes = "table", selector = "string", batch = "batch", step = "step", gate = "function",
  settle = "duration", skip_blocked = "boolean", failure_budget = "table", hooks = "table",
  drain = "table", on_event = "function", step_timeout = "duration", ready_timeout = "duration",
  include_control_plane = "boolean", reboots = "boolean", journal = "boolean", on_abort = "string",
  lock = "lock", others = "others", notify = "notify", window_end = "window_end",
  step_estimate = "duration", approve = "approve", retry_failed = "boolean",
}
local HOOKS = { before_batch = true, after_batch = true, before_node = true, after_node = true }

local function check_options(opts)
  if opts ~= nil and type(opts) ~= "table" then usage(3, "maintenance.rolling: options must be a table") end
  local out = {}
  for k, v in pairs(opts or {}) do
    local want = OPTIONS[k]
    if want == nil then
      usage(3, "maintenance.rolling: unknown option %s (%s)", tostring(k), key_list(OPTIONS))
    elseif want == "batch" then
      if v ~= "auto" and (math.type(v) ~= "integer" or v < 1) then
        usage(3, "maintenance.rolling: batch must be \"auto\" or an integer >= 1")
      end
    elseif want == "step" then
      if type(v) ~= "function" and type(v) ~= "table" and v ~= "reboot" then
        usage(3, "maintenance.rolling: step must be a function, an argv template ({\"ssh\", \"{node}\", ...}) or \"reboot\"")
      end
      if type(v) == "table" then
        if #v == 0 then usage(3, "maintenance.rolling: the step's argv template is empty") end
        for i, a in ipairs(v) do
          if type(a) ~= "string" then usage(3, "maintenance.rolling: step argument %d must be a string", i) end
        end
      end
    elseif want == "duration" then
      local ok, s = pcall(time.duration, v)
      if not ok then usage(3, "maintenance.rolling: option %s: %s", k, strip_where(s)) end
      v = s
    elseif want == "lock" then
      if type(v) ~= "boolean" and type(v) ~= "table" then
        usage(3, "maintenance.rolling: lock must be true, false or lock.acquire's options ({name=, namespace=, ttl=})")
      end
    elseif want == "notify" then
      if type(v) ~= "string" and type(v) ~= "table" then
        usage(3, "maintenance.rolling: notify must be a webhook URL or {url=, events=, timeout=}")
      end
    elseif want == "approve" then
      if v == true then v = { before = "run" } end
      if v == "run" or v == "batch" then v = { before = v } end
      if type(v) ~= "table" then
        usage(3, "maintenance.rolling: approve must be true, \"run\", \"batch\" or {before=, "
          .. "timeout=, default=, file=, http=, tty=} (gate.approve's options)")
      end
      local a = {}
      for ak, av in pairs(v) do a[ak] = av end
      a.before = a.before or "run"
      if a.before ~= "run" and a.before ~= "batch" then
        usage(3, "maintenance.rolling: approve.before must be \"run\" (once, before the first batch) or \"batch\" (before each)")
      end
      v = a
    elseif want == "window_end" then
      if type(v) == "string" then
        local ok, t = pcall(k8stime.parse, v)
        if not ok or t == nil then
          usage(3, "maintenance.rolling: window_end %q is not an RFC 3339 time (2026-12-20T04:00:00Z)", v)
        end
        -- a wall-clock time: on the run's clock, as much later than now as it is on the wall
        v = time.now() + (t - os.time())
      elseif type(v) ~= "number" then
        usage(3, "maintenance.rolling: window_end must be a time on the run's clock (a number, as "
          .. "time.now() gives) or an RFC 3339 string")
      end
    elseif want == "others" then
      if type(v) ~= "string" and type(v) ~= "table" then
        usage(3, "maintenance.rolling: others must be actors.check's policy (\"refuse\", \"warn\", \"ignore\" or a table per kind)")
      end
    elseif type(v) ~= want then
      usage(3, "maintenance.rolling: option %s must be a %s", k, want)
    end
    out[k] = v
  end
  for k, v in pairs(out.hooks or {}) do
    if not HOOKS[k] then usage(3, "maintenance.rolling: unknown hook %s (after_batch, after_node, before_batch, before_node)", tostring(k)) end
    if type(v) ~= "function" then usage(3, "maintenance.rolling: hook %s must be a function", k) end
  end
  local budget = out.failure_budget or {}
  for k, v in pairs(budget) do
    if (k ~= "nodes" and k ~= "vms") or math.type(v) ~= "integer" or v < 0 then
      usage(3, "maintenance.rolling: failure_budget is {nodes = N, vms = N} (integers >= 0)")
    end
  end
  out.failure_budget = { nodes = budget.nodes or 0, vms = budget.vms or 0 }
  out.batch = out.batch or "auto"
  out.settle = out.settle or 0
  out.step_timeout = out.step_timeout or 1800
  out.ready_timeout = out.ready_timeout or 1800
  out.hooks = out.hooks or {}
  out.on_abort = out.on_abort or "finish"
  -- (a step and the wait for Ready: until a node of this run has shown how long they take)
  out.step_estimate = out.step_estimate or 600
  if out.on_abort ~= "finish" and out.on_abort ~= "cancel" then
    usage(3, "maintenance.rolling: on_abort must be \"finish\" or \"cancel\"")
  end
  -- the drain's options, checked now (at the playbook's line) rather than at the first node
  out.drain = drain.options("maintenance.rolling: drain", out.drain, 3)
  -- a drain that waits for ever would hold the whole run: each node's drain gets an hour unless
  -- the caller says otherwise (then the node fails, stays cordoned, and the budget decides)
  if out.drain.timeout == nil then out.drain.timeout = 3600 end
  cluster.revision() -- the cluster (the default one loads on first use): simulated or real?
  if sim.rehearsal() and out.step ~= nil and out.step ~= "reboot" then
    -- a rehearsal's nodes are simulated, but a host command or a function would reach the real
    -- machines: the simulated node reboots instead
    log.info("rehearsal: the maintenance step is not run (it would act on the real nodes); "
      .. "each simulated node reboots instead", {})
    out.step = "reboot"
  end
  if out.step == nil then
    if sim.source() == nil then
      usage(3, "maintenance.rolling: no maintenance step: on a real cluster give step (a host command "
        .. "as an argv template such as {\"ssh\", \"{node}\", \"sudo\", \"systemctl\", \"reboot\"}, or a "
        .. "Lua function); only the simulator reboots a node by itself")
    end
    out.step = "reboot"
  elseif out.step == "reboot" and sim.source() == nil then
    usage(3, "maintenance.rolling: step \"reboot\" reboots simulated nodes only; give a host command or a function")
  end
  return out
end

-- --- nodes, policies and order ---------------------------------------------------------------

local function is_control_plane(n)
  local labels = null_to_nil(n.metadata.labels) or {}
  for _, l in ipairs(CONTROL_PLANE) do
    if labels[l] ~= nil then return true end
  end
  return false
end

-- The nodes of the run, by name: opts.nodes (each must exist) or those matching opts.selector,
-- without the control plane unless asked for.
local function pick_nodes(opts)
  local out = {}
  if opts.nodes then
    for i, name in ipairs(opts.nodes) do
      if type(name) ~= "string" then usage(3, "maintenance.rolling: nodes[%d] must be a node name", i) end
      if cluster.get("Node", name) == nil then
        vmrun.error("not_found", ("maintenance.rolling: no node %s"):format(name),
          { level = 3, resource = "Node " .. name })
      end
      local seen = false
      for _, o in ipairs(out) do if o == name then seen = true end end
      if not seen then out[#out + 1] = name end
    end
    return out
  end
  local ok, nodes = pcall(cluster.nodes, opts.selector and { selector = opts.selector } or nil)
  if not ok then usage(3, "maintenance.rolling: selector: %s", strip_where(nodes)) end
  for _, n in ipairs(nodes) do
    if opts.include_control_plane or not is_control_plane(n) then out[#out + 1] = n.metadata.name end
  end
  return out
end

-- Some fields of every object of a kind, without reading the objects whole (a large cluster's
-- VMs, VMIs and pods, read once per run): a list of {namespace, name, [path] = value}.
local function fields_of_all(kind, paths, opts)
  local out = {}
  for i, key in ipairs(cluster.names(kind, opts)) do
    local ns, name = key:match("^([^/]+)/(.+)$")
    local row = { namespace = ns, name = name }
    for _, path in ipairs(paths) do row[path] = null_to_nil(cluster.get_field(kind, ns, name, path)) end
    out[i] = row
  end
  return out
end

-- The VMs' maintenance policies: {["ns/name"] = policy} for the VMs that have one, from their
-- annotations (fields_of_all rows); a bad value raises kind "input" naming the VM.
local function read_policies(vm_annotations)
  local out = {}
  for _, vm in ipairs(vm_annotations) do
    local a = vm["metadata.annotations"]
    local p = a and a[M.POLICY_ANNOTATION]
    local key = vm.namespace .. "/" .. vm.name
    if p ~= nil then
      if not POLICIES[p] then
        vmrun.error("input", ("maintenance.rolling: VirtualMachine %s: %s is %q; it must be one of %s")
          :format(key, M.POLICY_ANNOTATION, tostring(p), key_list(POLICIES)),
          { level = 3, resource = "VirtualMachine " .. key })
      end
      out[key] = p
    end
  end
  return out
end

-- --- stopping and starting VMs by policy -----------------------------------------------------------

local function vm_of(vmi)
  for _, o in ipairs(null_to_nil(vmi.metadata.ownerReferences) or {}) do
    if o.kind == "VirtualMachine" then return o.name end
  end
end

-- Stops a VM for the maintenance: records how it ran (annotation vmrun.io/stopped-for-maintenance,
-- so that a later run can restore it after a crash) and sets runStrategy Halted; waits until its
-- VMI is gone. Returns the record.
local function stop_vm(ns, name, policy)
  local vm = cluster.get("VirtualMachine", ns, name)
  if vm == nil then return nil end
  local spec = vm.spec or {}
  local was = { runStrategy = null_to_nil(spec.runStrategy), running = null_to_nil(spec.running),
    policy = policy }
  local record = require("vmrun.json").encode(was)
  local patch = { metadata = { annotations = { [M.STOPPED_ANNOTATION] = record } },
    spec = { runStrategy = "Halted" } }
  if was.running ~= nil then patch.spec = { running = false } end
  cluster.patch("VirtualMachine", ns, name, patch, { type = "merge" })
  log.info(("stopped %s/%s for the maintenance (%s)"):format(ns, name, policy), { vm = ns .. "/" .. name })
  for _ = 1, 600 do
    if cluster.get("vmi", ns, name) == nil then break end
    task.sleep(1)
  end
  return was
end

-- Starts a VM that stop_vm stopped, as it ran before.
local function start_vm(ns, name)
  local vm = cluster.get("VirtualMachine", ns, name)
  if vm == nil then return false end
  local a = null_to_nil(vm.metadata.annotations) or {}
  local record = a[M.STOPPED_ANNOTATION]
  if record == nil then return false end
  local ok, was = pcall(require("vmrun.json").decode, record)
  if not ok or type(was) ~= "table" then was = { runStrategy = "Always" } end
  local spec
  if was.running ~= nil then
    spec = { running = was.running }
  else
    spec = { runStrategy = was.runStrategy or "Always" }
  end
  cluster.patch("VirtualMachine", ns, name, { metadata = { annotations = { [M.STOPPED_ANNOTATION] = vmrun.null } },
    spec = spec }, { type = "merge" })
  log.info(("started %s/%s again"):format(ns, name), { vm = ns .. "/" .. name })
  return true
end

-- --- the maintenance step and the wait for Ready ------------------------------------------------------

local function node_ready(n)
  for _, c in ipairs(n and n.status and null_to_nil(n.status.conditions) or {}) do
    if c.type == "Ready" then return c.status == "True" end
  end
  return n ~= nil -- no Ready condition: taken as Ready (as the simulator does)
end

local function boot_id(n)
  return n and n.status and n.status.nodeInfo and null_to_nil(n.status.nodeInfo.bootID)
end

-- Runs the step on the node; returns true or false, reason.
local function run_step(step, name, timeout)
  if step == "reboot" then
    sim.reboot(name)
    return true
  elseif type(step) == "function" then
    local ok, err = pcall(step, name)
    if not ok then return false, strip_where(err) end
    if err == false then return false, "the step function returned false" end
    return true
  end
  local argv = { timeout = timeout }
  for i, a in ipairs(step) do argv[i] = (a:gsub("{node}", name)) end
  local ok, r = pcall(exec.run, argv)
  if not ok then return false, strip_where(r) end
  if r.status ~= 0 then
    local text = (r.stderr or ""):sub(1, 300)
    while #text > 0 and utf8.len(text) == nil do text = text:sub(1, -2) end -- a whole character
    return false, ("%s exited %d: %s"):format(argv[1], r.status, text)
  end
  return true
end

-- Waits until the node is Ready; after a step that reboots, only once it has booted anew (a new
-- boot ID, or NotReady seen and then Ready again, for a node that reports no boot ID). Returns
-- true or false, reason.
local function wait_ready(name, reboots, old_boot, timeout)
  local deadline = time.now() + timeout
  local went_down = false
  local seen_rv, up, rebooted
  task.sleep(1)
  while true do
    -- the two fields a reboot changes, not the whole (large) node, and only when the node
    -- changed since the last look: this polls every 5 s
    local rv = cluster.get_field("Node", nil, name, "metadata.resourceVersion")
    if rv == nil or rv ~= seen_rv then
      seen_rv = rv
      local conditions = cluster.get_field("Node", nil, name, "status.conditions")
      local boot = cluster.get_field("Node", nil, name, "status.nodeInfo.bootID")
      local n = conditions ~= nil and { status = { conditions = conditions, nodeInfo = { bootID = boot } } }
        or cluster.get("Node", name)
      up = node_ready(n)
      if not up then went_down = true end
      rebooted = not reboots or went_down or (boot_id(n) ~= nil and boot_id(n) ~= old_boot)
    end
    if up and rebooted then return true end
    if time.now() >= deadline then
      return false, ("not %s %.0f s after the step"):format(
        up and "rebooted (still the same boot; reboots = false for a step that does not reboot)"
        or "Ready", timeout)
    end
    task.sleep(5)
  end
end

-- --- the health gate ---------------------------------------------------------------------------------

-- The built-in checks after a batch: every node Ready, every VM that ran on them running again,
-- the PodDisruptionBudgets recovered; then opts.gate. Returns true or false, reason.
local function gate(batch, expect_running, opts)
  for _, name in ipairs(batch) do
    if not node_ready(cluster.get("Node", name)) then return false, ("node %s is not Ready"):format(name) end
  end
  local deadline = time.now() + 600
  while true do
    local missing = {}
    for key in pairs(expect_running) do
      local ns, name = key:match("^([^/]+)/(.+)$")
      if cluster.get_field("vmi", ns, name, "status.phase") ~= "Running" then missing[#missing + 1] = key end
    end
    local budgets = {}
    for _, pdb in ipairs(cluster.pdbs()) do
      local st = null_to_nil(pdb.status) or {}
      if (st.currentHealthy or 0) < (st.desiredHealthy or 0) then
        budgets[#budgets + 1] = pdb.metadata.namespace .. "/" .. pdb.metadata.name
      end
    end
    if #missing == 0 and #budgets == 0 then break end
    if time.now() >= deadline then
      table.sort(missing)
      return false, (#missing > 0 and ("VMs not running again: " .. table.concat(missing, ", ")) or
        ("PodDisruptionBudgets not recovered: " .. table.concat(budgets, ", ")))
    end
    task.sleep(5)
  end
  if opts.settle > 0 then task.sleep(opts.settle) end
  if opts.gate then
    local ok, good, why = pcall(opts.gate, batch)
    if not ok then return false, "gate: " .. strip_where(good) end
    if good == false or good == nil then return false, "gate: " .. tostring(why or "it said no") end
  end
  return true
end

-- --- batches -------------------------------------------------------------------------------------

-- The order: nodes holding fewer VMs (by memory) first, so that the first nodes done can take the
-- VMs of the later ones.
local function order_nodes(names, report_of)
  local weight = {}
  for _, n in ipairs(names) do
    local w = 0
    for _, vm in ipairs(report_of[n] and report_of[n].vms or {}) do w = w + (vm.memory or 0) end
    weight[n] = w
  end
  table.sort(names, function(a, b)
    if weight[a] ~= weight[b] then return weight[a] < weight[b] end
    return a < b
  end)
  return names
end

-- The batch size for "auto": as many nodes at once as the migration limits keep busy
-- (parallelMigrationsPerCluster / parallelOutboundMigrationsPerNode), at most a third of the
-- nodes. The room is judged batch by batch (next_batch): a node whose VMs find no room next to
-- the batch's others waits, so that one tight pair of nodes does not slow the whole run.
local function auto_batch(names)
  local limits = cluster.migration_limits()
  local per_cluster = limits.parallelMigrationsPerCluster.value or 5
  local outbound = math.max(1, limits.parallelOutboundMigrationsPerNode.value or 2)
  return math.max(1, math.min(per_cluster // outbound, math.ceil(#names / 3)))
end

-- What the nodes have free now: allocatable less the requests of their live pods, {[name] =
-- {memory, cpu}} (read it, do not change it). A node whose offers and sums are the same tables
-- as at the last call (the snapshot keeps them while they do not change) keeps its entry: a
-- batch changes a few nodes of a large cluster.
local free_seen = { offers = {}, used = {}, free = {} }
local function free_resources()
  local offers, used = snapshot.node_offers(), snapshot.requests_by_node()
  local seen = free_seen
  if seen.offers == offers and seen.used == used then return seen.free end
  local free = {}
  for name, o in pairs(offers) do
    local u = used[name]
    local f = seen.free[name]
    if f == nil or seen.offers[name] ~= o or seen.used[name] ~= u then
      f = { memory = (o.memory or math.huge) - (u and u.memory or 0),
        cpu = (o.cpu or math.huge) - (u and u.cpu or 0) }
    end
    free[name] = f
  end
  free_seen = { offers = offers, used = used, free = free }
  return free
end

-- The host CPU model of each node (host-model-cpu.node.kubevirt.io/M), or nil; a node's labels
-- are read again only when the node changed (the snapshot gives it a new table then).
local model_of_node = setmetatable({}, { __mode = "k" }) -- node table -> model or false
local models_seen = { nodes = nil, models = nil }
local function host_models()
  local nodes = snapshot.nodes()
  if models_seen.nodes ~= nodes then
    local out = {}
    for _, n in ipairs(nodes) do
      local model = model_of_node[n]
      if model == nil then
        model = false
        for k in pairs(null_to_nil(n.metadata.labels) or {}) do
          model = k:match("^host%-model%-cpu%.node%.kubevirt%.io/(.+)$") or model
        end
        model_of_node[n] = model
      end
      if model then out[n.metadata.name] = model end
    end
    models_seen.nodes, models_seen.models = nodes, out
  end
  return models_seen.models
end

-- Whether a node object is cordoned: unschedulable as the field selector spec.unschedulable!=true
-- reads it, true or "true".
local function is_cordoned(n)
  local u = type(n.spec) == "table" and n.spec.unschedulable
  return u == true or u == "true"
end

-- Whether a node is cordoned by vmrun (its mark): the maintenance uncordons it when its turn is
-- done. A node someone else cordoned stays cordoned.
local function comes_back(n)
  local a = type(n.metadata) == "table" and null_to_nil(n.metadata.annotations)
  return is_cordoned(n) and type(a) == "table" and a[node.OWNER_ANNOTATION] == "vmrun"
end

-- Whether a VM's pre-flight report blocks its drain only because no node may take it now (it
-- migrates once a target is back or has room).
local function no_target_now(r)
  return #r.reasons == 1 and r.reasons[1] == "NoFeasibleTarget"
end

-- The VMs on the nodes that their drains will migrate (not those their policy stops), by node:
-- {[node] = {{key, targets, memory, cpu, source}}}, from one pre-flight of them all; and, by node,
-- the VMs that would migrate but no node may take now, while a node of returning (names: nodes
-- cordoned now that this run will bring back, a failed node retried say) could by the scheduling
-- rules ({[node] = {"ns/name", ...}}). A VM that nothing will take is neither: it does not hold
-- its node back, and its drain says why. free: what the nodes have free now (free_resources).
local function movers_of(names, stopping, free, returning)
  local running, out, stuck = {}, {}, {}
  for _, name in ipairs(names) do
    out[name], stuck[name] = {}, {}
    for _, vmi in ipairs(cluster.vmis({ node = name })) do
      local vm = vm_of(vmi)
      if vmi.status and vmi.status.phase == "Running"
          and not (vm and stopping[vmi.metadata.namespace .. "/" .. vm]) then
        running[#running + 1] = vmi
      end
    end
  end
  -- the rules' targets: place weighs the room itself, with what the batch's others take. A VM
  -- that no allowed node has room for now is no mover: pre-flight with its room check would say
  -- NoFeasibleTarget, and its drain would not migrate it.
  local maybe = {}
  for i, r in ipairs(preflight.vms(running, { room = false })) do
    local room = false
    if r.drain_action == "migrate" then
      for _, t in ipairs(r.targets) do
        local f = free[t]
        if f and f.memory >= (r.memory or 0) and f.cpu >= (r.cpu or 0) then room = true break end
      end
    end
    local vmi = running[i]
    local source, key = vmi.status.nodeName, vmi.metadata.namespace .. "/" .. vmi.metadata.name
    if room then
      table.insert(out[source], { key = key, targets = r.targets, memory = r.memory or 0,
        cpu = r.cpu or 0, source = source })
    elseif #returning > 0 and (r.drain_action == "migrate" or (r.drain_action == "block" and no_target_now(r))) then
      maybe[#maybe + 1] = vmi
    end
  end
  -- (usually none: only while a node this run brings back is cordoned)
  if #maybe > 0 then
    local back = {}
    for _, n in ipairs(returning) do back[n] = true end
    for i, r in ipairs(preflight.vms(maybe, { room = false, schedulable = returning })) do
      for _, t in ipairs(r.targets) do
        if back[t] then
          local vmi = maybe[i]
          table.insert(stuck[vmi.status.nodeName], vmi.metadata.namespace .. "/" .. vmi.metadata.name)
          break
        end
      end
    end
  end
  return out, stuck
end

-- The nodes in the order place prefers them for VMs from nodes of one host CPU model: done
-- first, then of the same model, then the most free memory, then by name (the first of equals in
-- a target list, which is in name order). Each node is one integer that sorts that way (rank,
-- free memory and name position packed), so that one sort serves every VM of a next_batch;
-- nil when the cluster has too many nodes to pack their positions.
local FREE_BITS, POS_BITS = 44, 14
local POS_MASK = (1 << POS_BITS) - 1
local function preference_order(names, free, done, model_of, model)
  if #names > POS_MASK then return nil end
  local keys, most = {}, (1 << FREE_BITS) - 1
  for i, name in ipairs(names) do
    local f = free[name]
    if f then
      local rank = (done[name] and 2 or 0) + ((model_of[name] or false) == model and 1 or 0)
      local mem = f.memory
      if mem == math.huge then
        mem = most -- a node that states no memory: more than any other
      elseif mem >= most or mem ~= mem then
        return nil -- too much to pack: place compares the nodes one by one
      else
        mem = math.floor(math.max(0, mem))
      end
      keys[#keys + 1] = (rank << (FREE_BITS + POS_BITS)) | (mem << POS_BITS) | (POS_MASK - i)
    end
  end
  table.sort(keys) -- ascending: the most preferred last
  return keys
end

-- The nodes a target list allows, as a set; the VM's own node may be in it (pre-flight keeps one
-- set per placement key): place never picks a node of the batch, where the VM's node is.
local allowed_nodes = preflight._allowed_nodes

-- Places the VMs that migrate off the batch's nodes, the biggest first, each on a node it may go
-- to (pre-flight's targets) outside the batch, preferring nodes already done in this run (so
-- that it does not move twice), then a node of its source's host CPU model (a host-model VM
-- that moves to a newer model can only move to that model afterwards), then the one with the
-- most free memory, then the first by name; each choice takes its memory and CPU from what the
-- node has free, so that the batch's drains, which run side by side, do not send more to a node
-- than it holds. orders: the preference orders of this next_batch by model (filled on demand).
-- Returns {["ns/name"] = node} and the list of VMs that found no room.
local function place(batch, movers_by_node, free_now, done, model_of, orders)
  local in_batch, movers, free, taken = {}, {}, {}, {}
  for _, n in ipairs(batch) do
    in_batch[n] = true
    for _, m in ipairs(movers_by_node[n]) do movers[#movers + 1] = m end
  end
  table.sort(movers, function(a, b)
    if a.memory ~= b.memory then return a.memory > b.memory end
    return a.key < b.key
  end)
  local names, position = snapshot.node_names()
  local function free_of(t) return taken[t] or free_now[t] end
  local function rank_of(t, model)
    return (done[t] and 2 or 0) + ((model_of[t] or false) == model and 1 or 0)
  end
  -- whether node a (rank ra, free fa) goes before node b: rank, free memory, then name order
  local function before(a, ra, fa, b, rb, fb)
    if ra ~= rb then return ra > rb end
    if fa.memory ~= fb.memory then return fa.memory > fb.memory end
    return position[a] < position[b]
  end
  local assigned, unplaced = {}, {}
  for _, m in ipairs(movers) do
    local model = model_of[m.source] or false
    local keys = orders[model]
    if keys == nil then
      keys = preference_order(names, free_now, done, model_of, model) or false
      orders[model] = keys
    end
    local allowed = allowed_nodes(m.targets)
    local function fits(t)
      local f = free_of(t)
      return allowed[t] and not in_batch[t] and f ~= nil and f.memory >= m.memory and f.cpu >= m.cpu
    end
    local best, best_rank, best_free
    local function consider(t, f)
      local rank = rank_of(t, model)
      if best == nil or before(t, rank, f, best, best_rank, best_free) then
        best, best_rank, best_free = t, rank, f
      end
    end
    if keys then
      -- the first node of the order that fits and still has all its room is the best of those;
      -- the nodes this placement took room from are weighed one by one
      for j = #keys, 1, -1 do
        local t = names[POS_MASK - (keys[j] & POS_MASK)]
        if not taken[t] and fits(t) then
          best, best_rank, best_free = t, rank_of(t, model), free_now[t]
          break
        end
      end
      for t, f in pairs(taken) do
        if fits(t) then consider(t, f) end
      end
    else
      for _, t in ipairs(m.targets) do
        if fits(t) then consider(t, free_of(t)) end
      end
    end
    if best then
      assigned[m.key] = best
      local f = free_of(best)
      taken[best] = { memory = f.memory - m.memory, cpu = f.cpu - m.cpu }
    else
      unplaced[#unplaced + 1] = m.key
    end
  end
  return assigned, unplaced
end

-- The next batch from the nodes still to do, in their order: a node joins while the VMs that
-- migrate off the batch's nodes all find room outside it, up to size nodes (looking at no more
-- than 4 x size candidates). A node whose VMs find no room even alone, or that has a VM only a
-- node still to do and cordoned now could take (a failed node retried), waits for a later batch;
-- when none fits, the first node goes alone, and its drain says which VMs cannot move.
-- Returns the batch, the nodes left in order, the targets and the nodes that waited.
local function next_batch(pending, size, done, stopping)
  local free, model_of, orders = free_resources(), host_models(), {}
  -- the nodes still to do that are cordoned now by vmrun: they come back when their turn is done
  local returning, to_do = {}, {}
  for _, n in ipairs(pending) do to_do[n] = true end
  for _, n in ipairs((snapshot.nodes())) do
    if to_do[n.metadata.name] and comes_back(n) then returning[#returning + 1] = n.metadata.name end
  end
  -- the first size candidates in one pre-flight (usually the batch), any further one alone
  local first = {}
  for i = 1, math.min(#pending, size) do first[i] = pending[i] end
  local movers_by_node, stuck_by_node = movers_of(first, stopping, free, returning)
  local batch, assigned, waited, later = {}, {}, {}, {}
  for i, n in ipairs(pending) do
    if #batch >= size or i > 4 * size then
      later[#later + 1] = n
    else
      if movers_by_node[n] == nil then
        local movers, stuck = movers_of({ n }, stopping, free, returning)
        movers_by_node[n], stuck_by_node[n] = movers[n], stuck[n]
      end
      if #stuck_by_node[n] > 0 then
        later[#later + 1] = n
        waited[#waited + 1] = { node = n, vms = stuck_by_node[n] }
      else
        batch[#batch + 1] = n
        local try, unplaced = place(batch, movers_by_node, free, done, model_of, orders)
        if #unplaced == 0 then
          assigned = try
        else
          batch[#batch] = nil
          later[#later + 1] = n
          waited[#waited + 1] = { node = n, vms = unplaced }
        end
      end
    end
  end
  if #batch == 0 then
    -- the first node that comes back when done (the others may wait for it), else the first
    local at = 1
    local back = {}
    for _, n in ipairs(returning) do back[n] = true end
    for i, n in ipairs(later) do
      if back[n] then
        at = i
        break
      end
    end
    local first = table.remove(later, at)
    batch[1] = first
    if movers_by_node[first] == nil then movers_by_node[first] = movers_of({ first }, stopping, free, returning)[first] end
    assigned = place(batch, movers_by_node, free, done, model_of, orders)
    waited = {}
  end
  return batch, later, assigned, waited
end

-- "1h05m", "12m30s", "40s"
local function human_duration(s)
  s = math.floor(s + 0.5)
  if s >= 3600 then return ("%dh%02dm"):format(s // 3600, s % 3600 // 60) end
  if s >= 60 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return ("%ds"):format(s)
end

-- The time a batch is expected to take, and how that was reckoned: its nodes go in parallel, so
-- its slowest node's drain (the pre-flight's estimate, scaled up by how much longer this run's
-- drains took than estimated) plus the step and the wait for Ready (the longest this run has seen,
-- else step_estimate), then the settle time and the longest health gate seen.
local function batch_estimate(batch, drain_estimate, report, opts)
  local ratio, step_ready, gate_s, seen = 1, nil, 0, 0
  for _, rec in ipairs(report.nodes) do
    if rec.state == "done" then
      seen = seen + 1
      local est = drain_estimate[rec.name]
      if est and est > 0 and rec.drain_s then ratio = math.max(ratio, rec.drain_s / est) end
      if rec.step_s and rec.ready_s then step_ready = math.max(step_ready or 0, rec.step_s + rec.ready_s) end
    end
  end
  for _, b in ipairs(report.batches) do gate_s = math.max(gate_s, b.gate_s or 0) end
  local longest = 0
  for _, n in ipairs(batch) do longest = math.max(longest, (drain_estimate[n] or 0) * ratio) end
  local how = seen > 0
    and ("drain %s, step and Ready %s as seen on %d node(s)"):format(human_duration(longest),
      human_duration(step_ready or opts.step_estimate), seen)
    or ("drain %s, step and Ready %s by step_estimate"):format(human_duration(longest),
      human_duration(opts.step_estimate))
  return longest + (step_ready or opts.step_estimate) + opts.settle + gate_s, how
end

--- maintenance.lower_bound(report) -> seconds
-- The least time the run could have taken under the migration limits: its migrations' own time
-- spread over the cluster limit (or over a node's outbound limit, whichever is longer), plus, per
-- batch, its slowest step and wait for Ready (no batch is faster than its slowest reboot).
--- maintenance.restore_vm(namespace, name) -> boolean
-- Starts a VM that a maintenance stopped by its policy, as it ran before (its
-- vmrun.io/stopped-for-maintenance record); false when it has no such record (already started,
-- or never stopped). Raises the cluster's errors.
function M.restore_vm(ns, name)
  return start_vm(ns, name)
end

function M.lower_bound(report)
  local limits = cluster.migration_limits()
  local per_cluster = limits.parallelMigrationsPerCluster.value or 5
  local outbound = math.max(1, limits.parallelOutboundMigrationsPerNode.value or 2)
  local work, node_bound, reboots = 0, 0, 0
  for _, b in ipairs(report.batches) do
    local longest = 0
    for _, rec in ipairs(report.nodes) do
      if rec.batch == b.index then
        local mine = 0
        for _, v in ipairs(rec.vms) do
          if v.state == "migrated" then mine = mine + (v.seconds or 0) end
        end
        work = work + mine
        node_bound = math.max(node_bound, mine / outbound)
        longest = math.max(longest, (rec.step_s or 0) + (rec.ready_s or 0))
      end
    end
    reboots = reboots + longest
  end
  return math.max(work / per_cluster, node_bound) + reboots
end

-- Text for HTML: escaped, without control characters.
local function html(s)
  s = tostring(s):gsub("[%z\1-\8\11\12\14-\31\127]", "")
  return (s:gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
    ["'"] = "&#39;" }))
end

--- maintenance.timeline_html(report) -> string
-- One self-contained HTML page (inline SVG and CSS, no script, nothing fetched) with the run's
-- timeline: a row per node showing its drain (with each migration off it as a thin line), the
-- step, the wait for Ready and, per batch, the health gate; hovering a bar shows what it is.
function M.timeline_html(report)
  local t0, t1 = report.started, report.finished or time.now()
  local span = math.max(1, t1 - t0)
  local label_w, width, row_h, top = 170, 1100, 24, 46
  local nodes = {}
  for _, rec in ipairs(report.nodes) do nodes[#nodes + 1] = rec end
  table.sort(nodes, function(a, b)
    if a.started ~= b.started then return a.started < b.started end
    return a.name < b.name
  end)
  local function x(t) return label_w + (t - t0) / span * width end
  local function w(d) return math.max(1, d / span * width) end
  local function dur(sec)
    sec = math.floor((sec or 0) + 0.5)
    if sec < 60 then return sec .. " s" end
    return ("%dm%02ds"):format(sec // 60, sec % 60)
  end
  local out = {}
  local function add(fmt, ...) out[#out + 1] = fmt:format(...) end
  local height = top + (#nodes + 1) * row_h + 30
  add('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>vmrun rolling maintenance</title>')
  add('<style>body{font:13px sans-serif;margin:16px;color:#222}svg text{font:12px sans-serif}'
    .. '.drain{fill:#4a7fd4}.step{fill:#e8953a}.ready{fill:#9a9a9a}.gate{fill:#8e5bc7}'
    .. '.mig{stroke:#2f9e57;stroke-width:2}.failed{fill:#d43d3d}.grid{stroke:#ddd}'
    .. '.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 14px;vertical-align:middle}</style></head><body>')
  add('<h2>Rolling maintenance: %d node(s) in %d batch(es), %s</h2>', #nodes, #report.batches, html(dur(span)))
  add('<p class="legend"><span class="drain" style="background:#4a7fd4"></span>drain'
    .. '<span style="background:#2f9e57"></span>migration<span style="background:#e8953a"></span>step'
    .. '<span style="background:#9a9a9a"></span>wait for Ready<span style="background:#8e5bc7"></span>health gate'
    .. '<span style="background:#d43d3d"></span>failed</p>')
  add('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d">', label_w + width + 20, height)
  for i = 0, 10 do -- time grid
    local gx = label_w + i * width / 10
    add('<line class="grid" x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>', gx, top - 14, gx, height - 20)
    add('<text x="%.1f" y="%d" text-anchor="middle">%s</text>', gx, top - 18, html(dur(span * i / 10)))
  end
  add('<text x="4" y="%d">health gates</text>', top + 16)
  for _, b in ipairs(report.batches) do
    if b.finished and b.gate_s then
      add('<rect class="%s" x="%.1f" y="%d" width="%.1f" height="14"><title>batch %d gate: %s (%s)</title></rect>',
        b.gate == "passed" and "gate" or "failed", x(b.finished - b.gate_s), top + 4, w(b.gate_s), b.index,
        html(b.gate or "?"), html(dur(b.gate_s)))
    end
  end
  for i, rec in ipairs(nodes) do
    local y = top + i * row_h
    add('<text x="4" y="%d">%s (batch %d)</text>', y + 16, html(rec.name), rec.batch)
    local t = rec.started
    if rec.drain_s then
      add('<rect class="drain" x="%.1f" y="%d" width="%.1f" height="18"><title>%s: drain %s</title></rect>',
        x(t), y + 3, w(rec.drain_s), html(rec.name), html(dur(rec.drain_s)))
      local lane = 0
      for _, v in ipairs(rec.vms) do
        if v.started and v.finished then
          local ly = y + 5 + (lane % 7) * 2
          add('<line class="mig" x1="%.1f" y1="%d" x2="%.1f" y2="%d"><title>%s/%s: %s -> %s, %s</title></line>',
            x(v.started), ly, x(v.started) + w(v.finished - v.started), ly, html(v.namespace), html(v.name),
            html(v.source or rec.name), html(v.target or "?"), html(dur(v.finished - v.started)))
          lane = lane + 1
        end
      end
      t = t + rec.drain_s
    end
    if rec.step_s then
      add('<rect class="step" x="%.1f" y="%d" width="%.1f" height="18"><title>%s: step %s</title></rect>',
        x(t), y + 3, w(rec.step_s), html(rec.name), html(dur(rec.step_s)))
      t = t + rec.step_s
    end
    if rec.ready_s then
      add('<rect class="ready" x="%.1f" y="%d" width="%.1f" height="18"><title>%s: back Ready after %s</title></rect>',
        x(t), y + 3, w(rec.ready_s), html(rec.name), html(dur(rec.ready_s)))
    end
    if rec.state == "failed" then
      add('<rect class="failed" x="%.1f" y="%d" width="%.1f" height="18"><title>%s failed: %s</title></rect>',
        x(rec.started), y + 3, w((rec.finished or t1) - rec.started), html(rec.name), html(rec.error or "?"))
    end
  end
  add('</svg>')
  for _, sk in ipairs(report.skipped or {}) do add('<p>skipped %s: %s</p>', html(sk.name), html(sk.reason)) end
  if report.stopped then add('<p><b>%s</b></p>', html(report.stopped)) end
  add('</body></html>\n')
  return table.concat(out, "\n")
end

--- maintenance.rolling([opts]) -> report — waits
-- See docs/lua-api.md.
local rolling
local notifier -- the run's webhook (notify.lua), made by the outermost call
local run_approved -- approve.before = "run": asked already in this attempt (a resume asks again)

function M.rolling(opts)
  return rolling(opts, nil)
end

-- phase: nil for a run; "resume" for the nodes a resumed run's earlier attempt had begun (seen
-- through first: until they are back, the nodes whose VMs can only go to them look blocked),
-- "rest" for the others afterwards.
-- The journal's and the notifications' word for how a run ended.
-- A node that failed in an earlier attempt and was not retried keeps the run "failed", so that a
-- later `vmrun resume --retry-failed` can still take it up.
local function status_of(report, failed_nodes)
  return report.paused and "paused" or report.aborted and "aborted" or report.stopped and "stopped"
    or (((failed_nodes or report.failed_nodes or 0) > 0 or (report.failed_before or 0) > 0) and "failed"
      or "done")
end

function rolling(opts, phase, done_before)
  local given = opts
  opts = check_options(opts)
  if phase == nil then run_approved = false end
  if phase == nil and opts.window_end == nil then
    -- --window-end (vmrun schedule gives it): the window's end on the wall clock, mapped onto the
    -- run's clock once, so that a simulated run measures what is left of it in simulated time
    local we = journal_core.run().window_end
    if we ~= nil then opts.window_end = time.now() + (we - os.time()) end
  end
  -- Ctrl-C or `vmrun abort`: no new node, batch or migration; what is in flight ends (or, with
  -- on_abort = "cancel", its migrations are cancelled); each node stays as docs/journal.md says
  vmrun.stop_gracefully()
  local started = time.now()
  local emit = function(ev)
    if opts.on_event then
      -- a faulty event handler must not break the maintenance half way
      local ok, err = pcall(opts.on_event, ev)
      if not ok then log.warn("on_event failed: " .. strip_where(err), { event = ev.type }) end
    end
  end
  local ok, err = pcall(cluster.settle)
  if not ok then log.warn(strip_where(err), {}) end -- plan with what runs; pre-flight says the rest
  -- the VMs' annotations, read once: their policies now, and the VMs with a stop record for after
  -- pre-flight (it only reads: the records are still what they were)
  local vm_annotations = fields_of_all("VirtualMachine", { "metadata.annotations" })
  local policies = read_policies(vm_annotations)
  local stop_records = {}
  for _, row in ipairs(vm_annotations) do
    local a = row["metadata.annotations"]
    if a and a[M.STOPPED_ANNOTATION] then stop_records[#stop_records + 1] = row end
  end
  vm_annotations = nil
  local names = pick_nodes(opts)
  if #names == 0 then usage(2, "maintenance.rolling: no node to maintain") end
  local report = { nodes = {}, batches = {}, skipped = {}, started = started, vms = {} }
  -- the journal: what this run changes, before and after; a resumed run reads what its earlier
  -- attempts did and leaves the nodes they finished (done or failed) out, in the planned order
  local jr = (opts.journal == true or (opts.journal == nil and journal.wanted())) and journal.current()
    or nil
  -- (opened first: a resumed run's journal is checked before anything, the lock included, changes)
  if jr and phase == nil then jr:open() end
  -- the cluster lock and the other maintenance actors, once a run (a resumed run's phases run
  -- under it), before anything changes; by default on a cluster that outlives the run
  local want_lock = phase == nil and opts.lock
  if phase == nil and want_lock == nil then want_lock = jr ~= nil end
  local lock_opts = { run_id = jr and jr.id or nil,
    on_lost = function(_, why) vmrun.request_abort("the cluster lock was lost: " .. tostring(why)) end }
  for k, v in pairs(type(want_lock) == "table" and want_lock or {}) do lock_opts[k] = v end
  local held <close> = want_lock and lock.acquire(lock_opts) or nil
  if held then
    report.lock = held.namespace .. "/" .. held.name
    if jr then jr:record("lock", { lease = report.lock }) end
  end
  if phase == nil then
    local n = opts.notify
    if n == nil then n = os.getenv("VMRUN_NOTIFY_URL") end
    local nopts = type(n) == "table" and n or {}
    local url = type(n) == "table" and (n.url or os.getenv("VMRUN_NOTIFY_URL")) or n
    local ok, made = pcall(notify.webhook, url, { events = nopts.events,
      timeout = nopts.timeout, context = { run = jr and jr.id or nil, cluster = cluster.target().identity } })
    if not ok then usage(3, "maintenance.rolling: notify: %s", strip_where(made)) end
    notifier = made
    local policy = opts.others
    if policy == nil then policy = jr and "refuse" or "warn" end
    local leave = actors.check(actors.detect({ nodes = names }), policy)
    if #leave > 0 then
      local out = {}
      for _, n in ipairs(leave) do out[n] = true end
      local kept = {}
      for _, n in ipairs(names) do
        if out[n] then
          report.skipped[#report.skipped + 1] = { name = n, reason = "another maintenance actor holds it" }
        else
          kept[#kept + 1] = n
        end
      end
      names = kept
    end
  end
  local earlier = { state = {}, step = {}, step_done = {}, order = nil, stopped = {}, stopped_on = {},
    failed_at = {} }
  -- nodes that failed in an earlier attempt: left failed, or (`vmrun resume --retry-failed`)
  -- maintained again, first, from where they are (cordoned, maybe half drained)
  local retry = opts.retry_failed
  if retry == nil then retry = journal_core.run().retry_failed == true end
  if jr and jr.resuming then
    for _, r in ipairs(jr:previous()) do
      if r.type == "node" and r.node then earlier.state[r.node] = r.state end
      if r.type == "node" and r.node and r.state == "failed" then
        earlier.failed_at[r.node] = earlier.failed_at[r.node] or r.seq or 0
      end
      if r.type == "step" and r.node and r.phase == "begin" then earlier.step[r.node] = r end
      if r.type == "step" and r.node and r.phase == "end" and r.ok then earlier.step_done[r.node] = true end
      if r.type == "planned" then earlier.order = r.nodes end
      if r.type == "batch" then earlier.batch = r.nodes end -- (the last one: the batch it was in)
      if r.type == "vm_stop" and r.node and r.vm then -- (its node's job starts it as its policy says)
        earlier.stopped[r.vm] = true
        earlier.stopped_on[r.node] = earlier.stopped_on[r.node] or {}
        table.insert(earlier.stopped_on[r.node], { vm = r.vm, policy = r.policy })
      end
    end
    local keep, finished, retried = {}, {}, {}
    -- (every node of the run that failed earlier, in this call's nodes or not: a resumed run's
    -- phases each see them)
    report.failed_before = 0
    for _, st in pairs(earlier.state) do
      if st == "failed" and not retry then report.failed_before = report.failed_before + 1 end
    end
    for _, n in ipairs(names) do
      local st = earlier.state[n]
      if st == "failed" and retry then retried[#retried + 1] = n end
      if st == "done" or (st == "failed" and not retry) then
        finished[#finished + 1] = n .. " (" .. st .. ")"
        if st == "failed" then -- (done ones are simply done: the summary of the run's first attempt)
          report.skipped[#report.skipped + 1] = { name = n, reason = ("failed earlier in run %s"):format(jr.id) }
        end
      else
        keep[#keep + 1] = n
      end
    end
    if phase == nil then
      log.info(("resuming run %s: %d node(s) finished earlier%s, %d left"):format(jr.id, #finished,
        #finished > 0 and (" (" .. table.concat(finished, ", ") .. ")") or "", #keep), { run = jr.id })
      if #retried > 0 then
        table.sort(retried, function(a, b) return earlier.failed_at[a] < earlier.failed_at[b] end)
        log.info(("resuming run %s: the node(s) that failed earlier are tried again, before the nodes "
          .. "not started yet: %s"):format(
          jr.id, table.concat(retried, ", ")), { run = jr.id })
      end
    end
    names = keep
    local begun, untouched = {}, {}
    -- the batch it was in goes again as it was placed: its nodes begun, and those not yet
    local in_batch = {}
    for _, n in ipairs(earlier.batch or {}) do in_batch[n] = true end
    for _, n in ipairs(names) do
      -- (a retried failed node goes with the rest, first, in the order the nodes failed: batches
      -- of the run's size, not one batch of every node that ever failed)
      if earlier.state[n] ~= "failed" and (in_batch[n] or earlier.state[n] ~= nil) then
        begun[#begun + 1] = n
      else
        untouched[#untouched + 1] = n
      end
    end
    if phase == nil and #begun > 0 then
      local function with_nodes(list)
        local o = {}
        for k, v in pairs(given or {}) do o[k] = v end
        o.nodes, o.selector, o.window_end = list, nil, opts.window_end
        return o
      end
      log.info(("resuming run %s: first the node(s) it had begun: %s"):format(jr.id,
        table.concat(begun, ", ")), { run = jr.id })
      -- the begun nodes were one batch, placed together: again one batch
      local again = with_nodes(begun)
      again.batch = #begun
      local first = rolling(again, "resume")
      local done_first = {}
      for _, r in ipairs(first.nodes) do if r.state == "done" then done_first[r.name] = true end end
      local rest = #untouched > 0 and not first.stopped
        and rolling(with_nodes(untouched), "rest", done_first) or nil
      if rest == nil then
        local status = status_of(first)
        jr:finish(status, first.paused and { reason = "window", left = first.paused_left } or nil)
        if notifier then
          notifier:send("end", { status = status, nodes_failed = first.failed_nodes, stopped = first.stopped })
          notifier:flush(30)
        end
        return first
      end
      -- one report: the batches of both, numbered on
      for _, b in ipairs(rest.batches) do
        b.index = b.index + #first.batches
        first.batches[#first.batches + 1] = b
      end
      for _, r in ipairs(rest.nodes) do
        r.batch = r.batch + #first.batches - #rest.batches
        first.nodes[#first.nodes + 1] = r
      end
      for _, s in ipairs(rest.skipped) do first.skipped[#first.skipped + 1] = s end
      for _, v in ipairs(rest.left_off) do first.left_off[#first.left_off + 1] = v end
      first.failed_nodes = first.failed_nodes + rest.failed_nodes
      first.failed_vms = first.failed_vms + rest.failed_vms
      first.stopped, first.finished, first.aborted = rest.stopped, rest.finished, rest.aborted
      first.paused, first.paused_left = rest.paused, rest.paused_left
      first.seconds = first.finished - first.started
      return first
    end
    if #names == 0 then
      jr:finish(status_of(report, 0))
      report.finished, report.seconds = time.now(), time.now() - started
      report.failed_nodes, report.failed_vms, report.left_off, report.batch_size = 0, 0, {}, 0
      return report
    end
  end

  -- the VMs on each node, with their policies; nodes with a skip-node VM leave the run
  local vms_on, stopping = {}, {}
  for _, row in ipairs(fields_of_all("VirtualMachineInstance", { "status.nodeName", "metadata.ownerReferences" })) do
    local where = row["status.nodeName"]
    local vm = vm_of({ metadata = { ownerReferences = row["metadata.ownerReferences"] } })
    local policy = vm and policies[row.namespace .. "/" .. vm]
    if where then
      vms_on[where] = vms_on[where] or {}
      table.insert(vms_on[where], { namespace = row.namespace, name = vm or row.name,
        vm = vm, policy = policy or "migrate" })
    end
  end
  local run_nodes = {}
  for _, n in ipairs(names) do
    local skip
    for _, v in ipairs(vms_on[n] or {}) do
      if v.policy == "skip-node" then skip = ("VM %s/%s asks to skip its node (%s)"):format(v.namespace, v.name, M.POLICY_ANNOTATION) end
      if v.policy ~= "migrate" and v.policy ~= "skip-node" and v.vm then stopping[v.namespace .. "/" .. v.vm] = v.policy end
    end
    if skip then
      report.skipped[#report.skipped + 1] = { name = n, reason = skip }
      log.warn(("skipping %s: %s"):format(n, skip), { node = n })
    else
      run_nodes[#run_nodes + 1] = n
    end
  end

  -- the VMs an earlier attempt of this run stopped (or began to) by their policy
  for _, list in pairs(earlier.stopped_on) do
    for _, s in ipairs(list) do stopping[s.vm] = stopping[s.vm] or s.policy end
  end

  -- 1. pre-flight of the whole run: nothing is touched when a node would block
  log.info(("pre-flight of %d node(s)"):format(#run_nodes), { nodes = #run_nodes })
  local pf_opts = {}
  for k, v in pairs(opts.drain) do if k ~= "on_event" and k ~= "vm_targets" then pf_opts[k] = v end end
  pf_opts.nodes = run_nodes
  -- the run's nodes that are cordoned now and come back when it finishes them: those its
  -- earlier attempt cordoned, and those vmrun's mark says vmrun cordoned (a node cordoned by
  -- someone else stays so)
  local ours, seen_ours = {}, {}
  for n, st in pairs(earlier.state) do
    if st ~= "done" and (st ~= "failed" or retry) then ours[#ours + 1], seen_ours[n] = n, true end
  end
  local in_run = {}
  for _, n in ipairs(run_nodes) do in_run[n] = true end
  for _, n in ipairs((snapshot.nodes())) do -- (one reading of the nodes, not one per node)
    local name = n.metadata.name
    if in_run[name] and not seen_ours[name] and comes_back(n) then ours[#ours + 1], seen_ours[name] = name, true end
  end
  if #ours > 0 then pf_opts.schedulable = ours end
  local pf = preflight.cluster(pf_opts)
  -- a VM that its policy shuts down before the drain does not block it, nor does its pod
  local vm_of_pod = {}
  for _, row in ipairs(fields_of_all("Pod", { "metadata.labels" }, { selector = "kubevirt.io=virt-launcher" })) do
    local labels = row["metadata.labels"] or {}
    if labels["vm.kubevirt.io/name"] then
      vm_of_pod[row.namespace .. "/" .. row.name] = row.namespace .. "/" .. labels["vm.kubevirt.io/name"]
    end
  end
  local report_of, blocked = {}, {}
  for _, r in ipairs(pf.nodes) do
    report_of[r.name] = r
    local real = {}
    for _, b in ipairs(r.blockers) do
      local key = b.namespace .. "/" .. b.name
      if not stopping[key] and not stopping[vm_of_pod[key] or ""] then real[#real + 1] = b end
    end
    if #real > 0 then blocked[#blocked + 1] = { name = r.name, blockers = real } end
  end
  if #blocked > 0 and jr and jr.resuming then
    -- the run passed its pre-flight before it changed anything; half way, VMs may have no room
    -- yet that the nodes still to come will give them: each drain decides when its turn comes
    for _, b in ipairs(blocked) do
      log.warn(("resumed run %s: %s would block now (%s/%s: %s); its drain decides when its turn comes")
        :format(jr.id, b.name, b.blockers[1].namespace, b.blockers[1].name, b.blockers[1].reason), { node = b.name })
    end
    blocked = {}
  end
  if #blocked > 0 then
    local lines = {}
    for _, b in ipairs(blocked) do
      for _, x in ipairs(b.blockers) do
        lines[#lines + 1] = ("%s: %s/%s: %s"):format(b.name, x.namespace, x.name, x.reason)
      end
    end
    if not opts.skip_blocked then
      vmrun.error("preflight_failed", ("maintenance.rolling: %d node(s) would block, nothing was "
        .. "changed (skip_blocked = true leaves them out): %s"):format(#blocked, table.concat(lines, "; ")),
        { level = 2, blocked = blocked })
    end
    local out = {}
    for _, b in ipairs(blocked) do out[b.name] = b.blockers[1] end
    local kept = {}
    for _, n in ipairs(run_nodes) do
      if out[n] then
        report.skipped[#report.skipped + 1] = { name = n, reason = ("pre-flight: %s/%s: %s"):format(
          out[n].namespace, out[n].name, out[n].reason) }
        log.warn(("skipping %s: it would block"):format(n), { node = n })
      else
        kept[#kept + 1] = n
      end
    end
    run_nodes = kept
  end

  -- VMs an earlier run stopped and did not start again (it failed or was interrupted); only
  -- now, so that a run that pre-flight stops has changed nothing
  for _, row in ipairs(stop_records) do
    if earlier.stopped[row.namespace .. "/" .. row.name] then goto next_record end
    local record = row["metadata.annotations"][M.STOPPED_ANNOTATION]
    local ok, was = pcall(require("vmrun.json").decode, record)
    if not (ok and type(was) == "table" and was.policy == "leave-off") then
      log.warn(("%s/%s was stopped by an earlier maintenance run and not started again: starting it")
        :format(row.namespace, row.name), {})
      start_vm(row.namespace, row.name)
    end
    ::next_record::
  end

  -- 2. order and batch size (a resumed run keeps its first plan's order, the nodes it was in the
  -- middle of first)
  order_nodes(run_nodes, report_of)
  if earlier.order then
    local rank = {}
    for i, n in ipairs(earlier.order) do rank[n] = i end
    -- nodes begun earlier first (cordoned: their capacity is missing until they are done); in the
    -- phase of the other nodes, the failed nodes retried come first, in the order they failed (a
    -- node that failed for want of room often waited for one that had failed before it)
    local function key(n)
      if retry and earlier.state[n] == "failed" then return earlier.failed_at[n] / 1e9 end
      return (earlier.state[n] ~= nil and 1 or 2e6) + (rank[n] or 1e6)
    end
    table.sort(run_nodes, function(a, b)
      if key(a) ~= key(b) then return key(a) < key(b) end
      return a < b
    end)
  end
  local batch_size = opts.batch == "auto" and auto_batch(run_nodes) or opts.batch
  local limits = cluster.migration_limits()
  local per_cluster = limits.parallelMigrationsPerCluster.value or 5
  local outbound = limits.parallelOutboundMigrationsPerNode.value or 2
  if batch_size > per_cluster then
    -- each node's drain needs a migration slot of its own, or the batch's drains together would
    -- run more migrations than the cluster allows
    log.warn(("batch %d is more than parallelMigrationsPerCluster (%d): batches of %d"):format(
      batch_size, per_cluster, per_cluster), {})
    batch_size = per_cluster
  end
  -- an estimate of the batches, for the log and the live view: in that order, a node joining a
  -- batch only if every VM that migrates off the batch's nodes keeps a target outside it; each
  -- batch is then chosen when its turn comes, with the room the cluster has at that moment
  local function fits(batch)
    local inside = {}
    for _, n in ipairs(batch) do inside[n] = true end
    for _, n in ipairs(batch) do
      for _, vm in ipairs(report_of[n] and report_of[n].vms or {}) do
        if vm.drain_action == "migrate" then
          local any = false
          for _, t in ipairs(vm.targets) do
            if not inside[t] then any = true break end
          end
          if not any then return false end
        end
      end
    end
    return true
  end
  local batches, pending = {}, run_nodes
  while #pending > 0 do
    local b, later = {}, {}
    for _, n in ipairs(pending) do
      b[#b + 1] = n
      if #b > batch_size or (#b > 1 and not fits(b)) then
        b[#b] = nil
        later[#later + 1] = n
      end
    end
    batches[#batches + 1] = b
    pending = later
  end
  log.info(("rolling maintenance of %d node(s) in about %d batch(es) of up to %d"):format(#run_nodes,
    #batches, batch_size), { nodes = #run_nodes, batches = #batches, batch = batch_size })
  emit({ type = "planned", nodes = run_nodes, batches = batches, batch = batch_size })
  if notifier and phase ~= "rest" then
    notifier:send("start", { nodes = run_nodes, batches = #batches, resumed = jr and jr.resuming or nil })
  end
  if jr then jr:record("planned", { nodes = run_nodes, batch = batch_size }) end
  -- each node's estimated drain, for the window's budget
  local drain_estimate = {}
  for n, r in pairs(report_of) do drain_estimate[n] = r.estimated_drain_seconds end
  -- the whole run's pre-flight (every VM's targets) is not needed past the plan: let it go
  pf, report_of, fits = nil, nil, nil

  local done, failed_nodes, failed_vms = {}, 0, 0
  -- (a resumed run's nodes done earlier are done: the preferred targets, as they were)
  for n, st in pairs(earlier.state) do if st == "done" then done[n] = true end end
  for n in pairs(done_before or {}) do done[n] = true end
  local restart_after = {} -- node -> VMs to start when it is done
  local stopped_at_end = {}
  local to_do, bi, estimate = run_nodes, 0, #batches
  while #to_do > 0 do
    local why = vmrun.abort_requested()
    if why then
      report.aborted = why
      report.stopped = ("stopped (%s) before batch %d: %d node(s) not started"):format(why, bi + 1, #to_do)
      log.warn(report.stopped, {})
      break
    end
    local batch, assigned, waited
    batch, to_do, assigned, waited = next_batch(to_do, batch_size, done, stopping)
    -- the window's budget: a batch that would not end before the window does is not started
    -- (but the batch a resumed run had begun goes on: its nodes are cordoned)
    local function out_of_window()
      if not opts.window_end or phase == "resume" then return false end
      local need, how = batch_estimate(batch, drain_estimate, report, opts)
      local left = opts.window_end - time.now()
      if need <= left then return false end
      report.paused_left = #to_do + #batch
      report.paused = ("paused before batch %d (%s): it needs about %s (%s) and the window "
        .. "ends in %s; %d node(s) not started, for `vmrun resume` in the next window")
        :format(bi + 1, table.concat(batch, ", "), human_duration(need), how,
          human_duration(math.max(0, left)), #to_do + #batch)
      report.stopped = report.paused
      log.warn(report.paused, { batch = bi + 1 })
      if jr then
        jr:record("window", { batch = bi + 1, nodes = batch, need = math.ceil(need),
          left = math.floor(math.max(0, left)) })
      end
      emit({ type = "paused", batch = bi + 1, nodes = batch, need = need, left = left })
      return true
    end
    if out_of_window() then break end
    if opts.approve and (opts.approve.before == "batch" or not run_approved) then
      -- an approval gate (docs/gates.md): before the run's first batch, or before each
      local gate_opts = {}
      for k, v in pairs(opts.approve) do if k ~= "before" then gate_opts[k] = v end end
      local question
      if opts.approve.before == "batch" then
        question = ("Start batch %d of about %d of %s (%s)?"):format(bi + 1,
          math.max(estimate, bi + 1), jr and ("run " .. jr.id) or "the rolling maintenance",
          table.concat(batch, ", "))
      else
        question = ("%s the rolling maintenance of %d node(s) on %s%s?"):format(
          jr and jr.resuming and ("Resume run " .. jr.id .. ":") or "Start",
          #to_do + #batch, cluster.target().identity,
          opts.window_end and (", window ends in " .. human_duration(math.max(0, opts.window_end - time.now()))) or "")
      end
      local approved, how, who = require("vmrun.gate").approve(question, gate_opts)
      run_approved = true
      emit({ type = "approval", batch = bi + 1, nodes = batch, approved = approved, how = how, who = who })
      if not approved then
        report.stopped = ("batch %d (%s) not approved (%s: %s): %d node(s) not started; `vmrun resume` "
          .. "asks again"):format(bi + 1, table.concat(batch, ", "), how, who, #to_do + #batch)
        if phase == "resume" then -- (the earlier attempt's batch: its nodes are cordoned)
          report.stopped = report.stopped .. "; the nodes the earlier attempt had begun stay as it "
            .. "left them (cordoned): `vmrun undo " .. jr.id .. "` puts them back"
        end
        if how == "abort" then report.aborted = who end
        log.warn(report.stopped, { batch = bi + 1 })
        emit({ type = "not_approved", batch = bi + 1, nodes = batch, how = how, who = who })
        break
      end
      -- (the answer may have taken a while)
      if out_of_window() then break end
    end
    bi = bi + 1
    -- the estimate grows when the room made a batch smaller than planned
    estimate = math.max(estimate, bi + (#to_do + batch_size - 1) // batch_size)
    for _, w in ipairs(waited) do
      log.info(("%s waits for a later batch: no room now outside the batch for %s"):format(w.node,
        table.concat(w.vms, ", ")), { node = w.node })
    end
    local brec = { index = bi, nodes = batch, started = time.now() }
    report.batches[#report.batches + 1] = brec
    log.info(("batch %d/%d: %s"):format(bi, estimate, table.concat(batch, ", ")), { batch = bi })
    if jr then jr:record("batch", { batch = bi, nodes = batch }) end
    emit({ type = "batch_started", batch = bi, batches = estimate, nodes = batch, waited = waited })
    if opts.hooks.before_batch then opts.hooks.before_batch(batch) end
    local in_batch = {}
    for _, n in ipairs(batch) do in_batch[n] = true end
    -- targets: the schedulable nodes outside the batch, the ones done first
    local targets, prefer = {}, {}
    for _, n in ipairs((snapshot.nodes())) do -- in cluster.names order
      local name = n.metadata.name
      if not in_batch[name] and not is_cordoned(n) then
        targets[#targets + 1] = name
      end
    end
    for name in pairs(done) do prefer[#prefer + 1] = name end -- a set to the queue: no order
    local expect_running = {}
    local jobs = {}
    for _, name in ipairs(batch) do
      jobs[#jobs + 1] = function()
        local rec = { name = name, batch = bi, state = "running", started = time.now(), vms = {} }
        report.nodes[#report.nodes + 1] = rec
        -- the journal and the node say where the node is: before each change, and after
        local function mark(state, fields)
          if jr == nil then return end
          local r = { node = name, state = state }
          for k, v in pairs(fields or {}) do r[k] = v end
          jr:record("node", r)
          cluster.patch("Node", nil, name, { metadata = { annotations = { [M.RUN_ANNOTATION] =
            require("vmrun.json").encode({ run = jr.id, state = state, at = time.now() }) } } },
            { type = "merge" })
        end
        local ok, err = pcall(function()
          if opts.hooks.before_node then opts.hooks.before_node(name) end
          mark("started", { batch = bi })
          -- VMs whose policy shuts them down: those on the node now (a VM restarted elsewhere
          -- earlier in the run may have landed here)
          local here = {}
          for _, row in ipairs(fields_of_all("VirtualMachineInstance", { "metadata.ownerReferences" },
              { node = name })) do
            local vm = vm_of({ metadata = { ownerReferences = row["metadata.ownerReferences"] } })
            if vm then here[#here + 1] = { namespace = row.namespace, vm = vm } end
          end
          -- the VMs an earlier attempt of this run stopped here: as their policies say
          for _, s in ipairs(earlier.stopped_on[name] or {}) do
            if s.policy == "restart-elsewhere" then
              local ns, vm = s.vm:match("^([^/]+)/(.+)$")
              start_vm(ns, vm)
              expect_running[s.vm] = true
            elseif s.policy == "restart-after" then
              restart_after[name] = restart_after[name] or {}
              table.insert(restart_after[name], s.vm)
            else
              stopped_at_end[#stopped_at_end + 1] = s.vm
            end
          end
          -- cordoned first, so that a VM restarted elsewhere cannot come back to this node
          if jr then jr:record("cordon", { node = name }) end
          node.cordon(name)
          if jr then jr:record("cordoned", { node = name }) end
          for _, v in ipairs(here) do
            local key = v.vm and (v.namespace .. "/" .. v.vm)
            if key and stopping[key] then
              if jr then jr:record("vm_stop", { node = name, vm = key, policy = stopping[key] }) end
              stop_vm(v.namespace, v.vm, stopping[key])
              if jr then jr:record("vm_stopped", { node = name, vm = key }) end
              rec.vms[#rec.vms + 1] = { namespace = v.namespace, name = v.vm, action = stopping[key], state = "stopped" }
              if stopping[key] == "restart-elsewhere" then
                start_vm(v.namespace, v.vm)
                expect_running[key] = true
              elseif stopping[key] == "restart-after" then
                restart_after[name] = restart_after[name] or {}
                table.insert(restart_after[name], key)
              else
                stopped_at_end[#stopped_at_end + 1] = key
              end
            end
          end
          -- the drain: its share of the cluster limit, targets steered to nodes already done
          local dopts = {}
          for k, v in pairs(opts.drain) do dopts[k] = v end
          dopts.on_abort = opts.on_abort
          dopts.queue = { limits = { cluster = math.max(1, per_cluster // #batch),
            outbound_per_node = outbound, inbound_per_node = 2 }, targets = targets, prefer = prefer }
          dopts.vm_targets = function(vmi)
            local key = vmi.metadata.namespace .. "/" .. vmi.metadata.name
            if assigned[key] then return { assigned[key] } end
            -- not planned (it arrived since): where pre-flight says it may go, outside the batch
            local allowed = {}
            for _, t in ipairs(preflight.vm(vmi).targets) do
              if not in_batch[t] then allowed[#allowed + 1] = t end
            end
            return allowed
          end
          local t0 = time.now()
          mark("draining")
          local account = node.drain(name, dopts)
          rec.drain_s = time.now() - t0
          if jr then jr:record("drained", { node = name, vms = #account.vms, pods = #account.pods }) end
          for _, v in ipairs(account.vms) do
            rec.vms[#rec.vms + 1] = v
            -- the gate waits for the VMs that run again: migrated, or restarted elsewhere
            if v.action == "migrate" or v.action == "shutdown-restart" then
              expect_running[v.namespace .. "/" .. v.name] = true
            end
          end
          local stop = vmrun.abort_requested()
          if stop then
            vmrun.error("aborted", ("stopped (%s) after the drain, before the step; %s stays cordoned")
              :format(stop, name), { resource = "Node " .. name })
          end
          -- the step; an earlier attempt of this run that began it may have seen it through: a new
          -- boot, or the node down (rebooting), says so, and the step is not run twice
          local old_boot = boot_id(cluster.get("Node", name))
          local began = earlier.step[name]
          -- (a failed node retried: a step that "succeeded" without the node booting anew runs
          -- again, else the wait for a new boot would fail as it did)
          local trust_done = earlier.step_done[name] and not (retry and earlier.state[name] == "failed")
          local good, why = true, nil
          t0 = time.now()
          if began and (trust_done or boot_id(cluster.get("Node", name)) ~= began.boot
              or not node_ready(cluster.get("Node", name))) then
            old_boot = began.boot
            log.info(("maintenance step on %s: begun by the earlier attempt of run %s, not run again")
              :format(name, jr.id), { node = name })
          else
            log.info(("maintenance step on %s"):format(name), { node = name })
            mark("step", { boot = old_boot })
            if jr then jr:record("step", { node = name, phase = "begin", boot = old_boot }) end
            good, why = run_step(opts.step, name, opts.step_timeout)
            if jr then jr:record("step", { node = name, phase = "end", ok = good, reason = why }) end
          end
          rec.step_s = time.now() - t0
          if not good then error({ message = "step failed: " .. why }, 0) end
          t0 = time.now()
          -- a step that reboots (the default) must show a new boot before the node counts as back
          good, why = wait_ready(name, opts.reboots ~= false, old_boot, opts.ready_timeout)
          rec.ready_s = time.now() - t0
          if not good then error({ message = why }, 0) end
          if jr then jr:record("uncordon", { node = name }) end
          node.uncordon(name)
          if jr then jr:record("uncordoned", { node = name }) end
          for _, key in ipairs(restart_after[name] or {}) do
            local ns, vm = key:match("^([^/]+)/(.+)$")
            start_vm(ns, vm)
            expect_running[key] = true
          end
          if opts.hooks.after_node then opts.hooks.after_node(name, rec) end
        end)
        rec.finished = time.now()
        rec.seconds = rec.finished - rec.started
        local aborted = vmrun.is_error(err, "aborted")
        if jr and not vmrun.is_error(err, "cancelled") and not aborted then
          -- (a cancelled or stopped node is neither: a resume takes it up again)
          local marked, merr = pcall(mark, ok and "done" or "failed",
            { error = not ok and strip_where(err) or nil })
          if not marked then
            if ok then ok, err = false, merr end
            log.error(("%s: the journal or the node's annotation cannot be written: %s"):format(name,
              strip_where(merr)), { node = name })
          end
        end
        if ok then
          rec.state = "done"
          done[name] = true
        else
          -- what this node's policy stopped to start again after it comes back now, elsewhere:
          -- a failed node must not keep VMs off
          for _, key in ipairs(restart_after[name] or {}) do
            local ns, vm = key:match("^([^/]+)/(.+)$")
            local started_ok, serr = pcall(start_vm, ns, vm)
            if not started_ok then log.error(("cannot start %s again: %s"):format(key, strip_where(serr)), {}) end
          end
          restart_after[name] = nil
          if vmrun.is_error(err, "cancelled") then error(err, 0) end
          rec.state, rec.error = aborted and "stopped" or "failed", strip_where(err)
          local acc = type(err) == "table" and err.account
          for _, v in ipairs(acc and acc.vms or {}) do rec.vms[#rec.vms + 1] = v end
          -- say what state the node is left in (a hook may fail before the cordon)
          local now = cluster.get("Node", name)
          rec.cordoned = now ~= nil and (now.spec or {}).unschedulable == true
          local left = rec.cordoned and "it stays cordoned" or "it was not cordoned"
          log[aborted and "warn" or "error"](("%s %s: %s%s"):format(name, aborted and "stopped" or "failed",
            rec.error, rec.error:find("stays cordoned", 1, true) and "" or ("; " .. left)), { node = name })
        end
        for _, v in ipairs(rec.vms) do
          if v.state == "failed" then failed_vms = failed_vms + 1 end
        end
        emit({ type = ok and "node_done" or "node_failed", node = name, record = rec })
        if notifier then
          notifier:send("node", { node = name, state = rec.state, error = rec.error, seconds = rec.seconds })
          if rec.state == "failed" then notifier:send("failure", { node = name, error = rec.error }) end
        end
        return rec
      end
    end
    for _, r in ipairs(task.all(jobs)) do
      if r.state == "failed" then failed_nodes = failed_nodes + 1 end
    end
    local t0 = time.now()
    local good, why = true, nil
    if vmrun.abort_requested() then
      report.aborted = vmrun.abort_requested()
      brec.gate = "not run: stopping"
    else
      good, why = gate(batch, expect_running, opts)
    end
    brec.gate_s = time.now() - t0
    if brec.gate == nil then brec.gate = good and "passed" or why end
    brec.finished = time.now()
    if not good then
      log.error(("health gate after batch %d failed: %s"):format(bi, why), { batch = bi })
      if notifier then notifier:send("failure", { batch = bi, error = "health gate: " .. tostring(why) }) end
      failed_nodes = failed_nodes + 1
    end
    if opts.hooks.after_batch then opts.hooks.after_batch(batch, brec) end
    emit({ type = "batch_done", batch = bi, gate = brec.gate })
    if failed_nodes > opts.failure_budget.nodes or failed_vms > opts.failure_budget.vms then
      report.stopped = ("stopped after batch %d: %d failed node(s) or gate(s), %d failed VM(s) "
        .. "(failure budget: %d nodes, %d VMs)"):format(bi, failed_nodes, failed_vms,
        opts.failure_budget.nodes, opts.failure_budget.vms)
      log.error(report.stopped, {})
      if notifier then notifier:send("failure", { error = report.stopped }) end
      break
    end
  end
  report.left_off = stopped_at_end
  if notifier and phase ~= "resume" then
    local done_n = 0
    for _, r in ipairs(report.nodes) do if r.state == "done" then done_n = done_n + 1 end end
    notifier:send("end", { status = status_of(report, failed_nodes), nodes_done = done_n, nodes_failed = failed_nodes,
      stopped = report.stopped, seconds = time.now() - started })
    notifier:flush(30)
  end
  if jr and phase ~= "resume" then
    jr:finish(status_of(report, failed_nodes),
      report.paused and { reason = "window", left = report.paused_left } or nil)
  end
  report.finished = time.now()
  report.seconds = report.finished - started
  report.failed_nodes, report.failed_vms = failed_nodes, failed_vms
  report.batch_size = batch_size
  return report
end

return M
