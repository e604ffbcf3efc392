---@meta vmrun.maintenance
error('Cannot require a meta file')

-- LuaLS annotations for the `maintenance` module (stdlib-lua/vmrun/maintenance.lua).

---Rolling maintenance of a cluster's nodes. A global loaded on first use; also
---`require("vmrun.maintenance")`.
maintenance = {}

---@class vmrun.RollingOptions
---@field nodes? string[] the nodes (default: every node matching `selector`, without the control plane)
---@field selector? string a label selector for the nodes
---@field include_control_plane? boolean
---@field batch? integer|"auto" nodes at once (default "auto": from the limits and the room)
---@field step? fun(node: string)|string[]|"reboot" the maintenance step (default on the simulator: "reboot")
---@field step_timeout? vmrun.Duration for an argv step (default 30m)
---@field ready_timeout? vmrun.Duration until the node is Ready after the step (default 30m)
---@field reboots? boolean the step reboots the node: wait for a new boot (default true)
---@field gate? fun(batch: string[]): boolean, string? after the built-in checks
---@field settle? vmrun.Duration wait after each batch's checks
---@field skip_blocked? boolean leave out the nodes pre-flight says would block, instead of stopping
---@field failure_budget? {nodes?: integer, vms?: integer} failures tolerated before the run stops (default 0)
---@field hooks? {before_batch?: fun(batch: string[]), after_batch?: fun(batch: string[], rec: table), before_node?: fun(node: string), after_node?: fun(node: string, rec: table)}
---@field drain? vmrun.DrainOptions node.drain's options for every node
---@field on_event? fun(ev: table) planned, batch_started, node_done, node_failed, batch_done, paused, approval, not_approved
---@field journal? boolean journal the run (default: on a real cluster or with --state-dir)
---@field on_abort? "finish"|"cancel" the migrations in flight on Ctrl-C / vmrun abort (default "finish")
---@field lock? boolean|{name?: string, namespace?: string, ttl?: vmrun.Duration} the cluster lock (default: when journaling)
---@field others? string|table actors.check's policy for other maintenance actors
---@field notify? string|{url?: string, events?: string[], timeout?: vmrun.Duration} the webhook
---@field window_end? number|string the window's end: a time on the run's clock or RFC 3339 (default: --window-end)
---@field step_estimate? vmrun.Duration step + Ready for the window's budget until a node has shown it (default 10m)
---@field approve? boolean|"run"|"batch"|table approval gates (gate.approve's options and before = "run"|"batch")

---Maintains the nodes batch by batch: pre-flight of the whole run first; per batch cordon, drain
---(VMs through the queue, steered to nodes already done), the step, wait for Ready, uncordon, the
---health gate; VM policies from the annotation vmrun.io/maintenance-policy. Raises kind
---`"preflight_failed"` (nothing changed) when a node would block, `"usage"`/`"input"`/`"not_found"`
---for bad options, policies or nodes. A failed node stays cordoned and is in the report.
---@async
---@param opts? vmrun.RollingOptions
---@return table report {nodes, batches, skipped, left_off, stopped?, paused?, aborted?, failed_nodes, failed_vms, batch_size, seconds}
function maintenance.rolling(opts) end

---The least time the run could have taken under the migration limits: the migrations' own time
---over the cluster (or a node's outbound) limit, plus each batch's slowest step and wait for Ready.
---@param report table maintenance.rolling's report
---@return number seconds
function maintenance.lower_bound(report) end

---The run's timeline as one self-contained HTML page (inline SVG, no script, nothing fetched).
---@param report table maintenance.rolling's report
---@return string html
function maintenance.timeline_html(report) end
