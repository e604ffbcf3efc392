---@meta vmrun
error('Cannot require a meta file')

-- LuaLS annotations for the `vmrun` module (bindings/vmrun.c). Not loaded by vmrun itself.

---The `vmrun` module: version, the null sentinel, structured errors, deliberate globals, exit
---and runtime statistics. A global loaded on first use; also `require("vmrun")`.
vmrun = {}

---The vmrun version, e.g. `"0.1.0"`.
---@type string
vmrun.version = ""

---The null sentinel: stands for JSON/YAML null, so that keys with null values are kept and arrays
---keep their length. The same value as `json.null` and `yaml.null`; `tostring(vmrun.null)` is
---`"null"`.
---@type vmrun.Null
vmrun.null = nil

---The one null value (a userdata). Compare with `==` or use `json.is_null(v)`.
---@class vmrun.Null: userdata

---Well-known error kinds. Scripts branch on `err.kind`, never on the message text.
---`"usage"` misuse caught by vmrun (os.execute, io.popen) · `"input"` a file cannot be read ·
---`"decode"` invalid JSON/YAML · `"encode"` a value cannot be encoded · `"timeout"` a wait timed out ·
---`"cancelled"` the task was cancelled · `"runtime"` a plain Lua error (string or other value) that
---left a task · `"exec"` a host command could not run or failed with `check=true` ·
---`"memory"` the `--max-memory` limit was reached · `"exit"` raised by `os.exit`/`vmrun.exit`.
---@alias vmrun.ErrorKind
---| "usage"
---| "input"
---| "decode"
---| "encode"
---| "timeout"
---| "cancelled"
---| "runtime"
---| "exec"
---| "memory"
---| "exit"
---| string

---A structured error (a table with the metatable `vmrun.Error`; `tostring(err)` is its message).
---Raised by failed waits, codecs, host commands and `vmrun.error`; caught with `pcall`.
---@class vmrun.Error
---@field kind vmrun.ErrorKind what failed; branch on this
---@field message string one line, usually prefixed with the Lua caller's `file:line: `
---@field status? integer exit status (kind "exec", "exit") or an HTTP status
---@field resource? string the object, file or program concerned
---@field traceback? string set when the error leaves a task: the traceback through the task chain
---@field where? string the Lua caller's `file:line`, for errors that carry it
---@field value? any kind "runtime" only: the original error value when it was not a string
---@field line? integer kind "decode": 1-based line of the error in the text
---@field column? integer kind "decode": 1-based column of the error in the text
---@field stdout? string kind "exec" with `check=true`: the command's captured stdout
---@field stderr? string kind "exec" with `check=true`: the command's captured stderr

---Raises a `vmrun.Error{kind=kind, message="file:line: "..message}`; string-keyed entries of
---`fields` (other than kind, message and level) are copied onto the error. `fields.level` says
---whose file:line: 1 (the default) the caller, 2 the caller's caller (for library functions that
---blame their own caller). Does not return.
---Raises a plain Lua error on bad arguments (non-string kind/message, non-table fields).
---@param kind vmrun.ErrorKind
---@param message string
---@param fields? table<string, any> extra fields, e.g. `{resource = "vm/db-1", status = 409}`
function vmrun.error(kind, message, fields) end

---True when `v` is a `vmrun.Error` (and, when `kind` is given, of that kind). Never raises.
---@param v any
---@param kind? vmrun.ErrorKind
---@return boolean
function vmrun.is_error(v, kind) end

---Defines a global on purpose, without the "new global" warning (a plain `x = 1` at top level
---warns once per name). Raises when `name` is not a string.
---@param name string
---@param value any
function vmrun.global(name, value) end

---Ends the run with `code` (default 0) after cancelling every task and running their cleanup
---(`<close>` handlers, pcall). Same as `os.exit(code)`. Does not return: it raises a
---`vmrun.Error{kind="exit", status=code}`, which a `pcall` can catch (do not swallow it).
---@param code? integer
function vmrun.exit(code) end

---From now on the first SIGINT/SIGTERM (Ctrl-C, `vmrun abort`) only asks the playbook to stop
---(`vmrun.abort_requested()` says why), the second cancels every task, the third exits at once.
function vmrun.stop_gracefully() end

---Why the run was asked to stop, or nil.
---@return string?
function vmrun.abort_requested() end

---Asks the run to stop as an interrupt would after `vmrun.stop_gracefully()`.
---@param reason string
function vmrun.request_abort(reason) end

---Runtime counters, for leak checks and debugging. Never raises.
---@return vmrun.Stats
function vmrun.stats() end

---The value without `vmrun.null` anywhere in it, so that optional fields read with `or`: the
---value itself when it holds no null, else a copy of the tables on the way to each null (the
---others shared). Read the result, do not change it. Raises kind `"usage"` past 200 nested
---tables.
---@generic T
---@param value T
---@return T
function vmrun.without_nulls(value) end

---@class vmrun.Stats
---@field tasks integer live (unfinished) tasks, the caller included
---@field waiting integer tasks blocked in a wait
---@field timers integer pending clock timers (sleeps, timeouts)
---@field real_pending integer real I/O in flight (host commands, HTTP)
---@field memory_kb integer size of the Lua heap in KiB

---A duration: seconds as a number, or a string such as `"500ms"`, `"90s"`, `"20m"`, `"2h"`,
---`"1d"` or `"1h30m"`.
---@alias vmrun.Duration number|string

return vmrun
