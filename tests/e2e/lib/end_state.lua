-- tests/e2e/lib/end_state.lua: the end state the e2e tests of a rolling maintenance through
-- `vmrun serve` check, read from the server itself. Loaded by a `vmrun -e` chunk with dofile; it
-- returns check(base, reference, why [, curl_options [, requests_log]]) -> bad, get:
--   bad: what is wrong, as sentences: a node cordoned; a VM running that does not run in the
--        reference (the file of the VMIs that run after the maintenance without faults or
--        interruption, namespace/name a line; `why` says which) or one of those not running;
--        with requests_log (the server's --log), a worker not rebooted exactly once (its
--        successful POSTs to the sim API's reboot);
--   get(path): the decoded JSON of GET base .. path (curl, with curl_options before the URL).
-- Reads only; changes nothing on the server.
return function(base, reference, why, curl_options, requests_log)
  local function get(path)
    local argv = { "curl", "-sf" }
    for _, o in ipairs(curl_options or {}) do argv[#argv + 1] = o end
    argv[#argv + 1] = base .. path
    return json.decode((exec.run(argv, { check = true }).stdout))
  end
  local bad, running, want = {}, {}, {}
  for line in io.lines(reference) do want[line] = true end
  local nodes = get("/api/v1/nodes").items
  for _, n in ipairs(nodes) do
    if n.spec.unschedulable == true then bad[#bad + 1] = "node " .. n.metadata.name .. " cordoned" end
  end
  for _, v in ipairs(get("/apis/kubevirt.io/v1/virtualmachineinstances").items) do
    local key = v.metadata.namespace .. "/" .. v.metadata.name
    if v.status.phase == "Running" then
      running[key] = true
      if not want[key] then bad[#bad + 1] = key .. " runs, " .. why end
    end
  end
  for key in pairs(want) do
    if not running[key] then bad[#bad + 1] = "VM " .. key .. " is not running" end
  end
  if requests_log then
    local reboots = {}
    for _, n in ipairs(nodes) do
      if n.metadata.name:match("^worker") then reboots[n.metadata.name] = 0 end
    end
    for line in io.lines(requests_log) do
      local r = json.decode(line)
      local node = r.path:match("^/apis/sim%.vmrun%.io/v1/nodes/([^/]+)/reboot$")
      if node and r.method == "POST" and r.status < 300 then reboots[node] = (reboots[node] or 0) + 1 end
    end
    for n, c in pairs(reboots) do
      if c ~= 1 then bad[#bad + 1] = ("%s rebooted %d times"):format(n, c) end
    end
  end
  return bad, get
end
