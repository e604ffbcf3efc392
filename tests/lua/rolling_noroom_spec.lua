-- rolling_noroom_spec.lua: maintenance.rolling counts as movers only the VMs that some allowed
-- node has room for when the batch is chosen (tests/lua/fixtures/rolling_noroom_cluster.yaml):
-- after the first batch a pod fills w1, the only node with room left, so the VMs of w2 and w3
-- have nowhere to go. Pre-flight says NoFeasibleTarget for them; they do not hold their nodes
-- back, both nodes form the next batch, and their drains fail and say why (the failure budget
-- then stops the run) instead of the nodes waiting for a room that never comes.
sim.load((os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/rolling_noroom_cluster.yaml")
cluster.settle()

describe("maintenance.rolling and VMs that no node has room for", function()
  it("does not let them hold their nodes out of a batch", function()
    local batches, waited, done = {}, {}, 0
    local report = maintenance.rolling({ batch = 2, nodes = { "w1", "w2", "w3", "w4" },
      on_event = function(ev)
        if ev.type == "batch_started" then
          batches[#batches + 1] = table.concat(ev.nodes, ",")
          for _, w in ipairs(ev.waited) do waited[#waited + 1] = w.node end
        elseif ev.type == "batch_done" then
          done = done + 1
          if done == 1 then -- w1 is back and empty: fill it
            cluster.create({ apiVersion = "v1", kind = "Pod", metadata = { name = "hog", namespace = "default" },
              spec = { nodeName = "w1", containers = { { name = "c", image = "x",
                resources = { requests = { memory = "35Gi" } } } } }, status = { phase = "Running" } })
          end
        end
      end })
    expect(batches).to_equal({ "w1", "w2,w3" })
    expect(waited).to_equal({ "w2", "w3", "w4" }) -- while w1 is out, nothing else fits beside it
    expect(report.failed_nodes).to_be(2)
    local reasons = {}
    for _, n in ipairs(report.nodes) do
      if n.state == "failed" then reasons[#reasons + 1] = n.error end
    end
    expect(#reasons).to_be(2)
    expect(reasons[1]).to_contain("no target node may take it")
  end, { timeout = "2h" })
end)
