-- rolling-maintenance.lua: the main job: a rolling maintenance of the cluster's worker nodes with
-- maintenance.rolling (docs/lua-api.md#maintenance, docs/playbooks.md): pre-flight of the whole
-- run, then batch by batch cordon, drain (VMs through the limit-aware queue), the maintenance
-- step, wait for Ready, uncordon, health gate. Prints progress as it goes and a summary at the end.
--
--   vmrun [--cluster FILE] playbooks/rolling-maintenance.lua [--nodes A,B,...] [--selector SEL]
--       [--batch N|auto] [--config FILE] [--report DIR] [--skip-blocked] [--on-abort finish|cancel]
--       [--approve run|batch]
--
-- Without --cluster, vmrun simulates the demo cluster. --config names a YAML or JSON file with
-- the run's settings: step (an argv template such as [ssh, "{node}", sudo, systemctl, reboot];
-- required on a real cluster), step_timeout, ready_timeout, settle, failure_budget {nodes, vms},
-- skip_blocked, batch, nodes, selector, and drain (node.drain's options; default KubeVirt's
-- recommended delete_emptydir_data, ignore_daemonsets and force). Command-line options win over
-- the file. --report DIR writes report.json, junit.xml and timeline.html there. Exit code 0 when every
-- node was maintained, 1 when one failed, was skipped or the run stopped, 2 for bad arguments or
-- a bad config file, 130 when it was stopped by Ctrl-C or `vmrun abort` (the first interrupt stops
-- starting new work; --on-abort finish lets the migrations in flight end, cancel cancels them;
-- `vmrun resume` continues the run, `vmrun undo` puts back what it changed: docs/journal.md), 4
-- when it paused at the end of its maintenance window (`vmrun --window-end TIME`, given by
-- `vmrun schedule`): a batch that would not end in time is not started, and `vmrun resume`
-- continues in the next window. --approve run|batch (config approve: the same or gate.approve's
-- options with before = run|batch) asks for approval (docs/gates.md) before the first batch or
-- before each; a denial stops the run before that batch (exit 1; `vmrun resume` asks again).
local USAGE = "usage: vmrun [--cluster FILE] playbooks/rolling-maintenance.lua [--nodes A,B,...] "
  .. "[--selector SEL] [--batch N|auto] [--config FILE] [--report DIR] [--skip-blocked] "
  .. "[--on-abort finish|cancel] [--approve run|batch]\n"

local function fail_usage(message)
  io.stderr:write("rolling-maintenance: " .. message .. "\n" .. USAGE)
  vmrun.exit(2)
end

local function message_of(err)
  return tostring(type(err) == "table" and err.message or err)
end

-- --- arguments -----------------------------------------------------------------------------------

