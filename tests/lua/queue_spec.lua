-- queue_spec.lua: the limit-aware migration queue on a simulated cluster: eight VMs leave a
-- cordoned node through q:run with limits 3 per cluster and 3 outbound per node, while a
-- migration that someone else started takes a slot; a monitor task checks at every simulated
-- half second that the limits hold, counting the foreign one. Then pinned targets with the
-- inbound limit, retries of a migration that cannot succeed, the plan, and the errors.
local helpers = require("spec_helpers")

local dir, remove_dir = helpers.tmpdir()
local docs = {}
for i = 1, 4 do
  docs[#docs + 1] = ([[
apiVersion: v1
kind: Node
metadata: {name: worker-%d, labels: {kubernetes.io/hostname: worker-%d, zone: z%d}}
spec: {unschedulable: %s}
status: {allocatable: {cpu: "32", memory: 128Gi}}]]):format(i, i, i, i == 1 and "false" or "true")
end
for i = 1, 9 do
  docs[#docs + 1] = ([[
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: vm-%d, namespace: prod}
spec:
  runStrategy: Always
  template: {spec: {domain: {resources: {requests: {memory: %dGi}}}}}]]):format(i,
    i == 9 and 48 or 1 + i % 4) -- vm-9 migrates long, for the foreign migration
end
-- KubeVirt's own limits above the queue's, so that only the queue's bind
docs[#docs + 1] = [[
apiVersion: kubevirt.io/v1
kind: KubeVirt
metadata: {name: kubevirt, namespace: kubevirt}
spec: {configuration: {migrations: {parallelMigrationsPerCluster: 10, parallelOutboundMigrationsPerNode: 10}}}]]
helpers.write_file(dir .. "/cluster.yaml", table.concat(docs, "\n---\n") .. "\n")
sim.load(dir .. "/cluster.yaml")
task.sleep(60) -- every VM runs on worker-1
for i = 2, 4 do node.uncordon("worker-" .. i, { force = true }) end
node.cordon("worker-1")

local function active()
  local total, out = 0, {}
  for _, m in ipairs(cluster.migrations({ active = true })) do
    local phase = m.status and m.status.phase
    if phase and phase ~= "Pending" then
      total = total + 1
      local vmi = cluster.get("vmi", m.metadata.namespace, m.spec.vmiName)
      local state = vmi.status.migrationState
      local src = state and state.migrationUid == m.metadata.uid and state.sourceNode or vmi.status.nodeName
      out[src] = (out[src] or 0) + 1
    end
  end
  return total, out
end

