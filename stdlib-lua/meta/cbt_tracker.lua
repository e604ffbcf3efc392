---@meta vmrun.cbt.tracker
error('Cannot require a meta file')

-- LuaLS annotations for vmrun.cbt.tracker (bindings/cbt_tracker.c), the disk-image change
-- tracker: stdlib-lua/vmrun/cbt.lua re-exports both functions. Playbooks use `cbt.track` and
-- `cbt.changed` (meta/cbt.lua), not this module.

local cbt_tracker = {}

---See `cbt.track`.
---@async
---@param image string
---@param opts? vmrun.CbtTrackOptions
---@return string change_id
---@return vmrun.CbtTrackInfo info
function cbt_tracker.track(image, opts) end

---See `cbt.changed`.
---@async
---@param image string
---@param since string
---@param opts? {state?: string, max_length?: integer}
---@return {start: integer, length: integer}[] extents
---@return vmrun.CbtChangedInfo info
function cbt_tracker.changed(image, since, opts) end