local args, cli = { ... }, {}
local i = 1
while i <= #args do
  local a = args[i]
  local name, inline = a:match("^%-%-([%w-]+)=(.*)$")
  name = name or a:match("^%-%-([%w-]+)$")
  local function value()
    if inline then return inline end
    i = i + 1
    if args[i] == nil then fail_usage("--" .. name .. " needs a value") end
    return args[i]
  end
  if name == "nodes" then
    cli.nodes = {}
    for n in value():gmatch("[^,%s]+") do cli.nodes[#cli.nodes + 1] = n end
    if #cli.nodes == 0 then fail_usage("--nodes needs node names: --nodes worker-1,worker-2") end
  elseif name == "selector" then
    cli.selector = value()
  elseif name == "batch" then
    local v = value()
    cli.batch = v == "auto" and "auto" or math.tointeger(tonumber(v))
    if cli.batch == nil or (cli.batch ~= "auto" and cli.batch < 1) then
      fail_usage("--batch needs a whole number >= 1 or auto")
    end
  elseif name == "config" then
    cli.config = value()
  elseif name == "approve" then
    cli.approve = value()
    if cli.approve ~= "run" and cli.approve ~= "batch" then fail_usage("--approve needs run or batch") end
  elseif name == "on-abort" then
    cli.on_abort = value()
    if cli.on_abort ~= "finish" and cli.on_abort ~= "cancel" then fail_usage("--on-abort needs finish or cancel") end
  elseif name == "report" then
    cli.report = value()
  elseif name == "skip-blocked" and not inline then
    cli.skip_blocked = true
  else
    fail_usage("unknown argument " .. a)
  end
  i = i + 1
end

-- --- the config file -------------------------------------------------------------------------------

local CONFIG_KEYS = { step = true, step_timeout = true, ready_timeout = true, settle = true,
  failure_budget = true, skip_blocked = true, batch = true, nodes = true, selector = true, drain = true,
  on_abort = true, lock = true, others = true, notify = true, step_estimate = true, approve = true }

local opts = {}
if cli.config then
  local decode = cli.config:match("%.json$") and json.decode_file or yaml.decode_file
  local ok, doc = pcall(decode, cli.config)
  if not ok then
    io.stderr:write("rolling-maintenance: " .. message_of(doc) .. "\n")
    vmrun.exit(2)
  end
  if type(doc) ~= "table" then
    io.stderr:write(("rolling-maintenance: %s: the config must be a mapping of settings\n"):format(cli.config))
    vmrun.exit(2)
  end
  for k, v in pairs(doc) do
    if not CONFIG_KEYS[k] then
      local names = {}
      for n in pairs(CONFIG_KEYS) do names[#names + 1] = n end
      table.sort(names)
      io.stderr:write(("rolling-maintenance: %s: unknown setting %s (%s)\n"):format(cli.config,
        tostring(k), table.concat(names, ", ")))
      vmrun.exit(2)
    end
    opts[k] = v
  end
end
if cli.nodes or cli.selector then opts.nodes, opts.selector = nil, nil end -- the command line decides
for _, k in ipairs({ "nodes", "selector", "batch", "skip_blocked", "on_abort" }) do
  if cli[k] ~= nil then opts[k] = cli[k] end
end
if cli.approve then -- (the config's gate settings, timeout and answer file, stay)
  if type(opts.approve) == "table" then opts.approve.before = cli.approve else opts.approve = cli.approve end
end
-- KubeVirt's documented drain flags for its nodes (--delete-emptydir-data --ignore-daemonsets
-- --force): virt-launcher pods have emptyDirs; pods without a controller are deleted, with a
-- warning in the log. A config's drain settings replace these.
if opts.drain == nil then
  opts.drain = { delete_emptydir_data = true, ignore_daemonsets = true, force = true }
end

-- --- progress --------------------------------------------------------------------------------------

local function duration(s)
  if s == nil then return "-" end
  s = math.floor(s + 0.5)
  if s < 60 then return s .. "s" end
  if s < 3600 then return ("%dm%02ds"):format(s // 60, s % 60) end
  return ("%dh%02dm"):format(s // 3600, (s % 3600) // 60)
end

-- On a terminal, a live status line under the log: the batch, the nodes done, the migrations
-- in flight with their phase and progress, the time so far and the run's ETA (log.status writes
-- nothing elsewhere; the log lines carry the progress there).
local total_nodes, finished_nodes, run_started = 0, 0, time.now()
local live = { batch = "", batches = 0 }
local function refresh()
  local moving = {}
  for i, m in ipairs(cluster.migrations({ active = true })) do
    local text = m.spec.vmiName .. " " .. tostring(m.status and m.status.phase or "Pending")
    if i <= 4 then -- the first few with their progress and ETA (the handle reads the VMI)
      local h = cluster.migration(m.metadata.namespace, m.metadata.name)
      local ok, st = pcall(h and h.status or error, h)
      if ok and st.progress then
        text = ("%s %s %d%%%s"):format(m.spec.vmiName, st.phase, math.floor(st.progress * 100 + 0.5),
          st.eta and (" ~" .. duration(st.eta)) or "")
      end
    end
    moving[#moving + 1] = text
  end
  local elapsed = time.now() - run_started
  local eta = finished_nodes > 0 and total_nodes > finished_nodes
    and (" ETA %s"):format(duration(elapsed / finished_nodes * (total_nodes - finished_nodes))) or ""
  log.status(("vmrun %s | nodes %d/%d done | %d migrating%s | %s%s"):format(live.batch, finished_nodes,
    total_nodes, #moving, #moving > 0 and (": " .. table.concat(moving, ", ", 1, math.min(#moving, 4))) or "",
    duration(elapsed), eta))
end
local ticker
if log.status("vmrun: starting") then
  ticker = task.spawn(function()
    while true do
      refresh()
      task.sleep(5)
    end
  end)
end
opts.on_event = function(ev)
  if ev.type == "planned" then
    total_nodes = #ev.nodes
    live.batches = #ev.batches
  elseif ev.type == "batch_started" then
    live.batches = ev.batches or live.batches
    live.batch = ("batch %d/%d (%s)"):format(ev.batch, live.batches, table.concat(ev.nodes, ", "))
  elseif ev.type == "node_done" or ev.type == "node_failed" then
    finished_nodes = finished_nodes + 1
    local rec = ev.record
    log.info(("%s %s: %d/%d nodes, %s since the start"):format(rec.name,
      ev.type == "node_done" and "done" or "FAILED", finished_nodes, total_nodes,
      duration(time.now() - run_started)), { node = rec.name })
  end
end

-- --- the run ---------------------------------------------------------------------------------------

local wall_started = os.clock()
local ok, report = pcall(maintenance.rolling, opts)
if ticker then ticker:cancel("the run is over") end
log.status(nil)
if not ok then
  local err = report
  local kind = type(err) == "table" and err.kind
  if kind == "preflight_failed" then
    io.stderr:write(("rolling-maintenance: pre-flight: %d node(s) would block; nothing was changed:\n")
      :format(#err.blocked))
    for _, b in ipairs(err.blocked) do
      for _, x in ipairs(b.blockers) do
        io.stderr:write(("  %-14s %s/%s: %s\n"):format(b.name, x.namespace, x.name, x.reason))
      end
    end
    io.stderr:write("fix the blockers (or give the VMs a vmrun.io/maintenance-policy), or run again "
      .. "with --skip-blocked to leave those nodes out\n")
    vmrun.exit(1)
  end
  io.stderr:write("rolling-maintenance: " .. require("vmrun.message")(err) .. "\n")
  vmrun.exit((kind == "usage" or kind == "input" or kind == "not_found" or kind == "decode") and 2 or 1)
end

-- --- summary ---------------------------------------------------------------------------------------

local function count(rec)
  local c = { migrated = 0, restarted = 0, stopped = 0, failed = 0, migration_s = 0 }
  for _, v in ipairs(rec.vms) do
    if v.state == "migrated" then
      c.migrated = c.migrated + 1
      c.migration_s = c.migration_s + (v.seconds or 0)
    elseif v.state == "failed" or v.state == "in flight" then
      c.failed = c.failed + 1
    elseif v.action == "shutdown-restart" or v.action == "restart-elsewhere" or v.action == "restart-after" then
      c.restarted = c.restarted + 1
    elseif v.state == "shut down" or v.state == "stopped" then
      c.stopped = c.stopped + 1
    end
  end
  return c
end

local function lower_bound() return maintenance.lower_bound(report) end

print()
print(("%-16s %5s  %-6s %8s %9s %7s %6s %8s %8s %8s %8s"):format("NODE", "BATCH", "STATE",
  "MIGRATED", "RESTARTED", "STOPPED", "FAILED", "DRAIN", "STEP", "READY", "TOTAL"))
local totals = { migrated = 0, restarted = 0, stopped = 0, failed = 0 }
for _, rec in ipairs(report.nodes) do
  local c = count(rec)
  for k in pairs(totals) do totals[k] = totals[k] + c[k] end
  print(("%-16s %5d  %-6s %8d %9d %7d %6d %8s %8s %8s %8s"):format(rec.name, rec.batch,
    rec.state, c.migrated, c.restarted, c.stopped, c.failed, duration(rec.drain_s),
    duration(rec.step_s), duration(rec.ready_s), duration(rec.seconds)))
  if rec.error then print(("%-16s        %s"):format("", rec.error)) end
end
print(("%-16s %5s  %-6s %8d %9d %7d %6d"):format("total", #report.batches, "", totals.migrated,
  totals.restarted, totals.stopped, totals.failed))
for _, s in ipairs(report.skipped) do print(("skipped %s: %s"):format(s.name, s.reason)) end
for _, key in ipairs(report.left_off) do print(("left off by its policy: %s"):format(key)) end
if report.stopped then print(report.stopped) end
print(("run: %s%s in %d batch(es) of up to %d; the limits allow no less than %s; %.1f s of CPU")
  :format(duration(report.seconds), time.is_virtual() and " simulated" or "", #report.batches,
    report.batch_size, duration(lower_bound()), os.clock() - wall_started))

-- --- reports ---------------------------------------------------------------------------------------

-- Text for an XML attribute: escaped, without the control characters XML 1.0 does not allow.
local function xml(s)
  s = tostring(s):gsub("[%z\1-\8\11\12\14-\31\127]", "")
  return (s:gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;",
    ['"'] = "&quot;", ["'"] = "&apos;" }))
end

if cli.report then
  local ok_dir = exec.run({ "mkdir", "-p", "--", cli.report })
  if ok_dir.status ~= 0 then
    io.stderr:write(("rolling-maintenance: cannot create %s: %s"):format(cli.report, ok_dir.stderr))
    vmrun.exit(1)
  end
  local doc = { run = { started = time.format(report.started), finished = time.format(report.finished),
      seconds = report.seconds, lower_bound_seconds = lower_bound(), batch_size = report.batch_size,
      cluster = sim.source(), stopped = report.stopped or json.null,
      failed_nodes = report.failed_nodes, failed_vms = report.failed_vms },
    nodes = json.array(), skipped = json.array(report.skipped), left_off = json.array(report.left_off) }
  for _, rec in ipairs(report.nodes) do
    local vms = json.array()
    for _, v in ipairs(rec.vms) do
      vms[#vms + 1] = { namespace = v.namespace, name = v.name, action = v.action,
        outcome = v.state or json.null, source = v.source or rec.name, target = v.target or json.null,
        start = v.started and time.format(v.started) or json.null,
        ["end"] = v.finished and time.format(v.finished) or json.null,
        retries = v.attempts and math.max(0, v.attempts - 1) or 0, reason = v.reason or json.null }
    end
    doc.nodes[#doc.nodes + 1] = { name = rec.name, batch = rec.batch, state = rec.state,
      error = rec.error or json.null, started = time.format(rec.started),
      finished = rec.finished and time.format(rec.finished) or json.null,
      drain_seconds = rec.drain_s or json.null, step_seconds = rec.step_s or json.null,
      ready_seconds = rec.ready_s or json.null, vms = vms }
  end
  local f = assert(io.open(cli.report .. "/report.json", "w"))
  f:write(json.encode(doc, { sort_keys = true, indent = 2 }), "\n")
  f:close()
  local cases, failures = {}, 0
  for _, rec in ipairs(report.nodes) do
    local body = ""
    if rec.state ~= "done" then
      failures = failures + 1
      body = ('<failure message="%s"/>'):format(xml(rec.error or rec.state))
    end
    cases[#cases + 1] = ('  <testcase classname="rolling-maintenance" name="%s" time="%.3f">%s</testcase>')
      :format(xml(rec.name), rec.seconds or 0, body)
  end
  for _, s in ipairs(report.skipped) do
    cases[#cases + 1] = ('  <testcase classname="rolling-maintenance" name="%s" time="0"><skipped message="%s"/></testcase>')
      :format(xml(s.name), xml(s.reason))
  end
  f = assert(io.open(cli.report .. "/junit.xml", "w"))
  f:write('<?xml version="1.0" encoding="UTF-8"?>\n')
  f:write(('<testsuite name="rolling-maintenance" tests="%d" failures="%d" skipped="%d" time="%.3f">\n')
    :format(#cases, failures, #report.skipped, report.seconds))
  f:write(table.concat(cases, "\n"), "\n</testsuite>\n")
  f:close()
  f = assert(io.open(cli.report .. "/timeline.html", "w"))
  f:write(maintenance.timeline_html(report))
  f:close()
  print(("reports: %s/report.json, %s/junit.xml, %s/timeline.html"):format(cli.report, cli.report, cli.report))
end

local all_done = report.stopped == nil and #report.skipped == 0
for _, rec in ipairs(report.nodes) do
  if rec.state ~= "done" then all_done = false end
end
if report.paused then
  io.stderr:write(("rolling-maintenance: %s\n"):format(report.paused))
  vmrun.exit(4)
end
if report.aborted then
  io.stderr:write(("rolling-maintenance: stopped (%s); `vmrun resume` continues the run, `vmrun undo "
    .. "RUN_ID` puts back what it changed (docs/journal.md)\n"):format(report.aborted))
  vmrun.exit(130)
end
vmrun.exit(all_done and 0 or 1)
