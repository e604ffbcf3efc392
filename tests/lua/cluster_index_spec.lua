-- cluster_index_spec.lua: the listings that the store answers from an index give what a full
-- listing filtered in Lua gives (tests/lua/fixtures/queries_cluster.yaml, with migrations made
-- here): cluster.migrations{active=true} (the unfinished index), cluster.migrations{namespace=,
-- vmi=} (the reference index), cluster.names; cluster.revision(kind) moves only with its kind,
-- and the stdlib's shared reads (vmrun.snapshot) follow it.
sim.load((os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/queries_cluster.yaml")
task.sleep(60)

local FINAL = { Succeeded = true, Failed = true }

local function keys(list)
  local out = {}
  for _, o in ipairs(list) do out[#out + 1] = o.metadata.namespace .. "/" .. o.metadata.name end
  return out
end

local function filtered(pred)
  local out = {}
  for _, m in ipairs(cluster.list("vmim")) do
    if pred(m) then out[#out + 1] = m end
  end
  return keys(out)
end

describe("indexed listings", function()
  it("lists the unfinished and a VMI's migrations as a full listing does", function()
    local vmi_rev = cluster.revision("vmi")
    local before = cluster.revision("vmim")
    local done = cluster.migrate("prod/db")
    done:wait({ timeout = "10m" })
    expect(cluster.revision("vmim") ~= before).to_be(true)
    local nowhere = cluster.migrate("prod/web", { added_node_selector = { zone = "nowhere" } })
    local pending = cluster.migrate("prod/web", { added_node_selector = { zone = "nowhere" } })
    task.sleep(2)
    local active = keys(cluster.migrations({ active = true }))
    expect(#active >= 1).to_be(true)
    expect(active).to_equal(filtered(function(m) return not FINAL[m.status and m.status.phase] end))
    for _, vmi in ipairs({ "db", "web" }) do
      expect(keys(cluster.migrations({ namespace = "prod", vmi = vmi })))
        .to_equal(filtered(function(m) return m.spec.vmiName == vmi end))
    end
    expect(keys(cluster.migrations({ namespace = "prod", vmi = "db", active = true }))).to_equal({})
    nowhere:cancel()
    pending:cancel()
    task.sleep(5)
    expect(keys(cluster.migrations({ active = true })))
      .to_equal(filtered(function(m) return not FINAL[m.status and m.status.phase] end))
    expect(cluster.revision("vmi") ~= vmi_rev).to_be(true) -- the migration moved a VMI
  end, { timeout = "20m" })

  it("names objects as cluster.list lists them", function()
    local nodes = {}
    for _, n in ipairs(cluster.nodes()) do nodes[#nodes + 1] = n.metadata.name end
    expect(cluster.names("Node")).to_equal(nodes)
    expect(cluster.names("vmi", { namespace = "prod" })).to_equal(keys(cluster.vmis({ namespace = "prod" })))
    expect(cluster.names("Pod", { selector = "kubevirt.io=virt-launcher" }))
      .to_equal(keys(cluster.pods({ selector = "kubevirt.io=virt-launcher" })))
  end)

  it("reads one field of an object", function()
    local vmi = cluster.get("vmi", "prod", "db")
    expect(cluster.get_field("vmi", "prod", "db", "status.nodeName")).to_be(vmi.status.nodeName)
    expect(cluster.get_field("vmi", "prod", "db", "metadata.labels")).to_equal(vmi.metadata.labels)
    expect(cluster.get_field("vmi", "prod", "db", "status.nothing.here")).to_be_nil()
    expect(cluster.get_field("vmi", "prod", "nosuch", "status")).to_be_nil()
    local first = cluster.nodes()[1]
    expect(cluster.get_field("Node", nil, first.metadata.name, "metadata.name")).to_be(first.metadata.name)
    expect(function() cluster.get_field("vmi", nil, "db", "status") end).to_fail_with("usage")
    expect(function() cluster.get_field("vmi", "prod", "db", "") end).to_fail_with("usage")
    expect(function() cluster.get_field("vmi", "prod", "db", "status..phase") end).to_fail_with("usage")
  end)

  it("moves a kind's revision only when that kind changes", function()
    local nodes, vmims = cluster.revision("Node"), cluster.revision("vmim")
    local first = cluster.nodes()[1].metadata.name
    cluster.patch("Node", first, { metadata = { labels = { touched = "yes" } } }, { type = "merge" })
    expect(cluster.revision("Node")).to_be(cluster.revision())
    expect(cluster.revision("Node") ~= nodes).to_be(true)
    expect(cluster.revision("vmim")).to_be(vmims)
    expect(cluster.revision("PodDisruptionBudget")).to_be("0") -- none in this cluster
    expect(function() cluster.revision("Nonsense") end).to_fail_with("usage")
  end)

  it("keeps the stdlib's shared reads until their kind changes", function()
    local snapshot = require("vmrun.snapshot")
    local first = cluster.nodes()[1].metadata.name
    local list, by_name = snapshot.nodes()
    expect(select(1, snapshot.nodes())).to_be(list) -- the same table while no node changes
    expect(#list).to_be(#cluster.nodes())
    cluster.patch("Node", first, { metadata = { labels = { again = "yes" } } }, { type = "merge" })
    local _, now = snapshot.nodes()
    expect(now).never.to_be(by_name)
    expect(now[first].metadata.labels.again).to_be("yes")
    for name, n in pairs(now) do -- only the changed node was read again
      if name ~= first then expect(n).to_be(by_name[name]) end
    end
    expect(now[first]).never.to_be(by_name[first])
    local used = snapshot.requests_by_node()
    expect(used).to_equal((cluster.requests_by_node()))
    expect(snapshot.requests_by_node()).to_be(used)
    cluster.create({ apiVersion = "v1", kind = "Pod", metadata = { name = "extra", namespace = "prod" },
      spec = { nodeName = first, containers = { { name = "c", resources = { requests = { cpu = "1" } } } } } })
    local after = snapshot.requests_by_node()
    expect(after[first].cpu).to_be((used[first] and used[first].cpu or 0) + 1000)
    expect(snapshot.node_offers()[first].cpu).to_be(select(2, queue.node_resources(now[first])))
  end)
end)
