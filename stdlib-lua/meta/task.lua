---@meta vmrun.task
error('Cannot require a meta file')

-- LuaLS annotations for the `task` module and the vmrun.Task handle (bindings/task.c).

---The `task` module: concurrent tasks on vmrun's scheduler. Every piece of playbook code runs in a
---task (the main chunk is task 0); a function that waits yields its task and the others run.
---A global loaded on first use; also `require("vmrun.task")`.
task = {}

---The state of a task: `"new"` (spawned, not started), `"ready"`, `"running"`, `"waiting"`, or
---finished: `"done"` (returned), `"failed"` (raised), `"cancelled"` (ended by its cancellation).
---@alias vmrun.TaskStatus "new"|"ready"|"running"|"waiting"|"done"|"failed"|"cancelled"

---A handle on a task. `t.id` is its number; `tostring(t)` is `"vmrun.Task 3 (waiting)"`.
---Declared `local t <close> = task.spawn(...)`, leaving the scope cancels t if it still runs.
---@class vmrun.Task
---@field id integer the task's number (0 is the playbook's main chunk)
local Task = {}

---Options of a wait.
---@class vmrun.WaitOptions
---@field timeout? vmrun.Duration give up after this long (seconds or `"20m"`); default: no limit

---Starts `fn(...)` as a new task and returns its handle. The new task runs when the caller next
---waits. An error in it fails the whole run unless some task is already waiting for it
---(`t:wait()`, `task.all`) when it fails. Raises when `fn` is not a function.
---@param fn fun(...: any): any
---@param ... any arguments for fn
---@return vmrun.Task
function task.spawn(fn, ...) end

---Waits for `duration` (seconds or `"90s"`, `"20m"`, ...) on the run's clock. Under the virtual
---clock it returns as soon as every other task is waiting too, with the clock moved forward.
---Raises on a bad duration, outside a task (e.g. in a coroutine of your own), and
---`vmrun.Error{kind="cancelled"}` when the task is cancelled.
---@async
---@param duration vmrun.Duration
function task.sleep(duration) end

---Lets every other ready task run, then continues. The clock does not move.
---Raises `vmrun.Error{kind="cancelled"}` when the task is cancelled, and outside a task.
---@async
function task.yield() end

---Waits for every element of `list`: `vmrun.Task` handles and/or functions (each function is
---spawned here as a new task). Returns an array whose i-th value is the first result of `list[i]`.
---The first failure cancels the others and is raised; when `opts.timeout` passes first, the
---unfinished ones are cancelled and `vmrun.Error{kind="timeout"}` is raised. Raises on an element
---that is neither a task nor a function, and on unknown options.
---@async
---@param list (vmrun.Task|fun(): any)[]
---@param opts? vmrun.WaitOptions
---@return any[] results
function task.all(list, opts) end

---The handle of the running task. Raises outside a task.
---@return vmrun.Task
function task.current() end

---Every unfinished task, the caller included, oldest first. For leak checks and debugging.
---@return vmrun.Task[]
function task.list() end

---Waits until the task has finished and returns its results. Re-raises the task's error (which
---then counts as handled). Raises `vmrun.Error{kind="timeout"}` when the timeout passes first (the
---task keeps running), `vmrun.Error{kind="cancelled"}` when the waiting task is cancelled, and a
---plain error when a task waits for itself. A task cancelled before it started fails with kind
---`"cancelled"` too.
---@async
---@param timeout? vmrun.Duration|vmrun.WaitOptions seconds, `"20m"`, or `{timeout = ...}`
---@return any ...
function Task:wait(timeout) end

---Requests cancellation: the task gets `vmrun.Error{kind="cancelled", message="cancelled: "..reason}`
---at its current or next wait, so its `<close>` handlers and pcall cleanup run (and may still
---wait). Does not wait for it; a no-op when it has finished. Never raises for a valid handle.
---@param reason? string default `"cancelled by t:cancel()"`
function Task:cancel(reason) end

---The task's state.
---@return vmrun.TaskStatus
function Task:status() end

return task
