-- spec_helpers.lua: helpers shared by the Lua specs (not a spec itself): running a child vmrun
-- with the same binary and runtime as the current run, temporary directories, line splitting,
-- log lines recorded in-process.
local M = {}

-- The vmrun binary: $VMRUN_BINARY_DIR/vmrun (set by ctest), else the host's own argv[0].
function M.binary()
  local dir = os.getenv("VMRUN_BINARY_DIR")
  if dir and dir ~= "" then return dir .. "/vmrun" end
  local lowest = 0
  while arg[lowest - 1] ~= nil do lowest = lowest - 1 end
  return arg[lowest]
end

-- vmrun's own options of this run that a child must share (--dev-runtime DIR).
local function inherited_options()
  local opts, i = {}, -1
  while arg[i - 1] ~= nil do i = i - 1 end
  while i < 0 do
    if arg[i] == "--dev-runtime" and arg[i + 1] then
      opts[#opts + 1] = arg[i]
      opts[#opts + 1] = arg[i + 1]
    elseif tostring(arg[i]):match("^%-%-dev%-runtime=") then
      opts[#opts + 1] = arg[i]
    end
    i = i + 1
  end
  return opts
end

-- Runs `vmrun ARGS...` (argv array, plus exec.run options such as stdin= or env=) and returns
-- the exec.run result. The child gets NO_COLOR=1 so its log lines are plain text.
function M.vmrun(args)
  local argv = { M.binary(), timeout = args.timeout or 60, env = { NO_COLOR = "1" } }
  for _, o in ipairs(inherited_options()) do argv[#argv + 1] = o end
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  for k, v in pairs(args) do
    if k == "env" then
      for name, value in pairs(v) do argv.env[name] = value end
    elseif k ~= "timeout" and math.type(k) ~= "integer" then
      argv[k] = v
    end
  end
  return exec.run(argv)
end

-- Lines of text (without their newlines).
function M.lines(text)
  local out = {}
  for line in text:gmatch("[^\n]+") do out[#out + 1] = line end
  return out
end

-- A new temporary directory; returns its path and a function that removes it.
function M.tmpdir()
  local dir = exec.run({ "mktemp", "-d", check = true }).stdout:gsub("\n$", "")
  return dir, function() exec.run({ "rm", "-rf", dir, check = true }) end
end

-- Writes text to path (replacing it).
function M.write_file(path, text)
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
end

-- Runs fn with the log lines of each level in `levels` ({"warn", "error", ...}) recorded instead
-- of written; returns {[level] = {message, ...}}. The log functions come back even when fn raises.
function M.logged(levels, fn)
  local seen, saved = {}, {}
  for _, level in ipairs(levels) do
    seen[level], saved[level] = {}, log[level]
    log[level] = function(msg) table.insert(seen[level], tostring(msg)) end
  end
  local ok, err = pcall(fn)
  for level, f in pairs(saved) do log[level] = f end
  if not ok then error(err, 0) end
  return seen
end

return M
