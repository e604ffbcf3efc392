---@meta vmrun.migration.model
error('Cannot require a meta file')

-- LuaLS annotations for vmrun.migration.model (bindings/migration_model.c): the live-migration
-- model (runtime/migration_model.h). Playbooks get its answers through `queue` estimates and the
-- pre-flight checks; `require("vmrun.migration.model")` gives it directly.

local migration_model = {}

---@class vmrun.MigrationEstimate
---@field seconds number from Running to the end (math.huge: never)
---@field outcome "completed"|"failed"|"never"
---@field reason? string KubeVirt's failure reason when it fails
---@field converges boolean pre-copy alone reaches the switchover
---@field passes integer pre-copy passes (0 when it does not converge)
---@field downtime number seconds of stop-and-copy (math.huge when it does not converge)
---@field timeout number seconds after which the completion timeout acts (math.huge: disabled)

---One migration at a constant link bandwidth: `memory`, `working_set` (default memory/4),
---`local_disk` in bytes; `dirty_rate`, `bandwidth`, `bandwidth_per_migration` in bytes/s;
---`completion_timeout_per_gib`, `progress_timeout` in seconds; `block`, `vfio`,
---`allow_auto_converge`, `allow_post_copy`, `allow_workload_disruption` booleans; `downtime_ms`.
---Raises kind `"usage"` without memory or bandwidth, for wrong types and refused inputs.
---@param inputs table
---@return vmrun.MigrationEstimate
function migration_model.estimate(inputs) end
