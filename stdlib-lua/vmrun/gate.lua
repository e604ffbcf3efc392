-- vmrun/gate.lua: the `gate` module: approval gates (docs/gates.md). gate.approve asks a yes or no
-- question and returns the first answer of the terminal, an answer file or a loopback HTTP
-- endpoint (vmrun.gate.core waits for them), or its default on a timeout or where nobody can be
-- asked; it journals the question and the answer when the run journals. The HTTP source's token is
-- printed once on stderr for the operator and nowhere else: not in log lines, the journal, the
-- results or errors. Decides nothing for the playbook (a denial is an answer, not an error) and
-- never touches the cluster.
local core = require("vmrun.gate.core")
local vmrun = require("vmrun")
local log = require("vmrun.log")
local time = require("vmrun.time")
local json = require("vmrun.json")

local M = {}

M.FILE_ENV = "VMRUN_APPROVAL_FILE"
M.HTTP_ENV = "VMRUN_APPROVAL_HTTP"

local OPTIONS = { timeout = true, default = true, file = true, http = true, tty = true }

-- Raises kind "usage" at the line that called gate.approve (depth: the functions between
-- gate.approve and usage_at, gate.approve counted).
local function usage_at(depth, fmt, ...)
  vmrun.error("usage", "gate.approve: " .. fmt:format(...), { level = depth + 2 })
end
local function usage(fmt, ...) usage_at(2, fmt, ...) end

local function seconds(s)
  if s >= 3600 and s % 3600 == 0 then return ("%d h"):format(s // 3600) end
  if s >= 60 and s % 60 == 0 then return ("%d min"):format(s // 60) end
  return ("%g s"):format(s)
end

-- A source option: false turns it off, nil takes the environment variable (empty: none).
local function source(value, env, name)
  if value == false then return nil end
  if value == nil then
    local v = os.getenv(env)
    if v == nil or v == "" then return nil end
    return v
  end
  if type(value) ~= "string" or value == "" then
    usage_at(2, "%s must be a non-empty string, or false for none (got %s)", name,
      value == "" and '""' or type(value))
  end
  return value
end

-- The journal's record, when this run journals (the token is never among the fields).
local function record(fields)
  local j = require("vmrun.journal").active()
  if j then j:record("gate", fields) end
end

local function answered(message, approved, how, who)
  record({ phase = "end", message = message, approved = approved, how = how, who = who })
  local text = ("gate: %s (%s: %s): %s"):format(approved and "approved" or "denied", how, who, message)
  if how == "timeout" or how == "abort" then log.warn(text) else log.info(text) end
  return approved, how, who
end

--- gate.approve(message [, {timeout=, default=, file=, http=, tty=}]) -> approved, how, who
-- Asks `message` and waits for the first answer (see docs/lua-api.md, gate).
function M.approve(message, opts)
  if type(message) ~= "string" or message == "" then usage("the message must be a non-empty string") end
  if opts ~= nil and type(opts) ~= "table" then usage("options must be a table") end
  opts = opts or {}
  for k in pairs(opts) do
    if not OPTIONS[k] then
      usage("unknown option %s (expected timeout, default, file, http, tty)", tostring(k))
    end
  end
  local timeout
  if opts.timeout ~= nil then
    local ok, t = pcall(time.duration, opts.timeout)
    if not ok then usage("bad timeout %s: a duration such as 30, \"10m\" or \"2h\"", tostring(opts.timeout)) end
    timeout = t
  end
  local default = opts.default
  if default ~= nil and type(default) ~= "boolean" then usage("default must be true or false") end
  if opts.tty ~= nil and type(opts.tty) ~= "boolean" then usage("tty must be true or false") end
  local file = source(opts.file, M.FILE_ENV, "file")
  local http = source(opts.http, M.HTTP_ENV, "http")

  local terminal, not_terminal = core.terminal()
  local virtual = time.is_virtual()
  local tty
  if opts.tty == true then
    if not terminal then usage("tty = true, but %s: nobody can answer there", not_terminal) end
    tty = true
  elseif opts.tty == nil then
    tty = terminal ~= nil and not virtual
  end

  local why_not = opts.tty == false and "the terminal is not asked (tty = false)"
    or (terminal and virtual and "a simulated run (virtual clock) is not asked on the terminal")
    or not_terminal
  if not (tty or file or http) then
    if default == nil then
      usage("nobody can answer %q: %s, and no answer file or HTTP address is given. Name one "
        .. "(file= or $%s: a file to write approve or deny into; http= or $%s: 127.0.0.1:PORT "
        .. "to POST /approve or /deny to), pass tty = true on a terminal, or default= to answer "
        .. "without asking (docs/gates.md)", message, why_not, M.FILE_ENV, M.HTTP_ENV)
    end
    record({ phase = "begin", message = message, sources = json.array(), default = default })
    return answered(message, default, "default", "the default: " .. why_not)
  end

  local reason = vmrun.abort_requested()
  if reason then
    record({ phase = "begin", message = message, sources = json.array() })
    return answered(message, false, "abort", reason)
  end

  local g <close> = core.open({ message = message, tty = tty, file = file, http = http })
  local sources, fields = json.array(), { timeout = timeout and seconds(timeout) or nil }
  if tty then
    sources[#sources + 1] = "terminal"
    fields.terminal = terminal
  end
  if file then
    sources[#sources + 1] = "file"
    fields.file = file
  end
  local url = g:url()
  if url then
    sources[#sources + 1] = "http"
    fields.http = url
  end
  record({ phase = "begin", message = message, sources = sources,
    timeout = timeout, default = default })
  log.info("gate: waiting for an answer: " .. message, fields)
  if url then
    log.info(("gate: answer with POST %s/approve or %s/deny and the token printed on stderr "
      .. "(GET %s/ says how)"):format(url, url, url))
    log.status(nil)
    io.stderr:write(("vmrun: to answer the gate: curl -X POST -H 'Authorization: Bearer %s' "
      .. "%s/approve (or %s/deny)\n"):format(g:token(), url, url))
    io.stderr:flush()
  end

  local ok, approved, how, who = pcall(g.wait, g, timeout)
  if not ok then
    record({ phase = "end", message = message, approved = false,
      how = vmrun.is_error(approved, "cancelled") and "cancelled" or "error" })
    error(approved, 0)
  end
  if how == "timeout" then
    approved = default == true
    who = ("no answer in %s; %s"):format(seconds(timeout),
      default == nil and "denied as no default was given" or "the default")
  end
  return answered(message, approved, how, who)
end

return M
