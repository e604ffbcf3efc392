---@meta vmrun.exec
error('Cannot require a meta file')

-- LuaLS annotations for the `exec` module (bindings/exec.c).

---The `exec` module: host commands from argv arrays, never through a shell (`os.execute` and
---`io.popen` are disabled). A global loaded on first use; also `require("vmrun.exec")`.
exec = {}

---The argv array and options of `exec.run`: `{"prog", "arg", ..., timeout = "30s", check = true}`.
---@class vmrun.ExecOptions
---@field [integer] string|number the program (looked up in PATH) and its arguments
---@field timeout? vmrun.Duration stop the command (SIGTERM, SIGKILL 5s later) and raise kind "timeout"
---@field env? table<string, string> variables added to the inherited environment
---@field cwd? string working directory of the command
---@field stdin? string text written to the command's stdin (default: /dev/null)
---@field check? boolean raise `vmrun.Error{kind="exec"}` when the command does not exit with 0

---What a command did. Output is captured up to 16 MiB per stream.
---@class vmrun.ExecResult
---@field ok boolean exited with status 0
---@field status? integer exit status (absent when killed by a signal)
---@field signal? integer the signal that killed it (absent when it exited)
---@field stdout string
---@field stderr string
---@field truncated boolean output beyond the capture limit was dropped
---@field seconds number how long it ran (real time)

---Runs a host command and waits for it (in real time, even under the virtual clock; other tasks
---run meanwhile). A non-zero exit is not an error unless `check = true`. Raises
---`vmrun.Error{kind="exec", resource=prog}` when the program cannot be started (or, with
---`check = true`, exits non-zero or is killed: then `status`, `stdout` and `stderr` are set and the
---message ends with the first line of stderr), kind `"timeout"` when it outlives `timeout`, kind
---`"cancelled"` when the task is cancelled (the command is stopped too). Misuse (empty argv,
---non-string arguments, unknown options) raises a plain error with the caller's `file:line`.
---@async
---@param argv vmrun.ExecOptions
---@return vmrun.ExecResult
function exec.run(argv) end

return exec
