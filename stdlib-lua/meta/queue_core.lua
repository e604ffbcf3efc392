---@meta vmrun.queue.core
error('Cannot require a meta file')

-- LuaLS annotations for vmrun.queue.core (bindings/queue_core.c): the migration queue's decision
-- core (runtime/migqueue.h). Nodes and items are 1-based. Playbooks use `queue` (meta/queue.lua).

local queue_core = {}

---A queue over node_count nodes. Raises kind `"usage"` for limits out of range.
---@param node_count integer
---@param limits {cluster?: integer, outbound_per_node?: integer, inbound_per_node?: integer}
---@return vmrun.QueueCore
function queue_core.new(node_count, limits) end

---@class vmrun.QueueCore
local QueueCore = {}

---@param retry {max_attempts?: integer, budget?: integer, backoff?: number, max_backoff?: number}
function QueueCore:set_retry(retry) end

---@param node integer
---@param eligible boolean
---@param preference? integer
---@param free_memory? integer bytes, -1: not checked
---@param free_cpu_millis? integer -1: not checked
function QueueCore:set_target(node, eligible, preference, free_memory, free_cpu_millis) end

---@param item {source: integer, estimate: number, priority?: integer, memory?: integer, cpu?: integer, targets?: integer[]}
---@return integer item
function QueueCore:add(item) end

---@param total integer
---@param outbound? table<integer, integer> per node index (nodes without any may be left out)
---@param inbound? table<integer, integer> per node index
function QueueCore:set_foreign(total, outbound, inbound) end

---The next item to start now and its target node (nil: the cluster chooses), or nil.
---@param now number
---@return integer|nil item
---@return integer|nil target
function QueueCore:next(now) end

---@param item integer
---@param now number
---@param succeeded boolean
---@return "waiting"|"done"|"failed"|nil state
function QueueCore:finish(item, now, succeeded) end

---@param item integer
---@return boolean
function QueueCore:cancel(item) end

---@param item integer
---@return {state: string, attempts: integer, target?: integer, started: number, ready_at: number}
function QueueCore:item(item) end

---@param now number
---@return number|nil
function QueueCore:next_ready(now) end

---False when `next(now)` cannot start anything whatever the foreign migrations and the targets'
---room (the queue's own running items fill its limits, or nothing waits).
---@param now number
---@return boolean
function QueueCore:could_start(now) end

---@param now number
---@param foreign_remaining? number
---@param quick? boolean without the look-ahead (an ETA estimate)
---@return number|nil end_time
---@return number[]|integer|nil ends_or_stuck
function QueueCore:simulate(now, foreign_remaining, quick) end
