-- task_spec.lua: the task module: spawn/wait results and errors, task.all, cancellation with
-- <close> and pcall cleanup, statuses, wait timeouts, task.sleep under the virtual clock,
-- ordering, task.yield fairness, misuse from plain coroutines, task.list.
local helpers = require("spec_helpers")

-- Milliseconds between two time.now() readings (the clock has millisecond steps).
local function ms_between(t0, t1)
  return math.floor((t1 - t0) * 1000 + 0.5)
end

describe("task.spawn and t:wait", function()
  it("returns every result of the task, nils included", function()
    local t = task.spawn(function(a, b)
      return a + b, nil, "three"
    end, 1, 2)
    local r = table.pack(t:wait())
    expect(r.n).to_be(3)
    expect(r[1]).to_be(3)
    expect(r[2]).to_be_nil()
    expect(r[3]).to_be("three")
  end)

  it("returns nothing for a task that returns nothing, the same results on every wait", function()
    local t = task.spawn(function() end)
    expect(select("#", t:wait())).to_be(0)
    local u = task.spawn(function() return "x" end)
    expect(u:wait()).to_be("x")
    expect(u:wait()).to_be("x")
  end)

  it("runs the spawned task only when the spawner waits", function()
    local ran = false
    local t = task.spawn(function() ran = true end)
    expect(ran).to_be(false)
    expect(t:status()).to_be("new")
    t:wait()
    expect(ran).to_be(true)
  end)

  it("re-raises the task's error in the waiter, with the task chain in the traceback", function()
    local line = debug.getinfo(1, "l").currentline + 1
    local t = task.spawn(function() error("boom in child") end)
    local err = expect(function() t:wait() end).to_fail_with("runtime", "boom in child")
    expect(err.message).to_match("task_spec%.lua:" .. line .. ": boom in child")
    expect(err.traceback).to_match("spawned at [^\n]*task_spec%.lua:" .. line)
    expect(t:status()).to_be("failed")
  end)

  it("keeps a vmrun.Error's kind and fields across the wait", function()
    local t = task.spawn(function() vmrun.error("conflict", "object changed", { status = 409 }) end)
    local err = expect(function() t:wait() end).to_fail_with("conflict", "object changed")
    expect(err.status).to_be(409)
    expect(vmrun.is_error(err)).to_be(true)
  end)

  it("wraps a non-string error value and keeps it as err.value", function()
    local payload = { code = 7 }
    local t = task.spawn(function() error(payload) end)
    local err = expect(function() t:wait() end).to_fail_with("runtime")
    expect(err.value).to_be(payload)
  end)

  it("does not fail the run once a waiter took the error", function()
    local r = helpers.vmrun({
      "-e", "local t = task.spawn(error, 'x'); print(pcall(t.wait, t)); print('survived')",
    })
    expect(r.status).to_be(0)
    expect(r.stdout).to_match("survived\n$")
    expect(r.stderr).to_be("")
  end)

  it("fails the run when nobody waits for a failed task, naming the task chain", function()
    local r = helpers.vmrun({
      "-e", "task.spawn(function() error('lost error') end); task.sleep(1); print('not here')",
    })
    expect(r.status).to_be(1)
    expect(r.stdout).to_be("")
    expect(r.stderr).to_contain("lost error")
    expect(r.stderr).to_match("in task 1 %(spawned at %(command line%):1 by task 0")
  end)

  it("refuses to wait for itself and to spawn a non-function", function()
    expect(function() task.current():wait() end).to_fail("a task cannot wait for itself")
    expect(function() task.spawn(42) end).to_fail("function expected")
  end)
end)

