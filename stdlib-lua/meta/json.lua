---@meta vmrun.json
error('Cannot require a meta file')

-- LuaLS annotations for the `json` module (bindings/json.c).

---The `json` module: JSON text <-> Lua values. Objects and arrays decode to tables tagged with
---their shape (so `{}` and `[]` round-trip), null to `json.null`, integral numbers that fit in 64
---bits to integers. A global loaded on first use; also `require("vmrun.json")`.
json = {}

---The null sentinel (the same value as `vmrun.null` and `yaml.null`).
---@type vmrun.Null
json.null = nil

---@class vmrun.JsonDecodeOptions
---@field name? string source name used in error messages (default `"json"`)

---@class vmrun.JsonEncodeOptions
---@field pretty? boolean one member per line (default false: compact)
---@field indent? integer spaces per level, 1..16 (default 2); giving it alone turns `pretty` on
---@field sort_keys? boolean object keys in byte order (default true)

---Decodes JSON text. Raises `vmrun.Error{kind="decode", line=, column=, resource=NAME}` with the
---message `"NAME:LINE:COL: what"` for invalid JSON; a plain argument error for a non-string
---`text` or bad options.
---@param text string
---@param opts? vmrun.JsonDecodeOptions
---@return any
function json.decode(text, opts) end

---Like `json.decode`, but returns `nil, err` (a `vmrun.Error` of kind "decode") instead of raising
---it. Misuse still raises.
---@param text string
---@param opts? vmrun.JsonDecodeOptions
---@return any value
---@return vmrun.Error? err
function json.try_decode(text, opts) end

---Reads and decodes a whole file. Raises `vmrun.Error{kind="input", resource=path}` when it cannot
---be read, and kind "decode" with the message `"PATH:LINE:COL: what"` when it is invalid.
---@param path string
---@return any
function json.decode_file(path) end

---Encodes a value as JSON text (compact by default, object keys sorted). Raises
---`vmrun.Error{kind="encode"}` naming the offending path (`"$.spec.items[3]: ..."`) for tables
---mixing integer and string keys, sparse arrays, cycles, nesting deeper than 1000, NaN or
---infinity, functions, threads, and userdata other than the null sentinel; a plain argument error
---for bad options.
---@param value any
---@param opts? vmrun.JsonEncodeOptions
---@return string
function json.encode(value, opts) end

---Tags `t` (or a new empty table) as a JSON object, so that it encodes as `{}` even when empty.
---Returns the same table. Raises when `t` is not a table or already has another metatable.
---@generic T: table
---@param t? T
---@return T
function json.object(t) end

---Tags `t` (or a new empty table) as a JSON array, so that it encodes as `[]` even when empty.
---Returns the same table. Raises when `t` is not a table or already has another metatable.
---@generic T: table
---@param t? T
---@return T
function json.array(t) end

---True when `v` is the null sentinel. Raises only when called without an argument.
---@param v any
---@return boolean
function json.is_null(v) end

return json
