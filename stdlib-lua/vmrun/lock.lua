-- vmrun/lock.lua: the `lock` module: the cluster lock of a maintenance run, a coordination.k8s.io/v1
-- Lease (default kube-system/vmrun-maintenance) that names its holder (run id, host, pid, playbook
-- in annotations) and that a heartbeat task renews every ttl/3. Every write carries what it read: a
-- create, or a merge patch with the resourceVersion as a precondition, so that of two runs racing
-- for the lock exactly one wins and the other reads the winner after its 409. A live lock of
-- another holder is refused (kind "locked", naming it); an expired one (renewTime plus
-- leaseDurationSeconds past on the run's clock) is taken over with a warning. It may not take a
-- lock that has not expired or that it cannot judge, nor change or clear a lock that is no longer
-- its own; it never deletes the Lease (a delete cannot carry a precondition here): releasing clears
-- the holder. Works through the cluster module, so every backend works alike.
local cluster = require("vmrun.cluster")
local vmrun = require("vmrun")
local log = require("vmrun.log")
local time = require("vmrun.time")
local task = require("vmrun.task")
local k8stime = require("vmrun.k8stime")
local key_list = require("vmrun.keys")
local present = require("vmrun.present")
local strip_where = require("vmrun.message")

local M = {}

M.DEFAULT_NAME = "vmrun-maintenance"
M.DEFAULT_NAMESPACE = "kube-system"
M.DEFAULT_TTL = 60
M.RUN_ID_ANNOTATION = "vmrun.io/run-id"
M.HOST_ANNOTATION = "vmrun.io/host"
M.PID_ANNOTATION = "vmrun.io/pid"
M.PLAYBOOK_ANNOTATION = "vmrun.io/playbook"

local MANAGED_BY = "app.kubernetes.io/managed-by"
-- Reads and writes of one acquire, renewal or release before it gives up on a Lease that keeps
-- changing under it.
local ATTEMPTS = 5

local null = vmrun.null

local function usage(level, fmt, ...) vmrun.error("usage", fmt:format(...), { level = level + 1 }) end


-- --- this run --------------------------------------------------------------------------------------

local function first_line(path)
  local f = io.open(path, "r")
  if f == nil then return nil end
  local line = f:read("l")
  f:close()
  return line
end

local facts -- {host, pid, run_id}: read or made once per run

local function this_run()
  if facts == nil then
    local stat = first_line("/proc/self/stat")
    local host = first_line("/proc/sys/kernel/hostname") or first_line("/etc/hostname")
    facts = { host = (host and host ~= "") and host or "unknown", pid = stat and stat:match("^(%d+) ") or "unknown" }
    facts.run_id = ("%s-%s-%04x"):format(os.date("!%Y%m%dT%H%M%SZ", math.floor(time.now())), facts.pid,
      math.random(0, 0xffff))
  end
  return facts
end

--- lock.run_id() -> string
-- This run's id ("20261127T081604Z-28140-3fa2": start time, pid, a random part), the same for every
-- call in a run: what lock.acquire records by default. Never raises.
function M.run_id() return this_run().run_id end

-- --- reading a Lease -------------------------------------------------------------------------------

-- What a Lease says about its holder: {holder, run_id, host, pid, playbook, since, renewed,
-- duration, expires, transitions, resource_version, problem}. Times are seconds since the epoch;
-- problem says why the expiry cannot be told (nil when it can, or when the Lease is free).
local function describe(lease)
  local spec = present(lease.spec) or {}
  local meta = lease.metadata
  local notes = present(meta.annotations) or {}
  local d = {
    holder = present(spec.holderIdentity), run_id = present(notes[M.RUN_ID_ANNOTATION]),
    host = present(notes[M.HOST_ANNOTATION]), pid = present(notes[M.PID_ANNOTATION]),
    playbook = present(notes[M.PLAYBOOK_ANNOTATION]), transitions = present(spec.leaseTransitions),
    resource_version = meta.resourceVersion,
  }
  if d.holder == "" then d.holder = nil end
  if d.holder == nil then return d end
  d.since = k8stime.parse(present(spec.acquireTime))
  -- renewTime decides; acquireTime only stands in when there is no renewTime at all (a renewTime
  -- that does not read must not make the lock look older than it is)
  local renew_text = present(spec.renewTime)
  if renew_text ~= nil then
    d.renewed = k8stime.parse(renew_text)
    if d.renewed == nil then d.problem = ("its renewTime %q does not read"):format(tostring(renew_text)) end
  elseif present(spec.acquireTime) ~= nil then
    d.renewed = d.since
    if d.renewed == nil then
      d.problem = ("its acquireTime %q does not read"):format(tostring(spec.acquireTime))
    end
  else
    d.problem = "it has neither renewTime nor acquireTime"
  end
  local duration = present(spec.leaseDurationSeconds)
  if math.type(duration) == "integer" and duration > 0 then
    d.duration = duration
  elseif d.problem == nil then
    d.problem = ("its leaseDurationSeconds is %s"):format(duration == nil and "missing" or tostring(duration))
  end
  if d.problem == nil then d.expires = d.renewed + d.duration end
  return d
end

local function ms(t) return math.floor(t * 1000 + 0.5) end

-- "free" (no holder), "live", "expired" or "unknown" (held, but its expiry cannot be told).
-- Compared in whole milliseconds, the clock's steps.
local function judge(d, now)
  if d.holder == nil then return "free" end
  if d.expires == nil then return "unknown" end
  if ms(d.expires) <= ms(now) then return "expired" end
  return "live"
end

-- "H (host h, pid p, run r, playbook x)": who a Lease names, with what it says about them.
local function holder_text(d)
  local parts = {}
  if d.host then parts[#parts + 1] = "host " .. d.host end
  if d.pid then parts[#parts + 1] = "pid " .. d.pid end
  if d.run_id then parts[#parts + 1] = "run " .. d.run_id end
  if d.playbook then parts[#parts + 1] = "playbook " .. d.playbook end
  return tostring(d.holder) .. (#parts > 0 and (" (" .. table.concat(parts, ", ") .. ")") or "")
end

local function when(t) return t and time.format(t) or "an unknown time" end

local function seconds_text(s)
  s = math.max(0, math.floor(s + 0.5))
  if s < 120 then return ("%d s"):format(s) end
  if s < 7200 then return ("%d min %d s"):format(s // 60, s % 60) end
  return ("%d h %d min"):format(s // 3600, s % 3600 // 60)
end

-- True when the Lease names a process of this host that is not running (a run that ended without
-- releasing it). Nil when that cannot be told (another host, no pid): never a guess.
local function holder_gone(d)
  if d.host ~= this_run().host or type(d.pid) ~= "string" or not d.pid:match("^%d+$") then return nil end
  if d.pid == this_run().pid then return false end
  local f = io.open("/proc/" .. d.pid .. "/stat", "r")
  if f then
    f:close()
    return false
  end
  return first_line("/proc/self/stat") ~= nil or nil -- only when /proc answers for this host
end

local function status_of(d, now)
  return { state = judge(d, now), holder = d.holder, run_id = d.run_id, host = d.host, pid = d.pid,
    playbook = d.playbook, since = d.since, renewed = d.renewed, expires = d.expires,
    transitions = d.transitions, problem = d.problem }
end

-- --- options ---------------------------------------------------------------------------------------

local ACQUIRE_OPTIONS = { name = "string", namespace = "string", ttl = "duration", holder = "string",
  run_id = "string", playbook = "string", on_lost = "function" }
local STATUS_OPTIONS = { name = "string", namespace = "string" }

-- The options checked, with their defaults; usage errors at the line that called fname.
local function check_options(fname, opts, allowed)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then usage(3, "lock.%s: options must be a table (%s)", fname, key_list(allowed)) end
  local out = {}
  for k, v in pairs(opts) do
    local want = allowed[k]
    if want == nil then
      usage(3, "lock.%s: unknown option %s (%s)", fname, tostring(k), key_list(allowed))
    elseif want == "duration" then
      local ok, s = pcall(time.duration, v)
      if not ok then usage(3, "lock.%s: option %s: %s", fname, k, strip_where(s)) end
      if s < 1 then usage(3, "lock.%s: ttl must be at least 1 s", fname) end
      v = s
    elseif type(v) ~= want then
      usage(3, "lock.%s: option %s must be a %s", fname, k, want)
    elseif want == "string" and v == "" then
      usage(3, "lock.%s: option %s is empty", fname, k)
    end
    out[k] = v
  end
  out.name = out.name or M.DEFAULT_NAME
  out.namespace = out.namespace or M.DEFAULT_NAMESPACE
  return out
end

--- lock.status([{name=, namespace=}]) -> {state, holder, run_id, host, pid, playbook, since, renewed, expires, transitions, problem} | nil
-- What the lock's Lease says now, without taking it: state is "free" (released), "live",
-- "expired" or "unknown" (held, but its times do not say when it expires: problem says why);
-- times in seconds since the epoch. Nil when there is no such Lease. Raises kind "usage" for bad
-- options, and what the cluster raises when it cannot be read.
function M.status(opts)
  opts = check_options("status", opts, STATUS_OPTIONS)
  local lease = cluster.get("Lease", opts.namespace, opts.name)
  if lease == nil then return nil end
  return status_of(describe(lease), time.now())
end

-- --- the handle ------------------------------------------------------------------------------------

local Lock = {}
Lock.__index = Lock
Lock.__name = "vmrun.Lock"

function Lock:__tostring()
  local state = self.lost and "lost" or self.released and "released" or "held"
  return ("vmrun.Lock %s/%s (%s by %s)"):format(self.namespace, self.name, state, self.holder)
end

function Lock:__close() self:release() end

local function our_annotations(self)
  return { [M.RUN_ID_ANNOTATION] = self.run_id, [M.HOST_ANNOTATION] = self.host,
    [M.PID_ANNOTATION] = self.pid, [M.PLAYBOOK_ANNOTATION] = self.playbook or null }
end

local function is_ours(self, d) return d.holder == self.holder and d.run_id == self.run_id end

local function resource(self) return ("Lease %s/%s"):format(self.namespace, self.name) end

-- Marks the lock lost (once): log.error, then the on_lost callback. Returns false.
local function lose(self, reason)
  if self.lost or self.released then return false end
  self.lost = reason
  log.error(("lock %s/%s lost: %s; start no new work"):format(self.namespace, self.name, reason),
    { lock = self.namespace .. "/" .. self.name, holder = self.holder, run_id = self.run_id })
  if self.on_lost then self.on_lost(self, reason) end
  return false
end

-- A renewal that failed for another reason than someone else taking the lock: lost once the lock
-- has expired (another run may take it from then on), else logged and tried again soon.
local function renewal_failed(self, why)
  local now = time.now()
  if ms(now) >= ms(self.expires) then
    return lose(self, ("it could not be renewed since %s (%s) and expired at %s: another run may "
      .. "take it"):format(when(self.renewed), why, when(self.expires)))
  end
  log.warn(("lock %s/%s: could not renew it (%s); trying again before it expires at %s"):format(
    self.namespace, self.name, why, when(self.expires)), { lock = self.namespace .. "/" .. self.name })
  return nil
end

-- One renewal: true when renewed, false when lost, nil when it failed and may be tried again.
local function renew(self)
  for _ = 1, ATTEMPTS do
    local ok, lease = pcall(cluster.get, "Lease", self.namespace, self.name)
    if not ok then
      if vmrun.is_error(lease, "cancelled") then error(lease, 0) end
      return renewal_failed(self, strip_where(lease))
    end
    if lease == nil then return lose(self, "its Lease was deleted") end
    local d = describe(lease)
    if not is_ours(self, d) then
      return lose(self, d.holder and ("it is now held by %s since %s"):format(holder_text(d), when(d.since))
        or "it was released by someone else")
    end
    local now = time.now()
    local done, result = pcall(cluster.patch, "Lease", self.namespace, self.name, {
      metadata = { resourceVersion = d.resource_version },
      spec = { renewTime = k8stime.micro(now), leaseDurationSeconds = self.ttl_seconds },
    }, { type = "merge" })
    if done then
      self.renewed, self.expires = now, now + self.ttl_seconds
      return true
    end
    if vmrun.is_error(result, "cancelled") then error(result, 0) end
    if not vmrun.is_error(result, "conflict") and not vmrun.is_error(result, "not_found") then
      return renewal_failed(self, strip_where(result))
    end
    -- someone changed the Lease since it was read: read it again (still ours?)
  end
  return renewal_failed(self, ("its Lease changed under each of %d attempts"):format(ATTEMPTS))
end

local ENDED = { done = true, failed = true, cancelled = true } -- a task's status once it ended
local function finished(t) return ENDED[t:status()] == true end

-- Clears the holder if the lock is still ours (a merge patch with the resourceVersion read). True
-- when cleared, false when it was no longer ours or could not be cleared (logged).
local function clear(self)
  local where = self.namespace .. "/" .. self.name
  for _ = 1, ATTEMPTS do
    local ok, lease = pcall(cluster.get, "Lease", self.namespace, self.name)
    if not ok then
      log.warn(("lock %s: could not release it (%s); it expires at %s"):format(where, strip_where(lease),
        when(self.expires)), { lock = where })
      return false
    end
    if lease == nil then
      log.warn(("lock %s: its Lease is gone; nothing to release"):format(where), { lock = where })
      return false
    end
    local d = describe(lease)
    if not is_ours(self, d) then
      log.warn(("lock %s is no longer ours (%s): left as it is"):format(where,
        d.holder and ("held by " .. holder_text(d)) or "released"), { lock = where })
      return false
    end
    local done, result = pcall(cluster.patch, "Lease", self.namespace, self.name, {
      metadata = { resourceVersion = d.resource_version, annotations = {
        [M.RUN_ID_ANNOTATION] = null, [M.HOST_ANNOTATION] = null, [M.PID_ANNOTATION] = null,
        [M.PLAYBOOK_ANNOTATION] = null } },
      spec = { holderIdentity = null, renewTime = k8stime.micro(time.now()) },
    }, { type = "merge" })
    if done then
      log.info(("lock %s released"):format(where), { lock = where, run_id = self.run_id })
      return true
    end
    if not vmrun.is_error(result, "conflict") and not vmrun.is_error(result, "not_found") then
      log.warn(("lock %s: could not release it (%s); it expires at %s"):format(where,
        strip_where(result), when(self.expires)), { lock = where })
      return false
    end
  end
  log.warn(("lock %s: its Lease kept changing; not released, it expires at %s"):format(where,
    when(self.expires)), { lock = where })
  return false
end

-- Ends the heartbeat (unless it is the caller) and clears the Lease if it is still ours, once; a
-- later call waits for the heartbeat when it is the one releasing (the run's cancellation).
local function release(self)
  local hb, me = self.heartbeat_task, task.current().id -- (handles of one task need not be equal)
  local running = hb ~= nil and hb.id ~= me and not finished(hb)
  if not self.released then
    self.released, self.releaser = true, me
    -- the heartbeat ends first: a renewal in flight would otherwise meet the cleared Lease
    if running then
      hb:cancel("lock released")
      pcall(hb.wait, hb)
    end
    self.cleared = clear(self) -- also after a loss: a Lease that still names this run is cleared
    return self.cleared
  end
  if running then
    if self.releaser ~= hb.id then hb:cancel("lock released") end
    pcall(hb.wait, hb)
  end
  return self.cleared == true
end

--- l:release() -> boolean — waits
-- Stops the heartbeat and clears the lock (no holder) if it is still this handle's: true then.
-- False when it was lost or released already by someone else (the Lease is left as it is), or when
-- it could not be cleared (logged; it expires then at l.expires). Never raises for the cluster's
-- errors, so that it can run in cleanup; `<close>` calls it. A second call returns the first answer.
function Lock:release() return release(self) end

--- l:held() -> boolean
-- True while the lock is this handle's as far as the heartbeat knows: neither lost nor released.
function Lock:held() return not self.lost and not self.released end

--- l:check()
-- Raises kind "lock_lost" (with the reason) when the lock was lost or released: what a run calls
-- before it starts new work.
function Lock:check()
  if self.lost or self.released then
    vmrun.error("lock_lost", ("the lock %s/%s is no longer held: %s"):format(self.namespace, self.name,
      self.lost or "it was released"), { level = 2, resource = resource(self), reason = self.lost })
  end
end

-- The heartbeat task: renews every ttl/3 (sooner after a failed renewal) until the lock is lost
-- or released, or the task that took it ends (then it releases it). When the run cancels it, it
-- releases the lock in its cleanup.
local function heartbeat(self)
  local ok, err = pcall(function()
    local interval = self.ttl_seconds / 3
    local wait = interval
    while true do
      task.sleep(wait)
      if self.released or self.lost then return end
      if finished(self.owner_task) then
        log.info(("lock %s/%s: the task that took it has ended"):format(self.namespace, self.name), {})
        release(self)
        return
      end
      local renewed = renew(self)
      if renewed == false then return end
      wait = renewed and interval or math.max(1, math.min(interval, (self.expires - time.now()) / 2))
    end
  end)
  if not ok then
    if vmrun.is_error(err, "cancelled") and not self.released then release(self) end
    error(err, 0)
  end
end

-- --- acquire ---------------------------------------------------------------------------------------

local function lease_object(opts, me, now)
  local at = k8stime.micro(now)
  return {
    apiVersion = "coordination.k8s.io/v1", kind = "Lease",
    metadata = { name = opts.name, namespace = opts.namespace, labels = { [MANAGED_BY] = "vmrun" },
      annotations = our_annotations(me) },
    spec = { holderIdentity = me.holder, leaseDurationSeconds = me.ttl_seconds, acquireTime = at,
      renewTime = at, leaseTransitions = 0 },
  }
end

local function takeover_patch(d, me, now)
  local at = k8stime.micro(now)
  return {
    metadata = { resourceVersion = d.resource_version, labels = { [MANAGED_BY] = "vmrun" },
      annotations = our_annotations(me) },
    spec = { holderIdentity = me.holder, leaseDurationSeconds = me.ttl_seconds, acquireTime = at,
      renewTime = at, leaseTransitions = (math.type(d.transitions) == "integer" and d.transitions or 0) + 1 },
  }
end

-- Raises kind "locked" at the playbook's line (level: of that line, from refuse's caller).
local function refuse(opts, d, state, now, level)
  local where = opts.namespace .. "/" .. opts.name
  local delete = ("kubectl -n %s delete lease %s"):format(opts.namespace, opts.name)
  local message
  if state == "unknown" then
    message = ("lock.acquire: the lock %s is held by %s, but %s: vmrun cannot tell whether it is live "
      .. "and does not take it; if its holder is gone, delete it (%s)"):format(where, holder_text(d),
      d.problem, delete)
  else
    local gone = holder_gone(d)
    message = ("lock.acquire: the lock %s is held by %s since %s, last renewed %s; it expires at %s "
      .. "(in %s) unless renewed. "):format(where, holder_text(d), when(d.since), when(d.renewed),
      when(d.expires), seconds_text(d.expires - now))
    if gone then
      message = message .. ("No process %s runs on this host (%s): that run ended without releasing "
        .. "it. Run again after %s, when it is taken over, or delete it now (%s)"):format(d.pid, d.host,
        when(d.expires), delete)
    else
      message = message .. ("Another maintenance run holds this cluster: wait for it to end; if it "
        .. "is gone, the lock is taken over once it expires (or delete it: %s)"):format(delete)
    end
  end
  vmrun.error("locked", message, { level = level + 1, resource = ("Lease %s"):format(where),
    holder = d.holder, host = d.host, pid = d.pid, run_id = d.run_id, playbook = d.playbook,
    since = d.since, renewed = d.renewed, expires = d.expires })
end

-- A create that met 404: the namespace is missing (the only 404 a create of a served kind gets).
local function create_not_found(opts, err, level)
  local ok, ns = pcall(cluster.get, "Namespace", opts.namespace)
  if ok and ns == nil then
    vmrun.error("not_found", ("lock.acquire: the lock's namespace %s does not exist: create it, or "
      .. "name another with namespace ="):format(opts.namespace),
      { level = level + 1, resource = "Namespace " .. opts.namespace })
  end
  vmrun.error("not_found", ("lock.acquire: the lock %s/%s cannot be created: %s"):format(opts.namespace,
    opts.name, strip_where(err)), { level = level + 1, resource = ("Lease %s/%s"):format(opts.namespace,
    opts.name) })
end

--- lock.acquire([{name=, namespace=, ttl=, holder=, run_id=, playbook=, on_lost=}]) -> vmrun.Lock — waits
-- Takes the cluster lock, a Lease (name default "vmrun-maintenance", namespace default
-- "kube-system") held for ttl (a duration, default 60 s, renewed every ttl/3 by a heartbeat task)
-- in the name of holder (default "vmrun-<run id>@<host>"), with the run id (default
-- lock.run_id()), host, pid and playbook (default arg[0]) in its annotations. Creates the Lease, or
-- takes a free or expired one (an expired one with a warning naming its last holder), with the
-- resourceVersion read as a precondition: of two runs racing, one wins and the other reads it.
-- A live lock of this same run id whose process on this host is gone (a `vmrun resume` after a
-- crash) is taken back at once, logged. on_lost(l, reason) is called (in the heartbeat task) when
-- the lock is lost. The lock is held
-- until l:release() (or `<close>`), or until the task that took it ends. Raises kind "locked" when
-- another holder's lock is live or cannot be judged (holder, host, pid, run_id, since, renewed,
-- expires on the error; the message says what to do), "not_found" when the namespace is missing,
-- "usage" for bad options, and the cluster's errors.
function M.acquire(opts)
  opts = check_options("acquire", opts, ACQUIRE_OPTIONS)
  local run = this_run()
  local run_id = opts.run_id or run.run_id
  local playbook = opts.playbook
  if playbook == nil then
    local a = rawget(_G, "arg")
    playbook = type(a) == "table" and type(a[0]) == "string" and a[0] or nil
  end
  local ttl = opts.ttl or M.DEFAULT_TTL
  local self = setmetatable({ name = opts.name, namespace = opts.namespace, run_id = run_id,
    holder = opts.holder or ("vmrun-%s@%s"):format(run_id, run.host), host = run.host, pid = run.pid,
    playbook = playbook, ttl = ttl, ttl_seconds = math.ceil(ttl), on_lost = opts.on_lost,
    owner_task = task.current() }, Lock)
  local where = opts.namespace .. "/" .. opts.name
  for attempt = 1, ATTEMPTS do
    local lease = cluster.get("Lease", opts.namespace, opts.name)
    local now = time.now()
    local previous, done, result
    if lease == nil then
      done, result = pcall(cluster.create, lease_object(opts, self, now))
      if not done and vmrun.is_error(result, "not_found") then create_not_found(opts, result, 2) end
      if not done and not vmrun.is_error(result, "already_exists") then error(result, 0) end
    else
      local d = describe(lease)
      local state = judge(d, now)
      -- this very run, resumed on this host after its earlier process died: taken back at once
      if (state == "live" or state == "unknown") and d.run_id == run_id and holder_gone(d) == true then
        state = "ours"
      end
      if state == "live" or state == "unknown" then refuse(opts, d, state, now, 2) end
      if state == "expired" or state == "ours" then previous = d end
      done, result = pcall(cluster.patch, "Lease", opts.namespace, opts.name, takeover_patch(d, self, now),
        { type = "merge" })
      if not done and not vmrun.is_error(result, "conflict") and not vmrun.is_error(result, "not_found") then
        error(result, 0)
      end
    end
    if done then
      self.acquired, self.renewed, self.expires = now, now, now + self.ttl_seconds
      if previous and previous.run_id == run_id and judge(previous, now) ~= "expired" then
        self.took_over = status_of(previous, now)
        log.info(("lock %s: taken back from this run's earlier process (pid %s on %s), which is gone")
          :format(where, tostring(previous.pid), tostring(previous.host)), { lock = where, run_id = run_id })
      elseif previous then
        self.took_over = status_of(previous, now)
        log.warn(("lock %s: took over the expired lock of %s, last renewed %s, expired at %s (%s ago)")
          :format(where, holder_text(previous), when(previous.renewed), when(previous.expires),
            seconds_text(now - previous.expires)),
          { lock = where, previous_holder = previous.holder, previous_run_id = previous.run_id })
      end
      log.info(("lock %s acquired"):format(where), { lock = where, holder = self.holder,
        run_id = self.run_id, ttl = self.ttl_seconds })
      self.heartbeat_task = task.spawn(heartbeat, self)
      task.yield() -- the heartbeat starts now: a task cancelled before it started has no cleanup
      return self
    end
    -- another run wrote the Lease between our read and our write (a 409, or it vanished): read it
    -- again, after a moment for a watched copy of the cluster to see the change
    if attempt < ATTEMPTS then task.sleep(0.2 * attempt) end
  end
  local lease = cluster.get("Lease", opts.namespace, opts.name)
  if lease ~= nil then
    local d = describe(lease)
    local state = judge(d, time.now())
    if state == "live" or state == "unknown" then refuse(opts, d, state, time.now(), 2) end
  end
  vmrun.error("locked", ("lock.acquire: the lock %s kept changing under %d attempts: other runs are "
    .. "taking it"):format(where, ATTEMPTS), { level = 2, resource = "Lease " .. where })
end

return M