describe("task.all", function()
  it("returns the first result of each task in list order", function()
    local slow = task.spawn(function()
      task.sleep(3)
      return "slow"
    end)
    local results = task.all({
      slow,
      function()
        task.sleep(1)
        return "fast", "ignored"
      end,
      function() return nil end,
    })
    expect(results[1]).to_be("slow")
    expect(results[2]).to_be("fast")
    expect(results[3]).to_be_nil()
    expect(task.all({})).to_equal({})
  end)

  it("fails fast: raises the first error, cancels the siblings and runs their cleanup", function()
    local cleaned = {}
    local sibling = task.spawn(function()
      local guard <close> = setmetatable({}, {
        __close = function() cleaned[#cleaned + 1] = "close" end,
      })
      local ok, err = pcall(task.sleep, 3600)
      cleaned[#cleaned + 1] = err.kind
      error(err, 0)
    end)
    local t0 = time.now()
    expect(function()
      task.all({ sibling, function()
        task.sleep(2)
        error("second one broke")
      end })
    end).to_fail("second one broke")
    expect(ms_between(t0, time.now())).to_be(2000)
    expect(pcall(sibling.wait, sibling)).to_be(false)
    expect(sibling:status()).to_be("cancelled")
    expect(cleaned).to_equal({ "cancelled", "close" })
  end)

  it("times out, cancelling the unfinished tasks", function()
    local quick = task.spawn(function() return 1 end)
    local slow = task.spawn(task.sleep, 60)
    local t0 = time.now()
    local err = expect(function() task.all({ quick, slow }, { timeout = "10s" }) end)
      .to_fail_with("timeout", "timed out after 10s")
    expect(vmrun.is_error(err, "timeout")).to_be(true)
    expect(ms_between(t0, time.now())).to_be(10000)
    expect(quick:status()).to_be("done")
    expect(function() slow:wait() end).to_fail_with("cancelled", "task.all timed out")
    expect(slow:status()).to_be("cancelled")
  end)

  it("rejects elements that are neither tasks nor functions, and unknown options", function()
    expect(function() task.all({ 1 }) end)
      .to_fail("element 1 is a number, expected a vmrun.Task or a function")
    expect(function() task.all({}, { timeuot = 1 }) end).to_fail("unknown option 'timeuot'")
  end)
end)

describe("t:cancel", function()
  it("delivers kind 'cancelled' with the reason at the task's wait", function()
    local seen
    local t = task.spawn(function()
      local ok, err = pcall(task.sleep, 3600)
      seen = err
      error(err, 0)
    end)
    task.yield()
    expect(t:status()).to_be("waiting")
    t:cancel("maintenance window closed")
    expect(function() t:wait() end).to_fail_with("cancelled", "maintenance window closed")
    expect(vmrun.is_error(seen, "cancelled")).to_be(true)
    expect(seen.message).to_contain("cancelled: maintenance window closed")
    expect(t:status()).to_be("cancelled")
  end)

  it("runs <close> handlers, which may themselves wait while unwinding", function()
    local events = {}
    local t = task.spawn(function()
      local outer <close> = setmetatable({}, {
        __close = function(_, err)
          events[#events + 1] = "outer " .. tostring(err and err.kind)
        end,
      })
      local inner <close> = setmetatable({}, {
        __close = function(_, err)
          events[#events + 1] = "inner start " .. tostring(err and err.kind)
          task.sleep(20) -- cleanup over the network, say
          events[#events + 1] = "inner done"
        end,
      })
      task.sleep(3600)
      events[#events + 1] = "not reached"
    end)
    task.sleep(1)
    local t0 = time.now()
    t:cancel()
    expect(function() t:wait() end).to_fail_with("cancelled", "cancelled by t:cancel%(%)")
    expect(events).to_equal({ "inner start cancelled", "inner done", "outer cancelled" })
    expect(ms_between(t0, time.now())).to_be(20000)
  end)

  it("lets pcall catch the cancellation for cleanup; a second cancel is delivered again", function()
    local steps = {}
    local t = task.spawn(function()
      local ok, err = pcall(task.sleep, 3600)
      steps[#steps + 1] = (ok and "slept" or err.kind)
      task.sleep(5) -- cleanup that waits
      steps[#steps + 1] = "cleaned"
      task.sleep(3600)
      steps[#steps + 1] = "not reached"
    end)
    task.yield()
    t:cancel("first")
    task.sleep(10)
    expect(steps).to_equal({ "cancelled", "cleaned" })
    t:cancel("second")
    expect(function() t:wait() end).to_fail_with("cancelled", "second")
    expect(steps).to_equal({ "cancelled", "cleaned" })
  end)

  it("cancels a task that never started, without running it", function()
    local ran = false
    local t = task.spawn(function() ran = true end)
    t:cancel("not needed")
    expect(function() t:wait() end).to_fail_with("cancelled", "before it started: not needed")
    expect(ran).to_be(false)
    expect(t:status()).to_be("cancelled")
  end)

  it("is a no-op on a finished task", function()
    local t = task.spawn(function() return "ok" end)
    expect(t:wait()).to_be("ok")
    t:cancel()
    expect(t:status()).to_be("done")
    expect(t:wait()).to_be("ok")
  end)

  it("cancels the task when a <close> variable holding it goes out of scope", function()
    local t
    do
      local scoped <close> = task.spawn(task.sleep, 3600)
      t = scoped
      task.yield()
    end
    expect(function() t:wait() end).to_fail_with("cancelled", "its scope was closed")
  end)

  it("stops a busy loop through the instruction-count hook", function()
    local t = task.spawn(function()
      task.current():cancel("too busy") -- pending until the hook sees it in the loop below
      local cpu0 = os.clock() -- bounded, so that a regression fails instead of hanging
      while os.clock() - cpu0 < 10 do end
      return "never interrupted"
    end)
    expect(function() t:wait() end).to_fail_with("cancelled", "too busy")
  end)
end)

describe("t:status", function()
  it("goes new, running, waiting, ready, done", function()
    local seen = {}
    local b
    local watcher = task.spawn(function()
      task.sleep(1) -- its timer fires first, so b is ready but not yet resumed
      return b:status()
    end)
    b = task.spawn(function()
      seen.self = task.current():status()
      task.sleep(1)
    end)
    expect(b:status()).to_be("new")
    task.yield()
    expect(seen.self).to_be("running")
    expect(b:status()).to_be("waiting")
    expect(watcher:wait()).to_be("ready")
    b:wait()
    expect(b:status()).to_be("done")
  end)

  it("says failed or cancelled for tasks that did not finish normally", function()
    local failed = task.spawn(error, "x")
    local cancelled = task.spawn(task.sleep, 10)
    expect(pcall(failed.wait, failed)).to_be(false) -- waiting before it fails: not a run failure
    cancelled:cancel()
    expect(pcall(cancelled.wait, cancelled)).to_be(false)
    expect(failed:status()).to_be("failed")
    expect(cancelled:status()).to_be("cancelled")
    expect(tostring(failed)).to_match("^vmrun%.Task %d+ %(failed%)$")
    expect(failed).to_be_a("vmrun.Task")
    expect(failed.id).to_be_a("integer")
  end)
end)

describe("t:wait timeouts", function()
  it("raises kind 'timeout' and leaves the task running", function()
    local t = task.spawn(function()
      task.sleep(10)
      return "finished"
    end)
    local t0 = time.now()
    local err = expect(function() t:wait(2) end)
      .to_fail_with("timeout", "t:wait timed out after 2s")
    expect(err.where).to_match("task_spec%.lua:%d+$")
    expect(ms_between(t0, time.now())).to_be(2000)
    expect(t:status()).to_be("waiting")
    expect(t:wait({ timeout = "1m" })).to_be("finished")
    expect(ms_between(t0, time.now())).to_be(10000)
  end)

  it("accepts durations as text and checks the options", function()
    local t = task.spawn(task.sleep, 120)
    expect(function() t:wait("2m") end).to_fail_with("timeout", "after 2m")
    expect(function() t:wait({ timeuot = 1 }) end).to_fail("unknown option 'timeuot' for wait")
    expect(function() t:wait("soon") end).to_fail("bad duration 'soon'")
    t:cancel()
    pcall(t.wait, t)
  end, { timeout = "5m" })
end)

describe("task.sleep", function()
  it("moves time.now() by exactly the duration under the virtual clock, in no wall time", function()
    expect(time.is_virtual()).to_be(true)
    local wall0, t0 = os.time(), time.now()
    task.sleep("6h")
    expect(ms_between(t0, time.now())).to_be(6 * 3600 * 1000)
    task.sleep(0.25)
    expect(ms_between(t0, time.now())).to_be(6 * 3600 * 1000 + 250)
    expect(os.time() - wall0 <= 2).to_be(true)
  end, { timeout = "7h" })

  it("keeps time still while code runs", function()
    local t0 = time.now()
    local x = 0
    for i = 1, 200000 do x = x + i end
    expect(time.now()).to_be(t0)
  end)

  it("wakes concurrent sleepers in order of their deadlines, ties in spawn order", function()
    local order = {}
    local function sleeper(name, secs)
      return function()
        task.sleep(secs)
        order[#order + 1] = name
      end
    end
    task.all({
      sleeper("c3", 3), sleeper("a1", 1), sleeper("b2", 2), sleeper("x2", 2), sleeper("z0", 0),
    })
    expect(order).to_equal({ "z0", "a1", "b2", "x2", "c3" })
  end)

  it("rejects bad durations with the caller's location", function()
    expect(function() task.sleep(-1) end).to_fail("bad duration %-1 for task.sleep")
    local err = expect(function() task.sleep("1 hour") end)
      .to_fail("bad duration '1 hour' for task.sleep")
    expect(tostring(err)).to_match("task_spec%.lua:%d+:")
  end)
end)

describe("task.yield", function()
  it("interleaves tasks that yield in turn", function()
    local order = {}
    local function worker(name)
      return function()
        for i = 1, 3 do
          order[#order + 1] = name .. i
          task.yield()
        end
      end
    end
    task.all({ worker("a"), worker("b"), worker("c") })
    expect(order).to_equal({ "a1", "b1", "c1", "a2", "b2", "c2", "a3", "b3", "c3" })
  end)

  it("never interleaves another task into code that does not wait (tasks are cooperative)",
    function()
      local counter = 0
      local function bump()
        for _ = 1, 200000 do
          local c = counter -- a read-modify-write over several instructions
          c = c + 1
          counter = c
        end
      end
      task.all({ bump, bump, bump })
      expect(counter).to_be(600000)
    end)

  it("does not move the virtual clock", function()
    local t0 = time.now()
    task.yield()
    expect(time.now()).to_be(t0)
  end)
end)

describe("waiting outside a task", function()
  it("raises a clear error inside a plain coroutine", function()
    local co = coroutine.wrap(function() task.sleep(1) end)
    expect(co).to_fail("task.sleep must be called from a playbook task, not from inside a "
      .. "coroutine of your own")
    local t = task.spawn(function() end)
    expect(coroutine.wrap(function() t:wait() end)).to_fail("must be called from a playbook task")
    t:wait()
  end)

  it("raises when waiting from a C function that cannot yield", function()
    local t = { 3, 1, 2 }
    expect(function()
      table.sort(t, function(a, b)
        task.yield()
        return a < b
      end)
    end).to_fail("cannot wait here")
  end)
end)

describe("task.list", function()
  it("lists the unfinished tasks, oldest first, the caller included", function()
    local me = task.current()
    local a = task.spawn(task.sleep, 5)
    local b = task.spawn(task.sleep, 5)
    local ids = {}
    for _, t in ipairs(task.list()) do ids[#ids + 1] = t.id end
    expect(ids).to_contain(me.id)
    expect(ids[#ids - 1]).to_be(a.id)
    expect(ids[#ids]).to_be(b.id)
    task.all({ a, b })
    for _, t in ipairs(task.list()) do expect(t.id).never.to_be(a.id) end
  end)
end)
