-- vmrun/snapshot.lua: the stdlib's shared reads of the cluster, each kept until an object of its
-- kind changes (cluster.revision(kind)): the nodes, what each offers, and what the live pods
-- request on each. The queues, pre-flight and the rolling maintenance ask for these many times
-- per batch; on a large cluster reading them again each time dominated a run. The tables are
-- shared: callers read them and never change them. Reads only; writes nothing.
local cluster = require("vmrun.cluster")

local M = {}

local nodes_seen = { revision = nil }

-- Refreshes the node tables when a node changed: only the nodes whose resourceVersion moved
-- are read again (a batch changes a few of a large cluster's nodes).
local function node_tables()
  local revision = cluster.revision("Node")
  if nodes_seen.revision ~= revision then
    local before = nodes_seen.by_name or {}
    local list, by_name = {}, {}
    for _, name in ipairs(cluster.names("Node")) do
      local old = before[name]
      local n = old
      if old == nil or old.metadata.resourceVersion == nil
          or cluster.get_field("Node", nil, name, "metadata.resourceVersion") ~= old.metadata.resourceVersion then
        n = cluster.get("Node", name)
      end
      if n ~= nil then -- (gone between the two reads: left out until the next change)
        list[#list + 1], by_name[name] = n, n
      end
    end
    local previous = nodes_seen
    previous.before = nil -- one step back is all the reuse needs
    nodes_seen = { revision = revision, list = list, by_name = by_name, offers = nil,
      before = previous }
  end
  return nodes_seen
end

--- snapshot.nodes() -> nodes, by_name: cluster.nodes(), and the same by name.
function M.nodes()
  local t = node_tables()
  return t.list, t.by_name
end

--- snapshot.node_offers() -> {[name] = {memory, cpu}}: what each node offers pods
-- (queue.node_resources: allocatable, else capacity; nil fields for what it does not say).
function M.node_offers()
  local t = node_tables()
  if t.offers == nil then
    local resources = require("vmrun.queue").node_resources
    -- what an unchanged node (the same table as before) offered is still what it offers
    local prev = t.before or {}
    local prev_by, prev_offers = prev.by_name or {}, prev.offers or {}
    t.offers = {}
    for _, n in ipairs(t.list) do
      local name = n.metadata.name
      if prev_by[name] == n and prev_offers[name] then
        t.offers[name] = prev_offers[name]
      else
        local mem, cpu = resources(n)
        t.offers[name] = { memory = mem, cpu = cpu }
      end
    end
  end
  t.before = nil
  return t.offers
end

local pods_seen = { revision = nil }

--- snapshot.requests_by_node() -> {[node] = {cpu, memory, pods}}: cluster.requests_by_node().
function M.requests_by_node()
  local revision = cluster.revision("Pod")
  if pods_seen.revision ~= revision then
    pods_seen = { revision = revision, used = cluster.requests_by_node() }
  end
  return pods_seen.used
end

return M
