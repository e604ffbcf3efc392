-- runner_spec.lua: the spec runner itself (stdlib-lua/vmrun/testing.lua): its matchers, checked
-- in process, and its reports, checked by running `vmrun test` on the files in fixtures/: TAP
-- lines, failure locations, timeouts, leaked tasks and processes, load errors, exit codes.
local helpers = require("spec_helpers")

local FIXTURES = "tests/lua/fixtures/"
local source_dir = os.getenv("VMRUN_SOURCE_DIR")
if source_dir and source_dir ~= "" then FIXTURES = source_dir .. "/tests/lua/fixtures/" end

local function run_fixtures(...)
  local args = { "test" }
  for _, name in ipairs({ ... }) do args[#args + 1] = FIXTURES .. name end
  return helpers.vmrun(args)
end

-- The failure message an expectation raises (its location stripped).
local function failure_of(fn)
  local text = expect(fn).to_fail()
  return (tostring(text):gsub("^[^:]*runner_spec%.lua:%d+: ", ""))
end

describe("matchers", function()
  it("to_be compares raw identity; to_equal compares content", function()
    local t = { 1 }
    expect(t).to_be(t)
    expect(t).never.to_be({ 1 })
    expect(t).to_equal({ 1 })
    expect(1).to_equal(1.0)
    expect(0 / 0).to_equal(0 / 0)
    expect({ a = { b = { json.null } } }).to_equal({ a = { b = { vmrun.null } } })
    expect(failure_of(function() expect(t).to_be({ 1 }) end)).to_match("^expected {1}, got {1}$")
  end)

  it("to_equal names the path of the first difference", function()
    expect(failure_of(function() expect({ a = { 1, 2 } }).to_equal({ a = { 1, 3 } }) end))
      .to_contain("values differ at $.a[2]: expected 3, got 2")
    expect(failure_of(function() expect({ a = 1 }).to_equal({ a = 1, b = "x" }) end))
      .to_contain('values differ at $.b: expected "x", got nothing')
    expect(failure_of(function() expect({ a = 1, z = true }).to_equal({ a = 1 }) end))
      .to_contain("values differ at $.z: unexpected true (not expected)")
    expect(failure_of(function() expect({ ["a b"] = 1 }).to_equal({ ["a b"] = 2 }) end))
      .to_contain('at $["a b"]')
    expect(failure_of(function() expect("x\ny").to_equal("x") end))
      .to_be('values differ: expected "x", got "x\\ny"')
  end)

  it("to_equal handles cycles", function()
    local a, b = { name = "a" }, { name = "a" }
    a.self, b.self = a, b
    expect(a).to_equal(b)
    b.name = "b"
    expect(failure_of(function() expect(a).to_equal(b) end)).to_contain("at $.name")
  end)

  it("truthiness, nil, types, containment and patterns", function()
    expect(0).to_be_truthy()
    expect(false).to_be_falsy()
    expect(nil).to_be_nil()
    expect(false).never.to_be_nil()
    expect(1).to_be_a("integer")
    expect(1.5).to_be_a("float")
    expect(1.5).to_be_a("number")
    expect(task.current()).to_be_a("vmrun.Task")
    expect(failure_of(function() expect("1").to_be_a("number") end))
      .to_be('expected a number, got a string "1"')
    expect("a.b").to_contain(".")
    expect({ 1, { x = 2 } }).to_contain({ x = 2 })
    expect({ 1, 2 }).never.to_contain(3)
    expect("abc123").to_match("^%a+%d+$")
    expect(failure_of(function() expect(42).to_match("x") end))
      .to_be('expected a string matching "x", got 42')
  end)

  it("to_fail and to_fail_with return the error and check kind and message", function()
    local err = expect(function() error("plain", 0) end).to_fail("plain")
    expect(err).to_be("plain")
    expect(function() error("a (b) c") end).to_fail("a (b) c") -- plain text also matches
    expect(function() end).never.to_fail()
    expect(failure_of(function() expect(function() return 1, 2 end).to_fail() end))
      .to_be("expected the function to fail, but it returned 1, 2")
    local seen
    expect(function() vmrun.error("timeout", "slow") end).to_fail(function(e) seen = e.kind end)
    expect(seen).to_be("timeout")
    expect(failure_of(function()
      expect(function() vmrun.error("exec", "boom") end).to_fail_with("timeout")
    end)).to_match([[^expected a vmrun.Error of kind "timeout", got kind "exec": ".*boom"$]])
    expect(failure_of(function()
      expect(function() error("x") end).to_fail_with("timeout")
    end)).to_match('got a plain error ".*x"$')
  end)

  it("reports misuse at the spec line", function()
    expect(function() expect(1).to_eqaul(1) end)
      .to_fail("has no matcher \"to_eqaul\" (did you mean 'to_equal'?)")
    expect(function() expect(1):to_equal(1) end).to_fail("call matchers with a dot")
    expect(function() expect(1).to_equal() end).to_fail("to_equal takes 1 to 1 argument(s), got 0")
    expect(function() expect(1).to_fail() end).to_fail("to_fail needs expect(function() ... end)")
    local err = expect(function() it("late", function() end) end)
      .to_fail("while a spec file is loading")
    expect(err).to_match("runner_spec%.lua:%d+: ")
  end)
end)

describe("vmrun test", function()
  it("prints TAP lines and a summary, and exits 0 when everything passed", function()
    local r = run_fixtures("passing_fixture.lua")
    expect(r.status).to_be(0)
    local lines = helpers.lines(r.stdout)
    expect(lines).to_equal({
      "# " .. FIXTURES .. "passing_fixture.lua",
      "ok 1 - outer inner runs the hooks outer first, then inner",
      "ok 2 - outer ran the after hooks inner first",
      "ok 3 - outer runs each test as its own task",
      "ok 4 - outer is not written yet # SKIP pending",
      "ok 5 - outer without a body is pending too # SKIP pending",
      "1..5",
      "# 5 test(s): 3 passed, 0 failed, 2 pending",
    })
    expect(r.stderr).to_be("")
    expect(r.seconds < 30).to_be(true) -- an hour of virtual sleep in the fixture
  end)

  it("reports each failure with the file:line of the failing expectation, and exits 1", function()
    local r = run_fixtures("failing_fixture.lua")
    local out = r.stdout
    local f = FIXTURES .. "failing_fixture.lua"
    expect(r.status).to_be(1)
    expect(out).to_contain("not ok 1 - fails an equality\n#   " .. f
      .. ":4: values differ at $.a[2]: expected 5, got 2\n")
    expect(out).to_contain("not ok 2 - raises an error\n#   " .. f
      .. ":9: attempt to index a nil value")
    expect(out).to_contain("not ok 3 - times out\n#   " .. f .. ":12: the test timed out after 10s")
    expect(out).to_contain("not ok 4 - never checks its expectation\n#   " .. f
      .. ":17: expect(...) was never checked")
    expect(out).to_contain("not ok 5 - fails a negated expectation after a passing one\n#   " .. f
      .. ':22: expected "text" not to contain "ex"\n')
    expect(out).to_contain("not ok 6 - calls os.exit\n#   a test must not end the run: os.exit(3)")
    expect(out).to_contain("ok 7 - passes\n1..7\n# 7 test(s): 1 passed, 6 failed, 0 pending\n")
    expect(out).to_contain("# failed: 3 - times out (" .. f .. ":12)\n")
  end)

  it("fails a test that leaks a task, cancels the task and starts the next test clean", function()
    local r = run_fixtures("leak_fixture.lua")
    expect(r.status).to_be(1)
    expect(r.stdout).to_match("\nnot ok 1 %- leaks a task\n#   [^\n]*leak_fixture%.lua:6: the test "
      .. "leaked 1 task%(s%) still running after it ended: vmrun%.Task %d+ %(waiting%) "
      .. "%(cancelled now%)\n")
    expect(r.stdout).to_contain("leaked task cleaned up\n")
    expect(r.stdout).to_contain("\nok 2 - starts clean after the leak\n")
  end)

  it("fails a test that leaves a host process running", function()
    local r = run_fixtures("process_leak_fixture.lua")
    expect(r.status).to_be(1)
    expect(r.stdout).to_contain("process_leak_fixture.lua:3: the test left 1 host process(es) "
      .. "or other real I/O running")
  end)

  it("reports a spec that does not compile with file:line, as a failure", function()
    local r = run_fixtures("syntax_error_fixture.lua", "passing_fixture.lua")
    expect(r.status).to_be(1)
    local f = FIXTURES .. "syntax_error_fixture.lua"
    expect(r.stdout).to_contain("not ok 1 - " .. f .. " (the spec file did not load)\n#   " .. f
      .. ":4: unexpected symbol near 'end'\n")
    expect(r.stdout).to_contain("\nok 2 - outer inner runs the hooks outer first, then inner\n")
    expect(r.stdout).to_contain("\n1..6\n# 6 test(s): 3 passed, 1 failed, 2 pending\n")
  end)

  it("reports a missing spec file as a failure", function()
    local r = run_fixtures("no_such_fixture.lua")
    expect(r.status).to_be(1)
    expect(r.stdout).to_contain("cannot open " .. FIXTURES .. "no_such_fixture.lua")
  end)
end)
