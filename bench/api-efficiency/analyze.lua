-- bench/api-efficiency/analyze.lua: the counting, the check and the table of
-- bench/api-efficiency/run.sh. Run by vmrun:
--   vmrun -q analyze.lua count REQUESTS.jsonl
--       one line: total lists watches discovery gets writes evictions throttled, from a
--       `vmrun serve --log` file (throttled: answers 429), leaving out run.sh's own requests
--       (query bench=check)
--   vmrun -q analyze.lua check NODE NODE.json VMS.json VMIS.json PODS.json
--       exit 1 with the reason unless NODE is cordoned, no VMI is on it, every VM is Running
--       with its VMI Running on another node and only DaemonSet pods and finished pods (phase
--       Succeeded or Failed: vmrun leaves the migrated VMs' source pods) are left on it
--   vmrun -q analyze.lua table RESULTS SPEED
--       the table, from lines "SIDE total lists watches discovery gets writes evictions throttled
--       wall_seconds", one per run
local mode = ...
local args = { select(2, ...) }

-- A request's class. Writes: any method but GET and HEAD. Lists: a streaming list (a watch with
-- sendInitialEvents=true: the list and the first watch in one request), or (below) a GET of a
-- collection. Watches: the other watch=1|true|True and the old /watch/ paths. Discovery: /version, /api, /apis, /api/v1, /apis/GROUP[/VERSION], /openapi/.
-- Then a GET of a collection (/api/v1/pods, /api/v1/namespaces/NS/pods, /apis/G/V/R) is a list
-- and anything else a get: one object, a subresource, or vmrun's sim.vmrun.io clock.
local function classify(r)
  local path, query = r.path, "&" .. (r.query or "")
  if r.method ~= "GET" and r.method ~= "HEAD" then return "writes" end
  if query:match("&sendInitialEvents=true") then return "lists" end
  if query:match("&watch=[1tT]") or path:match("^/api/v1/watch/") or path:match("^/apis/[^/]+/[^/]+/watch/") then
    return "watches"
  end
  if path == "/version" or path == "/api" or path == "/apis" or path == "/api/v1" or path:match("^/apis/[^/]+$")
      or path:match("^/apis/[^/]+/[^/]+$") or path:match("^/openapi/") then
    return "discovery"
  end
  if path:match("^/apis/sim%.vmrun%.io/") then return "gets" end
  local rest = path:match("^/api/v1/(.*)$") or path:match("^/apis/[^/]+/[^/]+/(.*)$") or ""
  local parts = {}
  for p in rest:gmatch("[^/]+") do parts[#parts + 1] = p end
  if parts[1] == "namespaces" and #parts >= 3 then table.remove(parts, 1) table.remove(parts, 1) end
  return #parts == 1 and "lists" or "gets"
end

local COLUMNS = { "total", "lists", "watches", "discovery", "gets", "writes", "evictions", "throttled" }

if mode == "count" then
  local n = {}
  for _, c in ipairs(COLUMNS) do n[c] = 0 end
  for line in io.lines(args[1]) do
    local r = json.decode(line)
    if r.query ~= "bench=check" then
      local class = classify(r)
      n.total, n[class] = n.total + 1, n[class] + 1
      if r.method == "POST" and r.path:match("/eviction$") then n.evictions = n.evictions + 1 end
      if r.status == 429 then n.throttled = n.throttled + 1 end
    end
  end
  local out = {}
  for i, c in ipairs(COLUMNS) do out[i] = n[c] end
  print(table.concat(out, " "))
elseif mode == "check" then
  local name = args[1]
  local node, vms, vmis, pods = json.decode_file(args[2]), json.decode_file(args[3]).items,
    json.decode_file(args[4]).items, json.decode_file(args[5]).items
  local function fail(fmt, ...) io.stderr:write(("not drained: " .. fmt .. "\n"):format(...)) vmrun.exit(1) end
  if (node.spec or {}).unschedulable ~= true then fail("%s is not cordoned", name) end
  local vmi_of = {}
  for _, v in ipairs(vmis) do
    vmi_of[v.metadata.namespace .. "/" .. v.metadata.name] = v
    if v.status.nodeName == name then fail("VMI %s is still on %s", v.metadata.name, name) end
  end
  if #vms == 0 then fail("no VMs") end
  for _, vm in ipairs(vms) do
    local key = vm.metadata.namespace .. "/" .. vm.metadata.name
    local vmi = vmi_of[key]
    if vm.status.printableStatus ~= "Running" or not vmi or vmi.status.phase ~= "Running"
        or not vmi.status.nodeName then
      fail("VM %s is %s, its VMI %s", key, tostring(vm.status.printableStatus),
        vmi and tostring(vmi.status.phase) or "missing")
    end
  end
  for _, p in ipairs(pods) do
    local owner = (p.metadata.ownerReferences or {})[1]
    local finished = p.status.phase == "Succeeded" or p.status.phase == "Failed"
    if p.spec.nodeName == name and not finished and not (owner and owner.kind == "DaemonSet") then
      fail("pod %s/%s is still on %s", p.metadata.namespace, p.metadata.name, name)
    end
  end
elseif mode == "table" then
  local speed = args[2]
  local runs, order = {}, {}
  for line in io.lines(args[1]) do
    local side, rest = line:match("^(%S+) (.*)$")
    if not runs[side] then runs[side] = {} order[#order + 1] = side end
    local r = {}
    for v in rest:gmatch("%S+") do r[#r + 1] = tonumber(v) end
    runs[side][#runs[side] + 1] = r
  end
  -- the median and the minimum of column i
  local function stats(side, i)
    local v = {}
    for k, r in ipairs(runs[side]) do v[k] = r[i] end
    table.sort(v)
    return (v[(#v + 1) // 2] + v[#v // 2 + 1]) / 2, v[1]
  end
  local label = { kubectl = "kubectl drain", vmrun = "vmrun drain-node.lua",
    ["vmrun-strict"] = "  kubectl's way (*)" }
  local FORMAT = "  %-22s %11s %6s %8s %10s %5s %7s %10s %5s %15s"
  print(("  %d runs each: requests and wall seconds as min/median, the other columns medians")
    :format(#runs[order[1]]))
  print(FORMAT:format("", "requests", "lists", "watches", "discovery", "gets", "writes", "evictions",
    "429s", "wall s"))
  local total, wall = {}, {}
  for _, side in ipairs(order) do
    local med, min = stats(side, 1)
    local wmed, wmin = stats(side, #COLUMNS + 1)
    total[side], wall[side] = med, wmed
    local cells = { label[side] or side, ("%g/%g"):format(min, med) }
    for i = 2, #COLUMNS do cells[#cells + 1] = ("%g"):format((stats(side, i))) end
    cells[#cells + 1] = ("%.2f/%.2f"):format(wmin, wmed)
    print(FORMAT:format(table.unpack(cells)))
  end
  if total["vmrun-strict"] then
    print("  (*) vmrun drain-node.lua --evict-finished against a server that refuses streaming lists"
      .. (total.kubectl and (": %.2fx kubectl's requests"):format(total["vmrun-strict"] / total.kubectl) or ""))
  end
  if total.vmrun and total.kubectl then
    local rq, rw = total.vmrun / total.kubectl, wall.vmrun / wall.kubectl
    print(FORMAT:format("vmrun / kubectl", ("%.2f"):format(rq), "", "", "", "", "", "", "", ("%.2f"):format(rw)))
    print(("  goal: vmrun makes at most half the requests of kubectl (median %g against %g): %s (%.2fx)")
      :format(total.vmrun, total.kubectl, rq <= 0.5 and "met" or "NOT met", rq))
    print(("  goal: vmrun is not slower than kubectl (median %.2f s against %.2f s at --speed %s): %s (%.2fx)")
      :format(wall.vmrun, wall.kubectl, speed, rw <= 1 and "met" or "NOT met", rw))
  end
else
  io.stderr:write("usage: vmrun -q analyze.lua count LOG | check NODE NODE.json VMS.json VMIS.json PODS.json"
    .. " | table RESULTS SPEED\n")
  vmrun.exit(2)
end
