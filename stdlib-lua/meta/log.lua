---@meta vmrun.log
error('Cannot require a meta file')

-- LuaLS annotations for the `log` module (bindings/log.c).

---The `log` module: leveled log lines on stderr, stamped with the run's clock, as text or as JSON
---lines (`--log-format json`). A global loaded on first use; also `require("vmrun.log")`.
log = {}

---Fields of a log line: string keys, any encodable values. Text lines show them as sorted
---`key=value` pairs (tables as compact JSON); JSON lines add them as members.
---@alias vmrun.LogFields table<string, any>

---Writes a debug line (shown only with `-v`). `msg` may be any value (tostring is applied).
---Raises when `fields` is not a table, or (JSON format) cannot be encoded.
---@param msg any
---@param fields? vmrun.LogFields
function log.debug(msg, fields) end

---Writes an info line (hidden by `-q`). Raises like `log.debug`.
---@param msg any
---@param fields? vmrun.LogFields
function log.info(msg, fields) end

---Writes a warning line. Raises like `log.debug`.
---@param msg any
---@param fields? vmrun.LogFields
function log.warn(msg, fields) end

---Writes an error line (the run goes on; raise an error to fail it). Raises like `log.debug`.
---@param msg any
---@param fields? vmrun.LogFields
function log.error(msg, fields) end

---The lowest level that is written: `"debug"` with `-v`, `"warn"` with `-q`, else `"info"`.
---@return "debug"|"info"|"warn"|"error"
function log.level() end

---Keeps `text` as the live status line under the log lines (replacing the previous one); nil or
---`""` removes it. Only on a terminal with text logs (true); elsewhere nothing is written (false),
---so progress must also go to log lines.
---@param text? string
---@return boolean shown
function log.status(text) end

return log
