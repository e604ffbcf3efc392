-- time_spec.lua: the time module: duration parsing (and its error messages), RFC 3339
-- formatting, the run's clock (virtual by default, real with --real-time).
local helpers = require("spec_helpers")

describe("time.duration", function()
  it("parses seconds, minutes, hours, days and milliseconds", function()
    expect(time.duration("90s")).to_equal(90)
    expect(time.duration("20m")).to_equal(1200)
    expect(time.duration("2h")).to_equal(7200)
    expect(time.duration("1d")).to_equal(86400)
    expect(time.duration("500ms")).to_equal(0.5)
    expect(time.duration("90")).to_equal(90)
  end)

  it("adds up compound durations and fractions", function()
    expect(time.duration("1h30m")).to_equal(5400)
    expect(time.duration("1h30m15s")).to_equal(5415)
    expect(time.duration("2m500ms")).to_equal(120.5)
    expect(time.duration("1.5h")).to_equal(5400)
    expect(time.duration(".5s")).to_equal(0.5)
    expect(time.duration("  45s  ")).to_equal(45)
  end)

  it("passes numbers of seconds through", function()
    expect(time.duration(42)).to_equal(42)
    expect(time.duration(0)).to_equal(0)
    expect(time.duration(1.25)).to_equal(1.25)
    expect(time.duration(7)).to_be_a("number")
  end)

  it("rejects malformed text, naming the input and the caller's line", function()
    local bad = { "abc", "", "-5s", "5x", "1 h", "1h30", "1h 30m", "90S", "1.2.3s", "1e3", "0x10",
      "inf", "nan" }
    for _, text in ipairs(bad) do
      local err = expect(function() time.duration(text) end)
        .to_fail("bad duration '" .. text .. "' for time.duration")
      expect(err).to_match("^[^:]*time_spec%.lua:%d+: ")
      expect(err).to_contain('expected seconds or a string like "90s", "20m", "2h", "1h30m"')
    end
  end)

  it("rejects negative and non-finite numbers and other types", function()
    expect(function() time.duration(-1) end)
      .to_fail("bad duration %-1 for time.duration: expected a number of seconds >= 0")
    expect(function() time.duration(math.huge) end).to_fail("expected a number of seconds >= 0")
    expect(function() time.duration(0 / 0) end).to_fail("expected a number of seconds >= 0")
    expect(function() time.duration({}) end)
      .to_fail('bad duration for time.duration: expected seconds or a string like "20m", got table')
    expect(function() time.duration() end).to_fail("got no value")
  end)
end)

describe("time.format", function()
  it("formats seconds since the epoch as RFC 3339 UTC with milliseconds", function()
    expect(time.format(0)).to_be("1970-01-01T00:00:00.000Z")
    expect(time.format(1.5)).to_be("1970-01-01T00:00:01.500Z")
    expect(time.format(86400 * 365)).to_be("1971-01-01T00:00:00.000Z")
    expect(time.format(1700000000.25)).to_be("2023-11-14T22:13:20.250Z")
    expect(time.format(951782400)).to_be("2000-02-29T00:00:00.000Z")
  end)

  it("defaults to the run's clock", function()
    local now = time.now()
    expect(time.format()).to_be(time.format(now))
    expect(time.format()).to_match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$")
  end)

  it("rejects negative times and non-numbers", function()
    expect(function() time.format(-1) end).to_fail("time must be >= 0")
    expect(function() time.format(0 / 0) end).to_fail("time must be >= 0")
    expect(function() time.format({}) end).to_fail("number expected, got table")
  end)
end)

describe("time.now", function()
  it("has millisecond steps", function()
    local now = time.now()
    expect(now).to_be_a("number")
    expect(math.abs(now * 1000 - math.floor(now * 1000 + 0.5)) < 1e-3).to_be(true)
  end)

  it("follows the virtual clock by default, starting at the wall-clock time", function()
    expect(time.is_virtual()).to_be(true)
    local r = helpers.vmrun({ "-e", "print(time.is_virtual(), time.now() - os.time())" })
    expect(r.status).to_be(0)
    local virtual, offset = r.stdout:match("^(%a+)\t(%S+)\n$")
    expect(virtual).to_be("true")
    expect(math.abs(tonumber(offset)) < 5).to_be(true)
  end)

  it("follows the wall clock with --real-time", function()
    local r = helpers.vmrun({
      "--real-time", "-e",
      "local t0 = time.now(); task.sleep(0.2); print(time.is_virtual(), time.now() - t0)",
    })
    expect(r.status).to_be(0)
    local virtual, elapsed = r.stdout:match("^(%a+)\t(%S+)\n$")
    expect(virtual).to_be("false")
    expect(tonumber(elapsed) >= 0.19).to_be(true)
    expect(r.seconds >= 0.19).to_be(true)
  end)
end)
