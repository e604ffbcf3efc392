-- guard_spec.lua: vmrun's guardrails: undefined-global errors with "did you mean", the
-- new-global warning and vmrun.global, os.execute/io.popen pointing at exec.run, os.exit that
-- runs cleanup, vmrun.error/is_error and the rest of the vmrun module.
local helpers = require("spec_helpers")

describe("undefined globals", function()
  it("raise with the reader's file:line", function()
    local err = expect(function() return zzqq_not_defined end)
      .to_fail("undefined global 'zzqq_not_defined'")
    expect(err).to_match("^[^:]*guard_spec%.lua:%d+: undefined global 'zzqq_not_defined'$")
  end)

  it("suggest a near name among globals and not-yet-loaded modules", function()
    expect(function() return prnt end).to_fail("undefined global 'prnt' (did you mean 'print'?)")
    expect(function() return ipairz end).to_fail("(did you mean 'ipairs'?)")
    expect(function() return tsak end).to_fail("undefined global 'tsak' (did you mean 'task'?)")
    expect(function() return jsno end).to_fail("(did you mean 'json'?)")
    expect(function() return yamll end).to_fail("(did you mean 'yaml'?)")
  end)

  it("load the module globals lazily on first use", function()
    local r = helpers.vmrun({
      "-e", "print(rawget(_G, 'yaml') == nil); print(yaml.null == vmrun.null); "
        .. "print(rawget(_G, 'yaml') == require('vmrun.yaml'))",
    })
    expect(r.stdout).to_be("true\ntrue\ntrue\n")
  end)
end)

