---@meta vmrun.cluster
error('Cannot require a meta file')

-- LuaLS annotations for the `cluster` module: the raw resource API (bindings/cluster_core.c),
-- and the queries and migration_limits of stdlib-lua/vmrun/cluster.lua.

---The `cluster` module: Kubernetes-shaped objects of this run's cluster as plain tables. Kinds
---are named by kind, plural or short name (`"Pod"`, `"vmis"`, `"vmim"`) or as `"group/Kind"`
---for kinds vmrun does not know. Every function raises `vmrun.Error{kind="usage"}` when no
---cluster is loaded (see `sim.load`). A global loaded on first use; also `require("vmrun.cluster")`.
cluster = {}

---A Kubernetes object: `apiVersion`, `kind`, `metadata`, `spec`, `status`, ...
---@alias vmrun.Object table

---An event of a watch.
---@class vmrun.WatchEvent
---@field type "ADDED"|"MODIFIED"|"DELETED"
---@field object vmrun.Object the object after the change (its last state for DELETED)
---@field resource_version string

---@class vmrun.ListOptions
---@field namespace? string only this namespace
---@field node? string only objects on this node (Pods by spec.nodeName, VMIs by status.nodeName)
---@field selector? string a label selector as kubectl -l takes it: `"app=web,tier!=db"`, `"env in (a, b)"`, `"!gpu"`
---@field field? string a field selector: `"spec.nodeName=worker-1,status.phase!=Running"`

---@class vmrun.CountOptions: vmrun.ListOptions
---@field limit? integer count at most this many (>= 1)

---@class vmrun.WatchOptions
---@field namespace? string only this namespace
---@field since? string|integer replay the retained events after this resourceVersion
---@field timeout? vmrun.Duration end the iteration when no event arrives for this long

---The object, or nil when it does not exist. Cluster-scoped kinds take `(kind, name)`.
---Raises a usage error for an unknown kind or a namespaced kind without a namespace.
---@param kind string
---@param namespace string
---@param name? string
---@return vmrun.Object|nil
function cluster.get(kind, namespace, name) end

---The objects of a kind, sorted by namespace and name. Raises a usage error on an unknown kind or
---option or a malformed selector (the message gives the column).
---@param kind string
---@param opts? vmrun.ListOptions
---@return vmrun.Object[]
function cluster.list(kind, opts) end

---How many objects `cluster.list(kind, opts)` would return, without making them into tables (the
---wait for a drained node: `while cluster.count("vmi", { node = n }) > 0 do ... end`); with
---`limit`, at most that many (it stops counting there). Raises as `cluster.list` does, and kind
---`"usage"` on a limit that is not an integer >= 1.
---@param kind string
---@param opts? vmrun.CountOptions
---@return integer
function cluster.count(kind, opts) end

---The value at a dotted path of an object ("status.migrationState"), without making the rest
---into a table; nil when the object or the path is absent. namespace is nil for cluster-scoped
---kinds. Raises kind "usage" on an unknown kind, a missing namespace or name, or a bad path.
---@param kind string
---@param namespace string|nil
---@param name string
---@param path string
---@return any
function cluster.get_field(kind, namespace, name, path) end

---The names of the objects `cluster.list(kind, opts)` would return, in its order, without making
---the objects into tables: "name" for cluster-scoped kinds, "namespace/name" for namespaced
---ones. Raises as `cluster.list` does.
---@param kind string
---@param opts? vmrun.ListOptions
---@return string[]
function cluster.names(kind, opts) end

---What the pods bound to each node and not finished request there, counted as the scheduler
---counts them (containers, the largest init container, overhead): `{[node] = {cpu = millicores,
---memory = bytes, pods = n}}`; a node without such pods is absent. Does not make the pods into
---tables. With `since` (a revision): only the nodes whose sums changed after it (zero pods as
---`{cpu = 0, memory = 0, pods = 0}`); `whole` is true when the table is the whole picture
---instead. Raises kind `"usage"` on a bad `since`.
---@param since? string|integer
---@return table<string, {cpu: integer, memory: integer, pods: integer}> sums
---@return boolean whole
function cluster.requests_by_node(since) end

