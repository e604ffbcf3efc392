-- actors_spec.lua: the other maintenance actors (actors.detect, actors.check) on
-- tests/lua/fixtures/coordination_cluster.yaml. kured's lock is written on its DaemonSets as kured
-- writes it (one lock, or several with --concurrency; TTLs in nanoseconds, or kured's --lock-ttl);
-- NodeMaintenances are run by the simulator's operator (waiting, Running while a budget holds a
-- pod, Succeeded, ending; and the older kubevirt group); MachineConfigPools get the status the
-- Machine Config Operator gives them; nodes are cordoned as kubectl and as vmrun cordon them.
-- Then each policy: refuse (kind "busy"), warn, ignore, skip, and bad policies. after_each puts
-- the cluster back as the fixture has it.
sim.load((os.getenv("VMRUN_SOURCE_DIR") or ".") .. "/tests/lua/fixtures/coordination_cluster.yaml")

local k8stime = require("vmrun.k8stime")
local helpers = require("spec_helpers")

local KURED = "weave.works/kured-node-lock"

local function set_kured_lock(namespace, name, value)
  cluster.patch("DaemonSet", namespace, name, { metadata = { annotations = { [KURED] = value or vmrun.null } } },
    { type = "merge" })
end

-- A time as Go's encoding/json writes it (RFC 3339 with nanoseconds), as kured records "created".
local function go_time(t) return (k8stime.micro(t):gsub("Z$", "789Z")) end

local function kured_lock(node_id, created, ttl_seconds)
  return { nodeID = node_id, metadata = { unschedulable = false }, created = go_time(created),
    TTL = math.floor((ttl_seconds or 0) * 1e9) }
end

local UP_TO_DATE = { updatedMachineCount = 4, machineCount = 4,
  conditions = { { type = "Updated", status = "True" }, { type = "Updating", status = "False" } } }

local function set_pool(name, status, paused)
  cluster.patch("MachineConfigPool", name, { spec = { paused = paused or vmrun.null }, status = status },
    { type = "merge" })
end

-- kubectl cordon: unschedulable, no vmrun mark.
local function kubectl_cordon(name) cluster.patch("Node", name, { spec = { unschedulable = true } }) end

-- Runs fn with log.warn and log.debug recorded (and not written).
local function logged(fn) return helpers.logged({ "warn", "debug" }, fn) end

