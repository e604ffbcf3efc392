-- log_spec.lua: the log module, seen from a child vmrun: text and JSON lines on stderr, fields,
-- level filtering with -q/-v, timestamps from the run's (virtual) clock, misuse errors.
local helpers = require("spec_helpers")

local TIME = "%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ"

-- Runs `vmrun [options] -e code` and returns the result (stdout, stderr lines...).
local function run(options, code)
  local args = {}
  for _, o in ipairs(options) do args[#args + 1] = o end
  args[#args + 1] = "-e"
  args[#args + 1] = code
  local r = helpers.vmrun(args)
  r.lines = helpers.lines(r.stderr)
  return r
end

describe("text log lines", function()
  it("carry time, level, message and sorted key=value fields on stderr", function()
    local r = run({}, [[log.info("hello", {vm = "a b", n = 3, ok = true, list = {1, 2}, e = ""})]])
    expect(r.status).to_be(0)
    expect(r.stdout).to_be("")
    expect(#r.lines).to_be(1)
    expect(r.lines[1])
      .to_match("^" .. TIME .. ' INFO  hello e="" list=%[1,2%] n=3 ok=true vm="a b"$')
  end)

  it("label each level and write any message value through tostring", function()
    local r = run({}, [[log.warn("careful"); log.error(42)]])
    expect(r.lines[1]).to_match("^" .. TIME .. " WARN  careful$")
    expect(r.lines[2]).to_match("^" .. TIME .. " ERROR 42$")
  end)

  it("mark fields that cannot be encoded instead of failing", function()
    local r = run({}, [[log.info("x", {t = {f = print}})]])
    expect(r.status).to_be(0)
    expect(r.lines[1]).to_match(" INFO  x t=<unencodable>$")
  end)
end)

describe("JSON log lines (--log-format json)", function()
  it("are one JSON object per line with time, level, msg and the fields", function()
    local r = run({ "--log-format", "json" },
      [[log.info("hello", {vm = "a b", n = 3, none = json.null, list = {1, 2}})]])
    expect(#r.lines).to_be(1)
    local line = json.decode(r.lines[1])
    expect(line.time).to_match("^" .. TIME .. "$")
    line.time = nil
    expect(line).to_equal({ level = "info", msg = "hello", vm = "a b", n = 3, none = json.null,
      list = { 1, 2 } })
  end)

  it("escape messages and accept --log-format=json", function()
    local r = run({ "--log-format=json" }, [[log.warn("q\"x\ny\tz"); log.error(42)]])
    expect(#r.lines).to_be(2)
    expect(json.decode(r.lines[1]).msg).to_be('q"x\ny\tz')
    expect(json.decode(r.lines[1]).level).to_be("warn")
    expect(json.decode(r.lines[2]).msg).to_be("42")
    expect(json.decode(r.lines[2]).level).to_be("error")
  end)

  it("raise when the fields cannot be encoded", function()
    local r = run({ "--log-format", "json" },
      [[local ok, err = pcall(log.info, "x", {f = print}); print(ok, err)]])
    expect(r.stdout).to_match("^false\t.*log fields cannot be encoded: %$%.f: function")
    expect(r.stderr).to_be("")
  end)
end)

describe("log levels", function()
  local code = [[log.debug("d"); log.info("i"); log.warn("w"); log.error("e"); print(log.level())]]

  it("hide debug lines by default", function()
    local r = run({}, code)
    expect(r.stdout).to_be("info\n")
    expect(#r.lines).to_be(3)
    expect(r.lines[1]).to_match(" INFO  i$")
    expect(r.stderr).never.to_contain("DEBUG")
  end)

  it("show only warnings and errors with -q", function()
    for _, flag in ipairs({ "-q", "--quiet" }) do
      local r = run({ flag }, code)
      expect(r.stdout).to_be("warn\n")
      expect(#r.lines).to_be(2)
      expect(r.lines[1]).to_match(" WARN  w$")
      expect(r.lines[2]).to_match(" ERROR e$")
    end
  end)

  it("show debug lines with -v", function()
    for _, flag in ipairs({ "-v", "--verbose" }) do
      local r = run({ flag }, code)
      expect(r.stdout).to_be("debug\n")
      expect(#r.lines).to_be(4)
      expect(r.lines[1]).to_match(" DEBUG d$")
    end
  end)
end)

describe("log timestamps", function()
  it("come from the virtual clock: two hours of sleep in no wall time", function()
    local r = run({}, [[
      local t0 = time.now()
      print(time.format(t0)); print(time.format(t0 + 7200))
      log.info("start")
      task.sleep("2h")
      log.info("two hours later")
    ]])
    expect(r.status).to_be(0)
    local expected = helpers.lines(r.stdout)
    expect(r.lines[1]).to_be(expected[1] .. " INFO  start")
    expect(r.lines[2]).to_be(expected[2] .. " INFO  two hours later")
    expect(r.seconds < 10).to_be(true)
  end)

  it("come from the wall clock with --real-time", function()
    local r = run({ "--real-time", "--log-format", "json" },
      [[log.info("a"); task.sleep(0.2); log.info("b")]])
    local a, b = json.decode(r.lines[1]).time, json.decode(r.lines[2]).time
    local function ms(ts)
      local s, frac = ts:match(":(%d%d)%.(%d%d%d)Z$")
      return tonumber(s) * 1000 + tonumber(frac)
    end
    local diff = (ms(b) - ms(a)) % 60000
    expect(diff >= 190 and diff < 5000).to_be(true)
  end)
end)

describe("log misuse", function()
  it("raises when fields is not a table", function()
    expect(function() log.info("x", 5) end).to_fail("bad argument #2")
    expect(function() log.info("x", 5) end).to_fail("table expected, got number")
  end)
end)
