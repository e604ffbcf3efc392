---@meta vmrun.lock
error('Cannot require a meta file')

-- LuaLS annotations for the `lock` module (stdlib-lua/vmrun/lock.lua).

---The cluster lock of a maintenance run: a coordination.k8s.io/v1 Lease that a heartbeat renews.
---A global loaded on first use; also `require("vmrun.lock")`.
lock = {}

---@class vmrun.LockOptions
---@field name? string the Lease's name (default "vmrun-maintenance")
---@field namespace? string its namespace (default "kube-system")
---@field ttl? vmrun.Duration how long the lock lasts unless renewed (default 60 s, at least 1 s; renewed every ttl/3)
---@field holder? string spec.holderIdentity (default "vmrun-<run id>@<host>")
---@field run_id? string recorded in vmrun.io/run-id (default `lock.run_id()`)
---@field playbook? string recorded in vmrun.io/playbook (default arg[0])
---@field on_lost? fun(l: vmrun.Lock, reason: string) called in the heartbeat task when the lock is lost

---@class vmrun.LockStatus
---@field state "free"|"live"|"expired"|"unknown" unknown: held, but its times do not say when it expires
---@field holder? string
---@field run_id? string
---@field host? string
---@field pid? string
---@field playbook? string
---@field since? number acquireTime, seconds since the epoch
---@field renewed? number renewTime
---@field expires? number renewTime + leaseDurationSeconds
---@field transitions? integer leaseTransitions
---@field problem? string why the expiry cannot be told (state "unknown")

---Takes the cluster lock: creates the Lease, or takes it when free or expired (an expired one with
---a warning naming its last holder), with the resourceVersion read as a precondition, so that of
---two racing runs exactly one wins. Starts the heartbeat. The lock is held until `l:release()`
---(or `<close>`), or until the task that took it ends. Raises kind `"locked"` when another
---holder's lock is live or cannot be judged (`err.holder`, `host`, `pid`, `run_id`, `since`,
---`renewed`, `expires`), `"not_found"` when the namespace is missing, `"usage"` for bad options.
---@async
---@param opts? vmrun.LockOptions
---@return vmrun.Lock
function lock.acquire(opts) end

---What the lock's Lease says now, without taking it; nil when there is no such Lease.
---@param opts? {name?: string, namespace?: string}
---@return vmrun.LockStatus|nil
function lock.status(opts) end

---This run's id ("20261127T081604Z-28140-3fa2"), the same for every call in a run.
---@return string
function lock.run_id() end

---A lock taken by `lock.acquire`.
---@class vmrun.Lock
---@field name string
---@field namespace string
---@field holder string
---@field run_id string
---@field host string
---@field pid string
---@field playbook? string
---@field ttl number seconds
---@field acquired number when it was taken (seconds since the epoch)
---@field renewed number its last renewal
---@field expires number when it expires unless renewed
---@field lost? string why it was lost (another holder, its Lease deleted, renewals failing until it expired)
---@field released? boolean
---@field took_over? vmrun.LockStatus the expired lock it took over
local Lock = {}

---Stops the heartbeat and clears the holder if the lock is still this run's (true then); false
---when it is someone else's now, or could not be cleared (logged). Never raises for the
---cluster's errors; `<close>` calls it.
---@async
---@return boolean
function Lock:release() end

---True while the lock is neither lost nor released.
---@return boolean
function Lock:held() end

---Raises kind `"lock_lost"` (with `err.reason`) when the lock was lost or released: what a run
---calls before it starts new work.
function Lock:check() end
