-- cluster_queries_spec.lua: the typed queries of the `cluster` module (nodes, vmis, vms, pods,
-- pvcs, pdbs, migrations) and cluster.migration_limits on tests/lua/fixtures/queries_cluster.yaml:
-- filters, option checks with the caller's line, and the effective migration settings with the
-- source of each (HyperConverged over KubeVirt, MigrationPolicy per VMI; reference
-- kubevirt-migration.md §1.1, §1.2, §2.5).
local migconfig = require("vmrun.migconfig")

local fixtures = (os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/"
sim.load(fixtures .. "queries_cluster.yaml")
task.sleep(60) -- both VMs running

local function names(list)
  local out = {}
  for _, o in ipairs(list) do out[#out + 1] = o.metadata.name end
  return out
end

describe("cluster queries", function()
  it("list nodes, VMIs, VMs and pods with selectors and node filters", function()
    expect(names(cluster.nodes())).to_equal({ "worker-1", "worker-2" })
    expect(names(cluster.nodes({ selector = "zone=b" }))).to_equal({ "worker-2" })
    expect(names(cluster.vms({ namespace = "prod" }))).to_equal({ "db", "web" })
    expect(names(cluster.vmis({ selector = "tier=db" }))).to_equal({ "db" })
    local node = cluster.get("vmi", "prod", "db").status.nodeName
    local on_node = names(cluster.vmis({ node = node }))
    expect(on_node).to_contain("db")
    for _, vmi in ipairs(cluster.vmis({ node = node })) do expect(vmi.status.nodeName).to_be(node) end
    for _, pod in ipairs(cluster.pods({ node = node })) do expect(pod.spec.nodeName).to_be(node) end
    expect(#cluster.pods({ namespace = "prod", selector = "kubevirt.io=virt-launcher" })).to_be(2)
    expect(cluster.pvcs()).to_equal({})
    expect(#cluster.pdbs()).to_be(0)
  end)

  it("filter migrations by VMI and by whether they are still active", function()
    cluster.create({ apiVersion = "kubevirt.io/v1", kind = "VirtualMachineInstanceMigration",
      metadata = { name = "move-db", namespace = "prod" }, spec = { vmiName = "db" } })
    expect(names(cluster.migrations({ vmi = "db" }))).to_equal({ "move-db" })
    expect(cluster.migrations({ vmi = "web" })).to_equal({})
    expect(#cluster.migrations({ active = true })).to_be(1)
    for _ = 1, 25 do
      if #cluster.migrations({ active = true }) == 0 then break end
      task.sleep(1)
    end
    expect(cluster.get("vmim", "prod", "move-db").status.phase).to_be("Succeeded")
    expect(cluster.migrations({ active = true })).to_equal({})
    expect(names(cluster.migrations({ active = false, namespace = "prod" }))).to_equal({ "move-db" })
  end)

  it("refuse unknown options and wrong types at the caller's line", function()
    expect(function() cluster.nodes({ node = "x" }) end)
      .to_fail_with("usage", "cluster_queries_spec.lua:%d+: cluster.nodes: unknown option node")
    expect(function() cluster.vmis({ node = 3 }) end)
      .to_fail_with("usage", "cluster.vmis: option node must be a string, not a number")
    expect(function() cluster.migrations({ active = "yes" }) end)
      .to_fail_with("usage", "cluster.migrations: option active must be a boolean")
    expect(function() cluster.migrations({ vmii = "db" }) end)
      .to_fail_with("usage", "unknown option vmii %(active, field, namespace, selector, vmi%)")
    expect(function() cluster.pods("worker-1") end).to_fail_with("usage", "options must be a table")
  end)
end)

describe("cluster.migration_limits", function()
  it("reads the HyperConverged CR over the KubeVirt CR, and says where each value comes from", function()
    local l = cluster.migration_limits()
    -- HCO owns the KubeVirt CR: its default 5 wins over the CR's 7 (§1.2)
    expect(l.parallelMigrationsPerCluster.value).to_be(5)
    expect(l.parallelMigrationsPerCluster.source).to_contain("default for HyperConverged")
    expect(l.parallelOutboundMigrationsPerNode.value).to_be(1)
    expect(l.parallelOutboundMigrationsPerNode.source)
      .to_contain("spec.liveMigrationConfig.parallelOutboundMigrationsPerNode")
    expect(l.completionTimeoutPerGiB.value).to_be(30)
    expect(l.bandwidthPerMigration.value).to_be(0) -- unlimited
    expect(l.bandwidthPerMigration.source).to_contain("KubeVirt v1.5")
    expect(l.kubevirtVersion).to_be("v1.5")
    expect(l.migrationPolicy).to_be(vmrun.null)
  end)

  it("applies the MigrationPolicy that matches a VMI", function()
    local db = cluster.migration_limits({ "prod", "db" })
    expect(db.migrationPolicy).to_be("databases")
    expect(db.bandwidthPerMigration.value).to_be(1024 * 1024 * 1024)
    expect(db.bandwidthPerMigration.source).to_be("MigrationPolicy databases spec.bandwidthPerMigration")
    local web = cluster.migration_limits(cluster.get("vmi", "prod", "web"))
    expect(web.migrationPolicy).to_be(vmrun.null)
    expect(web.bandwidthPerMigration.value).to_be(0)
    local err = expect(function() cluster.migration_limits({ "prod", "nope" }) end)
      .to_fail_with("not_found", "cluster_queries_spec.lua:%d+: .*no VirtualMachineInstance prod/nope")
    expect(err.resource).to_be("VirtualMachineInstance prod/nope")
    expect(function() cluster.migration_limits("db") end).to_fail_with("usage", "VMI object")
  end)

  it("follows changes to the labels, the policies and the namespace; each caller gets its own copy", function()
    local web = cluster.get("vmi", "prod", "web")
    expect(cluster.migration_limits(web).migrationPolicy).to_be(vmrun.null)
    local mine = cluster.migration_limits(web)
    mine.bandwidthPerMigration.value = 42 -- a caller's change is its own
    expect(cluster.migration_limits(web).bandwidthPerMigration.value).to_be(0)
    -- the same labels as db: the same policy, for a VMI object that was never stored like this
    web.metadata.labels = web.metadata.labels or {}
    web.metadata.labels.tier = "db"
    expect(cluster.migration_limits(web).migrationPolicy).to_be("databases")
    web.metadata.labels.tier = "web"
    expect(cluster.migration_limits(web).migrationPolicy).to_be(vmrun.null)
    -- the policy now selects on another label
    local policy = cluster.get("MigrationPolicy", "databases")
    policy.spec.selectors.virtualMachineInstanceSelector = { tier = "web" }
    cluster.replace(policy)
    expect(cluster.migration_limits(web).migrationPolicy).to_be("databases")
    expect(cluster.migration_limits({ "prod", "db" }).migrationPolicy).to_be(vmrun.null)
    -- the namespace no longer matches
    cluster.patch("Namespace", "prod", { metadata = { labels = { env = "test" } } })
    expect(cluster.migration_limits(web).migrationPolicy).to_be(vmrun.null)
    cluster.patch("Namespace", "prod", { metadata = { labels = { env = "prod" } } })
    policy = cluster.get("MigrationPolicy", "databases")
    policy.spec.selectors.virtualMachineInstanceSelector = { tier = "db" }
    cluster.replace(policy)
    expect(cluster.migration_limits({ "prod", "db" }).migrationPolicy).to_be("databases")
    -- a malformed VMI is reported every time, also after good ones were kept
    web.spec = "garbage"
    expect(function() cluster.migration_limits(web) end).to_fail_with("input", "spec: expected an object")
    local vm = cluster.get("VirtualMachine", "prod", "db")
    vm.spec.template = 3
    expect(function() cluster.migration_limits(vm) end).to_fail_with("input")
  end)

  it("computes from the KubeVirt CR alone, and names the field of a CR that does not read", function()
    local kv = { apiVersion = "kubevirt.io/v1", kind = "KubeVirt",
      metadata = { name = "kubevirt", namespace = "kubevirt" },
      spec = { configuration = { migrations = { parallelMigrationsPerCluster = 7 } } },
      status = { observedKubeVirtVersion = "v1.3.1" } }
    local l = migconfig.effective(kv, nil, nil, nil, nil)
    expect(l.parallelMigrationsPerCluster.value).to_be(7)
    expect(l.completionTimeoutPerGiB.value).to_be(800) -- the default before v1.4
    expect(l.hyperConvergedVersion).to_be(vmrun.null)
    kv.spec.configuration.migrations.bandwidthPerMigration = "64Mx"
    expect(function() migconfig.effective(kv) end)
      .to_fail_with("input", "bandwidthPerMigration: '64Mx' is not a quantity")
    expect(function() migconfig.effective("kv") end).to_fail_with("usage", "must be a table or nil")
    local many = {}
    for i = 1, 4097 do many[i] = { metadata = { name = "p" .. i } } end
    expect(function() migconfig.effective(nil, nil, many, cluster.get("vmi", "prod", "db"), nil) end)
      .to_fail_with("input", "4097 MigrationPolicies; at most 4096 are read")
  end)
end)
