-- bench.lua: decodes and encodes one JSON file and prints a RESULT line for bench/json/run.sh.
-- Usage: `vmrun bench/json/bench.lua FILE` (uses the global `json`, vmrun's codec) or
--        `lua5.4 bench/json/bench.lua FILE` (no global `json`: uses lua-cjson).
-- FILE may also come from the environment variable BENCH_JSON_FILE.
-- Times are CPU seconds from os.clock() (the process is single-threaded, so they track wall time
-- closely; they include the garbage collector's work). Memory is the kernel's peak RSS (VmHWM),
-- reset through /proc/self/clear_refs just before each phase when the kernel allows it, so the
-- decode peak includes the input text but not the transient copy made while reading the file.
-- It only reads FILE and /proc/self; it writes nothing but stdout.

local path = (arg and arg[1]) or os.getenv("BENCH_JSON_FILE")
if not path then
  error("usage: bench.lua FILE")
end

local codec, name
if type(json) == "table" and type(json.decode) == "function" then
  codec, name = json, "vmrun"
else
  codec, name = require("cjson"), "lua-cjson"
end

local function status_kb(field)
  local f = io.open("/proc/self/status", "r")
  if not f then
    return -1
  end
  local text = f:read("a")
  f:close()
  return tonumber(text:match(field .. ":%s*(%d+)")) or -1
end

local function reset_peak()
  local f = io.open("/proc/self/clear_refs", "w")
  if not f then
    return false
  end
  local ok = f:write("5")
  f:close()
  return ok ~= nil
end

local f = assert(io.open(path, "rb"))
local size = assert(f:seek("end"))
assert(f:seek("set"))
local text = assert(f:read(size))
f:close()

collectgarbage("collect")
collectgarbage("collect")
local peak_reset = reset_peak()
local rss_before = status_kb("VmRSS")

local t0 = os.clock()
local value = codec.decode(text)
local decode_s = os.clock() - t0
local hwm_decode = status_kb("VmHWM")
assert(type(value) == "table" and type(value.items) == "table", "not a List")
local items = #value.items

collectgarbage("collect")
reset_peak()
t0 = os.clock()
local out = codec.encode(value)
local encode_s = os.clock() - t0
local hwm_encode = status_kb("VmHWM")
local out_size = #out
out = nil

-- vmrun sorts object keys by default; lua-cjson never does. Time the unsorted encode too.
local encode_unsorted_s = -1
if name == "vmrun" then
  collectgarbage("collect")
  t0 = os.clock()
  out = codec.encode(value, { sort_keys = false })
  encode_unsorted_s = os.clock() - t0
  assert(#out == out_size)
  out = nil
end

print(string.format("RESULT codec=%s size=%d items=%d decode_s=%.3f encode_s=%.3f " ..
  "encode_unsorted_s=%.3f rss_before_kb=%d hwm_decode_kb=%d hwm_encode_kb=%d out_size=%d " ..
  "peak_reset=%s", name, size, items, decode_s, encode_s, encode_unsorted_s, rss_before,
  hwm_decode, hwm_encode, out_size, tostring(peak_reset)))
