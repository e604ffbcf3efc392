-- notify.lua: webhook notifications of a run (docs/notify.md): a JSON POST per event to the URL
-- the user names (a config file's notify.url, else $VMRUN_NOTIFY_URL), each sent by a task of its
-- own so that the run does not wait for a slow receiver, in the order the events happened. A
-- notification that cannot be sent is a warning, never a reason to stop the maintenance. The URL
-- is a secret (webhook URLs hold their token): only its scheme and host are ever logged. It never
-- touches the cluster.
local core = require("vmrun.notify.core")
local json = require("vmrun.json")
local log = require("vmrun.log")
local task = require("vmrun.task")
local time = require("vmrun.time")
local vmrun = require("vmrun")

local M = {}

M.EVENTS = { start = true, node = true, failure = true, ["end"] = true }

local Notifier = {}
Notifier.__index = Notifier

local function host_of(url)
  return url:match("^(https?://[^/?#]+)") or "the webhook"
end

--- notify.webhook(url [, {events=, timeout=, context=}]) -> notifier | nil
-- A notifier posting to url (nil for nil or ""): events (a list of "start", "node", "failure",
-- "end"; default all), timeout (seconds per attempt, default 10), context (fields added to every
-- payload, such as run and cluster). Raises kind "usage" for a URL that is not http(s) or an
-- unknown event.
function M.webhook(url, opts)
  if url == nil or url == "" then return nil end
  if type(url) ~= "string" or not url:match("^https?://[^/?#]+") then
    vmrun.error("usage", "notify.webhook: the URL must be http:// or https:// with a host", { level = 2 })
  end
  opts = opts or {}
  local events = {}
  for _, e in ipairs(opts.events or { "start", "node", "failure", "end" }) do
    if not M.EVENTS[e] then
      vmrun.error("usage", ("notify.webhook: unknown event %s (start, node, failure, end)"):format(tostring(e)),
        { level = 2 })
    end
    events[e] = true
  end
  return setmetatable({ url = url, host = host_of(url), events = events, timeout = opts.timeout or 10,
    context = opts.context or {}, sent = 0, failed = 0, last = nil }, Notifier)
end

--- notifier:send(event, fields)
-- Posts {event, at (RFC 3339), ...context, ...fields} unless the notifier leaves event out. Returns
-- at once: a task sends it after the ones before it; a failure is logged as a warning.
function Notifier:send(event, fields)
  if not self.events[event] then return end
  local payload = { event = event, at = time.format(time.now()) }
  for k, v in pairs(self.context) do payload[k] = v end
  for k, v in pairs(fields or {}) do payload[k] = v end
  local body = json.encode(payload)
  local before = self.last
  self.last = task.spawn(function()
    if before then pcall(before.wait, before) end -- in the order they happened
    local ok, err = pcall(core.post, self.url, body, { timeout = self.timeout })
    if ok then
      self.sent = self.sent + 1
    else
      if vmrun.is_error(err, "cancelled") then error(err, 0) end
      self.failed = self.failed + 1
      log.warn(("notification %q not sent to %s: %s"):format(event, self.host,
        tostring(type(err) == "table" and err.message or err):gsub("^[^:]+:%d+: ", "")), { event = event })
    end
  end)
end

--- notifier:flush([timeout])
-- Waits until the notifications sent so far are through (or failed), at most timeout seconds
-- (default 30).
function Notifier:flush(timeout)
  if self.last then pcall(self.last.wait, self.last, { timeout = timeout or 30 }) end
end

return M
