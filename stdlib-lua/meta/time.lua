---@meta vmrun.time
error('Cannot require a meta file')

-- LuaLS annotations for the `time` module (bindings/time.c).

---The `time` module: the run's clock (virtual by default, real with `--real-time`) and durations.
---A global loaded on first use; also `require("vmrun.time")`.
time = {}

---Seconds since the Unix epoch on the run's clock, in millisecond steps. Under the virtual clock
---this is simulated time: it stands still while Lua code runs and jumps when every task waits.
---Never raises.
---@return number
function time.now() end

---Formats `t` (seconds since the epoch; default `time.now()`) as RFC 3339 UTC with milliseconds,
---e.g. `"2026-11-25T17:20:00.000Z"`. Raises on a non-number or a negative time.
---@param t? number
---@return string
function time.format(t) end

---Parses a duration into seconds (a float): `"500ms"`, `"90s"`, `"20m"`, `"2h"`, `"1d"`,
---`"1h30m"`, `"1.5h"`, or a number of seconds (>= 0). Raises with the caller's `file:line` on a
---bad duration (`"1h30"` is refused as ambiguous).
---@param d vmrun.Duration
---@return number seconds
function time.duration(d) end

---True when the run uses the virtual (simulated) clock, false with `--real-time`.
---@return boolean
function time.is_virtual() end

return time
