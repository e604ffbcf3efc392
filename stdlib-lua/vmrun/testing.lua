-- vmrun/testing.lua: the spec runner behind `vmrun test FILE...`. Spec files see describe, it,
-- pending, before_each, after_each and expect (busted-like); each test runs as its own task with
-- a timeout on the run's clock and fails when it leaves tasks, clock timers or host processes
-- behind. Prints one TAP line per test with indented diagnostics, then a summary, and ends the
-- run with exit code 0 (all passed) or 1.
local vmrun = require("vmrun")
local task = require("vmrun.task")

local M = {}

-- Per-test timeout on the run's clock (virtual by default, so sleeps cost no wall time).
M.default_timeout = 30
-- How long a cancelled test or leaked task may take to run its cleanup (run's clock).
local CLEANUP_GRACE = 5
-- How long (real time, at most) to wait for host processes and timers to settle after a test.
local SETTLE_SECONDS = 6

local SELF = debug.getinfo(1, "S").source -- this file's chunk name, skipped in locations
local NULL = vmrun.null
local list_tasks = rawget(task, "list") -- task.list(), when the runtime has it

-- --- formatting ---------------------------------------------------------------------------------

local ESCAPES = { ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r", ['"'] = '\\"', ["\\"] = "\\\\" }

local function quote(s)
  local cut = #s > 300
  if cut then s = s:sub(1, 300) end
  s = s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or string.format("\\%d", c:byte())
  end)
  return '"' .. s .. (cut and '"...' or '"')
end

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

-- Keys of t (raw), integers first in order, then the rest sorted by their text.
local function sorted_keys(t)
  local ints, others = {}, {}
  for k in next, t do
    if math.type(k) == "integer" then
      ints[#ints + 1] = k
    else
      others[#others + 1] = k
    end
  end
  table.sort(ints)
  table.sort(others, function(a, b)
    local ta, tb = type(a), type(b)
    if ta ~= tb then return ta < tb end
    return tostring(a) < tostring(b)
  end)
  table.move(others, 1, #others, #ints + 1, ints)
  return ints
end

-- A short, one-line rendering of any value for messages.
local function show(v, depth)
  local tv = type(v)
  depth = depth or 0
  if tv == "string" then return quote(v) end
  if rawequal(v, NULL) then return "null" end
  if tv == "table" then
    if vmrun.is_error(v) then
      return string.format("vmrun.Error{kind=%s, message=%s}", show(v.kind), show(v.message))
    end
    if depth >= 2 then return "{...}" end
    local parts, keys, n = {}, sorted_keys(v), 0
    for i, k in ipairs(keys) do
      if i > 8 then
        parts[#parts + 1] = "..."
        break
      end
      local val = show(rawget(v, k), depth + 1)
      if k == n + 1 then
        n = k
        parts[#parts + 1] = val
      elseif is_identifier(k) then
        parts[#parts + 1] = k .. "=" .. val
      else
        parts[#parts + 1] = "[" .. show(k, 2) .. "]=" .. val
      end
    end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  return tostring(v)
end

local function key_path(k)
  if math.type(k) == "integer" then return "[" .. k .. "]" end
  if is_identifier(k) then return "." .. k end
  return "[" .. show(k, 2) .. "]"
end

local function seconds_text(s)
  if s >= 60 and s % 60 == 0 then return string.format("%dm", s // 60) end
  return string.format("%gs", s)
end

-- The message of any error value.
local function error_text(e)
  if vmrun.is_error(e) then return tostring(e.message) end
  if type(e) == "string" then return e end
  local mt = getmetatable(e)
  if mt and mt.__tostring then return tostring(e) end
  return "(error object is a " .. type(e) .. " value: " .. show(e) .. ")"
end

-- --- locations and misuse -----------------------------------------------------------------------

-- "file:line" of the innermost Lua frame outside this file (the spec line), or nil.
local function spec_where()
  local level = 2
  while true do
    local info = debug.getinfo(level, "Sl")
    if info == nil then return nil end
    if info.source ~= SELF and info.what ~= "C" and info.currentline > 0 then
      local file = info.source:sub(1, 1) == "@" and info.source:sub(2) or info.short_src
      return file .. ":" .. info.currentline
    end
    level = level + 1
  end
end

-- Raises a misuse error pointing at the spec line.
local function usage(fmt, ...)
  local where = spec_where()
  error((where and where .. ": " or "") .. string.format(fmt, ...), 0)
end

-- An expectation that did not hold: raised as a table so the runner tells it from other errors.
local Failure = {}
Failure.__index = Failure
Failure.__tostring = function(f)
  return (f.where and f.where .. ": " or "") .. f.message
end

local function fail(message)
  error(setmetatable({ message = message, where = spec_where() }, Failure), 0)
end

-- A Failure raised in another task arrives as a vmrun.Error whose value is the Failure.
local function as_failure(e)
  if getmetatable(e) == Failure then return e end
  if vmrun.is_error(e) and getmetatable(rawget(e, "value")) == Failure then return e.value end
  return nil
end

-- --- deep equality ------------------------------------------------------------------------------

-- Nil when actual equals expected (numbers by value, tables by content, metatables ignored),
-- otherwise the path of the first difference and what differs there.
local function diff(actual, expected, path, seen)
  if rawequal(actual, expected) then return nil end
  local ta, te = type(actual), type(expected)
  if ta == "number" and te == "number" then
    if actual == expected or (actual ~= actual and expected ~= expected) then return nil end
    return path, "expected " .. show(expected) .. ", got " .. show(actual)
  end
  if ta ~= "table" or te ~= "table" then
    return path, "expected " .. show(expected) .. ", got " .. show(actual)
  end
  seen[actual] = seen[actual] or {}
  if seen[actual][expected] then return nil end -- already being compared (cycle)
  seen[actual][expected] = true
  for _, k in ipairs(sorted_keys(expected)) do
    local av = rawget(actual, k)
    if av == nil then
      return path .. key_path(k), "expected " .. show(rawget(expected, k)) .. ", got nothing"
    end
    local p, why = diff(av, rawget(expected, k), path .. key_path(k), seen)
    if p then return p, why end
  end
  for _, k in ipairs(sorted_keys(actual)) do
    if rawget(expected, k) == nil then
      return path .. key_path(k), "unexpected " .. show(rawget(actual, k)) .. " (not expected)"
    end
  end
  return nil
end

local function deep_equal(a, b)
  return diff(a, b, "$", {}) == nil
end

-- --- matchers -----------------------------------------------------------------------------------
-- Each matcher(actual, ...) returns: holds, message when it should hold, message when it should
-- not (.never), and optionally a value handed back to the spec.

-- The current test (set by the runner while a test runs).
local current = nil

local function contains_text(s, p)
  if s:find(p, 1, true) then return true end
  local ok, found = pcall(string.find, s, p)
  return ok and found ~= nil
end

local function call_capturing(fn)
  local result = table.pack(pcall(fn))
  if result[1] then return false, result end
  local err = result[2]
  -- the runner is cancelling this test: let the cancellation through
  if current and current.cancelled and vmrun.is_error(err, "cancelled") then error(err, 0) end
  return true, err
end

local function returned_text(result)
  local parts = {}
  for i = 2, result.n do parts[#parts + 1] = show(result[i]) end
  return #parts == 0 and "returned nothing" or "returned " .. table.concat(parts, ", ")
end

local matchers = {}
local arity = {} -- matcher name -> {min, max} argument counts

arity.to_be = { 1, 1 }
function matchers.to_be(actual, expected)
  return rawequal(actual, expected), "expected " .. show(expected) .. ", got " .. show(actual),
    "expected anything but " .. show(expected)
end

arity.to_equal = { 1, 1 }
function matchers.to_equal(actual, expected)
  local path, why = diff(actual, expected, "$", {})
  if path == nil then
    return true, nil, "expected a value different from " .. show(expected)
  end
  local msg = "values differ"
  if path ~= "$" then msg = msg .. " at " .. path end
  msg = msg .. ": " .. why
  if path ~= "$" then
    msg = msg .. "\nactual:   " .. show(actual) .. "\nexpected: " .. show(expected)
  end
  return false, msg
end

arity.to_be_truthy = { 0, 0 }
function matchers.to_be_truthy(actual)
  return not not actual, "expected a truthy value, got " .. show(actual),
    "expected a falsy value, got " .. show(actual)
end

arity.to_be_falsy = { 0, 0 }
function matchers.to_be_falsy(actual)
  return not actual, "expected a falsy value, got " .. show(actual),
    "expected a truthy value, got " .. show(actual)
end

arity.to_be_nil = { 0, 0 }
function matchers.to_be_nil(actual)
  return actual == nil, "expected nil, got " .. show(actual), "expected a value, got nil"
end

arity.to_contain = { 1, 1 }
function matchers.to_contain(actual, item)
  if type(actual) == "string" then
    if type(item) ~= "string" then
      usage("to_contain on a string needs a string, got %s", type(item))
    end
    return actual:find(item, 1, true) ~= nil,
      "expected " .. show(actual) .. " to contain " .. show(item),
      "expected " .. show(actual) .. " not to contain " .. show(item)
  end
  if type(actual) ~= "table" then
    return false,
      "expected a string or a table to search for " .. show(item) .. ", got " .. show(actual),
      "expected a string or a table, got " .. show(actual)
  end
  local found = false
  for _, v in next, actual do
    if deep_equal(v, item) then
      found = true
      break
    end
  end
  return found, "expected " .. show(actual) .. " to contain an element equal to " .. show(item),
    "expected " .. show(actual) .. " to have no element equal to " .. show(item)
end

arity.to_match = { 1, 1 }
function matchers.to_match(actual, pattern)
  if type(pattern) ~= "string" then
    usage("to_match needs a Lua pattern string, got %s", type(pattern))
  end
  if type(actual) ~= "string" then
    return false, "expected a string matching " .. show(pattern) .. ", got " .. show(actual),
      "expected a string, got " .. show(actual)
  end
  local ok, found = pcall(string.find, actual, pattern)
  if not ok then usage("to_match: bad pattern %s: %s", show(pattern), found) end
  return found ~= nil, "expected " .. show(actual) .. " to match " .. show(pattern),
    "expected " .. show(actual) .. " not to match " .. show(pattern)
end

arity.to_be_a = { 1, 1 }
function matchers.to_be_a(actual, name)
  if type(name) ~= "string" then usage("to_be_a needs a type name, got %s", type(name)) end
  local mt = (type(actual) == "table" or type(actual) == "userdata") and getmetatable(actual)
  local holds = type(actual) == name or (type(actual) == "number" and math.type(actual) == name)
    or (type(mt) == "table" and rawget(mt, "__name") == name)
  local got = type(actual) == "number" and math.type(actual) or type(actual)
  if type(mt) == "table" and type(rawget(mt, "__name")) == "string" then got = mt.__name end
  return holds, "expected a " .. name .. ", got a " .. got .. " " .. show(actual),
    "expected anything but a " .. name .. ", got " .. show(actual)
end

local function check_callable(name, actual)
  if type(actual) ~= "function" then
    usage("%s needs expect(function() ... end), got a %s", name, type(actual))
  end
end

arity.to_fail = { 0, 1 }
function matchers.to_fail(actual, check)
  check_callable("to_fail", actual)
  if check ~= nil and type(check) ~= "string" and type(check) ~= "function" then
    usage("to_fail takes a message pattern or a function(err), got a %s", type(check))
  end
  local failed, err = call_capturing(actual)
  if not failed then
    return false, "expected the function to fail, but it " .. returned_text(err)
  end
  local text = error_text(err)
  if type(check) == "string" and not contains_text(text, check) then
    return false, "expected an error matching " .. show(check) .. ", got " .. show(text),
      "expected no error matching " .. show(check) .. ", got " .. show(text)
  end
  if type(check) == "function" then check(err) end
  return true, nil, "expected the function not to fail, but it raised " .. show(text), err
end

arity.to_fail_with = { 1, 2 }
function matchers.to_fail_with(actual, kind, pattern)
  check_callable("to_fail_with", actual)
  if type(kind) ~= "string" then
    usage("to_fail_with needs a vmrun.Error kind, got %s", type(kind))
  end
  if pattern ~= nil and type(pattern) ~= "string" then
    usage("to_fail_with: the message pattern must be a string, got %s", type(pattern))
  end
  local failed, err = call_capturing(actual)
  local want = "a vmrun.Error of kind " .. show(kind)
    .. (pattern and " with a message matching " .. show(pattern) or "")
  if not failed then
    return false, "expected " .. want .. ", but the function " .. returned_text(err)
  end
  local text = error_text(err)
  local got
  if not vmrun.is_error(err) then
    got = "a plain error " .. show(text)
  elseif err.kind ~= kind then
    got = "kind " .. show(err.kind) .. ": " .. show(text)
  elseif pattern and not contains_text(text, pattern) then
    got = "the message " .. show(text)
  else
    return true, nil, "expected anything but " .. want .. ", got " .. show(text), err
  end
  return false, "expected " .. want .. ", got " .. got
end

-- --- expect -------------------------------------------------------------------------------------

local Expectation = {}

local function near_matcher(name)
  local best, best_d
  for m in pairs(matchers) do
    local d = 0 -- a crude distance: differing characters by position plus the length difference
    for i = 1, math.max(#m, #name) do
      if m:sub(i, i) ~= name:sub(i, i) then d = d + 1 end
    end
    if best_d == nil or d < best_d then best, best_d = m, d end
  end
  return best_d and best_d <= 3 and best or nil
end

-- The state of each expectation object, kept off the object so that any key is a matcher name.
local expectation_state = setmetatable({}, { __mode = "k" })

local function new_expectation(value, negated, record)
  local e = setmetatable({}, Expectation)
  expectation_state[e] = { value = value, negated = negated, record = record }
  return e
end

Expectation.__index = function(self, name)
  local st = expectation_state[self]
  if name == "never" then return new_expectation(st.value, not st.negated, st.record) end
  local matcher = matchers[name]
  if matcher == nil then
    st.record.checked = true -- reported as misuse, not as an unchecked expectation too
    local near = type(name) == "string" and near_matcher(name)
    usage("expect(...) has no matcher %s%s", show(name),
      near and " (did you mean '" .. near .. "'?)" or "")
  end
  return function(...)
    local n = select("#", ...)
    st.record.checked = true
    if n > 0 and getmetatable((...)) == Expectation then
      usage("call matchers with a dot: expect(x).%s(...), not expect(x):%s(...)", name, name)
    end
    if n < arity[name][1] or n > arity[name][2] then
      usage("%s takes %d to %d argument(s), got %d", name, arity[name][1], arity[name][2], n)
    end
    local holds, msg, neg_msg, result = matcher(st.value, ...)
    if st.negated then
      if holds then fail(neg_msg or ("expected not " .. name)) end
      return nil
    end
    if not holds then fail(msg) end
    return result
  end
end

Expectation.__newindex = function()
  usage("expect(...) objects are read-only")
end

--- expect(value) -> expectation with matchers: to_be, to_equal, to_be_truthy, to_be_falsy,
--- to_be_nil, to_contain, to_match, to_be_a, to_fail, to_fail_with; `.never` negates.
--- to_fail and to_fail_with return the error they caught.
function M.expect(value)
  local record = { checked = false, where = spec_where() }
  if current then current.expectations[#current.expectations + 1] = record end
  return new_expectation(value, false, record)
end

-- --- collecting specs ---------------------------------------------------------------------------

local collecting = nil -- the describe block being filled while a spec file loads

local function new_suite(name, parent)
  return { name = name, parent = parent, before = {}, after = {}, items = {} }
end

local function collector(fname)
  if collecting == nil then
    usage("%s() can only be called while a spec file is loading (at its top level or inside "
      .. "describe), not from inside a running test", fname)
  end
  return collecting
end

--- describe(name, fn) -- groups tests; fn runs at once to declare them.
function M.describe(name, fn)
  local parent = collector("describe")
  if type(name) ~= "string" then usage("describe needs a name string, got %s", type(name)) end
  if type(fn) ~= "function" then
    usage("describe(%s, fn) needs a function, got %s", show(name), type(fn))
  end
  local suite = new_suite(name, parent)
  parent.items[#parent.items + 1] = suite
  collecting = suite
  fn() -- an error here fails the whole file (run_file resets `collecting`)
  collecting = parent
end

local function full_name(suite, name)
  local parts = { name }
  while suite do
    if suite.name ~= "" then table.insert(parts, 1, suite.name) end
    suite = suite.parent
  end
  return table.concat(parts, " ")
end

--- it(name, fn [, {timeout=}]) -- declares a test; fn runs later as its own task.
function M.it(name, fn, opts)
  local suite = collector("it")
  if type(name) ~= "string" then usage("it needs a name string, got %s", type(name)) end
  if fn == nil then
    suite.items[#suite.items + 1] =
      { name = full_name(suite, name), where = spec_where(), pending = true }
    return
  end
  if type(fn) ~= "function" then
    usage("it(%s, fn) needs a function, got %s", show(name), type(fn))
  end
  local timeout = M.default_timeout
  if opts ~= nil then
    if type(opts) ~= "table" then usage("it: options must be a table like {timeout=\"2m\"}") end
    for k in pairs(opts) do
      if k ~= "timeout" then usage("unknown option %s for it (expected: timeout)", show(k)) end
    end
    if opts.timeout ~= nil then
      local ok, secs = pcall(require("vmrun.time").duration, opts.timeout)
      if not ok then usage("it: bad timeout %s", show(opts.timeout)) end
      timeout = secs
    end
  end
  suite.items[#suite.items + 1] = {
    name = full_name(suite, name), fn = fn, suite = suite, where = spec_where(), timeout = timeout,
  }
end

--- pending(name) -- declares a test that is not written yet (reported, not run).
function M.pending(name)
  local suite = collector("pending")
  if type(name) ~= "string" then usage("pending needs a name string, got %s", type(name)) end
  suite.items[#suite.items + 1] =
    { name = full_name(suite, name), where = spec_where(), pending = true }
end

--- before_each(fn) / after_each(fn) -- run around every test of the enclosing describe (and its
--- nested ones) inside the test's task; after_each runs even when the test failed.
function M.before_each(fn)
  local suite = collector("before_each")
  if type(fn) ~= "function" then usage("before_each needs a function, got %s", type(fn)) end
  suite.before[#suite.before + 1] = fn
end

function M.after_each(fn)
  local suite = collector("after_each")
  if type(fn) ~= "function" then usage("after_each needs a function, got %s", type(fn)) end
  suite.after[#suite.after + 1] = fn
end

-- --- running one test ---------------------------------------------------------------------------

-- The error handler of test code: keeps the traceback of the error point.
local function capture(e)
  local f = as_failure(e)
  if f then return { failure = f } end
  return { error = e, traceback = debug.traceback("", 2) }
end

-- Runs fn protected; records what went wrong in ctx.problems. Returns true when fn succeeded.
local function protected(ctx, fn, label)
  local ok, caught = xpcall(fn, capture)
  if ok then return true end
  if ctx.cancelled and not caught.failure and vmrun.is_error(caught.error, "cancelled") then
    return false -- the runner cancelled the test and reports why
  end
  caught.label = label
  ctx.problems[#ctx.problems + 1] = caught
  return false
end

-- The body of a test's task: before_each hooks (outer first), the test, after_each hooks (inner
-- first). Never raises: problems go to ctx.
local function test_task(test, ctx)
  local chain = {}
  local s = test.suite
  while s do
    table.insert(chain, 1, s)
    s = s.parent
  end
  local ok = true
  for _, suite in ipairs(chain) do
    for _, hook in ipairs(suite.before) do
      if ok then ok = protected(ctx, hook, "before_each") end
    end
  end
  if ok then protected(ctx, test.fn, nil) end
  for i = #chain, 1, -1 do
    for _, hook in ipairs(chain[i].after) do protected(ctx, hook, "after_each") end
  end
end

local function live_ids()
  local ids = {}
  if list_tasks then
    for _, t in ipairs(list_tasks()) do ids[t.id] = true end
  end
  return ids
end

-- Tasks alive now that were not alive before (the test's own task included if it still runs).
local function new_tasks(before_ids)
  local found = {}
  if list_tasks then
    for _, t in ipairs(list_tasks()) do
      if not before_ids[t.id] then found[#found + 1] = t end
    end
  end
  return found
end

-- Lets cancelled processes and their timers finish: waits while stats exceed `before`.
local function settle(before)
  local waited = 0
  local function busy()
    local st = vmrun.stats()
    return st.real_pending > before.real_pending or st.timers > before.timers
  end
  while busy() and waited < SETTLE_SECONDS do
    task.sleep(0.02)
    waited = waited + 0.02
  end
  return vmrun.stats()
end

-- Cancels leaked tasks and waits (bounded) for their cleanup. Returns their descriptions.
local function reap(tasks, name)
  local names = {}
  for _, t in ipairs(tasks) do
    names[#names + 1] = tostring(t)
    t:cancel("leaked by the test '" .. name .. "'")
  end
  for _, t in ipairs(tasks) do pcall(t.wait, t, CLEANUP_GRACE) end
  return names
end

local function finished(t)
  local status = t:status()
  return status == "done" or status == "failed" or status == "cancelled"
end

-- Runs one test; returns the list of problems (empty when it passed). Raises only when the
-- runner itself is cancelled (interrupt, --timeout, an unobserved failure elsewhere).
local function run_test(test)
  local ctx = { problems = {}, expectations = {}, cancelled = false }
  local before_ids = live_ids()
  local before = vmrun.stats()
  current = ctx
  local t = task.spawn(test_task, test, ctx)
  local ok, err = pcall(t.wait, t, test.timeout)
  if not ok and vmrun.is_error(err, "timeout") and not finished(t) then
    ctx.cancelled = true
    table.insert(ctx.problems, 1, {
      message = string.format("%s: the test timed out after %s (run clock); it was cancelled",
        test.where, seconds_text(test.timeout)),
    })
    t:cancel("the test timed out after " .. seconds_text(test.timeout))
    ok, err = pcall(t.wait, t, CLEANUP_GRACE)
    if not ok and vmrun.is_error(err, "timeout") then
      ctx.problems[#ctx.problems + 1] = {
        message = "its cleanup did not finish within " .. seconds_text(CLEANUP_GRACE)
          .. " after cancellation",
      }
      ok = true
    end
  end
  current = nil
  if not ok then
    -- the test's task never raises, so this is about the runner: its own cancellation (see
    -- run_file) or an error that escaped the protected calls
    if vmrun.is_error(err, "cancelled") then error(err, 0) end
    ctx.problems[#ctx.problems + 1] = { error = err, label = "internal error of the test runner" }
  end
  for _, rec in ipairs(ctx.expectations) do
    if not rec.checked then
      ctx.problems[#ctx.problems + 1] = {
        message = (rec.where or test.where) .. ": expect(...) was never checked: call a matcher, "
          .. "e.g. expect(x).to_equal(y)",
      }
    end
  end
  -- leaks: tasks first (cancelled and reaped), then clock timers and host processes
  local leaked = new_tasks(before_ids)
  local after = vmrun.stats()
  if #leaked > 0 or (not list_tasks and after.tasks > before.tasks) then
    local count = list_tasks and #leaked or after.tasks - before.tasks
    local names = reap(leaked, test.name)
    ctx.problems[#ctx.problems + 1] = {
      message = string.format("%s: the test leaked %d task(s) still running after it ended%s%s",
        test.where, count, #names > 0 and ": " or "", table.concat(names, ", "))
        .. (list_tasks and " (cancelled now)" or ""),
    }
  end
  after = settle(before)
  if after.timers > before.timers then
    ctx.problems[#ctx.problems + 1] = {
      message = string.format("%s: the test left %d clock timer(s) pending", test.where,
        after.timers - before.timers),
    }
  end
  if after.real_pending > before.real_pending then
    ctx.problems[#ctx.problems + 1] = {
      message = string.format("%s: the test left %d host process(es) or other real I/O running",
        test.where, after.real_pending - before.real_pending),
    }
  end
  return ctx.problems
end

-- --- reporting ----------------------------------------------------------------------------------

local function out(line)
  io.stdout:write(line, "\n")
  io.stdout:flush()
end

-- The spec file being run. Lua shortens a long chunk name to "...<tail>" in error messages and
-- tracebacks; diagnostics name the whole path instead.
local running_path

local function full_paths(text)
  if running_path == nil then return text end
  return (text:gsub("%.%.%.([^:\n]+):", function(tail)
    if running_path:sub(-#tail) == tail then return running_path .. ":" end
  end))
end

local function diag(text)
  for line in (full_paths(tostring(text)) .. "\n"):gmatch("(.-)\n") do out("#   " .. line) end
end

-- Traceback lines worth showing: not this file's frames, not C glue.
local function useful_traceback(tb)
  local lines = {}
  for line in tb:gmatch("[^\n]+") do
    local skip = line:find(SELF:sub(2), 1, true) or line:find("^%s*%[C%]: in %?")
      or line:find("^%s*%[C%]: in function '[x]?pcall'")
      or line:find("^%s*%[C%]: in function 'error'") or line == "stack traceback:"
    if not skip then lines[#lines + 1] = line end
  end
  if #lines > 12 then
    local n = #lines
    lines = table.move(lines, 1, 12, 1, {})
    lines[#lines + 1] = "\t(" .. (n - 12) .. " more lines)"
  end
  return lines
end

local function report_problem(p)
  if p.failure then
    diag(tostring(p.failure))
    return
  end
  if p.message then
    diag(p.message)
    return
  end
  local label = p.label
  if vmrun.is_error(p.error, "exit") then
    label = (label and label .. ": " or "") .. "a test must not end the run"
  end
  diag((label and label .. ": " or "") .. error_text(p.error))
  if p.traceback then
    local lines = useful_traceback(p.traceback)
    if #lines > 0 then diag("stack traceback:\n" .. table.concat(lines, "\n")) end
  end
  if vmrun.is_error(p.error) and type(rawget(p.error, "traceback")) == "string" then
    diag("raised in another task:\n" .. table.concat(useful_traceback(p.error.traceback), "\n"))
  end
end

-- --- running files ------------------------------------------------------------------------------

local function spec_env()
  local env = {
    describe = M.describe, it = M.it, pending = M.pending, expect = M.expect,
    before_each = M.before_each, after_each = M.after_each,
  }
  return setmetatable(env, { __index = _G })
end

local function add_to_package_path(path)
  local dir = path:match("^(.*)/[^/]*$") or "."
  local entry = dir .. "/?.lua"
  if not package.path:find(entry, 1, true) then package.path = entry .. ";" .. package.path end
end

local function flatten(suite, list)
  for _, item in ipairs(suite.items) do
    if item.items then
      flatten(item, list)
    else
      list[#list + 1] = item
    end
  end
  return list
end

-- True when the whole run is being cancelled (an interrupt, --timeout, an error nobody waited
-- for): from then on every new task is cancelled before it starts.
local function run_is_cancelling()
  local probe = task.spawn(function() end)
  return not pcall(probe.wait, probe)
end

local function run_file(path, totals)
  out("# " .. path)
  local function file_failure(problem)
    totals.n = totals.n + 1
    totals.failed[#totals.failed + 1] = { n = totals.n, name = path, where = path }
    out(string.format("not ok %d - %s (the spec file did not load)", totals.n, path))
    report_problem(problem)
  end
  running_path = path
  local chunk, err = loadfile(path, "t", spec_env())
  if chunk == nil then
    file_failure({ message = err })
    return
  end
  add_to_package_path(path)
  local root = new_suite("", nil)
  collecting = root
  local ok, caught = xpcall(chunk, capture)
  collecting = nil
  if not ok then
    file_failure(caught)
    return
  end
  for _, test in ipairs(flatten(root, {})) do
    totals.n = totals.n + 1
    if test.pending then
      totals.pending = totals.pending + 1
      out(string.format("ok %d - %s # SKIP pending", totals.n, test.name))
    else
      local ok_run, problems = pcall(run_test, test)
      if not ok_run and run_is_cancelling() then
        out(string.format("not ok %d - %s", totals.n, test.name))
        diag("the run was cancelled while this test ran: " .. error_text(problems))
        out("Bail out! " .. error_text(problems))
        error(problems, 0)
      elseif not ok_run then -- the test cancelled the runner's task itself, say
        problems = { { error = problems, label = "the test runner's task was interrupted" } }
      end
      if #problems == 0 then
        totals.passed = totals.passed + 1
        out(string.format("ok %d - %s", totals.n, test.name))
      else
        totals.failed[#totals.failed + 1] = { n = totals.n, name = test.name, where = test.where }
        out(string.format("not ok %d - %s", totals.n, test.name))
        for _, p in ipairs(problems) do report_problem(p) end
      end
    end
  end
end

--- run_files(path...) -- runs the spec files in order, prints the report and ends the run with
--- exit code 0 when every test passed, 1 otherwise. Does not return.
function M.run_files(...)
  local files = table.pack(...)
  local totals = { n = 0, passed = 0, pending = 0, failed = {} }
  for i = 1, files.n do run_file(files[i], totals) end
  out("1.." .. totals.n)
  out(string.format("# %d test(s): %d passed, %d failed, %d pending", totals.n, totals.passed,
    #totals.failed, totals.pending))
  for _, f in ipairs(totals.failed) do
    out(string.format("# failed: %d - %s (%s)", f.n, f.name, f.where))
  end
  os.exit(#totals.failed == 0 and 0 or 1)
end

return M
