---@meta vmrun.queue
error('Cannot require a meta file')

-- LuaLS annotations for the `queue` module (stdlib-lua/vmrun/queue.lua).

---The limit-aware migration queue. A global loaded on first use; also `require("vmrun.queue")`.
queue = {}

---@class vmrun.QueueLimits
---@field cluster? integer migrations in flight in the cluster
---@field outbound_per_node? integer migrations leaving one node
---@field inbound_per_node? integer migrations coming into one node (vmrun's own; 0: none)

---A queue with the cluster's effective limits (or `limits`), optional pinned `targets` (node
---names) and retry settings. Raises kind `"usage"` for bad options.
---@param opts? {limits?: vmrun.QueueLimits, targets?: string[], retry?: {max_attempts?: integer, budget?: integer, backoff?: number, max_backoff?: number}}
---@return vmrun.Queue
function queue.new(opts) end

---How long the VMI's migration takes, from the migration model: 5 s of target pod start plus the
---model's time with the VMI's settings (`limits`, default `cluster.migration_limits(vmi)`), its
---memory, the annotations vmrun.io/working-set and vmrun.io/dirty-rate, and the source node's link
---(vmrun.io/nic-bandwidth, default 10 GbE) shared by `share` migrations.
---@param vmi table
---@param opts? {limits?: table, share?: integer}
---@return number seconds
---@return vmrun.MigrationEstimate details
function queue.estimate(vmi, opts) end

---A Kubernetes quantity ("8Gi", "1.5Gi", "1e9") in units, or nil when it is not one.
---@param text string|number
---@return integer|nil
function queue.quantity(text) end

---A CPU quantity ("500m", "2") in millicores, or nil when it is not one.
---@param text string|number
---@return integer|nil
function queue.millicores(text) end

---What the scheduler counts for a pod: containers summed, or the largest init container, plus
---spec.overhead.
---@param pod table
---@return {cpu: integer, memory: integer}
function queue.pod_requests(pod) end

---What a node offers pods: allocatable, else capacity; nil for what it does not say.
---@param node table
---@return integer|nil memory
---@return integer|nil cpu
function queue.node_resources(node) end

---@class vmrun.Queue
local Queue = {}

---Queues the migration of a running VMI away from its node; returns its item number.
---@param vmi table|string
---@param opts? {priority?: integer, estimate?: vmrun.Duration}
---@return integer
function Queue:add(vmi, opts) end

---Runs the queue to the end and returns the account. Raises kind `"timeout"` when `timeout`
---passes first.
---@async
---@param opts? {timeout?: vmrun.Duration, poll?: vmrun.Duration, on_event?: fun(event: table)}
---@return {items: table[], succeeded: integer, failed: integer, skipped: integer, seconds: number}
function Queue:run(opts) end

---The estimated seconds until every queued migration ends, and per item `{vmi, seconds}` until
---it ends; or nil and the VMI that can never start.
---@return number|nil seconds
---@return {vmi: string, seconds: number}[]|string etas_or_stuck_vmi
function Queue:plan() end