---What one pod asks of its node, counted as `cluster.requests_by_node` counts it: `{cpu =
---millicores, memory = bytes}`, or nil when there is no such pod. Does not make the pod into a
---table. Raises kind `"usage"` when an argument is not a string.
---@param namespace string
---@param name string
---@return {cpu: integer, memory: integer}?
function cluster.pod_requests(namespace, name) end

---The objects of a kind created or changed after revision `since` (a `cluster.revision` string
---or an integer; 0: all), sorted as `cluster.list` sorts, and how many objects of the kind there
---are now (fewer than a caller kept: some were deleted); with `names = true` their names as
---`cluster.names` gives them instead. Raises kind `"usage"` on an unknown kind or option, a bad
---`since` or a `names` that is not a boolean.
---@param kind string
---@param since string|integer
---@param opts? {namespace?: string, names?: boolean}
---@return table[]|string[] objects
---@return integer total
function cluster.changed(kind, since, opts) end

---Waits until an object of one of the kinds changes after the revision given for it (`since`:
---`{[kind] = cluster.revision(kind)}`, at most 8 kinds): true at once when one already did, true
---on a change, false when `timeout` passes (default: none). Raises kind `"usage"` on an unknown
---kind or a bad revision or timeout, `"cancelled"` when the task is cancelled.
---@async
---@param since table<string, string|integer>
---@param timeout? number|string
---@return boolean changed
function cluster.wait_change(since, timeout) end

---Creates an object; returns it as stored (uid, resourceVersion, creationTimestamp set).
---Raises kind `"already_exists"` (status 409) or `"input"` (422) with `resource = "Kind ns/name"`.
---@param object vmrun.Object
---@return vmrun.Object
function cluster.create(object) end

---Replaces a whole object. A set `metadata.resourceVersion` must be the current one. Raises kind
---`"conflict"` (409), `"not_found"` (404) or `"input"` (422).
---@param object vmrun.Object
---@return vmrun.Object
function cluster.replace(object) end

---@class vmrun.PatchOptions
---@field type? "strategic"|"merge"|"json" default "strategic" for known kinds (as kubectl), "merge" for others

---Patches an object and returns it as stored. Cluster-scoped kinds take `(kind, name, patch,
---opts)`. `"json"` patches are arrays of RFC 6902 operations, applied all or nothing. A
---`metadata.resourceVersion` in the patch is a precondition. Raises kind `"not_found"` (404),
---`"input"` (400 malformed patch, 422 a patch that does not apply or changes kind, name or
---namespace) or `"conflict"` (409).
---@param kind string
---@param namespace string
---@param name string|table
---@param patch? table
---@param opts? vmrun.PatchOptions
---@return vmrun.Object
function cluster.patch(kind, namespace, name, patch, opts) end

