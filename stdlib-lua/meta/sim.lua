---@meta vmrun.sim
error('Cannot require a meta file')

-- LuaLS annotations for the `sim` module (bindings/sim.c).

---The `sim` module: this run's simulated cluster. A global loaded on first use; also
---`require("vmrun.sim")`.
sim = {}

---Loads a cluster file as this run's simulated cluster: Kubernetes YAML, either a multi-document
---manifest or the `List` that `kubectl get ... -o yaml` prints. Returns how many objects of the
---main kinds it holds (`{Node = 12, Pod = 140, VirtualMachine = 80, ...}`). Raises
---`vmrun.Error{kind="input"}` naming the file, line and object on a malformed file (exit code 2
---when unhandled), kind `"usage"` when a cluster is already loaded.
---@param path string
---@return table<string, integer> counts
function sim.load(path) end

---The simulated time in seconds since the epoch (the run's clock; same as `time.now()`).
---@return number
function sim.clock() end

---The path of the loaded cluster file (in a `vmrun --rehearse` run: "rehearsal of cluster 'NAME'
---(URL) as read at TIME"), or nil before `sim.load`.
---@return string|nil
function sim.source() end

---True when the simulated cluster is a rehearsal's copy of a real one (`vmrun --rehearse`): its
---host commands would still reach the real machines.
---@return boolean
function sim.rehearsal() end

---Reboots a simulated node: NotReady at once, the VMs on it are lost (their VMIs fail; run
---strategies restart them elsewhere), Ready again with a new `status.nodeInfo.bootID` after the
---node's `sim.vmrun.io/reboot-seconds` annotation (default 300). Raises kind `"not_found"` for an
---unknown node.
---@param node string
---@return true
function sim.reboot(node) end

return sim