describe("new globals", function()
  it("warn once per name with file:line, and still work", function()
    local r = helpers.vmrun({ "-e", "x = 1; x = 2; y = 3; print(x, y)" })
    expect(r.status).to_be(0)
    expect(r.stdout).to_be("2\t3\n")
    local lines = helpers.lines(r.stderr)
    expect(#lines).to_be(2)
    expect(lines[1]).to_match("WARN  %(command line%):1: new global 'x' %(declare it local, or use "
      .. "vmrun%.global%('x', value%) to make a global on purpose%)$")
    expect(lines[2]).to_contain("new global 'y'")
  end)

  it("are silent when made with vmrun.global", function()
    local r = helpers.vmrun({ "-e", "vmrun.global('answer', 42); print(answer)" })
    expect(r.stdout).to_be("42\n")
    expect(r.stderr).to_be("")
  end)

  it("do not leak out of a spec file: its assignments stay in its own environment", function()
    spec_local_global = "mine" -- luacheck: ignore
    expect(spec_local_global).to_be("mine")
    expect(rawget(_G, "spec_local_global")).to_be_nil()
  end)
end)

describe("no shell", function()
  it("os.execute raises kind 'usage' pointing at exec.run", function()
    local err = expect(function() os.execute("ls") end).to_fail_with("usage")
    expect(err.message).to_match("^[^:]*guard_spec%.lua:%d+: os%.execute is not available in vmrun")
    expect(err.message)
      .to_contain('exec.run{"prog", "arg", ...} (an argv array, never a shell string)')
  end)

  it("io.popen raises the same way", function()
    local err = expect(function() io.popen("ls") end)
      .to_fail_with("usage", "io.popen is not available")
    expect(err.message).to_contain("exec.run")
  end)
end)

describe("os.exit", function()
  it("raises kind 'exit' with the status, so cleanup can run", function()
    local err = expect(function() os.exit(4) end).to_fail_with("exit", "os.exit%(4%)")
    expect(err.status).to_be(4)
    expect(expect(function() os.exit(true) end).to_fail_with("exit").status).to_be(0)
    expect(expect(function() os.exit(false) end).to_fail_with("exit").status).to_be(1)
    local via_vmrun = expect(function() vmrun.exit(5) end).to_fail_with("exit", "vmrun.exit%(5%)")
    expect(via_vmrun.status).to_be(5)
  end)

  it("ends the run with that code after <close> handlers of every task ran", function()
    local r = helpers.vmrun({
      "-e", [[
        local c <close> = setmetatable({}, {
          __close = function(_, e) print("main cleanup", e.kind) end,
        })
        task.spawn(function()
          local d <close> = setmetatable({}, { __close = function() print("child cleanup") end })
          task.sleep(100)
        end)
        task.yield()
        os.exit(7)
        print("not reached")
      ]],
    })
    expect(r.status).to_be(7)
    expect(r.stdout).to_contain("main cleanup\texit\n")
    expect(r.stdout).to_contain("child cleanup\n")
    expect(r.stdout).never.to_contain("not reached")
    expect(r.stderr).to_be("")
  end)
end)

describe("vmrun.error and vmrun.is_error", function()
  it("raise a vmrun.Error with kind, located message and extra fields", function()
    local err = expect(function()
      vmrun.error("conflict", "node changed", { status = 409, resource = "nodes/w1", kind = "x" })
    end).to_fail_with("conflict")
    expect(err.message).to_match("^[^:]*guard_spec%.lua:%d+: node changed$")
    expect(err.status).to_be(409)
    expect(err.resource).to_be("nodes/w1")
    expect(err.kind).to_be("conflict") -- fields cannot override kind or message
    expect(tostring(err)).to_be(err.message)
    expect(err).to_be_a("vmrun.Error")
  end)

  it("name the caller's caller with fields.level = 2, and do not copy level", function()
    local function library(x) -- blames whoever called it wrongly
      if x == nil then vmrun.error("usage", "library(x): x is needed", { level = 2 }) end
    end
    local line = debug.getinfo(1, "l").currentline + 1
    local err = expect(function() library() end).to_fail_with("usage")
    expect(err.message).to_match("guard_spec%.lua:" .. line .. ": library%(x%): x is needed$")
    expect(err.level).to_be_nil()
    expect(function() vmrun.error("k", "m", { level = 0 }) end).to_fail("fields.level must be 1 to 100")
    expect(function() vmrun.error("k", "m", { level = "x" }) end).to_fail("fields.level must be 1 to 100")
  end)

  it("tell vmrun.Errors apart from other values, by kind too", function()
    local err = select(2, pcall(vmrun.error, "timeout", "slow"))
    expect(vmrun.is_error(err)).to_be(true)
    expect(vmrun.is_error(err, "timeout")).to_be(true)
    expect(vmrun.is_error(err, "exec")).to_be(false)
    expect(vmrun.is_error("timeout")).to_be(false)
    expect(vmrun.is_error({ kind = "timeout", message = "forged" })).to_be(false)
    expect(vmrun.is_error(nil)).to_be(false)
  end)

  it("check their arguments", function()
    expect(function() vmrun.error("k") end)
      .to_fail("bad argument #2 to '[%w.]*error' %(string expected, got no value%)")
    expect(function() vmrun.error("k", "m", "fields") end)
      .to_fail("bad argument #3 to '[%w.]*error' %(table expected, got string%)")
  end)
end)

describe("the vmrun module", function()
  it("has a version, one null sentinel shared with the codecs, and stats", function()
    expect(vmrun.version).to_match("^%d+%.%d+%.%d+")
    expect(vmrun.null).to_be(json.null)
    expect(vmrun.null).to_be(yaml.null)
    expect(tostring(vmrun.null)).to_be("null")
    local st = vmrun.stats()
    for _, field in ipairs({ "tasks", "waiting", "timers", "real_pending", "memory_kb" }) do
      expect(st[field]).to_be_a("integer")
    end
    expect(st.tasks >= 2).to_be(true) -- the runner and this test
  end)

  it("counts tasks, waiting tasks and timers in stats", function()
    local before = vmrun.stats()
    local t = task.spawn(task.sleep, 10)
    task.yield()
    local during = vmrun.stats()
    expect(during.tasks - before.tasks).to_be(1)
    expect(during.waiting - before.waiting).to_be(1)
    expect(during.timers - before.timers).to_be(1)
    t:wait()
    local after = vmrun.stats()
    expect(after.tasks).to_be(before.tasks)
    expect(after.timers).to_be(before.timers)
  end)
end)