---Deletes an object. Cluster-scoped kinds take `(kind, name)`. Pods are deleted gracefully, as
---the API server does: `deletionTimestamp` now, gone when their containers stopped (a
---virt-launcher pod: its guest shut down and the VMI ended Succeeded), at most `grace_period`
---seconds later (default: the pod's `terminationGracePeriodSeconds`, else 30). Raises kind
---`"not_found"` (404).
---@param kind string
---@param namespace string
---@param name? string
---@param opts? {grace_period?: integer}
---@return true
function cluster.delete(kind, namespace, name, opts) end

---@class vmrun.EvictOptions
---@field dry_run? boolean check only: nothing changes
---@field grace_period? integer deleteOptions.gracePeriodSeconds
---@field annotations? table<string, string> annotations of the Eviction (e.g. `requested-by`)

---Evicts a pod (POST pods/eviction). KubeVirt's webhook answers first: a virt-launcher pod of a
---LiveMigrate VM is never evicted, its VMI is marked for evacuation and the answer is 429
---`Eviction triggered evacuation of VMI "ns/name"` (then `Evacuation in progress: ...`); a
---LiveMigrate VM that cannot migrate gets 429 `VMI <name> is configured with an eviction strategy
---but is not live-migratable`. Then the PodDisruptionBudgets: 429 `Cannot evict pod as it would
---violate the pod's disruption budget.` (reason `"DisruptionBudget"`), 500 with more than one
---budget. On success the pod is deleted gracefully. Raises kind `"too_many_requests"` (429),
---`"not_found"` (404) or `"internal"` (500).
---@param namespace string
---@param pod string
---@param opts? vmrun.EvictOptions
---@return true
function cluster.evict(namespace, pod, opts) end

---Like `cluster.evict`, but returns `nil, err` instead of raising.
---@param namespace string
---@param pod string
---@param opts? vmrun.EvictOptions
---@return true|nil ok
---@return vmrun.Error|nil err
function cluster.try_evict(namespace, pod, opts) end

---Watches a kind. Use as an iterator (`for ev in cluster.watch("Pod", {timeout = "5m"}) do`) or
---call `w:next()`. Raises kind `"expired"` (410) when `since` is older than the retained events.
---@param kind string
---@param opts? vmrun.WatchOptions
---@return vmrun.Watch
function cluster.watch(kind, opts) end

---The cluster's current resourceVersion (for `cluster.watch(kind, {since = ...})`); with a kind,
---that of the last create, change or delete of an object of that kind ("0": none yet), so that
---what was read of one kind can be kept while others change. Raises a usage error on an unknown
---kind.
---@param kind? string
---@return string
function cluster.revision(kind) end

---@class vmrun.ListFilter
---@field selector? string a label selector as `kubectl -l` takes it
---@field field? string a field selector
---@field namespace? string

---@class vmrun.NodeListFilter: vmrun.ListFilter
---@field node? string objects on that node (Pods by spec.nodeName, VMIs by status.nodeName)

---Nodes, sorted by name. Raises kind `"usage"` for an unknown option or a wrong type.
---@param opts? {selector?: string, field?: string}
---@return table[]
function cluster.nodes(opts) end

---VirtualMachineInstances, sorted by namespace and name.
---@param opts? vmrun.NodeListFilter
---@return table[]
function cluster.vmis(opts) end

---VirtualMachines.
---@param opts? vmrun.ListFilter
---@return table[]
function cluster.vms(opts) end

---Pods.
---@param opts? vmrun.NodeListFilter
---@return table[]
function cluster.pods(opts) end

---PersistentVolumeClaims.
---@param opts? vmrun.ListFilter
---@return table[]
function cluster.pvcs(opts) end

---PodDisruptionBudgets.
---@param opts? vmrun.ListFilter
---@return table[]
function cluster.pdbs(opts) end

---VirtualMachineInstanceMigrations; `vmi` keeps those of one VMI (spec.vmiName), `active = true`
---those not yet Succeeded or Failed.
---@param opts? {namespace?: string, selector?: string, field?: string, vmi?: string, active?: boolean}
---@return table[]
function cluster.migrations(opts) end

---@class vmrun.MigrationSetting
---@field value integer|boolean|string|userdata the value; `vmrun.null` when unset
---@field source string where it came from ("KubeVirt CR spec.configuration.migrations...", "default for ...")

---The effective live-migration settings (parallelMigrationsPerCluster,
---parallelOutboundMigrationsPerNode, bandwidthPerMigration in bytes/s, completionTimeoutPerGiB,
---progressTimeout, allowPostCopy, evictionStrategy, ...), each `{value, source}`, plus
---`kubevirtVersion`, `hyperConvergedVersion` and, for a VMI, `migrationPolicy`. Read from the
---KubeVirt CR, the HyperConverged CR and the MigrationPolicies, with version-aware defaults.
---Raises kind `"input"` when a CR does not read, `"not_found"` for a VMI that does not exist.
---@param vmi? table a VMI object, or `{namespace, name}`
---@return table<string, vmrun.MigrationSetting|string|userdata>
function cluster.migration_limits(vmi) end

---Waits until no VirtualMachine that should run is still starting and no VMI is pending or
---scheduling (a cluster just loaded into the simulator starts its VMs in its first minute).
---Returns the seconds waited; raises kind `"timeout"` (default 10 minutes) naming what still starts.
---@async
---@param opts? {timeout?: vmrun.Duration}
---@return number seconds
function cluster.settle(opts) end

---Stops KubeVirt's evacuation of a VMI (KubeVirt v1.8+, evacuate/cancel): clears its
---status.evacuationNodeName if it is `node` (default: the node it names) and deletes its evacuation
---VMIMs that have not started running (unless `delete_pending = false`). Raises kind
---`"unsupported"` on an older KubeVirt, `"not_found"`, `"conflict"` (marked for another node).
---@param vmi table|string a VMI object, `{namespace, name}` or `"namespace/name"`
---@param opts? {node?: string, delete_pending?: boolean}
---@return {cancelled: boolean, node?: string, deleted: string[], running: string[]}
function cluster.evacuate_cancel(vmi, opts) end

---Creates a VirtualMachineInstanceMigration for a running VMI and returns its handle.
---`added_node_selector`: labels the target node must have (spec.addedNodeSelector). Raises kind
---`"not_found"` for a missing VMI, `"input"` for one that is not Running, `"usage"` for bad options.
---@param vmi table|string a VMI object, `{namespace, name}` or `"namespace/name"`
---@param opts? {added_node_selector?: table<string, string>, name?: string}
---@return vmrun.Migration
function cluster.migrate(vmi, opts) end

---A handle on an existing VirtualMachineInstanceMigration, or nil.
---@param namespace string
---@param name string
---@return vmrun.Migration|nil
function cluster.migration(namespace, name) end

---@class vmrun.MigrationStatus
---@field phase string the VMIM's phase (Pending, Scheduling, ..., Running, Succeeded, Failed)
---@field source? string
---@field target? string
---@field mode? string PreCopy, PostCopy, Paused
---@field data_total? integer bytes
---@field data_processed? integer
---@field data_remaining? integer
---@field progress? number 0 to 1
---@field eta_seconds? number from the transfer rate seen by earlier calls
---@field failure_reason? string KubeVirt's reason, when Failed

---A live migration started by `cluster.migrate` (or found by `cluster.migration`).
---@class vmrun.Migration
---@field namespace string
---@field name string the VMIM's name
---@field vmi string the VMI's name
local Migration = {}

---What the migration is doing now. Raises kind `"not_found"` when its VMIM is gone.
---@return vmrun.MigrationStatus
function Migration:status() end

---Waits until the migration ends and returns its status. Raises kind `"migration_failed"` with
---KubeVirt's reason (`err.reason`), `"timeout"` when `timeout` passes first (the migration goes
---on), `"not_found"` when the VMIM was deleted.
---@async
---@param opts? {timeout?: vmrun.Duration}
---@return vmrun.MigrationStatus
function Migration:wait(opts) end

---Aborts the migration (deletes its VMIM); false when it had already ended.
---@return boolean
function Migration:cancel() end

---A watch on a kind: a queue of events filled as the cluster changes.
---@class vmrun.Watch
local Watch = {}

---The next event, waiting for one (the task yields) until the timeout (default: the watch's).
---Returns `nil, "timeout"` when none came in time, `nil, "closed"` after `w:close()`. Raises kind
---`"cancelled"` when the task is cancelled.
---@async
---@param timeout? vmrun.Duration
---@return vmrun.WatchEvent|nil event
---@return "timeout"|"closed"|nil why
function Watch:next(timeout) end

---Stops the watch and drops queued events. Idempotent; also done by `<close>` and the collector.
function Watch:close() end

return cluster
