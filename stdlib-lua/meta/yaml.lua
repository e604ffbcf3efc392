---@meta vmrun.yaml
error('Cannot require a meta file')

-- LuaLS annotations for the `yaml` module (bindings/yaml.c).

---The `yaml` module: YAML text <-> Lua values, with the same conventions as `json` (null sentinel,
---object/array shape tags, integers kept). Plain scalars follow the YAML 1.2 core schema: `yes`
---and `no` stay strings. A global loaded on first use; also `require("vmrun.yaml")`.
yaml = {}

---The null sentinel (the same value as `vmrun.null` and `json.null`).
---@type vmrun.Null
yaml.null = nil

---@class vmrun.YamlDecodeOptions
---@field name? string source name used in error messages (default `"yaml"`)

---@class vmrun.YamlTryDecodeOptions: vmrun.YamlDecodeOptions
---@field all? boolean decode every document, like `yaml.decode_all`

---@class vmrun.YamlFileOptions
---@field all? boolean return the array of every non-empty document

---@class vmrun.YamlEncodeOptions
---@field sort_keys? boolean mapping keys in byte order (default true)
---@field indent? integer spaces per level, 2..9 (default 2)

---Decodes the single document of a YAML stream (`yaml.null` when there is none). Raises
---`vmrun.Error{kind="decode", line=, column=, resource=NAME}` with the message
---`"NAME:LINE:COL: what"` for invalid YAML and for a stream of several documents; a plain argument
---error for a non-string `text` or bad options.
---@param text string
---@param opts? vmrun.YamlDecodeOptions
---@return any
function yaml.decode(text, opts) end

---Decodes every non-empty document of a YAML stream, in order (empty and null documents are
---skipped, as kubectl does). Raises like `yaml.decode`.
---@param text string
---@param opts? vmrun.YamlDecodeOptions
---@return any[]
function yaml.decode_all(text, opts) end

---`yaml.decode` (or `yaml.decode_all` with `all = true`) that returns `nil, err` instead of raising
---the decode error. Misuse still raises.
---@param text string
---@param opts? vmrun.YamlTryDecodeOptions
---@return any value
---@return vmrun.Error? err
function yaml.try_decode(text, opts) end

---Reads and decodes a whole file: its single document, or with `all = true` the array of its
---non-empty documents. Raises `vmrun.Error{kind="input", resource=path}` when it cannot be read and
---kind "decode" with the message `"PATH:LINE:COL: what"` when it is invalid.
---@param path string
---@param opts? vmrun.YamlFileOptions
---@return any
function yaml.decode_file(path, opts) end

---Encodes a value as block-style YAML that `yaml.decode` reads back as the same value. Raises
---`vmrun.Error{kind="encode"}` naming the path (`"$.spec.items[3]"`) for nil, cycles, too deep
---nesting, functions, threads, userdata other than the null sentinel, mixed or sparse tables,
---non-string mapping keys and strings that are not UTF-8; a plain argument error for bad options.
---@param value any
---@param opts? vmrun.YamlEncodeOptions
---@return string
function yaml.encode(value, opts) end

return yaml
