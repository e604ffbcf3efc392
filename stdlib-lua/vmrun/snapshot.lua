-- vmrun/snapshot.lua: the stdlib's shared reads of the cluster, each kept until an object of its
-- kind changes (cluster.revision(kind)): the nodes, what each offers, and what the live pods
-- request on each. The queues, pre-flight and the rolling maintenance ask for these many times
-- per batch; on a large cluster reading them again each time dominated a run. The tables are
-- shared: callers read them and never change them. Reads only; writes nothing.
local cluster = require("vmrun.cluster")

local M = {}

local nodes_seen = { revision = nil }

-- Refreshes the node tables when a node changed: only the nodes written since the last read
-- are read again (cluster.changed; a batch changes a few of a large cluster's nodes), all of
-- them when a node was added or deleted.
local function node_tables()
  local revision = cluster.revision("Node")
  if nodes_seen.revision ~= revision then
    local previous = nodes_seen
    local list, by_name, position, names = {}, {}, {}, {}
    local changed, total = cluster.changed("Node", previous.revision or 0)
    local whole = previous.list == nil or total ~= #previous.list
    if not whole then
      for _, n in ipairs(changed) do
        if previous.position[n.metadata.name] == nil then whole = true break end
      end
    end
    if whole then
      if previous.list ~= nil then changed = cluster.changed("Node", 0) end
      for i, n in ipairs(changed) do
        local name = n.metadata.name
        list[i], by_name[name], position[name], names[i] = n, n, i, name
      end
    else
      table.move(previous.list, 1, #previous.list, 1, list)
      for name, n in pairs(previous.by_name) do by_name[name] = n end
      position, names = previous.position, previous.names -- the same names in the same order
      for _, n in ipairs(changed) do
        local name = n.metadata.name
        list[position[name]], by_name[name] = n, n
      end
    end
    previous.before = nil -- one step back is all the reuse needs
    nodes_seen = { revision = revision, list = list, by_name = by_name, position = position,
      names = names, offers = nil, before = previous }
  end
  return nodes_seen
end

--- snapshot.nodes() -> nodes, by_name: cluster.nodes(), and the same by name.
function M.nodes()
  local t = node_tables()
  return t.list, t.by_name
end

--- snapshot.node_names() -> names, index: the node names in cluster.names("Node") order, and
-- each name's place in it ({[name] = i}).
function M.node_names()
  local t = node_tables()
  return t.names, t.position
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

--- snapshot.requests_by_node() -> {[node] = {cpu, memory, pods}}: cluster.requests_by_node(),
-- updated with the nodes whose sums changed since the last read.
function M.requests_by_node()
  local revision = cluster.revision("Pod")
  if pods_seen.revision ~= revision then
    local used, whole
    if pods_seen.used ~= nil then
      local changes
      changes, whole = cluster.requests_by_node(pods_seen.revision)
      if whole then
        used = changes
      else
        used = {}
        for name, sum in pairs(pods_seen.used) do used[name] = sum end
        for name, sum in pairs(changes) do used[name] = sum.pods > 0 and sum or nil end
      end
    else
      used = cluster.requests_by_node()
    end
    pods_seen = { revision = revision, used = used }
  end
  return pods_seen.used
end

return M
