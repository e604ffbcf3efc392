-- check_annotations.lua: checks that every Lua-visible C function in bindings/*.c has a LuaLS
-- annotation in stdlib-lua/meta/*.lua, that no annotation names a function that is gone, and that
-- exactly the functions that wait are marked ---@async. Run by vmrun itself:
--
--   vmrun tools/check_annotations.lua [SOURCE_DIR]      (default: the current directory)
--
-- Prints every problem with the exact name and file, and exits 1 when there is one, else 0.
-- Used by tests/e2e/annotations.sh (ctest e2e.annotations).
--
-- Convention (how a luaL_Reg array maps to Lua names):
--   * `luaL_Reg <prefix>_funcs[]`   -> functions of the module global <prefix>:
--                                      annotated as `function <prefix>.<name>(`
--     (vmrun_funcs -> vmrun.error, task_funcs -> task.spawn, json_funcs -> json.decode)
--   * `luaL_Reg <prefix>_methods[]` -> methods of the class vmrun.<Prefix>, where <Prefix> is
--                                      <prefix> in CamelCase (task -> Task, node_drain -> NodeDrain):
--                                      the meta files declare `---@class vmrun.<Prefix>` over
--                                      `local <Prefix> = {}` and annotate `function <Prefix>:<name>(`
--   * entries named `__*` (metamethods) are skipped; an array holding only those is skipped.
--   * any other array name is reported: rename the array or extend this convention.
-- Annotations are lines starting with `function A.b(` or `function A:b(` in stdlib-lua/meta/*.lua.
-- Stale check: an annotation whose owner A is a module or class from the rule above must name a
-- registered function; in meta/<base>.lua for an existing bindings/<base>.c every annotated owner
-- must be such a module or class. Meta files of Lua-implemented modules are otherwise left alone.
-- Async check: a C function "waits" when its body calls vr_await, vr_task_join, lua_yield or
-- lua_yieldk, directly or through other functions of the same file; such a function must carry
-- ---@async in the comment block above its annotation, and no other function may.

local root = arg[1] or "."

local problems = {}
local function problem(fmt, ...)
  problems[#problems + 1] = string.format(fmt, ...)
end

local function read(path)
  local f, err = io.open(path, "r")
  if not f then error("cannot read " .. tostring(err), 0) end
  local text = f:read("a")
  f:close()
  return text
end

-- The names in dir ending with suffix, sorted (ls is enough: these are our own folders).
local function list(dir, suffix)
  local r = exec.run({ "ls", "-1", dir })
  if not r.ok then error("cannot list " .. dir .. ": " .. r.stderr, 0) end
  local names = {}
  for name in r.stdout:gmatch("[^\n]+") do
    if name:sub(-#suffix) == suffix then names[#names + 1] = name end
  end
  table.sort(names)
  return names
end

local function camel(prefix)
  return (prefix:gsub("^%l", string.upper):gsub("_(%w)", string.upper))
end

local function line_of(text, pos)
  local n = 1
  for _ in text:sub(1, pos):gmatch("\n") do n = n + 1 end
  return n
end

-- --- bindings/*.c ----------------------------------------------------------------------------

local SEEDS = { vr_await = true, vr_task_join = true, lua_yield = true, lua_yieldk = true }

-- The functions of a C file that wait (see the async check above).
local function waiting_functions(code)
  local calls = {} -- function name -> set of called names
  for name, body in ("\n" .. code):gmatch("\n[%a_][%w_ %*]-([%a_][%w_]*)%s*%b()%s*(%b{})") do
    local set = {}
    for callee in body:gmatch("([%a_][%w_]*)%s*%(") do set[callee] = true end
    calls[name] = set
  end
  local waits = {}
  local changed = true
  while changed do
    changed = false
    for name, set in pairs(calls) do
      if not waits[name] then
        for callee in pairs(set) do
          if SEEDS[callee] or waits[callee] then
            waits[name] = true
            changed = true
            break
          end
        end
      end
    end
  end
  return waits
end

-- registered[key] = {file=, array=, cfunc=, waits=}; key "task.spawn" or "Task:wait".
local registered, owners, classes = {}, {}, {}
local nfuncs, narrays = 0, 0
local cfiles = list(root .. "/bindings", ".c")
local cbase = {}

for _, file in ipairs(cfiles) do
  local path = "bindings/" .. file
  cbase[file:sub(1, -3)] = true
  local code = read(root .. "/" .. path):gsub("/%*.-%*/", function(c)
    return (c:gsub("[^\n]", " ")) -- keep line numbers
  end):gsub("//[^\n]*", "")
  local waits = waiting_functions(code)
  for pos, array, body in code:gmatch("()luaL_Reg%s+([%a_][%w_]*)%s*%[%s*%]%s*=%s*(%b{})") do
    local entries = {}
    for name, cfunc in body:gmatch('{%s*"([^"]+)"%s*,%s*([%a_][%w_]*)%s*}') do
      if name:sub(1, 2) ~= "__" then entries[#entries + 1] = { name = name, cfunc = cfunc } end
    end
    if #entries > 0 then
      local prefix, kind = array:match("^(.-)_(funcs)$")
      if not prefix then prefix, kind = array:match("^(.-)_(methods)$") end
      if not prefix or prefix == "" then
        problem("%s:%d: luaL_Reg array '%s' follows no naming rule (<module>_funcs or <class>_methods)",
          path, line_of(code, pos), array)
      else
        narrays = narrays + 1
        local owner, sep = prefix, "."
        if kind == "methods" then
          owner, sep = camel(prefix), ":"
          classes[owner] = "vmrun." .. owner
        end
        owners[owner] = path
        for _, e in ipairs(entries) do
          nfuncs = nfuncs + 1
          registered[owner .. sep .. e.name] = {
            file = path, array = array, cfunc = e.cfunc, waits = waits[e.cfunc] == true,
          }
        end
      end
    end
  end
end

-- --- stdlib-lua/meta/*.lua ---------------------------------------------------------------------

local annotated = {} -- key -> {file=, line=, async=}
local declared_classes = {}
local mfiles = list(root .. "/stdlib-lua/meta", ".lua")

for _, file in ipairs(mfiles) do
  local path = "stdlib-lua/meta/" .. file
  local text = read(root .. "/" .. path)
  local ok, err = load(text, "@" .. path, "t")
  if not ok then problem("%s: not valid Lua: %s", path, err) end
  if not text:match("^%-%-%-@meta") then problem("%s:1: does not start with ---@meta", path) end
  local block_async, n = false, 0
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local class = line:match("^%-%-%-@class%s+([%w_%.]+)")
    if class then declared_classes[class] = true end
    if line:match("^%-%-%-") then
      if line:match("^%-%-%-@async%f[%W]") then block_async = true end
    else
      local owner, sep, name = line:match("^function%s+([%a_][%w_]*)([%.:])([%a_][%w_]*)%s*%(")
      if owner then
        local key = owner .. sep .. name
        local known = owners[owner] ~= nil
        if annotated[key] then
          problem("%s:%d: %s is annotated twice (also %s:%d)", path, n, key,
            annotated[key].file, annotated[key].line)
        end
        annotated[key] = { file = path, line = n, async = block_async }
        if not registered[key] and (known or cbase[file:sub(1, -5)]) then
          if known then
            problem("%s:%d: stale annotation: function %s( is not in any luaL_Reg of %s", path, n,
              key, owners[owner])
          else
            problem("%s:%d: stale annotation: function %s( names no module or class registered in bindings/",
              path, n, key)
          end
        end
      end
      block_async = false
    end
  end
end

-- --- compare -----------------------------------------------------------------------------------

local keys = {}
for key in pairs(registered) do keys[#keys + 1] = key end
table.sort(keys)
for _, key in ipairs(keys) do
  local reg, ann = registered[key], annotated[key]
  local base = reg.file:match("([^/]+)%.c$")
  if not ann then
    problem("missing annotation: function %s( (%s, %s, %s) -- add it to stdlib-lua/meta/%s.lua",
      key, reg.file, reg.array, reg.cfunc, base)
  elseif reg.waits and not ann.async then
    problem("%s:%d: function %s( waits (%s in %s) but is not marked ---@async", ann.file, ann.line,
      key, reg.cfunc, reg.file)
  elseif ann.async and not reg.waits then
    problem("%s:%d: function %s( is marked ---@async but %s in %s never waits", ann.file, ann.line,
      key, reg.cfunc, reg.file)
  end
end
local cnames = {}
for owner, class in pairs(classes) do
  if not declared_classes[class] then cnames[#cnames + 1] = owner end
end
table.sort(cnames)
for _, owner in ipairs(cnames) do
  problem("missing ---@class %s (for the methods `function %s:name(` of %s)", classes[owner], owner,
    owners[owner])
end

if #problems > 0 then
  for _, p in ipairs(problems) do io.stderr:write("annotations: ", p, "\n") end
  io.stderr:write(string.format("annotations: FAILED: %d problem(s); see the convention in %s\n",
    #problems, "tools/check_annotations.lua"))
  os.exit(1)
end
print(string.format("annotations: ok: %d functions in %d luaL_Reg arrays of %d C files, annotated in %d meta files",
  nfuncs, narrays, #cfiles, #mfiles))
