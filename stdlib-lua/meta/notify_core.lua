---@meta vmrun.notify.core
error('Cannot require a meta file')

-- LuaLS annotations for vmrun.notify.core (bindings/notify.c): one JSON POST to a webhook.
-- Playbooks use `require("vmrun.notify")` (stdlib-lua/vmrun/notify.lua); see docs/notify.md.

local notify_core = {}

---POSTs `body` (a JSON text) to `url` and returns the answer's 2xx status. `opts.timeout`:
---seconds per attempt (default 10); connection errors, 429 and 503 are tried up to 3 times.
---Raises kind `"notify"` naming only the scheme and host ("POST to https://host: HTTP 500"),
---`"usage"` for a URL that is not http(s), `"timeout"` or `"cancelled"`.
---@async
---@param url string
---@param body string
---@param opts? {timeout?: number}
---@return integer status
function notify_core.post(url, body, opts) end
