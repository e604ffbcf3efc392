-- settle_spec.lua: cluster.settle on tests/lua/fixtures/rolling_cluster.yaml: it returns once
-- every VM that should run is running, and raises kind "timeout" naming a VM that cannot start
-- (it asks for more memory than any node has), counting what starts without listing it.
sim.load((os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/rolling_cluster.yaml")

describe("cluster.settle", function()
  it("waits until the VMs that should run are running", function()
    local waited = cluster.settle()
    expect(waited > 0).to_be(true)
    for _, vmi in ipairs(cluster.vmis()) do expect(vmi.status.phase).to_be("Running") end
    expect(cluster.settle() < 0.1).to_be(true) -- nothing left to wait for
  end)

  it("names what is still starting when it gives up", function()
    cluster.create({ apiVersion = "kubevirt.io/v1", kind = "VirtualMachine",
      metadata = { name = "huge", namespace = "prod" },
      spec = { runStrategy = "Always", template = { spec = { domain = {
        resources = { requests = { memory = "1Ti" } } } } } } })
    local err = expect(function() cluster.settle({ timeout = "1m" }) end)
      .to_fail_with("timeout", "still starting after 60 s")
    expect(err.message).to_contain("prod/huge")
  end, { timeout = "5m" })
end)