describe("queue", function()
  it("moves every VM off the node without going past the limits, counting a foreign migration", function()
    local foreign = cluster.migrate("prod/vm-9")
    while foreign:status().phase ~= "Running" do task.sleep(0.5) end
    local q = queue.new({ limits = { cluster = 3, outbound_per_node = 3, inbound_per_node = 0 } })
    for i = 1, 8 do q:add("prod/vm-" .. i) end
    local worst_total, worst_node, pending_ours = 0, 0, 0
    local monitor = task.spawn(function()
      while true do
        local total, out = active()
        worst_total = math.max(worst_total, total)
        for _, n in pairs(out) do worst_node = math.max(worst_node, n) end
        local pending = 0
        for _, m in ipairs(cluster.migrations({ active = true, selector = "app.kubernetes.io/managed-by=vmrun" })) do
          if (m.status and m.status.phase or "Pending") == "Pending" then pending = pending + 1 end
        end
        pending_ours = math.max(pending_ours, pending)
        task.sleep(0.5)
      end
    end)
    local events, etas = {}, {}
    local account = q:run({ timeout = "1h", on_event = function(e)
      events[#events + 1] = e.type
      etas[#etas + 1] = e.eta
    end })
    monitor:cancel("done")
    foreign:wait({ timeout = "10m" })
    expect(account.succeeded).to_be(8)
    expect(account.failed).to_be(0)
    expect(#cluster.vmis({ node = "worker-1" })).to_be(0)
    expect(worst_total <= 3).to_be(true)
    expect(worst_total).to_be(3) -- the limit is used, not just respected
    expect(worst_node <= 3).to_be(true)
    expect(pending_ours <= 3).to_be(true)
    local started = 0
    for _, e in ipairs(events) do if e == "started" then started = started + 1 end end
    expect(started).to_be(8)
    -- every event says how long the queue has left, from the migration model's estimates
    expect(#etas).to_be(#events)
    expect(etas[1] > 0).to_be(true)
    expect(etas[#etas]).to_be(0)
    for _, it in ipairs(account.items) do
      expect(it.state).to_be("done")
      expect(it.source).to_be("worker-1")
      expect(it.target).never.to_be("worker-1")
    end
  end, { timeout = "2h" })

  it("pins migrations to the given targets, at most one coming into each", function()
    node.uncordon("worker-1")
    for i = 2, 4 do node.cordon("worker-" .. i, { owner = "test" }) end
    node.uncordon("worker-3", { owner = "test" })
    node.uncordon("worker-4", { owner = "test" })
    local q = queue.new({ limits = { cluster = 5, outbound_per_node = 5, inbound_per_node = 1 },
      targets = { "worker-3", "worker-4" } })
    local vms = cluster.vmis({ node = "worker-2" })
    for _, vmi in ipairs(vms) do q:add(vmi) end
    local worst_in = 0
    local monitor = task.spawn(function()
      while true do
        local into = {}
        for _, m in ipairs(cluster.migrations({ active = true })) do
          local t = m.spec.addedNodeSelector and m.spec.addedNodeSelector["kubernetes.io/hostname"]
          if t then into[t] = (into[t] or 0) + 1 end
        end
        for _, n in pairs(into) do worst_in = math.max(worst_in, n) end
        task.sleep(0.5)
      end
    end)
    local account = q:run({ timeout = "1h" })
    monitor:cancel("done")
    expect(account.succeeded).to_be(#vms)
    expect(worst_in).to_be(1)
    for _, it in ipairs(account.items) do
      expect(it.target == "worker-3" or it.target == "worker-4").to_be(true)
    end
    node.uncordon("worker-2", { owner = "test" })
  end, { timeout = "2h" })

  it("retries a migration that fails, within its attempts, and reports it failed", function()
    -- the only target, worker-2, is cordoned: the target pod stays unschedulable, KubeVirt fails
    -- the migration after 5 minutes
    node.cordon("worker-2", { owner = "test" })
    local q = queue.new({ limits = { cluster = 2, outbound_per_node = 2 }, targets = { "worker-2" },
      retry = { max_attempts = 2, budget = 5, backoff = 30, max_backoff = 60 } })
    local vmi = cluster.vmis({ node = "worker-3" })[1]
    expect(vmi).never.to_be_nil()
    q:add(vmi)
    local kinds = {}
    local account = q:run({ timeout = "1h", on_event = function(e) kinds[#kinds + 1] = e.type end })
    expect(account.failed).to_be(1)
    expect(account.items[1].attempts).to_be(2)
    expect(table.concat(kinds, ",")).to_be("started,retry,started,failed")
    expect(account.items[1].reason).to_contain("unschedulable")
    node.uncordon("worker-2", { owner = "test" })
  end, { timeout = "2h" })

  it("skips a VMI that stopped or left its node before its turn", function()
    local q = queue.new({ limits = { cluster = 1, outbound_per_node = 1 } })
    local vmis = cluster.vmis({ node = "worker-3" })
    expect(#vmis >= 2).to_be(true)
    local first, second = vmis[1], vmis[2]
    q:add(first, { estimate = "1m", priority = 1 })
    q:add(second)
    -- stop the second VM while the first migrates
    cluster.patch("VirtualMachine", "prod", second.metadata.name, { spec = { runStrategy = "Halted" } })
    local kinds = {}
    local account = q:run({ timeout = "1h", on_event = function(e) kinds[#kinds + 1] = e.type end })
    expect(account.succeeded).to_be(1)
    expect(account.skipped).to_be(1)
    expect(account.items[2].state).to_be("skipped")
    expect(account.items[2].reason).to_be("the VMI is gone or not running")
    expect(account.items[2].attempts).to_be(0)
    expect(table.concat(kinds, ",")).to_be("started,succeeded,skipped") -- one slot: in turn
    cluster.patch("VirtualMachine", "prod", second.metadata.name, { spec = { runStrategy = "Always" } })
    task.sleep(30)
  end, { timeout = "2h" })

  it("pins a migration only to a target with room for its second copy", function()
    local vmi = cluster.vmis({ node = "worker-3" })[1]
    local function queue_to_worker_1()
      local q = queue.new({ limits = { cluster = 1, outbound_per_node = 1 }, targets = { "worker-1" } })
      q:add(vmi)
      return q:plan()
    end
    expect(type(queue_to_worker_1())).to_be("number")
    cluster.create({ apiVersion = "v1", kind = "Pod", metadata = { name = "filler", namespace = "prod" },
      spec = { nodeName = "worker-1", containers = { { name = "c", image = "busybox",
        resources = { requests = { memory = "127Gi" } } } } }, status = { phase = "Running" } })
    local seconds, stuck = queue_to_worker_1()
    expect(seconds).to_be_nil()
    expect(stuck).to_be("prod/" .. vmi.metadata.name)
    cluster.delete("Pod", "prod", "filler", { grace_period = 0 })
    task.sleep(1)
    expect(type(queue_to_worker_1())).to_be("number")
  end)

  it("estimates a migration from the migration model", function()
    local function vmi(memory, annotations)
      return { metadata = { namespace = "prod", name = "x", annotations = annotations },
        spec = { domain = { resources = { requests = { memory = memory } } } },
        status = { nodeName = "worker-1" } }
    end
    -- 2 GiB over the default 10 GbE link (1250 MiB/s), plus 5 s for the target pod
    local seconds, details = queue.estimate(vmi("2Gi"), { limits = {} })
    expect(math.abs(seconds - (5 + 2048 / 1250)) < 0.01).to_be(true)
    expect(details.outcome).to_be("completed")
    expect(details.passes).to_be(1)
    -- shared by two migrations: twice as long on the wire
    expect(math.abs(queue.estimate(vmi("2Gi"), { limits = {}, share = 2 }) - (5 + 4096 / 1250)) < 0.01)
      .to_be(true)
    -- a guest that dirties memory faster than the link: KubeVirt's completion timeout ends it
    local _, fails = queue.estimate(vmi("8Gi", { ["vmrun.io/dirty-rate"] = "2Gi" }), { limits = {} })
    expect(fails.outcome).to_be("failed")
    expect(fails.reason).to_contain("has been aborted")
    -- unless post-copy may finish it
    local _, post = queue.estimate(vmi("8Gi", { ["vmrun.io/dirty-rate"] = "2Gi" }),
      { limits = { allowPostCopy = { value = true } } })
    expect(post.outcome).to_be("completed")
  end)

  it("starts an item added while it runs at the next poll, with nothing else changing", function()
    local running = cluster.vmis({ node = "worker-3", field = "status.phase=Running" })
    local q = queue.new({ limits = { cluster = 3, outbound_per_node = 3, inbound_per_node = 0 } })
    q:add(running[1], { estimate = "30s" })
    local t0, added, started = time.now(), nil, {}
    task.spawn(function()
      task.sleep(2.5)
      added = q:add(running[2], { estimate = "30s" })
    end)
    local account = q:run({ timeout = "1h", on_event = function(e)
      if e.type == "started" then started[e.item] = time.now() - t0 end
    end })
    expect(added).to_be(2)
    expect(started[2]).to_be(3) -- the first poll after the add (every second from the start)
    expect(account.succeeded).to_be(2)
  end, { timeout = "2h" })

  it("plans the time the queue needs, and refuses bad options", function()
    local q = queue.new({ limits = { cluster = 1, outbound_per_node = 1 } })
    local vmis = cluster.vmis({ node = "worker-3" })
    for _, vmi in ipairs(vmis) do q:add(vmi, { estimate = "30s" }) end
    local total, etas = q:plan()
    expect(total).to_be(30 * #vmis)
    for i = 1, #vmis do -- one slot: one after the other, in the order of adding
      expect(etas[i]).to_equal({ vmi = "prod/" .. vmis[i].metadata.name, seconds = 30 * i })
    end
    expect(function() queue.new({ limit = {} }) end).to_fail_with("usage", "unknown option limit")
    expect(function() queue.new({ targets = { "worker-9" } }) end)
      .to_fail_with("usage", "target worker%-9 is not a node")
    expect(function() queue.new({ limits = { cluster = 0 } }) end)
      .to_fail_with("usage", "limits out of range")
    expect(function() q:add("prod/none") end).to_fail_with("input", "does not exist")
    expect(function() q:add("vm-1") end).to_fail_with("usage", "namespace/name")
    expect(function() q:add(vmis[1]) end).to_fail_with("usage", "is queued already")
    expect(function() q:add("prod/vm-1", { prio = 1 }) end).to_fail_with("usage", "unknown option prio")
    expect(function() q:run({ timout = "1h" }) end).to_fail_with("usage", "unknown option timout")
    expect(function() q:run({ poll = 0 }) end).to_fail_with("usage", "poll must be more than 0")
    expect(function() queue.new({ targets = "worker-2" }) end).to_fail_with("usage", "list of node names")
    expect(function() queue.new({ limits = { cluster = "3" } }) end).to_fail_with("usage", "must be an integer")
    -- an item that no target can ever take fails instead of waiting for ever
    local stuck = queue.new({ limits = { cluster = 2, outbound_per_node = 2 }, targets = { "worker-3" } })
    stuck:add(vmis[1])
    expect(stuck:plan()).to_be_nil()
    local account = stuck:run({ timeout = "1h" })
    expect(account.failed).to_be(1)
    expect(account.items[1].reason).to_contain("no target node may take it")
    remove_dir()
  end)
end)
