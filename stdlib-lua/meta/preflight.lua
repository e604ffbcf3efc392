---@meta vmrun.preflight
error('Cannot require a meta file')

-- LuaLS annotations for the `preflight` module (stdlib-lua/vmrun/preflight.lua). Rules, drain
-- actions and the JSON document: docs/preflight.md.

---Read-only checks of what a maintenance run will meet. A global loaded on first use; also
---`require("vmrun.preflight")`.
preflight = {}

---@class vmrun.PreflightVM
---@field namespace string
---@field name string
---@field node? string
---@field migratable boolean true exactly when `reasons` is empty
---@field reasons string[] KubeVirt's reason names, then vmrun's (NoFeasibleTarget)
---@field messages string[] "<reason>: <text>"
---@field warnings string[]
---@field eviction_strategy string
---@field run_strategy string
---@field drain_action "migrate"|"shutdown-restart"|"stay-off"|"block"
---@field block? string why it blocks a drain
---@field targets string[] nodes that could take it
---@field excluded table<string, string> every other node, and why not
---@field pdbs string[] budgets that allow no disruption of its pod
---@field memory integer bytes its pod requests
---@field cpu integer millicores its pod requests
---@field estimate_seconds? number for "migrate": queue.estimate's

---@class vmrun.PreflightNode
---@field name string
---@field drainable boolean
---@field blockers {namespace: string, name: string, reason: string}[]
---@field estimated_drain_seconds? number nil when not drainable
---@field vms vmrun.PreflightVM[]
---@field warnings string[] kubectl's warnings, then budgets that will make evictions wait

---The checks of one VMI (an object, `{namespace, name}` or `"namespace/name"`). Raises kind
---`"not_found"` for a missing VMI, `"usage"` for another argument.
---@param vmi table|string
---@return vmrun.PreflightVM
function preflight.vm(vmi) end

---preflight.vm for each VMI object of the list, from one reading of the cluster. room = false:
---the targets the scheduling rules allow, room or not (for a caller that weighs the room itself).
---@param vmis table[]
---@param opts? {room?: boolean}
---@return vmrun.PreflightVM[]
function preflight.vms(vmis, opts) end

---Whether a drain of the node with `node.drain`'s options can finish, what blocks it, and how
---long it takes. Raises kind `"not_found"` for a missing node, `"usage"` for bad options.
---@param name string
---@param drain_opts? vmrun.DrainOptions
---@return vmrun.PreflightNode
function preflight.node(name, drain_opts) end

---Every node (or `opts.nodes`) taken out `opts.batch` at a time: `{limits, vms, nodes, batches}`;
---the other options are `node.drain`'s. Raises kind `"not_found"` for a node that does not
---exist, `"usage"` for bad options.
---@param opts? table
---@return {limits: table, vms: vmrun.PreflightVM[], nodes: vmrun.PreflightNode[], batches: {nodes: string[], room: boolean, memory_needed: number, memory_free_after?: number}[]}
function preflight.cluster(opts) end

---The room check of `preflight.cluster{batch = #nodes}` for one batch, from a report made with
---batches of one: whether the memory free where the batch's moving VMs may go (their targets,
---less the batch's nodes) covers what they need. Raises kind `"usage"` without a report and a list.
---@param report table a preflight.cluster report
---@param nodes string[]
---@return boolean room
---@return number? free_after
---@return number needed
function preflight.batch_room(report, nodes) end
