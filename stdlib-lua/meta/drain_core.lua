---@meta vmrun.drain.core
error('Cannot require a meta file')

-- LuaLS annotations for vmrun.drain.core (bindings/drain_core.c): kubectl drain's pod filter
-- chain. Playbooks use `node.drain` (meta/node.lua), which lists the pods and calls this.

local drain_core = {}

---@class vmrun.DrainDecision
---@field decision "delete"|"delete_warn"|"skip"|"skip_warn"|"error"
---@field message? string kubectl's text for a warning or an error

---kubectl drain's filters (skip-deleted, DaemonSet, mirror, local storage, unreplicated) over
---`pods`. `opts`: `force`, `ignore_daemonsets`, `delete_emptydir_data`, `keep_finished` (booleans;
---`keep_finished`, vmrun's own, skips Succeeded and Failed pods with "finished (<phase>)"),
---`skip_wait_for_delete_timeout` (seconds), `now` (seconds since the epoch), `daemonsets` (the set
---`{["ns/name"] = true}` of DaemonSets that exist). Returns one decision per pod and kubectl's
---error and warning summaries ("" when none). Raises kind `"usage"` for wrong argument types,
---`"input"` for a pod that is not an object with metadata.name.
---@param pods table[]
---@param opts? table
---@return vmrun.DrainDecision[] decisions
---@return string errors
---@return string warnings
function drain_core.filter(pods, opts) end
