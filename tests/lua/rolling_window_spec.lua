-- rolling_window_spec.lua: maintenance.rolling's window budget (window_end, step_estimate) and
-- approval gates (approve) on tests/lua/fixtures/rolling_cluster.yaml: a batch whose estimate
-- does not fit in what is left of the window is not started and the run pauses with nothing left
-- cordoned; a window that ends later lets the whole run through; a gate's denial stops the run
-- before the batch it guards; bad options at the caller's line.
sim.load((os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/rolling_cluster.yaml")

local function cordoned(name) return (cluster.get("Node", name).spec or {}).unschedulable == true end
local function none_cordoned()
  for _, n in ipairs(cluster.list("Node")) do
    if cordoned(n.metadata.name) then return false end
  end
  return true
end

describe("maintenance.rolling in a window", function()
  it("starts nothing when the first batch does not fit in what is left", function()
    cluster.settle()
    local events = {}
    local report = maintenance.rolling({ window_end = time.now() + 300, step_estimate = "10m",
      on_event = function(ev) events[#events + 1] = ev end })
    expect(report.paused).to_match("^paused before batch 1 %(")
    expect(report.paused).to_match("step and Ready 10m00s by step_estimate")
    expect(report.paused).to_match("the window ends in 5m00s; 4 node%(s%) not started")
    expect(report.stopped).to_be(report.paused)
    expect(#report.nodes).to_be(0)
    expect(none_cordoned()).to_be(true)
    local last = events[#events]
    expect(last.type).to_be("paused")
    expect(last.batch).to_be(1)
    expect(last.need > last.left).to_be(true)
  end, { timeout = "6h" })

  it("pauses before the batch that would overrun, after the ones that fit", function()
    local deadline = time.now() + 7200
    local report = maintenance.rolling({ window_end = deadline, step_estimate = "5m",
      hooks = { after_batch = function(_, brec)
        -- the first batch ran long: a minute is left
        if brec.index == 1 then task.sleep(deadline - time.now() - 60) end
      end } })
    expect(#report.batches).to_be(1)
    expect(report.paused).to_match("^paused before batch 2 %(")
    expect(report.paused).to_match("as seen on 2 node%(s%)") -- the first batch's own times
    expect(report.paused).to_match("the window ends in 1m00s; 2 node%(s%) not started")
    for _, n in ipairs(report.nodes) do expect(n.state).to_be("done") end
    expect(#report.nodes).to_be(2)
    expect(none_cordoned()).to_be(true)
  end, { timeout = "6h" })

  it("runs whole when the window is long enough, its end given as an RFC 3339 time", function()
    local report = maintenance.rolling({ window_end = os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + 4 * 3600) })
    expect(report.paused).to_be_nil()
    expect(report.stopped).to_be_nil()
    expect(#report.nodes).to_be(4)
    for _, n in ipairs(report.nodes) do expect(n.state).to_be("done") end
  end, { timeout = "6h" })

  it("refuses a window_end that is not a time, at the caller's line", function()
    expect(function() maintenance.rolling({ window_end = "tomorrow" }) end)
      .to_fail_with("usage", "rolling_window_spec.lua:%d+: maintenance.rolling: window_end \"tomorrow\" is not an RFC 3339 time")
    expect(function() maintenance.rolling({ window_end = true }) end)
      .to_fail_with("usage", "rolling_window_spec.lua:%d+: maintenance.rolling: window_end must be a time")
  end, { timeout = "6h" })
end)

describe("maintenance.rolling with approval gates", function()
  it("asks before each batch (approve.before = batch) and goes on when approved", function()
    local asked = {}
    local report = maintenance.rolling({ approve = { before = "batch", default = true },
      on_event = function(ev) if ev.type == "approval" then asked[#asked + 1] = ev end end })
    expect(#asked).to_be(2)
    expect(asked[1].batch).to_be(1)
    expect(asked[2].batch).to_be(2)
    expect(asked[2].approved).to_be(true)
    expect(asked[2].how).to_be("default")
    expect(report.stopped).to_be_nil()
    expect(#report.batches).to_be(2)
    expect(#report.nodes).to_be(4)
  end, { timeout = "6h" })

  it("stops before the first batch, nothing changed, when the run is not approved", function()
    local events = {}
    local report = maintenance.rolling({ approve = { before = "run", default = false },
      on_event = function(ev) events[#events + 1] = ev end })
    expect(report.stopped).to_match("^batch 1 %(w%d, w%d%) not approved %(default: the default: ")
    expect(report.stopped).to_match("4 node%(s%) not started; `vmrun resume` asks again")
    expect(#report.nodes).to_be(0)
    expect(none_cordoned()).to_be(true)
    expect(events[#events].type).to_be("not_approved")
  end, { timeout = "6h" })

  it("refuses a gate nobody can answer before anything changes, and bad approve options", function()
    expect(function() maintenance.rolling({ approve = true }) end)
      .to_fail_with("usage", "nobody can answer")
    expect(none_cordoned()).to_be(true)
    expect(function() maintenance.rolling({ approve = "sometimes" }) end)
      .to_fail_with("usage", "rolling_window_spec.lua:%d+: maintenance.rolling: approve must be true, \"run\", \"batch\"")
    expect(function() maintenance.rolling({ approve = { before = "node" } }) end)
      .to_fail_with("usage", "approve.before must be")
  end, { timeout = "6h" })
end)
