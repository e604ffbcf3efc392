---@meta vmrun.node
error('Cannot require a meta file')

-- LuaLS annotations for the `node` module (stdlib-lua/vmrun/node.lua).

---The `node` module: cordon and uncordon with ownership, taints and labels. A global loaded on
---first use; also `require("vmrun.node")`. Changes are patches with the node's resourceVersion as
---a precondition, retried on conflicts.
node = {}

---@class vmrun.NodeCordonResult
---@field changed boolean whether the node was changed
---@field owner? string who cordoned the node ("vmrun", the owner given, another run's owner, or "someone else")

---Marks the node unschedulable and records `owner` (default "vmrun") in the annotation
---`vmrun.io/cordoned-by`. Idempotent; a node someone else cordoned is left as it is. Raises kind
---`"not_found"` for a missing node, `"usage"` for bad options, `"conflict"` when the node keeps
---changing.
---@param name string
---@param opts? {owner?: string}
---@return vmrun.NodeCordonResult
function node.cordon(name, opts) end

---Makes the node schedulable again when `owner` (default "vmrun") cordoned it, and removes the
---marks; a node someone else cordoned stays cordoned (a warning is logged) unless `force`.
---@param name string
---@param opts? {owner?: string, force?: boolean}
---@return vmrun.NodeCordonResult
function node.uncordon(name, opts) end

---Adds a taint (replacing one with the same key and effect) or removes it (`remove = true`).
---@param name string
---@param taint {key: string, value?: string, effect: "NoSchedule"|"PreferNoSchedule"|"NoExecute"}
---@param opts? {remove?: boolean}
---@return {changed: boolean}
function node.taint(name, taint, opts) end

---Sets labels (string values) and removes them (`false`).
---@param name string
---@param labels table<string, string|false>
---@return {changed: boolean}
function node.label(name, labels) end

---@class vmrun.DrainOptions
---@field ignore_daemonsets? boolean default true: DaemonSet pods stay
---@field delete_emptydir_data? boolean evict pods with emptyDir volumes
---@field force? boolean evict pods without a controller
---@field grace_period? integer seconds (default: the pod's own)
---@field pod_selector? string only the pods (and VMs) this label selector selects
---@field timeout? vmrun.Duration for the whole drain
---@field skip_wait_for_delete_timeout? vmrun.Duration
---@field disable_eviction? boolean DELETE instead of evict (bypasses budgets and KubeVirt's webhook)
---@field evict_finished? boolean evict Succeeded and Failed pods too, as kubectl does (default: they stay)
---@field owner? string of the cordon (default "vmrun")
---@field queue? table queue.new's options for the migrations
---@field priority? integer of the migrations
---@field vm_targets? fun(vmi: table): string[]|nil the nodes a VM may go to (with queue.targets)
---@field on_event? fun(ev: table)

---@class vmrun.DrainAccount
---@field node string
---@field cordoned boolean vmrun cordoned it now (false: it was cordoned already)
---@field vms {namespace: string, name: string, action: "migrate"|"shutdown-restart"|"stay-off", state: string, source: string, target?: string, attempts?: integer, reason?: string, eviction_strategy: string, run_strategy: string}[]
---@field pods {namespace: string, name: string, action: "evicted"|"deleted"|"gone"|"skipped"|"blocked"|"failed", reason?: string, vm?: string}[]
---@field warnings string kubectl's warnings ("" when none)
---@field seconds number

---Drains the node, VMs first: refuses before any change when a VM or pod can never leave (kind
---`"drain_blocked"`, `err.blockers`), cordons it, migrates the migratable VMs through the
---limit-aware queue, then evicts the other pods with kubectl drain's filters and retry loop,
---logging what each waits for. Raises kind `"drain_failed"` or `"timeout"` with `err.blockers`
---and `err.account` when it cannot finish (the node stays cordoned), `"not_found"` for a missing
---node, `"usage"` for bad options.
---@async
---@param name string
---@param opts? vmrun.DrainOptions
---@return vmrun.DrainAccount
function node.drain(name, opts) end

---@class vmrun.NodeMaintenanceStatus
---@field phase string Pending (not seen by the operator yet), Running, Succeeded, Failed
---@field drain_progress? integer percent
---@field pending_pods string[] "namespace/name" of the pods the drain still waits for
---@field last_error? string the operator's last error
---@field total_pods? integer
---@field eviction_pods? integer

---Creates a NodeMaintenance (the Node Maintenance Operator cordons, taints and drains the node)
---and returns its handle. Raises kind `"not_found"` for a missing node, the admission refusal as
---the cluster reports it, `"usage"` for bad arguments.
---@param name string
---@param reason string
---@param opts? {api?: "medik8s"|"kubevirt", name?: string}
---@return vmrun.NodeMaintenance
function node.maintenance(name, reason, opts) end

---A NodeMaintenance requested by `node.maintenance`.
---@class vmrun.NodeMaintenance
---@field node string
---@field name string the NodeMaintenance's name
local NodeMaintenance = {}

---@return vmrun.NodeMaintenanceStatus
function NodeMaintenance:status() end

---Waits until the node is drained. Raises kind `"maintenance_failed"` or `"timeout"` with the
---pending pods and the operator's last error in the message.
---@async
---@param opts? {timeout?: vmrun.Duration}
---@return vmrun.NodeMaintenanceStatus
function NodeMaintenance:wait(opts) end

---Ends the maintenance (deletes the CR; the operator uncordons the node), waiting until the CR
---is gone unless `wait = false`. False when it was gone already.
---@async
---@param opts? {wait?: boolean}
---@return boolean
function NodeMaintenance:finish(opts) end
