---@meta vmrun.gate.core
error('Cannot require a meta file')

-- LuaLS annotations for vmrun.gate.core (bindings/gate_core.c): the sources of an approval gate and
-- the wait for the first answer. Playbooks use the global `gate` (stdlib-lua/vmrun/gate.lua); see
-- docs/gates.md.

local gate_core = {}

---@class vmrun.GateOpenOptions
---@field message string the question
---@field tty? boolean ask on the terminal when the gate is waited on (refused unless stdin is one)
---@field file? string an answer file, watched from now
---@field http? string "127.0.0.1:PORT" to listen on now (port 0: a free one)

---Opens a gate's sources. Raises kind `"usage"` for bad options, an address that is not loopback
---(127.0.0.0/8) or `tty` without a terminal on stdin, `"io"` when it cannot listen, watch the file
---or get random bytes for the token.
---@param opts vmrun.GateOpenOptions
---@return vmrun.Gate
function gate_core.open(opts) end

---The terminal a gate would ask on: stdin's name ("/dev/pts/3") when stdin is a terminal and vmrun
---runs in its foreground; else nil and why not. Never raises.
---@return string|nil name
---@return string? why
function gate_core.terminal() end

---@class vmrun.Gate
local Gate = {}

---Waits for the first answer: `approved` (boolean), `how` (`"terminal"`, `"file"`, `"http"`, or
---`"abort"` when the run was asked to stop) and `who` answered; `nil, "timeout"` when `timeout`
---passes first. The sources are closed when it returns; an answered gate returns its answer again.
---Raises kind `"cancelled"` (the sources are closed too), and misuse errors for a closed gate that
---was never answered, a second waiting task or a bad timeout.
---@async
---@param timeout? vmrun.Duration
---@return boolean|nil approved
---@return string how
---@return string? who
function Gate:wait(timeout) end

---Closes the sources (again: nothing). Misuse error while a task waits on the gate.
function Gate:close() end

---"http://127.0.0.1:PORT" of the HTTP source, nil without one.
---@return string|nil
function Gate:url() end

---The HTTP source's one-time token (32 hex digits) while the gate is open, else nil. For the
---operator only: never log it.
---@return string|nil
function Gate:token() end
