-- rolling_room_spec.lua: maintenance.rolling chooses each batch with the room the cluster has
-- when the batch starts (tests/lua/fixtures/rolling_room_cluster.yaml): asked for batches of 2,
-- it drains one node at a time because the VMs of two nodes never fit on the third, says which
-- node waits and why, and migrates every VM without a failure.
sim.load((os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/rolling_room_cluster.yaml")
cluster.settle()

describe("maintenance.rolling and the room for a batch", function()
  it("drains no more nodes at once than the others have room for", function()
    local uids, where = {}, {}
    for _, vmi in ipairs(cluster.vmis()) do
      uids[vmi.metadata.name] = vmi.metadata.uid
      where[vmi.status.nodeName] = true
    end
    expect(where).to_equal({ w1 = true, w2 = true, w3 = true }) -- one VM on each node
    local waited = {}
    local report = maintenance.rolling({ batch = 2, on_event = function(ev)
      if ev.type == "batch_started" then
        for _, w in ipairs(ev.waited) do waited[#waited + 1] = w end
      end
    end })
    expect(report.failed_nodes).to_be(0)
    expect(report.failed_vms).to_be(0)
    expect(#report.batches).to_be(3)
    for _, b in ipairs(report.batches) do expect(#b.nodes).to_be(1) end
    expect(#waited >= 1).to_be(true) -- the second node of a batch waited, for want of room
    expect(#waited[1].vms).to_be(1)
    expect(waited[1].vms[1]).to_match("^prod/[abc]$")
    for _, vmi in ipairs(cluster.vmis()) do -- each one migrated, never restarted
      expect(vmi.status.phase).to_be("Running")
      expect(vmi.metadata.uid).to_be(uids[vmi.metadata.name])
    end
  end, { timeout = "2h" })
end)
