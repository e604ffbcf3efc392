-- lock_spec.lua: the cluster lock (lock.acquire, the heartbeat, l:release) on
-- tests/lua/fixtures/coordination_cluster.yaml. Two runs are two handles with other holders and
-- run ids in one process; a slow API is a cluster function wrapped to yield after it reads, so
-- that two runs read before either writes. Covered: the Lease as created; a live lock refused
-- with holder, host, pid, run id, since and expiry; a lock held by a dead process (refused, said
-- so, taken over only once it expired, with a warning); times that do not read (refused for
-- good); a missing namespace; the race for a free and for an expired lock (exactly one wins); the
-- heartbeat past the TTL in virtual time, through a conflict that leaves the lock ours, and its
-- loss to another holder or to failing renewals; release only when ours, `<close>`, and the end
-- of the task that took it. Each test uses its own Lease, so that none sees another's.
sim.load((os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/coordination_cluster.yaml")

local k8stime = require("vmrun.k8stime")
local helpers = require("spec_helpers")

local function lease(name) return cluster.get("Lease", "kube-system", name) end

-- Runs fn with log.info, log.warn and log.error recorded (and not written).
local function logged(fn) return helpers.logged({ "info", "warn", "error" }, fn) end

-- Runs fn with cluster[name] replaced by wrap(original), restored afterwards.
local function wrapped(name, wrap, fn)
  local original = cluster[name]
  cluster[name] = wrap(original)
  local ok, err = pcall(fn)
  cluster[name] = original
  if not ok then error(err, 0) end
end

-- A slow API: every read yields before it returns, so that other tasks run in between.
local function slow_reads(get)
  return function(...)
    local v = get(...)
    task.yield()
    return v
  end
end

-- A Lease as another run (or another tool) would have left it.
local function foreign_lease(name, fields)
  local spec = { holderIdentity = fields.holder, leaseDurationSeconds = fields.duration or 60,
    acquireTime = fields.acquire or (fields.renewed and k8stime.micro(fields.renewed)), renewTime = fields.renew or
    (fields.renewed and k8stime.micro(fields.renewed)), leaseTransitions = fields.transitions or 0 }
  if fields.duration == false then spec.leaseDurationSeconds = nil end
  return cluster.create({ apiVersion = "coordination.k8s.io/v1", kind = "Lease",
    metadata = { name = name, namespace = "kube-system", annotations = fields.annotations or {} },
    spec = spec })
end

local function plain(s) return (s:gsub("%p", "%%%0")) end

local this_host -- as lock.acquire records it
do
  local probe = lock.acquire({ name = "probe" })
  this_host = probe.host
  probe:release()
end

describe("lock.acquire", function()
  it("creates the Lease with its holder, duration, times and the run's annotations", function()
    local now = time.now()
    local l = lock.acquire()
    local obj = lease("vmrun-maintenance")
    expect(obj.spec.holderIdentity).to_be(l.holder)
    expect(l.holder).to_be(("vmrun-%s@%s"):format(lock.run_id(), this_host))
    expect(obj.spec.leaseDurationSeconds).to_be(60)
    expect(obj.spec.acquireTime).to_be(k8stime.micro(now))
    expect(obj.spec.acquireTime).to_match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%d%d%d%dZ$")
    expect(obj.spec.renewTime).to_be(obj.spec.acquireTime)
    expect(obj.spec.leaseTransitions).to_be(0)
    expect(obj.metadata.labels["app.kubernetes.io/managed-by"]).to_be("vmrun")
    local notes = obj.metadata.annotations
    expect(notes["vmrun.io/run-id"]).to_be(lock.run_id())
    expect(notes["vmrun.io/host"]).to_be(this_host)
    expect(notes["vmrun.io/pid"]).to_match("^%d+$")
    expect(notes["vmrun.io/playbook"]).to_be(arg[0])
    expect(lock.run_id()).to_match("^%d%d%d%d%d%d%d%dT%d%d%d%d%d%dZ%-%d+%-%x%x%x%x$")
    expect(l:held()).to_be(true)
    expect(l.expires).to_be(now + 60)
    local st = lock.status()
    expect(st.state).to_be("live")
    expect(st.holder).to_be(l.holder)
    expect(l:release()).to_be(true)
  end)

  it("refuses a live lock of another run, naming holder, host, pid, run id, since and expiry", function()
    local a = lock.acquire({ name = "held", holder = "run-a@ops-1", run_id = "run-a", playbook = "nightly.lua" })
    local since = time.now()
    task.sleep(25)
    local before = lease("held").metadata.resourceVersion
    expect(lease("held").spec.renewTime).to_be(k8stime.micro(since + 20)) -- the heartbeat's, every 20 s
    local renewed = k8stime.parse(lease("held").spec.renewTime)
    local err = expect(function() lock.acquire({ name = "held", holder = "run-b", run_id = "run-b" }) end)
      .to_fail_with("locked", "lock_spec%.lua:%d+: lock%.acquire: the lock kube%-system/held is held by "
        .. plain(("run-a@ops-1 (host %s, pid %s, run run-a, playbook nightly.lua) since %s, last renewed %s; "
          .. "it expires at %s (in 55 s) unless renewed. Another maintenance run holds this cluster")
          :format(this_host, a.pid, time.format(since), time.format(renewed), time.format(renewed + 60))))
    expect(err.message).to_contain("kubectl -n kube-system delete lease held")
    expect({ err.holder, err.host, err.pid, err.run_id, err.since, err.expires, err.resource })
      .to_equal({ "run-a@ops-1", this_host, a.pid, "run-a", since, renewed + 60, "Lease kube-system/held" })
    expect(lease("held").metadata.resourceVersion).to_be(before) -- the refusal wrote nothing
    expect(a:held()).to_be(true)
    expect(a:release()).to_be(true)
  end)

  it("a lock held by a dead process: refused with a clear message until it expires, then taken over with a warning", function()
    local renewed = time.now() - 20
    foreign_lease("dead", { holder = "vmrun-crashed@" .. this_host, renewed = renewed, transitions = 3,
      annotations = { ["vmrun.io/run-id"] = "crashed", ["vmrun.io/host"] = this_host,
        ["vmrun.io/pid"] = "4194305", ["vmrun.io/playbook"] = "old.lua" } })
    local err = expect(function() lock.acquire({ name = "dead" }) end).to_fail_with("locked",
      plain(("No process 4194305 runs on this host (%s): that run ended without releasing it. Run again "
        .. "after %s, when it is taken over, or delete it now (kubectl -n kube-system delete lease dead)")
        :format(this_host, time.format(renewed + 60))))
    expect(err.message).to_contain("(in 40 s)")
    expect(lease("dead").spec.holderIdentity).to_be("vmrun-crashed@" .. this_host)
    task.sleep(39.9)
    expect(function() lock.acquire({ name = "dead" }) end).to_fail_with("locked")
    task.sleep(0.1) -- renewTime + leaseDurationSeconds: expired
    local l
    local logs = logged(function() l = lock.acquire({ name = "dead" }) end)
    expect(logs.warn).to_equal({ ("lock kube-system/dead: took over the expired lock of vmrun-crashed@%s "
      .. "(host %s, pid 4194305, run crashed, playbook old.lua), last renewed %s, expired at %s (0 s ago)")
      :format(this_host, this_host, time.format(renewed), time.format(renewed + 60)) })
    local obj = lease("dead")
    expect(obj.spec.holderIdentity).to_be(l.holder)
    expect(obj.spec.leaseTransitions).to_be(4)
    expect(obj.spec.acquireTime).to_be(k8stime.micro(time.now()))
    expect(obj.metadata.annotations["vmrun.io/pid"]).to_be(l.pid)
    expect(obj.metadata.annotations["vmrun.io/run-id"]).to_be(lock.run_id())
    expect(l.took_over.holder).to_be("vmrun-crashed@" .. this_host)
    expect(l.took_over.state).to_be("expired")
    l:release()
  end, { timeout = "2m" })

  it("takes over a lock of another host once it expired, with a warning naming the previous holder", function()
    foreign_lease("stale", { holder = "node-maintenance", renewed = time.now() - 3600, duration = 600 })
    local l
    local logs = logged(function() l = lock.acquire({ name = "stale", ttl = "2m" }) end)
    expect(#logs.warn).to_be(1)
    expect(logs.warn[1]).to_match("^lock kube%-system/stale: took over the expired lock of node%-maintenance, "
      .. "last renewed .*, expired at .* %(50 min 0 s ago%)$")
    expect(lease("stale").spec.leaseDurationSeconds).to_be(120)
    expect(lease("stale").spec.leaseTransitions).to_be(1)
    l:release()
  end)

  it("a released lock is taken again without a warning", function()
    local first = lock.acquire({ name = "reuse", holder = "first", run_id = "first" })
    first:release()
    expect(lock.status({ name = "reuse" }).state).to_be("free")
    local l
    local logs = logged(function() l = lock.acquire({ name = "reuse" }) end)
    expect(logs.warn).to_equal({})
    expect(lease("reuse").spec.leaseTransitions).to_be(1)
    expect(lease("reuse").spec.holderIdentity).to_be(l.holder)
    l:release()
  end)

  it("refuses for good a lock whose times do not tell when it expires", function()
    foreign_lease("garbled", { holder = "someone", renew = "yesterday", acquire = "2020-01-01T00:00:00Z" })
    foreign_lease("endless", { holder = "someone", renewed = time.now() - 7200, duration = false })
    task.sleep("1d")
    expect(function() lock.acquire({ name = "garbled" }) end).to_fail_with("locked",
      "the lock kube-system/garbled is held by someone, but its renewTime \"yesterday\" does not read: "
      .. "vmrun cannot tell whether it is live and does not take it; if its holder is gone, delete it "
      .. "(kubectl -n kube-system delete lease garbled)")
    expect(function() lock.acquire({ name = "endless" }) end).to_fail_with("locked",
      "is held by someone, but its leaseDurationSeconds is missing")
    expect(lock.status({ name = "garbled" }).state).to_be("unknown")
    expect(lease("garbled").spec.holderIdentity).to_be("someone")
    expect(lease("endless").spec.holderIdentity).to_be("someone")
  end, { timeout = "2d" })

  it("a missing namespace is named, with what to do", function()
    -- the API server answers a create in a missing namespace with 404 (the simulator keeps none)
    wrapped("create", function(create)
      return function(obj)
        if obj.metadata.namespace == "maintenance" then
          vmrun.error("not_found", 'namespaces "maintenance" not found', { resource = "Lease maintenance/vmrun" })
        end
        return create(obj)
      end
    end, function()
      expect(function() lock.acquire({ namespace = "maintenance" }) end).to_fail_with("not_found",
        "lock_spec%.lua:%d+: lock%.acquire: the lock's namespace maintenance does not exist: create it, "
        .. "or name another with namespace =$")
    end)
  end)

  it("rejects bad options at the caller's line", function()
    expect(function() lock.acquire({ ttl = "soon" }) end).to_fail_with("usage",
      "lock_spec%.lua:%d+: lock%.acquire: option ttl: bad duration 'soon'")
    expect(function() lock.acquire({ ttl = 0.5 }) end).to_fail_with("usage", "ttl must be at least 1 s")
    expect(function() lock.acquire({ nmae = "x" }) end).to_fail_with("usage",
      "unknown option nmae (holder, name, namespace, on_lost, playbook, run_id, ttl)")
    expect(function() lock.acquire({ holder = "" }) end).to_fail_with("usage", "option holder is empty")
    expect(lock.status({ name = "never-taken" })).to_be_nil()
  end)
end)

-- A wrap for wrapped(): counts in counts the calls and the errors of kind `kind` they raised.
local function counting(kind, counts)
  return function(original)
    return function(...)
      counts.calls = counts.calls + 1
      local ok, r = pcall(original, ...)
      if ok then return r end
      if vmrun.is_error(r, kind) then counts.refused = counts.refused + 1 end
      error(r, 0)
    end
  end
end

-- Two runs ("run-a", "run-b") acquiring the Lease `name` at once, through a slow API whose
-- `write` function (create or patch) is counted in counts; returns the winners' handles and the
-- losers' errors.
local function race(name, write, refusal, counts)
  local results
  wrapped("get", slow_reads, function()
    wrapped(write, counting(refusal, counts), function()
      results = task.all({
        function() return table.pack(pcall(lock.acquire, { name = name, holder = "run-a", run_id = "a" })) end,
        function() return table.pack(pcall(lock.acquire, { name = name, holder = "run-b", run_id = "b" })) end,
      })
    end)
  end)
  local winners, losers = {}, {}
  for _, r in ipairs(results) do
    if r[1] then winners[#winners + 1] = r[2] else losers[#losers + 1] = r[2] end
  end
  return winners, losers
end

describe("two runs racing for the lock", function()
  it("a free lock: both read it absent, both create, exactly one wins and the other names the winner", function()
    local creates = { calls = 0, refused = 0 }
    local winners, losers = race("race", "create", "already_exists", creates)
    expect(creates).to_equal({ calls = 2, refused = 1 }) -- both wrote; the API refused one
    expect(#winners).to_be(1)
    expect(#losers).to_be(1)
    expect(losers[1].kind).to_be("locked")
    expect(losers[1].holder).to_be(winners[1].holder)
    expect(losers[1].message).to_contain("is held by " .. winners[1].holder)
    expect(lease("race").spec.holderIdentity).to_be(winners[1].holder)
    winners[1]:release()
  end)

  it("an expired lock: both patch with the resourceVersion they read, the API refuses one", function()
    foreign_lease("race-expired", { holder = "gone", renewed = time.now() - 600 })
    local patches = { calls = 0, refused = 0 }
    local winners, losers
    local logs = logged(function() winners, losers = race("race-expired", "patch", "conflict", patches) end)
    expect(patches).to_equal({ calls = 2, refused = 1 })
    expect(#winners).to_be(1)
    expect(#losers).to_be(1)
    expect(losers[1].kind).to_be("locked")
    expect(losers[1].holder).to_be(winners[1].holder)
    expect(#logs.warn).to_be(1) -- only the winner took over
    expect(logs.warn[1]).to_contain("took over the expired lock of gone")
    expect(lease("race-expired").spec.holderIdentity).to_be(winners[1].holder)
    expect(lease("race-expired").spec.leaseTransitions).to_be(1)
    winners[1]:release()
  end)
end)

describe("the heartbeat", function()
  it("keeps the lock alive far past its TTL (virtual time)", function()
    local l = lock.acquire({ name = "long", ttl = 30 })
    local started = time.now()
    task.sleep("2h")
    local renewed = k8stime.parse(lease("long").spec.renewTime)
    expect(renewed >= time.now() - 10).to_be(true) -- renewed every 10 s
    expect(renewed > started + 7000).to_be(true)
    expect(l.expires).to_be(l.renewed + 30)
    expect(lease("long").spec.renewTime).to_be(k8stime.micro(l.renewed))
    expect(lock.status({ name = "long" }).state).to_be("live")
    expect(function() lock.acquire({ name = "long", holder = "other", run_id = "other" }) end).to_fail_with("locked")
    expect(l:held()).to_be(true)
    l:check()
    l:release()
  end, { timeout = "3h" })

  it("a conflict from a change that leaves the lock ours is read again, not taken for a loss", function()
    local l = lock.acquire({ name = "annotated", ttl = 30 })
    local acquired = time.now()
    local original_patch = cluster.patch
    local interfere, patches = false, { calls = 0, refused = 0 }
    wrapped("get", function(get)
      return function(kind, ns, name)
        local v = get(kind, ns, name)
        if interfere and name == "annotated" then
          interfere = false -- someone annotates the Lease between the heartbeat's read and its write
          original_patch("Lease", ns, name, { metadata = { annotations = { ["example.com/ticket"] = "OPS-1" } } },
            { type = "merge" })
        end
        return v
      end
    end, function()
      wrapped("patch", counting("conflict", patches), function()
        interfere = true
        task.sleep(11) -- the renewal 10 s after the acquire
      end)
    end)
    expect(patches).to_equal({ calls = 2, refused = 1 }) -- the renewal, read again and sent again
    expect(l:held()).to_be(true)
    expect(lease("annotated").spec.renewTime).to_be(k8stime.micro(acquired + 10))
    expect(lease("annotated").metadata.annotations["example.com/ticket"]).to_be("OPS-1")
    l:release()
  end)

  it("sees another holder overwrite the lock: log.error, on_lost, l:check() raises, release leaves it", function()
    local calls = {}
    local l = lock.acquire({ name = "stolen", ttl = 30, on_lost = function(h, reason) calls[#calls + 1] = { h, reason } end })
    local taken_at
    local logs = logged(function()
      task.sleep(5)
      local obj = lease("stolen")
      obj.spec.holderIdentity = "intruder"
      obj.spec.acquireTime = k8stime.micro(time.now())
      obj.metadata.annotations = { ["vmrun.io/run-id"] = "intruder-run" }
      taken_at = time.now()
      cluster.replace(obj)
      task.sleep(6) -- the heartbeat's next renewal: 10 s after the acquire
    end)
    local reason = ("it is now held by intruder (run intruder-run) since %s"):format(time.format(taken_at))
    expect(l.lost).to_be(reason)
    expect(logs.error).to_equal({ "lock kube-system/stolen lost: " .. reason .. "; start no new work" })
    expect(#calls).to_be(1)
    expect(calls[1][1]).to_be(l)
    expect(calls[1][2]).to_be(reason)
    expect(l:held()).to_be(false)
    expect(function() l:check() end).to_fail_with("lock_lost",
      "lock_spec%.lua:%d+: the lock kube%-system/stolen is no longer held: it is now held by intruder")
    local released
    logs = logged(function() released = l:release() end)
    expect(released).to_be(false)
    expect(logs.warn).to_equal({ "lock kube-system/stolen is no longer ours (held by intruder (run intruder-run)): left as it is" })
    expect(lease("stolen").spec.holderIdentity).to_be("intruder")
    expect(l.heartbeat_task:status()).to_be("done")
  end)

  it("loses the lock when renewals keep failing until it has expired", function()
    local l = lock.acquire({ name = "flaky", ttl = 30 })
    local acquired = time.now()
    local logs = logged(function()
      wrapped("patch", function(patch)
        return function(kind, ns, name, ...)
          if name == "flaky" then vmrun.error("internal", "etcdserver: request timed out") end
          return patch(kind, ns, name, ...)
        end
      end, function() task.sleep(45) end)
    end)
    expect(#logs.warn > 1).to_be(true)
    expect(logs.warn[1]).to_be(("lock kube-system/flaky: could not renew it (etcdserver: request timed out); "
      .. "trying again before it expires at %s"):format(time.format(acquired + 30)))
    expect(l.lost).to_be(("it could not be renewed since %s (etcdserver: request timed out) and expired at %s: "
      .. "another run may take it"):format(time.format(acquired), time.format(acquired + 30)))
    expect(#logs.error).to_be(1)
    expect(lock.status({ name = "flaky" }).state).to_be("expired")
    -- the Lease still names this run: released, it is free at once
    expect(l:release()).to_be(true)
    expect(lock.status({ name = "flaky" }).state).to_be("free")
  end, { timeout = "2m" })
end)

describe("l:release", function()
  it("clears the holder and this run's annotations, keeps the transitions, and answers the same again", function()
    local l = lock.acquire({ name = "done" })
    expect(l:release()).to_be(true)
    local obj = lease("done")
    expect(obj.spec.holderIdentity).to_be_nil()
    expect(obj.spec.leaseTransitions).to_be(0)
    expect(obj.metadata.annotations["vmrun.io/run-id"]).to_be_nil()
    expect(obj.metadata.annotations["vmrun.io/pid"]).to_be_nil()
    local rv = obj.metadata.resourceVersion
    expect(l:release()).to_be(true)
    expect(lease("done").metadata.resourceVersion).to_be(rv)
    expect(l:held()).to_be(false)
    expect(function() l:check() end).to_fail_with("lock_lost", "is no longer held: it was released")
  end)

  it("runs when a <close> variable goes out of scope, also on an error", function()
    local ok = pcall(function()
      local l <close> = lock.acquire({ name = "scoped" })
      expect(lock.status({ name = "scoped" }).state).to_be("live")
      error("the maintenance failed")
    end)
    expect(ok).to_be(false)
    expect(lock.status({ name = "scoped" }).state).to_be("free")
  end)

  it("happens by itself when the task that took the lock ends (through a slow API)", function()
    local t = task.spawn(function() return lock.acquire({ name = "orphan", ttl = 30 }) end)
    local l = t:wait()
    expect(lock.status({ name = "orphan" }).state).to_be("live")
    local logs = logged(function()
      wrapped("get", slow_reads, function() task.sleep(11) end) -- the heartbeat's tick, 10 s after the acquire
    end)
    expect(logs.warn).to_equal({})
    expect(lock.status({ name = "orphan" }).state).to_be("free")
    expect(l:held()).to_be(false)
    expect(l.heartbeat_task:status()).to_be("done")
  end)

  it("when the run cancels the heartbeat, its cleanup releases the lock, and a release meanwhile waits for it", function()
    local l = lock.acquire({ name = "interrupted" })
    local released
    local logs = logged(function()
      wrapped("get", slow_reads, function()
        expect(l.heartbeat_task:status()).to_be("waiting") -- it has started: it renews
        l.heartbeat_task:cancel("interrupted by signal")
        task.yield() -- the heartbeat's cleanup starts releasing, and waits for the API
        released = l:release()
      end)
    end)
    expect(released).to_be(true)
    expect(logs.warn).to_equal({})
    expect(logs.info).to_equal({ "lock kube-system/interrupted released" })
    expect(lock.status({ name = "interrupted" }).state).to_be("free")
    expect(l.heartbeat_task:status()).to_be("cancelled")
  end)
end)
