-- rolling_returning_last_spec.lua: maintenance.rolling looks at no more than 4 x batch candidates
-- for a batch; when every one of them waits for a node still to do that vmrun cordoned (it comes
-- back when its turn is done) and that node comes later in the order, that node goes alone first
-- rather than the first candidate, whose drain could only fail
-- (tests/lua/fixtures/rolling_returning_last_cluster.yaml).
sim.load((os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/rolling_returning_last_cluster.yaml")
cluster.settle()

describe("a cordoned node that the run brings back, behind the nodes that wait for it", function()
  it("goes alone first", function()
    local batches = {}
    local report = maintenance.rolling({ batch = 1, nodes = { "w1", "w2", "w3", "w4", "w5" }, others = "warn",
      on_event = function(ev)
        if ev.type == "batch_started" then batches[#batches + 1] = table.concat(ev.nodes, ",") end
      end })
    expect(batches[1]).to_be("w1")
    expect(#batches).to_be(5)
    expect(report.failed_nodes).to_be(0)
    for _, name in ipairs({ "ya", "yb", "yc", "yd" }) do
      expect(cluster.get("vmi", "prod", name).status.nodeName).to_be("w1")
    end
    expect(cluster.get("vmi", "prod", "x").status.nodeName).to_be("w6")
  end, { timeout = "4h" })
end)