local function kinds_and_names(found)
  local out = {}
  for _, a in ipairs(found) do out[#out + 1] = a.kind .. " " .. a.name end
  return out
end

after_each(function()
  set_kured_lock("kube-system", "kured", nil)
  set_kured_lock("kured", "kured-ttl", nil)
  set_pool("worker", UP_TO_DATE)
  set_pool("master", { updatedMachineCount = 1, machineCount = 1, conditions = UP_TO_DATE.conditions })
  for _, kind in ipairs({ "NodeMaintenance", "nodemaintenance.kubevirt.io/NodeMaintenance" }) do
    for _, nm in ipairs(cluster.list(kind)) do cluster.delete(kind, nm.metadata.name) end
    while #cluster.list(kind) > 0 do task.sleep(1) end
  end
  for _, n in ipairs(cluster.nodes()) do
    node.uncordon(n.metadata.name, { force = true })
    cluster.patch("Node", n.metadata.name, { metadata = { annotations = {
      ["machineconfiguration.openshift.io/state"] = vmrun.null } } })
  end
end)

describe("actors.detect", function()
  it("finds none on a quiet cluster (kured installed without a lock, pools up to date)", function()
    expect(actors.detect()).to_equal({})
  end)

  it("kured's lock for a node, with the TTL it recorded", function()
    local created = time.now() - 300
    set_kured_lock("kube-system", "kured", json.encode(kured_lock("worker-2", created, 1800)))
    expect(actors.detect()).to_equal({ {
      kind = "kured", name = "kube-system/kured", what = "kured (DaemonSet kube-system/kured)", nodes = { "worker-2" },
      reason = ("holds its reboot lock for node worker-2 since %s (expires at %s)"):format(time.format(created),
        time.format(created + 1800)),
    } })
    -- the same lock past its TTL: kured itself would take it over
    set_kured_lock("kube-system", "kured", json.encode(kured_lock("worker-2", time.now() - 1801, 1800)))
    expect(actors.detect()).to_equal({})
  end)

  it("kured's lock without a TTL holds until kured releases it; kured's --lock-ttl applies to it", function()
    local created = time.now() - 86400
    set_kured_lock("kube-system", "kured", json.encode(kured_lock("worker-1", created)))
    local found = actors.detect()
    expect(#found).to_be(1)
    expect(found[1].reason).to_be(("holds its reboot lock for node worker-1 since %s (no TTL: until kured "
      .. "releases it)"):format(time.format(created)))
    set_kured_lock("kube-system", "kured", nil)
    -- the kured in namespace kured runs with --lock-ttl=30m
    local recent = time.now() - 600
    set_kured_lock("kured", "kured-ttl", json.encode(kured_lock("worker-3", recent)))
    found = actors.detect()
    expect(kinds_and_names(found)).to_equal({ "kured kured/kured-ttl" })
    expect(found[1].reason).to_contain(("(expires at %s)"):format(time.format(recent + 1800)))
    set_kured_lock("kured", "kured-ttl", json.encode(kured_lock("worker-3", time.now() - 3600)))
    expect(actors.detect()).to_equal({})
  end)

  it("kured's lock with several owners (--concurrency) names each node; an emptied one none", function()
    local t1, t3 = time.now() - 120, time.now() - 60
    set_kured_lock("kube-system", "kured", json.encode({ maxOwners = 2,
      locks = { kured_lock("worker-1", t1, 3600), kured_lock("worker-3", t3, 3600) } }))
    local found = actors.detect()
    expect(#found).to_be(1)
    expect(found[1].nodes).to_equal({ "worker-1", "worker-3" })
    expect(found[1].reason).to_be(("holds its reboot lock for node worker-1 since %s (expires at %s), node "
      .. "worker-3 since %s (expires at %s)"):format(time.format(t1), time.format(t1 + 3600), time.format(t3),
      time.format(t3 + 3600)))
    set_kured_lock("kube-system", "kured", '{"maxOwners":2,"locks":[]}')
    expect(actors.detect()).to_equal({})
    set_kured_lock("kube-system", "kured", '{"maxOwners":2,"locks":null}')
    expect(actors.detect()).to_equal({})
  end)

  it("a lock set by hand or held for a deleted node holds kured off: none; one that does not read is taken as held", function()
    set_kured_lock("kube-system", "kured", '{"nodeID":"manual"}')
    set_kured_lock("kured", "kured-ttl", json.encode(kured_lock("worker-9", time.now())))
    expect(actors.detect()).to_equal({})
    set_kured_lock("kube-system", "kured", "worker-2")
    local found = actors.detect()
    expect(kinds_and_names(found)).to_equal({ "kured kube-system/kured" })
    expect(found[1].nodes).to_equal({})
    expect(found[1].reason).to_match("^has a reboot lock that does not read %(weave%.works/kured%-node%-lock: .+%), taken as held$")
  end)

  it("NodeMaintenances: waiting, draining, holding a node of the run, ending; the older kubevirt group", function()
    node.maintenance("worker-2", "disk replacement", { name = "nm-w2" })
    expect(actors.detect()).to_equal({ { kind = "node_maintenance", name = "nm-w2", nodes = { "worker-2" },
      what = "NodeMaintenance nm-w2 (node worker-2, created by vmrun)",
      reason = "waits for the operator to drain node worker-2 (no phase yet)" } })
    task.sleep(40) -- the operator's 30 s drain attempt fails on the budget of apps/guarded-0
    local found = actors.detect()
    expect(kinds_and_names(found)).to_equal({ "node_maintenance nm-w2", "cordoned worker-2" })
    expect(found[1].reason).to_match("^is draining node worker%-2 %(phase Running, 0%% drained; last error: "
      .. "error when evicting pods/\"guarded%-0\"")
    expect(found[2].reason).to_be("is cordoned by someone else (no vmrun.io/cordoned-by mark); other actors on "
      .. "it: NodeMaintenance nm-w2")
    -- a drained node held in maintenance matters when it is one of the run's nodes
    local nm1 = node.maintenance("worker-1", "firmware", { name = "nm-w1" })
    nm1:wait({ timeout = "1m" })
    found = actors.detect({ nodes = { "worker-1", "worker-3" } })
    expect(kinds_and_names(found)).to_equal({ "node_maintenance nm-w1", "node_maintenance nm-w2", "cordoned worker-1" })
    expect(found[1].reason).to_be("holds node worker-1 in maintenance (drained, cordoned until the NodeMaintenance "
      .. "is deleted)")
    -- work under way is reported wherever it is; a held node only when it is the run's
    expect(kinds_and_names(actors.detect({ nodes = { "worker-3" } }))).to_equal({ "node_maintenance nm-w2" })
    node.maintenance("worker-3", "old operator", { api = "kubevirt", name = "nm-w3" })
    found = actors.detect({ nodes = { "worker-4" } })
    expect(kinds_and_names(found)).to_equal({ "node_maintenance nm-w2", "node_maintenance nm-w3" })
    expect(found[2].what).to_be("NodeMaintenance nm-w3 (nodemaintenance.kubevirt.io, node worker-3, created by vmrun)")
    nm1:finish({ wait = false }) -- its finalizer keeps it until the operator has given the node back
    found = actors.detect({ nodes = { "worker-4" } })
    expect(kinds_and_names(found)).to_equal({ "node_maintenance nm-w1", "node_maintenance nm-w2", "node_maintenance nm-w3" })
    expect(found[1].reason).to_be("is ending: the operator gives node worker-1 back")
  end, { timeout = "5m" })

  it("MachineConfigPools that are updating, with their nodes; a paused pool with work left is not", function()
    set_pool("worker", { machineCount = 4, updatedMachineCount = 2, conditions = {
      { type = "Updated", status = "False" }, { type = "Updating", status = "True" } } })
    expect(actors.detect()).to_equal({ { kind = "machine_config_pool", name = "worker", what = "MachineConfigPool worker",
      nodes = { "worker-1", "worker-2", "worker-3", "worker-4" },
      reason = "is updating its nodes: 2 of 4 updated (Updating=True)" } })
    set_pool("worker", { machineCount = 4, updatedMachineCount = 3, conditions = {
      { type = "Updating", status = "False" } } }, true)
    expect(actors.detect()).to_equal({})
    set_pool("worker", { machineCount = 4, updatedMachineCount = 3, conditions = {} })
    expect(actors.detect()[1].reason).to_be("is updating its nodes: 3 of 4 updated")
    set_pool("worker", UP_TO_DATE)
    set_pool("master", { machineCount = 1, updatedMachineCount = 0, conditions = {
      { type = "Updating", status = "True" },
      { type = "Degraded", status = "True", message = "Node master-1 is reporting: unexpected on-disk state" } } })
    local found = actors.detect()
    expect(found[1].nodes).to_equal({ "master-1" })
    expect(found[1].reason).to_be("is updating its nodes: 0 of 1 updated (Updating=True, Degraded: Node master-1 is "
      .. "reporting: unexpected on-disk state)")
  end)

  it("nodes cordoned without vmrun's mark (or, with owner, with another run's mark)", function()
    kubectl_cordon("worker-4")
    node.cordon("worker-3")
    expect(actors.detect()).to_equal({ { kind = "cordoned", name = "worker-4", what = "node worker-4",
      nodes = { "worker-4" }, reason = "is cordoned by someone else (no vmrun.io/cordoned-by mark)" } })
    expect(kinds_and_names(actors.detect({ owner = "run-42" }))).to_equal({ "cordoned worker-3", "cordoned worker-4" })
    expect(actors.detect({ owner = "run-42" })[1].reason).to_be('is cordoned by vmrun\'s owner "vmrun", not this run\'s "run-42"')
    expect(actors.detect({ owner = "vmrun", nodes = { "worker-1", "worker-3" } })).to_equal({})
    cluster.patch("Node", "worker-4", { metadata = { annotations = { ["machineconfiguration.openshift.io/state"] = "Working" } } })
    expect(actors.detect()[1].reason).to_be("is cordoned by someone else (no vmrun.io/cordoned-by mark); other actors "
      .. "on it: the Machine Config Operator (state Working)")
  end)

  it("rejects bad options at the caller's line", function()
    expect(function() actors.detect({ node = "worker-1" }) end).to_fail_with("usage",
      "actors_spec%.lua:%d+: actors%.detect: unknown option node %(kured_annotation, nodes, owner%)")
    expect(function() actors.detect({ nodes = "worker-1" }) end).to_fail_with("usage", "option nodes must be a table")
    expect(function() actors.detect({ nodes = { 1 } }) end).to_fail_with("usage", "nodes[1] must be a node name")
  end)
end)

describe("actors.check", function()
  local function busy_cluster()
    set_kured_lock("kube-system", "kured", json.encode(kured_lock("worker-2", time.now() - 60, 3600)))
    kubectl_cordon("worker-4")
    return actors.detect()
  end

  it("refuses by default, naming each actor and how to go on", function()
    local found = busy_cluster()
    local err = expect(function() actors.check(found) end).to_fail_with("busy",
      "actors_spec%.lua:%d+: actors%.check: other maintenance is under way, not starting: kured %(DaemonSet "
      .. "kube%-system/kured%) holds its reboot lock for node worker%-2 since .-; node worker%-4 is cordoned by "
      .. "someone else %(no vmrun%.io/cordoned%-by mark%)%. To go on anyway, set the policy of cordoned, kured to "
      .. "\"warn\" or \"ignore\", or of cordoned to \"skip\" %(leave their nodes out%)$")
    expect(err.actors).to_equal(found)
    expect(function() actors.check(found, "refuse") end).to_fail_with("busy")
    expect(actors.check({})).to_equal({})
  end)

  it("warn logs each actor and goes on; ignore goes on quietly", function()
    local found = busy_cluster()
    local skip
    local logs = logged(function() skip = actors.check(found, "warn") end)
    expect(skip).to_equal({})
    expect(#logs.warn).to_be(2)
    expect(logs.warn[1]).to_match("^another maintenance actor: kured %(DaemonSet kube%-system/kured%) holds its reboot lock")
    expect(logs.warn[2]).to_be("another maintenance actor: node worker-4 is cordoned by someone else (no "
      .. "vmrun.io/cordoned-by mark)")
    logs = logged(function() skip = actors.check(found, { default = "ignore" }) end)
    expect(skip).to_equal({})
    expect(logs.warn).to_equal({})
  end)

  it("per kind: {cordoned = \"skip\"} returns the nodes to leave out; the other kinds keep their policy", function()
    local found = busy_cluster()
    kubectl_cordon("worker-1")
    found = actors.detect()
    local err
    local logs = logged(function()
      err = expect(function() actors.check(found, { cordoned = "skip" }) end).to_fail_with("busy",
        "not starting: kured %(DaemonSet kube%-system/kured%) holds its reboot lock for node worker%-2 since [^;]*%. To go on")
    end)
    expect(#err.actors).to_be(1)
    expect(logs.warn).to_equal({}) -- refused: no node is said to be left out
    local skip
    logs = logged(function() skip = actors.check(found, { cordoned = "skip", kured = "warn" }) end)
    expect(skip).to_equal({ "worker-1", "worker-4" })
    expect(logs.warn[2]).to_be("leaving worker-1 out of the run: node worker-1 is cordoned by someone else (no "
      .. "vmrun.io/cordoned-by mark)")
    expect(#logs.warn).to_be(3)
  end)

  it("{node_maintenance = \"skip\"} leaves the node under maintenance out; an actor without a node cannot be skipped", function()
    node.maintenance("worker-1", "firmware", { name = "nm-w1" }):wait({ timeout = "1m" })
    local found = actors.detect()
    expect(kinds_and_names(found)).to_equal({ "node_maintenance nm-w1", "cordoned worker-1" })
    expect(actors.check(found, { node_maintenance = "skip", cordoned = "skip" })).to_equal({ "worker-1" })
    local nameless = { kind = "node_maintenance", name = "nm-x", what = "NodeMaintenance nm-x (node nil)",
      reason = "waits for the operator to drain node nil (no phase yet)", nodes = {} }
    expect(function() actors.check({ nameless }, { node_maintenance = "skip" }) end).to_fail_with("busy",
      "NodeMaintenance nm-x (node nil) waits for the operator to drain node nil (no phase yet) (it names no node to "
      .. "leave out)")
  end)

  it("rejects bad policies at the caller's line", function()
    expect(function() actors.check({}, "skip") end).to_fail_with("usage",
      "actors_spec%.lua:%d+: actors%.check: the default policy must be")
    expect(function() actors.check({}, { kured = "skip" }) end).to_fail_with("usage",
      "\"skip\" is for cordoned and node_maintenance only, not kured")
    expect(function() actors.check({}, { cordon = "skip" }) end).to_fail_with("usage",
      "unknown actor kind cordon in the policy (default, cordoned, kured, machine_config_pool, node_maintenance)")
    expect(function() actors.check({}, { kured = "stop" }) end).to_fail_with("usage",
      "policy kured must be \"refuse\", \"warn\", \"ignore\"")
    expect(function() actors.check({}, 3) end).to_fail_with("usage", "the policy must be")
    expect(function() actors.check(nil) end).to_fail_with("usage", "found must be the list actors.detect returns")
    expect(function() actors.check({ { kind = "ghost" } }) end).to_fail_with("usage", "found[1] is not an actor")
  end)
end)
