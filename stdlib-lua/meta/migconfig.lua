---@meta vmrun.migconfig
error('Cannot require a meta file')

-- LuaLS annotations for vmrun.migconfig (bindings/migconfig.c): the effective KubeVirt migration
-- settings computed from objects. Playbooks use `cluster.migration_limits` (meta/cluster.lua),
-- which reads the objects and calls this.

local migconfig = {}

---The effective settings from the KubeVirt CR and the HyperConverged CR (either may be nil);
---with a VMI, those it migrates with (its MigrationPolicy among `policies`, chosen with the
---labels of `namespace`, and its own eviction strategy). Raises kind `"input"` when an object
---does not read.
---@param kubevirt? table
---@param hyperconverged? table
---@param policies? table[]
---@param vmi? table
---@param namespace? table
---@return table<string, vmrun.MigrationSetting|string|userdata>
function migconfig.effective(kubevirt, hyperconverged, policies, vmi, namespace) end

---A Kubernetes resource quantity ("8Gi", "1.5Gi", "1e9", "500m") in units of 10^scale (0, the
---default: whole units; -3: milli-units such as millicores), rounded as Kubernetes rounds; nil and
---a message for text that is not a quantity or does not fit 64 bits.
---@param text string|number
---@param scale? integer
---@return integer|nil
---@return string? message
function migconfig.quantity(text, scale) end
