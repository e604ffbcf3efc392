---@meta vmrun.actors
error('Cannot require a meta file')

-- LuaLS annotations for the `actors` module (stdlib-lua/vmrun/actors.lua).

---The other maintenance actors on a cluster (kured, NodeMaintenances, MachineConfigPools, nodes
---cordoned by someone else) and what a run does about them. Reads only. A global loaded on first
---use; also `require("vmrun.actors")`.
actors = {}

---@alias vmrun.ActorKind "kured"|"node_maintenance"|"machine_config_pool"|"cordoned"
---@alias vmrun.ActorAction "refuse"|"warn"|"ignore"|"skip"

---@class vmrun.Actor
---@field kind vmrun.ActorKind
---@field name string "namespace/name" of kured's DaemonSet, else the object's or node's name
---@field what string the object, in words ("kured (DaemonSet kube-system/kured)", "node worker-3")
---@field reason string what it does (`what .. " " .. reason` reads as a sentence)
---@field nodes string[] the nodes it concerns

---The other maintenance actors now: kured's live reboot lock, NodeMaintenances waiting, draining
---or ending (or holding one of `nodes`), MachineConfigPools updating, and the `nodes` (default
---all) cordoned without vmrun's mark (with `owner`: or with another owner's). Kinds the cluster
---does not serve count as none. Raises kind `"usage"` for bad options, and the cluster's errors.
---@param opts? {nodes?: string[], owner?: string, kured_annotation?: string}
---@return vmrun.Actor[]
function actors.detect(opts) end

---Applies a policy to what `actors.detect` found and returns the nodes to leave out of the run.
---The policy is "refuse" (the default), "warn", "ignore", or per kind with a `default`; "skip"
---(leave the actor's nodes out) is for `cordoned` and `node_maintenance`. Raises kind `"busy"`
---(`err.actors`) naming each actor refused and how to go on, `"usage"` for a bad policy.
---@param found vmrun.Actor[]
---@param policy? "refuse"|"warn"|"ignore"|{default?: "refuse"|"warn"|"ignore", kured?: vmrun.ActorAction, node_maintenance?: vmrun.ActorAction, machine_config_pool?: vmrun.ActorAction, cordoned?: vmrun.ActorAction}
---@return string[]
function actors.check(found, policy) end
