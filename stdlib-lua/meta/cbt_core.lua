---@meta vmrun.cbt.core
error('Cannot require a meta file')

-- LuaLS annotations for vmrun.cbt.core (bindings/cbt_core.c), the C half of the `cbt` module:
-- stdlib-lua/vmrun/cbt.lua re-exports the readers and adds the checks. Playbooks use `cbt`
-- (meta/cbt.lua), not this module.

local cbt_core = {}

---See `cbt.parse_vmx`.
---@param path string
---@return vmrun.Vmx
function cbt_core.parse_vmx(path) end

---See `cbt.parse_vmsd`.
---@param path string
---@return vmrun.Vmsd
function cbt_core.parse_vmsd(path) end

---See `cbt.parse_vmdk`.
---@param path string
---@return vmrun.Vmdk
function cbt_core.parse_vmdk(path) end

---The entries of a folder, sorted by name ("." and ".." left out): the size of regular files in
---bytes, `dir = true` for folders. Raises kind `"input"` (resource = the folder) when it cannot be
---read.
---@param dir string
---@return {name: string, size?: integer, dir?: boolean}[]
function cbt_core.files(dir) end

---Replaces the file at path with text, crash-safely: it must still hold exactly `expected` (else
---kind `"refused"`); `expected` goes first to `backup` (a new file, never over an existing one),
---then text to a synced temporary file renamed over path. Raises kind `"input"` on I/O errors.
---@param path string
---@param expected string
---@param text string
---@param backup string
---@return true
function cbt_core.replace_file(path, expected, text, backup) end
