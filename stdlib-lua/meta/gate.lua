---@meta vmrun.gate
error('Cannot require a meta file')

-- LuaLS annotations for the `gate` module (stdlib-lua/vmrun/gate.lua).

---Approval gates: a yes or no from the terminal, an answer file or a loopback HTTP POST
---(docs/gates.md). A global loaded on first use; also `require("vmrun.gate")`.
gate = {}

---@class vmrun.GateOptions
---@field timeout? vmrun.Duration how long to wait (default: for ever); then `default`, or false
---@field default? boolean the answer on a timeout, and where nobody can be asked
---@field file? string|false an answer file (default $VMRUN_APPROVAL_FILE; false: none)
---@field http? string|false "127.0.0.1:PORT" to listen on (default $VMRUN_APPROVAL_HTTP; false: none)
---@field tty? boolean ask on the terminal (default: when stdin is one and the clock is real)

---Asks `message` and returns the first answer: `approved`, `how` (`"terminal"`, `"file"`,
---`"http"`, `"timeout"`, `"default"` or `"abort"`) and `who` answered. Waits while it asks.
---Raises kind `"usage"` when nobody can answer and no `default` is given, or for bad options;
---`"io"` when it cannot listen or watch the file; `"cancelled"` when the task is cancelled.
---@async
---@param message string
---@param opts? vmrun.GateOptions
---@return boolean approved
---@return "terminal"|"file"|"http"|"timeout"|"default"|"abort" how
---@return string who
function gate.approve(message, opts) end
