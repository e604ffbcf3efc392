-- rolling_returning_spec.lua: a node still to do that is cordoned now (a node that failed in an
-- earlier attempt, retried by `vmrun resume --retry-failed`) comes back when its turn is done
-- (tests/lua/fixtures/rolling_returning_cluster.yaml). maintenance.rolling holds back a node
-- whose VM only that node could take (w2: its VM y selects gpu=yes, and the other gpu node, w1,
-- is cordoned) until the cordoned node is done, instead of draining it into a failure; and
-- preflight.vms counts the nodes it is told will be back as targets, without that verdict
-- sticking to later calls that are not told so. (rolling_returning_last_spec.lua: the node they
-- wait for comes last.)
sim.load((os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/rolling_returning_cluster.yaml")
cluster.settle()

describe("a cordoned node that the run brings back", function()
  it("is a target for preflight.vms only when it is named schedulable", function()
    local y = cluster.get("vmi", "prod", "y")
    expect(preflight.vms({ y }, { room = false })[1].targets).to_equal({})
    expect(preflight.vms({ y }, { room = false, schedulable = { "w1" } })[1].targets).to_equal({ "w1" })
    -- the same cluster revision: the verdict made with w1 schedulable is not reused
    local again = preflight.vms({ y }, { room = false })[1]
    expect(again.targets).to_equal({})
    expect(again.reasons).to_equal({ "NoFeasibleTarget" })
    local ok, err = pcall(preflight.vms, { y }, { schedulable = "w1" })
    expect(ok).to_be(false)
    expect(tostring(err.message)).to_contain("option schedulable must be a list of node names")
  end)

  it("goes first when a node's VM can only go to it", function()
    local batches, waited = {}, {}
    local report = maintenance.rolling({ batch = 1, nodes = { "w1", "w2" }, others = "warn",
      on_event = function(ev)
        if ev.type == "batch_started" then
          batches[#batches + 1] = table.concat(ev.nodes, ",")
          for _, w in ipairs(ev.waited) do waited[#waited + 1] = w.node .. ": " .. table.concat(w.vms, ",") end
        end
      end })
    -- by VM memory w2 (4Gi) would go before w1 (8Gi); y has no place until w1 is back
    expect(batches).to_equal({ "w1", "w2" })
    expect(waited).to_equal({ "w2: prod/y" })
    expect(report.failed_nodes).to_be(0)
    expect(report.failed_vms).to_be(0)
    expect(cluster.get("vmi", "prod", "y").status.nodeName).to_be("w1")
    expect(cluster.get("vmi", "prod", "x").status.nodeName).to_be("w3")
    for _, n in ipairs(cluster.list("Node")) do expect((n.spec or {}).unschedulable or false).to_be(false) end
  end, { timeout = "2h" })
end)
