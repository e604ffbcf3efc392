---@meta vmrun.journal.core
error('Cannot require a meta file')

-- LuaLS annotations for vmrun.journal.core (bindings/journal.c): the file side of a run's
-- journal. Playbooks use `require("vmrun.journal")` (stdlib-lua/vmrun/journal.lua), which
-- encodes the records; see docs/journal.md.

local journal_core = {}

---@class vmrun.RunInfo
---@field id string the run id
---@field resuming boolean a `vmrun resume`
---@field state_dir? string --state-dir
---@field playbook? string the playbook's full path
---@field cwd? string the folder the run started in
---@field argv string[] vmrun's command line (after the program's name), without --window-end and --run-id
---@field named? boolean the id was given (--run-id): the run's journal must be new
---@field window_end? integer --window-end: the window's end, seconds since the epoch (wall clock)

---What the host said of this run (a copy). Never fails.
---@return vmrun.RunInfo
function journal_core.run() end

---Opens the journal at `path` for appending (making its folders, mode 0700, and the file, 0600);
---with `valid_len`, first cuts the file to that length. Raises kind `"io"` naming the file.
---@param path string
---@param valid_len? integer
---@return vmrun.JournalFile
function journal_core.open(path, valid_len) end

---The journal's complete lines, whether a partial last line (cut by a crash) was left out, and
---the length of the complete lines; nil when there is no such file. Raises kind `"io"`.
---@param path string
---@return string[]|nil lines
---@return boolean partial
---@return integer valid_len
function journal_core.read(path) end

---Adds the run to the index of runs; nil and the reason when it cannot (never raises).
---@param id string
---@param path string
---@return true|nil
---@return string? why
function journal_core.index_add(id, path) end

---@class vmrun.JournalFile
local JournalFile = {}

---Writes `line` and a newline and returns once they are on disk. Raises kind `"io"`.
---@param line string one line (no newline in it)
function JournalFile:append(line) end

---Closes the file (again: nothing).
function JournalFile:close() end
